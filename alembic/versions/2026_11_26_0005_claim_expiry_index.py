"""Index the claim leases: every queue listing looks for lapsed claims

Revision ID: 0005_claim_expiry_index
Revises: 0004_webhooks
Create Date: 2026-11-26

Without it the look-up reads every queued request (bench/RESULTS.md, scale).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_claim_expiry_index"
down_revision: str | None = "0004_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sharing_requests") as batch_op:
        batch_op.create_index("ix_sharing_requests_claim_expires", ["claim_expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sharing_requests") as batch_op:
        batch_op.drop_index("ix_sharing_requests_claim_expires")
