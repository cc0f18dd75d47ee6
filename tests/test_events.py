"""Events a receiver can rely on: the requester's reference and a gap-free per-request sequence in every request
event, and `GET /v1/events` to catch up after an outage longer than the retry schedule.

Over real HTTP to the tests' receiver (tests/webhook_receiver.py), on SQLite and PostgreSQL.
"""

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col

from app.models.base import utcnow
from app.models.sharing_request import SharingRequest
from app.models.vocabulary import Role
from app.models.webhook import OutboxEvent
from app.services.webhooks import outbox
from tests.factories import REFERRED, register_organisation, submit
from tests.rules.baseline import changed
from tests.support import Tokens
from tests.test_webhooks import deliveries, drain, register_endpoint
from tests.webhook_receiver import Answer, Receiver

RATIONALE = "More is needed about the onward recipient before the share can be weighed."


async def referred(client: httpx.AsyncClient, tokens: Tokens, reference: str, org: str = "RXT01") -> str:
    response = await submit(client, tokens, changed(REFERRED | {"reference": reference}), org=org)
    assert response.status_code == 201 and response.json()["status"] == "awaiting_review", response.text
    return str(response.json()["id"])


async def act(client: httpx.AsyncClient, request_id: str, path: str, headers: dict[str, str], **body: Any) -> None:
    response = await client.post(f"/v1/sharing-requests/{request_id}/{path}", json=body or None, headers=headers)
    assert response.status_code in (200, 201), response.text


async def ask_information(client: httpx.AsyncClient, tokens: Tokens, request_id: str) -> None:
    guardian = tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")
    await act(client, request_id, "claim", guardian)
    await act(client, request_id, "review", guardian, outcome="request_information", rationale=RATIONALE)


async def every_event(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    """Every page of GET /v1/events, followed by its cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = await client.get(
            "/v1/events", params=params | ({"cursor": cursor} if cursor else {}), headers=headers
        )
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return items


async def test_each_request_event_carries_the_reference_and_a_gap_free_sequence(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    first = await referred(client, tokens, "CASE-1")
    second = await referred(client, tokens, "CASE-2")
    await ask_information(client, tokens, first)
    await act(client, first, "withdraw", agency)
    await act(client, second, "withdraw", agency)

    listed = await every_event(client, agency, limit=2)  # page by page
    assert [(event["data"]["id"], event["type"], event["data"]["sequence"]) for event in listed] == [
        (first, "sharing_request.referred", 1),
        (second, "sharing_request.referred", 1),
        (first, "sharing_request.information_requested", 2),
        (first, "sharing_request.withdrawn", 3),
        (second, "sharing_request.withdrawn", 2),
    ]
    assert {event["data"]["id"]: event["data"]["reference"] for event in listed} == {first: "CASE-1", second: "CASE-2"}
    assert set(listed[0]) == {"id", "type", "time", "data"}


async def test_an_agency_reads_only_its_own_events_and_an_admin_every_one(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    for code in ("RXT01", "RXT02"):
        await register_organisation(client, tokens, code)
    mine = await referred(client, tokens, "MINE", org="RXT01")
    theirs = await referred(client, tokens, "THEIRS", org="RXT02")
    assert [event["data"]["id"] for event in await every_event(client, tokens.agency("RXT01"))] == [mine]
    assert [event["data"]["id"] for event in await every_event(client, tokens.agency("RXT02"))] == [theirs]
    assert [event["data"]["id"] for event in await every_event(client, tokens.admin())] == [mine, theirs]
    guardian = await client.get("/v1/events", headers=tokens.headers("CONTROLLER", Role.GUARDIAN))
    assert guardian.status_code == 403


async def test_events_are_listed_from_since_and_within_the_retention(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    old, recent, newest = [await referred(client, tokens, reference) for reference in ("OLD", "RECENT", "NEWEST")]
    async with app.state.wiring.sessionmaker() as session:
        await session.exec(
            update(OutboxEvent)
            .where(col(OutboxEvent.request_id) == old)
            .values(created_at=utcnow() - timedelta(days=app.state.wiring.settings.events_retention_days, minutes=1))
        )
        await session.commit()
    listed = await every_event(client, agency)
    assert [event["data"]["id"] for event in listed] == [recent, newest]  # the old one is past the retention
    since = listed[1]["time"]
    assert [event["data"]["id"] for event in await every_event(client, agency, since=since)] == [newest]  # inclusive
    assert await every_event(client, agency, since="2000-01-01") == listed  # the retention bounds it still
    for bad in ("2026-12-01T09:00:00", "yesterday"):
        response = await client.get("/v1/events", params={"since": bad}, headers=agency)
        assert response.status_code == 422, bad
        assert response.json()["errors"][0]["field"] == "since"


async def test_a_receiver_back_from_an_outage_longer_than_the_retries_catches_up_in_order(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    endpoint = await register_endpoint(hooks, receiver, agency)
    first = await referred(hooks, tokens, "CASE-1")
    assert await drain(hook_app) == 1
    [seen] = receiver.processed.values()
    last_seen = seen.payload  # what the receiver keeps: the last event it processed

    receiver.always("/hook", Answer(503))  # down, longer than the whole retry schedule
    second = await referred(hooks, tokens, "CASE-2")
    await ask_information(hooks, tokens, first)
    await act(hooks, first, "withdraw", agency)
    await drain(hook_app)
    history = await deliveries(hooks, agency, endpoint["id"])
    assert [delivery["status"] for delivery in history] == ["failed"] * 3 + ["succeeded"]  # given up on, all three
    assert len(receiver.processed) == 1

    # Back: it reads the events since the last it processed, and skips what it holds (a request's id and sequence).
    del receiver.standing["/hook"]
    held = {(last_seen["data"]["id"], last_seen["data"]["sequence"])}
    caught_up = [
        event
        for event in await every_event(hooks, agency, since=last_seen["timestamp"], limit=1)
        if (event["data"]["id"], event["data"]["sequence"]) not in held
    ]
    assert [(event["data"]["id"], event["type"], event["data"]["sequence"]) for event in caught_up] == [
        (second, "sharing_request.referred", 1),
        (first, "sharing_request.information_requested", 2),
        (first, "sharing_request.withdrawn", 3),
    ]
    # Each is what the webhook would have carried.
    failed = {delivery["event_id"] for delivery in history if delivery["status"] == "failed"}
    assert {event["id"] for event in caught_up} == failed
    assert all(event["data"]["reference"] in ("CASE-1", "CASE-2") for event in caught_up)


async def test_a_change_rolled_back_leaves_no_gap_in_the_sequence(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    request_id = await referred(client, tokens, "CASE-1")
    async with app.state.wiring.sessionmaker() as session:
        request = await session.get(SharingRequest, request_id)
        assert request is not None
        assert await outbox.next_sequence(session=session, request=request, action=None) == 2
        await session.rollback()  # the change that took it failed: the number goes back
    await act(client, request_id, "withdraw", agency)
    assert [event["data"]["sequence"] for event in await every_event(client, agency)] == [1, 2]
