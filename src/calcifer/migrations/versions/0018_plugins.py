"""plugins: toggles (plugin_states)

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
    # Hand-written; mirrors plugins.models (PluginState).
    op.create_table('plugin_states',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_by_name', sa.String(length=64), nullable=False),
    sa.Column('updated_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_plugin_states'))
    )


def downgrade() -> None:
    op.drop_table('plugin_states')
