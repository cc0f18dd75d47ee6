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
(the rate-limit take). Beginning the session's transaction, and translating asyncpg's errors,
use three members of SQLAlchemy's asyncpg adapter (`_transaction`, `_start_transaction`,
`_handle_exception`): tests/test_driver.py fails if an upgrade of SQLAlchemy changes them.
The write queue's listeners are on `AppSession`, the class of the app's sessions
(app/platform/db.py), not on every Session in the process.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import Connection, exc
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql.expression import Executable
from sqlalchemy.util import await_
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.orm.session import Session as SQLModelSession

from app.platform import tracing

_POSTGRESQL = asyncpg_dialect()


class AppSession(SQLModelSession):
    """The app's sessions (db.make_sessionmaker); the write queue's listeners are on it."""


@dataclass(frozen=True, slots=True)
class Statement:
    """A Core statement and its PostgreSQL text, with the names of its `$n` parameters in order."""

    statement: Executable
    sql: str
    names: tuple[str, ...]
    literals: Mapping[str, Any]  # values written into the statement itself (e.g. `scope == 'controller'`)

    def arguments(self, parameters: Mapping[str, Any]) -> list[Any]:
        try:
            return [parameters[name] if name in parameters else self.literals[name] for name in self.names]
        except KeyError as missing:
            raise TypeError(f"no value for {missing} (column defaults are not applied here: give every value)") from None


def prepare(statement: Executable) -> Statement:
    """Compile once, at import: the statement's text never changes, only its parameters."""
    compiled = statement.compile(dialect=_POSTGRESQL)  # type: ignore[attr-defined]
    names = tuple(compiled.positiontup or ())
    literals = {name: getattr(value, "value", value) for name, value in compiled.params.items() if value is not None}
    return Statement(statement=statement, sql=str(compiled), names=names, literals=literals)


class Transaction(Enum):
    """Which transaction a statement runs in, on PostgreSQL (on SQLite always the session's)."""

    SESSION = "session"  # the session's, begun here if it has not begun: more statements follow that must commit with this one
    JOINED = "joined"  # the session's if it has begun, else a transaction of its own (a read; or the session's only write)
    OWN = "own"  # one of its own, committed at once, before the session's begins (the rate-limit take)


async def fetch(session: AsyncSession, statement: Statement, parameters: Mapping[str, Any], *, transaction: Transaction) -> Sequence[Any]:
    """The statement's rows, run on the connection under the session."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        if transaction == Transaction.OWN:
            raise ValueError("a transaction of its own is for PostgreSQL; on SQLite one process serves and keeps such state in memory")
        result = await connection.execute(statement.statement, dict(parameters))
        return result.all() if result.returns_rows else []
    return await _on_driver(connection.sync_connection, statement, parameters, transaction)  # type: ignore[arg-type]


def fetch_in_greenlet(connection: Connection, statement: Statement, parameters: Mapping[str, Any], *, transaction: Transaction) -> Sequence[Any]:
    """`fetch` for code SQLAlchemy runs in its greenlet (a Session event hook), on that session's connection."""
    if connection.dialect.name != "postgresql":
        result = connection.execute(statement.statement, dict(parameters))
        return result.all() if result.returns_rows else []
    return await_(_on_driver(connection, statement, parameters, transaction))  # type: ignore[no-any-return]


async def _on_driver(connection: Connection, statement: Statement, parameters: Mapping[str, Any], transaction: Transaction) -> Sequence[Any]:
    adapted = connection.connection.dbapi_connection
    assert adapted is not None
    # Outside a transaction asyncpg commits each statement by itself: no BEGIN and COMMIT round trips.
    if transaction == Transaction.OWN and adapted._transaction is not None:
        raise RuntimeError("a statement of its own must run before the session's transaction begins")
    try:
        if transaction == Transaction.SESSION and adapted._transaction is None:
            # What SQLAlchemy's asyncpg adapter does before its own first statement; it commits or rolls back this transaction.
            await adapted._start_transaction()
        # SQLAlchemy's instrumentation sees only what SQLAlchemy runs: these get a span of their own when tracing is on.
        with tracing.statement(connection.engine, statement.sql):
            return await adapted.driver_connection.fetch(statement.sql, *statement.arguments(parameters))  # type: ignore[no-any-return]
    except Exception as error:
        raise _as_sqlalchemy_error(connection, adapted, statement, parameters, error) from error


def _as_sqlalchemy_error(connection: Connection, adapted: Any, statement: Statement, parameters: Mapping[str, Any], error: Exception) -> Exception:
    """The error SQLAlchemy would have raised for this one; a connection found broken is invalidated, as SQLAlchemy does."""
    dbapi = connection.dialect.loaded_dbapi
    if isinstance(error, dbapi.Error):
        dbapi_error: Exception = error
    else:
        try:
            adapted._handle_exception(error)  # the adapter's translation of asyncpg's exceptions into DBAPI ones; always raises
        except dbapi.Error as translated:
            dbapi_error = translated
        except Exception as other:  # OSError and the like: the handlers know them as they are
            return other
    disconnected = connection.dialect.is_disconnect(dbapi_error, adapted, None)
    if disconnected:
        connection.invalidate(dbapi_error)
    return exc.DBAPIError.instance(statement.sql, dict(parameters), dbapi_error, dbapi.Error, connection_invalidated=disconnected, dialect=connection.dialect)
