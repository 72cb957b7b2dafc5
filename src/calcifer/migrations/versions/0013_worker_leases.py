"""monitoring: worker leases (monitor_workers) and the endpoint shares they hold (monitor_buckets)

Revision ID: 0013
Revises: 0012
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import calcifer.db

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Hand-written (other slices add tables in parallel revisions); mirrors monitoring.models.workers.
    op.create_table('monitor_workers',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('host', sa.String(length=200), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_workers'))
    )
    op.create_table('monitor_buckets',
    sa.Column('bucket', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('worker_id', sa.String(length=32), nullable=True),
    sa.Column('expires_at', calcifer.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('bucket', name=op.f('pk_monitor_buckets'))
    )


def downgrade() -> None:
    op.drop_table('monitor_buckets')
    op.drop_table('monitor_workers')
