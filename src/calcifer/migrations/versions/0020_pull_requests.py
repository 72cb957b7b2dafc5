"""pull requests: the forge's settings and each work item's pull request

Revision ID: 0020
Revises: 0018
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import calcifer.db

revision = '0020'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Hand-written (other slices add tables in parallel revisions); mirrors pulls.models.
    op.create_table('forge_config',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('api_url', sa.String(length=1000), nullable=False),
    sa.Column('repository', sa.String(length=300), nullable=False),
    sa.Column('token_sealed', sa.Text(), nullable=False),
    sa.Column('created_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_forge_config'))
    )
    op.create_table('pull_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('work_item_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('branch', sa.String(length=300), nullable=False),
    sa.Column('head_commit', sa.String(length=64), nullable=False),
    sa.Column('merge_commit', sa.String(length=64), nullable=False),
    sa.Column('opened_by_id', sa.Integer(), nullable=True),
    sa.Column('opened_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('checked_at', calcifer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('comment_key', sa.String(length=64), nullable=False),
    sa.Column('settled', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['opened_by_id'], ['users.id'], name=op.f('fk_pull_requests_opened_by_id_users'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['work_item_id'], ['work_items.id'],
                            name=op.f('fk_pull_requests_work_item_id_work_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pull_requests')),
    sa.UniqueConstraint('work_item_id', name=op.f('uq_pull_requests_work_item_id'))
    )


def downgrade() -> None:
    op.drop_table('pull_requests')
    op.drop_table('forge_config')
