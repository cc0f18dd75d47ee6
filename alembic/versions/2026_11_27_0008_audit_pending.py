"""Audit events waiting to be chained

Revision ID: 0008_audit_pending
Revises: 0007_rate_limits
Create Date: 2026-11-27

A writer's transaction no longer takes the chain's head: it inserts its events here, and
a chainer moves them into audit_events in id order, computing seq, prev_hash and hash in
one short transaction of its own (app/services/audit/chain.py). A row is either here or in the
chain, never half-way, whatever is killed when.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0008_audit_pending"
down_revision: str | None = "0007_rate_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "audit_pending",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_sub", sa.String(length=200), nullable=False),
        sa.Column("actor_org", sa.String(length=32), nullable=True),
        sa.Column("actor_roles", JSON, nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=80), nullable=False),
        sa.Column("correlation_id", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_pending")),
    )


def downgrade() -> None:
    op.drop_table("audit_pending")
