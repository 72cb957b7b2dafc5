"""monitoring: remote probes, probe events, per-location states, results and hourly aggregates

Revision ID: 0012
Revises: 0014
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import calcifer.db

revision = '0012'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Hand-written; mirrors monitoring.models.probes.
    op.create_table('monitor_probes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('location', sa.String(length=63), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('created_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', calcifer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('online', sa.Boolean(), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('clock_offset_ms', sa.Float(), nullable=True),
    sa.Column('queue_length', sa.Integer(), nullable=False),
    sa.Column('checks_per_second', sa.Float(), nullable=False),
    sa.Column('dropped', sa.BigInteger(), nullable=False),
    sa.Column('results_total', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_probes')),
    sa.UniqueConstraint('name', name=op.f('uq_monitor_probes_name')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_monitor_probes_token_hash'))
    )
    with op.batch_alter_table('monitor_probes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitor_probes_location'), ['location'], unique=False)

    op.create_table('monitor_probe_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('probe_id', sa.Integer(), nullable=False),
    sa.Column('at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_probe_events'))
    )
    with op.batch_alter_table('monitor_probe_events', schema=None) as batch_op:
        batch_op.create_index('ix_monitor_probe_events_probe_at', ['probe_id', 'at'], unique=False)

    op.create_table('monitor_location_states',
    sa.Column('endpoint_id', sa.Integer(), nullable=False),
    sa.Column('location', sa.String(length=63), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('last_checked_at', calcifer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('latency_ms', sa.Float(), nullable=True),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('probe_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('endpoint_id', 'location', name=op.f('pk_monitor_location_states'))
    )

    op.create_table('monitor_location_results',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('endpoint_id', sa.Integer(), nullable=False),
    sa.Column('location', sa.String(length=63), nullable=False),
    sa.Column('probe_id', sa.Integer(), nullable=True),
    sa.Column('seq', sa.BigInteger(), nullable=True),
    sa.Column('checked_at_ms', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.SmallInteger(), nullable=False),
    sa.Column('latency_ms', sa.Float(), nullable=True),
    sa.Column('message', sa.String(length=300), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_location_results'))
    )
    with op.batch_alter_table('monitor_location_results', schema=None) as batch_op:
        batch_op.create_index('ix_monitor_location_results_endpoint_time',
                              ['endpoint_id', 'location', 'checked_at_ms'], unique=False)
        batch_op.create_index('ux_monitor_location_results_probe_seq', ['probe_id', 'seq'], unique=True)

    op.create_table('monitor_location_hourly',
    sa.Column('endpoint_id', sa.Integer(), nullable=False),
    sa.Column('location', sa.String(length=63), nullable=False),
    sa.Column('hour', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('checks', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('degraded', sa.Integer(), nullable=False),
    sa.Column('latency_n', sa.Integer(), nullable=False),
    sa.Column('latency_sum', sa.Float(), nullable=False),
    sa.Column('latency_min', sa.Float(), nullable=True),
    sa.Column('latency_max', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('endpoint_id', 'location', 'hour', name=op.f('pk_monitor_location_hourly'))
    )


def downgrade() -> None:
    op.drop_table('monitor_location_hourly')
    with op.batch_alter_table('monitor_location_results', schema=None) as batch_op:
        batch_op.drop_index('ux_monitor_location_results_probe_seq')
        batch_op.drop_index('ix_monitor_location_results_endpoint_time')
    op.drop_table('monitor_location_results')
    op.drop_table('monitor_location_states')
    with op.batch_alter_table('monitor_probe_events', schema=None) as batch_op:
        batch_op.drop_index('ix_monitor_probe_events_probe_at')
    op.drop_table('monitor_probe_events')
    with op.batch_alter_table('monitor_probes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_monitor_probes_location'))
    op.drop_table('monitor_probes')
