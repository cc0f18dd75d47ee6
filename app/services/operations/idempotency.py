"""Idempotency keys: what a POST with a key was sent with and the answer it got, looked up for its retries, and
pruned once expired. The HTTP side (taking the key, replaying the answer) is app/http/idempotency.py."""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import InvalidInput
from app.models.base import utcnow
from app.models.idempotency import IdempotencyRecord

log = logging.getLogger("caldicott.idempotency")
HEADER = "Idempotency-Key"
BATCH = 500  # rows pruned a transaction, so the housekeeping never holds locks for long


@dataclass(frozen=True, slots=True)
class KeyUse:
    """A key as sent with one request: whose it is and what it was sent with (the body's keyed hash under each
    configured subject key version, the current one recorded)."""

    org: str
    key: str
    method: str
    path: str
    hashes: Mapping[int, str]
    key_version: int

    def record(self, *, status_code: int, body: str, headers: dict[str, Any], hours: int) -> IdempotencyRecord:
        """The row that keeps the answer this request is being given, until `hours` from now."""
        now = utcnow()
        return IdempotencyRecord(
            org=self.org,
            key=self.key,
            method=self.method,
            path=self.path,
            request_hash=self.hashes[self.key_version],
            key_version=self.key_version,
            status_code=status_code,
            body=body,
            headers=headers,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )


async def earlier(*, session: AsyncSession, use: KeyUse) -> IdempotencyRecord | None:
    """The answer first given to this key, if it is still kept; a 422 naming the header when the key was used for
    another request (another body, method or path). An expired row not yet pruned goes now, so the key is free."""
    query = select(IdempotencyRecord).where(IdempotencyRecord.org == use.org, IdempotencyRecord.key == use.key)
    found = (await session.exec(query)).first()
    if found is None:
        return None
    if found.expires_at <= utcnow():
        await session.delete(found)
        await session.flush()
        return None
    # Compared under the key version that hashed the first body; one since retired cannot be compared with.
    if (found.method, found.path, found.request_hash) != (use.method, use.path, use.hashes.get(found.key_version)):
        raise InvalidInput(
            HEADER,
            f"this key was already used with a different request ({found.method} {found.path[:200]}, or another "
            "body); send a new key for a new request",
            location="header",
        )
    return found


async def prune_expired(*, sessionmaker: async_sessionmaker[AsyncSession], now: datetime | None = None) -> int:
    """Delete the keys past their expiry, a batch a transaction; how many went."""
    cutoff, pruned = now or utcnow(), 0
    while True:
        async with sessionmaker() as session, session.begin():
            ids = (
                await session.exec(
                    select(IdempotencyRecord.id).where(col(IdempotencyRecord.expires_at) <= cutoff).limit(BATCH)
                )
            ).all()
            if ids:
                await session.exec(delete(IdempotencyRecord).where(col(IdempotencyRecord.id).in_(ids)))
        pruned += len(ids)
        if len(ids) < BATCH:
            break
    if pruned:
        log.info("pruned %d expired idempotency keys", pruned)
    return pruned
