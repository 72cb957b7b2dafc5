"""plugins: toggles (plugin_states) and the plugin event consumer's position (plugin_cursors)

Revision ID: 0018
Revises: 0017
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import calcifer.db

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Hand-written; mirrors plugins.models (PluginState, PluginCursor).
    op.create_table('plugin_states',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_by_name', sa.String(length=64), nullable=False),
    sa.Column('updated_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_plugin_states'))
    )
    op.create_table('plugin_cursors',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('last_event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_plugin_cursors'))
    )


def downgrade() -> None:
    op.drop_table('plugin_cursors')
    op.drop_table('plugin_states')
