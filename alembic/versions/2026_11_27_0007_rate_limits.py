"""Rate limits: one token bucket per organisation and class of route

Revision ID: 0007_rate_limits
Revises: 0006_policy_versions
Create Date: 2026-11-27

On PostgreSQL every process serving the API takes its tokens from this table, so an
organisation's limit holds however many processes serve. The table is UNLOGGED there: a
take writes no WAL and its commit waits for no flush, and what a crash or a fail-over
loses is only how full each bucket was (they start full again). On SQLite (one process)
the buckets are kept in memory and the table stays empty; it exists there too so that
one schema serves both databases.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0007_rate_limits"
down_revision: str | None = "0006_policy_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    unlogged = ["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else []
    op.create_table(
        "rate_limits",
        sa.Column("org", sa.String(length=32), nullable=False),
        sa.Column("route_class", sa.String(length=16), nullable=False),
        sa.Column("tokens", sa.Double(), nullable=False),
        sa.Column("refilled_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("org", "route_class", name=op.f("pk_rate_limits")),
        prefixes=unlogged,
    )


def downgrade() -> None:
    op.drop_table("rate_limits")
