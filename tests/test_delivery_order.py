"""A sharing request's deliveries to one endpoint arrive in the order of its events; other requests' go on meanwhile.
And bulk redelivery since a time, which re-queues them in that order.

Over real HTTP to the tests' receiver (tests/webhook_receiver.py), on SQLite and PostgreSQL.
"""

import httpx
from fastapi import FastAPI

from app.models.base import utcnow
from app.models.vocabulary import Role
from app.services.webhooks import attempts
from tests.factories import REFERRED, register_organisation, submit
from tests.rules.baseline import changed
from tests.support import Tokens
from tests.test_webhooks import deliveries, drain, register_endpoint
from tests.webhook_receiver import Receiver


async def referred_then_withdrawn(client: httpx.AsyncClient, tokens: Tokens) -> str:
    """A request with two events: referred (sequence 1), then withdrawn (2), both due at once."""
    response = await submit(client, tokens, changed(REFERRED))
    assert response.status_code == 201, response.text
    request_id = str(response.json()["id"])
    withdrawn = await client.post(f"/v1/sharing-requests/{request_id}/withdraw", headers=tokens.agency("RXT01"))
    assert withdrawn.status_code == 200, withdrawn.text
    return request_id


def arrived(receiver: Receiver) -> list[tuple[str, str, int, int]]:
    """(request, type, sequence, answer) of each request the receiver was sent, in the order they came."""
    return [
        (received.payload["data"]["id"], received.payload["type"], received.payload["data"]["sequence"], status)
        for received, status in zip(receiver.received, receiver.statuses, strict=True)
    ]


async def test_a_later_event_waits_while_an_earlier_one_is_retried(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    await register_endpoint(hooks, receiver, tokens.agency("RXT01"))
    receiver.answer(500)  # the first attempt of the first event fails; its retry is due at once
    request_id = await referred_then_withdrawn(hooks, tokens)
    assert await drain(hook_app) == 3
    assert arrived(receiver) == [
        (request_id, "sharing_request.referred", 1, 500),
        (request_id, "sharing_request.referred", 1, 200),
        (request_id, "sharing_request.withdrawn", 2, 200),  # never before its predecessor was delivered
    ]


async def test_an_earlier_event_given_up_on_lets_the_next_go(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    await register_endpoint(hooks, receiver, tokens.agency("RXT01"))
    receiver.answer(500, 500, 500)  # every attempt of the schedule ([0, 0, 0] here) fails
    request_id = await referred_then_withdrawn(hooks, tokens)
    assert await drain(hook_app) == 4
    assert [entry[1:] for entry in arrived(receiver)] == [
        ("sharing_request.referred", 1, 500),
        ("sharing_request.referred", 1, 500),
        ("sharing_request.referred", 1, 500),
        ("sharing_request.withdrawn", 2, 200),
    ]
    assert {entry[0] for entry in arrived(receiver)} == {request_id}


async def test_other_requests_are_sent_in_parallel(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    await register_endpoint(hooks, receiver, tokens.agency("RXT01"))
    requests = [await referred_then_withdrawn(hooks, tokens) for _ in range(3)]
    jobs = await attempts.claim(
        sessionmaker=hook_app.state.wiring.sessionmaker,
        settings=hook_app.state.wiring.settings,
        worker_id="test-worker",
        now=utcnow(),
    )
    # One claim takes the first event of every request at once, and none of the second events behind them.
    assert sorted(job.request_id or "" for job in jobs) == sorted(requests)
    assert all(b'"sequence":1' in job.body for job in jobs)


async def test_bulk_redelivery_since_a_time_sends_every_delivery_again_in_order(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    for code in ("RXT01", "RXT02"):
        await register_organisation(hooks, tokens, code)
    agency = tokens.agency("RXT01")
    endpoint = await register_endpoint(hooks, receiver, agency)
    before = await referred_then_withdrawn(hooks, tokens)
    receiver.answer(500, 500, 500)  # the first event given up on; the second then delivered
    assert await drain(hook_app) == 3 + 1
    since = utcnow()
    request_id = await referred_then_withdrawn(hooks, tokens)
    assert await drain(hook_app) == 2
    sent_before = list(receiver.received)
    base = f"/v1/webhook-endpoints/{endpoint['id']}/redeliveries"

    only_failed = await hooks.post(base, json={"since": "2020-01-01T00:00:00Z", "status": "failed"}, headers=agency)
    assert only_failed.status_code == 202, only_failed.text
    assert only_failed.json()["requeued"] == 1
    everything = await hooks.post(base, json={"since": since.isoformat()}, headers=agency)
    assert (everything.status_code, everything.json()["requeued"]) == (202, 2)
    assert await drain(hook_app) == 3
    again = receiver.received[len(sent_before) :]
    assert sorted((received.payload["data"]["id"], received.payload["data"]["sequence"]) for received in again) == (
        sorted([(before, 1), (request_id, 1), (request_id, 2)])
    )
    later = [received for received in again if received.payload["data"]["id"] == request_id]
    assert [received.payload["data"]["sequence"] for received in later] == [1, 2]  # in order again
    original = {received.payload["data"]["sequence"]: received.webhook_id for received in sent_before[-2:]}
    assert {received.payload["data"]["sequence"]: received.webhook_id for received in later} == original  # same ids
    assert [delivery["status"] for delivery in await deliveries(hooks, agency, endpoint["id"])] == ["succeeded"] * 4

    for body, field in (
        ({"since": "2026-12-01T09:00:00"}, "since"),  # no offset
        ({}, "since"),
        ({"since": "2026-12-01T09:00:00Z", "status": "lost"}, "status"),
    ):
        refused = await hooks.post(base, json=body, headers=agency)
        assert refused.status_code == 422, body
        assert refused.json()["errors"][0]["field"] == field
    assert (
        await hooks.post(base, json={"since": "2020-01-01T00:00:00Z"}, headers=tokens.agency("RXT02"))
    ).status_code == 404
    disabled = await hooks.patch(f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": False}, headers=agency)
    assert disabled.status_code == 200
    assert (await hooks.post(base, json={"since": "2020-01-01T00:00:00Z"}, headers=agency)).status_code == 409
    auditor = tokens.headers("CONTROLLER", Role.AUDITOR)
    trail = await hooks.get("/v1/audit/events", params={"action": "webhook_redeliveries_requested"}, headers=auditor)
    assert sorted(event["outcome"] for event in trail.json()["items"]) == [
        "1 since 2020-01-01T00:00:00.000000Z failed",
        f"2 since {since:%Y-%m-%dT%H:%M:%S.%fZ}",
    ]
