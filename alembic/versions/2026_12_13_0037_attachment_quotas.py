"""Attachment quotas

Revision ID: 0037_attachment_quotas
Revises: 0035_incidents
Create Date: 2026-12-13

The bytes of evidence an organisation attached today are counted at every upload
(app/services/attachments/quotas.py): an index by uploading organisation and time, so the count reads only that day's
rows of that organisation.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0037_attachment_quotas"
down_revision: str | None = "0035_incidents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Index attachments by uploading organisation and time."""
    op.create_index("ix_attachments_org_uploaded", "attachments", ["uploaded_by_org", "uploaded_at"])


def downgrade() -> None:
    """Drop the index."""
    op.drop_index("ix_attachments_org_uploaded", table_name="attachments")
