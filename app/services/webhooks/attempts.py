"""One attempt of a webhook delivery: claim it, sign and send it, record what happened and schedule the retry.

A claim is a lease written in its own short transaction; the HTTP request is made outside
any transaction, and the result is recorded in another. A worker that dies after sending
leaves its lease to expire, and the delivery is sent again with the same `webhook-id`:
delivery is at least once, and receivers de-duplicate by that id. The worker that drives
these steps, several at once, is app/services/webhooks/worker.py.
"""

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import ColumnElement, exists, func, or_, text, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.canonical import canonical_json
from app.models.base import utcnow
from app.models.webhook import (
    DeliveryStatus,
    DisabledReason,
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from app.platform import observability, tracing
from app.platform.config import Settings
from app.services.webhooks import egress, retry_after
from app.services.webhooks.egress import DestinationRefused, resolve
from app.services.webhooks.endpoints import SECRET_PREFIX, signing_secrets
from app.services.webhooks.wake import CHANNEL

log = logging.getLogger("caldicott.webhooks")

RESPONSE_BODY_LIMIT = 1000
ERROR_LIMIT = 300
JITTER = 0.1  # each delay is stretched or shrunk by up to a tenth, so retries do not arrive in step
RETRY_AFTER_STATUSES = {429, 503}
GONE = 410
# A claim looks at twice the rows it may take,
# so one endpoint's backlog at the head of the line leaves room for others'.
CANDIDATES_PER_CLAIM = 2


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed delivery with everything needed to send it, read while claiming."""

    delivery_id: str
    endpoint_id: str
    url: str
    secrets: tuple[str, ...]
    body: bytes
    event_type: str  # the event's `type`, for the worker's log line
    traceparent: str | None = None  # of the span that wrote the event: the delivery's span is its child
    request_id: str | None = None  # the sharing request the event is about: its next delivery waits for this one


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
    """One client per worker (app/services/webhooks/egress.py makes it), traced when deliveries are."""
    return tracing.instrumented(egress.new_client(settings))  # when traced, each request sends a traceparent


def longest_pending(settings: Settings) -> timedelta:
    """The longest the retry schedule can keep a delivery pending:
    every wait at its most jittered, and every attempt timing out."""
    waits = sum(seconds * (1 + JITTER) for seconds in settings.webhook_retry_schedule)
    return timedelta(seconds=waits + len(settings.webhook_retry_schedule) * settings.webhook_timeout_seconds)


async def claim(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    worker_id: str,
    now: datetime,
    limit: int | None = None,
    room: Mapping[str, int] | None = None,
) -> list[Job]:
    """Lease up to `limit` (at most a batch) due deliveries to this worker, no more of one endpoint than its `room`
    (by default the per-endpoint cap)."""
    limit = min(limit or settings.webhook_batch_size, settings.webhook_batch_size)
    room = room or {}
    unclaimed = or_(col(WebhookDelivery.claimed_until).is_(None), col(WebhookDelivery.claimed_until) < now)
    due = (
        select(WebhookDelivery.id, WebhookDelivery.endpoint_id)
        .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
        .join(OutboxEvent, col(OutboxEvent.id) == col(WebhookDelivery.event_id))
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            col(WebhookDelivery.next_attempt_at) <= now,
            unclaimed,
            col(WebhookEndpoint.enabled),
            ~_behind_an_earlier(),
        )
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
        .limit(limit * CANDIDATES_PER_CLAIM)
        # PostgreSQL: rows another worker is claiming are skipped, not waited for, and stay locked until this claim
        # commits. SQLite renders no FOR UPDATE; there the transaction holds the database's write lock from BEGIN.
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )
    if full := [endpoint_id for endpoint_id, free in room.items() if free <= 0]:
        due = due.where(col(WebhookDelivery.endpoint_id).not_in(full))
    lease = now + timedelta(seconds=settings.webhook_lease_seconds)
    async with sessionmaker() as session, session.begin():
        chosen = _within_room(
            (await session.exec(due)).all(), room=room, cap=settings.webhook_endpoint_concurrency, limit=limit
        )
        if not chosen:
            return []
        claimed = await session.exec(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id).in_(chosen), unclaimed)
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
            .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
        )
        return [
            Job(
                delivery_id=delivery.id,
                endpoint_id=endpoint.id,
                url=endpoint.url,
                secrets=tuple(signing_secrets(endpoint, now=utcnow())),
                body=canonical_json(event.payload),
                event_type=event.type,
                traceparent=event.traceparent,
                request_id=event.request_id if event.sequence is not None else None,
            )
            for delivery, endpoint, event in rows.all()
        ]


def _behind_an_earlier() -> ColumnElement[bool]:
    """Whether an earlier event of the same sharing request is still pending (due, waiting for a retry, or in flight)
    to the same endpoint: a request's deliveries to one endpoint never overtake each other; other requests' go on."""
    earlier, earlier_event = aliased(WebhookDelivery), aliased(OutboxEvent)
    return exists().where(
        col(earlier.endpoint_id) == col(WebhookDelivery.endpoint_id),
        col(earlier.status) == DeliveryStatus.PENDING,
        col(earlier.event_id) == col(earlier_event.id),
        col(earlier_event.request_id) == col(OutboxEvent.request_id),
        col(earlier_event.sequence) < col(OutboxEvent.sequence),
    )


def _within_room(candidates: Sequence[tuple[str, str]], *, room: Mapping[str, int], cap: int, limit: int) -> list[str]:
    """The first `limit` candidates, taking no more of an endpoint than the room it has left."""
    taken: Counter[str] = Counter()
    chosen = []
    for delivery_id, endpoint_id in candidates:
        if len(chosen) < limit and taken[endpoint_id] < room.get(endpoint_id, cap):
            taken[endpoint_id] += 1
            chosen.append(delivery_id)
    return chosen


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
                "webhook-signature": sign(
                    secrets=job.secrets, message_id=job.delivery_id, timestamp=timestamp, body=job.body
                ),
            }
            extensions = {"sni_hostname": destination.sni_hostname} if destination.sni_hostname else {}
            async with client.stream(
                "POST", destination.url, content=job.body, headers=headers, extensions=extensions
            ) as response:
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
        log.exception(
            "webhook delivery %s to endpoint %s: sending failed unexpectedly", job.delivery_id, job.endpoint_id
        )
        error = f"unexpected {type(failure).__name__}: {failure}"
    duration_ms = round((time.monotonic() - started) * 1000)
    error = _storable(error, ERROR_LIMIT) if error is not None else None
    return AttemptResult(
        attempted_at=attempted_at,
        duration_ms=duration_ms,
        response_status=status,
        response_body=body,
        error=error,
        retry_after=wait,
    )


async def record(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    worker_id: str,
    job: Job,
    result: AttemptResult,
) -> int:
    """Store the attempt and move the delivery on (succeeded, retried later, failed; 410 disables the endpoint); a
    result that cannot be stored counts as failed.

    Returns how many of the endpoint's other deliveries a success brought forward from their retry, or the end of the
    delivery released (the next event of the same request); non-zero, the worker claims again at once.
    """
    try:
        return await _store(sessionmaker=sessionmaker, settings=settings, worker_id=worker_id, job=job, result=result)
    except (
        Exception
    ) as failure:  # left claimed, the delivery would be claimed again at the lease's end, first in line, forever
        log.exception(
            "webhook delivery %s: recording the attempt failed; recorded as a failed attempt", job.delivery_id
        )
        answered = "no answer" if result.response_status is None else f"answered {result.response_status}"
        error = f"{answered}, but the attempt could not be recorded: {type(failure).__name__}"
        failed = AttemptResult(
            attempted_at=result.attempted_at, duration_ms=result.duration_ms, error=error[:ERROR_LIMIT]
        )
        return await _store(sessionmaker=sessionmaker, settings=settings, worker_id=worker_id, job=job, result=failed)


async def _store(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    worker_id: str,
    job: Job,
    result: AttemptResult,
) -> int:
    """The attempt, the delivery's next state and, after a success,
    the endpoint's backlog brought forward, in one transaction."""
    brought_forward = 0
    async with sessionmaker() as session, session.begin():
        delivery = await session.get(WebhookDelivery, job.delivery_id, with_for_update=True)
        if delivery is None:  # the endpoint was deleted meanwhile
            return 0
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
        now = utcnow()
        if result.succeeded:
            # Even when another worker holds this delivery now: the receiver answered, so its backlog need not wait.
            brought_forward = await _bring_forward(session=session, endpoint_id=job.endpoint_id, now=now)
        if delivery.claimed_by != worker_id:
            # Our lease ran out and another worker holds the delivery now; its outcome decides.
            return brought_forward
        delivery.attempts_made += 1
        delivery.claimed_by = None
        delivery.claimed_until = None
        delivery.updated_at = now
        await _move_on(session=session, settings=settings, delivery=delivery, job=job, result=result, now=now)
        if delivery.status != DeliveryStatus.PENDING and job.request_id is not None:
            brought_forward += await _released(session=session, job=job)
    observability.delivery_attempt_recorded(  # the worker's log line, with its fields; a delivery given up counted
        delivery_id=job.delivery_id,
        endpoint_id=job.endpoint_id,
        event_type=job.event_type,
        attempt=number,
        response_status=result.response_status,
        error=result.error,
        succeeded=result.succeeded,
        duration_ms=result.duration_ms,
        delivery_status=delivery.status,
    )
    return brought_forward


async def _move_on(
    *,
    session: AsyncSession,
    settings: Settings,
    delivery: WebhookDelivery,
    job: Job,
    result: AttemptResult,
    now: datetime,
) -> None:
    """Succeeded, failed for good (410, or the schedule ran out), or pending until the next attempt of the schedule."""
    if result.succeeded:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.SUCCEEDED, None
    elif result.response_status == GONE:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        await _disable_gone(session=session, endpoint_id=job.endpoint_id, now=now)
    elif delivery.attempts_made >= len(settings.webhook_retry_schedule):
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
    else:
        delay = timedelta(
            seconds=settings.webhook_retry_schedule[delivery.attempts_made] * random.uniform(1 - JITTER, 1 + JITTER)
        )
        if result.retry_after is not None:
            delay = max(delay, result.retry_after)
        delivery.next_attempt_at = now + delay


async def _released(*, session: AsyncSession, job: Job) -> int:
    """1 when the request's next event to this endpoint was waiting for this delivery to end (it may go now), else 0."""
    waiting = (
        select(WebhookDelivery.id)
        .join(OutboxEvent, col(OutboxEvent.id) == col(WebhookDelivery.event_id))
        .where(
            WebhookDelivery.endpoint_id == job.endpoint_id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
            OutboxEvent.request_id == job.request_id,
        )
        .limit(1)
    )
    if (await session.exec(waiting)).first() is None:
        return 0
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})  # other workers too
    return 1


