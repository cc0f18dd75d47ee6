"""Attachments: evidence files stored content-addressed by SHA-256

Revision ID: 0012_attachments
Revises: 0011_deliberation
Create Date: 2026-11-27

An attachment belongs to a sharing request or to a sharing agreement, never both and never
neither (the check constraint). Its content is stored once per SHA-256: attachment_blobs holds
one row per content the store has; on PostgreSQL the bytes are attachment_chunks rows of a
bounded size (so no statement carries a whole file), on SQLite a file named by the hash in a
folder beside the database (the chunk table then stays empty). The new actions and webhook
event type fit the existing text columns.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0012_attachments"
down_revision: str | None = "0011_deliberation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONE_OWNER = "(request_id IS NOT NULL AND agreement_code IS NULL) OR (request_id IS NULL AND agreement_code IS NOT NULL)"


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        sa.Column("agreement_code", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        sa.Column("uploaded_by_org", sa.String(length=32), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(ONE_OWNER, name=op.f("ck_attachments_one_owner")),
        sa.ForeignKeyConstraint(
            ["request_id"], ["sharing_requests.id"], name=op.f("fk_attachments_request_id_sharing_requests")
        ),
        sa.ForeignKeyConstraint(
            ["agreement_code"],
            ["sharing_agreements.code"],
            name=op.f("fk_attachments_agreement_code_sharing_agreements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    with op.batch_alter_table("attachments") as batch_op:
        batch_op.create_index("ix_attachments_request_uploaded", ["request_id", "uploaded_at", "id"], unique=False)
        batch_op.create_index(
            "ix_attachments_agreement_uploaded", ["agreement_code", "uploaded_at", "id"], unique=False
        )
        batch_op.create_index("ix_attachments_sha256", ["sha256"], unique=False)
    op.create_table(
        "attachment_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_attachment_blobs")),
    )
    op.create_table(
        "attachment_chunks",
        sa.Column("blob_key", sa.String(length=80), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("blob_key", "seq", name=op.f("pk_attachment_chunks")),
    )


def downgrade() -> None:
    op.drop_table("attachment_chunks")
    op.drop_table("attachment_blobs")
    with op.batch_alter_table("attachments") as batch_op:
        batch_op.drop_index("ix_attachments_sha256")
        batch_op.drop_index("ix_attachments_agreement_uploaded")
        batch_op.drop_index("ix_attachments_request_uploaded")
    op.drop_table("attachments")
