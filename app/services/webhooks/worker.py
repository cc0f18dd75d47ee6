"""The delivery worker: keeps claiming due deliveries while others are in flight,
within a global and a per-endpoint cap.

Each delivery is claimed, signed and sent, and its attempt recorded, by app/services/webhooks/attempts.py
(at least once: receivers de-duplicate by `webhook-id`). This module is the loop around it: a
pipeline that never waits for a whole batch, so a slow receiver holds only its own few slots; a
wake-up on PostgreSQL's notification of new deliveries (app/services/webhooks/wake.py), with the
poll underneath; and a success bringing the endpoint's waiting retries forward (in `record`).

A claim takes only what the caps leave room for, so nothing claimed waits for a slot: the lease
(`webhook_lease_seconds`) covers one send and its recording, as before. The caps are per process;
several worker processes share the due rows through FOR UPDATE SKIP LOCKED.
"""

import asyncio
import functools
import logging
import math
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.base import utcnow
from app.platform import observability, tracing
from app.platform.config import Settings
from app.platform.db import make_engine, make_sessionmaker
from app.services.agreements import notices as agreement_notices
from app.services.audit import chain as audit
from app.services.audit import checkpoints
from app.services.audit.signing import AuditKeys
from app.services.controller_checks import checks as controller_checks
from app.services.notifications import courier
from app.services.review import queue
from app.services.webhooks import egress, pruning
from app.services.webhooks.attempts import AttemptResult as AttemptResult  # re-exported: tests build results by hand
from app.services.webhooks.attempts import Job, claim, new_client, new_worker_id, record, send
from app.services.webhooks.wake import listening

log = logging.getLogger("caldicott.webhooks")


class Pipeline:
    """The sends one worker has in flight: it claims only what the global and per-endpoint caps leave room for."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        client: httpx.AsyncClient,
        worker_id: str,
        wake: asyncio.Event | None = None,
    ):
        self.sessionmaker, self.settings, self.client, self.worker_id = sessionmaker, settings, client, worker_id
        # Set when claiming again could find more: a slot freed that a claim had to leave alone,
        # or a backlog brought forward.
        self.wake = wake or asyncio.Event()
        self.in_flight: Counter[str] = Counter()  # endpoint id -> sends under way
        self.tasks: set[asyncio.Task[None]] = set()

    @property
    def room(self) -> int:
        return self.settings.webhook_concurrency - len(self.tasks)

    def endpoint_room(self) -> dict[str, int]:
        """Room left at each endpoint with sends under way; any other has the whole per-endpoint cap."""
        return {
            endpoint_id: self.settings.webhook_endpoint_concurrency - count
            for endpoint_id, count in self.in_flight.items()
        }

    async def fill(self, *, now: datetime | None = None) -> int:
        """Claim and start sending until the caps are reached or nothing more is due; the number claimed."""
        total = 0
        while self.room > 0:
            asked = min(self.room, self.settings.webhook_batch_size)
            jobs = await claim(
                sessionmaker=self.sessionmaker,
                settings=self.settings,
                worker_id=self.worker_id,
                now=now or utcnow(),
                limit=asked,
                room=self.endpoint_room(),
            )
            for job in jobs:
                self._start(job)
            total += len(jobs)
            # A short claim means nothing more is due, unless it stopped at an endpoint's cap:
            # then the next skips that endpoint.
            capped = any(self.in_flight[job.endpoint_id] >= self.settings.webhook_endpoint_concurrency for job in jobs)
            if not jobs or (len(jobs) < asked and not capped):
                break
        return total

    async def one_finished(self) -> None:
        """Wait until at least one send under way has been recorded."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), return_when=asyncio.FIRST_COMPLETED)

    async def settle(self) -> None:
        """Wait until every send under way has been recorded."""
        while self.tasks:
            await asyncio.wait(set(self.tasks))

    def _start(self, job: Job) -> None:
        self.in_flight[job.endpoint_id] += 1
        task = asyncio.create_task(self._deliver(job))
        self.tasks.add(task)
        task.add_done_callback(functools.partial(self._finished, job.endpoint_id))

    async def _deliver(self, job: Job) -> None:
        # Traced, an attempt is a span: the child of the one that wrote the event,
        # parent of the send and of the recording.
        with tracing.delivering(
            delivery_id=job.delivery_id, endpoint_id=job.endpoint_id, traceparent=job.traceparent
        ) as attempt:
            result = await send(client=self.client, settings=self.settings, job=job)
            attempt.ended(succeeded=result.succeeded, status=result.response_status)
            try:
                if await record(
                    sessionmaker=self.sessionmaker,
                    settings=self.settings,
                    worker_id=self.worker_id,
                    job=job,
                    result=result,
                ):
                    self.wake.set()
            except Exception:  # the database is away: the lease runs out and the delivery is sent again
                log.exception("webhook delivery %s: the attempt could not be recorded", job.delivery_id)

    def _finished(self, endpoint_id: str, task: asyncio.Task[None]) -> None:
        # Claims had to leave this endpoint (or everything) alone while it was full: now they need not.
        blocked = self.room <= 0 or self.in_flight[endpoint_id] >= self.settings.webhook_endpoint_concurrency
        self.tasks.discard(task)
        self.in_flight[endpoint_id] -= 1
        if self.in_flight[endpoint_id] <= 0:
            del self.in_flight[endpoint_id]
        if blocked:
            self.wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook worker: a send failed unexpectedly", exc_info=task.exception())


