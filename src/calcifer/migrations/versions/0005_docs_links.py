"""docs links (placeholder: filled by the slice that needs it; a no-op until then)

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
