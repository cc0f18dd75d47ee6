"""Reconsideration over HTTP: an agency asks once per decision, a guardian who did not make the decision answers."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlmodel import col

from app.models.sharing_request import Decision
from app.models.vocabulary import Role, Urgency
from app.models.webhook import OutboxEvent
from app.rules.response_times import due_at
from tests import test_panels as panels
from tests.factories import REFERRED, register_organisation, submit
from tests.rules.baseline import POLICY, baseline_request, changed
from tests.support import Tokens
from tests.test_review import set_columns

RATIONALE = "Weighed the grounds against the duty of confidence and the reasons first given for the decision."
GROUNDS = "The recipient now stores the record in the UK, which answers the reason given for the refusal."
REFUSED = {"recipient.storage_region": "other"}  # the rules refuse it (CP7, a recipient outside the UK regime)
WITH_CONDITIONS = {"recipient.staff_trained": False}  # the rules approve it with a condition
PUBLIC_HOOK = "https://93.184.215.14/hook"  # a public address literal: registrable without DNS
EVENTS = ["sharing_request.reconsideration_requested", "sharing_request.reconsidered"]


def guardian(tokens: Tokens, number: int = 1, org: str = "CONTROLLER") -> dict[str, str]:
    return tokens.headers(org, Role.GUARDIAN, sub=f"guardian-{number}")


async def post(
    client: httpx.AsyncClient, request_id: str, path: str, headers: dict[str, str], body: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.post(f"/v1/sharing-requests/{request_id}/{path}", json=body, headers=headers)


async def submitted(client: httpx.AsyncClient, tokens: Tokens, changes: dict[str, Any], status: str) -> dict[str, Any]:
    response = await submit(client, tokens, changed(changes))
    assert (response.status_code, response.json()["status"]) == (201, status), response.text
    return response.json()


async def ask(
    client: httpx.AsyncClient, tokens: Tokens, request_id: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    return await post(
        client,
        request_id,
        "reconsideration",
        tokens.agency("RXT01"),
        body if body is not None else {"grounds": GROUNDS},
    )


async def answer(
    client: httpx.AsyncClient,
    request_id: str,
    headers: dict[str, str],
    outcome: str,
    decision: dict[str, Any] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"outcome": outcome, "rationale": RATIONALE} | ({"decision": decision} if decision else {})
    return await post(client, request_id, "reconsideration/decision", headers, body)


async def read(client: httpx.AsyncClient, tokens: Tokens, request_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/sharing-requests/{request_id}", headers=tokens.agency("RXT01"))
    assert response.status_code == 200, response.text
    return response.json()


async def refused_by_guardian(client: httpx.AsyncClient, tokens: Tokens, number: int = 1) -> dict[str, Any]:
    request = await submitted(client, tokens, REFERRED, "awaiting_review")
    assert (await post(client, request["id"], "claim", guardian(tokens, number))).status_code == 200
    refused = await post(
        client, request["id"], "review", guardian(tokens, number), {"outcome": "refuse", "rationale": RATIONALE}
    )
    assert refused.status_code == 200, refused.text
    return request


async def queue(client: httpx.AsyncClient, tokens: Tokens, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/review-queue", params=params, headers=guardian(tokens))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


@pytest.fixture
async def requester(client: httpx.AsyncClient, tokens: Tokens) -> str:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "LA-NSH", type="local_authority")
    return "RXT01"


async def test_a_refusal_by_the_rules_is_overturned_with_conditions_by_another_guardian(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, requester: str
) -> None:
    hook = await client.post(
        "/v1/webhook-endpoints", json={"url": PUBLIC_HOOK, "event_types": EVENTS}, headers=tokens.agency("RXT01")
    )
    assert hook.status_code == 201, hook.text
    request = await submitted(client, tokens, REFUSED, "refused")

    asked = await ask(client, tokens, request["id"])
    assert asked.status_code == 201, asked.text
    reconsideration = asked.json()
    assert (reconsideration["decision_id"], reconsideration["grounds"], reconsideration["outcome"]) == (
        request["decision"]["id"],
        GROUNDS,
        None,
    )
    assert (await read(client, tokens, request["id"]))["status"] == "awaiting_reconsideration"
    referral = await submitted(client, tokens, REFERRED, "awaiting_review")
    assert [(e["id"], e["review"]) for e in await queue(client, tokens)] == [
        (request["id"], "reconsideration"),
        (referral["id"], "referral"),
    ]
    [entry] = await queue(client, tokens, review="reconsideration")
    assert (entry["id"], entry["status"]) == (request["id"], "awaiting_reconsideration")
    assert [e["id"] for e in await queue(client, tokens, review="referral")] == [referral["id"]]
    assert [e["id"] for e in await queue(client, tokens, status="awaiting_reconsideration")] == [request["id"]]
    referred_at = datetime.fromisoformat(entry["referred_at"])
    assert datetime.fromisoformat(entry["due_at"]) == due_at(
        POLICY, Urgency.ROUTINE, referred_at
    ) and referred_at > datetime.fromisoformat(request["created_at"])

    # The rules made the decision, so any guardian outside the requesting organisation may take it.
    claimed = await post(client, request["id"], "claim", guardian(tokens, 2))
    assert (claimed.status_code, claimed.json()["status"]) == (200, "in_reconsideration")
    conditions = ["Store the record only in the UK data centre named in the grounds"]
    decided = await answer(
        client,
        request["id"],
        guardian(tokens, 2),
        "overturned",
        {"outcome": "approve_with_conditions", "conditions": conditions},
    )
    assert decided.status_code == 200, decided.text
    result = decided.json()
    assert (result["outcome"], result["decided_by"], result["new_decision_id"]) == (
        "overturned",
        "guardian-2",
        result["decision"]["id"],
    )
    decision = result["decision"]
    assert (decision["kind"], decision["outcome"], decision["conditions"], decision["rationale"]) == (
        "reconsideration",
        "approve_with_conditions",
        conditions,
        RATIONALE,
    )

    now = await read(client, tokens, request["id"])
    assert (now["status"], now["decision"]["id"]) == ("approved_with_conditions", decision["id"])
    assert [e["id"] for e in await queue(client, tokens)] == [referral["id"]]

    # The controller's auditor sees who reconsidered it; the agency reads the same history with the guardian unnamed.
    auditor = tokens.headers("CONTROLLER", Role.AUDITOR)
    for headers, who in (
        (auditor, "guardian-2"),
        (tokens.agency("RXT01"), "a Caldicott Guardian of CONTROLLER (the controller)"),
    ):
        history = (await client.get(f"/v1/sharing-requests/{request['id']}/history", headers=headers)).json()["items"]
        changes = [
            (e["action"], e["from_status"], e["to_status"], e["actor"]) for e in history if e["type"] == "state_change"
        ]
        assert changes == [
            ("submitted", None, "refused", "user-rxt01"),
            ("reconsideration_requested", "refused", "awaiting_reconsideration", "user-rxt01"),
            ("claimed", "awaiting_reconsideration", "in_reconsideration", who),
            ("reconsidered", "in_reconsideration", "approved_with_conditions", who),
        ]
        [recorded] = [e["reconsideration"] for e in history if e["type"] == "reconsideration"]
        assert (recorded["outcome"], recorded["decided_by"], recorded["new_decision_id"]) == (
            "overturned",
            who,
            decision["id"],
        )
        assert [e["decision"]["kind"] for e in history if e["type"] == "decision"] == ["rules", "reconsideration"]

    async with app.state.wiring.engine.connect() as connection:
        events = (
            await connection.execute(
                select(OutboxEvent.type, OutboxEvent.payload).where(OutboxEvent.request_id == request["id"])
            )
        ).all()
    announced = sorted((str(kind), payload["data"]["status"], payload["data"]["outcome"]) for kind, payload in events)
    assert announced == [
        ("sharing_request.decided", "refused", "refuse"),
        ("sharing_request.reconsideration_requested", "awaiting_reconsideration", None),
        ("sharing_request.reconsidered", "approved_with_conditions", "approve_with_conditions"),
    ]
    deliveries = (
        await client.get(f"/v1/webhook-endpoints/{hook.json()['id']}/deliveries", headers=tokens.agency("RXT01"))
    ).json()["items"]
    assert sorted(d["event_type"] for d in deliveries) == EVENTS  # subscribed to these two only

    auditor = tokens.headers("CONTROLLER", Role.AUDITOR, sub="auditor-1")
    trail = (
        await client.get("/v1/audit/events", params={"request_id": request["id"], "limit": 200}, headers=auditor)
    ).json()["items"]
    assert {"reconsideration_requested", "claimed", "reconsidered"} <= {event["action"] for event in trail}
    verified = (await client.get("/v1/audit/verify", headers=auditor)).json()
    assert verified["valid"] is True and verified["events"] >= len(trail)

    metrics = (await client.get("/v1/reports/review-metrics", headers=guardian(tokens))).json()["reconsiderations"]
    # Two contestable decisions were made (the refusal,
    # and the approval with conditions on reconsideration); one was contested.
    assert metrics == {
        "reconsiderable": 2,
        "requested": 1,
        "rate": 0.5,
        "decided": 1,
        "upheld": 0,
        "overturned": 1,
        "overturn_rate": 1.0,
    }


async def test_a_guardians_refusal_is_upheld_and_a_revised_request_is_decided_by_the_rules_meanwhile(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request = await refused_by_guardian(client, tokens)
    revised = {
        "grounds": GROUNDS,
        "request": baseline_request() | {"reference": "CASE-1 revised"},
    }  # one the rules would approve
    asked = await ask(client, tokens, request["id"], revised)
    assert asked.status_code == 201, asked.text
    assert asked.json()["revised_version"] == 2
    now = await read(client, tokens, request["id"])
    # The revision was evaluated and recorded, yet the case waits for a guardian.
    assert (now["status"], now["version"], now["reference"], now["decision"]["kind"], now["decision"]["outcome"]) == (
        "awaiting_reconsideration",
        2,
        "CASE-1 revised",
        "rules",
        "approve",
    )

    assert (await post(client, request["id"], "claim", guardian(tokens, 2))).status_code == 200
    upheld = await answer(client, request["id"], guardian(tokens, 2), "upheld")
    assert upheld.status_code == 200, upheld.text
    decision = upheld.json()["decision"]
    # The decision's outcome stays the refusal that stands; the reconsideration's verdict is a field of its own.
    assert (upheld.json()["outcome"], decision["outcome"], decision["verdict"], decision["kind"]) == (
        "upheld",
        "refuse",
        "upheld",
        "reconsideration",
    )
    read_back = await read(client, tokens, request["id"])
    assert read_back["status"] == "refused"  # the guardian's refusal stands
    assert (read_back["decision"]["outcome"], read_back["decision"]["verdict"]) == ("refuse", "upheld")

    metrics = (await client.get("/v1/reports/review-metrics", headers=guardian(tokens))).json()["reconsiderations"]
    # The revision's rules approval settled nothing and is not counted; the guardian's refusal was contested and upheld.
    assert metrics == {
        "reconsiderable": 1,
        "requested": 1,
        "rate": 1.0,
        "decided": 1,
        "upheld": 1,
        "overturned": 0,
        "overturn_rate": 0.0,
    }


async def test_grounds_shorter_than_twenty_characters_are_refused_naming_the_field(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request = await submitted(client, tokens, REFUSED, "refused")
    for body in ({"grounds": "Please look again."}, {"grounds": "   " + "x" * 19 + "   "}, {}):
        response = await ask(client, tokens, request["id"], body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert [error["field"] for error in response.json()["errors"]] == ["grounds"]
    assert (await read(client, tokens, request["id"]))["status"] == "refused"


async def test_a_decision_is_reconsidered_once(client: httpx.AsyncClient, tokens: Tokens, requester: str) -> None:
    request = await submitted(client, tokens, REFUSED, "refused")
    assert (await ask(client, tokens, request["id"])).status_code == 201
    pending = await ask(client, tokens, request["id"])
    assert (pending.status_code, pending.json()["current_status"]) == (409, "awaiting_reconsideration")
    await post(client, request["id"], "claim", guardian(tokens))
    assert (await answer(client, request["id"], guardian(tokens), "upheld")).status_code == 200

    again = await ask(client, tokens, request["id"])
    assert (again.status_code, again.json()["current_status"]) == (409, "refused")
    assert "reconsidered once" in again.json()["detail"]
    assert (await read(client, tokens, request["id"]))["status"] == "refused"


async def test_only_a_decided_refusal_or_approval_with_conditions_can_be_reconsidered(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    approved = await submitted(client, tokens, {}, "approved")
    waiting = await submitted(client, tokens, REFERRED, "awaiting_review")
    in_review = await submitted(client, tokens, REFERRED, "awaiting_review")
    assert (await post(client, in_review["id"], "claim", guardian(tokens))).status_code == 200
    for request, status in ((approved, "approved"), (waiting, "awaiting_review"), (in_review, "in_review")):
        response = await ask(client, tokens, request["id"])
        assert (response.status_code, response.json()["current_status"]) == (409, status), response.text
        assert (await read(client, tokens, request["id"]))["status"] == status

    # An approval with conditions may be contested, to have a condition lifted.
    conditional = await submitted(client, tokens, WITH_CONDITIONS, "approved_with_conditions")
    assert (await ask(client, tokens, conditional["id"])).status_code == 201
    assert (await post(client, conditional["id"], "claim", guardian(tokens))).status_code == 200
    lifted = await answer(client, conditional["id"], guardian(tokens), "overturned", {"outcome": "approve"})
    assert lifted.status_code == 200, lifted.text
    assert (await read(client, tokens, conditional["id"]))["status"] == "approved"


async def test_another_agency_is_told_the_request_does_not_exist(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request = await submitted(client, tokens, REFUSED, "refused")
    response = await post(client, request["id"], "reconsideration", tokens.agency("LA-NSH"), {"grounds": GROUNDS})
    assert response.status_code == 404, response.text
    assert (await read(client, tokens, request["id"]))["status"] == "refused"
    assert (
        await post(client, request["id"], "reconsideration", guardian(tokens), {"grounds": GROUNDS})
    ).status_code == 403  # not an agency


async def test_the_guardian_who_made_the_decision_may_not_reconsider_it(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, requester: str
) -> None:
    request = await refused_by_guardian(client, tokens, number=1)
    assert (await ask(client, tokens, request["id"])).status_code == 201

    own = await post(client, request["id"], "claim", guardian(tokens, 1))
    assert own.status_code == 403 and "other than the one who made it" in own.json()["detail"]
    assert (await post(client, request["id"], "claim", guardian(tokens, 2))).status_code == 200
    assert (
        await answer(client, request["id"], guardian(tokens, 1), "overturned", {"outcome": "approve"})
    ).status_code == 403

    # Even holding the claim (set in the database: the API would not give it), the decision is not theirs to reconsider.
    claim = {
        "assignee_sub": "guardian-1",
        "assignee_org": "CONTROLLER",
        "claim_expires_at": datetime.now(UTC) + timedelta(minutes=30),
    }
    await set_columns(app, request["id"], **claim)
    held = await answer(client, request["id"], guardian(tokens, 1), "overturned", {"outcome": "approve"})
    assert held.status_code == 403, held.text
    assert (await read(client, tokens, request["id"]))["status"] == "in_reconsideration"


async def test_a_guardian_of_the_requesting_organisation_may_not_reconsider(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request = await submitted(client, tokens, REFUSED, "refused")
    assert (await ask(client, tokens, request["id"])).status_code == 201
    own_org = guardian(tokens, 7, org="RXT01")
    assert (await post(client, request["id"], "claim", own_org)).status_code == 403
    assert (await post(client, request["id"], "claim", guardian(tokens, 2))).status_code == 200
    assert (await answer(client, request["id"], own_org, "upheld")).status_code == 403
    assert (await read(client, tokens, request["id"]))["status"] == "in_reconsideration"


async def test_the_answer_must_fit_the_outcome(client: httpx.AsyncClient, tokens: Tokens, requester: str) -> None:
    request = await submitted(client, tokens, REFUSED, "refused")
    await ask(client, tokens, request["id"])
    await post(client, request["id"], "claim", guardian(tokens))
    invalid = {
        "decision": ("overturned", None),
        "decision.conditions": ("overturned", {"outcome": "approve_with_conditions"}),
        "decision.approved_items[0]": ("overturned", {"outcome": "approve", "approved_items": ["genetic"]}),
        "decision.outcome": ("overturned", {"outcome": "refer"}),
    }
    for field, (outcome, decision) in invalid.items():
        response = await answer(client, request["id"], guardian(tokens), outcome, decision)
        assert response.status_code == 422, response.text
        assert [error["field"] for error in response.json()["errors"]] == [field]
    for outcome, decision in (
        ("upheld", {"outcome": "approve"}),
        ("overturned", {"outcome": "refuse"}),
    ):  # a new decision only when overturned, and a new one
        response = await answer(client, request["id"], guardian(tokens), outcome, decision)
        assert (response.status_code, [error["field"] for error in response.json()["errors"]]) == (422, ["decision"])
    assert (await read(client, tokens, request["id"]))["status"] == "in_reconsideration"


async def test_reconsideration_is_asked_for_within_the_window_the_notice_gives(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, requester: str
) -> None:
    request = await submitted(client, tokens, REFUSED, "refused")
    deadline = (
        await client.get(f"/v1/sharing-requests/{request['id']}/notice", headers=tokens.agency("RXT01"))
    ).json()["reconsideration"]["deadline"]
    assert datetime.fromisoformat(deadline) == datetime.fromisoformat(request["decision"]["decided_at"]) + timedelta(
        days=28
    )
    async with app.state.wiring.engine.begin() as connection:  # 28 days and a minute pass
        decided_at = datetime.now(UTC) - timedelta(days=28, minutes=1)
        await connection.execute(
            update(Decision).where(col(Decision.id) == request["decision"]["id"]).values(decided_at=decided_at)
        )
    late = await ask(client, tokens, request["id"])
    assert (late.status_code, late.json()["current_status"]) == (409, "refused"), late.text
    assert "has passed" in late.json()["detail"]
    async with app.state.wiring.engine.begin() as connection:  # a day earlier it is still open
        await connection.execute(
            update(Decision)
            .where(col(Decision.id) == request["decision"]["id"])
            .values(decided_at=decided_at + timedelta(days=1))
        )
    assert (await ask(client, tokens, request["id"])).status_code == 201


async def test_no_member_of_the_panel_that_decided_may_reconsider_its_decision(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, requester: str
) -> None:
    request_id = await panels.opened(client, tokens)
    for number, choice in ((1, "refuse"), (2, "refuse"), (3, "approve")):
        assert (await panels.vote(client, tokens, request_id, number, choice)).status_code == 201
    decided = await panels.close(client, tokens, request_id)
    assert (decided.status_code, decided.json()["outcome"]) == (200, "refuse"), decided.text
    assert (await ask(client, tokens, request_id)).status_code == 201

    chair = await post(client, request_id, "claim", guardian(tokens, 1))
    assert chair.status_code == 403 and "other than the one who made it" in chair.json()["detail"]
    for number in (2, 3):  # a member who voted for the decision, and one who voted against it
        voter = await post(client, request_id, "claim", guardian(tokens, number))
        assert (voter.status_code, voter.headers["content-type"]) == (403, "application/problem+json"), voter.text
        assert "did not sit on that panel" in voter.json()["detail"]
    assert (await post(client, request_id, "claim", guardian(tokens, 4))).status_code == 200
    # Even holding the claim (set in the database: the API would not give it), a member may not decide it.
    claim = {
        "assignee_sub": "guardian-2",
        "assignee_org": "CONTROLLER",
        "claim_expires_at": datetime.now(UTC) + timedelta(minutes=30),
    }
    await set_columns(app, request_id, **claim)
    held = await answer(client, request_id, guardian(tokens, 2), "upheld")
    assert held.status_code == 403 and "did not sit on that panel" in held.json()["detail"], held.text
    assert (await read(client, tokens, request_id))["status"] == "in_reconsideration"
    await set_columns(app, request_id, assignee_sub="guardian-4")
    upheld = await answer(client, request_id, guardian(tokens, 4), "upheld")
    assert (upheld.status_code, upheld.json()["decided_by"]) == (200, "guardian-4"), upheld.text


async def test_a_guardian_whose_second_opinion_the_decision_weighed_may_not_reconsider_it(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request = await submitted(client, tokens, REFERRED, "awaiting_review")
    request_id = request["id"]
    assert (await post(client, request_id, "claim", guardian(tokens, 1))).status_code == 200
    question = {
        "proposed_outcome": "refuse",
        "question": "I propose to refuse the onward sharing as unnecessary. Do you agree?",
    }
    assert (
        await post(
            client,
            request_id,
            "opinions/requests",
            guardian(tokens, 1),
            question | {"guardian": {"sub": "guardian-2", "org": "CONTROLLER"}},
        )
    ).status_code == 201
    assert (
        await post(client, request_id, "opinions", guardian(tokens, 2), {"opinion": "agree", "rationale": RATIONALE})
    ).status_code == 201
    refused = await post(
        client, request_id, "review", guardian(tokens, 1), {"outcome": "refuse", "rationale": RATIONALE}
    )
    assert (refused.status_code, [o["given_by"] for o in refused.json()["opinions"]]) == (200, ["guardian-2"]), (
        refused.text
    )
    assert (await ask(client, tokens, request_id)).status_code == 201

    adviser = await post(client, request_id, "claim", guardian(tokens, 2))
    assert (adviser.status_code, adviser.headers["content-type"]) == (403, "application/problem+json"), adviser.text
    assert "second opinion" in adviser.json()["detail"]
    assert (await post(client, request_id, "claim", guardian(tokens, 3))).status_code == 200
    assert (await answer(client, request_id, guardian(tokens, 3), "upheld")).status_code == 200
