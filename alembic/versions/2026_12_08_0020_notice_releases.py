"""Releases of withheld subject's notices, and a guardian's reason for the person

Revision ID: 0020_notice_releases
Revises: 0019_controller_checks
Create Date: 2026-12-08

The person's decision notice is withheld until a guardian who is not of the requesting organisation releases it
(brief section 6, rule 1): each release is a row of its own, never edited, holding the request version it was given on
(an amendment ends it). A guardian's decision may carry a reason written for the person (`subject_reason`, rule 4),
which their notice quotes where the rationale never appears.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0020_notice_releases"
down_revision: str | None = "0019_controller_checks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notice_releases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("audience", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("why", sa.String(length=4000), nullable=False),
        sa.Column("not_implicated", sa.Boolean(), nullable=False),
        sa.Column("personal_representative", sa.String(length=500), nullable=True),
        sa.Column("access_to_health_records_checked", sa.Boolean(), nullable=False),
        sa.Column("by_sub", sa.String(length=200), nullable=False),
        sa.Column("by_org", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["sharing_requests.id"], name=op.f("fk_notice_releases_request_id_sharing_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_releases")),
    )
    with op.batch_alter_table("notice_releases") as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_releases_request_id"), ["request_id"], unique=False)
    with op.batch_alter_table("decisions") as batch_op:
        batch_op.add_column(sa.Column("subject_reason", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch_op:
        batch_op.drop_column("subject_reason")
    with op.batch_alter_table("notice_releases") as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_releases_request_id"))
    op.drop_table("notice_releases")
