"""Every decision stores the facts its rules saw beyond the body,
so it can be replayed exactly later (brief section 5)."""

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import col, update

from alembic import command
from app.cli import alembic_config
from app.models.audit import AuditEvent
from app.models.request_body import SharingRequestBody
from app.models.sharing_request import Decision
from app.models.vocabulary import (
    AgreementStatus,
    AttachmentKind,
    DataCategory,
    DsptStatus,
    OrganisationType,
    PurposeCategory,
    Role,
)
from app.rules import AgreementFacts, Facts, Policy, RequesterFacts, evaluate
from app.rules.facts import WeighedEvidence, evidence_facts, facts_from_record, facts_record
from tests.conftest import on_database
from tests.factories import patch_current, register_agreement, register_organisation, submit
from tests.rules.baseline import baseline_request, changed
from tests.support import Tokens

LONDON = ZoneInfo("Europe/London")
WITH_AGREEMENT = {"sharing_agreement": "ISA-TEST"}
RATIONALE = "Shared care plan agreed with the recipient; onward sharing limited to the named team."
# An emergency share under both baselines (2026.1 and 2027.1): shared at once, reviewed afterwards.
EMERGENCY = {
    "urgency": "emergency",
    "purpose.category": "safeguarding_adult",
    "legal_basis.article_6": "vital_interests",
    "legal_basis.article_9": "vital_interests",
    "legal_basis.confidentiality": "overriding_public_interest",
    "consent.capacity": "lacks_capacity",
}


