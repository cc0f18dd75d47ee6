"""The audit trail: append hash-chained events, list them, and verify the whole chain."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.event import listens_for
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import correlation
from app.auth import Principal
from app.canonical import canonical_json, sha256_hex
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


async def verify(*, session: AsyncSession, batch_size: int = VERIFY_BATCH) -> AuditVerification:
    """Recompute the chain from the genesis hash, streaming the table in batches ordered by seq."""
    table = AuditEvent.__table__  # type: ignore[attr-defined]
    connection = await session.connection()
    events, head_seq, head_hash, first_broken = 0, 0, GENESIS_HASH, None
    while True:
        # Core rows, not ORM objects: nothing accumulates in the session while streaming.
        batch = (await connection.execute(table.select().where(table.c.seq > head_seq).order_by(table.c.seq).limit(batch_size))).all()
        for row in batch:
            intact = row.seq == head_seq + 1 and row.prev_hash == head_hash and row.hash == chain_hash(head_hash, canonical_fields(row))
            if first_broken is None and not intact:
                first_broken = head_seq + 1  # for a gap, the first missing number
            events, head_seq, head_hash = events + 1, row.seq, row.hash
        if len(batch) < batch_size:
            break
    return AuditVerification(valid=first_broken is None, events=events, head_seq=head_seq, head_hash=head_hash, first_broken_seq=first_broken)
