"""Signed checkpoints of the audit chain

Revision ID: 0016_audit_checkpoints
Revises: 0015_row_versions
Create Date: 2026-11-28

Each row is the chain's head at a moment (seq and hash), signed with an Ed25519 key kept outside the
database and linked to the checkpoint before by its digest (app/services/audit/checkpoints.py). On PostgreSQL
a trigger refuses UPDATE, DELETE and TRUNCATE, as on audit_events.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0016_audit_checkpoints"
down_revision: str | None = "0015_row_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_FUNCTION = """
CREATE FUNCTION audit_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_checkpoints is append-only: % is not allowed', TG_OP;
END
$$
"""
APPEND_ONLY_TRIGGER = """
CREATE TRIGGER audit_checkpoints_append_only
BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_checkpoints
FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoints_append_only()
"""


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("log", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("previous", sa.String(length=64), nullable=True),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_audit_checkpoints")),
    )
    with op.batch_alter_table("audit_checkpoints") as batch_op:
        batch_op.create_index("ix_audit_checkpoints_seq", ["seq"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_FUNCTION)
        op.execute(APPEND_ONLY_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_checkpoints_append_only ON audit_checkpoints")
        op.execute("DROP FUNCTION audit_checkpoints_append_only()")
    op.drop_table("audit_checkpoints")
