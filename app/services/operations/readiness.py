"""Readiness: the database reachable, its schema at this code's revision,
the active policy's calendar running long enough.

GET /readyz answers 503 when the database cannot be reached or its schema is behind (a problem
naming both revisions and `caldicott migrate`), and 200 otherwise: `ok`, or `degraded` with the
check that says why (a calendar ending soon, a schema newer than this code). `caldicott serve`
runs the same checks once before it listens, and logs what an operator must do.
"""

import asyncio
import logging
from enum import StrEnum

from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import SchemaNotMigrated, ServiceUnavailable
from app.models.base import LONDON, utcnow
from app.platform.config import Settings
from app.platform.db import make_engine, make_sessionmaker
from app.rules import Policy
from app.services.operations.schema_state import SchemaCheck, SchemaStatus, SchemaWatch, check_schema
from app.services.policies import editions
from app.services.policies.calendar import CalendarCheck, CalendarStatus, CalendarWarnings, calendar_check
from app.services.policies.registry import PolicyRegistry

log = logging.getLogger("caldicott.readiness")

START_CHECK_SECONDS = 15.0  # `serve` does not wait longer than this on a database that does not answer


class ReadinessStatus(StrEnum):
    """Whether the service is ready, as `/readyz` reports it.

    - `ok`: ready, and no check needs an operator.
    - `degraded`: serving, but a check says an operator should act soon.
    """

    OK = "ok"
    DEGRADED = "degraded"


class ReadinessChecks(BaseModel):
    schema_revision: SchemaCheck = Field(
        serialization_alias="schema", description="Where the database schema stands against this code's migrations."
    )
    calendar: CalendarCheck = Field(description="Whether the active policy's bank-holiday calendar runs long enough.")


class Readiness(BaseModel):
    """What GET /readyz answers with 200."""

    status: ReadinessStatus = Field(
        description="`ok`, or `degraded` when a check says an operator should act soon (still ready)."
    )
    database: str = Field(
        default="reachable",
        description="Always `reachable` in a 200 answer (an unreachable database is a 503 problem).",
    )
    checks: ReadinessChecks = Field(description="The checks behind `status`.")
    warning: str | None = Field(
        default=None,
        description="Set while the active policy is replay-only (still ready): an admin should activate the current "
        "edition or a policy derived from it",
    )


class Monitor:
    """One app's readiness state: its schema's cached revision, and when the calendar warning was last logged."""

    def __init__(self, engine: AsyncEngine):
        self.schema = SchemaWatch(engine)
        self.warnings = CalendarWarnings()


async def active_policy(*, registry: PolicyRegistry, sessionmaker: async_sessionmaker[AsyncSession]) -> Policy:
    """The policy that decides new requests now."""
    async with sessionmaker() as session:
        return await registry.active(session=session)


async def readiness(
    *, engine: AsyncEngine, registry: PolicyRegistry, sessionmaker: async_sessionmaker[AsyncSession], monitor: Monitor
) -> Readiness:
    """Run the checks: 503 (ServiceUnavailable) when not ready, else ok or degraded,
    logging a degraded calendar now and then."""
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:  # any failure to reach the database means not ready
        raise ServiceUnavailable("the database is unreachable", headers={"Retry-After": "5"}) from None
    schema = await monitor.schema.check()
    if not schema.ready:
        raise SchemaNotMigrated(schema.detail, headers={"Retry-After": "30"})
    policy = await active_policy(registry=registry, sessionmaker=sessionmaker)
    calendar = calendar_check(policy, today=utcnow().astimezone(LONDON).date())
    monitor.warnings.note(calendar)
    degraded = calendar.status is CalendarStatus.DEGRADED or schema.status is not SchemaStatus.CURRENT
    return Readiness(
        status=ReadinessStatus.DEGRADED if degraded else ReadinessStatus.OK,
        checks=ReadinessChecks(schema_revision=schema, calendar=calendar),
        warning=editions.warning(policy),
    )


async def report_at_start(*, settings: Settings, registry: PolicyRegistry) -> SchemaCheck | None:
    """Log, before serving, a schema that needs `caldicott migrate` and a calendar that ends soon;
    the schema's judgement, None if unread."""
    engine = make_engine(settings.database_url)
    try:
        async with asyncio.timeout(START_CHECK_SECONDS):
            schema = await check_schema(engine)
            if not schema.ready:
                log.error("%s; until then GET /readyz answers 503 and requests fail", schema.detail)
                return schema
            if schema.status is not SchemaStatus.CURRENT:
                log.warning("%s", schema.detail)
            policy = await active_policy(registry=registry, sessionmaker=make_sessionmaker(engine))
            CalendarWarnings().note(calendar_check(policy, today=utcnow().astimezone(LONDON).date()))
            if (warning := editions.warning(policy)) is not None:
                log.warning("%s", warning)
            return schema
    except (OSError, SQLAlchemyError, TimeoutError) as error:
        log.warning(
            "could not check the database schema at start (%s); GET /readyz checks it again",
            type(getattr(error, "orig", error)).__name__,
        )
        return None
    finally:
        await engine.dispose()
