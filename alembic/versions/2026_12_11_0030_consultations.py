"""Consultations inside a case

Revision ID: 0030_consultations
Revises: 0029_information_assets
Create Date: 2026-12-11

The guardian holding a claim may consult a safeguarding lead, the DPO, the SIRO or a named information asset owner
(app/services/consultations/): the question, whom, by when, and the answer once given, one row each.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0030_consultations"
down_revision: str | None = "0029_information_assets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Make the consultations table."""
    op.create_table(
        "consultations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("asked_sub", sa.String(length=200), nullable=True),
        sa.Column("asked_by", sa.String(length=200), nullable=False),
        sa.Column("asked_by_org", sa.String(length=32), nullable=False),
        sa.Column("question", sa.String(length=8000), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answer", sa.String(length=8000), nullable=True),
        sa.Column("answered_by", sa.String(length=200), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"], ["sharing_requests.id"], name=op.f("fk_consultations_request_id_sharing_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consultations")),
    )
    op.create_index(op.f("ix_consultations_request_id"), "consultations", ["request_id"], unique=False)


def downgrade() -> None:
    """Drop it: the consultations are lost, their audit events stay."""
    op.drop_index(op.f("ix_consultations_request_id"), table_name="consultations")
    op.drop_table("consultations")
