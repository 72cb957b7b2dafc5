"""remote: the managed repository's remote (settings, sync state) and outside changes

Revision ID: 0014
Revises: 0010
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import calcifer.db

revision = '0014'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Hand-written (other slices add tables in parallel revisions); mirrors remote.models.
    op.create_table('remote_config',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=False),
    sa.Column('auth_kind', sa.String(length=16), nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('secret_sealed', sa.Text(), nullable=False),
    sa.Column('public_key', sa.Text(), nullable=False),
    sa.Column('push_scope', sa.String(length=16), nullable=False),
    sa.Column('webhook_secret_sealed', sa.Text(), nullable=False),
    sa.Column('last_push_at', calcifer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_push_commit', sa.String(length=64), nullable=False),
    sa.Column('last_push_error', sa.Text(), nullable=False),
    sa.Column('push_failures', sa.Integer(), nullable=False),
    sa.Column('next_push_at', calcifer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_fetch_at', calcifer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_fetch_outcome', sa.String(length=16), nullable=False),
    sa.Column('last_fetch_error', sa.Text(), nullable=False),
    sa.Column('last_fetch_files', sa.Text(), nullable=False),
    sa.Column('created_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_remote_config'))
    )
    op.create_table('remote_outside_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha', sa.String(length=64), nullable=False),
    sa.Column('summary', sa.String(length=500), nullable=False),
    sa.Column('author_name', sa.String(length=200), nullable=False),
    sa.Column('author_email', sa.String(length=320), nullable=False),
    sa.Column('committed_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('found_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('main_commit', sa.String(length=64), nullable=False),
    sa.Column('work_item_id', sa.Integer(), nullable=True),
    sa.Column('adopted_at', calcifer.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_remote_outside_changes')),
    sa.UniqueConstraint('sha', name=op.f('uq_remote_outside_changes_sha'))
    )
    with op.batch_alter_table('remote_outside_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_remote_outside_changes_work_item_id'), ['work_item_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('remote_outside_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_remote_outside_changes_work_item_id'))
    op.drop_table('remote_outside_changes')
    op.drop_table('remote_config')
