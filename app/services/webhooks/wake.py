"""Wake the webhook worker the moment deliveries are committed: one PostgreSQL connection LISTENing.

A trigger on webhook_deliveries (migration 0009) notifies CHANNEL when the writer's transaction
commits. The worker keeps one connection of its own listening and sets its wake-up event on each
notification. Polling stays underneath: it finds retries that come due, covers the time the
connection is away (a PostgreSQL restart), and is all there is on SQLite. Nothing here stops
the worker: a connection that fails is logged, dropped, and opened again a little later.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import make_url

from app.platform.config import Settings

log = logging.getLogger("caldicott.webhooks")

CHANNEL = "caldicott_deliveries"  # as the trigger function of migration 0009 names it
RELISTEN_SECONDS = 2.0  # between attempts to listen again after the connection failed
CHECK_SECONDS = 30.0  # how often an idle listening connection is asked whether it is still there
CONNECT_SECONDS = 10.0


def asyncpg_dsn(database_url: str) -> str:
    """The SQLAlchemy URL (`postgresql+asyncpg://…`) as a plain libpq DSN for asyncpg."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def listening(*, settings: Settings, wake: asyncio.Event) -> AsyncIterator[None]:
    """While the block runs, set `wake` on every notification of new deliveries (PostgreSQL; on SQLite, nothing)."""
    if settings.uses_sqlite:
        yield
        return
    task = asyncio.create_task(_listen_until_cancelled(asyncpg_dsn(settings.database_url), wake))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _listen_until_cancelled(dsn: str, wake: asyncio.Event) -> None:
    failing = False
    while True:
        try:
            await _listen(dsn, wake)
            log.warning("webhook worker: the listening connection closed; polling until it can listen again")
            failing = False
        except Exception as error:  # PostgreSQL away, refusing, restarting: the poll carries on meanwhile
            # Said once per outage, not every few seconds while it lasts.
            log.log(
                logging.DEBUG if failing else logging.WARNING,
                "webhook worker: not listening (%s); polling meanwhile",
                type(error).__name__,
            )
            failing = True
        await asyncio.sleep(RELISTEN_SECONDS)


async def _listen(dsn: str, wake: asyncio.Event) -> None:
    """Listen on one connection until it is lost; raises if it cannot be opened or stops answering."""
    connection = await asyncpg.connect(dsn, timeout=CONNECT_SECONDS)
    lost = asyncio.Event()
    try:
        connection.add_termination_listener(lambda _connection: lost.set())
        await connection.add_listener(CHANNEL, lambda *_: wake.set())
        log.info("webhook worker: listening on %s", CHANNEL)
        wake.set()  # deliveries written while nobody listened are due now
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), timeout=CHECK_SECONDS)
            if not lost.is_set():
                # A connection cut without a word (a network partition) shows here, not in a termination.
                await connection.fetchval("SELECT 1", timeout=CONNECT_SECONDS)
    finally:
        if not connection.is_closed():
            try:
                await asyncio.wait_for(connection.close(), timeout=CONNECT_SECONDS)
            except (Exception, asyncio.CancelledError):
                connection.terminate()
                raise
