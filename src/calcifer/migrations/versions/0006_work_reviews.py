"""work reviews: the review history of work items (requests, approvals, change requests)

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import calcifer.db

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Hand-written (other slices add tables in parallel revisions); mirrors work.models.WorkReview.
    op.create_table('work_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('work_item_id', sa.Integer(), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('reviewer_name', sa.String(length=64), nullable=False),
    sa.Column('verdict', sa.String(length=24), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('commit', sa.String(length=64), nullable=False),
    sa.Column('created_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_work_reviews_reviewer_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['work_item_id'], ['work_items.id'], name=op.f('fk_work_reviews_work_item_id_work_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_reviews'))
    )
    with op.batch_alter_table('work_reviews', schema=None) as batch_op:
        batch_op.create_index('ix_work_reviews_work_item_id_id', ['work_item_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('work_reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_work_reviews_work_item_id_id')

    op.drop_table('work_reviews')
