"""Policy versions: stored policies, activations, replays, and the facts each decision's rules saw

Revision ID: 0006_policy_versions
Revises: 0005_claim_expiry_index
Create Date: 2026-11-27

Decisions made before this revision did not record the facts beyond the request body
(the requester's type and toolkit status, the agreement as it stood, the London date).
They are back-filled from the current rows where the audit trail shows those rows
unchanged since the decision ("recovered"), and marked "unrecoverable" where not.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0006_policy_versions"
down_revision: str | None = "0005_claim_expiry_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# Python None is SQL NULL here, as in the model's column, not JSON null.
NULLABLE_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")

BASELINE = "uk-caldicott-baseline"
EXISTING_INSTALLATION_VERSION = "2026.1"
FRESH_INSTALLATION_VERSION = "2027.1"
LONDON = ZoneInfo("Europe/London")
BATCH = 1000

RECORDED, RECOVERED, UNRECOVERABLE = "recorded", "recovered", "unrecoverable"
ORGANISATION_CHANGED, AGREEMENT_REGISTERED, AGREEMENT_CHANGED = (
    "organisation_changed",
    "agreement_registered",
    "agreement_changed",
)

# The rows the back-fill reads and writes, as they stand at this revision (not the app's models, which move on).
decisions = sa.table(
    "decisions",
    sa.column("id", sa.String),
    sa.column("request_id", sa.String),
    sa.column("version", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("decided_at", sa.DateTime(timezone=True)),
    sa.column("facts", NULLABLE_JSON),
    sa.column("facts_origin", sa.String),
)
requests = sa.table("sharing_requests", sa.column("id", sa.String), sa.column("requester_org", sa.String))
versions = sa.table(
    "sharing_request_versions",
    sa.column("request_id", sa.String),
    sa.column("version", sa.Integer),
    sa.column("body", sa.JSON),
)
organisations = sa.table(
    "organisations", sa.column("code", sa.String), sa.column("type", sa.String), sa.column("dspt_status", sa.String)
)
agreements = sa.table(
    "sharing_agreements",
    sa.column("code", sa.String),
    sa.column("parties", sa.JSON),
    sa.column("purposes", sa.JSON),
    sa.column("data_categories", sa.JSON),
    sa.column("valid_from", sa.Date),
    sa.column("valid_until", sa.Date),
    sa.column("status", sa.String),
)
audit_events = sa.table(
    "audit_events",
    sa.column("action", sa.String),
    sa.column("target_type", sa.String),
    sa.column("target_id", sa.String),
    sa.column("occurred_at", sa.DateTime(timezone=True)),
)
activations = sa.table(
    "policy_activations",
    sa.column("name", sa.String),
    sa.column("version", sa.String),
    sa.column("activated_at", sa.DateTime(timezone=True)),
    sa.column("activated_by", sa.String),
    sa.column("activated_by_org", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch_op:
        batch_op.add_column(sa.Column("facts", JSON, nullable=True))
        batch_op.add_column(sa.Column("facts_origin", sa.String(length=16), nullable=False, server_default=RECORDED))
    # A policy activation is announced by webhook, and is about no one request.
    with op.batch_alter_table("outbox_events") as batch_op:
        batch_op.alter_column("request_id", existing_type=sa.String(length=36), nullable=True)
    create_policy_tables()
    activate_first_policy(op.get_bind())
    backfill_facts(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("policy_replay_changes") as batch_op:
        batch_op.drop_index("ix_policy_replay_changes_replay_position")
    op.drop_table("policy_replay_changes")
    op.drop_table("policy_replays")
    op.drop_table("policy_activations")
    op.drop_table("policies")
    with op.batch_alter_table("decisions") as batch_op:
        batch_op.drop_column("facts_origin")
        batch_op.drop_column("facts")
    # Events about no request (policy activations) cannot exist before this revision: they go, with their deliveries.
    op.execute(
        "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT d.id FROM webhook_deliveries d"
        " JOIN outbox_events e ON e.id = d.event_id WHERE e.request_id IS NULL)"
    )
    op.execute(
        "DELETE FROM webhook_deliveries WHERE event_id IN (SELECT id FROM outbox_events WHERE request_id IS NULL)"
    )
    op.execute("DELETE FROM outbox_events WHERE request_id IS NULL")
    with op.batch_alter_table("outbox_events") as batch_op:
        batch_op.alter_column("request_id", existing_type=sa.String(length=36), nullable=False)


def create_policy_tables() -> None:
    """The stored policies, their activations, and replays with their changes."""
    op.create_table(
        "policies",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("derived_from_name", sa.String(length=100), nullable=True),
        sa.Column("derived_from_version", sa.String(length=50), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_by_org", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_policies")),
    )
    op.create_table(
        "policy_activations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_by", sa.String(length=200), nullable=False),
        sa.Column("activated_by_org", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_activations")),
    )
    op.create_table(
        "policy_replays",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("policy_name", sa.String(length=100), nullable=False),
        sa.Column("policy_version", sa.String(length=50), nullable=False),
        sa.Column("policy_hash", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_by_org", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("criteria", JSON, nullable=False),
        sa.Column("totals", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_replays")),
    )
    op.create_table(
        "policy_replay_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("replay_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("old_outcome", sa.String(length=32), nullable=False),
        sa.Column("new_outcome", sa.String(length=32), nullable=False),
        sa.Column("rules", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["replay_id"], ["policy_replays.id"], name=op.f("fk_policy_replay_changes_replay_id_policy_replays")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_replay_changes")),
    )
    with op.batch_alter_table("policy_replay_changes") as batch_op:
        batch_op.create_index("ix_policy_replay_changes_replay_position", ["replay_id", "position"], unique=True)


def activate_first_policy(connection: sa.Connection) -> None:
    """Activate the baseline: 2026.1 where the service has already been deciding, 2027.1 on a fresh installation.

    A migration must not silently change how an existing deployment decides: an installation
    that already holds organisations or requests keeps deciding under 2026.1, as it did before
    this revision, until an admin activates a later version (an audited act).
    """
    existing = any(
        connection.execute(sa.select(sa.literal(1)).select_from(sa.table(name)).limit(1)).first()
        for name in ("organisations", "sharing_requests")
    )
    connection.execute(
        activations.insert().values(
            name=BASELINE,
            version=EXISTING_INSTALLATION_VERSION if existing else FRESH_INSTALLATION_VERSION,
            activated_at=datetime.now(UTC),
            activated_by="migration",
            activated_by_org=None,
        )
    )


def backfill_facts(connection: sa.Connection) -> None:
    """Record the facts of every earlier decision where the audit trail shows they can be known, and mark the rest."""
    history = AuditHistory.load(connection)
    organisation_rows = {row.code: row for row in connection.execute(sa.select(organisations))}
    agreement_rows = {row.code: row for row in connection.execute(sa.select(agreements))}
    agreement_code = versions.c.body["sharing_agreement"].as_string()
    query = (
        sa.select(
            decisions.c.id,
            decisions.c.request_id,
            decisions.c.version,
            decisions.c.decided_at,
            requests.c.requester_org,
            versions.c.version.label("stored_version"),
            agreement_code.label("agreement_code"),
        )
        .select_from(decisions.join(requests, requests.c.id == decisions.c.request_id))
        .outerjoin(
            versions,
            sa.and_(versions.c.request_id == decisions.c.request_id, versions.c.version == decisions.c.version),
        )
        .where(decisions.c.kind == "rules")
        .order_by(decisions.c.id)
        .limit(BATCH)
    )
    update = (
        decisions.update()
        .where(decisions.c.id == sa.bindparam("decision_id"))
        .values(facts=sa.bindparam("new_facts"), facts_origin=sa.bindparam("new_origin"))
    )
    after = None
    while True:
        page = connection.execute(query if after is None else query.where(decisions.c.id > after)).all()
        if not page:
            break
        submitted = history.submissions_among(connection, [row.request_id for row in page if row.version == 1])
        changes = []
        for row in page:
            facts = recovered_facts(
                row, history, organisation_rows, agreement_rows, submitted=row.request_id in submitted
            )
            changes.append(
                {
                    "decision_id": row.id,
                    "new_facts": facts,
                    "new_origin": RECOVERED if facts is not None else UNRECOVERABLE,
                }
            )
        connection.execute(update, changes)
        after = page[-1].id
    copy_facts_to_guardian_decisions(connection)


def copy_facts_to_guardian_decisions(connection: sa.Connection) -> None:
    """A guardian's or retrospective decision saw what the rules decision it weighed saw."""
    rules = decisions.alias("rules_decision")
    same_version = sa.and_(
        rules.c.request_id == decisions.c.request_id, rules.c.version == decisions.c.version, rules.c.kind == "rules"
    )
    connection.execute(
        decisions.update()
        .where(decisions.c.kind != "rules")
        .values(
            facts=sa.select(rules.c.facts).where(same_version).limit(1).scalar_subquery(),
            facts_origin=sa.func.coalesce(
                sa.select(rules.c.facts_origin).where(same_version).limit(1).scalar_subquery(), UNRECOVERABLE
            ),
        )
    )


