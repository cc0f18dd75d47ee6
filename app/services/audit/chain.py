"""The audit trail: record events as pending, chain them by hash in short passes, list them, and verify the whole chain.

A writer's transaction only inserts its events into audit_pending; it never reads the chain's
head, so no writer waits for another. A chaining pass (after each request that recorded
events, at start-up, and from the webhook worker's poll loop) moves committed pending rows into
audit_events in id order, giving each the next seq and its hash, in one short transaction.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Row, Select, Text, cast, delete, func, insert, text
from sqlalchemy import select as core_select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.canonical import canonical_json, sha256_hex, stored_json
from app.models.audit import (
    AuditCheckpoint,
    AuditEvent,
    AuditEventPage,
    AuditEventPublic,
    AuditPending,
    AuditTarget,
    AuditVerification,
    CheckpointPublic,
)
from app.models.base import utcnow
from app.platform import logs, writes
from app.platform.db import AUDIT_RECORDED
from app.platform.pagination import ascending, keyset_page
from app.principal import Principal
from app.services.audit import proof as audit_proof

log = logging.getLogger("caldicott.audit")

GENESIS_HASH = "0" * 64
SYSTEM_ACTOR = "system"
VERIFY_BATCH = 5000
CHAIN_BATCH = 1000
# Key of the transaction-scoped advisory lock that serialises chaining passes on PostgreSQL ("CALDAUDT").
CHAIN_LOCK_KEY = 0x43414C4441554454
EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
PENDING = AuditPending.__table__  # type: ignore[attr-defined]
CHECKPOINTS = AuditCheckpoint.__table__  # type: ignore[attr-defined]
HEAD = core_select(EVENTS.c.seq, EVENTS.c.hash).order_by(EVENTS.c.seq.desc()).limit(1)


def canonical_fields(event: AuditEvent | Row[Any] | SimpleNamespace) -> dict[str, Any]:
    """The hashed content of an event: every field but prev_hash and hash."""
    return {
        "seq": event.seq,
        "occurred_at": event.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_sub": event.actor_sub,
        "actor_org": event.actor_org,
        "actor_roles": list(event.actor_roles),
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "outcome": event.outcome,
        "correlation_id": event.correlation_id,
    }


def chain_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """SHA-256 of the previous hash followed by the event's canonical JSON, as hex."""
    return sha256_hex(prev_hash.encode() + canonical_json(fields))


async def record(
    *,
    session: AsyncSession,
    actor: Principal | None,
    action: str,
    target_type: AuditTarget,
    target_id: str,
    outcome: str,
) -> None:
    """Queue one pending event in the caller's transaction; a chaining pass chains it once that commits
    (actor None: the service itself).

    It is written with the transaction's other new rows (app/platform/writes.py),
    before the next ORM query or the commit.
    """
    event = {
        "occurred_at": utcnow(),
        "actor_sub": actor.sub if actor else SYSTEM_ACTOR,
        "actor_org": actor.org if actor else None,
        "actor_roles": sorted(str(role) for role in actor.roles) if actor else [],
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "outcome": outcome,
        "correlation_id": logs.correlation_id(),
    }
    writes.add(session, AuditPending, event)
    session.sync_session.info[AUDIT_RECORDED] = True  # get_session has it chained after the commit


async def _chain_batch(connection: AsyncConnection, batch_size: int) -> int:
    """Chain up to batch_size committed pending events in id order, in the caller's transaction; the number chained."""
    if (await connection.execute(core_select(PENDING.c.id).limit(1))).first() is None:
        return 0  # nothing to do: do not queue for the lock
    if connection.dialect.name == "postgresql":
        # Passes in other processes wait here until this transaction ends;
        # SQLite's BEGIN IMMEDIATE already did (app/platform/db.py).
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
    # Taken out of the queue and read in one statement; the deletion commits only with the chained rows.
    oldest = core_select(PENDING.c.id).order_by(PENDING.c.id).limit(batch_size).scalar_subquery()
    pending = sorted(
        (await connection.execute(delete(PENDING).where(PENDING.c.id.in_(oldest)).returning(*PENDING.c))).all(),
        key=lambda row: row.id,
    )
    if not pending:
        return 0
    head = (await connection.execute(HEAD)).first()
    seq, prev_hash = (head[0], head[1]) if head is not None else (0, GENESIS_HASH)
    chained = []
    for row in pending:
        seq += 1
        event = {**row._asdict(), "seq": seq, "prev_hash": prev_hash}
        del event["id"]
        event["hash"] = prev_hash = chain_hash(prev_hash, canonical_fields(SimpleNamespace(**event)))
        chained.append(event)
    await connection.execute(insert(EVENTS), chained)
    return len(pending)


