"""Idempotency keys for every POST that changes something, kept with the answer first given; a decision's verdict
apart from its outcome

Revision ID: 0024_idempotency
Revises: 0023_webhook_events
Create Date: 2026-12-09

`idempotency_keys` holds, per organisation and key, what a POST was sent with (method, path, a hash of the body) and
the answer first given (status, body, Location, ETag), written in the transaction of the change; a retry with the
same key and body gets that answer again. Rows go once `expires_at` passes (CALDICOTT_IDEMPOTENCY_KEY_HOURS), by the
worker's housekeeping. Submissions recorded before this revision keep `sharing_requests.idempotency_key`, which no
new submission sets.

`decisions.verdict` holds a reconsideration's or retrospective review's verdict on the decision it reviewed (upheld,
overturned, not_upheld), so that `outcome` is always the approve or refuse outcome: an upheld reconsideration's
record takes the outcome of the decision it upheld, a retrospective review's the emergency share's (with its
conditions), from the rows they name.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0024_idempotency"
down_revision: str | None = "0023_webhook_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create the table of keys; give decisions their verdict."""
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("headers", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("org", "key", name=op.f("uq_idempotency_keys_org")),
    )
    with op.batch_alter_table("idempotency_keys") as batch_op:
        batch_op.create_index("ix_idempotency_keys_expires_at", ["expires_at"], unique=False)
    with op.batch_alter_table("decisions") as batch_op:
        batch_op.add_column(sa.Column("verdict", sa.String(length=16), nullable=True))
    op.execute("UPDATE decisions SET verdict = 'overturned' WHERE kind = 'reconsideration' AND outcome <> 'upheld'")
    op.execute(
        "UPDATE decisions SET verdict = 'upheld', outcome = (SELECT reviewed.outcome FROM reconsiderations "
        "JOIN decisions AS reviewed ON reviewed.id = reconsiderations.decision_id "
        "WHERE reconsiderations.new_decision_id = decisions.id) "
        "WHERE kind = 'reconsideration' AND outcome = 'upheld'"
    )
    share = (
        "SELECT share.{column} FROM decisions AS share WHERE share.request_id = decisions.request_id "
        "AND share.version = decisions.version AND share.kind = 'rules'"
    )
    op.execute(
        f"UPDATE decisions SET verdict = outcome, outcome = ({share.format(column='outcome')}), "
        f"conditions = ({share.format(column='conditions')}) WHERE kind = 'retrospective'"
    )


def downgrade() -> None:
    """Put verdicts back in the outcome; drop the table of keys."""
    op.execute("UPDATE decisions SET outcome = verdict, conditions = '[]' WHERE kind = 'retrospective'")
    op.execute("UPDATE decisions SET outcome = 'upheld' WHERE kind = 'reconsideration' AND verdict = 'upheld'")
    with op.batch_alter_table("decisions") as batch_op:
        batch_op.drop_column("verdict")
    with op.batch_alter_table("idempotency_keys") as batch_op:
        batch_op.drop_index("ix_idempotency_keys_expires_at")
    op.drop_table("idempotency_keys")
