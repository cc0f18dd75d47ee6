"""Incidents with disclosures

Revision ID: 0035_incidents
Revises: 0034_people_roles
Create Date: 2026-12-12

An incident recorded against a disclosure (app/models/incident.py): its grading, its report to the ICO, the recall of
the data from its recipient and its closure; and the incident an `incident_recorded` email links to (`email_outbox`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0035_incidents"
down_revision: str | None = "0034_people_roles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on PostgreSQL, JSON text on SQLite.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
INDEXED = ("disclosure_id", "request_id", "recipient_org", "reportable", "status", "recorded_at")


def upgrade() -> None:
    """Make the incidents table."""
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("disclosure_id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("recipient_org", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=8000), nullable=False),
        sa.Column("aware_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("likelihood", sa.Integer(), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("reportable", sa.Boolean(), nullable=False),
        sa.Column("policy_name", sa.String(length=64), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("told", JSON, nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("report_reference", sa.String(length=100), nullable=True),
        sa.Column("reported_by", sa.String(length=200), nullable=True),
        sa.Column("recall_outcome", sa.String(length=16), nullable=True),
        sa.Column("recall_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recall_note", sa.String(length=8000), nullable=True),
        sa.Column("recall_confirmed_by", sa.String(length=200), nullable=True),
        sa.Column("closure_outcome", sa.String(length=8000), nullable=True),
        sa.Column("lessons", sa.String(length=8000), nullable=True),
        sa.Column("closed_by", sa.String(length=200), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["disclosure_id"], ["disclosures.id"], name=op.f("fk_incidents_disclosure_id_disclosures")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    for column in INDEXED:
        op.create_index(op.f(f"ix_incidents_{column}"), "incidents", [column], unique=False)
    op.add_column("email_outbox", sa.Column("incident_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    """Drop it: the incidents are lost, their audit events stay."""
    with op.batch_alter_table("email_outbox") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("incident_id")
    for column in INDEXED:
        op.drop_index(op.f(f"ix_incidents_{column}"), table_name="incidents")
    op.drop_table("incidents")
