"""remote: the SSH server's host key Calcifer trusts for the remote (pinned at the first connection, or
pasted by an admin); an SSH connection showing another key is refused

Revision ID: 0022
Revises: 0021
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Remotes saved before this revision have no key: it is read from the server at their next connection.
    with op.batch_alter_table('remote_config', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ssh_host_key', sa.Text(), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('remote_config', schema=None) as batch_op:
        batch_op.drop_column('ssh_host_key')
