"""Disclosures actually made

Revision ID: 0031_disclosures
Revises: 0030_consultations
Create Date: 2026-12-12

An approved request ready to disclose opens one pending disclosure per information asset holding its approved items
(app/models/disclosure.py); the asset's owner records what was sent, how and when, or why nothing was.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0031_disclosures"
down_revision: str | None = "0030_consultations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on PostgreSQL, JSON text on SQLite.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Make the disclosures table."""
    op.create_table(
        "disclosures",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("asset_code", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("recipient_org", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("items", JSON, nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("disclosed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=8000), nullable=True),
        sa.Column("recorded_by", sa.String(length=200), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["sharing_requests.id"], name=op.f("fk_disclosures_request_id_sharing_requests")
        ),
        sa.ForeignKeyConstraint(
            ["asset_code"], ["information_assets.code"], name=op.f("fk_disclosures_asset_code_information_assets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosures")),
    )
    for column in ("request_id", "asset_code", "owner", "recipient_org", "status", "due_at"):
        op.create_index(op.f(f"ix_disclosures_{column}"), "disclosures", [column], unique=False)


def downgrade() -> None:
    """Drop it: the record of what was sent is lost, its audit events stay."""
    for column in ("request_id", "asset_code", "owner", "recipient_org", "status", "due_at"):
        op.drop_index(op.f(f"ix_disclosures_{column}"), table_name="disclosures")
    op.drop_table("disclosures")
