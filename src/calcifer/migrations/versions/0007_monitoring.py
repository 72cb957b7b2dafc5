"""monitoring: endpoint state, results, hourly aggregates, events, push, scheduler

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 07:13:43.875264
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import calcifer.db

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('monitor_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('endpoint_id', sa.Integer(), nullable=False),
    sa.Column('at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('old_status', sa.String(length=16), nullable=True),
    sa.Column('new_status', sa.String(length=16), nullable=True),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('in_maintenance', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_events'))
    )
    with op.batch_alter_table('monitor_events', schema=None) as batch_op:
        batch_op.create_index('ix_monitor_events_at', ['at'], unique=False)
        batch_op.create_index('ix_monitor_events_endpoint_at', ['endpoint_id', 'at'], unique=False)

    op.create_table('monitor_hourly',
    sa.Column('endpoint_id', sa.Integer(), nullable=False),
    sa.Column('hour', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('checks', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('degraded', sa.Integer(), nullable=False),
    sa.Column('maintenance_checks', sa.Integer(), nullable=False),
    sa.Column('maintenance_failures', sa.Integer(), nullable=False),
    sa.Column('latency_min', sa.Float(), nullable=True),
    sa.Column('latency_avg', sa.Float(), nullable=True),
    sa.Column('latency_p95', sa.Float(), nullable=True),
    sa.Column('latency_max', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('endpoint_id', 'hour', name=op.f('pk_monitor_hourly'))
    )
    op.create_table('monitor_push',
    sa.Column('slug', sa.String(length=63), nullable=False),
    sa.Column('last_push_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reported_status', sa.String(length=16), nullable=False),
    sa.Column('message', sa.String(length=300), nullable=False),
    sa.Column('pushes', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('slug', name=op.f('pk_monitor_push'))
    )
    op.create_table('monitor_results',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('endpoint_id', sa.Integer(), nullable=False),
    sa.Column('checked_at_ms', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.SmallInteger(), nullable=False),
    sa.Column('latency_ms', sa.Float(), nullable=True),
    sa.Column('message', sa.String(length=300), nullable=True),
    sa.Column('in_maintenance', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_results'))
    )
    with op.batch_alter_table('monitor_results', schema=None) as batch_op:
        batch_op.create_index('ix_monitor_results_endpoint_time', ['endpoint_id', 'checked_at_ms'], unique=False)

    op.create_table('monitor_scheduler',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('holder', sa.String(length=200), nullable=False),
    sa.Column('started_at', calcifer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', calcifer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('endpoints', sa.Integer(), nullable=False),
    sa.Column('checks_total', sa.BigInteger(), nullable=False),
    sa.Column('lag_p50_ms', sa.Float(), nullable=False),
    sa.Column('lag_p99_ms', sa.Float(), nullable=False),
    sa.Column('queue', sa.Integer(), nullable=False),
    sa.Column('in_flight', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_scheduler'))
    )
    op.create_table('monitor_states',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=63), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_since', calcifer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_checked_at', calcifer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_due_at', calcifer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('latency_ms', sa.Float(), nullable=True),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('in_maintenance', sa.Boolean(), nullable=False),
    sa.Column('cert_expires_at', calcifer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cert_days_left', sa.Float(), nullable=True),
    sa.Column('cert_info', sa.JSON(), nullable=True),
    sa.Column('updated_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_states')),
    sa.UniqueConstraint('slug', name=op.f('uq_monitor_states_slug'))
    )
    with op.batch_alter_table('monitor_states', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitor_states_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('monitor_states', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_monitor_states_status'))

    op.drop_table('monitor_states')
    op.drop_table('monitor_scheduler')
    with op.batch_alter_table('monitor_results', schema=None) as batch_op:
        batch_op.drop_index('ix_monitor_results_endpoint_time')

    op.drop_table('monitor_results')
    op.drop_table('monitor_push')
    op.drop_table('monitor_hourly')
    with op.batch_alter_table('monitor_events', schema=None) as batch_op:
        batch_op.drop_index('ix_monitor_events_endpoint_at')
        batch_op.drop_index('ix_monitor_events_at')

    op.drop_table('monitor_events')