async def chain_pending(sessionmaker: async_sessionmaker[AsyncSession], *, batch_size: int = CHAIN_BATCH) -> int:
    """Move every committed pending event into the chain, one short transaction per batch; the number chained."""
    chained = 0
    while True:
        async with sessionmaker() as session, session.begin():
            moved = await _chain_batch(await session.connection(), batch_size)
        chained += moved
        if moved < batch_size:
            return chained


class Chainer:
    """One process's chaining after commits: callers at the same time share one pass instead of queueing a pass each."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, delay: float = 0.0) -> None:
        self.sessionmaker = sessionmaker
        # Seconds a caller waits before its pass, so that under load one pass chains many requests' events
        # (each pass is a transaction of several statements); the bound on how long an event stays pending.
        self.delay = delay
        self._lock = asyncio.Lock()
        self._taken = 0  # tickets taken so far
        self._covered = 0  # every ticket up to this one was taken before a pass that has finished started

    async def settle(self) -> None:
        """Chain every event committed before this call, by a pass of this caller's or one that started after it;
        a failure is logged, not raised."""
        self._taken += 1
        ticket = self._taken
        if self.delay:
            await asyncio.sleep(self.delay)
        async with self._lock:
            if self._covered >= ticket:
                return
            covers = self._taken
            try:
                await chain_pending(self.sessionmaker)
            except (
                OSError,
                SQLAlchemyError,
            ) as error:  # the database is away: the events wait for the next pass or the worker's sweep
                log.warning("audit events could not be chained yet, they stay pending: %s", error)
            except Exception:
                log.exception("audit events could not be chained; they stay pending")
            # Even after a failure: those waiting would only fail again one after another.
            self._covered = covers


async def list_page(
    *,
    session: AsyncSession,
    request_id: str | None,
    actor_sub: str | None,
    actor_org: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    limit: int,
) -> AuditEventPage:
    """Chained events in chain order (oldest first), filtered, keyset-paginated on seq; `until` is exclusive;
    pending ones are not listed yet."""
    query = select(AuditEvent)
    if request_id is not None:
        query = query.where(AuditEvent.target_type == AuditTarget.SHARING_REQUEST, AuditEvent.target_id == request_id)
    if actor_sub is not None:
        query = query.where(AuditEvent.actor_sub == actor_sub)
    if actor_org is not None:
        query = query.where(AuditEvent.actor_org == actor_org)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if since is not None:
        query = query.where(col(AuditEvent.occurred_at) >= since)
    if until is not None:
        query = query.where(col(AuditEvent.occurred_at) < until)
    rows, next_cursor = await keyset_page(
        session,
        query,
        order=[ascending(col(AuditEvent.seq), int)],
        key=lambda row: (row.seq,),
        cursor=cursor,
        limit=limit,
    )
    items = [AuditEventPublic.model_validate(row, from_attributes=True) for row in rows]
    return AuditEventPage(items=items, next_cursor=next_cursor)


def _verify_query(after: int, limit: int) -> Select[Any]:
    """The next batch of the chain as plain columns, read as the driver gives them:
    no ORM objects, enums or JSON decoding per row."""
    table = AuditEvent.__table__  # type: ignore[attr-defined]
    c = table.c
    columns = [
        c.seq,
        c.occurred_at,
        c.actor_sub,
        c.actor_org,
        cast(c.actor_roles, Text()),
        c.action,
        c.target_type,
        c.target_id,
        c.outcome,
        c.correlation_id,
        c.prev_hash,
        c.hash,
    ]
    return core_select(*columns).where(c.seq > after).order_by(c.seq).limit(limit)


def utc_isoformat(value: datetime | str) -> str:
    """As canonical_fields writes occurred_at, from the driver's value:
    SQLite's is text, read as SQLAlchemy reads it, and naive."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)).isoformat(
        timespec="microseconds"
    )


