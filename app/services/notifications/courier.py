"""Sending the email outbox: the worker claims what is due, sends it over SMTP outside any transaction, and records
the attempt; a failure is tried again later (RETRY_SECONDS), and given up after the last retry.

A claim moves the row's next attempt a lease ahead (FOR UPDATE SKIP LOCKED on PostgreSQL), so several workers share
the outbox and a worker that dies mid-send leaves its rows to be sent again once the lease runs out: at least once,
like the webhooks. Sending is smtplib in a thread. With no CALDICOTT_SMTP_HOST nothing is sent; rows written meanwhile
wait, and those older than MAX_AGE when mail is turned on are never sent (news of a day-old case is no news). Rows
go after KEEP_DAYS whatever became of them.
"""

import asyncio
import contextlib
import logging
import smtplib
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.base import utcnow
from app.models.notification import TO_DUTY, EmailKind, EmailMessage
from app.models.vocabulary import Role
from app.platform import observability
from app.platform.config import Settings
from app.services.notifications import messages, outbox, people

log = logging.getLogger("caldicott.notifications")

# Who is written to of an incident besides the guardians on duty and the incident addresses: the people whose last
# console sign-in held these roles (the directory keeps them, app/services/notifications/people.py).
INCIDENT_ROLES = (str(Role.SIRO), str(Role.DPO))

RETRY_SECONDS = (60, 300, 900, 3600, 3 * 3600)  # after each failed attempt; the attempt after the last is the last
SMTP_TIMEOUT_SECONDS = 30.0
LEASE = timedelta(seconds=2 * SMTP_TIMEOUT_SECONDS + 60)  # one connection, one message, and recording it
MAX_AGE = timedelta(days=1)
KEEP_DAYS = 30
BATCH = 20
POLL_SECONDS = 5.0
PRUNE_EVERY_SECONDS = 3600.0
SENT, FAILED, GIVEN_UP = "sent", "failed", "given_up"  # the results caldicott_email_attempts_total counts


@dataclass(frozen=True)
class Letter:
    """One claimed message: the row's id, its attempt number, and what to send where."""

    id: str
    attempt: int
    kind: EmailKind
    request_id: str
    due_at: datetime | None
    recipients: list[str]
    incident_id: str | None = None


async def deliver_due(
    *, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, now: datetime | None = None
) -> int:
    """One round: warn of claims about to lapse, then send what is due; the number of messages sent."""
    if settings.smtp_host is None:
        return 0
    now = now or utcnow()
    async with sessionmaker() as session:
        within = timedelta(minutes=settings.notify_claim_warning_minutes)
        await outbox.claims_lapsing(session=session, now=now, within=within)
        await session.commit()
    sent = 0
    while letters := await claim(sessionmaker=sessionmaker, settings=settings, now=now):
        for letter in letters:
            error = await asyncio.to_thread(send, settings, letter, now)
            await record(sessionmaker=sessionmaker, letter=letter, error=error, now=now)
            sent += error is None
        if len(letters) < BATCH:
            break
    return sent


