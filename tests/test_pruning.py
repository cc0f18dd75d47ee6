"""Housekeeping: delivered webhooks past CALDICOTT_WEBHOOK_RETENTION_DAYS are pruned in small batches;
nothing undelivered is touched."""

import asyncio
import time
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import col, func, select

from app.models.base import utcnow
from app.models.sharing_request import new_id
from app.models.webhook import (
    DeliveryStatus,
    EndpointScope,
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)
from app.services.webhooks import pruning
from app.services.webhooks import worker as delivery

NOW = utcnow()
OLD, RECENT = NOW - timedelta(days=100), NOW - timedelta(days=5)


class Outbox:
    """Writes events, deliveries and attempts as the worker would have left them, at chosen times."""

    def __init__(self, app: FastAPI):
        self.app, self.endpoint_ids = app, [new_id(), new_id()]  # an event has one delivery per endpoint

    async def endpoints(self) -> None:
        async with self.app.state.wiring.sessionmaker() as session, session.begin():
            for endpoint_id in self.endpoint_ids:
                endpoint = WebhookEndpoint(
                    id=endpoint_id,
                    owner_org="CONTROLLER",
                    scope=EndpointScope.CONTROLLER,
                    url="https://93.184.215.14/hook",
                )
                endpoint.event_types, endpoint.secret, endpoint.created_by = (
                    [str(WebhookEventType.POLICY_ACTIVATED)],
                    "whsec_test",
                    "admin-1",
                )
                session.add(endpoint)

    async def event(self, created_at: datetime, *deliveries: tuple[DeliveryStatus, datetime, int]) -> str:
        """An event and its deliveries, each (status, last updated, attempts made); the event's id."""
        event_id = new_id()
        async with self.app.state.wiring.sessionmaker() as session, session.begin():
            session.add(
                OutboxEvent(
                    id=event_id,
                    type=WebhookEventType.POLICY_ACTIVATED,
                    payload={"type": "policy.activated"},
                    created_at=created_at,
                )
            )
            await session.flush()
            for endpoint_id, (status, updated_at, attempts) in zip(self.endpoint_ids, deliveries, strict=False):
                due = (
                    NOW + timedelta(hours=1) if status is DeliveryStatus.PENDING else None
                )  # its next retry, not due yet
                row = WebhookDelivery(
                    event_id=event_id,
                    endpoint_id=endpoint_id,
                    status=status,
                    attempts_made=attempts,
                    next_attempt_at=due,
                    created_at=created_at,
                )
                row.updated_at = updated_at
                session.add(row)
                await session.flush()
                for number in range(1, attempts + 1):
                    session.add(
                        WebhookAttempt(
                            delivery_id=row.id,
                            number=number,
                            attempted_at=updated_at,
                            duration_ms=12,
                            response_status=200,
                        )
                    )
        return event_id

    async def left(self) -> dict[str, object]:
        """The events left, each with the statuses of its deliveries, and the number of attempts left."""
        async with self.app.state.wiring.sessionmaker() as session:
            events = {event_id: [] for event_id in (await session.exec(select(OutboxEvent.id))).all()}
            for event_id, status in (
                await session.exec(select(WebhookDelivery.event_id, WebhookDelivery.status))
            ).all():
                events[event_id].append(str(status))
            attempts = (await session.exec(select(func.count()).select_from(WebhookAttempt))).one()
        return {"events": {key: sorted(value) for key, value in events.items()}, "attempts": attempts}


@pytest.fixture
async def outbox(client: httpx.AsyncClient, app: FastAPI) -> Outbox:
    """An empty database with two endpoints."""
    written = Outbox(app)
    await written.endpoints()
    return written


async def scenario(outbox: Outbox) -> dict[str, str]:
    """One event of each kind the pruning must tell apart, by name."""
    S, F, P = DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED, DeliveryStatus.PENDING
    return {
        "delivered long ago": await outbox.event(OLD, (S, OLD, 2)),
        "one delivered, one given up": await outbox.event(OLD, (S, OLD, 1), (F, OLD, 8)),
        "still retrying": await outbox.event(OLD, (P, OLD, 3)),
        "redelivered lately": await outbox.event(OLD, (S, RECENT, 1)),
        "delivered lately": await outbox.event(RECENT, (S, RECENT, 1)),
        "no subscriber": await outbox.event(OLD),
        "no subscriber yet": await outbox.event(RECENT),
    }


def survivors(events: dict[str, str]) -> dict[str, list[str]]:
    """What must be left of the scenario: the events (by id) and their deliveries' statuses."""
    kept = {
        "one delivered, one given up": ["failed"],
        "still retrying": ["pending"],
        "redelivered lately": ["succeeded"],
        "delivered lately": ["succeeded"],
        "no subscriber yet": [],
    }
    return {events[name]: statuses for name, statuses in kept.items()}


