"""Async engine and the per-request session: commit at the end, roll back on error."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession


def make_engine(url: str, *, foreign_keys: bool = True) -> AsyncEngine:
    """Create the engine; SQLite gets foreign keys (off only while migrating), WAL, a busy timeout and BEGIN IMMEDIATE."""
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
        # keeps the audit chain's read-the-head-then-append linear.
        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(connection) -> None:  # type: ignore[no-untyped-def]
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per HTTP request: services flush, this commits."""
    async with request.app.state.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function": commit before the response is sent, so a failed commit is never a 201.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
