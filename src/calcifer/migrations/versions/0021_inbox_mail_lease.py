"""inbox: a mail claim records when it was taken (a lease: a claim older than inbox.service.MAIL_LEASE
lapses, so the mails of a sender that died are sent by another)

Revision ID: 0021
Revises: 0019
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import calcifer.db

revision = '0021'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Hand-written (other slices add tables in parallel revisions); mirrors inbox.models. Rows claimed
    # before this revision have no time: they count as lapsed and are sent by the next round.
    with op.batch_alter_table('inbox_notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mail_claimed_at', calcifer.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('inbox_notifications', schema=None) as batch_op:
        batch_op.drop_column('mail_claimed_at')