def guardian(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")


def london_date(decided_at: str) -> str:
    return datetime.fromisoformat(decided_at).astimezone(LONDON).date().isoformat()


def cited_policy(app: FastAPI, decision: dict[str, Any]) -> Policy:
    """The shipped policy a stored decision names, checked against the hash it recorded."""
    cited = decision["policy"]
    policy = app.state.wiring.policies.shipped[cited["name"], cited["version"]]
    assert policy.content_hash == cited["hash"]
    return policy


async def read_request(client: httpx.AsyncClient, tokens: Tokens, request_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/sharing-requests/{request_id}", headers=tokens.agency("RXT01"))
    assert response.status_code == 200, response.text
    return response.json()


def test_a_facts_record_round_trips_exactly() -> None:
    facts = Facts(
        request=SharingRequestBody.model_validate(changed(WITH_AGREEMENT)),
        requester=RequesterFacts(
            code="RXT01", type=OrganisationType.NHS_TRUST, dspt_status=DsptStatus.APPROACHING_STANDARDS
        ),
        agreement=AgreementFacts(
            code="ISA-TEST",
            parties=frozenset({"RXT01", "NSC01", "AAA01"}),
            purposes=frozenset({PurposeCategory.SAFEGUARDING_ADULT, PurposeCategory.DIRECT_CARE}),
            data_categories=frozenset({DataCategory.MEDICATIONS, DataCategory.DEMOGRAPHICS}),
            valid_from=date(2026, 4, 1),
            valid_until=date(2029, 3, 31),
            status=AgreementStatus.SUSPENDED,
        ),
        today=date(2026, 7, 2),
    )
    record = facts_record(facts)

    assert json.loads(json.dumps(record)) == record  # JSON-ready as it is
    assert record["agreement"]["parties"] == ["AAA01", "NSC01", "RXT01"]
    assert record["agreement"]["purposes"] == ["direct_care", "safeguarding_adult"]
    assert (record["agreement"]["valid_from"], record["today"]) == ("2026-04-01", "2026-07-02")
    assert facts_from_record(record, facts.request) == facts

    without = Facts(
        request=SharingRequestBody.model_validate(baseline_request()),
        requester=facts.requester,
        agreement=None,
        today=facts.today,
    )
    assert facts_record(without)["agreement"] is None
    assert facts_from_record(facts_record(without), without.request) == without
    # Evidence is recorded only when there is any: a record made before attachments existed reads the same.
    assert "evidence" not in facts_record(without)
    # Each attachment weighed with its verification, in one order whatever order they came in.
    form = WeighedEvidence(
        "b-form", AttachmentKind.POLICE_REQUEST_FORM, 7, "guardian-2", datetime(2026, 7, 1, 9, 30, tzinfo=UTC)
    )
    order = WeighedEvidence(
        "a-order", AttachmentKind.COURT_ORDER, 3, "guardian-1", datetime(2026, 6, 30, 16, 5, 1, 250, tzinfo=UTC)
    )
    evidenced = replace(facts, **evidence_facts([form, order]))
    assert evidenced.evidence == {AttachmentKind.COURT_ORDER, AttachmentKind.POLICE_REQUEST_FORM}
    assert facts_record(evidenced)["evidence"] == [
        {
            "attachment_id": "a-order",
            "kind": "court_order",
            "verification_id": 3,
            "verified_by": "guardian-1",
            "verified_at": "2026-06-30T16:05:01.000250+00:00",
        },
        {
            "attachment_id": "b-form",
            "kind": "police_request_form",
            "verification_id": 7,
            "verified_by": "guardian-2",
            "verified_at": "2026-07-01T09:30:00+00:00",
        },
    ]
    assert json.loads(json.dumps(facts_record(evidenced))) == facts_record(evidenced)
    assert facts_from_record(facts_record(evidenced), facts.request) == evidenced
    # A record made before verification existed has kinds alone, and still replays as it was decided.
    kinds_alone = replace(facts, evidence=frozenset({AttachmentKind.POLICE_REQUEST_FORM, AttachmentKind.COURT_ORDER}))
    assert facts_record(kinds_alone)["evidence"] == ["court_order", "police_request_form"]
    assert facts_from_record(facts_record(kinds_alone), facts.request) == kinds_alone
    # A replay asks what would be decided today:
    # the verified evidence on the request now stands in for what was weighed.
    assert facts_from_record(facts_record(kinds_alone), facts.request, evidence=[order]) == replace(
        facts, **evidence_facts([order])
    )
    assert facts_from_record(facts_record(evidenced), facts.request, evidence=()).evidence == frozenset()
    with pytest.raises(ValueError, match="kinds"):
        replace(facts, evidence=frozenset({AttachmentKind.DPIA}), weighed=(order,))


async def test_a_decision_records_the_requester_the_agreement_and_the_london_date(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01", type="nhs_trust", dspt_status="standards_met")
    await register_agreement(
        client, tokens, parties=["RXT01", "NSC01"], valid_from="2026-04-01", valid_until="2029-03-31"
    )

    created = await submit(client, tokens, changed(WITH_AGREEMENT))
    assert created.status_code == 201, created.text
    decision = created.json()["decision"]

    assert decision["facts_origin"] == "recorded"
    assert decision["facts"] == {
        "requester": {"code": "RXT01", "type": "nhs_trust", "dspt_status": "standards_met"},
        "agreement": {
            "code": "ISA-TEST",
            "parties": ["NSC01", "RXT01"],
            "purposes": ["direct_care"],
            "data_categories": ["demographics", "diagnoses"],
            "valid_from": "2026-04-01",
            "valid_until": "2029-03-31",
            "status": "active",
        },
        "today": london_date(decision["decided_at"]),
        "evidence": [],
        "current_edition": None,  # set only on a decision held by EDITION.superseded
        "information_assets": [],  # the register holds no asset here (tests/test_information_assets.py)
    }
    assert (await read_request(client, tokens, created.json()["id"]))["decision"] == decision

    without = (await submit(client, tokens, baseline_request())).json()["decision"]
    assert without["facts"]["agreement"] is None and without["facts_origin"] == "recorded"


async def test_a_stored_decision_replays_exactly_after_the_rows_change(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01", type="nhs_trust", dspt_status="standards_met")
    await register_agreement(client, tokens)
    body = changed(WITH_AGREEMENT)
    created = (await submit(client, tokens, body)).json()
    recorded = created["decision"]

    admin = tokens.admin()
    assert (
        await patch_current(client, "/v1/organisations/RXT01", json={"dspt_status": "not_met"}, headers=admin)
    ).status_code == 200
    patched = await patch_current(
        client, "/v1/sharing-agreements/ISA-TEST", json={"status": "suspended", "purposes": ["research"]}, headers=admin
    )
    assert patched.status_code == 200, patched.text

    stored = (await read_request(client, tokens, created["id"]))["decision"]
    assert stored["facts"] == recorded["facts"]
    assert (stored["facts"]["requester"]["dspt_status"], stored["facts"]["agreement"]["status"]) == (
        "standards_met",
        "active",
    )

    request, policy = SharingRequestBody.model_validate(body), cited_policy(app, stored)
    replayed = evaluate(policy, facts_from_record(stored["facts"], request))
    assert [finding.model_dump(mode="json") for finding in replayed.findings] == stored["findings"]
    assert (replayed.outcome, replayed.conditions) == (stored["outcome"], stored["conditions"])

    # The same replay with the rows as they stand now decides differently, so the record is what made it exact.
    organisation = (await client.get("/v1/organisations/RXT01", headers=admin)).json()
    agreement = (await client.get("/v1/sharing-agreements/ISA-TEST", headers=admin)).json()
    fresh = stored["facts"] | {
        "requester": {field: organisation[field] for field in ("code", "type", "dspt_status")},
        "agreement": {
            field: agreement[field]
            for field in ("code", "parties", "purposes", "data_categories", "valid_from", "valid_until", "status")
        },
    }
    now_findings = evaluate(policy, facts_from_record(fresh, request)).findings
    assert [finding.model_dump(mode="json") for finding in now_findings] != stored["findings"]


async def test_a_guardian_decision_carries_the_facts_and_policy_of_the_rules_decision(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_agreement(client, tokens, purposes=["direct_care", "safeguarding_adult"])
    referral = (await submit(client, tokens, changed(WITH_AGREEMENT | {"recipient.onward_sharing": True}))).json()
    share = (await submit(client, tokens, changed(WITH_AGREEMENT | EMERGENCY | {"reference": "CASE-2"}))).json()
    assert (referral["status"], share["review_required"]) == ("awaiting_review", True)

    # As if both were decided under an earlier policy version than the one the app runs now.
    async with app.state.wiring.engine.begin() as connection:
        await connection.execute(
            update(Decision)
            .where(col(Decision.request_id).in_([referral["id"], share["id"]]))
            .values(policy_version="2025.9", policy_hash="e" * 64)
        )

    reviews = [
        (referral, "review", {"outcome": "approve", "rationale": RATIONALE}, "guardian"),
        (share, "retrospective-review", {"outcome": "upheld", "rationale": RATIONALE}, "retrospective"),
    ]
    for request, action, review_body, kind in reviews:
        assert (
            await client.post(f"/v1/sharing-requests/{request['id']}/claim", headers=guardian(tokens))
        ).status_code == 200
        decided = await client.post(
            f"/v1/sharing-requests/{request['id']}/{action}", json=review_body, headers=guardian(tokens)
        )
        assert decided.status_code == 200, decided.text
        decision, rules = decided.json(), request["decision"]
        assert decision["kind"] == kind
        assert (decision["facts"], decision["facts_origin"]) == (rules["facts"], "recorded")
        assert decision["policy"] == rules["policy"] | {"version": "2025.9", "hash": "e" * 64}
        assert decision["findings"] == rules["findings"]


# The migration tests drive Alembic themselves, each on an empty database of its own. The old rows are
# written with SQLAlchemy Core as a service at revision 0005 wrote them (inserting into audit_events is
# allowed on PostgreSQL; only changing or removing events is refused).

BEFORE = "0005_claim_expiry_index"
JSON = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
ORGANISATIONS = sa.table(
    "organisations",
    *(sa.column(name) for name in ("code", "name", "type", "dspt_status", "active")),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
AGREEMENTS = sa.table(
    "sharing_agreements",
    *(sa.column(name) for name in ("code", "title", "status")),
    *(sa.column(name, JSON) for name in ("parties", "purposes", "data_categories")),
    *(sa.column(name, sa.Date) for name in ("valid_from", "valid_until")),
    *(sa.column(name, sa.DateTime(timezone=True)) for name in ("created_at", "updated_at")),
)
REQUESTS = sa.table(
    "sharing_requests",
    *(
        sa.column(name)
        for name in (
            "id",
            "requester_org",
            "submitted_by",
            "purpose_category",
            "urgency",
            "status",
            "review_required",
            "current_version",
        )
    ),
    *(sa.column(name, sa.DateTime(timezone=True)) for name in ("created_at", "updated_at")),
)
VERSIONS = sa.table(
    "sharing_request_versions",
    *(sa.column(name) for name in ("request_id", "version", "request_hash", "created_by")),
    sa.column("body", JSON),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
DECISIONS = sa.table(
    "decisions",
    *(sa.column(name) for name in ("id", "request_id", "version", "kind", "outcome", "review_required", "decided_by")),
    *(sa.column(name) for name in ("policy_name", "policy_version", "policy_hash", "request_hash")),
    *(sa.column(name, JSON) for name in ("findings", "conditions")),
    sa.column("decided_at", sa.DateTime(timezone=True)),
)
AUDIT = AuditEvent.__table__  # unchanged since revision 0003


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class OldInstallation:
    """Rows written as a service at revision 0005 would have written them."""

    def __init__(self, connection: sa.Connection):
        self.connection = connection
        self.seq = 0

    def organisation(self, code: str, type: str, dspt_status: str) -> None:
        at = utc("2026-06-01T09:00:00")
        self.connection.execute(
            ORGANISATIONS.insert().values(
                code=code, name=code, type=type, dspt_status=dspt_status, active=True, created_at=at, updated_at=at
            )
        )

    def agreement(self, code: str, registered: str) -> None:
        fields = {
            "parties": ["RXT01", "NSC01"],
            "purposes": ["safeguarding_adult", "direct_care"],
            "data_categories": ["diagnoses", "demographics"],
        }
        at = utc(registered)
        values = fields | {
            "valid_from": date(2026, 4, 1),
            "valid_until": date(2029, 3, 31),
            "created_at": at,
            "updated_at": at,
        }
        self.connection.execute(AGREEMENTS.insert().values(code=code, title=code, status="active", **values))
        self.event("agreement_registered", "sharing_agreement", code, at)

    def decided(
        self, request_id: str, org: str, decided_at: str, *, agreement: str | None = None, audited: bool = True
    ) -> None:
        """A request, its first version and the rules' decision on it;
        its submission audited a moment later unless told not."""
        at = utc(decided_at)
        self.connection.execute(
            REQUESTS.insert().values(
                id=request_id,
                requester_org=org,
                submitted_by="agency",
                purpose_category="direct_care",
                urgency="routine",
                status="approved",
                review_required=False,
                current_version=1,
                created_at=at,
                updated_at=at,
            )
        )
        body = changed({"sharing_agreement": agreement})
        self.connection.execute(
            VERSIONS.insert().values(
                request_id=request_id, version=1, body=body, request_hash="r" * 64, created_by="agency", created_at=at
            )
        )
        self.decision(f"{request_id}-rules", request_id, "rules", at)
        if audited:
            self.event("submitted", "sharing_request", request_id, at + timedelta(milliseconds=250))

    def decision(self, decision_id: str, request_id: str, kind: str, at: datetime) -> None:
        self.connection.execute(
            DECISIONS.insert().values(
                id=decision_id,
                request_id=request_id,
                version=1,
                kind=kind,
                outcome="approve",
                findings=[],
                conditions=[],
                review_required=False,
                decided_by="rules" if kind == "rules" else "guardian-1",
                policy_name="uk-caldicott-baseline",
                policy_version="2026.1",
                policy_hash="p" * 64,
                request_hash="r" * 64,
                decided_at=at,
            )
        )

    def event(self, action: str, target_type: str, target_id: str, occurred_at: datetime | str) -> None:
        self.seq += 1
        self.connection.execute(
            AUDIT.insert().values(
                seq=self.seq,
                occurred_at=utc(occurred_at) if isinstance(occurred_at, str) else occurred_at,
                actor_sub="admin-1",
                actor_org="CONTROLLER",
                actor_roles=["admin"],
                action=action,
                target_type=target_type,
                target_id=target_id,
                outcome="applied",
                correlation_id=None,
                prev_hash="0" * 64,
                hash="0" * 64,  # the back-fill does not verify the chain
            )
        )


def stored_facts(connection: sa.Connection) -> dict[str, tuple[dict[str, Any] | None, str]]:
    table = sa.table("decisions", sa.column("id"), sa.column("facts", JSON), sa.column("facts_origin"))
    return {row.id: (row.facts, row.facts_origin) for row in connection.execute(sa.select(table))}


def activations(connection: sa.Connection) -> list[tuple[str, str, str]]:
    rows = connection.execute(sa.text("SELECT name, version, activated_by FROM policy_activations ORDER BY id DESC"))
    return [tuple(row) for row in rows]


def decision_columns(connection: sa.Connection) -> set[str]:
    return {column["name"] for column in sa.inspect(connection).get_columns("decisions")}


def table_names(connection: sa.Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names())


def seed_an_old_installation(connection: sa.Connection) -> None:
    """Decisions made at revision 0005, some of whose rows the audit trail shows changed since."""
    old = OldInstallation(connection)
    old.organisation("RXT01", "nhs_trust", "standards_met")
    old.event("organisation_registered", "organisation", "RXT01", "2026-06-01T09:00:00")
    old.organisation("POL01", "police", "not_published")
    old.event("organisation_registered", "organisation", "POL01", "2026-06-01T09:00:00")
    old.agreement("ISA-TEST", "2026-06-01T10:00:00")
    old.event(
        "agreement_changed", "sharing_agreement", "ISA-TEST", "2026-06-15T10:00:00"
    )  # before the decision: harmless
    old.decided("near-midnight", "RXT01", "2026-07-01T23:30:00", agreement="ISA-TEST")
    old.decision("near-midnight-guardian", "near-midnight", "guardian", utc("2026-07-03T10:00:00"))
    old.decided("police", "POL01", "2026-07-01T10:00:00")
    old.decision("police-retrospective", "police", "retrospective", utc("2026-07-04T10:00:00"))
    old.event("organisation_changed", "organisation", "POL01", "2026-07-05T10:00:00")  # after: its facts are lost
    old.decided("later-agreement", "RXT01", "2026-07-02T12:00:00", agreement="ISA-LATER")
    old.agreement("ISA-LATER", "2026-07-10T10:00:00")  # registered after the decision, which saw none
    old.decided("unknown-agreement", "RXT01", "2026-07-02T13:00:00", agreement="ISA-NONE")
    # Before the trail began (revision 0003): no later event can prove the rows unchanged since.
    old.decided("before-the-trail", "RXT01", "2026-05-01T12:00:00", audited=False)


def test_the_migration_recovers_facts_the_audit_trail_shows_unchanged(blank_database: str) -> None:
    """An installation at 0005 is upgraded, and each earlier decision's facts are recovered or marked unrecoverable."""
    config = alembic_config(blank_database)
    command.upgrade(config, BEFORE)
    on_database(blank_database, seed_an_old_installation)

    command.upgrade(config, "head")

    facts = on_database(blank_database, stored_facts)
    requester = {"code": "RXT01", "type": "nhs_trust", "dspt_status": "standards_met"}
    recovered = {
        "requester": requester,
        "agreement": {
            "code": "ISA-TEST",
            "parties": ["NSC01", "RXT01"],
            "purposes": ["direct_care", "safeguarding_adult"],
            "data_categories": ["demographics", "diagnoses"],
            "valid_from": "2026-04-01",
            "valid_until": "2029-03-31",
            "status": "active",
        },
        "today": "2026-07-02",  # 23:30 UTC on 1 July is 00:30 on 2 July in London (BST)
    }
    assert facts["near-midnight-rules"] == (recovered, "recovered")
    assert facts["near-midnight-guardian"] == (recovered, "recovered")
    assert facts["police-rules"] == facts["police-retrospective"] == (None, "unrecoverable")
    assert facts["later-agreement-rules"] == (
        {"requester": requester, "agreement": None, "today": "2026-07-02"},
        "recovered",
    )
    assert facts["unknown-agreement-rules"] == (
        {"requester": requester, "agreement": None, "today": "2026-07-02"},
        "recovered",
    )
    assert facts["before-the-trail-rules"] == (None, "unrecoverable")
    # The migration writes the same record the service writes.
    body = SharingRequestBody.model_validate(changed(WITH_AGREEMENT))
    assert facts_record(facts_from_record(recovered, body)) == recovered

    # An installation that was already deciding keeps deciding as it did.
    assert on_database(blank_database, activations) == [("uk-caldicott-baseline", "2026.1", "migration")]

    command.downgrade(config, BEFORE)
    assert not {"facts", "facts_origin"} & on_database(blank_database, decision_columns)
    assert not {"policies", "policy_activations", "policy_replays", "policy_replay_changes"} & on_database(
        blank_database, table_names
    )


def test_a_fresh_installation_starts_on_the_current_edition(blank_database: str) -> None:
    command.upgrade(alembic_config(blank_database), "head")
    # 0006 activated 2027.1 as a fresh installation's first policy, 0017 then 2028.1: the newest is active.
    assert on_database(blank_database, activations) == [
        ("uk-caldicott-baseline", "2028.1", "migration"),
        ("uk-caldicott-baseline", "2027.1", "migration"),
    ]