async def deliver_due(*, pipeline: Pipeline, now: datetime | None = None) -> int:
    """Announce newly overdue requests,
    then claim what the caps leave room for and start sending it; the number claimed."""
    async with pipeline.sessionmaker() as session:
        # The worker already wakes up regularly, so it is the clock that notices overdue requests.
        await queue.flag_overdue(session=session)
        await controller_checks.flag_overdue(
            session=session
        )  # an emergency share's checks past the emergency response time
        await session.commit()
    return await pipeline.fill(now=now)


async def drain(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    worker_id: str | None = None,
    now: datetime | None = None,
) -> int:
    """Deliver until nothing is due; the number of attempts made."""
    total = 0
    async with new_client(settings) as client:
        pipeline = Pipeline(
            sessionmaker=sessionmaker, settings=settings, client=client, worker_id=worker_id or new_worker_id()
        )
        try:
            while True:
                # A send recorded while a claim ran may have left a retry due now, which that claim did not see.
                idle = not pipeline.tasks
                claimed = await deliver_due(pipeline=pipeline, now=now)
                total += claimed
                if idle and not claimed:  # nothing under way, and nothing more was due
                    return total
                await pipeline.one_finished()  # a failure may be due again at once; an endpoint may have room again
        finally:
            await pipeline.settle()


