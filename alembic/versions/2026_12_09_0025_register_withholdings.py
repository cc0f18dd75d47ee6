"""The entries the controller withholds from the public data uses register

Revision ID: 0025_register_withholdings
Revises: 0024_idempotency
Create Date: 2026-12-09

`register_withholdings` holds, per sharing request, why the controller keeps its entry out of `GET /v1/register`,
who withheld it and when; deleting the row puts the entry back.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0025_register_withholdings"
down_revision: str | None = "0024_idempotency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the table of withheld entries."""
    op.create_table(
        "register_withholdings",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("withheld_by", sa.String(length=200), nullable=False),
        sa.Column("withheld_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["sharing_requests.id"], name=op.f("fk_register_withholdings_request_id_sharing_requests")
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_register_withholdings")),
    )


def downgrade() -> None:
    """Drop the table of withheld entries."""
    op.drop_table("register_withholdings")
