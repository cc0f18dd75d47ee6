"""Evidence counts only once a guardian has verified it

Revision ID: 0018_evidence_verification
Revises: 0017_edition_2028
Create Date: 2026-11-29

attachment_verifications holds each guardian's verification of a request's attachment (never edited: the
latest of an attachment's, the highest id, is the one that counts). sharing_requests.possible_incident
flags a request a decision let unverified evidence through; every existing row starts false. upgrade_steps
records one-off steps the service takes at its first start after an upgrade, so that each runs once: the
first is the listing of decisions that cleared a condition on unverified evidence
(app/services/attachments/evidence_upgrade.py), which needs the policies and the audit trail, so it runs at start rather
than here. The new actions and webhook event type fit the existing text columns.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0018_evidence_verification"
down_revision: str | None = "0017_edition_2028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")  # JSONB on PostgreSQL, JSON text on SQLite


def upgrade() -> None:
    op.create_table(
        "attachment_verifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attachment_id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("checked", sa.String(length=4000), nullable=False),
        sa.Column("order", JSON, nullable=True),
        sa.Column("verified_by", sa.String(length=200), nullable=False),
        sa.Column("verified_by_org", sa.String(length=32), nullable=False),
        sa.Column("verified_by_role", sa.String(length=16), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"], ["attachments.id"], name=op.f("fk_attachment_verifications_attachment_id_attachments")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["sharing_requests.id"],
            name=op.f("fk_attachment_verifications_request_id_sharing_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment_verifications")),
    )
    with op.batch_alter_table("attachment_verifications") as batch_op:
        batch_op.create_index("ix_attachment_verifications_request", ["request_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_attachment_verifications_attachment_id"), ["attachment_id"], unique=False)
    with op.batch_alter_table("sharing_requests") as batch_op:
        batch_op.add_column(sa.Column("possible_incident", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "upgrade_steps",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_upgrade_steps")),
    )


def downgrade() -> None:
    op.drop_table("upgrade_steps")
    with op.batch_alter_table("sharing_requests") as batch_op:
        batch_op.drop_column("possible_incident")
    with op.batch_alter_table("attachment_verifications") as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachment_verifications_attachment_id"))
        batch_op.drop_index("ix_attachment_verifications_request")
    op.drop_table("attachment_verifications")
