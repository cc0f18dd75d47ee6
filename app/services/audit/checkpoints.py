"""Signed checkpoints: the worker signs the chain's head every audit_checkpoint_seconds (and
`caldicott audit checkpoint` on demand), stores it, and sends it to witnesses.

A checkpoint is made only when the chain has grown since the last one, and only after checking, in the
same transaction, that the last checkpoint's signature holds and that the events since it extend the chain
it signed: the service never signs over a trail that was rewritten or cut behind its back. A checkpoint is
not itself an audit event (one would move the head and call for the next checkpoint, for ever); the
checkpoint table is append-only in the same way, and every checkpoint goes to the `audit.checkpoint`
subscribers in the transaction that stores it.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, text
from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.audit import AuditCheckpoint, CheckpointPage, CheckpointPublic
from app.models.base import utcnow
from app.platform.pagination import ascending, keyset_page
from app.services.audit import chain as audit
from app.services.audit import proof as audit_proof
from app.services.audit.signing import AuditKeys
from app.services.webhooks import outbox

log = logging.getLogger("caldicott.audit")

# Key of the transaction-scoped advisory lock that serialises checkpointers on PostgreSQL ("CALDCKPT").
CHECKPOINT_LOCK_KEY = 0x43414C44434B5054
CHECKPOINTS = audit.CHECKPOINTS


@dataclass(frozen=True, slots=True)
class SigningLag:
    """How far the signed trail is behind: events chained since the newest checkpoint,
    and that checkpoint's age (None: none yet)."""

    unsigned_events: int
    checkpoint_age_seconds: float | None


async def signing_lag(*, session: AsyncSession, now: datetime) -> SigningLag:
    """Two index lookups, for the scrape: a worker that has stopped signing shows here, not only in its log."""
    connection = await session.connection()
    head = (await connection.execute(audit.HEAD)).first()
    last = (
        await connection.execute(
            core_select(CHECKPOINTS.c.seq, CHECKPOINTS.c.time).order_by(CHECKPOINTS.c.number.desc()).limit(1)
        )
    ).first()
    head_seq = head.seq if head is not None else 0
    if last is None:
        return SigningLag(unsigned_events=head_seq, checkpoint_age_seconds=None)
    return SigningLag(
        unsigned_events=max(head_seq - last.seq, 0), checkpoint_age_seconds=(now - last.time).total_seconds()
    )


class CannotSign(Exception):
    """The chain or the last checkpoint is not what was signed before: refusing to sign over it."""


async def make(
    sessionmaker: async_sessionmaker[AsyncSession], *, keys: AuditKeys, log_name: str, now: datetime | None = None
) -> CheckpointPublic | None:
    """Sign the chain's head if it moved since the last checkpoint;
    the new checkpoint, or None when there was nothing new to sign."""
    if keys.signer is None:
        raise CannotSign("this process has no signing key (CALDICOTT_AUDIT_SIGNING_KEY_FILE)")
    async with sessionmaker() as session:
        connection = await session.connection()
        if connection.dialect.name == "postgresql":
            # Checkpointers in other processes wait here; SQLite's BEGIN IMMEDIATE already did (app/platform/db.py).
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHECKPOINT_LOCK_KEY})
        head = (await connection.execute(audit.HEAD)).first()
        last_row = (
            await connection.execute(core_select(*CHECKPOINTS.c).order_by(CHECKPOINTS.c.number.desc()).limit(1))
        ).first()
        last = audit_proof.from_row(last_row) if last_row is not None else None
        if head is None or (last is not None and last.seq == head.seq):
            return None
        if last is not None:
            problem = audit_proof.signature_problem(last, keys.published)
            if problem is not None:
                raise CannotSign(f"the last checkpoint ({last.number}) is not what this service signed: {problem}")
            signed = (
                await connection.execute(core_select(audit.EVENTS.c.hash).where(audit.EVENTS.c.seq == last.seq))
            ).scalar_one_or_none()
            if signed != last.hash:
                raise CannotSign(
                    f"the chain's event at seq {last.seq} is not the one checkpoint {last.number} "
                    "signed: it was removed or rewritten"
                )
        after, after_hash = (last.seq, last.hash) if last is not None else (0, audit.GENESIS_HASH)
        broken = await audit.break_after(connection, seq=after, head_hash=after_hash)
        if broken is not None:
            raise CannotSign(f"the chain breaks at seq {broken}, after the last checkpoint (seq {after})")
        checkpoint = CheckpointPublic(
            number=last.number + 1 if last is not None else 1,
            log=log_name,
            seq=head.seq,
            hash=head.hash,
            time=audit_proof.time_text(now or utcnow()),
            previous=audit_proof.digest(last) if last is not None else None,
            kid=keys.signer.kid,
            signature="",
        )
        checkpoint.signature = keys.signer.sign(audit_proof.signed_bytes(checkpoint))
        await connection.execute(
            insert(CHECKPOINTS).values(
                **checkpoint.model_dump(exclude={"time"}), time=datetime.fromisoformat(checkpoint.time)
            )
        )
        await outbox.emit_checkpoint(session=session, checkpoint=checkpoint.model_dump())
        await session.commit()
    log.info("audit checkpoint %d signed: seq %d, hash %s", checkpoint.number, checkpoint.seq, checkpoint.hash)
    return checkpoint


class Checkpointer:
    """The worker's clock for checkpoints: at most one every `seconds`, and a failure logged, never raised."""

    def __init__(
        self, *, sessionmaker: async_sessionmaker[AsyncSession], keys: AuditKeys, log_name: str, seconds: float
    ) -> None:
        self.sessionmaker, self.keys, self.log_name, self.seconds = sessionmaker, keys, log_name, seconds
        self._last = float("-inf")

    async def poke(self, monotonic_now: float) -> None:
        if monotonic_now - self._last < self.seconds:
            return
        self._last = monotonic_now
        try:
            await make(self.sessionmaker, keys=self.keys, log_name=self.log_name)
        except CannotSign as refusal:
            log.error("audit checkpoint NOT signed: %s; run `caldicott audit verify`", refusal)
        except Exception:  # the database may be away; tried again after the interval
            log.exception("audit checkpoint could not be made")


async def list_page(*, session: AsyncSession, cursor: str | None, limit: int) -> CheckpointPage:
    """Checkpoints oldest first, keyset-paginated on number."""
    rows, next_cursor = await keyset_page(
        session,
        select(AuditCheckpoint),
        order=[ascending(col(AuditCheckpoint.number), int)],
        key=lambda row: (row.number,),
        cursor=cursor,
        limit=limit,
    )
    return CheckpointPage(items=[audit_proof.from_row(row) for row in rows], next_cursor=next_cursor)


async def one(*, session: AsyncSession, number: int) -> CheckpointPublic | None:
    row = await session.get(AuditCheckpoint, number)
    return audit_proof.from_row(row) if row is not None else None