async def test_old_delivered_rows_go_and_everything_else_stays(outbox: Outbox, app: FastAPI) -> None:
    events = await scenario(outbox)
    pruned = await pruning.prune(
        sessionmaker=app.state.wiring.sessionmaker, settings=app.state.wiring.settings, now=NOW, pause=0
    )
    assert (pruned.deliveries, pruned.attempts, pruned.events) == (2, 3, 2)
    assert await outbox.left() == {"events": survivors(events), "attempts": 8 + 3 + 1 + 1}
    again = await pruning.prune(
        sessionmaker=app.state.wiring.sessionmaker, settings=app.state.wiring.settings, now=NOW, pause=0
    )
    assert again == pruning.Pruned()  # nothing more: a pass over a pruned outbox changes nothing


async def test_the_retention_is_the_setting(outbox: Outbox, app: FastAPI) -> None:
    events = await scenario(outbox)
    keep_a_year = app.state.wiring.settings.model_copy(update={"webhook_retention_days": 365})
    assert (
        await pruning.prune(sessionmaker=app.state.wiring.sessionmaker, settings=keep_a_year, now=NOW, pause=0)
        == pruning.Pruned()
    )
    # Events are kept while GET /v1/events serves them, too.
    keep_events = app.state.wiring.settings.model_copy(
        update={"webhook_retention_days": 1, "events_retention_days": 365}
    )
    pruned = await pruning.prune(sessionmaker=app.state.wiring.sessionmaker, settings=keep_events, now=NOW, pause=0)
    assert (pruned.deliveries, pruned.events) == (4, 0)
    keep_a_day = app.state.wiring.settings.model_copy(update={"webhook_retention_days": 1, "events_retention_days": 1})
    pruned = await pruning.prune(sessionmaker=app.state.wiring.sessionmaker, settings=keep_a_day, now=NOW, pause=0)
    assert (pruned.deliveries, pruned.events) == (0, 5)
    assert set((await outbox.left())["events"]) == {events["one delivered, one given up"], events["still retrying"]}  # type: ignore[arg-type]


async def test_each_transaction_takes_a_bounded_batch(outbox: Outbox, app: FastAPI) -> None:
    for _ in range(5):
        await outbox.event(OLD, (DeliveryStatus.SUCCEEDED, OLD, 2))
    cutoff = NOW - timedelta(days=90)
    async with app.state.wiring.sessionmaker() as session, session.begin():
        assert await pruning.prune_deliveries(session, cutoff=cutoff, limit=2) == (
            4,
            2,
        )  # two deliveries and their attempts, no more
        assert (
            await pruning.prune_events(session, cutoff=cutoff, limit=2) == 2
        )  # the two events those deliveries left without any
    async with app.state.wiring.sessionmaker() as session:
        assert (await session.exec(select(func.count()).select_from(WebhookDelivery))).one() == 3
    pruned = await pruning.prune(
        sessionmaker=app.state.wiring.sessionmaker, settings=app.state.wiring.settings, now=NOW, batch=2, pause=0
    )
    assert (pruned.deliveries, pruned.attempts, pruned.events, pruned.transactions) == (3, 6, 3, 2 + 2)
    assert await outbox.left() == {"events": {}, "attempts": 0}


async def test_the_worker_prunes_as_it_starts(outbox: Outbox, app: FastAPI) -> None:
    events = await scenario(outbox)
    stop = asyncio.Event()
    worker = asyncio.create_task(
        delivery.run(
            sessionmaker=app.state.wiring.sessionmaker,
            settings=app.state.wiring.settings,
            keys=app.state.wiring.audit_keys,
            stop=stop,
        )
    )
    started = time.monotonic()
    try:
        while (await outbox.left())["events"] != survivors(events):
            assert time.monotonic() - started < 10, "the worker did not prune within 10 s"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await worker
    async with app.state.wiring.sessionmaker() as session:  # the retrying delivery was left alone, not claimed
        retrying = (
            await session.exec(select(WebhookDelivery).where(col(WebhookDelivery.status) == DeliveryStatus.PENDING))
        ).one()
    assert retrying.attempts_made == 3 and retrying.claimed_by is None


async def test_worker_once_prunes_too(outbox: Outbox, app: FastAPI) -> None:
    events = await scenario(outbox)
    assert await delivery.work(settings=app.state.wiring.settings, once=True) == 0
    assert (await outbox.left())["events"] == survivors(events)


async def test_the_pruner_runs_at_most_once_an_interval(app: FastAPI) -> None:
    pruner = pruning.Pruner(sessionmaker=app.state.wiring.sessionmaker, settings=app.state.wiring.settings, every=3600)
    pruner.poke()
    first = pruner.task
    assert first is not None
    await first
    pruner.poke()
    assert pruner.task is first  # the hour has not passed
    pruner.started = time.monotonic() - 3600
    pruner.poke()
    assert pruner.task is not first
    await pruner.stop()