class AuditHistory:
    """When the audit trail began, and the last change to each organisation and agreement."""

    def __init__(self, began: datetime | None, last: dict[tuple[str, str], datetime]):
        self.began, self.last = began, last

    @classmethod
    def load(cls, connection: sa.Connection) -> "AuditHistory":
        """Read when the trail began and the last admin change to each target."""
        began = connection.execute(sa.select(sa.func.min(audit_events.c.occurred_at))).scalar()
        latest = sa.func.max(audit_events.c.occurred_at)
        last = connection.execute(
            sa.select(audit_events.c.action, audit_events.c.target_id, latest)
            .where(audit_events.c.action.in_((ORGANISATION_CHANGED, AGREEMENT_REGISTERED, AGREEMENT_CHANGED)))
            .group_by(audit_events.c.action, audit_events.c.target_id)
        )
        return cls(
            as_utc(began) if began is not None else None, {(action, target): as_utc(at) for action, target, at in last}
        )

    @staticmethod
    def submissions_among(connection: sa.Connection, request_ids: list[str]) -> set[str]:
        """Those of the requests whose submission is in the trail."""
        if not request_ids:
            return set()
        query = sa.select(audit_events.c.target_id).where(
            audit_events.c.target_type == "sharing_request",
            audit_events.c.target_id.in_(request_ids),
            audit_events.c.action == "submitted",
        )
        return set(connection.execute(query).scalars())

    def covers(self, *, decided_at: datetime, submission_audited: bool) -> bool:
        """True when the trail already existed at the decision, so the absence of a later change means something.

        Decisions made before the trail began (revision 0003) cannot show that nothing changed since.
        A request's first decision is covered when its own submission is in the trail (written a moment
        after the decision); any decision is covered when it is no earlier than the trail's first event.
        """
        return submission_audited or (self.began is not None and decided_at >= self.began)

    def changed_after(self, action: str, target_id: str, decided_at: datetime) -> bool:
        """True when the trail holds an event `action` on `target_id` later than the decision."""
        last = self.last.get((action, target_id))
        return last is not None and last > decided_at


