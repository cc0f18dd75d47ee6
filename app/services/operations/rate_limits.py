"""Rate limits per organisation: a token bucket per verified `org` and class of route.

The buckets are in memory on SQLite (one process serves) and in the `rate_limits` table on
PostgreSQL, where every process takes from the same bucket with one atomic statement. The HTTP
side (the dependency that answers 429, the RateLimit fields) is app/http/rate_limits.py.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Double, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.rate_limit import RateLimitBucket, RouteClass
from app.platform import driver
from app.platform.config import Settings


@dataclass(frozen=True, slots=True)
class Quota:
    """A bucket of `requests` tokens, refilled evenly over `window_seconds`:
    a burst of `requests`, then requests/window a second."""

    requests: int
    window_seconds: int

    @property
    def per_second(self) -> float:
        return self.requests / self.window_seconds

    def refilled(self, tokens: float, *, since: float, now: float) -> float:
        """The tokens held at `now`, given `tokens` counted at `since`; a clock that went back refills nothing."""
        return min(self.requests, tokens + max(0.0, now - since) * self.per_second)


def quotas_from(settings: Settings) -> dict[RouteClass, Quota]:
    """Each class of route's quota, from the settings."""
    return {
        RouteClass.WRITES: Quota(settings.rate_limit_writes_quota, settings.rate_limit_writes_window_seconds),
        RouteClass.READS: Quota(settings.rate_limit_reads_quota, settings.rate_limit_reads_window_seconds),
        RouteClass.REPORTS: Quota(settings.rate_limit_reports_quota, settings.rate_limit_reports_window_seconds),
        RouteClass.UPLOADS: Quota(settings.rate_limit_uploads_quota, settings.rate_limit_uploads_window_seconds),
    }


@dataclass(frozen=True, slots=True)
class Admission:
    """One take from a bucket: whether the request may go on, and the tokens left after it
    (or held now, when refused)."""

    route_class: RouteClass
    quota: Quota
    admitted: bool
    tokens: float

    @property
    def retry_after(self) -> int:
        """Whole seconds until the bucket holds a token again."""
        return max(1, math.ceil((1 - self.tokens) / self.quota.per_second))

    def fields(self) -> dict[str, str]:
        """RateLimit-Policy and RateLimit; `t` is when the bucket is full again, or, refused,
        the same moment as Retry-After."""
        name = f'"{self.route_class}"'
        reset = (
            math.ceil((self.quota.requests - self.tokens) / self.quota.per_second)
            if self.admitted
            else self.retry_after
        )
        return {
            "RateLimit-Policy": f"{name};q={self.quota.requests};w={self.quota.window_seconds}",
            "RateLimit": f"{name};r={max(0, math.floor(self.tokens))};t={reset}",
        }


class Buckets(Protocol):
    async def take(
        self, *, session: AsyncSession, org: str, route_class: RouteClass, quota: Quota, now: float
    ) -> tuple[bool, float]:
        """Take one token if the bucket holds one: (taken, tokens left or held)."""
        ...


class MemoryBuckets:
    """The buckets of one process, for SQLite, which one process serves."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, RouteClass], tuple[float, float]] = {}

    async def take(
        self, *, session: AsyncSession, org: str, route_class: RouteClass, quota: Quota, now: float
    ) -> tuple[bool, float]:
        # Nothing awaits between the read and the write, so no other request of the event loop comes between them.
        tokens, since = self._buckets.get((org, route_class), (quota.requests, now))
        tokens = quota.refilled(tokens, since=since, now=now)
        taken = tokens >= 1
        if taken:
            tokens -= 1
        self._buckets[(org, route_class)] = (tokens, max(since, now))
        return taken, tokens


def _take_statement() -> Any:
    """INSERT ... ON CONFLICT DO UPDATE ... RETURNING: refill by the time elapsed and take one token, in one statement.

    The row is locked while it is refilled and decremented, so concurrent takes queue on it. When the bucket
    holds no whole token the WHERE leaves the row alone and nothing is returned.
    """
    table = RateLimitBucket.__table__  # type: ignore[attr-defined]
    now, quota, per_second = (
        bindparam("now", type_=Double()),
        bindparam("quota", type_=Double()),
        bindparam("per_second", type_=Double()),
    )
    elapsed = func.greatest(0.0, now - table.c.refilled_at)  # a clock that went back refills nothing
    refilled = func.least(quota, table.c.tokens + elapsed * per_second)
    return (
        insert(table)
        .values(org=bindparam("org"), route_class=bindparam("route_class"), tokens=quota - 1, refilled_at=now)
        .on_conflict_do_update(
            index_elements=[table.c.org, table.c.route_class],
            set_={"tokens": refilled - 1, "refilled_at": func.greatest(table.c.refilled_at, now)},
            where=refilled >= 1,
        )
        .returning(table.c.tokens)
    )


class DatabaseBuckets:
    """The buckets in PostgreSQL's `rate_limits` table, shared by every process serving."""

    TAKE = driver.prepare(_take_statement())
    HELD = driver.prepare(
        select(RateLimitBucket.tokens, RateLimitBucket.refilled_at).where(
            RateLimitBucket.org == bindparam("org"), RateLimitBucket.route_class == bindparam("route_class")
        )
    )

    async def take(
        self, *, session: AsyncSession, org: str, route_class: RouteClass, quota: Quota, now: float
    ) -> tuple[bool, float]:
        bucket = {"org": org, "route_class": str(route_class)}
        # On the request's connection, each statement its own transaction (no BEGIN and COMMIT round trips), run
        # before the request's transaction begins: a request that fails or is rolled back has still spent its
        # token, and no request's transaction holds a lock on a bucket.
        taken = await driver.fetch(
            session,
            self.TAKE,
            bucket | {"now": now, "quota": float(quota.requests), "per_second": quota.per_second},
            transaction=driver.Transaction.OWN,
        )
        if taken:
            return True, taken[0][0]
        tokens, refilled_at = (await driver.fetch(session, self.HELD, bucket, transaction=driver.Transaction.OWN))[0]
        return False, quota.refilled(tokens, since=refilled_at, now=now)


class RateLimiter:
    """Takes a token for each request from its organisation's bucket for the route's class."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.enabled = settings.rate_limit_enabled
        self.quotas = quotas_from(settings)
        self.buckets: Buckets = MemoryBuckets() if settings.uses_sqlite else DatabaseBuckets()
        # Wall-clock seconds, so that on PostgreSQL every process counts the same refill (tests replace it).
        self.clock = clock

    async def take(self, *, session: AsyncSession, org: str, route_class: RouteClass) -> Admission:
        quota = self.quotas[route_class]
        admitted, tokens = await self.buckets.take(
            session=session, org=org, route_class=route_class, quota=quota, now=self.clock()
        )
        return Admission(route_class=route_class, quota=quota, admitted=admitted, tokens=tokens)
