"""Guardian review workflow: the queue, claims, pauses, state history, guardian decisions

Revision ID: 0002_review
Revises: 0001_core
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0002_review"
down_revision: str | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "sharing_request_transitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=False),
        sa.Column("actor_sub", sa.String(length=200), nullable=False),
        sa.Column("actor_org", sa.String(length=32), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["sharing_requests.id"],
            name=op.f("fk_sharing_request_transitions_request_id_sharing_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_request_transitions")),
    )
    with op.batch_alter_table("sharing_request_transitions") as batch_op:
        batch_op.create_index(batch_op.f("ix_sharing_request_transitions_request_id"), ["request_id"], unique=False)

    with op.batch_alter_table("decisions") as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="rules"))
        batch_op.add_column(sa.Column("approved_items", JSON, nullable=True))
        batch_op.add_column(sa.Column("response_seconds", sa.Integer(), nullable=True))

    with op.batch_alter_table("sharing_request_versions") as batch_op:
        batch_op.add_column(sa.Column("note", sa.String(length=4000), nullable=True))

    with op.batch_alter_table("sharing_requests") as batch_op:
        batch_op.add_column(sa.Column("in_queue", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("review_priority", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("referred_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("paused_seconds", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("assignee_sub", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("assignee_org", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("claim_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("retrospective_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("overdue_flagged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("row_version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.create_index(
            "ix_sharing_requests_queue", ["in_queue", "review_priority", "due_at", "id"], unique=False
        )

    # Requests referred before this migration join the queue as due at once: their response
    # time was never set, and a guardian should see them first rather than never.
    op.execute(
        "UPDATE sharing_requests SET in_queue = true, referred_at = created_at, due_at = created_at, "
        "review_priority = CASE urgency WHEN 'emergency' THEN 0 WHEN 'urgent' THEN 1 ELSE 2 END "
        "WHERE status = 'awaiting_review'"
    )


def downgrade() -> None:
    with op.batch_alter_table("sharing_requests") as batch_op:
        batch_op.drop_index("ix_sharing_requests_queue")
        for column in (
            "row_version",
            "overdue_flagged_at",
            "retrospective_status",
            "claim_expires_at",
            "assignee_org",
            "assignee_sub",
            "paused_seconds",
            "paused_at",
            "due_at",
            "referred_at",
            "review_priority",
            "in_queue",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("sharing_request_versions") as batch_op:
        batch_op.drop_column("note")
    with op.batch_alter_table("decisions") as batch_op:
        for column in ("response_seconds", "approved_items", "kind"):
            batch_op.drop_column(column)
    with op.batch_alter_table("sharing_request_transitions") as batch_op:
        batch_op.drop_index(batch_op.f("ix_sharing_request_transitions_request_id"))
    op.drop_table("sharing_request_transitions")
