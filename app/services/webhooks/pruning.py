"""Housekeeping of the webhook tables:
delivered deliveries, their attempts and spent outbox events go after CALDICOTT_WEBHOOK_RETENTION_DAYS, events not
before CALDICOTT_EVENTS_RETENTION_DAYS either (`GET /v1/events` serves them that long).

What goes: a delivery that succeeded longer ago than the retention (its `updated_at`, set as it
succeeded), with its attempts; then an outbox event older than the retention that no delivery
refers to any more (each was delivered and pruned, or no endpoint was subscribed to it) and older than the events'
retention too. The counters of the events' sequences stay: a request's next event goes on from its last number.
What stays: pending deliveries (due, or waiting for a retry), failed ones (given up: an admin may
redeliver them, and their attempts say why), and every event that one of those refers to.

Order: attempts, then their deliveries (attempts refer to deliveries), then events (deliveries
refer to events), in transactions of at most `batch` deliveries or events each, with a short pause
between, so that the worker never holds locks for long. On PostgreSQL the rows are taken
FOR UPDATE SKIP LOCKED: a redelivery asked for at the same moment goes first, or finds the row gone.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.base import utcnow
from app.models.webhook import DeliveryStatus, OutboxEvent, WebhookAttempt, WebhookDelivery
from app.platform.config import Settings
from app.services.operations import idempotency
from app.services.policies import replay

log = logging.getLogger("caldicott.webhooks")

BATCH = 500  # deliveries (each with its few attempts) or events per transaction
PAUSE_SECONDS = 0.1  # between transactions: deliveries being recorded get the locks in between
# The retention is counted in days: a pass an hour keeps rows at most an hour past it, and costs two small
# queries when nothing is due. The worker runs the first pass as it starts (`caldicott worker --once` too).
PRUNE_EVERY_SECONDS = 3600.0


@dataclass
class Pruned:
    """What one pruning pass removed, and in how many transactions."""

    attempts: int = 0
    deliveries: int = 0
    events: int = 0
    transactions: int = 0


async def prune_deliveries(session: AsyncSession, *, cutoff: datetime, limit: int) -> tuple[int, int]:
    """Delete up to `limit` deliveries that succeeded before `cutoff`, their attempts first;
    (attempts, deliveries) deleted."""
    chosen = (
        select(WebhookDelivery.id)
        .where(col(WebhookDelivery.status) == DeliveryStatus.SUCCEEDED, col(WebhookDelivery.updated_at) < cutoff)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list((await session.exec(chosen)).all())
    if not ids:
        return 0, 0
    attempts = await session.exec(delete(WebhookAttempt).where(col(WebhookAttempt.delivery_id).in_(ids)))
    deliveries = await session.exec(delete(WebhookDelivery).where(col(WebhookDelivery.id).in_(ids)))
    return attempts.rowcount, deliveries.rowcount


async def prune_events(session: AsyncSession, *, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` outbox events created before `cutoff` that no delivery refers to; how many were deleted."""
    referred = exists().where(col(WebhookDelivery.event_id) == col(OutboxEvent.id))
    chosen = (
        select(OutboxEvent.id)
        .where(col(OutboxEvent.created_at) < cutoff, ~referred)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list((await session.exec(chosen)).all())
    if not ids:
        return 0
    # Asked again as it deletes: a delivery written for one of them meanwhile keeps it.
    return (await session.exec(delete(OutboxEvent).where(col(OutboxEvent.id).in_(ids), ~referred))).rowcount


async def prune(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    now: datetime | None = None,
    batch: int = BATCH,
    pause: float = PAUSE_SECONDS,
) -> Pruned:
    """Prune everything past the retention, one small transaction at a time; what was removed."""
    now = now or utcnow()
    cutoff, pruned = now - timedelta(days=settings.webhook_retention_days), Pruned()
    # An event is also kept while `GET /v1/events` serves it (CALDICOTT_EVENTS_RETENTION_DAYS).
    event_cutoff = min(cutoff, now - timedelta(days=settings.events_retention_days))
    while True:
        async with sessionmaker() as session, session.begin():
            attempts, deliveries = await prune_deliveries(session, cutoff=cutoff, limit=batch)
        if not deliveries:
            break
        pruned.attempts, pruned.deliveries, pruned.transactions = (
            pruned.attempts + attempts,
            pruned.deliveries + deliveries,
            pruned.transactions + 1,
        )
        await asyncio.sleep(pause)
    while True:
        async with sessionmaker() as session, session.begin():
            events = await prune_events(session, cutoff=event_cutoff, limit=batch)
        if not events:
            break
        pruned.events, pruned.transactions = pruned.events + events, pruned.transactions + 1
        await asyncio.sleep(pause)
    if pruned.transactions:
        log.info(
            "pruned %d delivered webhook deliveries, %d attempts and %d outbox events older than %d days",
            pruned.deliveries,
            pruned.attempts,
            pruned.events,
            settings.webhook_retention_days,
        )
    return pruned


class Pruner:
    """The worker's housekeeping: a pruning pass in the background (claims go on meanwhile),
    at most once every `every` seconds."""

    def __init__(
        self, *, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, every: float = PRUNE_EVERY_SECONDS
    ):
        self.sessionmaker, self.settings, self.every = sessionmaker, settings, every
        self.started: float | None = None  # time.monotonic() of the last pass's start
        self.task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        """Start a pass if none is running and the last one started `every` seconds ago or more (or never)."""
        if self.task is not None and not self.task.done():
            return
        if self.started is not None and time.monotonic() - self.started < self.every:
            return
        self.started = time.monotonic()
        self.task = asyncio.create_task(self._pass())

    async def stop(self) -> None:
        """Cancel a pass under way: its open transaction is rolled back, and the next start prunes the rest."""
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _pass(self) -> None:
        """One pass; a failure is logged and the worker goes on."""
        try:
            await prune(sessionmaker=self.sessionmaker, settings=self.settings)
        except Exception:  # the database may be away: tried again at the next interval
            log.exception("webhook worker: pruning the delivered webhooks failed")
        try:  # the same housekeeping for Idempotency-Keys past CALDICOTT_IDEMPOTENCY_KEY_HOURS
            await idempotency.prune_expired(sessionmaker=self.sessionmaker)
        except Exception:
            log.exception("webhook worker: pruning the expired idempotency keys failed")
        try:  # and for policy replay reports past CALDICOTT_REPLAY_KEEP_DAYS
            await replay.prune_old(sessionmaker=self.sessionmaker, keep_days=self.settings.replay_keep_days)
        except Exception:
            log.exception("webhook worker: pruning the old policy replay reports failed")
