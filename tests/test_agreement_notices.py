"""The webhook worker announces an agreement's review date and end once each per date, signed, to the owner's, the
parties' and the controller's receivers."""

import asyncio
from datetime import date, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func
from sqlmodel import col, select
from standardwebhooks import Webhook

from app.models.audit import AuditEvent
from app.models.base import utcnow
from app.models.webhook import OutboxEvent
from app.services.agreements import notices as agreement_notices
from app.services.sharing_requests.facts import today_in_london
from app.services.webhooks import worker as delivery
from tests.factories import patch_current, register_agreement, register_organisation
from tests.support import Tokens
from tests.webhook_receiver import Receiver

REVIEW_DUE, EXPIRING = "sharing_agreement.review_due", "sharing_agreement.expiring"
BOTH = [REVIEW_DUE, EXPIRING]
REVIEW, END = date(2031, 6, 30), date(2031, 12, 31)


async def endpoint(
    client: httpx.AsyncClient, receiver: Receiver, headers: dict[str, str], path: str, event_types: list[str]
) -> dict[str, Any]:
    response = await client.post(
        "/v1/webhook-endpoints", json={"url": receiver.url(path), "event_types": event_types}, headers=headers
    )
    assert response.status_code == 201, response.text
    receiver.secrets[path] = response.json()["secret"]
    return response.json()


async def check(application: FastAPI, today: date) -> list[tuple[str, str, str, int]]:
    """The worker's check on `today`, its deliveries sent; (code, kind, date, days left) of each notice."""
    sent = await agreement_notices.check(application.state.wiring.sessionmaker, today=today)
    await delivery.drain(sessionmaker=application.state.wiring.sessionmaker, settings=application.state.wiring.settings)
    return [(notice.code, str(notice.kind), notice.for_date.isoformat(), notice.days_left) for notice in sent]


def received(receiver: Receiver, path: str) -> list[tuple[str, str, int]]:
    """(type, date, days left) of each verified notice the path was sent, in order."""
    deliveries = receiver.at(path)
    assert all(delivery.verified for delivery in deliveries), path
    return [(d.payload["type"], d.payload["data"]["date"], d.payload["data"]["days_left"]) for d in deliveries]


async def parties_and_receivers(
    client: httpx.AsyncClient, tokens: Tokens, receiver: Receiver
) -> dict[str, dict[str, Any]]:
    """An owner and two parties, an organisation with no part in the agreement,
    and each one's receiver; the controller's."""
    for code in ("OWN01", "RXT01", "NSC01", "OTH01"):
        await register_organisation(client, tokens, code)
    return {
        "/owner": await endpoint(client, receiver, tokens.agency("OWN01"), "/owner", BOTH),
        "/party": await endpoint(client, receiver, tokens.agency("RXT01"), "/party", [REVIEW_DUE]),
        "/party-decisions": await endpoint(
            client, receiver, tokens.agency("NSC01"), "/party-decisions", ["sharing_request.decided"]
        ),
        "/other": await endpoint(client, receiver, tokens.agency("OTH01"), "/other", BOTH),
        "/controller": await endpoint(client, receiver, tokens.admin(), "/controller", BOTH),
    }


