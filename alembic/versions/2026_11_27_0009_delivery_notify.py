"""Wake the webhook workers when deliveries are written

Revision ID: 0009_delivery_notify
Revises: 0008_audit_pending
Create Date: 2026-11-27

PostgreSQL only: a statement-level trigger notifies the channel `caldicott_deliveries` after
deliveries are inserted. The notification is sent when the writer's transaction commits (never
for one rolled back) and PostgreSQL folds identical notifications of one transaction into one,
so the writer pays no extra round trip. Workers LISTEN on the channel and claim at once instead
of at their next poll (app/services/webhooks/wake.py); SQLite has no such thing, and polls.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_delivery_notify"
down_revision: str | None = "0008_audit_pending"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The channel is also named in app/services/webhooks/wake.py (CHANNEL).
NOTIFY_FUNCTION = """
CREATE FUNCTION webhook_deliveries_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('caldicott_deliveries', '');
    RETURN NULL;
END
$$
"""
NOTIFY_TRIGGER = """
CREATE TRIGGER webhook_deliveries_notify
AFTER INSERT ON webhook_deliveries
FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_notify()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(NOTIFY_FUNCTION)
        op.execute(NOTIFY_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER webhook_deliveries_notify ON webhook_deliveries")
        op.execute("DROP FUNCTION webhook_deliveries_notify()")
