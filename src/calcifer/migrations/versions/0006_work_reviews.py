"""work reviews (placeholder: filled by the slice that needs it; a no-op until then)

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
