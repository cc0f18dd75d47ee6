"""The hot statements, sent straight to asyncpg on PostgreSQL and through SQLAlchemy on SQLite.

Every submission runs the same few statements: the rate-limit take, the caller's organisation,
the webhook subscribers, and the one write of its new rows (app/platform/writes.py). Through
SQLAlchemy each costs about 240 us of CPU, against about 75 us for the same statement on the
asyncpg connection beneath (bench/NOTES.md): the compiled-cache lookup, the execution context,
the result processors and the greenlet hop cost more than the statement. So each of them is a
SQLAlchemy Core statement, written once, compiled once for PostgreSQL into `$n` text, and run
on the asyncpg connection under the request's session, inside that session's transaction, which
SQLAlchemy still commits or rolls back. On SQLite the same statement runs through the session.

Rows come back as asyncpg Records or SQLAlchemy Rows: both index and unpack like tuples, and
neither applies SQLAlchemy's result processing on PostgreSQL, so callers turn strings into
enums themselves. Errors come out as SQLAlchemy's, as they would through the session, so the
handlers in app/errors.py (503 for a database away, a unique index's IntegrityError) see no
difference.

A statement says which transaction it belongs in (`Transaction`): the session's, begun if need
be; the session's if it has begun, else its own (a read, or the one write of a request that
writes nothing else: no BEGIN and COMMIT round trips); or one of its own before the session's
(the rate-limit take).

Only public interfaces are used: the pooled connection's `driver_connection` (asyncpg's own),
reached from SQLAlchemy's greenlet by `AdaptedConnection.run_async`; asyncpg's
`is_in_transaction()` for whether the session's transaction has begun on the server;
`exec_driver_sql` for a statement that must begin it (SQLAlchemy's adapter begins its
transaction with its first statement, and commits or rolls it back); and asyncpg's exception
classes, turned into sqlalchemy.exc's as SQLAlchemy's adapter turns them (tests/test_driver.py
compares the two for each kind of error).

A joined write that runs before the session's transaction has begun commits at once, on its
own: it must be the transaction's last statement, or what follows it could not commit or roll
back with it. The driver marks the session, and any further statement on it (an ORM query or
flush, or one of the driver's) raises `JoinedWriteNotLast` until the session's transaction ends.
These listeners, and the write queue's, are on `AppSession`, the class of the app's sessions
(app/platform/db.py), not on every Session in the process.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import asyncpg
from sqlalchemy import Connection, exc
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import AdaptedConnection
from sqlalchemy.event import listens_for
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction
from sqlalchemy.sql.expression import Executable
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.orm.session import Session as SQLModelSession

from app.platform import tracing

_POSTGRESQL = asyncpg_dialect()

# In Session.info: the text of a joined write that committed on its own, until the session's transaction ends.
JOINED_WRITE = "joined_write_committed"


class AppSession(SQLModelSession):
    """The app's sessions (db.make_sessionmaker); the driver's and the write queue's listeners are on it."""


class JoinedWriteNotLast(RuntimeError):
    """A statement on a session after a joined write that committed on its own: they cannot share a transaction."""


@dataclass(frozen=True, slots=True)
class Statement:
    """A Core statement and its PostgreSQL text, with the names of its `$n` parameters in order."""

    statement: Executable
    sql: str
    names: tuple[str, ...]
    literals: Mapping[str, Any]  # values written into the statement itself (e.g. `scope == 'controller'`)
    writes: bool  # whether it may change rows: a joined one that commits on its own must be the transaction's last

    def arguments(self, parameters: Mapping[str, Any]) -> list[Any]:
        try:
            return [parameters[name] if name in parameters else self.literals[name] for name in self.names]
        except KeyError as missing:
            raise TypeError(f"no value for {missing} (column defaults are not applied here: give each)") from None


def prepare(statement: Executable, *, writes: bool | None = None) -> Statement:
    """Compile once, at import: the statement's text never changes, only its parameters.

    Anything but a SELECT counts as a write unless `writes=False` says otherwise (a textual SELECT, say).
    """
    compiled = statement.compile(dialect=_POSTGRESQL)  # type: ignore[attr-defined]
    names = tuple(compiled.positiontup or ())
    literals = {name: getattr(value, "value", value) for name, value in compiled.params.items() if value is not None}
    writing = not statement.is_select if writes is None else writes
    return Statement(statement=statement, sql=str(compiled), names=names, literals=literals, writes=writing)


class Transaction(Enum):
    """Which transaction a statement runs in, on PostgreSQL (on SQLite always the session's)."""

    SESSION = "session"  # the session's, begun here if it has not begun: more statements follow that commit with it
    JOINED = "joined"  # the session's if it has begun, else one of its own (a read; or the transaction's last write)
    OWN = "own"  # one of its own, committed at once, before the session's begins (the rate-limit take)