async def _bring_forward(*, session: AsyncSession, endpoint_id: str, now: datetime) -> int:
    """Make the endpoint's deliveries waiting for a retry due now, as Svix does:
    a receiver back from an outage gets its backlog in seconds."""
    waiting = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
            col(WebhookDelivery.next_attempt_at) > now,
            col(WebhookDelivery.attempts_made) > 0,
        )
        # Rows another transaction holds are left to it: two successes at once never wait on each other (no deadlock).
        .with_for_update(skip_locked=True)
    )
    moved = await session.exec(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.id).in_(waiting.scalar_subquery()))
        .values(next_attempt_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    count = moved.rowcount or 0
    if count:
        log.info("webhook endpoint %s answered again: %d waiting deliveries brought forward", endpoint_id, count)
        connection = await session.connection()
        if connection.dialect.name == "postgresql":
            # Other workers hear it at commit, as they hear of new deliveries.
            await connection.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
    return count


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
    return (
        text.encode("utf-8", errors="surrogatepass").decode("utf-8", errors="replace").replace("\x00", "\ufffd")[:limit]
    )


async def _disable_gone(*, session: AsyncSession, endpoint_id: str, now: datetime) -> None:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is not None and endpoint.enabled:
        endpoint.enabled = False
        endpoint.disabled_reason = DisabledReason.GONE
        endpoint.updated_at, endpoint.version = now, endpoint.version + 1
        log.warning("webhook endpoint %s answered 410 Gone and is disabled", endpoint_id)