async def claim(*, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, now: datetime) -> list[Letter]:
    """Take up to BATCH due messages for a lease, with their addresses; a message with no address to go to is given
    up here (and logged), never sent."""
    query = (
        select(EmailMessage)
        .where(
            col(EmailMessage.sent_at).is_(None),
            col(EmailMessage.given_up_at).is_(None),
            col(EmailMessage.next_attempt_at) <= now,
            col(EmailMessage.created_at) >= now - MAX_AGE,
        )
        .order_by(col(EmailMessage.next_attempt_at), col(EmailMessage.id))
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    letters = []
    async with sessionmaker() as session:
        for row in (await session.exec(query)).all():
            recipients = await _addresses(session=session, settings=settings, row=row)
            if not recipients:
                row.given_up_at, row.last_error = now, "no address to send it to"
                observability.email_attempted(result=GIVEN_UP)
                continue
            row.attempts += 1
            row.next_attempt_at = now + LEASE
            letters.append(
                Letter(row.id, row.attempts, row.kind, row.request_id, row.due_at, recipients, row.incident_id)
            )
        await session.commit()
    return letters


async def _addresses(*, session: AsyncSession, settings: Settings, row: EmailMessage) -> list[str]:
    """Where the message goes: the guardians on duty, or the named guardian's last known address."""
    if row.kind in TO_DUTY:
        addresses = list(settings.notify_duty_addresses)
        if row.kind is EmailKind.INCIDENT_RECORDED:  # the SIRO and the DPO too, each address once
            signed_in = await people.addresses_holding(
                session=session, roles=INCIDENT_ROLES, org=settings.controller_org
            )
            named = [*settings.notify_incident_addresses, *signed_in]
            addresses += [address for address in dict.fromkeys(named) if address not in addresses]
        if not addresses:
            log.warning("notification %s (%s): no duty or incident addresses are set; not sent", row.id, row.kind)
        return addresses
    assert row.recipient_sub is not None and row.recipient_org is not None
    address = await people.address_of(session=session, sub=row.recipient_sub, org=row.recipient_org)
    if address is None:
        log.warning(
            "notification %s (%s): no address known for guardian %s of %s (never signed in to the console); skipped",
            row.id,
            row.kind,
            row.recipient_sub,
            row.recipient_org,
        )
        return []
    return [address]


def send(settings: Settings, letter: Letter, now: datetime) -> str | None:
    """Send one message over SMTP (blocking: run in a thread); None when the server accepted it, else why not."""
    assert settings.smtp_host is not None and settings.notify_from is not None
    message = messages.compose(
        kind=letter.kind,
        request_id=letter.request_id,
        due_at=letter.due_at,
        incident_id=letter.incident_id,
        console_url=settings.console_address,
        sender=settings.notify_from,
        recipients=letter.recipients,
        now=now,
    )
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user is not None and settings.smtp_password is not None:
                smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
            refused = smtp.send_message(message)
    except smtplib.SMTPResponseException as error:  # the server's code says why; its text may quote an address
        return f"{type(error).__name__}: {error.smtp_code}"
    except (smtplib.SMTPException, OSError) as error:
        return type(error).__name__
    if refused:  # some recipients refused, others accepted: sent, and the refusals logged for the operator
        log.warning("notification %s: %d of its duty addresses refused it", letter.id, len(refused))
    return None


async def record(
    *, sessionmaker: async_sessionmaker[AsyncSession], letter: Letter, error: str | None, now: datetime
) -> None:
    """Record one attempt: sent, due again after a pause, or given up after the last retry."""
    values: dict[str, object]
    if error is None:
        values, result = {"sent_at": now, "last_error": None}, SENT
        log.info("notification %s (%s) sent, attempt %d", letter.id, letter.kind, letter.attempt)
    elif letter.attempt > len(RETRY_SECONDS):
        values, result = {"given_up_at": now, "last_error": error}, GIVEN_UP
        log.error("notification %s (%s) given up after %d attempts: %s", letter.id, letter.kind, letter.attempt, error)
    else:
        retry_at = now + timedelta(seconds=RETRY_SECONDS[letter.attempt - 1])
        values, result = {"next_attempt_at": retry_at, "last_error": error}, FAILED
        log.warning("notification %s (%s) attempt %d failed: %s", letter.id, letter.kind, letter.attempt, error)
    async with sessionmaker() as session:
        await session.exec(update(EmailMessage).where(col(EmailMessage.id) == letter.id).values(values))
        await session.commit()
    observability.email_attempted(result=result)


async def prune(*, sessionmaker: async_sessionmaker[AsyncSession], now: datetime | None = None) -> int:
    """Delete the messages written more than KEEP_DAYS ago, sent or not; how many."""
    cutoff = (now or utcnow()) - timedelta(days=KEEP_DAYS)
    async with sessionmaker() as session:
        result = await session.exec(delete(EmailMessage).where(col(EmailMessage.created_at) < cutoff))
        await session.commit()
    return int(result.rowcount or 0)


async def drain(*, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    """`caldicott worker --once`: prune, then send everything due now; the number sent."""
    await prune(sessionmaker=sessionmaker)
    return await deliver_due(sessionmaker=sessionmaker, settings=settings)


@asynccontextmanager
async def beside(
    *, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, stop: asyncio.Event
) -> AsyncIterator[None]:
    """Run the courier as a task for the length of the block (the webhook worker's loop): it ends with `stop`, or is
    cancelled if the block fails."""
    task = asyncio.create_task(run(sessionmaker=sessionmaker, settings=settings, stop=stop))
    try:
        yield
    except BaseException:
        task.cancel()
        raise
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def run(*, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, stop: asyncio.Event) -> None:
    """Beside the webhook worker, until told to stop: a round every POLL_SECONDS, pruning every hour.

    Its own task, so that a slow mail server never holds up webhook deliveries, nor they the mail."""
    pruned = -PRUNE_EVERY_SECONDS
    while not stop.is_set():
        try:
            if time.monotonic() - pruned >= PRUNE_EVERY_SECONDS:
                await prune(sessionmaker=sessionmaker)
                pruned = time.monotonic()
            await deliver_due(sessionmaker=sessionmaker, settings=settings)
        except Exception:  # the database may be away for a while: try again next round
            log.exception("notifications: the round failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=POLL_SECONDS)