async def fetch(
    session: AsyncSession,
    statement: Statement,
    parameters: Mapping[str, Any],
    *,
    transaction: Transaction,
) -> Sequence[Any]:
    """The statement's rows, run on the connection under the session."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        if transaction == Transaction.OWN:
            raise ValueError(
                "a transaction of its own is for PostgreSQL; on SQLite one process serves, with such state in memory",
            )
        result = await connection.execute(statement.statement, dict(parameters))
        return result.all() if result.returns_rows else []
    sync_connection = connection.sync_connection
    assert sync_connection is not None
    adapted = sync_connection.connection.dbapi_connection
    assert isinstance(adapted, AdaptedConnection)
    driver_connection = adapted.driver_connection
    begun = _begun(session.sync_session, driver_connection, transaction)
    if not begun and transaction is Transaction.SESSION:
        # SQLAlchemy's adapter begins the session's transaction before its first statement, and later ends it.
        result = await connection.exec_driver_sql(statement.sql, tuple(statement.arguments(parameters)))
        return result.all() if result.returns_rows else []
    rows = await _on_driver(sync_connection, driver_connection, statement, parameters)
    if not begun and transaction is Transaction.JOINED and statement.writes:
        session.sync_session.info[JOINED_WRITE] = statement.sql  # it committed on its own: nothing may follow it
    return rows


def fetch_in_greenlet(
    session: Session,
    statement: Statement,
    parameters: Mapping[str, Any],
    *,
    transaction: Transaction,
) -> Sequence[Any]:
    """`fetch` for code SQLAlchemy runs in its greenlet (a Session event hook), on that session's connection."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        result = connection.execute(statement.statement, dict(parameters))
        return result.all() if result.returns_rows else []
    adapted = connection.connection.dbapi_connection
    assert isinstance(adapted, AdaptedConnection)
    driver_connection = adapted.driver_connection
    begun = _begun(session, driver_connection, transaction)
    if not begun and transaction is Transaction.SESSION:
        result = connection.exec_driver_sql(statement.sql, tuple(statement.arguments(parameters)))
        return result.all() if result.returns_rows else []
    rows: Sequence[Any] = adapted.run_async(lambda _: _on_driver(connection, driver_connection, statement, parameters))
    if not begun and transaction is Transaction.JOINED and statement.writes:
        session.info[JOINED_WRITE] = statement.sql
    return rows


def _begun(session: Session, driver_connection: asyncpg.Connection, transaction: Transaction) -> bool:
    """Whether the session's transaction has begun on the server; refuses a statement that may not run now.

    Outside a transaction asyncpg commits each statement by itself: no BEGIN and COMMIT round trips.
    """
    if JOINED_WRITE in session.info:
        _refuse_after_joined_write(session)
    begun: bool = driver_connection.is_in_transaction()
    if begun and transaction is Transaction.OWN:
        raise RuntimeError("a statement of its own must run before the session's transaction begins")
    return begun


async def _on_driver(
    connection: Connection,
    driver_connection: asyncpg.Connection,
    statement: Statement,
    parameters: Mapping[str, Any],
) -> Sequence[Any]:
    try:
        # SQLAlchemy's instrumentation sees only what SQLAlchemy runs: these get a span of their own when tracing.
        with tracing.statement(connection.engine, statement.sql):
            rows: Sequence[Any] = await driver_connection.fetch(statement.sql, *statement.arguments(parameters))
            return rows
    except Exception as error:
        raise _as_sqlalchemy_error(connection, driver_connection, statement, parameters, error) from error


def _refuse_after_joined_write(session: Session) -> None:
    written = session.info.get(JOINED_WRITE)
    if written is not None:
        raise JoinedWriteNotLast(
            "a joined write committed on its own, so it must be its transaction's last statement; this one could not "
            f"commit or roll back with it (write it with Transaction.SESSION instead): {written[:80]}"
        )


@listens_for(AppSession, "do_orm_execute")
def _no_query_after_joined_write(state: ORMExecuteState) -> None:
    _refuse_after_joined_write(state.session)  # type: ignore[arg-type]


@listens_for(AppSession, "before_flush")
def _no_flush_after_joined_write(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    _refuse_after_joined_write(session)


@listens_for(AppSession, "after_transaction_end")
def _transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(JOINED_WRITE, None)


# What SQLAlchemy's asyncpg adapter raises for each of asyncpg's exceptions (the first of an exception's classes
# found here), and so which of sqlalchemy.exc's comes out of a statement sent through the session.
_TRANSLATED: Mapping[type[Exception], Callable[..., exc.DBAPIError]] = {
    asyncpg.IntegrityConstraintViolationError: exc.IntegrityError,
    asyncpg.SyntaxOrAccessError: exc.ProgrammingError,
    asyncpg.InterfaceError: exc.InterfaceError,
    asyncpg.InvalidCachedStatementError: exc.NotSupportedError,
    asyncpg.InternalServerError: exc.InternalError,
    asyncpg.InternalClientError: exc.InternalError,
    asyncpg.PostgresError: exc.DBAPIError,
}


def _as_sqlalchemy_error(
    connection: Connection,
    driver_connection: asyncpg.Connection,
    statement: Statement,
    parameters: Mapping[str, Any],
    error: Exception,
) -> Exception:
    """The error SQLAlchemy would have raised for this one; a connection found closed is invalidated, as it does."""
    translated = next((_TRANSLATED[kind] for kind in type(error).__mro__ if kind in _TRANSLATED), None)
    if translated is None:  # OSError and the like: SQLAlchemy lets them through as they are, and the handlers know them
        return error
    disconnected = driver_connection.is_closed()
    if disconnected:
        connection.invalidate(error)
    return translated(statement.sql, dict(parameters), error, connection_invalidated=disconnected)
