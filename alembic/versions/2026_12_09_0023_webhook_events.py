"""Webhooks a receiver can rely on, and egress audited: a per-request sequence, its counter, the allowlist's record

Revision ID: 0023_webhook_events
Revises: 0022_subject_key_versions
Create Date: 2026-12-09

Each event about a sharing request carries `sequence` (1, 2, 3... per request), given from a counter per request
in the event's own transaction (webhook_event_sequences): events are pruned, the counter is not, so a request's
sequence never restarts. Events written before this revision have none (null), and the counters of their requests
start from the number of events still held, so a request's next event follows them. `ix_outbox_events_created`
serves `GET /v1/events`, newest events by time. webhook_egress_records keeps each egress allowlist the service started
with when it changed; the audit trail names each by digest.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0023_webhook_events"
down_revision: str | None = "0022_subject_key_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on PostgreSQL, JSON text on SQLite.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Add the sequence, its counters (from the events held), the index by time and the allowlist's record."""
    with op.batch_alter_table("outbox_events") as batch_op:
        batch_op.add_column(sa.Column("sequence", sa.Integer(), nullable=True))
    op.create_index("ix_outbox_events_created", "outbox_events", ["created_at", "id"])
    op.create_table(
        "webhook_event_sequences",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("last_sequence", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.execute(
        "INSERT INTO webhook_event_sequences (request_id, last_sequence) "
        "SELECT request_id, COUNT(*) FROM outbox_events WHERE request_id IS NOT NULL GROUP BY request_id"
    )
    op.create_table(
        "webhook_egress_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("allowlist", JSON, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    """Drop the record, the counters, the index and the column."""
    op.drop_table("webhook_egress_records")
    op.drop_table("webhook_event_sequences")
    op.drop_index("ix_outbox_events_created", table_name="outbox_events")
    with op.batch_alter_table("outbox_events") as batch_op:
        batch_op.drop_column("sequence")
