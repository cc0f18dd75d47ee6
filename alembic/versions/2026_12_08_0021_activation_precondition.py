"""Each policy activation names the one it supersedes, once: two activations racing leave exactly one winner

Revision ID: 0021_activation_precondition
Revises: 0020_notice_releases
Create Date: 2026-12-07

An activation records the id of the activation that was current when it was decided (0 on an installation with
none). A unique index on that column makes the insert a compare-and-insert: of two activations that read the
same current one, the second insert fails and its caller gets a 409 (app/services/policies/registry.py). Existing rows
are filled in from the order of their ids; a row an earlier release records later leaves it null, which the
index does not compare.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0021_activation_precondition"
down_revision: str | None = "0020_notice_releases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add `supersedes`, fill it in for the activations held, and make it unique."""
    with op.batch_alter_table("policy_activations") as batch_op:
        batch_op.add_column(sa.Column("supersedes", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE policy_activations SET supersedes = COALESCE((SELECT MAX(earlier.id) FROM policy_activations AS "
        "earlier WHERE earlier.id < policy_activations.id), 0)"
    )
    op.create_index("ix_policy_activations_supersedes", "policy_activations", ["supersedes"], unique=True)


def downgrade() -> None:
    """Drop the column and its index."""
    op.drop_index("ix_policy_activations_supersedes", table_name="policy_activations")
    with op.batch_alter_table("policy_activations") as batch_op:
        batch_op.drop_column("supersedes")
