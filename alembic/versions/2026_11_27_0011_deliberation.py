"""Deliberation: second opinions and panels, and what a decision record keeps of them

Revision ID: 0011_deliberation
Revises: 0010_reconsideration
Create Date: 2026-11-27

A claim holder's requests for a second opinion and the opinions given (one per request: the unique
constraint on opinion_request_id); panels, their members and their votes, where a withdrawal is a row
of its own beside the vote it supersedes (each member has at most one vote and one withdrawal: the
unique constraint). A decision record gains the opinions it weighed and, for a panel's, the panel
with every vote. The new status (in_panel), decision kind (panel) and actions fit the existing text
columns.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0011_deliberation"
down_revision: str | None = "0010_reconsideration"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# Python None is SQL NULL here, as in the model's column, not JSON null.
NULLABLE_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "opinion_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("asked_by", sa.String(length=200), nullable=False),
        sa.Column("asked_by_org", sa.String(length=32), nullable=False),
        sa.Column("asked_sub", sa.String(length=200), nullable=True),
        sa.Column("asked_org", sa.String(length=32), nullable=True),
        sa.Column("proposed_outcome", sa.String(length=32), nullable=False),
        sa.Column("question", sa.String(length=8000), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"], ["sharing_requests.id"], name=op.f("fk_opinion_requests_request_id_sharing_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opinion_requests")),
    )
    op.create_table(
        "opinions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("opinion_request_id", sa.String(length=36), nullable=False),
        sa.Column("given_by", sa.String(length=200), nullable=False),
        sa.Column("given_by_org", sa.String(length=32), nullable=False),
        sa.Column("opinion", sa.String(length=16), nullable=False),
        sa.Column("rationale", sa.String(length=8000), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"], ["sharing_requests.id"], name=op.f("fk_opinions_request_id_sharing_requests")
        ),
        sa.ForeignKeyConstraint(
            ["opinion_request_id"],
            ["opinion_requests.id"],
            name=op.f("fk_opinions_opinion_request_id_opinion_requests"),
        ),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"], name=op.f("fk_opinions_decision_id_decisions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opinions")),
        sa.UniqueConstraint("opinion_request_id", name=op.f("uq_opinions_opinion_request_id")),
    )
    op.create_table(
        "panels",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("chair_sub", sa.String(length=200), nullable=False),
        sa.Column("chair_org", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=8000), nullable=False),
        sa.Column("required", JSON, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("quorum", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"], ["sharing_requests.id"], name=op.f("fk_panels_request_id_sharing_requests")
        ),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"], name=op.f("fk_panels_decision_id_decisions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_panels")),
    )
    op.create_table(
        "panel_members",
        sa.Column("panel_id", sa.String(length=36), nullable=False),
        sa.Column("sub", sa.String(length=200), nullable=False),
        sa.Column("org", sa.String(length=32), nullable=False),
        sa.Column("seat", sa.Integer(), nullable=False),
        sa.Column("chair", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["panel_id"], ["panels.id"], name=op.f("fk_panel_members_panel_id_panels")),
        sa.PrimaryKeyConstraint("panel_id", "sub", "org", name=op.f("pk_panel_members")),
    )
    op.create_table(
        "panel_votes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("panel_id", sa.String(length=36), nullable=False),
        sa.Column("member_sub", sa.String(length=200), nullable=False),
        sa.Column("member_org", sa.String(length=32), nullable=False),
        sa.Column("withdrawal", sa.Boolean(), nullable=False),
        sa.Column("vote", sa.String(length=32), nullable=True),
        sa.Column("conditions", JSON, nullable=False),
        sa.Column("rationale", sa.String(length=8000), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["panel_id"], ["panels.id"], name=op.f("fk_panel_votes_panel_id_panels")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_panel_votes")),
        sa.UniqueConstraint("panel_id", "member_sub", "member_org", "withdrawal", name=op.f("uq_panel_votes_panel_id")),
    )
    for table in ("opinion_requests", "opinions", "panels", "panel_votes"):
        column = "panel_id" if table == "panel_votes" else "request_id"
        with op.batch_alter_table(table) as batch_op:
            batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)
    with op.batch_alter_table("decisions") as batch_op:
        batch_op.add_column(sa.Column("opinions", NULLABLE_JSON, nullable=True))
        batch_op.add_column(sa.Column("panel", NULLABLE_JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch_op:
        batch_op.drop_column("panel")
        batch_op.drop_column("opinions")
    for table in ("panel_votes", "panels", "opinions", "opinion_requests"):
        column = "panel_id" if table == "panel_votes" else "request_id"
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))
    for table in ("panel_votes", "panel_members", "panels", "opinions", "opinion_requests"):
        op.drop_table(table)
