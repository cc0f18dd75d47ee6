"""The async engine and its sessions: SQLite's pragmas and BEGIN IMMEDIATE, PostgreSQL's closed connections replaced;
how many connections its pool lends, for the metrics."""

from collections.abc import Callable
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import QueuePool
from sqlmodel.ext.asyncio.session import AsyncSession

from app.platform.driver import AppSession

# Set in Session.info by audit.record: the transaction recorded audit events, to be chained once it commits.
AUDIT_RECORDED = "audit_recorded"
# PostgreSQL's pool in each process: the connection budget (docs/operators) multiplies these by the processes.
POOL_SIZE = 10
POOL_MAX_OVERFLOW = 10


def make_engine(url: str, *, foreign_keys: bool = True) -> AsyncEngine:
    """Create the engine; SQLite gets foreign keys (off only while migrating), WAL,
    a busy timeout and BEGIN IMMEDIATE."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            # The driver must not emit its own BEGIN: _begin_immediate below does.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            # Batch migrations rebuild tables by copy-and-rename, which enforced keys would block.
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        # A transaction that has only read cannot become a writer once another writer has
        # committed (SQLITE_BUSY_SNAPSHOT); taking the write lock at BEGIN waits instead, and
        # keeps a chaining pass's read-the-head-then-append linear (app/services/audit/chain.py).
        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(connection) -> None:  # type: ignore[no-untyped-def]
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_async_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_MAX_OVERFLOW)

    # Instead of pool_pre_ping, which costs three round trips per checkout (BEGIN, a ping, ROLLBACK) on asyncpg:
    # a connection the server has closed (a restart, a fail-over, an idle timeout) is known closed to the driver
    # without asking, and the pool replaces it. One that breaks silently fails its first statement with a
    # "database away" error (503, app/errors.py), and SQLAlchemy then empties the pool.
    @event.listens_for(engine.sync_engine, "checkout")
    def _replace_closed(dbapi_connection, _record, _proxy) -> None:  # type: ignore[no-untyped-def]
        if dbapi_connection.driver_connection.is_closed():
            raise exc.DisconnectionError("the server closed this connection")

    return engine


def make_sessionmaker(engine: AsyncEngine, info: dict[str, Any] | None = None) -> async_sessionmaker[AsyncSession]:
    """Sessions of the app's class; `info` (settings a service reads from its session, such as a disclosure's
    working days) is copied into each session's."""
    # AppSession: the class the driver's and the write queue's hooks listen on (app/platform/driver.py),
    # not every Session in the process.
    return async_sessionmaker(
        engine, class_=AsyncSession, sync_session_class=AppSession, expire_on_commit=False, info=info
    )


def pool_capacity(engine: AsyncEngine) -> int:
    """The most connections the engine's pool lends at once (its size and overflow); 1 for a pool of one connection."""
    pool = engine.sync_engine.pool
    if isinstance(pool, QueuePool):
        # QueuePool has no public accessor for its overflow limit; a negative one means no limit, counted as none.
        return pool.size() + max(0, pool._max_overflow)
    return 1


def watch_pool(engine: AsyncEngine, *, lent: Callable[[int], Any]) -> None:
    """Call `lent(1)` when the pool lends a connection and `lent(-1)` when it comes back.

    Listened for after make_engine's own checkout listener, which may refuse a closed connection: the pool then
    tries another, and only the checkout that succeeds is counted (each is matched by one checkin).
    """
    event.listen(engine.sync_engine, "checkout", lambda *_: lent(1))
    event.listen(engine.sync_engine, "checkin", lambda *_: lent(-1))
