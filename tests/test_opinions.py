"""Second opinions over HTTP: the claim holder asks another guardian, who agrees, disagrees or abstains;
the decision lists what it weighed."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.models.vocabulary import Role
from app.models.webhook import OutboxEvent
from tests.factories import REFERRED, register_organisation, submit
from tests.rules.baseline import changed
from tests.support import Tokens

RATIONALE = "Weighed the onward sharing against the duty of confidence; the recipient team is named and small."
QUESTION = "I propose to refuse: onward sharing to the whole team is more than the purpose needs. Do you agree?"
OPINION = "The onward sharing is to the care team that will treat the patient; refusing would delay care needlessly."


def guardian(tokens: Tokens, number: int = 1, org: str = "CONTROLLER") -> dict[str, str]:
    return tokens.headers(org, Role.GUARDIAN, sub=f"guardian-{number}")


async def post(
    client: httpx.AsyncClient, request_id: str, path: str, headers: dict[str, str], body: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.post(f"/v1/sharing-requests/{request_id}/{path}", json=body, headers=headers)


async def claimed(client: httpx.AsyncClient, tokens: Tokens) -> str:
    response = await submit(client, tokens, changed(REFERRED))
    assert (response.status_code, response.json()["status"]) == (201, "awaiting_review"), response.text
    request_id = str(response.json()["id"])
    assert (await post(client, request_id, "claim", guardian(tokens))).status_code == 200
    return request_id


async def ask(
    client: httpx.AsyncClient, tokens: Tokens, request_id: str, named: dict[str, str] | None = None, **extra: Any
) -> httpx.Response:
    body: dict[str, Any] = (
        {"proposed_outcome": "refuse", "question": QUESTION} | ({"guardian": named} if named else {}) | extra
    )
    return await post(client, request_id, "opinions/requests", guardian(tokens), body)


async def verify(client: httpx.AsyncClient, tokens: Tokens) -> None:
    verified = await client.get("/v1/audit/verify", headers=tokens.headers("CONTROLLER", Role.AUDITOR, sub="auditor-1"))
    assert (verified.status_code, verified.json()["valid"]) == (200, True), verified.text


@pytest.fixture
async def requester(client: httpx.AsyncClient, tokens: Tokens) -> str:
    await register_organisation(client, tokens, "RXT01")
    return "RXT01"


async def test_a_disagreeing_second_opinion_is_listed_on_the_claim_holders_decision(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, requester: str
) -> None:
    hook = await client.post(
        "/v1/webhook-endpoints",
        json={"url": "https://93.184.215.14/hook", "event_types": ["sharing_request.opinion_requested"]},
        headers=tokens.agency("RXT01"),
    )
    assert hook.status_code == 201, hook.text
    request_id = await claimed(client, tokens)
    asked = await ask(client, tokens, request_id, {"sub": "guardian-2", "org": "CONTROLLER"})
    assert asked.status_code == 201, asked.text
    assert (asked.json()["guardian"], asked.json()["proposed_outcome"], asked.json()["asked_by"]) == (
        {"sub": "guardian-2", "org": "CONTROLLER"},
        "refuse",
        "guardian-1",
    )
    # Another guardian was not asked: only guardian-2 may answer, and the request stays claimed meanwhile.
    assert (
        await post(client, request_id, "opinions", guardian(tokens, 3), {"opinion": "agree", "rationale": OPINION})
    ).status_code == 403
    given = await post(
        client, request_id, "opinions", guardian(tokens, 2), {"opinion": "disagree", "rationale": OPINION}
    )
    assert given.status_code == 201, given.text
    opinion = given.json()
    assert (opinion["given_by"], opinion["opinion"], opinion["opinion_request_id"]) == (
        "guardian-2",
        "disagree",
        asked.json()["id"],
    )
    again = await post(client, request_id, "opinions", guardian(tokens, 2), {"opinion": "agree", "rationale": OPINION})
    assert (again.status_code, again.json()["current_status"]) == (409, "in_review")  # each request is answered once

    decided = await post(client, request_id, "review", guardian(tokens), {"outcome": "approve", "rationale": RATIONALE})
    assert decided.status_code == 200, decided.text
    decision = decided.json()
    assert (decision["kind"], decision["outcome"], decision["decided_by"]) == ("guardian", "approve", "guardian-1")
    assert decision["opinions"] == [opinion]
    shown = (await client.get(f"/v1/sharing-requests/{request_id}", headers=guardian(tokens, 3))).json()["decision"]
    assert shown["opinions"] == [opinion]
    # The requesting agency reads the opinion too, its author unnamed (app/services/review/naming.py).
    theirs = (await client.get(f"/v1/sharing-requests/{request_id}", headers=tokens.agency("RXT01"))).json()["decision"]
    assert theirs["opinions"] == [opinion | {"given_by": "a Caldicott Guardian of CONTROLLER (the controller)"}]

    history = (await client.get(f"/v1/sharing-requests/{request_id}/history", headers=guardian(tokens))).json()["items"]
    changes = [
        (e["action"], e["from_status"], e["to_status"], e["actor"]) for e in history if e["type"] == "state_change"
    ]
    assert changes[1:] == [
        ("claimed", "awaiting_review", "in_review", "guardian-1"),
        ("opinion_requested", "in_review", "in_review", "guardian-1"),
        ("opinion_given", "in_review", "in_review", "guardian-2"),
        ("reviewed", "in_review", "approved", "guardian-1"),
    ]
    async with app.state.wiring.engine.connect() as connection:
        events = (
            (await connection.execute(select(OutboxEvent.type).where(OutboxEvent.request_id == request_id)))
            .scalars()
            .all()
        )
    assert sorted(map(str, events)) == [
        "sharing_request.opinion_requested",
        "sharing_request.referred",
        "sharing_request.reviewed",
    ]
    deliveries = (
        await client.get(f"/v1/webhook-endpoints/{hook.json()['id']}/deliveries", headers=tokens.agency("RXT01"))
    ).json()["items"]
    assert [d["event_type"] for d in deliveries] == ["sharing_request.opinion_requested"]
    await verify(client, tokens)


async def test_any_guardian_may_answer_an_open_request_and_an_unanswered_one_closes_with_the_decision(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request_id = await claimed(client, tokens)
    assert (
        await post(client, request_id, "opinions", guardian(tokens, 2), {"opinion": "agree", "rationale": OPINION})
    ).status_code == 409  # none asked
    assert (await ask(client, tokens, request_id)).status_code == 201
    assert (await ask(client, tokens, request_id, proposed_outcome="approve")).status_code == 201
    first = await post(
        client, request_id, "opinions", guardian(tokens, 2), {"opinion": "abstain", "rationale": OPINION}
    )
    assert first.status_code == 201, first.text
    decided = await post(client, request_id, "review", guardian(tokens), {"outcome": "refuse", "rationale": RATIONALE})
    assert [o["opinion"] for o in decided.json()["opinions"]] == ["abstain"]
    late = await post(client, request_id, "opinions", guardian(tokens, 3), {"opinion": "agree", "rationale": OPINION})
    assert (late.status_code, late.json()["current_status"]) == (409, "refused")
    await verify(client, tokens)


async def test_opinions_never_come_from_the_requesting_organisation_nor_the_claim_holder(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request_id = await claimed(client, tokens)
    named = await ask(client, tokens, request_id, {"sub": "guardian-9", "org": "RXT01"})
    assert named.status_code == 403, named.text
    assert (await ask(client, tokens, request_id)).status_code == 201
    own_org = await post(
        client, request_id, "opinions", guardian(tokens, 9, org="RXT01"), {"opinion": "agree", "rationale": OPINION}
    )
    assert (own_org.status_code, own_org.headers["content-type"]) == (403, "application/problem+json")
    own_claim = await post(client, request_id, "opinions", guardian(tokens), {"opinion": "agree", "rationale": OPINION})
    assert own_claim.status_code == 403, own_claim.text
    assert "claim" in own_claim.json()["detail"]
    # Only the claim holder asks.
    assert (
        await post(
            client,
            request_id,
            "opinions/requests",
            guardian(tokens, 2),
            {"proposed_outcome": "refuse", "question": QUESTION},
        )
    ).status_code == 403
    await verify(client, tokens)


async def test_bad_input_is_a_problem_naming_the_field(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request_id = await claimed(client, tokens)
    for body, field in (
        ({"proposed_outcome": "refuse", "question": "Agree?"}, "question"),
        ({"proposed_outcome": "request_information", "question": QUESTION}, "proposed_outcome"),
        (
            {
                "proposed_outcome": "refuse",
                "question": QUESTION,
                "guardian": {"sub": "guardian-1", "org": "CONTROLLER"},
            },
            "guardian",
        ),
    ):
        response = await post(client, request_id, "opinions/requests", guardian(tokens), body)
        assert (response.status_code, [e["field"] for e in response.json()["errors"]]) == (422, [field]), response.text
    assert (await ask(client, tokens, request_id)).status_code == 201
    for body, field in (
        ({"opinion": "maybe", "rationale": OPINION}, "opinion"),
        ({"opinion": "agree", "rationale": "Yes."}, "rationale"),
    ):
        response = await post(client, request_id, "opinions", guardian(tokens, 2), body)
        assert (response.status_code, [e["field"] for e in response.json()["errors"]]) == (422, [field]), response.text
    unknown = await post(
        client,
        request_id,
        "opinions",
        guardian(tokens, 2),
        {"opinion_request_id": "0" * 36, "opinion": "agree", "rationale": OPINION},
    )
    assert (unknown.status_code, [e["field"] for e in unknown.json()["errors"]]) == (422, ["opinion_request_id"])
