"""A claim handed to a colleague

Revision ID: 0028_claim_hand_overs
Revises: 0027_notifications
Create Date: 2026-12-10

A guardian holding a claim may hand it to a named colleague with a note (app/services/review/claims.py). The state
change that records it (`sharing_request_transitions`) keeps whom it went to and the note, so the request's history
says why the case changed hands; both are empty for every other change.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0028_claim_hand_overs"
down_revision: str | None = "0027_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the colleague and the note to a request's state changes."""
    with op.batch_alter_table("sharing_request_transitions") as batch_op:
        batch_op.add_column(sa.Column("handed_to", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("note", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    """Drop them: hand-overs read as state changes without their note."""
    with op.batch_alter_table("sharing_request_transitions") as batch_op:
        batch_op.drop_column("note")
        batch_op.drop_column("handed_to")
