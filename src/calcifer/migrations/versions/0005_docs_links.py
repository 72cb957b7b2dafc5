"""docs: the index of main's docs (pages, links between docs and services, sync state)

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import calcifer.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('docs_index',
    sa.Column('path', sa.String(length=255), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('blob_id', sa.String(length=64), nullable=False),
    sa.Column('is_template', sa.Boolean(), nullable=False),
    sa.Column('commit_id', sa.String(length=64), nullable=True),
    sa.Column('updated_at', calcifer.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('path', name=op.f('pk_docs_index'))
    )
    with op.batch_alter_table('docs_index', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_docs_index_is_template'), ['is_template'], unique=False)

    op.create_table('docs_links',
    sa.Column('source', sa.String(length=255), nullable=False),
    sa.Column('target', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('source', 'target', name=op.f('pk_docs_links'))
    )
    with op.batch_alter_table('docs_links', schema=None) as batch_op:
        batch_op.create_index('ix_docs_links_target', ['target'], unique=False)

    state = op.create_table('docs_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('synced_commit', sa.String(length=64), nullable=True),
    sa.Column('catalog_commit', sa.String(length=64), nullable=True),
    sa.Column('synced_at', calcifer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('docs', sa.Integer(), nullable=False),
    sa.Column('links', sa.Integer(), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_docs_state'))
    )
    # The single state row: syncs lock it first, so concurrent syncs run one after the other.
    op.bulk_insert(state, [{'id': 1, 'synced_commit': None, 'catalog_commit': None, 'synced_at': None,
                            'docs': 0, 'links': 0, 'duration_ms': 0}])


def downgrade() -> None:
    op.drop_table('docs_state')
    with op.batch_alter_table('docs_links', schema=None) as batch_op:
        batch_op.drop_index('ix_docs_links_target')
    op.drop_table('docs_links')
    with op.batch_alter_table('docs_index', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_docs_index_is_template'))
    op.drop_table('docs_index')
