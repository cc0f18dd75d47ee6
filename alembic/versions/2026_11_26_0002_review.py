"""Guardian review workflow: claims, state history, guardian decisions

Revision ID: 0002_review
Revises: 0001_core
Create Date: 2026-11-26
"""

from collections.abc import Sequence

revision: str = "0002_review"
down_revision: str | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