async def run(
    *, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, keys: AuditKeys, stop: asyncio.Event
) -> None:
    """Deliver until told to stop: claim when woken (new deliveries,
    a freed slot) or at each poll; finish what is under way."""
    worker_id = new_worker_id()
    log.info("webhook worker %s started", worker_id)
    wake = asyncio.Event()
    # Email to people goes beside the deliveries, in a task of its own (app/services/notifications/courier.py).
    mail = courier.beside(sessionmaker=sessionmaker, settings=settings, stop=stop)
    async with new_client(settings) as client, listening(settings=settings, wake=wake), mail:
        pipeline = Pipeline(sessionmaker=sessionmaker, settings=settings, client=client, worker_id=worker_id, wake=wake)
        swept, checked = (
            0.0,
            -math.inf,
        )  # agreements are looked at as the worker starts, then every agreement_check_seconds
        pruner = pruning.Pruner(
            sessionmaker=sessionmaker, settings=settings
        )  # delivered webhooks past their retention, in the background
        # The chain's head signed as the worker starts, then every audit_checkpoint_seconds when it has moved.
        checkpointer = checkpoints.Checkpointer(
            sessionmaker=sessionmaker,
            keys=keys,
            log_name=settings.controller_org,
            seconds=settings.audit_checkpoint_seconds,
        )
        while not stop.is_set():
            wake.clear()  # before claiming: a notification that comes while claiming wakes the next round
            pruner.poke()  # as the worker starts, then at most once every pruning.PRUNE_EVERY_SECONDS
            if time.monotonic() - checked >= settings.agreement_check_seconds:
                try:
                    # Notices of agreements' review dates and ends, once per date however many workers look
                    # (app/services/agreements/notices.py).
                    await agreement_notices.check(sessionmaker)
                    checked = time.monotonic()
                except Exception:  # tried again next round; deliveries go on meanwhile
                    log.exception("webhook worker %s: the agreement check failed", worker_id)
            try:
                # Each round of the worker starts here: sweeps that keep time by the worker go first, then the claim.
                if time.monotonic() - swept >= settings.webhook_poll_seconds:
                    # Audit events whose writer died between its commit and their chaining (at most once a poll:
                    # rounds come with every delivery).
                    await audit.chain_pending(sessionmaker)
                    swept = time.monotonic()
                    await checkpointer.poke(swept)
                await deliver_due(pipeline=pipeline)
            except Exception:  # the database may be away for a while; keep the worker alive
                log.exception("webhook worker %s: claiming failed", worker_id)
            await _rest(stop=stop, wake=wake, seconds=settings.webhook_poll_seconds)
        await pruner.stop()
        await pipeline.settle()
    log.info("webhook worker %s stopped", worker_id)


async def _rest(*, stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    """Until told to stop, woken, or the poll interval has passed."""
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


@asynccontextmanager
async def in_background(
    *, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, keys: AuditKeys
) -> AsyncIterator[None]:
    """Run the worker as a task beside the HTTP API (`serve` with CALDICOTT_WEBHOOK_WORKER_IN_SERVE)."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(sessionmaker=sessionmaker, settings=settings, keys=keys, stop=stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def record_egress(*, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """Audit a changed egress allowlist: whichever starts first, the API or the worker, records it."""
    try:
        if await egress.record_allowlist(sessionmaker=sessionmaker, settings=settings):
            log.info("the webhook egress allowlist changed since the last start: recorded and audited")
            await audit.chain_pending(sessionmaker)
    except (OSError, SQLAlchemyError) as error:  # the database may be away: deliveries wait for it anyway
        log.warning("could not record the webhook egress allowlist at start (tried again at the next): %s", error)


async def work(*, settings: Settings, once: bool) -> int:
    """The `caldicott worker` command: deliver until interrupted, or until nothing is due with `once`."""
    keys = settings.audit_keys(
        sign=not once
    )  # first: a missing signing key stops the worker before the database is touched
    engine = make_engine(settings.database_url)
    observability.watch_pool(engine)  # caldicott_db_pool_connections_*{process="worker"}, when the worker counts
    traces = tracing.setup(settings, service=tracing.WORKER_SERVICE)  # its own: its deliveries, and their statements
    traces.instrument_engine(engine)
    sessionmaker = make_sessionmaker(engine)
    try:
        await record_egress(sessionmaker=sessionmaker, settings=settings)
        with tracing.active(traces):
            if once:
                await agreement_notices.check(sessionmaker)
                await pruning.prune(sessionmaker=sessionmaker, settings=settings)
                await courier.drain(sessionmaker=sessionmaker, settings=settings)
                return await drain(sessionmaker=sessionmaker, settings=settings)
            stop = asyncio.Event()
            for signum in (signal.SIGINT, signal.SIGTERM):
                asyncio.get_running_loop().add_signal_handler(signum, stop.set)
            await run(sessionmaker=sessionmaker, settings=settings, keys=keys, stop=stop)
            return 0
    finally:
        await engine.dispose()
        traces.shutdown()
