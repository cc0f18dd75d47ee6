"""The information asset register

Revision ID: 0029_information_assets
Revises: 0028_claim_hand_overs
Create Date: 2026-12-11

`information_assets` holds, per asset, its system and supplier, its owner (the `sub` of an information asset
owner), administrator, the data categories it holds, where it is hosted and its last risk review.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0029_information_assets"
down_revision: str | None = "0028_claim_hand_overs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on PostgreSQL, JSON text on SQLite.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create the register's table."""
    op.create_table(
        "information_assets",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("system", sa.String(length=200), nullable=False),
        sa.Column("supplier", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("administrator", sa.String(length=200), nullable=False),
        sa.Column("data_categories", JSON, nullable=False),
        sa.Column("hosting", sa.String(length=200), nullable=False),
        sa.Column("last_risk_review", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_information_assets")),
    )
    op.create_index(op.f("ix_information_assets_owner"), "information_assets", ["owner"], unique=False)


def downgrade() -> None:
    """Drop the register's table."""
    op.drop_index(op.f("ix_information_assets_owner"), table_name="information_assets")
    op.drop_table("information_assets")