def recovered_facts(
    row: Any,
    history: AuditHistory,
    organisation_rows: dict[str, Any],
    agreement_rows: dict[str, Any],
    *,
    submitted: bool,
) -> dict[str, Any] | None:
    """The facts record of one rules decision (as app.rules.facts.facts_record writes it),
    or None when it cannot be known."""
    decided_at = as_utc(row.decided_at)
    requester = organisation_rows.get(row.requester_org)
    if (
        not history.covers(decided_at=decided_at, submission_audited=submitted)
        or requester is None
        or row.stored_version is None
    ):
        return None
    if history.changed_after(ORGANISATION_CHANGED, requester.code, decided_at):
        return None
    agreement = agreement_rows.get(row.agreement_code) if row.agreement_code is not None else None
    if agreement is not None and history.changed_after(AGREEMENT_REGISTERED, agreement.code, decided_at):
        agreement = None  # registered only after the decision: the rules saw no agreement
    if agreement is not None and history.changed_after(AGREEMENT_CHANGED, agreement.code, decided_at):
        return None
    return {
        "requester": {"code": requester.code, "type": requester.type, "dspt_status": requester.dspt_status},
        "agreement": None
        if agreement is None
        else {
            "code": agreement.code,
            "parties": sorted(agreement.parties),
            "purposes": sorted(agreement.purposes),
            "data_categories": sorted(agreement.data_categories),
            "valid_from": agreement.valid_from.isoformat(),
            "valid_until": agreement.valid_until.isoformat(),
            "status": agreement.status,
        },
        "today": decided_at.astimezone(LONDON).date().isoformat(),
    }


def as_utc(value: datetime | str) -> datetime:
    """A stored time as an aware UTC datetime (SQLite keeps no offset)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
