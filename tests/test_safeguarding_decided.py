"""Safeguarding leads told when a safeguarding request is decided: the `sharing_request.safeguarding_decided` event
goes signed to the controller's endpoints beside the decision's own event, whichever path decided it, and never to an
agency's; a decision on any other purpose emits none. Real HTTP to a receiver on loopback, both databases."""

import httpx
from fastapi import FastAPI
from sqlmodel import select
from standardwebhooks import Webhook

from app.models.vocabulary import Role
from app.models.webhook import OutboxEvent, WebhookEventType
from tests.factories import REFERRED, register_organisation, submit
from tests.rules.baseline import changed
from tests.support import Tokens
from tests.test_webhooks import ALL_EVENTS, drain, register_endpoint
from tests.webhook_receiver import Receiver

SAFEGUARDING_DECIDED = str(WebhookEventType.SAFEGUARDING_DECIDED)
RATIONALE = "Weighed the onward sharing against the duty of confidence; the recipient team is named and small."
# A safeguarding request on the person's consent, which the rules approve on submission.
CONSENTED = {
    "purpose.category": "safeguarding_adult",
    "legal_basis.confidentiality": "explicit_consent",
    "legal_basis.article_6": "consent",
    "legal_basis.article_9": "explicit_consent",
    "consent.status": "given",
}


async def safeguarding_events(app: FastAPI) -> list[OutboxEvent]:
    async with app.state.wiring.sessionmaker() as session:
        query = select(OutboxEvent).where(OutboxEvent.type == WebhookEventType.SAFEGUARDING_DECIDED)
        return list((await session.exec(query.order_by(OutboxEvent.created_at))).all())


async def test_the_decision_reaches_the_controller_signed_and_never_the_agency(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    # The agency subscribes to everything, this event too: it is still never sent there.
    await register_endpoint(hooks, receiver, agency, "/agency", [*ALL_EVENTS, SAFEGUARDING_DECIDED])
    controller = await register_endpoint(hooks, receiver, tokens.admin(), "/controller", [SAFEGUARDING_DECIDED])

    decided = await submit(hooks, tokens, changed(CONSENTED))
    assert decided.json()["status"] in ("approved", "approved_with_conditions"), decided.text
    assert await drain(hook_app) == 2  # decided to the agency; safeguarding_decided to the controller

    [agency_event] = receiver.at("/agency")
    assert agency_event.payload["type"] == "sharing_request.decided"
    [received] = receiver.at("/controller")
    assert received.verified
    Webhook(controller["secret"]).verify(received.body, received.headers)
    request = decided.json()
    assert received.payload["type"] == SAFEGUARDING_DECIDED
    assert received.payload["data"] == {
        "id": request["id"],
        "decision_id": request["decision"]["id"],
        "outcome": request["decision"]["outcome"],
        "verdict": None,
        "kind": "rules",
        "purpose": "safeguarding_adult",
        "decided_at": received.payload["data"]["decided_at"],
        "link": f"/v1/sharing-requests/{request['id']}",
    }
    body = received.body.decode()
    for private in (request["request"]["reference"], request["request"]["purpose"]["description"]):
        assert private not in body

    # The agency reads back its own events: this one is not among them; the controller's admin reads it.
    agency_types = [event["type"] for event in (await hooks.get("/v1/events", headers=agency)).json()["items"]]
    assert agency_types == ["sharing_request.decided"]
    admin_types = [event["type"] for event in (await hooks.get("/v1/events", headers=tokens.admin())).json()["items"]]
    assert sorted(admin_types) == ["sharing_request.decided", SAFEGUARDING_DECIDED]


async def test_a_decision_on_another_purpose_emits_none(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    await register_endpoint(hooks, receiver, tokens.admin(), "/controller", [*ALL_EVENTS, SAFEGUARDING_DECIDED])
    decided = await submit(hooks, tokens, changed({}))  # the baseline: direct care
    assert decided.json()["status"] in ("approved", "approved_with_conditions", "refused"), decided.text
    assert await drain(hook_app) == 1
    assert [event.payload["type"] for event in receiver.at("/controller")] == ["sharing_request.decided"]
    assert await safeguarding_events(hook_app) == []


async def test_a_referral_is_told_when_a_guardian_decides_it_not_when_it_is_referred(
    hooks: httpx.AsyncClient, tokens: Tokens, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    referred = await submit(hooks, tokens, changed(CONSENTED | REFERRED))
    assert referred.json()["status"] == "awaiting_review", referred.text
    request_id = referred.json()["id"]
    assert await safeguarding_events(hook_app) == []  # a referral decides nothing

    guardian = tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")
    assert (await hooks.post(f"/v1/sharing-requests/{request_id}/claim", headers=guardian)).status_code == 200
    reviewed = await hooks.post(
        f"/v1/sharing-requests/{request_id}/review",
        json={"outcome": "refuse", "rationale": RATIONALE},
        headers=guardian,
    )
    assert reviewed.status_code == 200, reviewed.text
    [event] = await safeguarding_events(hook_app)
    assert event.request_id is None and event.sequence is None  # not one of the request's numbered events
    data = event.payload["data"]
    assert (data["id"], data["outcome"], data["kind"], data["verdict"]) == (request_id, "refuse", "guardian", None)

    # A reconsideration of that refusal tells the leads again, with its verdict.
    grounds = {"grounds": "The recipient team is now named and small, answering the reason given."}
    asked = await hooks.post(
        f"/v1/sharing-requests/{request_id}/reconsideration", json=grounds, headers=tokens.agency("RXT01")
    )
    assert asked.status_code == 201, asked.text
    second = tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-2")
    assert (await hooks.post(f"/v1/sharing-requests/{request_id}/claim", headers=second)).status_code == 200
    upheld = await hooks.post(
        f"/v1/sharing-requests/{request_id}/reconsideration/decision",
        json={"outcome": "upheld", "rationale": RATIONALE},
        headers=second,
    )
    assert upheld.status_code == 200, upheld.text
    first, reconsidered = await safeguarding_events(hook_app)
    assert first.id == event.id
    data = reconsidered.payload["data"]
    assert (data["outcome"], data["kind"], data["verdict"]) == ("refuse", "reconsideration", "upheld")
