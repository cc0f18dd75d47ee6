"""Organisations and webhook endpoints carry a row version, for their ETags

Revision ID: 0015_row_versions
Revises: 0014_trace_context
Create Date: 2026-11-27

organisations.version and webhook_endpoints.version go up by one at every change; the API answers them
as strong ETags and honours If-Match against them (app/http/etags.py). Every existing row starts at 1,
as sharing agreements did: a server default fills them, so neither database rewrites a row by hand.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0015_row_versions"
down_revision: str | None = "0014_trace_context"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("organisations", "webhook_endpoints")


def upgrade() -> None:
    """Add the version column to each table, every existing row at 1."""
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    """Drop the columns."""
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("version")