# A trail holds a handful of distinct role sets:
# each one's stored text is parsed once (the lists are only ever encoded).
stored_roles = lru_cache(maxsize=256)(stored_json)


def first_break(rows: Sequence[Sequence[Any]], seq: int, head_hash: str) -> int | None:
    """The first seq in `rows` (which follow `seq`, whose hash is `head_hash`) at which the chain breaks, or None.

    Each row is checked against itself and the row before: its hash from its own fields and stored
    prev_hash, its prev_hash against the previous row's hash, its seq against the previous seq + 1.
    """
    for (
        row_seq,
        occurred_at,
        actor_sub,
        actor_org,
        roles,
        action,
        target_type,
        target_id,
        outcome,
        correlation_id,
        prev_hash,
        row_hash,
    ) in rows:
        if row_seq != seq + 1 or prev_hash != head_hash:
            return seq + 1  # for a gap, the first missing number
        fields = {
            "seq": row_seq,
            "occurred_at": utc_isoformat(occurred_at),
            "actor_sub": actor_sub,
            "actor_org": actor_org,
            "actor_roles": stored_roles(roles),
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "outcome": outcome,
            "correlation_id": correlation_id,
        }
        if row_hash != chain_hash(prev_hash, fields):
            return row_seq
        seq, head_hash = row_seq, row_hash
    return None


async def chain_batches(
    connection: AsyncConnection, *, after: int, batch_size: int = VERIFY_BATCH
) -> AsyncIterator[list[Sequence[Any]]]:
    """The chain after seq `after` in keyset batches ordered by seq, as the driver's tuples (memory stays flat)."""
    while True:
        result = await connection.execute(_verify_query(after, batch_size))
        batch = result.cursor.fetchall()  # the driver's tuples: building a Row for each cost as much as hashing it
        result.close()
        if batch:
            yield batch
            after = batch[-1][0]
        if len(batch) < batch_size:
            return


async def break_after(connection: AsyncConnection, *, seq: int, head_hash: str) -> int | None:
    """The first seq after `seq` (whose hash is `head_hash`) at which the chain breaks, or None:
    the chain since then extends it."""
    async for batch in chain_batches(connection, after=seq):
        broken = first_break(batch, seq, head_hash)
        if broken is not None:
            return broken
        seq, head_hash = batch[-1][0], batch[-1][-1]
    return None


async def verify(
    *,
    session: AsyncSession,
    keys: Mapping[str, dict[str, str]],
    witnesses: Sequence[CheckpointPublic] = (),
    batch_size: int = VERIFY_BATCH,
) -> AuditVerification:
    """Recompute the chain from the genesis hash, then check every stored checkpoint
    (and any a witness gave) against it; count what is still pending."""
    connection = await session.connection()
    stored = [audit_proof.from_row(row) for row in await checkpoint_rows(connection)]
    wanted = {checkpoint.seq for checkpoint in (*stored, *witnesses)}
    events, head_seq, head_hash, first_broken, hash_at = 0, 0, GENESIS_HASH, None, {}
    async for batch in chain_batches(connection, after=0, batch_size=batch_size):
        if (
            first_broken is None
        ):  # after the first break only the count, the head and the hashes checkpoints name are still needed
            first_broken = first_break(batch, head_seq, head_hash)
        if wanted:
            hash_at.update((row[0], row[-1]) for row in batch if row[0] in wanted)
        events, head_seq, head_hash = events + len(batch), batch[-1][0], batch[-1][-1]
    judge = audit_proof.Judge(keys=keys, hash_at=hash_at, head_seq=head_seq)
    judge.stored(stored)
    witnessed = judge.witnessed(witnesses, {checkpoint.number: checkpoint for checkpoint in stored})
    pending = (await connection.execute(core_select(func.count()).select_from(PENDING))).scalar_one()
    return audit_proof.verification(
        judge=judge,
        events=events,
        pending=pending,
        head_seq=head_seq,
        head_hash=head_hash,
        chain_break=first_broken,
        stored=stored,
        witnessed=witnessed,
    )


async def checkpoint_rows(connection: AsyncConnection) -> Sequence[Row[Any]]:
    """Every stored checkpoint in number order (a few hundred a day at most)."""
    return (await connection.execute(core_select(*CHECKPOINTS.c).order_by(CHECKPOINTS.c.number))).all()