async def test_the_review_and_the_end_are_each_announced_once_and_a_moved_date_again(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    endpoints = await parties_and_receivers(hooks, tokens, receiver)
    dates = {"valid_from": "2030-01-01", "valid_until": END.isoformat(), "review_date": REVIEW.isoformat()}
    await register_agreement(
        hooks,
        tokens,
        code="ISA-NSH",
        title="Northshire integrated care",
        parties=["RXT01", "NSC01"],
        owner="OWN01",
        **dates,
    )
    await register_agreement(
        hooks, tokens, code="ISA-SUSPENDED", parties=["RXT01"], owner="OWN01", status="suspended", **dates
    )
    await register_agreement(
        hooks,
        tokens,
        code="ISA-ENDED",
        parties=["RXT01"],
        owner="OWN01",
        valid_from="2030-01-01",
        valid_until="2031-04-29",
    )

    assert await check(hook_app, REVIEW - timedelta(days=31)) == []
    assert await check(hook_app, REVIEW - timedelta(days=30)) == [("ISA-NSH", "review_due", "2031-06-30", 30)]
    assert await check(hook_app, REVIEW - timedelta(days=29)) == []
    assert await check(hook_app, REVIEW - timedelta(days=29)) == []  # a second worker round the same day

    # The admin moves the review: the notice re-arms for the new date, from 30 days before it.
    moved = await patch_current(
        hooks, "/v1/sharing-agreements/ISA-NSH", json={"review_date": "2031-07-15"}, headers=tokens.admin()
    )
    assert moved.status_code == 200, moved.text
    assert await check(hook_app, date(2031, 6, 14)) == []
    assert await check(hook_app, date(2031, 6, 15)) == [("ISA-NSH", "review_due", "2031-07-15", 30)]
    assert await check(hook_app, date(2031, 6, 16)) == []
    # Moved into the window, it is announced at the next look, with the days actually left.
    assert (
        await patch_current(
            hooks, "/v1/sharing-agreements/ISA-NSH", json={"review_date": "2031-06-20"}, headers=tokens.admin()
        )
    ).status_code == 200
    assert await check(hook_app, date(2031, 6, 16)) == [("ISA-NSH", "review_due", "2031-06-20", 4)]

    assert await check(hook_app, END - timedelta(days=31)) == []
    assert await check(hook_app, END - timedelta(days=30)) == [("ISA-NSH", "expiring", "2031-12-31", 30)]
    assert await check(hook_app, END - timedelta(days=29)) == []
    assert await check(hook_app, END) == []
    assert await check(hook_app, END + timedelta(days=1)) == []

    reviews = [(REVIEW_DUE, "2031-06-30", 30), (REVIEW_DUE, "2031-07-15", 30), (REVIEW_DUE, "2031-06-20", 4)]
    assert received(receiver, "/owner") == received(receiver, "/controller") == [*reviews, (EXPIRING, "2031-12-31", 30)]
    assert received(receiver, "/party") == reviews  # it subscribes to review notices only
    assert received(receiver, "/party-decisions") == received(receiver, "/other") == []

    first = receiver.at("/owner")[0]
    Webhook(endpoints["/owner"]["secret"]).verify(first.body, first.headers)  # the independent check, in the open
    assert first.headers["content-type"] == "application/json"
    assert first.payload["data"] == {
        "code": "ISA-NSH",
        "title": "Northshire integrated care",
        "date": "2031-06-30",
        "days_left": 30,
        "owner": "OWN01",
        "parties": ["RXT01", "NSC01"],
        "link": "/v1/sharing-agreements/ISA-NSH",
    }
    expiring = receiver.at("/controller")[-1].payload
    assert (
        expiring["type"] == EXPIRING
        and expiring["data"]["date"] == "2031-12-31"
        and expiring["timestamp"].endswith("Z")
    )

    history = await hooks.get(
        f"/v1/webhook-endpoints/{endpoints['/owner']['id']}/deliveries", headers=tokens.agency("OWN01")
    )
    assert sorted((row["event_type"], row["request_id"], row["status"]) for row in history.json()["items"]) == sorted(
        [(REVIEW_DUE, None, "succeeded")] * 3 + [(EXPIRING, None, "succeeded")]
    )
    async with hook_app.state.wiring.sessionmaker() as session:
        trail = (
            await session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.target_type) == "sharing_agreement")
                .order_by(col(AuditEvent.seq))
            )
        ).all()
    announced = [
        (event.action, event.target_id, event.actor_sub, event.outcome)
        for event in trail
        if event.action.endswith("_announced")
    ]
    assert announced == [
        ("agreement_review_due_announced", "ISA-NSH", "system", "review_due 2031-06-30, 30 days left"),
        ("agreement_review_due_announced", "ISA-NSH", "system", "review_due 2031-07-15, 30 days left"),
        ("agreement_review_due_announced", "ISA-NSH", "system", "review_due 2031-06-20, 4 days left"),
        ("agreement_expiring_announced", "ISA-NSH", "system", "expiring 2031-12-31, 30 days left"),
    ]


async def test_a_review_date_already_past_when_first_seen_is_announced_once(
    hooks: httpx.AsyncClient, tokens: Tokens, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    await register_agreement(
        hooks, tokens, parties=["RXT01"], valid_from="2030-01-01", valid_until="2032-12-31", review_date="2031-01-31"
    )
    assert await check(hook_app, date(2031, 3, 1)) == [("ISA-TEST", "review_due", "2031-01-31", -29)]
    assert await check(hook_app, date(2031, 3, 2)) == []
    # Suspended, then active again: the date was announced already.
    for status in ("suspended", "active"):
        assert (
            await patch_current(
                hooks, "/v1/sharing-agreements/ISA-TEST", json={"status": status}, headers=tokens.admin()
            )
        ).status_code == 200
        assert await check(hook_app, date(2031, 3, 3)) == []


async def test_workers_looking_at_once_announce_each_date_once(
    hooks: httpx.AsyncClient, tokens: Tokens, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    codes = [f"ISA-{number}" for number in range(6)]
    for code in codes:
        await register_agreement(
            hooks,
            tokens,
            code=code,
            parties=["RXT01"],
            valid_from="2030-01-01",
            valid_until="2031-07-10",
            review_date="2031-07-01",
        )
    sessionmaker = hook_app.state.wiring.sessionmaker
    looks = await asyncio.gather(*(agreement_notices.check(sessionmaker, today=date(2031, 6, 20)) for _ in range(4)))
    sent = sorted((notice.code, str(notice.kind)) for look in looks for notice in look)
    assert sent == sorted((code, kind) for code in codes for kind in ("review_due", "expiring"))
    async with sessionmaker() as session:
        assert (await session.exec(select(func.count()).select_from(OutboxEvent))).one() == len(codes) * 2


async def test_the_worker_looks_as_it_starts(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    await endpoint(hooks, receiver, tokens.agency("RXT01"), "/party", BOTH)
    today = today_in_london(utcnow())
    await register_agreement(
        hooks,
        tokens,
        parties=["RXT01"],
        valid_from=(today - timedelta(days=300)).isoformat(),
        valid_until=(today + timedelta(days=9)).isoformat(),
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(
        delivery.run(
            sessionmaker=hook_app.state.wiring.sessionmaker,
            settings=hook_app.state.wiring.settings,
            keys=hook_app.state.wiring.audit_keys,
            stop=stop,
        )
    )
    try:
        for _ in range(300):  # at most half a minute
            if receiver.processed:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # further rounds of the worker send nothing more
    finally:
        stop.set()
        await worker
    assert received(receiver, "/party") == [(EXPIRING, (today + timedelta(days=9)).isoformat(), 9)]
    assert len(receiver.processed) == 1, receiver.received
