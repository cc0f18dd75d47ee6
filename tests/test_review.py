"""The guardian review workflow over HTTP: queue, claims, decisions, amendments, withdrawal, history, metrics."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from app.models.sharing_request import SharingRequest
from app.models.vocabulary import RequestStatus, Role, Urgency
from app.rules.response_times import due_at
from tests.factories import EMERGENCY, REFERRED, register_organisation, submit
from tests.rules.baseline import POLICY, baseline_request, changed, item
from tests.support import Tokens

RATIONALE = "Shared care plan agreed with the recipient; onward sharing limited to the named team."


def guardian(tokens: Tokens, number: int = 1, org: str = "CONTROLLER") -> dict[str, str]:
    return tokens.headers(org, Role.GUARDIAN, sub=f"guardian-{number}")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def referred(client: httpx.AsyncClient, tokens: Tokens, **changes: Any) -> dict[str, Any]:
    response = await submit(client, tokens, changed(REFERRED | changes))
    assert response.status_code == 201 and response.json()["status"] == "awaiting_review", response.text
    return response.json()


async def set_columns(app: FastAPI, request_id: str, **values: Any) -> None:
    """Move a request's clock in the database, as time passing would."""
    async with app.state.wiring.engine.begin() as connection:
        await connection.execute(update(SharingRequest).where(SharingRequest.id == request_id).values(**values))


