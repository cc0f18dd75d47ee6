"""The delivery worker: claim due deliveries, sign and send each, record the attempt, schedule the retry.

A claim is a lease written in its own short transaction; the HTTP request is made outside
any transaction, and the result is recorded in another. A worker that dies after sending
leaves its lease to expire, and the delivery is sent again with the same `webhook-id`:
delivery is at least once, and receivers de-duplicate by that id.
"""

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import func, or_, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import observability
from app.canonical import canonical_json
from app.config import Settings
from app.db import make_engine, make_sessionmaker
from app.models.base import utcnow
from app.models.webhook import DeliveryStatus, DisabledReason, OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.services import queue, retry_after
from app.services.webhooks import SECRET_PREFIX, DestinationRefused, resolve, signing_secrets

log = logging.getLogger("caldicott.webhooks")

RESPONSE_BODY_LIMIT = 1000
ERROR_LIMIT = 300
JITTER = 0.1  # each delay is stretched or shrunk by up to a tenth, so retries do not arrive in step
RETRY_AFTER_STATUSES = {429, 503}
GONE = 410


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed delivery with everything needed to send it, read while claiming."""

    delivery_id: str
    endpoint_id: str
    url: str
    secrets: tuple[str, ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class AttemptResult:
    attempted_at: datetime
    duration_ms: int
    response_status: int | None = None
    response_body: str | None = None
    error: str | None = None
    retry_after: timedelta | None = None

    @property
    def succeeded(self) -> bool:
        """A 2xx answer, whole within the timeout."""
        return self.error is None and self.response_status is not None and 200 <= self.response_status < 300


def new_worker_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def sign(*, secrets: tuple[str, ...], message_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks `webhook-signature` header: `v1,<base64 HMAC-SHA256>` per secret, space-separated."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    signatures = []
    for secret in secrets:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
        signatures.append("v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode())
    return " ".join(signatures)


def new_client(settings: Settings) -> httpx.AsyncClient:
    """One client per worker: no redirects, no proxies from the environment, no reused connections."""
    # No keep-alive: a pooled connection is keyed by address, and TLS was checked for one host name.
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        timeout=settings.webhook_timeout_seconds,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


async def claim(*, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, worker_id: str, now: datetime) -> list[Job]:
    """Lease up to a batch of due deliveries to this worker; no other worker can claim them until the lease ends."""
    unclaimed = or_(col(WebhookDelivery.claimed_until).is_(None), col(WebhookDelivery.claimed_until) < now)
    due = (
        select(WebhookDelivery.id)
        .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
        .where(WebhookDelivery.status == DeliveryStatus.PENDING, col(WebhookDelivery.next_attempt_at) <= now, unclaimed, col(WebhookEndpoint.enabled))
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
        .limit(settings.webhook_batch_size)
        # PostgreSQL: rows another worker is claiming are skipped, not waited for. SQLite renders no
        # FOR UPDATE; there the claim is one UPDATE statement, which holds the database's write lock.
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )
    lease = now + timedelta(seconds=settings.webhook_lease_seconds)
    async with sessionmaker() as session, session.begin():
        claimed = await session.exec(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id).in_(due.scalar_subquery()), unclaimed)
            .values(claimed_by=worker_id, claimed_until=lease)
            .returning(col(WebhookDelivery.id))
            .execution_options(synchronize_session=False)
        )
        ids = [row[0] for row in claimed.all()]
        if not ids:
            return []
        rows = await session.exec(
            select(WebhookDelivery, WebhookEndpoint, OutboxEvent)
            .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
            .join(OutboxEvent, col(OutboxEvent.id) == col(WebhookDelivery.event_id))
            .where(col(WebhookDelivery.id).in_(ids))
        )
        return [
            Job(
                delivery_id=delivery.id,
                endpoint_id=endpoint.id,
                url=endpoint.url,
                secrets=tuple(signing_secrets(endpoint, now=utcnow())),
                body=canonical_json(event.payload),
            )
            for delivery, endpoint, event in rows.all()
        ]


async def send(*, client: httpx.AsyncClient, settings: Settings, job: Job) -> AttemptResult:
    """One signed POST to the checked address of the endpoint, within the timeout; never raises."""
    attempted_at = utcnow()
    started = time.monotonic()
    status, body, error, wait = None, None, None, None
    try:
        async with asyncio.timeout(settings.webhook_timeout_seconds):
            destination = await resolve(job.url, settings=settings)
            timestamp = int(time.time())
            headers = {
                "Host": destination.host_header,
                "Content-Type": "application/json",
                "User-Agent": "caldicott-webhooks/1",
                "webhook-id": job.delivery_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(secrets=job.secrets, message_id=job.delivery_id, timestamp=timestamp, body=job.body),
            }
            extensions = {"sni_hostname": destination.sni_hostname} if destination.sni_hostname else {}
            async with client.stream("POST", destination.url, content=job.body, headers=headers, extensions=extensions) as response:
                status = response.status_code  # kept even when the body does not come
                if status in RETRY_AFTER_STATUSES:
                    longest = timedelta(seconds=max(settings.webhook_retry_schedule))
                    wait = retry_after.parse(response.headers.get("Retry-After"), now=utcnow(), longest=longest)
                body = await _read_prefix(response)
    except DestinationRefused as refused:
        error = f"refused: {refused}"
    except TimeoutError:
        error = f"no answer within {settings.webhook_timeout_seconds:g} s"
    except httpx.HTTPError as failure:
        error = f"{type(failure).__name__}: {failure}"
    except Exception as failure:  # a bug or a surprise is still a failed attempt: recorded, and retried on schedule
        log.exception("webhook delivery %s to endpoint %s: sending failed unexpectedly", job.delivery_id, job.endpoint_id)
        error = f"unexpected {type(failure).__name__}: {failure}"
    duration_ms = round((time.monotonic() - started) * 1000)
    error = _storable(error, ERROR_LIMIT) if error is not None else None
    return AttemptResult(attempted_at=attempted_at, duration_ms=duration_ms, response_status=status, response_body=body, error=error, retry_after=wait)


async def record(*, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, worker_id: str, job: Job, result: AttemptResult) -> None:
    """Store the attempt and move the delivery on (succeeded, retried later, failed; 410 disables the endpoint); a result that cannot be stored counts as failed."""
    try:
        await _store(sessionmaker=sessionmaker, settings=settings, worker_id=worker_id, job=job, result=result)
    except Exception as failure:  # left claimed, the delivery would be claimed again at the lease's end, first in line, forever
        log.exception("webhook delivery %s: recording the attempt failed; recorded as a failed attempt", job.delivery_id)
        answered = "no answer" if result.response_status is None else f"answered {result.response_status}"
        error = f"{answered}, but the attempt could not be recorded: {type(failure).__name__}"
        failed = AttemptResult(attempted_at=result.attempted_at, duration_ms=result.duration_ms, error=error[:ERROR_LIMIT])
        await _store(sessionmaker=sessionmaker, settings=settings, worker_id=worker_id, job=job, result=failed)


async def _store(*, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, worker_id: str, job: Job, result: AttemptResult) -> None:
    """The attempt and the delivery's next state, in one transaction."""
    async with sessionmaker() as session, session.begin():
        delivery = await session.get(WebhookDelivery, job.delivery_id, with_for_update=True)
        if delivery is None:  # the endpoint was deleted meanwhile
            return
        number = (await session.exec(select(func.count()).where(WebhookAttempt.delivery_id == delivery.id))).one() + 1
        session.add(
            WebhookAttempt(
                delivery_id=delivery.id,
                number=number,
                attempted_at=result.attempted_at,
                duration_ms=result.duration_ms,
                response_status=result.response_status,
                response_body=result.response_body,
                error=result.error,
            )
        )
        observability.webhook_attempted(succeeded=result.succeeded, answered=result.response_status is not None)
        if delivery.claimed_by != worker_id:
            # Our lease ran out and another worker holds the delivery now; its outcome decides.
            return
        now = utcnow()
        delivery.attempts_made += 1
        delivery.claimed_by = None
        delivery.claimed_until = None
        delivery.updated_at = now
        if result.succeeded:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.SUCCEEDED, None
        elif result.response_status == GONE:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
            await _disable_gone(session=session, endpoint_id=job.endpoint_id, now=now)
        elif delivery.attempts_made >= len(settings.webhook_retry_schedule):
            delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        else:
            delay = timedelta(seconds=settings.webhook_retry_schedule[delivery.attempts_made] * random.uniform(1 - JITTER, 1 + JITTER))
            if result.retry_after is not None:
                delay = max(delay, result.retry_after)
            delivery.next_attempt_at = now + delay
    log.info(
        "webhook delivery %s attempt %d to endpoint %s: %s",
        job.delivery_id,
        number,
        job.endpoint_id,
        result.response_status if result.response_status is not None else result.error,
    )


