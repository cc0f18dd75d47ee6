"""The controller's checks (brief section 5), over HTTP:
opened by approvals, recorded by the controller's people, before disclosure."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from app.models.audit import AuditEvent
from app.models.controller_check import ControllerCheck
from app.models.request_body import SharingRequestBody
from app.models.vocabulary import DataCategory, OrganisationType, Role
from app.models.webhook import OutboxEvent
from app.services.controller_checks import checks as controller_checks
from app.services.controller_checks import rules as controller_check_rules
from tests.factories import COURT_ORDER, register_organisation, submit
from tests.rules.baseline import changed, item
from tests.support import Tokens

RATIONALE = "Weighed against the duty of confidence; the recipient and the purpose are as stated."
SEEN = (
    "Sealed order of the Family Court, case 2028/123, seen: it names the requester and covers the diagnoses asked for."
)
# To the police, identifiable mental health records of a living adult: a significant decision. Under 2028.1 the rules
# approve it for safeguarding on consent (CP3.category_scope refers mental health for crime_prevention,
# so the rules never approve that).
SAFEGUARDING_CONSENT = {
    "purpose.category": "safeguarding_adult",
    "data_items": [item("mental_health")],
    "legal_basis.confidentiality": "explicit_consent",
    "legal_basis.article_6": "consent",
    "legal_basis.article_9": "explicit_consent",
    "consent.status": "given",
}
BY_ATTORNEY = {
    "consent.given_by": "attorney",
    "consent.capacity": "lacks_capacity",
    "consent.proxy_scope": "health_and_welfare",
}
# An emergency share for the person's care, to an NHS trust: not a significant decision.
EMERGENCY_CARE = {
    "urgency": "emergency",
    "data_items": [item("demographics"), item("sexual_health")],
    "consent.status": "not_possible",
}


def ig_manager(tokens: Tokens, org: str = "CONTROLLER") -> dict[str, str]:
    return tokens.headers(org, Role.IG_MANAGER, sub="ig-1")


def guardian(tokens: Tokens, sub: str = "guardian-1", org: str = "CONTROLLER") -> dict[str, str]:
    return tokens.headers(org, Role.GUARDIAN, sub=sub)


async def record(
    client: httpx.AsyncClient, request_id: str, check: str, headers: dict[str, str], outcome: str = "done"
) -> httpx.Response:
    return await client.post(
        f"/v1/sharing-requests/{request_id}/controller-checks/{check}",
        json={"outcome": outcome, "checked": SEEN},
        headers=headers,
    )


async def read(client: httpx.AsyncClient, tokens: Tokens, request_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/sharing-requests/{request_id}", headers=guardian(tokens))
    assert response.status_code == 200, response.text
    return response.json()


async def events_of(app: FastAPI, request_id: str) -> list[dict[str, Any]]:
    async with app.state.wiring.sessionmaker() as session:
        rows = (await session.exec(select(OutboxEvent).where(OutboxEvent.request_id == request_id))).scalars().all()
    return [row.payload for row in sorted(rows, key=lambda row: row.created_at)]


async def submitted(client: httpx.AsyncClient, tokens: Tokens, changes: dict[str, Any], org: str) -> dict[str, Any]:
    response = await submit(client, tokens, changed(changes), org=org)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def police(client: httpx.AsyncClient, tokens: Tokens) -> str:
    await register_organisation(client, tokens, "POL01", type="police")
    return "POL01"


async def test_a_court_order_approval_waits_for_its_check(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, police: str
) -> None:
    shared = await submitted(client, tokens, COURT_ORDER, police)
    assert shared["status"] == "approved_with_conditions"
    assert (shared["ready_to_disclose"], shared["open_checks"]) == (False, ["CP6.court_order_verified"])
    [decided] = await events_of(app, shared["id"])
    assert decided["type"] == "sharing_request.decided"
    assert (decided["data"]["ready_to_disclose"], decided["data"]["open_checks"]) == (
        False,
        ["CP6.court_order_verified"],
    )
    listed = (await client.get("/v1/sharing-requests", headers=tokens.agency(police))).json()["items"]
    assert [(row["id"], row["ready_to_disclose"]) for row in listed] == [(shared["id"], False)]

    # Only the controller's guardian or IG manager records it: never the agency, nor another organisation's roles.
    await register_organisation(client, tokens, "LA01", type="local_authority")
    for headers in (
        tokens.agency(police),
        ig_manager(tokens, org="LA01"),
        guardian(tokens, org="LA01"),
        tokens.headers("CONTROLLER", Role.AUDITOR),
    ):
        assert (await record(client, shared["id"], "CP6.court_order_verified", headers)).status_code == 403
    assert (await read(client, tokens, shared["id"]))["ready_to_disclose"] is False

    short = await client.post(
        f"/v1/sharing-requests/{shared['id']}/controller-checks/CP6.court_order_verified",
        json={"outcome": "done", "checked": ""},
        headers=ig_manager(tokens),
    )
    assert short.status_code == 422  # what was checked is required
    assert (
        await record(client, shared["id"], "CP6.s251_verified", ig_manager(tokens))
    ).status_code == 409  # not a check of this decision

    done = await record(client, shared["id"], "CP6.court_order_verified", ig_manager(tokens))
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["status"], body["ready_to_disclose"], body["open_checks"]) == ("done", True, [])
    assert [(r["outcome"], r["by"], r["role"], r["checked"]) for r in body["records"]] == [
        ("done", "ig-1", "ig_manager", SEEN)
    ]
    now = await read(client, tokens, shared["id"])
    assert (now["ready_to_disclose"], now["open_checks"], now["status"]) == (True, [], "approved_with_conditions")
    ready = (await events_of(app, shared["id"]))[-1]
    assert ready["type"] == "sharing_request.ready_to_disclose" and ready["data"]["ready_to_disclose"] is True

    history = (await client.get(f"/v1/sharing-requests/{shared['id']}/history", headers=tokens.agency(police))).json()[
        "items"
    ]
    [entry] = [entry for entry in history if entry["type"] == "controller_check"]
    assert (entry["check"], entry["record"]["outcome"]) == ("CP6.court_order_verified", "done")
    async with app.state.wiring.sessionmaker() as session:
        actions = (
            await session.exec(
                select(AuditEvent.action, AuditEvent.outcome).where(AuditEvent.target_id == shared["id"])
            )
        ).all()
    assert ("controller_check_recorded", "CP6.court_order_verified: done") in [tuple(row) for row in actions]


async def test_a_failed_check_returns_the_request_to_the_queue(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, police: str
) -> None:
    shared = await submitted(client, tokens, COURT_ORDER, police)
    failed = await record(client, shared["id"], "CP6.court_order_verified", guardian(tokens), outcome="failed")
    assert failed.status_code == 200, failed.text
    assert (failed.json()["status"], failed.json()["ready_to_disclose"]) == ("failed", False)
    now = await read(client, tokens, shared["id"])
    assert (now["status"], now["ready_to_disclose"], now["open_checks"], now["possible_incident"]) == (
        "awaiting_review",
        False,
        [],
        False,
    )
    [entry] = (await client.get("/v1/review-queue", headers=guardian(tokens))).json()["items"]
    assert (entry["id"], entry["review"], entry["possible_incident"]) == (shared["id"], "referral", False)
    assert datetime.fromisoformat(entry["referred_at"]) > datetime.fromisoformat(
        shared["created_at"]
    )  # the response time runs from the failure
    assert [event["type"] for event in await events_of(app, shared["id"])] == [
        "sharing_request.decided",
        "sharing_request.referred",
    ]
    assert (
        await record(client, shared["id"], "CP6.court_order_verified", guardian(tokens))
    ).status_code == 409  # that decision no longer stands

    # A guardian decides it again: a new decision, which opens its own check, recorded with it here.
    assert (
        await client.post(f"/v1/sharing-requests/{shared['id']}/claim", headers=guardian(tokens, "guardian-2"))
    ).status_code == 200
    decision = {
        "outcome": "approve",
        "rationale": RATIONALE,
        "checks": [{"check": "CP6.s251_verified", "checked": SEEN}],
    }
    wrong = await client.post(
        f"/v1/sharing-requests/{shared['id']}/review", json=decision, headers=guardian(tokens, "guardian-2")
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "checks[0].check"
    decision["checks"] = [{"check": "CP6.court_order_verified", "checked": SEEN}]
    reviewed = await client.post(
        f"/v1/sharing-requests/{shared['id']}/review", json=decision, headers=guardian(tokens, "guardian-2")
    )
    assert reviewed.status_code == 200, reviewed.text
    now = await read(client, tokens, shared["id"])
    assert (now["status"], now["ready_to_disclose"], now["open_checks"]) == ("approved", True, [])
    event = (await events_of(app, shared["id"]))[-1]
    assert (event["type"], event["data"]["ready_to_disclose"], event["data"]["open_checks"]) == (
        "sharing_request.reviewed",
        True,
        [],
    )
    history = (await client.get(f"/v1/sharing-requests/{shared['id']}/history", headers=guardian(tokens))).json()[
        "items"
    ]
    assert [(e["check"], e["record"]["outcome"]) for e in history if e["type"] == "controller_check"] == [
        ("CP6.court_order_verified", "failed"),
        ("CP6.court_order_verified", "done"),
    ]


async def test_a_guardian_of_another_organisation_leaves_the_checks_open(
    client: httpx.AsyncClient, tokens: Tokens, police: str
) -> None:
    shared = await submitted(client, tokens, COURT_ORDER, police)
    await record(client, shared["id"], "CP6.court_order_verified", guardian(tokens), outcome="failed")
    outsider = guardian(
        tokens, "guardian-la", org="LA01"
    )  # a configured guardian organisation (tests/support.py), not the controller
    await register_organisation(client, tokens, "LA01", type="local_authority")
    assert (await client.post(f"/v1/sharing-requests/{shared['id']}/claim", headers=outsider)).status_code == 200
    decision = {
        "outcome": "approve",
        "rationale": RATIONALE,
        "checks": [{"check": "CP6.court_order_verified", "checked": SEEN}],
    }
    assert (
        await client.post(f"/v1/sharing-requests/{shared['id']}/review", json=decision, headers=outsider)
    ).status_code == 403
    del decision["checks"]
    assert (
        await client.post(f"/v1/sharing-requests/{shared['id']}/review", json=decision, headers=outsider)
    ).status_code == 200
    now = await read(client, tokens, shared["id"])
    assert (now["ready_to_disclose"], now["open_checks"]) == (False, ["CP6.court_order_verified"])


async def test_a_significant_decision_by_the_rules_needs_a_person(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, police: str
) -> None:
    by_attorney = await submitted(client, tokens, SAFEGUARDING_CONSENT | BY_ATTORNEY, police)
    assert by_attorney["status"] == "approved_with_conditions"
    assert (by_attorney["ready_to_disclose"], by_attorney["open_checks"]) == (False, ["human_involvement"])
    done = await record(client, by_attorney["id"], "human_involvement", guardian(tokens))
    assert done.status_code == 200 and done.json()["ready_to_disclose"] is True

    # Resting on consent the person gave themselves (Art. 22B): no check.
    own = await submitted(client, tokens, SAFEGUARDING_CONSENT, police)
    assert (own["status"], own["ready_to_disclose"], own["open_checks"]) == ("approved_with_conditions", True, [])
    assert (await events_of(app, own["id"]))[0]["data"]["ready_to_disclose"] is True


def test_what_is_a_significant_decision() -> None:
    special = frozenset({DataCategory.MENTAL_HEALTH, DataCategory.DIAGNOSES})

    def body(**changes: Any) -> SharingRequestBody:
        return SharingRequestBody.model_validate(changed(changes))

    crime = {"purpose.category": "crime_prevention", "data_items": [item("mental_health")]}
    assert controller_check_rules.significant(
        body=body(**crime), requester_type=OrganisationType.POLICE, special=special
    )
    assert controller_check_rules.significant(
        body=body(**crime), requester_type=OrganisationType.NHS_TRUST, special=special
    )  # the purpose
    assert not controller_check_rules.significant(
        body=body(**crime, **{"subjects.deceased": True}), requester_type=OrganisationType.POLICE, special=special
    )
    pseudonymised = {"purpose.category": "crime_prevention", "data_items": [item("mental_health", "pseudonymised")]}
    assert not controller_check_rules.significant(
        body=body(**pseudonymised), requester_type=OrganisationType.POLICE, special=special
    )
    care = {"data_items": [item("mental_health")]}
    assert not controller_check_rules.significant(
        body=body(**care), requester_type=OrganisationType.NHS_TRUST, special=special
    )
    assert controller_check_rules.significant(
        body=body(**care), requester_type=OrganisationType.REGULATOR, special=special
    )
    assert not controller_check_rules.own_consent(body(**SAFEGUARDING_CONSENT, **BY_ATTORNEY))
    assert controller_check_rules.own_consent(body(**SAFEGUARDING_CONSENT))


async def test_an_emergency_share_is_ready_at_once_and_its_check_goes_overdue(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    shared = await submitted(client, tokens, EMERGENCY_CARE, "RXT01")
    assert (shared["status"], shared["retrospective_review"]) == ("approved_with_conditions", "pending")
    assert (shared["ready_to_disclose"], shared["open_checks"]) == (True, ["CP7.emergency_share"])
    async with app.state.wiring.sessionmaker() as session:
        [check] = (
            (await session.exec(select(ControllerCheck).where(ControllerCheck.request_id == shared["id"])))
            .scalars()
            .all()
        )
        assert check.due_at is not None and check.due_at - datetime.fromisoformat(shared["created_at"]) <= timedelta(
            hours=1, seconds=1
        )
        assert await controller_checks.flag_overdue(session=session) == 0  # within the hour
        # An hour passes.
        await session.exec(
            update(ControllerCheck)
            .where(ControllerCheck.id == check.id)
            .values(due_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        assert await controller_checks.flag_overdue(session=session) == 1
        assert await controller_checks.flag_overdue(session=session) == 0  # announced once
        await session.commit()
    overdue = (await events_of(app, shared["id"]))[-1]
    assert (overdue["type"], overdue["data"]["open_checks"], overdue["data"]["ready_to_disclose"]) == (
        "sharing_request.overdue",
        ["CP7.emergency_share"],
        True,
    )

    # Recorded failed, the emergency share goes back to a guardian and is flagged as a possible incident.
    failed = await record(client, shared["id"], "CP7.emergency_share", ig_manager(tokens), outcome="failed")
    assert failed.status_code == 200, failed.text
    now = await read(client, tokens, shared["id"])
    assert (now["status"], now["retrospective_review"], now["possible_incident"], now["ready_to_disclose"]) == (
        "awaiting_review",
        None,
        True,
        False,
    )
    [entry] = (await client.get("/v1/review-queue", headers=guardian(tokens))).json()["items"]
    assert (entry["review"], entry["possible_incident"]) == ("referral", True)


async def test_a_request_with_no_check_is_ready_at_once(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    shared = await submitted(client, tokens, {}, "RXT01")
    assert (shared["status"], shared["ready_to_disclose"], shared["open_checks"]) == ("approved", True, [])
    refused = await submitted(client, tokens, {"recipient.storage_region": "other"}, "RXT01")
    assert (refused["status"], refused["ready_to_disclose"]) == ("refused", False)


def test_the_problem_the_disclosures_resource_will_answer() -> None:
    problem = controller_checks.ControllerChecksOpen(
        ["CP6.court_order_verified"], current_status="approved_with_conditions"
    )
    assert (problem.status_code, problem.slug) == (409, "controller-checks-open")
    assert "CP6.court_order_verified" in str(problem.detail)
