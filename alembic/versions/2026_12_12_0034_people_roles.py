"""The roles a person held at their last console sign-in

Revision ID: 0034_people_roles
Revises: 0031_disclosures
Create Date: 2026-12-12

A safeguarding request's decision is told by email to the controller's safeguarding leads
(app/services/notifications/outbox.py). The directory of people knows a person by the console's sign-in alone, so it
keeps the roles that sign-in honoured, space-separated as a console session keeps them; null for the people who signed
in before.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0034_people_roles"
down_revision: str | None = "0031_disclosures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the roles of each person's last sign-in."""
    with op.batch_alter_table("people") as batch_op:
        batch_op.add_column(sa.Column("roles", sa.String(length=200), nullable=True))


def downgrade() -> None:
    """Drop them: no safeguarding lead is known until their role is recorded again."""
    with op.batch_alter_table("people") as batch_op:
        batch_op.drop_column("roles")
