"""The controller's checks, and what a request keeps of them

Revision ID: 0019_controller_checks
Revises: 0018_evidence_verification
Create Date: 2026-12-07

An approving decision opens one check per controller's check among its findings, and a significant decision by the
rules may open `human_involvement` (brief section 5; app/services/controller_checks/checks.py). Each record of a check
is a row of its own, never edited. The request keeps which decision's checks count now, which are open, whether one
holds the disclosure back. Whether a failed check of an emergency share calls for the incident process is
`sharing_requests.possible_incident`, which 0018 added for decisions made on unverified evidence.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0019_controller_checks"
down_revision: str | None = "0018_evidence_verification"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "controller_checks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("decision_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("blocking", sa.Boolean(), nullable=False),
        sa.Column("emergency_share", sa.Boolean(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_flagged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["sharing_requests.id"], name=op.f("fk_controller_checks_request_id_sharing_requests")
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["decisions.id"], name=op.f("fk_controller_checks_decision_id_decisions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_controller_checks")),
        sa.UniqueConstraint("decision_id", "name", name=op.f("uq_controller_checks_decision_id")),
    )
    with op.batch_alter_table("controller_checks") as batch_op:
        batch_op.create_index(batch_op.f("ix_controller_checks_request_id"), ["request_id"], unique=False)
        batch_op.create_index("ix_controller_checks_due", ["status", "due_at"], unique=False)
    op.create_table(
        "controller_check_records",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("check_id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("checked", sa.String(length=4000), nullable=False),
        sa.Column("by_sub", sa.String(length=200), nullable=False),
        sa.Column("by_org", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["check_id"], ["controller_checks.id"], name=op.f("fk_controller_check_records_check_id_controller_checks")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["sharing_requests.id"],
            name=op.f("fk_controller_check_records_request_id_sharing_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_controller_check_records")),
    )
    with op.batch_alter_table("controller_check_records") as batch_op:
        batch_op.create_index(batch_op.f("ix_controller_check_records_check_id"), ["check_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_controller_check_records_request_id"), ["request_id"], unique=False)
    with op.batch_alter_table("sharing_requests") as batch_op:
        batch_op.add_column(sa.Column("checks_decision_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("open_checks", JSON, nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("checks_blocking", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("sharing_requests") as batch_op:
        batch_op.drop_column("checks_blocking")
        batch_op.drop_column("open_checks")
        batch_op.drop_column("checks_decision_id")
    op.drop_table("controller_check_records")
    op.drop_table("controller_checks")
