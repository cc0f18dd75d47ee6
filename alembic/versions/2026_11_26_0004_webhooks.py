"""Webhook endpoints, the transactional outbox and delivery attempts

Revision ID: 0004_webhooks
Revises: 0003_audit
Create Date: 2026-11-26
"""

from collections.abc import Sequence

revision: str = "0004_webhooks"
down_revision: str | None = "0003_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
