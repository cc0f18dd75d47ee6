"""The listing at the first start after evidence came to need verification (brief section 7, last paragraph; issue 25).

A decision made before the upgrade under 2027.2 let an attachment clear a condition by the kind its uploader declared,
and recorded its evidence as kinds alone. The rows such a decision left are written here as 2027.2 wrote them then
(the rules' own findings on the request with that evidence, recorded as kinds), since no code path makes one now.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import select, update

from app.main import create_app
from app.models.sharing_request import STATUS_FOR_OUTCOME, SharingRequest
from app.models.vocabulary import RequestStatus, Role
from app.models.webhook import OutboxEvent
from app.rules import evaluate
from app.rules.facts import facts_from_record
from app.services.attachments import evidence_upgrade
from app.services.policies.replay import stored_request
from app.services.sharing_requests.adjudication import current_body, rules_decision_of
from tests.conftest import active_before_upgrade
from tests.factories import register_organisation
from tests.rules.test_policy_2027_2 import court_order_request, police_request
from tests.support import Tokens, settings_for
from tests.test_evidence import FORM_VERIFIED, attach, findings, submitted, verified
from tests.test_policies import BASELINE, changes, replay
from tests.test_review import act, guardian

UPHELD = "The order was genuine and covered the disclosure; the copy is now verified and kept with the request."


async def as_decided_before_the_upgrade(app: FastAPI, request_id: str, kinds: list[str]) -> dict[str, Any]:
    """Rewrite the request's rules decision as 2027.2 made it before verification existed:
    the evidence counted by its kind alone."""
    async with app.state.wiring.sessionmaker() as session:
        request = await session.get(SharingRequest, request_id)
        decision = await rules_decision_of(session=session, request=request)
        policy = await app.state.wiring.policies.get(
            session=session, name=decision.policy_name, version=decision.policy_version
        )
        then = decision.facts | {"evidence": kinds}
        evaluation = evaluate(
            policy, facts_from_record(then, stored_request(await current_body(session=session, request=request)))
        )
        decision.findings = [dict(finding.stored) for finding in evaluation.findings]
        decision.outcome, decision.conditions, decision.facts = evaluation.outcome, list(evaluation.conditions), then
        request.status = STATUS_FOR_OUTCOME[evaluation.outcome]
        request.in_queue = request.status == RequestStatus.AWAITING_REVIEW
        await session.commit()
        return {"outcome": str(evaluation.outcome), "findings": decision.findings}


async def test_the_first_start_queues_each_request_decided_on_unverified_evidence_once(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "POL01", type="police")
    await active_before_upgrade(app, BASELINE, "2027.2")  # replay-only now: an installation that activated it before
    order = await submitted(client, tokens, court_order_request(), "RXT01")
    await attach(client, tokens, order["id"], "court_order", "RXT01")
    plain = await submitted(
        client, tokens, court_order_request(), "RXT01"
    )  # no evidence: its condition stood, not listed
    dpia_only = await submitted(client, tokens, court_order_request(), "RXT01")  # a DPIA clears nothing: not listed
    await attach(client, tokens, dpia_only["id"], "dpia", "RXT01")
    form_request = await submitted(
        client, tokens, police_request(), "POL01"
    )  # referred for other reasons, the form cleared its condition
    form = await attach(client, tokens, form_request["id"], "police_request_form", "POL01")
    await verified(client, tokens, form_request["id"], form["id"], FORM_VERIFIED)

    then = await as_decided_before_the_upgrade(app, order["id"], ["court_order"])
    assert (
        then["outcome"] == "approve"
        and {f["rule"]: f["result"] for f in then["findings"]}["CP6.court_order_verified"] == "pass"
    )
    await as_decided_before_the_upgrade(app, dpia_only["id"], ["dpia"])
    await as_decided_before_the_upgrade(app, form_request["id"], ["police_request_form"])
    assert findings(order)["CP6.court_order_verified"] == "condition"  # as the service decides it now
    before = (await client.get(f"/v1/sharing-requests/{order['id']}/history", headers=guardian(tokens))).json()["items"]

    started = datetime.now().astimezone()
    assert (
        await evidence_upgrade.run_once(sessionmaker=app.state.wiring.sessionmaker, registry=app.state.wiring.policies)
        == 2
    )
    assert (
        await evidence_upgrade.run_once(sessionmaker=app.state.wiring.sessionmaker, registry=app.state.wiring.policies)
        == 0
    )  # once only

    listed = (await client.get(f"/v1/sharing-requests/{order['id']}", headers=guardian(tokens))).json()
    assert (
        listed["status"],
        listed["review_required"],
        listed["retrospective_review"],
        listed["possible_incident"],
    ) == (
        "approved",
        True,
        "pending",
        True,
    )
    assert (
        started < datetime.fromisoformat(listed["due_at"]) <= started + timedelta(days=4)
    )  # one working day (a weekend between at most)
    assert (
        listed["decision"]["findings"] == then["findings"] and listed["decision"]["outcome"] == "approve"
    )  # the decision is not edited
    queue = (await client.get("/v1/review-queue", params={"review": "retrospective"}, headers=guardian(tokens))).json()[
        "items"
    ]
    assert [(entry["id"], entry["possible_incident"]) for entry in queue] == [(order["id"], True)]
    referred = (await client.get(f"/v1/sharing-requests/{form_request['id']}", headers=guardian(tokens))).json()
    assert (referred["status"], referred["possible_incident"], referred["retrospective_review"]) == (
        "awaiting_review",
        True,
        None,
    )
    for untouched in (plain, dpia_only):
        assert (await client.get(f"/v1/sharing-requests/{untouched['id']}", headers=guardian(tokens))).json()[
            "possible_incident"
        ] is False

    history = (await client.get(f"/v1/sharing-requests/{order['id']}/history", headers=guardian(tokens))).json()[
        "items"
    ]
    [listing] = [entry for entry in history if entry not in before and entry["type"] == "state_change"]
    assert (listing["action"], listing["actor"], listing["from_status"], listing["to_status"]) == (
        "unverified_evidence_listed",
        "system",
        "approved",
        "approved",
    )
    auditor = tokens.headers("CONTROLLER", Role.AUDITOR)
    trail = await client.get(
        "/v1/audit/events", params={"request_id": order["id"], "action": "unverified_evidence_listed"}, headers=auditor
    )
    assert len(trail.json()["items"]) == 1
    async with app.state.wiring.sessionmaker() as session:
        events = (
            await session.exec(
                select(OutboxEvent).where(
                    OutboxEvent.type == "sharing_request.referred", OutboxEvent.request_id == order["id"]
                )
            )
        ).all()
    assert len(events) == 1

    # A replay under 2027.2 now lists it: the order was never verified.
    report = await replay(client, tokens, "2027.2")
    assert order["id"] in {change["request_id"] for change in await changes(client, tokens, report["id"])}

    # The review is the emergency share's path: a guardian claims it and upholds the decision, or not.
    assert (await act(client, order["id"], "claim", guardian(tokens))).status_code == 200
    reviewed = await act(
        client, order["id"], "retrospective-review", guardian(tokens), {"outcome": "upheld", "rationale": UPHELD}
    )
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["kind"] == "retrospective"


async def test_the_listing_runs_at_start_and_its_count_is_in_the_start_log(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await active_before_upgrade(app, BASELINE, "2027.2")  # replay-only now: an installation that activated it before
    order = await submitted(client, tokens, court_order_request(), "RXT01")
    await attach(client, tokens, order["id"], "court_order", "RXT01")
    await as_decided_before_the_upgrade(app, order["id"], ["court_order"])
    async with app.state.wiring.sessionmaker() as session:
        await session.exec(
            update(SharingRequest).where(SharingRequest.id == order["id"]).values(possible_incident=False)
        )
        await session.commit()

    counts = []
    for _ in range(2):
        started = create_app(settings_for(database_url))
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="caldicott"):
            async with started.router.lifespan_context(started):
                pass
        counts += [record.getMessage() for record in caplog.records if "unverified evidence" in record.getMessage()]
    assert counts == [
        "decisions made on unverified evidence: 1 request(s) placed in the guardian queue for a retrospective review",
        "decisions made on unverified evidence: 0 request(s) placed in the guardian queue for a retrospective review",
    ]
