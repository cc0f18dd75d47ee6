"""Reconsiderations: an agency's request that a decision be reconsidered, and a guardian's answer

Revision ID: 0010_reconsideration
Revises: 0009_delivery_notify
Create Date: 2026-11-27

One row per decision reconsidered: the unique constraint on decision_id is what "once per
decision" rests on. The new statuses (awaiting_reconsideration, in_reconsideration), decision
kind (reconsideration) and actions fit the existing text columns, so no other table changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0010_reconsideration"
down_revision: str | None = "0009_delivery_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reconsiderations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("decision_id", sa.String(length=36), nullable=False),
        sa.Column("grounds", sa.String(length=8000), nullable=False),
        sa.Column("revised_version", sa.Integer(), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("new_decision_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"], ["sharing_requests.id"], name=op.f("fk_reconsiderations_request_id_sharing_requests")
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["decisions.id"], name=op.f("fk_reconsiderations_decision_id_decisions")
        ),
        sa.ForeignKeyConstraint(
            ["new_decision_id"], ["decisions.id"], name=op.f("fk_reconsiderations_new_decision_id_decisions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconsiderations")),
        sa.UniqueConstraint("decision_id", name=op.f("uq_reconsiderations_decision_id")),
    )
    with op.batch_alter_table("reconsiderations") as batch_op:
        batch_op.create_index(batch_op.f("ix_reconsiderations_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reconsiderations") as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconsiderations_request_id"))
    op.drop_table("reconsiderations")
