"""backups: off-site targets (S3-compatible, SFTP) and the copies uploaded there

Revision ID: 0019
Revises: 0016
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import calcifer.db

revision = '0019'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Hand-written (other slices add tables in parallel revisions); mirrors backup.models.
    op.create_table('backup_targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('secret_sealed', sa.Text(), nullable=False),
    sa.Column('host_key', sa.String(length=200), nullable=False),
    sa.Column('host_key_tofu', sa.Boolean(), nullable=False),
    sa.Column('last_checked_at', calcifer.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('created_by_name', sa.String(length=64), nullable=False),
    sa.Column('created_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_backup_targets')),
    sa.UniqueConstraint('name', name=op.f('uq_backup_targets_name'))
    )
    op.create_table('backup_copies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('archive_name', sa.String(length=255), nullable=False),
    sa.Column('location', sa.Text(), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['target_id'], ['backup_targets.id'], name=op.f('fk_backup_copies_target_id_backup_targets'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_backup_copies')),
    sa.UniqueConstraint('target_id', 'archive_name', name=op.f('uq_backup_copies_target_id'))
    )
    with op.batch_alter_table('backup_copies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_backup_copies_target_id'), ['target_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('backup_copies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_backup_copies_target_id'))
    op.drop_table('backup_copies')
    op.drop_table('backup_targets')
