"""The console's sign-ins

Revision ID: 0026_console_sessions
Revises: 0025_register_withholdings
Create Date: 2026-12-10

`console_sessions` holds one row per person signed in to the console (app/console/auth.py): the SHA-256 of the
random value in their cookie, who they are and the roles honoured for them, their form token, when they were last
seen (the idle timeout) and when the sign-in ends regardless.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0026_console_sessions"
down_revision: str | None = "0025_register_withholdings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the table of sign-ins."""
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("sub", sa.String(length=200), nullable=False),
        sa.Column("org", sa.String(length=32), nullable=False),
        sa.Column("roles", sa.String(length=200), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_console_sessions_token_hash")),
    )
    with op.batch_alter_table("console_sessions") as batch_op:
        batch_op.create_index("ix_console_sessions_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    """Drop the table: everyone is signed out."""
    with op.batch_alter_table("console_sessions") as batch_op:
        batch_op.drop_index("ix_console_sessions_expires_at")
    op.drop_table("console_sessions")
