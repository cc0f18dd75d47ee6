"""A fresh installation decides under 2028.1; an existing one keeps its active policy

Revision ID: 0017_edition_2028
Revises: 0016_audit_checkpoints
Create Date: 2026-12-07

Revision 0006 recorded the first activation of every installation (2027.1 on a fresh one). Policy 2028.1
(brief section 4b) is the policy of a fresh installation, so on a database that holds no organisation and no
request this records its activation, as 0006 did. An installation that already holds either keeps deciding
under its active policy: upgrading never changes it (brief section 7). If that policy is now replay-only
(2026.1, 2027.1, or one derived from them), it keeps deciding, with what 2028.1 would not approve held for a
guardian, until an admin activates 2028.1 or a policy derived from it (app/services/policies/editions.py).
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from alembic import op

revision: str = "0017_edition_2028"
down_revision: str | None = "0016_audit_checkpoints"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BASELINE = "uk-caldicott-baseline"
FRESH_INSTALLATION_VERSION = "2028.1"
AUTHOR = "migration"

activations = sa.table(
    "policy_activations",
    sa.column("name", sa.String),
    sa.column("version", sa.String),
    sa.column("activated_at", sa.DateTime(timezone=True)),
    sa.column("activated_by", sa.String),
    sa.column("activated_by_org", sa.String),
)


def upgrade() -> None:
    """Activate 2028.1 on a fresh installation; leave an existing one on its active policy."""
    connection = op.get_bind()
    existing = any(
        connection.execute(sa.select(sa.literal(1)).select_from(sa.table(name)).limit(1)).first()
        for name in ("organisations", "sharing_requests")
    )
    if not existing:
        connection.execute(
            activations.insert().values(
                name=BASELINE,
                version=FRESH_INSTALLATION_VERSION,
                activated_at=datetime.now(UTC),
                activated_by=AUTHOR,
                activated_by_org=None,
            )
        )


def downgrade() -> None:
    """Remove the activation this revision recorded: the older release cannot decide under 2028.1."""
    op.execute(
        activations.delete().where(
            activations.c.name == BASELINE,
            activations.c.version == FRESH_INSTALLATION_VERSION,
            activations.c.activated_by == AUTHOR,
        )
    )