async def deliver_due(
    *, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, client: httpx.AsyncClient, worker_id: str, now: datetime | None = None
) -> int:
    """Announce newly overdue requests, then claim one batch, send its deliveries side by side, record each; the number claimed."""
    async with sessionmaker() as session:
        # The worker already wakes up regularly, so it is the clock that notices overdue requests.
        await queue.flag_overdue(session=session)
        await session.commit()
    jobs = await claim(sessionmaker=sessionmaker, settings=settings, worker_id=worker_id, now=now or utcnow())

    async def deliver(job: Job) -> None:
        result = await send(client=client, settings=settings, job=job)
        try:
            await record(sessionmaker=sessionmaker, settings=settings, worker_id=worker_id, job=job, result=result)
        except Exception:  # the database is away: the lease runs out and the delivery is sent again
            log.exception("webhook delivery %s: the attempt could not be recorded", job.delivery_id)

    await asyncio.gather(*(deliver(job) for job in jobs))
    return len(jobs)


async def drain(*, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, worker_id: str | None = None, now: datetime | None = None) -> int:
    """Deliver until nothing is due; the number of attempts made."""
    worker_id = worker_id or new_worker_id()
    total = 0
    async with new_client(settings) as client:
        while claimed := await deliver_due(sessionmaker=sessionmaker, settings=settings, client=client, worker_id=worker_id, now=now):
            total += claimed
    return total