async def act(
    client: httpx.AsyncClient, request_id: str, action: str, headers: dict[str, str], body: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.post(f"/v1/sharing-requests/{request_id}/{action}", json=body, headers=headers)


async def claimed(client: httpx.AsyncClient, tokens: Tokens, **changes: Any) -> dict[str, Any]:
    request = await referred(client, tokens, **changes)
    response = await act(client, request["id"], "claim", guardian(tokens))
    assert response.status_code == 200 and response.json()["status"] == "in_review", response.text
    return request


@pytest.fixture
async def requester(client: httpx.AsyncClient, tokens: Tokens) -> str:
    await register_organisation(client, tokens, "RXT01")
    return "RXT01"


async def queue(client: httpx.AsyncClient, tokens: Tokens, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/review-queue", params=params, headers=guardian(tokens))
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_referred_requests_wait_in_the_queue_most_urgent_first(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    routine = await referred(client, tokens, reference="routine")
    urgent = await referred(client, tokens, reference="urgent", urgency="urgent")
    emergency = await referred(client, tokens, reference="emergency", urgency="emergency")
    approved = (await submit(client, tokens, baseline_request())).json()

    entries = await queue(client, tokens)
    assert [entry["id"] for entry in entries] == [emergency["id"], urgent["id"], routine["id"]]
    assert approved["id"] not in {entry["id"] for entry in entries}
    for entry in entries:
        assert at(entry["due_at"]) == due_at(POLICY, Urgency(entry["urgency"]), at(entry["referred_at"]))
        assert entry["overdue"] is False and entry["review"] == "referral" and entry["assignee"] is None
    assert at(entries[0]["due_at"]) - at(entries[0]["referred_at"]) == timedelta(hours=1)

    assert [e["id"] for e in await queue(client, tokens, urgency="urgent")] == [urgent["id"]]
    assert await queue(client, tokens, purpose="research") == []
    first_page = (await client.get("/v1/review-queue", params={"limit": 2}, headers=guardian(tokens))).json()
    second_page = (
        await client.get(
            "/v1/review-queue", params={"limit": 2, "cursor": first_page["next_cursor"]}, headers=guardian(tokens)
        )
    ).json()
    assert [e["id"] for e in first_page["items"] + second_page["items"]] == [
        emergency["id"],
        urgent["id"],
        routine["id"],
    ]
    assert second_page["next_cursor"] is None

    for role in (Role.AGENCY, Role.AUDITOR, Role.ADMIN):
        assert (await client.get("/v1/review-queue", headers=tokens.headers("CONTROLLER", role))).status_code == 403


async def test_overdue_is_flagged_and_filtered(
    client: httpx.AsyncClient, tokens: Tokens, requester: str, app: FastAPI
) -> None:
    late = await referred(client, tokens, reference="late")
    on_time = await referred(client, tokens, reference="on time")
    await set_columns(app, late["id"], due_at=datetime.now(UTC) - timedelta(minutes=5))

    assert [(e["id"], e["overdue"]) for e in await queue(client, tokens, overdue=True)] == [(late["id"], True)]
    assert [e["id"] for e in await queue(client, tokens, overdue=False)] == [on_time["id"]]
    assert [e["id"] for e in await queue(client, tokens)] == [late["id"], on_time["id"]]  # soonest due first


async def test_claim_release_and_the_claim_holder(client: httpx.AsyncClient, tokens: Tokens, requester: str) -> None:
    request = await claimed(client, tokens)
    [entry] = await queue(client, tokens, status="in_review")
    assert (entry["assignee"], entry["id"]) == ("guardian-1", request["id"])
    assert [e["id"] for e in await queue(client, tokens, assignee="guardian-1")] == [request["id"]]

    second = await act(client, request["id"], "claim", guardian(tokens, 2))
    assert second.status_code == 409 and second.json()["current_status"] == "in_review"
    assert (await act(client, request["id"], "release", guardian(tokens, 2))).status_code == 403
    released = await act(client, request["id"], "release", guardian(tokens))
    assert released.status_code == 200 and released.json()["status"] == "awaiting_review"
    assert (await act(client, request["id"], "claim", guardian(tokens, 2))).status_code == 200


async def test_concurrent_claims_have_exactly_one_winner(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    for _ in range(3):
        request = await referred(client, tokens)
        responses = await asyncio.gather(
            *(act(client, request["id"], "claim", guardian(tokens, number)) for number in range(1, 6))
        )
        codes = sorted(response.status_code for response in responses)
        assert codes == [200, 409, 409, 409, 409], [response.text for response in responses]
        history = (await client.get(f"/v1/sharing-requests/{request['id']}/history", headers=guardian(tokens))).json()
        claims = [
            entry for entry in history["items"] if entry["type"] == "state_change" and entry["action"] == "claimed"
        ]
        [entry] = [entry for entry in await queue(client, tokens, status="in_review") if entry["id"] == request["id"]]
        assert [claim["actor"] for claim in claims] == [entry["assignee"]]


async def test_a_guardian_never_reviews_their_own_organisations_request(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request = await referred(client, tokens)
    own = guardian(tokens, 9, org="RXT01")
    assert (await act(client, request["id"], "claim", own)).status_code == 403
    await act(client, request["id"], "claim", guardian(tokens))
    decided = await act(client, request["id"], "review", own, {"outcome": "approve", "rationale": RATIONALE})
    assert decided.status_code == 403


async def test_guardian_decisions_with_rationale(client: httpx.AsyncClient, tokens: Tokens, requester: str) -> None:
    request = await claimed(client, tokens)
    headers = guardian(tokens)
    invalid = {
        "rationale": {"outcome": "approve", "rationale": "too short"},
        "outcome": {"outcome": "maybe", "rationale": RATIONALE},
        "conditions": {"outcome": "approve_with_conditions", "rationale": RATIONALE},
        "approved_items[0]": {"outcome": "approve", "rationale": RATIONALE, "approved_items": ["genetic"]},
        "approved_items": {"outcome": "refuse", "rationale": RATIONALE, "approved_items": ["demographics"]},
    }
    for field, body in invalid.items():
        response = await act(client, request["id"], "review", headers, body)
        assert response.status_code == 422, field
        assert field in [error["field"] for error in response.json()["errors"]], (field, response.json())
    assert (
        await act(client, request["id"], "review", guardian(tokens, 2), {"outcome": "approve", "rationale": RATIONALE})
    ).status_code == 403

    partial = await act(
        client,
        request["id"],
        "review",
        headers,
        {
            "outcome": "approve_with_conditions",
            "rationale": RATIONALE,
            "conditions": ["Delete after the case closes"],
            "approved_items": ["demographics"],
        },
    )
    assert partial.status_code == 200, partial.text
    decision = partial.json()
    assert (decision["kind"], decision["outcome"], decision["decided_by"]) == (
        "guardian",
        "approve_with_conditions",
        "guardian-1",
    )
    assert decision["approved_items"] == ["demographics"] and decision["conditions"] == ["Delete after the case closes"]
    assert decision["rationale"] == RATIONALE
    assert {f["rule"]: f["result"] for f in decision["findings"] if f["result"] != "pass"} == {
        "CP4.onward_sharing": "refer"
    }

    read = (await client.get(f"/v1/sharing-requests/{request['id']}", headers=tokens.agency("RXT01"))).json()
    assert read["status"] == "approved_with_conditions" and read["decision"]["id"] == decision["id"]
    assert await queue(client, tokens) == []
    again = await act(client, request["id"], "review", headers, {"outcome": "refuse", "rationale": RATIONALE})
    assert again.status_code == 409 and again.json()["current_status"] == "approved_with_conditions"


async def test_amendment_loop_ends_in_approval_and_history_keeps_everything(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    await register_organisation(client, tokens, "LA-NSH", type="local_authority")
    request = await claimed(client, tokens)
    asked = await act(
        client,
        request["id"],
        "review",
        guardian(tokens),
        {"outcome": "request_information", "rationale": "Who is the onward recipient and under what agreement?"},
    )
    assert asked.status_code == 200
    assert (await client.get(f"/v1/sharing-requests/{request['id']}", headers=tokens.agency("RXT01"))).json()[
        "status"
    ] == "information_requested"

    fixed = {"request": changed({"recipient.onward_sharing": False}), "note": "No onward sharing after all."}
    assert (await act(client, request["id"], "amendments", tokens.agency("LA-NSH"), fixed)).status_code == 404
    assert (await act(client, request["id"], "amendments", guardian(tokens), fixed)).status_code == 403
    bad = await act(
        client,
        request["id"],
        "amendments",
        tokens.agency("RXT01"),
        {"request": changed({"urgency": "soon"}), "note": "x"},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "request.urgency"

    amended = await act(client, request["id"], "amendments", tokens.agency("RXT01"), fixed)
    assert amended.status_code == 200, amended.text
    assert (amended.json()["status"], amended.json()["version"]) == ("approved", 2)
    assert amended.json()["decision"]["kind"] == "rules"

    history = (
        await client.get(f"/v1/sharing-requests/{request['id']}/history", headers=tokens.agency("RXT01"))
    ).json()["items"]
    assert [
        (entry["type"], entry.get("version") or entry.get("action") or entry["decision"]["outcome"])
        for entry in history
    ] == [
        ("version", 1),
        ("decision", "refer"),
        ("state_change", "submitted"),
        ("state_change", "claimed"),
        ("decision", "request_information"),
        ("state_change", "information_requested"),
        ("version", 2),
        ("decision", "approve"),
        ("state_change", "amended"),
    ]
    assert history[6]["note"] == "No onward sharing after all."
    again = await act(client, request["id"], "amendments", tokens.agency("RXT01"), fixed)
    assert again.status_code == 409 and again.json()["current_status"] == "approved"
    assert (
        await client.get(f"/v1/sharing-requests/{request['id']}/history", headers=tokens.agency("LA-NSH"))
    ).status_code == 404


async def test_time_waiting_for_information_does_not_count(
    client: httpx.AsyncClient, tokens: Tokens, requester: str, app: FastAPI
) -> None:
    request = await claimed(client, tokens)
    [entry] = await queue(client, tokens)
    first_due = at(entry["due_at"])
    await act(
        client,
        request["id"],
        "review",
        guardian(tokens),
        {"outcome": "request_information", "rationale": "Please name the onward recipient and the agreement."},
    )
    assert await queue(client, tokens) == []  # paused requests leave the queue

    # Two days pass before the agency answers; the answer still needs a guardian.
    await set_columns(app, request["id"], paused_at=datetime.now(UTC) - timedelta(days=2))
    still_referred = {
        "request": changed(REFERRED | {"recipient.staff_trained": False}),
        "note": "Recipient named: the district nursing team.",
    }
    amended = await act(client, request["id"], "amendments", tokens.agency("RXT01"), still_referred)
    assert amended.json()["status"] == "awaiting_review"
    [entry] = await queue(client, tokens)
    shift = at(entry["due_at"]) - first_due
    assert timedelta(days=2) <= shift < timedelta(days=2, seconds=30)
    assert at(entry["referred_at"]) == at(request["created_at"])  # the clock still runs from the first referral


async def test_withdrawal_by_the_requesting_agency(client: httpx.AsyncClient, tokens: Tokens, requester: str) -> None:
    await register_organisation(client, tokens, "LA-NSH", type="local_authority")
    waiting = await referred(client, tokens)
    in_review = await claimed(client, tokens)
    asked = await claimed(client, tokens)
    await act(
        client,
        asked["id"],
        "review",
        guardian(tokens),
        {"outcome": "request_information", "rationale": "Please give the legal basis for onward sharing."},
    )

    assert (await act(client, waiting["id"], "withdraw", tokens.agency("LA-NSH"))).status_code == 404
    assert (await act(client, waiting["id"], "withdraw", guardian(tokens))).status_code == 403
    for request in (waiting, in_review, asked):
        response = await act(client, request["id"], "withdraw", tokens.agency("RXT01"))
        assert response.status_code == 200 and response.json()["status"] == "withdrawn"
    assert await queue(client, tokens) == []
    again = await act(client, waiting["id"], "withdraw", tokens.agency("RXT01"))
    assert again.status_code == 409 and again.json()["current_status"] == "withdrawn"


async def test_every_illegal_transition_is_a_409_naming_the_state(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    review_body = {"outcome": "approve", "rationale": RATIONALE}
    retro_body = {"outcome": "upheld", "rationale": RATIONALE}
    amend_body = {"request": baseline_request(), "note": "revised"}
    agency = tokens.agency("RXT01")

    async def in_state(state: str) -> dict[str, Any]:
        if state == "approved":
            return (await submit(client, tokens, baseline_request())).json()
        if state == "refused":
            return (await submit(client, tokens, changed({"recipient.storage_region": "other"}))).json()
        if state == "awaiting_review":
            return await referred(client, tokens)
        request = await claimed(client, tokens)
        if state == "information_requested":
            await act(
                client,
                request["id"],
                "review",
                guardian(tokens),
                {"outcome": "request_information", "rationale": RATIONALE},
            )
        if state == "withdrawn":
            await act(client, request["id"], "withdraw", agency)
        return request

    illegal = {
        "approved": [
            ("claim", guardian(tokens, 2), None),
            ("release", guardian(tokens), None),
            ("review", guardian(tokens), review_body),
            ("retrospective-review", guardian(tokens), retro_body),
            ("amendments", agency, amend_body),
            # Withdrawing an approval before anything is disclosed is legal: tests/test_disclosures.py.
        ],
        "refused": [
            ("claim", guardian(tokens, 2), None),
            ("review", guardian(tokens), review_body),
            ("amendments", agency, amend_body),
            ("withdraw", agency, None),
        ],
        "awaiting_review": [
            ("release", guardian(tokens), None),
            ("review", guardian(tokens), review_body),
            ("retrospective-review", guardian(tokens), retro_body),
            ("amendments", agency, amend_body),
        ],
        "in_review": [
            ("claim", guardian(tokens, 2), None),
            ("retrospective-review", guardian(tokens), retro_body),
            ("amendments", agency, amend_body),
        ],
        "information_requested": [
            ("claim", guardian(tokens, 2), None),
            ("release", guardian(tokens), None),
            ("review", guardian(tokens), review_body),
            ("retrospective-review", guardian(tokens), retro_body),
        ],
        "withdrawn": [
            ("claim", guardian(tokens, 2), None),
            ("release", guardian(tokens), None),
            ("review", guardian(tokens), review_body),
            ("amendments", agency, amend_body),
            ("withdraw", agency, None),
        ],
    }
    for state, attempts in illegal.items():
        request = await in_state(state)
        for action, headers, body in attempts:
            response = await act(client, request["id"], action, headers, body)
            assert response.status_code == 409, (state, action, response.text)
            assert response.json()["current_status"] == state, (state, action)
            assert response.headers["content-type"] == "application/problem+json"


async def test_an_emergency_share_is_reviewed_retrospectively(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    share = (await submit(client, tokens, changed(EMERGENCY))).json()
    assert (share["status"], share["review_required"], share["retrospective_review"]) == (
        "approved_with_conditions",
        True,
        "pending",
    )
    [entry] = await queue(client, tokens)
    assert (entry["id"], entry["review"], entry["status"]) == (share["id"], "retrospective", "approved_with_conditions")

    claimed_share = await act(client, share["id"], "claim", guardian(tokens))
    assert claimed_share.status_code == 200 and claimed_share.json()["status"] == "approved_with_conditions"
    assert (
        await act(client, share["id"], "review", guardian(tokens), {"outcome": "refuse", "rationale": RATIONALE})
    ).status_code == 409
    assert (
        await act(
            client, share["id"], "retrospective-review", guardian(tokens), {"outcome": "maybe", "rationale": RATIONALE}
        )
    ).status_code == 422
    judged = await act(
        client,
        share["id"],
        "retrospective-review",
        guardian(tokens),
        {"outcome": "not_upheld", "rationale": "Risk was not imminent; police should have sought consent."},
    )
    assert judged.status_code == 200, judged.text
    # The emergency share's outcome stands (the sharing is not undone); the review's judgement is its verdict.
    assert (judged.json()["kind"], judged.json()["outcome"], judged.json()["verdict"]) == (
        "retrospective",
        "approve_with_conditions",
        "not_upheld",
    )
    assert judged.json()["conditions"] == share["decision"]["conditions"]

    read = (await client.get(f"/v1/sharing-requests/{share['id']}", headers=tokens.agency("RXT01"))).json()
    assert (read["status"], read["retrospective_review"]) == (
        "approved_with_conditions",
        "not_upheld",
    )  # the sharing is not undone
    assert await queue(client, tokens) == []
    metrics = (await client.get("/v1/reports/review-metrics", headers=guardian(tokens))).json()
    assert metrics["retrospective_reviews"] == {"upheld": 0, "not_upheld": 1}


async def test_a_lapsed_claim_returns_to_the_queue(
    client: httpx.AsyncClient, tokens: Tokens, requester: str, app: FastAPI
) -> None:
    request = await claimed(client, tokens)
    await set_columns(app, request["id"], claim_expires_at=datetime.now(UTC) - timedelta(seconds=1))

    [entry] = await queue(client, tokens)
    assert (entry["status"], entry["assignee"]) == ("awaiting_review", None)
    late = await act(client, request["id"], "review", guardian(tokens), {"outcome": "approve", "rationale": RATIONALE})
    assert late.status_code == 409 and late.json()["current_status"] == "awaiting_review"
    assert (await act(client, request["id"], "claim", guardian(tokens, 2))).status_code == 200
    history = (await client.get(f"/v1/sharing-requests/{request['id']}/history", headers=guardian(tokens))).json()[
        "items"
    ]
    expired = [entry for entry in history if entry.get("action") == "claim_expired"]
    assert len(expired) == 1 and expired[0]["actor"] == "system" and expired[0]["to_status"] == "awaiting_review"


async def test_reading_a_lapsed_claim_changes_nothing(
    client: httpx.AsyncClient, tokens: Tokens, requester: str, app: FastAPI
) -> None:
    request = await claimed(client, tokens)
    path = f"/v1/sharing-requests/{request['id']}"
    held_tag = (await client.get(path, headers=guardian(tokens))).headers["etag"]
    await set_columns(app, request["id"], claim_expires_at=datetime.now(UTC) - timedelta(seconds=1))

    # Read as unclaimed, by every read and filter, with an ETag of its own (what a reader sees has changed) ...
    [entry] = await queue(client, tokens)
    assert (entry["status"], entry["assignee"], entry["claim_expires_at"]) == ("awaiting_review", None, None)
    assert [item["id"] for item in await queue(client, tokens, status="awaiting_review")] == [request["id"]]
    assert await queue(client, tokens, status="in_review") == []
    assert await queue(client, tokens, assignee="guardian-1") == []
    read = await client.get(path, headers=guardian(tokens))
    assert read.json()["status"] == "awaiting_review"
    assert read.headers["etag"] == held_tag.removesuffix('"') + '-lapsed"'
    listed = await client.get("/v1/sharing-requests", params={"status": "awaiting_review"}, headers=guardian(tokens))
    assert [item["id"] for item in listed.json()["items"]] == [request["id"]]
    # ... but the row is as it was: no read returned the claim (the listing could answer 409 when it did).
    async with app.state.wiring.sessionmaker() as session:
        row = await session.get(SharingRequest, request["id"])
        assert row is not None and (row.status, row.assignee_sub) == ("in_review", "guardian-1")
    history = (await client.get(f"{path}/history", headers=guardian(tokens))).json()["items"]
    assert not [item for item in history if item.get("action") == "claim_expired"]

    # The next write returns it first, then makes its own move; If-Match with the tag read during the lapse holds.
    claim = await client.post(f"{path}/claim", headers=guardian(tokens, 2) | {"If-Match": read.headers["etag"]})
    assert claim.status_code == 200, claim.text
    history = (await client.get(f"{path}/history", headers=guardian(tokens))).json()["items"]
    assert [item["action"] for item in history if item["type"] == "state_change"][-2:] == ["claim_expired", "claimed"]


def test_a_lapsed_claim_reads_as_the_workflow_returns_it() -> None:
    # The read side's table (models.sharing_request) is the workflow's EXPIRE_CLAIM rows, status by status.
    from app.models.sharing_request import LAPSED_CLAIM_STATUS
    from app.services.review.workflow import TRANSITIONS, Move

    returned = {
        RequestStatus(stage.value): step.status
        for (stage, move), step in TRANSITIONS.items()
        if move is Move.EXPIRE_CLAIM and step.status is not None
    }
    assert returned == LAPSED_CLAIM_STATUS


async def test_a_claim_on_a_claimed_request_names_who_holds_it_and_until_when(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request = await claimed(client, tokens)
    read = (await client.get("/v1/review-queue", headers=guardian(tokens))).json()["items"][0]
    second = await act(client, request["id"], "claim", guardian(tokens, 2))
    assert second.status_code == 409
    problem = second.json()
    assert problem["type"] == "/problems/conflict" and problem["current_status"] == "in_review"
    assert problem["held_by"] == "guardian-1"
    assert at(problem["held_until"]) == at(read["claim_expires_at"])
    assert "guardian-1" in problem["detail"]


async def test_review_metrics_from_a_known_set_of_decisions(
    client: httpx.AsyncClient, tokens: Tokens, requester: str, app: FastAPI
) -> None:
    now = datetime.now(UTC)
    plans = [  # (urgency, hours waited, guardian outcome, body changes)
        ("routine", 1, "approve", {}),
        ("routine", 2, "refuse", {}),
        ("routine", 3, "approve_with_conditions", {"recipient.staff_trained": False}),
        ("urgent", 4, "approve", {}),
    ]
    for urgency, hours, outcome, changes in plans:
        request = await claimed(client, tokens, urgency=urgency, **changes)
        await set_columns(app, request["id"], referred_at=now - timedelta(hours=hours))
        body = {"outcome": outcome, "rationale": RATIONALE} | (
            {"conditions": ["Train the staff first"]} if outcome == "approve_with_conditions" else {}
        )
        assert (await act(client, request["id"], "review", guardian(tokens), body)).status_code == 200
    info = await claimed(client, tokens)
    await act(
        client, info["id"], "review", guardian(tokens), {"outcome": "request_information", "rationale": RATIONALE}
    )
    late = await referred(client, tokens)
    await set_columns(app, late["id"], due_at=now - timedelta(hours=1))

    response = await client.get("/v1/reports/review-metrics", headers=tokens.headers("CONTROLLER", Role.AUDITOR))
    assert response.status_code == 200, response.text
    metrics = response.json()
    assert metrics["decisions"]["approve"] == {"emergency": 0, "urgent": 1, "routine": 1}
    assert metrics["decisions"]["refuse"]["routine"] == 1
    assert metrics["decisions"]["approve_with_conditions"]["routine"] == 1
    assert metrics["decisions"]["request_information"]["routine"] == 1
    routine = metrics["time_to_decision"]["routine"]
    assert routine["decisions"] == 3
    assert abs(routine["median_seconds"] - 7200) < 60 and abs(routine["p90_seconds"] - 10080) < 60
    assert abs(metrics["time_to_decision"]["urgent"]["median_seconds"] - 14400) < 60
    assert metrics["time_to_decision"]["emergency"] == {"decisions": 0, "median_seconds": None, "p90_seconds": None}
    assert metrics["overdue_now"] == 1
    # Setting referrals aside the rules would have approved three and approved one with conditions;
    # the guardian refused one of the approvals, so one of four decisions overturned the rules.
    assert (metrics["overturns"]["decisions"], metrics["overturns"]["overturned"]) == (4, 1)
    assert metrics["overturns"]["rate"] == 0.25

    yesterday = (now - timedelta(days=1)).date().isoformat()
    empty = (
        await client.get(
            "/v1/reports/review-metrics", params={"from": "2020-01-01", "to": "2020-01-31"}, headers=guardian(tokens)
        )
    ).json()
    assert empty["overturns"]["decisions"] == 0 and empty["overdue_now"] == 1
    backwards = await client.get(
        "/v1/reports/review-metrics", params={"from": yesterday, "to": "2020-01-01"}, headers=guardian(tokens)
    )
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "to"
    assert (await client.get("/v1/reports/review-metrics", headers=tokens.agency("RXT01"))).status_code == 403


async def test_partial_approval_names_only_requested_items(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request = await claimed(client, tokens, data_items=[item("demographics"), item("diagnoses"), item("medications")])
    decided = await act(
        client,
        request["id"],
        "review",
        guardian(tokens),
        {"outcome": "approve", "rationale": RATIONALE, "approved_items": ["demographics", "medications"]},
    )
    assert decided.status_code == 200
    assert decided.json()["approved_items"] == ["demographics", "medications"]


async def test_the_history_pages_like_every_list(client: httpx.AsyncClient, tokens: Tokens, requester: str) -> None:
    request = await claimed(client, tokens)
    for _ in range(3):
        assert (await act(client, request["id"], "release", guardian(tokens))).status_code == 200
        assert (await act(client, request["id"], "claim", guardian(tokens))).status_code == 200
    path = f"/v1/sharing-requests/{request['id']}/history"
    whole = (await client.get(path, params={"limit": 200}, headers=guardian(tokens))).json()
    assert whole["next_cursor"] is None and whole["request_id"] == request["id"]
    assert len(whole["items"]) == 10  # version, decision, submitted, then 4 claims and 3 releases

    paged, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(path, params=params, headers=guardian(tokens))).json()
        assert len(page["items"]) <= 2
        paged += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == whole["items"]
    forged = await client.get(path, params={"cursor": "forged"}, headers=guardian(tokens))
    assert forged.status_code == 422 and forged.json()["errors"][0]["field"] == "cursor"
