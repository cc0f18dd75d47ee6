"""Agreement lifecycle: an owner, a DPIA reference, a review date and a signed copy;
every version kept; notices of dates sent

Revision ID: 0013_agreement_lifecycle
Revises: 0012_attachments
Create Date: 2026-11-27

Every registration and change of a sharing agreement becomes a numbered version, kept whole as JSON in
sharing_agreement_versions. Agreements registered before this revision begin their history here: each
becomes version 1 as it stands now, made at its last update by whoever the audit trail says registered or
last changed it ("system" if the trail does not say). sharing_agreement_notices records the review dates
and ends already announced; its primary key is what makes a notice once per date across workers.

Decisions gain an index on (decided_at, id): the agreements report counts a year of them, and the decision
log reads a period of them in that order.
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0013_agreement_lifecycle"
down_revision: str | None = "0012_attachments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SYSTEM_ACTOR = "system"
BATCH = 500

# The rows the back-fill reads and writes, as they stand at this revision (not the app's models, which move on).
agreements = sa.table(
    "sharing_agreements",
    sa.column("code", sa.String),
    sa.column("title", sa.String),
    sa.column("parties", sa.JSON),
    sa.column("purposes", sa.JSON),
    sa.column("data_categories", sa.JSON),
    sa.column("valid_from", sa.Date),
    sa.column("valid_until", sa.Date),
    sa.column("status", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
versions = sa.table(
    "sharing_agreement_versions",
    sa.column("code", sa.String),
    sa.column("version", sa.Integer),
    sa.column("snapshot", JSON),
    sa.column("changed_at", sa.DateTime(timezone=True)),
    sa.column("changed_by", sa.String),
)
audit_events = sa.table(
    "audit_events",
    sa.column("seq", sa.BigInteger),
    sa.column("action", sa.String),
    sa.column("target_type", sa.String),
    sa.column("target_id", sa.String),
    sa.column("actor_sub", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("sharing_agreements") as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("dpia_reference", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("review_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("signed_attachment", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.create_foreign_key(
            op.f("fk_sharing_agreements_owner_organisations"), "organisations", ["owner"], ["code"]
        )
    op.create_table(
        "sharing_agreement_versions",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("snapshot", JSON, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["code"], ["sharing_agreements.code"], name=op.f("fk_sharing_agreement_versions_code_sharing_agreements")
        ),
        sa.PrimaryKeyConstraint("code", "version", name=op.f("pk_sharing_agreement_versions")),
    )
    op.create_table(
        "sharing_agreement_notices",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("for_date", sa.Date(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["code"], ["sharing_agreements.code"], name=op.f("fk_sharing_agreement_notices_code_sharing_agreements")
        ),
        sa.PrimaryKeyConstraint("code", "kind", "for_date", name=op.f("pk_sharing_agreement_notices")),
    )
    with op.batch_alter_table("decisions") as batch_op:
        batch_op.create_index("ix_decisions_decided_at", ["decided_at", "id"], unique=False)
    backfill_versions(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch_op:
        batch_op.drop_index("ix_decisions_decided_at")
    op.drop_table("sharing_agreement_notices")
    op.drop_table("sharing_agreement_versions")
    with op.batch_alter_table("sharing_agreements") as batch_op:
        batch_op.drop_constraint(op.f("fk_sharing_agreements_owner_organisations"), type_="foreignkey")
        batch_op.drop_column("version")
        batch_op.drop_column("signed_attachment")
        batch_op.drop_column("review_date")
        batch_op.drop_column("dpia_reference")
        batch_op.drop_column("owner")


def backfill_versions(connection: sa.Connection) -> None:
    """Each agreement already registered becomes version 1, as it stands, made by the last admin the trail names."""
    made_by = last_actors(connection)
    rows = [
        version_one(row, made_by.get(row.code, SYSTEM_ACTOR))
        for row in connection.execute(sa.select(agreements).order_by(agreements.c.code))
    ]
    for start in range(0, len(rows), BATCH):
        connection.execute(sa.insert(versions), rows[start : start + BATCH])


def last_actors(connection: sa.Connection) -> dict[str, str]:
    """Who last registered or changed each agreement, as the audit trail records it."""
    query = (
        sa.select(audit_events.c.target_id, audit_events.c.actor_sub)
        .where(
            audit_events.c.target_type == "sharing_agreement",
            audit_events.c.action.in_(("agreement_registered", "agreement_changed")),
        )
        .order_by(audit_events.c.seq)
    )
    return {code: actor for code, actor in connection.execute(query)}  # the latest event of each wins


def version_one(row: Any, changed_by: str) -> dict[str, Any]:
    """The versions row of an agreement as it stands: its public form, with the new fields empty."""
    snapshot = {
        "code": row.code,
        "title": row.title,
        "parties": list(row.parties),
        "purposes": list(row.purposes),
        "data_categories": list(row.data_categories),
        "valid_from": as_date(row.valid_from).isoformat(),
        "valid_until": as_date(row.valid_until).isoformat(),
        "status": row.status,
        "owner": None,
        "dpia_reference": None,
        "review_date": None,
        "signed_attachment": None,
        "version": 1,
        "created_at": as_text(as_utc(row.created_at)),
        "updated_at": as_text(as_utc(row.updated_at)),
    }
    return {
        "code": row.code,
        "version": 1,
        "snapshot": snapshot,
        "changed_at": as_utc(row.updated_at),
        "changed_by": changed_by[:200],
    }


def as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def as_utc(value: datetime | str) -> datetime:
    """A stored time as aware UTC (SQLite keeps no offset, and may hand back text)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def as_text(moment: datetime) -> str:
    """A UTC time as the API writes it (ISO 8601 ending in Z)."""
    return moment.isoformat().replace("+00:00", "Z")
