"""The audit trail: append hash-chained events, list them, and verify the whole chain."""

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Row, Select, Text, cast, text
from sqlalchemy import select as core_select
from sqlalchemy.event import listens_for
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import correlation
from app.auth import Principal
from app.canonical import canonical_json, sha256_hex, stored_json
from app.models.audit import AuditEvent, AuditEventPage, AuditEventPublic, AuditTarget, AuditVerification
from app.models.base import utcnow
from app.services.pagination import ascending, keyset_page

GENESIS_HASH = "0" * 64
SYSTEM_ACTOR = "system"
VERIFY_BATCH = 5000
# Key of the transaction-scoped advisory lock that serialises appends on PostgreSQL ("CALDAUDT").
CHAIN_LOCK_KEY = 0x43414C4441554454
PENDING = "audit_events_pending"  # in Session.info: this transaction's events, not yet chained


def canonical_fields(event: AuditEvent | Row[Any]) -> dict[str, Any]:
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
) -> AuditEvent:
    """Add one event to the caller's transaction; it joins the chain as that transaction commits (actor None: the service itself)."""
    pending = AuditEvent(
        seq=0,
        occurred_at=utcnow(),
        actor_sub=actor.sub if actor else SYSTEM_ACTOR,
        actor_org=actor.org if actor else None,
        actor_roles=sorted(str(role) for role in actor.roles) if actor else [],
        action=action,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        correlation_id=correlation.current(),
        prev_hash="",
        hash="",
    )
    session.sync_session.info.setdefault(PENDING, []).append(pending)
    return pending


# The chain is appended to one writer at a time, so its head is taken only at the last moment
# of the transaction: a lock held from the first event to the commit serialised whole requests.
@listens_for(Session, "before_commit")
def _append_pending(session: Session) -> None:
    pending: list[AuditEvent] = session.info.pop(PENDING, [])
    if not pending:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # Released when the transaction ends.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
    head = connection.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(col(AuditEvent.seq).desc()).limit(1)).first()
    seq, prev_hash = (head[0], head[1]) if head is not None else (0, GENESIS_HASH)
    now = utcnow()
    for entry in pending:
        seq += 1
        entry.seq, entry.occurred_at, entry.prev_hash = seq, now, prev_hash
        entry.hash = prev_hash = chain_hash(prev_hash, canonical_fields(entry))
        session.add(entry)


@listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(PENDING, None)


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
    """Events in chain order (oldest first), filtered, keyset-paginated on seq; `until` is exclusive."""
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
    rows, next_cursor = await keyset_page(session, query, order=[ascending(col(AuditEvent.seq), int)], key=lambda row: (row.seq,), cursor=cursor, limit=limit)
    items = [AuditEventPublic.model_validate(row, from_attributes=True) for row in rows]
    return AuditEventPage(items=items, next_cursor=next_cursor)


def _verify_query(after: int, limit: int) -> Select[Any]:
    """The next batch of the chain as plain columns, read as the driver gives them: no ORM objects, enums or JSON decoding per row."""
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


def _utc_isoformat(value: datetime | str) -> str:
    """As canonical_fields writes occurred_at, from the driver's value: SQLite's is text, read as SQLAlchemy reads it, and naive."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)).isoformat(timespec="microseconds")


# A trail holds a handful of distinct role sets: each one's stored text is parsed once (the lists are only ever encoded).
_stored_roles = lru_cache(maxsize=256)(stored_json)


def _first_break(rows: Sequence[Sequence[Any]], seq: int, head_hash: str) -> int | None:
    """The first seq in `rows` (which follow `seq`, whose hash is `head_hash`) at which the chain breaks, or None.

    Each row is checked against itself and the row before: its hash from its own fields and stored
    prev_hash, its prev_hash against the previous row's hash, its seq against the previous seq + 1.
    """
    for row_seq, occurred_at, actor_sub, actor_org, roles, action, target_type, target_id, outcome, correlation_id, prev_hash, row_hash in rows:
        if row_seq != seq + 1 or prev_hash != head_hash:
            return seq + 1  # for a gap, the first missing number
        fields = {
            "seq": row_seq,
            "occurred_at": _utc_isoformat(occurred_at),
            "actor_sub": actor_sub,
            "actor_org": actor_org,
            "actor_roles": _stored_roles(roles),
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


async def verify(*, session: AsyncSession, batch_size: int = VERIFY_BATCH) -> AuditVerification:
    """Recompute the chain from the genesis hash, streaming the table in keyset batches ordered by seq (memory stays flat)."""
    connection = await session.connection()
    events, head_seq, head_hash, first_broken = 0, 0, GENESIS_HASH, None
    while True:
        result = await connection.execute(_verify_query(head_seq, batch_size))
        batch = result.cursor.fetchall()  # the driver's tuples: building a Row for each cost as much as hashing it
        result.close()
        if batch:
            if first_broken is None:  # after the first break only the count and the head are still needed
                first_broken = _first_break(batch, head_seq, head_hash)
            events, head_seq, head_hash = events + len(batch), batch[-1][0], batch[-1][-1]
        if len(batch) < batch_size:
            break
    return AuditVerification(valid=first_broken is None, events=events, head_seq=head_seq, head_hash=head_hash, first_broken_seq=first_broken)
