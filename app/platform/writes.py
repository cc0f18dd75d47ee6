"""New rows written with SQLAlchemy Core, in one statement per transaction on PostgreSQL.

The hot paths (a submission, an amendment, a guardian's decision) create rows that nothing
in the same request reads back as ORM objects, so they skip the unit of work: `add` queues
plain rows on the session, and they are written, like the ORM's own autoflush, before the
session's next ORM query and before it commits. On PostgreSQL the whole queue goes as ONE
statement, each table's rows one JSON parameter expanded by jsonb_populate_recordset in a
data-modifying CTE (PostgreSQL checks foreign keys at the end of the statement, so children
may sit beside their parents): a round trip, and SQLAlchemy compiling a multi-row INSERT,
each cost far more than the statement itself; it goes straight to asyncpg (app/platform/driver.py), and
when it is all the request writes it is its own transaction, with no BEGIN and COMMIT. On
SQLite, in-process, each table is one INSERT, parents first in the order they were queued.
Either way the rows commit with everything else the request writes, or not at all. The hooks
that write the queue are on the app's own session class (driver.AppSession), so `add` refuses
any other session, whose queue nothing would write.
"""

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Table, insert, text
from sqlalchemy.event import listens_for
from sqlalchemy.orm import ORMExecuteState, Session
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from app.platform import driver

QUEUED = "rows_to_write"  # in Session.info: {table: [row, ...]} in the order tables were first queued


def table_of(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


def row_of(instance: SQLModel) -> dict[str, Any]:
    """The instance's column values; a primary key still None is left for the database to number."""
    table = table_of(type(instance))
    return {
        column.key: getattr(instance, column.key)
        for column in table.columns
        if not (column.primary_key and getattr(instance, column.key) is None)
    }


def add(session: AsyncSession, model: type[SQLModel], rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
    """Queue one row, or several, of `model`'s table; queue a parent before its children."""
    if not isinstance(session.sync_session, driver.AppSession):
        raise TypeError("rows are queued only on the app's sessions (app/platform/db.py make_sessionmaker)")
    queued: dict[Table, list[Mapping[str, Any]]] = session.sync_session.info.setdefault(QUEUED, {})
    batch = queued.setdefault(table_of(model), [])
    if isinstance(rows, Mapping):
        batch.append(rows)
    else:
        batch.extend(rows)


async def write(session: AsyncSession) -> None:
    """Write the queue now (e.g. to meet a unique constraint inside a use case rather than at commit)."""
    await session.run_sync(_write_queued, driver.Transaction.SESSION)


def _write_queued(session: Session, transaction: driver.Transaction) -> None:
    queued: dict[Table, list[Mapping[str, Any]]] = session.info.pop(QUEUED, {})
    batches = [(table, rows) for table, rows in queued.items() if rows]
    if not batches:
        return
    if session.get_bind().dialect.name != "postgresql":
        connection = session.connection()
        for table, rows in batches:
            connection.execute(insert(table), rows)
        return
    shape = tuple((table.name, tuple(sorted({key for row in rows for key in row}))) for table, rows in batches)
    parameters = {
        f"rows_{index}": orjson.dumps(rows, option=orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS).decode()
        for index, (_, rows) in enumerate(batches)
    }
    driver.fetch_in_greenlet(session, _one_statement(shape), parameters, transaction=transaction)


@lru_cache(maxsize=256)
def _one_statement(shape: tuple[tuple[str, tuple[str, ...]], ...]) -> driver.Statement:
    """WITH write_0 AS (INSERT INTO t0 (...) SELECT ... FROM jsonb_populate_recordset(NULL::t0, :rows_0)), ... SELECT 1.

    Each table's rows travel as one JSON parameter, so the text depends only on which tables and
    columns are written: it is built once, and PostgreSQL prepares it once per connection.
    """
    parts = []
    for index, (table, columns) in enumerate(shape):
        names = ", ".join(f'"{column}"' for column in columns)
        rows = f'jsonb_populate_recordset(NULL::"{table}", CAST(:rows_{index} AS jsonb))'
        parts.append(f'write_{index} AS (INSERT INTO "{table}" ({names}) SELECT {names} FROM {rows})')
    return driver.prepare(text(f"WITH {', '.join(parts)} SELECT 1"), writes=True)


@listens_for(driver.AppSession, "do_orm_execute")
def _write_before_orm_query(state: ORMExecuteState) -> None:
    """Like autoflush: an ORM query in the same transaction sees the queued rows."""
    if state.session.info.get(QUEUED):
        _write_queued(state.session, driver.Transaction.SESSION)


@listens_for(driver.AppSession, "before_commit")
def _write_before_commit(session: Session) -> None:
    # When the unit of work has nothing to flush after it and nothing was written before it, this one statement is the
    # whole transaction: on PostgreSQL it needs no BEGIN and COMMIT round trips.
    alone = not (session.new or session.dirty or session.deleted)
    _write_queued(session, driver.Transaction.JOINED if alone else driver.Transaction.SESSION)


@listens_for(driver.AppSession, "after_rollback")
def _drop_queued(session: Session) -> None:
    session.info.pop(QUEUED, None)
