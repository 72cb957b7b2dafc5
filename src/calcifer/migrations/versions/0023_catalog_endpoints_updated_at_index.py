"""catalog: an index on catalog_endpoints.updated_at (the probes' plan asks for the newest one per batch)

Revision ID: 0023
Revises: 0022
"""
from __future__ import annotations

from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Mirrors catalog.models: ``max(updated_at)`` is part of the signature ``monitoring.locations.current_plan``
    # checks before every probe upload; without an index it reads every row of the catalog.
    with op.batch_alter_table('catalog_endpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_endpoints_updated_at'), ['updated_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('catalog_endpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_endpoints_updated_at'))
