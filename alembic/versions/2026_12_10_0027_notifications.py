"""People who signed in to the console, and the email outbox of notifications to them

Revision ID: 0027_notifications
Revises: 0026_console_sessions
Create Date: 2026-12-10

`people` keeps, per token subject and organisation, the address and name the identity provider gave at the last
sign-in to the console, so that a guardian the workflow names can be written to. `email_outbox` holds each
notification, written in the transaction of the act that calls for it and sent afterwards by the worker; `once_key`
is unique so that a notification sent once (a claim's warning) is written once however many workers look.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0027_notifications"
down_revision: str | None = "0026_console_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the directory of people and the email outbox."""
    op.create_table(
        "people",
        sa.Column("sub", sa.String(length=200), nullable=False),
        sa.Column("org", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("last_signed_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sub", "org", name=op.f("pk_people")),
    )
    op.create_table(
        "email_outbox",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("recipient_sub", sa.String(length=200), nullable=True),
        sa.Column("recipient_org", sa.String(length=32), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("once_key", sa.String(length=120), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("given_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"], ["sharing_requests.id"], name=op.f("fk_email_outbox_request_id_sharing_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_outbox")),
        sa.UniqueConstraint("once_key", name=op.f("uq_email_outbox_once_key")),
    )
    op.create_index("ix_email_outbox_due", "email_outbox", ["sent_at", "given_up_at", "next_attempt_at"])


def downgrade() -> None:
    """Drop the email outbox and the directory of people."""
    op.drop_index("ix_email_outbox_due", table_name="email_outbox")
    op.drop_table("email_outbox")
    op.drop_table("people")
