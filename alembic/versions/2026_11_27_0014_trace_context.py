"""An outbox event keeps the trace context of the change that wrote it

Revision ID: 0014_trace_context
Revises: 0013_agreement_lifecycle
Create Date: 2026-11-27

outbox_events.traceparent holds the W3C traceparent of the span that wrote the event, when tracing
is on (app/platform/tracing.py): the deliveries of the event are traced as children of that span, so a
submission's trace shows its webhooks, and the receivers' own spans, too. Null when tracing was
off, and for every event written before this revision; such deliveries begin traces of their own.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0014_trace_context"
down_revision: str | None = "0013_agreement_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the nullable column: no rewrite of the table on either database."""
    with op.batch_alter_table("outbox_events") as batch:
        batch.add_column(sa.Column("traceparent", sa.String(length=55), nullable=True))


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("outbox_events") as batch:
        batch.drop_column("traceparent")
