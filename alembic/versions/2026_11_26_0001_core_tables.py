"""Core tables: organisations, sharing agreements, requests, their versions, subject hashes and decisions

Revision ID: 0001_core
Revises:
Create Date: 2026-11-26 09:06:05.391815
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

# JSONB on PostgreSQL, JSON text on SQLite.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0001_core"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("dspt_status", sa.String(length=32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_organisations")),
    )
    op.create_table(
        "sharing_agreements",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("parties", JSON, nullable=False),
        sa.Column("purposes", JSON, nullable=False),
        sa.Column("data_categories", JSON, nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_sharing_agreements")),
    )
    op.create_table(
        "sharing_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("requester_org", sa.String(length=32), nullable=False),
        sa.Column("submitted_by", sa.String(length=200), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("purpose_category", sa.String(length=32), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("review_required", sa.Boolean(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["requester_org"], ["organisations.code"], name=op.f("fk_sharing_requests_requester_org_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_requests")),
        sa.UniqueConstraint("requester_org", "idempotency_key", name=op.f("uq_sharing_requests_requester_org")),
    )
    with op.batch_alter_table("sharing_requests", schema=None) as batch_op:
        batch_op.create_index("ix_sharing_requests_created", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_sharing_requests_requester_created", ["requester_org", "created_at", "id"], unique=False
        )
        batch_op.create_index("ix_sharing_requests_status_created", ["status", "created_at"], unique=False)

    op.create_table(
        "decisions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("findings", JSON, nullable=False),
        sa.Column("conditions", JSON, nullable=False),
        sa.Column("review_required", sa.Boolean(), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("rationale", sa.String(), nullable=True),
        sa.Column("policy_name", sa.String(length=100), nullable=False),
        sa.Column("policy_version", sa.String(length=50), nullable=False),
        sa.Column("policy_hash", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["sharing_requests.id"], name=op.f("fk_decisions_request_id_sharing_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decisions_request_id"), ["request_id"], unique=False)

    op.create_table(
        "sharing_request_subjects",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("subject_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["sharing_requests.id"],
            name=op.f("fk_sharing_request_subjects_request_id_sharing_requests"),
        ),
        sa.PrimaryKeyConstraint("request_id", "version", "subject_hash", name=op.f("pk_sharing_request_subjects")),
    )
    with op.batch_alter_table("sharing_request_subjects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sharing_request_subjects_subject_hash"), ["subject_hash"], unique=False)

    op.create_table(
        "sharing_request_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", JSON, nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["sharing_requests.id"],
            name=op.f("fk_sharing_request_versions_request_id_sharing_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_request_versions")),
        sa.UniqueConstraint("request_id", "version", name=op.f("uq_sharing_request_versions_request_id")),
    )
    with op.batch_alter_table("sharing_request_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sharing_request_versions_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sharing_request_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sharing_request_versions_request_id"))

    op.drop_table("sharing_request_versions")
    with op.batch_alter_table("sharing_request_subjects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sharing_request_subjects_subject_hash"))

    op.drop_table("sharing_request_subjects")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decisions_request_id"))

    op.drop_table("decisions")
    with op.batch_alter_table("sharing_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_sharing_requests_status_created")
        batch_op.drop_index("ix_sharing_requests_requester_created")
        batch_op.drop_index("ix_sharing_requests_created")

    op.drop_table("sharing_requests")
    op.drop_table("sharing_agreements")
    op.drop_table("organisations")