async def run(*, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, stop: asyncio.Event) -> None:
    """Deliver until told to stop, resting between polls when nothing is due."""
    worker_id = new_worker_id()
    log.info("webhook worker %s started", worker_id)
    async with new_client(settings) as client:
        while not stop.is_set():
            try:
                claimed = await deliver_due(sessionmaker=sessionmaker, settings=settings, client=client, worker_id=worker_id)
            except Exception:  # the database may be away for a while; keep the worker alive
                log.exception("webhook worker %s: claiming failed", worker_id)
                claimed = 0
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=settings.webhook_poll_seconds)
    log.info("webhook worker %s stopped", worker_id)


@asynccontextmanager
async def in_background(*, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> AsyncIterator[None]:
    """Run the worker as a task beside the HTTP API (`serve` with CALDICOTT_WEBHOOK_WORKER_IN_SERVE)."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(sessionmaker=sessionmaker, settings=settings, stop=stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def work(*, settings: Settings, once: bool) -> int:
    """The `caldicott worker` command: deliver until interrupted, or until nothing is due with `once`."""
    engine = make_engine(settings.database_url)
    sessionmaker = make_sessionmaker(engine)
    try:
        if once:
            return await drain(sessionmaker=sessionmaker, settings=settings)
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await run(sessionmaker=sessionmaker, settings=settings, stop=stop)
        return 0
    finally:
        await engine.dispose()


async def _read_prefix(response: httpx.Response) -> str:
    """The start of the response body, for the delivery history; the rest is not read."""
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= RESPONSE_BODY_LIMIT:
            break
    return _storable(b"".join(chunks)[:RESPONSE_BODY_LIMIT].decode("utf-8", errors="replace"), RESPONSE_BODY_LIMIT)


def _storable(text: str, limit: int) -> str:
    """Text either database can hold: NUL and lone surrogates become U+FFFD, and it is cut to the column's length."""
    return text.encode("utf-8", errors="surrogatepass").decode("utf-8", errors="replace").replace("\x00", "\ufffd")[:limit]


async def _disable_gone(*, session: AsyncSession, endpoint_id: str, now: datetime) -> None:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is not None and endpoint.enabled:
        endpoint.enabled = False
        endpoint.disabled_reason = DisabledReason.GONE
        endpoint.updated_at = now
        log.warning("webhook endpoint %s answered 410 Gone and is disabled", endpoint_id)
