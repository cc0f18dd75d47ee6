"""The hot statements' runner (app/platform/driver.py), on both databases.

The session's transaction, a statement of its own, SQLAlchemy's errors, a joined write as its transaction's
last statement, hooks on the app's own session class only, and no private member of SQLAlchemy used.
"""

import ast
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import bindparam, event, exc, insert, select, text
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.base import utcnow
from app.models.organisation import Organisation
from app.models.vocabulary import DsptStatus, OrganisationType
from app.platform import driver, writes
from tests.conftest import fresh_start

INSERT = driver.prepare(
    insert(Organisation).values(
        code=bindparam("code"),
        name="Driver test",
        type=OrganisationType.POLICE,
        dspt_status=DsptStatus.STANDARDS_MET,
        active=True,
        created_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
)
COUNT = driver.prepare(select(Organisation.code, Organisation.type).where(Organisation.code == bindparam("code")))


async def codes(app: FastAPI, code: str) -> list[tuple[str, str]]:
    async with app.state.wiring.sessionmaker() as session:
        return [
            tuple(row)
            for row in await driver.fetch(session, COUNT, {"code": code}, transaction=driver.Transaction.SESSION)
        ]


@pytest.fixture(autouse=True)
async def no_organisations(app: FastAPI) -> None:
    await fresh_start(app)


async def test_a_statement_commits_and_rolls_back_with_the_session(app: FastAPI) -> None:
    async with app.state.wiring.sessionmaker() as session:
        await driver.fetch(session, INSERT, {"code": "KEPT", "now": utcnow()}, transaction=driver.Transaction.SESSION)
        await session.commit()
    async with app.state.wiring.sessionmaker() as session:
        await driver.fetch(
            session, INSERT, {"code": "DROPPED", "now": utcnow()}, transaction=driver.Transaction.SESSION
        )
        assert [
            tuple(row)
            for row in await driver.fetch(session, COUNT, {"code": "DROPPED"}, transaction=driver.Transaction.SESSION)
        ] == [("DROPPED", "police")]
        await session.rollback()
    assert await codes(app, "KEPT") == [("KEPT", "police")]
    assert await codes(app, "DROPPED") == []


async def test_a_literal_in_the_statement_is_sent_as_its_value(app: FastAPI) -> None:
    police_only = driver.prepare(
        select(Organisation.code).where(
            Organisation.type == OrganisationType.POLICE, Organisation.code == bindparam("code")
        )
    )
    async with app.state.wiring.sessionmaker() as session:
        await driver.fetch(session, INSERT, {"code": "LIT", "now": utcnow()}, transaction=driver.Transaction.SESSION)
        assert [
            row[0]
            for row in await driver.fetch(session, police_only, {"code": "LIT"}, transaction=driver.Transaction.SESSION)
        ] == ["LIT"]
        await session.rollback()


async def test_a_unique_violation_is_sqlalchemys_integrity_error_and_the_session_rolls_back(app: FastAPI) -> None:
    async with app.state.wiring.sessionmaker() as session:
        await driver.fetch(session, INSERT, {"code": "TWICE", "now": utcnow()}, transaction=driver.Transaction.SESSION)
        with pytest.raises(exc.IntegrityError):
            await driver.fetch(
                session, INSERT, {"code": "TWICE", "now": utcnow()}, transaction=driver.Transaction.SESSION
            )
        await session.rollback()
    assert await codes(app, "TWICE") == []


async def test_a_statement_of_its_own_survives_the_sessions_rollback_on_postgresql(
    app: FastAPI, database_kind: str
) -> None:
    async with app.state.wiring.sessionmaker() as session:
        if database_kind != "postgres":
            with pytest.raises(ValueError, match="PostgreSQL"):
                await driver.fetch(
                    session, INSERT, {"code": "OWN", "now": utcnow()}, transaction=driver.Transaction.OWN
                )
            return
        await driver.fetch(session, INSERT, {"code": "OWN", "now": utcnow()}, transaction=driver.Transaction.OWN)
        await driver.fetch(session, INSERT, {"code": "IN_TX", "now": utcnow()}, transaction=driver.Transaction.SESSION)
        with pytest.raises(RuntimeError, match="before the session's transaction begins"):
            await driver.fetch(session, INSERT, {"code": "LATE", "now": utcnow()}, transaction=driver.Transaction.OWN)
        await session.rollback()
    assert await codes(app, "OWN") == [("OWN", "police")]
    assert await codes(app, "IN_TX") == []


def organisation(code: str) -> Organisation:
    now = utcnow()
    return Organisation(
        code=code,
        name="Driver test",
        type=OrganisationType.POLICE,
        dspt_status=DsptStatus.STANDARDS_MET,
        active=True,
        created_at=now,
        updated_at=now,
    )


# Each fails in its own way: a unique index, a NOT NULL column, bad input for a type, a missing table, arithmetic.
FAILING = {
    "unique": "INSERT INTO organisations (code, name, type, dspt_status, active, created_at, updated_at) "
    "SELECT code, name, type, dspt_status, active, created_at, updated_at FROM organisations WHERE code = 'SAME'",
    "not null": "UPDATE organisations SET name = NULL WHERE code = 'SAME'",
    "input": "SELECT CAST('not a number' AS integer)",
    "no table": "SELECT * FROM no_such_table",
    "arithmetic": "SELECT 1 / (SELECT count(*) - count(*) FROM organisations)",
}


@pytest.mark.parametrize("kind", FAILING)
async def test_each_error_comes_out_as_sqlalchemy_raises_it_through_the_session(
    app: FastAPI,
    database_kind: str,
    kind: str,
) -> None:
    if database_kind != "postgres":
        pytest.skip("on SQLite the driver's statements run through the session")
    statement = text(FAILING[kind])
    raised = []
    for run in ("sqlalchemy", "driver"):
        async with app.state.wiring.sessionmaker() as session:
            same = {"code": "SAME", "now": utcnow()}
            await driver.fetch(session, INSERT, same, transaction=driver.Transaction.SESSION)
            with pytest.raises(exc.DBAPIError) as caught:
                if run == "sqlalchemy":
                    await (await session.connection()).execute(statement)
                else:
                    await driver.fetch(session, driver.prepare(statement), {}, transaction=driver.Transaction.SESSION)
            raised.append(caught.value)
            await session.rollback()
    through_sqlalchemy, through_driver = raised
    assert type(through_driver) is type(through_sqlalchemy)
    assert getattr(through_driver.orig, "sqlstate", None) == getattr(through_sqlalchemy.orig, "sqlstate", None)
    assert not through_driver.connection_invalidated


async def test_a_joined_write_before_the_transaction_has_begun_must_be_its_last_statement(
    app: FastAPI,
    database_kind: str,
) -> None:
    if database_kind != "postgres":
        pytest.skip("on SQLite every statement runs in the session's transaction: a joined write commits with the rest")
    async with app.state.wiring.sessionmaker() as session:
        await driver.fetch(session, INSERT, {"code": "ALONE", "now": utcnow()}, transaction=driver.Transaction.JOINED)
        with pytest.raises(driver.JoinedWriteNotLast, match="last statement"):
            await session.exec(select(Organisation).where(Organisation.code == "ALONE"))  # an ORM query
        session.add(organisation("AFTER"))
        with pytest.raises(driver.JoinedWriteNotLast):
            await session.flush()
        for transaction in driver.Transaction:
            with pytest.raises(driver.JoinedWriteNotLast):
                await driver.fetch(session, COUNT, {"code": "ALONE"}, transaction=transaction)
        with pytest.raises(driver.JoinedWriteNotLast):
            await session.commit()  # the flush of AFTER, which could not have committed with ALONE
        await session.rollback()
        # The transaction is over: the session serves again.
        rows = await driver.fetch(session, COUNT, {"code": "ALONE"}, transaction=driver.Transaction.JOINED)
        assert [tuple(row) for row in rows] == [("ALONE", "police")]
        await session.commit()
    assert await codes(app, "AFTER") == []


async def test_a_joined_read_or_a_write_that_joins_a_begun_transaction_may_be_followed(app: FastAPI) -> None:
    async with app.state.wiring.sessionmaker() as session:
        await driver.fetch(session, COUNT, {"code": "READ"}, transaction=driver.Transaction.JOINED)
        await driver.fetch(session, INSERT, {"code": "BEGUN", "now": utcnow()}, transaction=driver.Transaction.SESSION)
        await driver.fetch(session, INSERT, {"code": "JOINS", "now": utcnow()}, transaction=driver.Transaction.JOINED)
        session.add(organisation("ORM"))
        await session.flush()
        joined = await session.exec(select(Organisation.code).where(Organisation.code == "JOINS"))
        assert joined.one() == ("JOINS",)
        await session.rollback()
    for code in ("BEGUN", "JOINS", "ORM"):
        assert await codes(app, code) == []


async def test_the_write_queue_in_a_commit_that_then_flushes_more_is_refused_not_split(
    app: FastAPI,
    database_kind: str,
) -> None:
    """A commit hook run after the queue's that adds an ORM change would make the queue's joined write not the last."""
    if database_kind != "postgres":
        pytest.skip("on SQLite the queue is written in the session's transaction")

    def add_late(session: Session) -> None:
        session.add(organisation("LATE"))

    event.listen(driver.AppSession, "before_commit", add_late)
    try:
        async with app.state.wiring.sessionmaker() as session:
            writes.add(session, Organisation, writes.row_of(organisation("QUEUED")))
            with pytest.raises(driver.JoinedWriteNotLast):
                await session.commit()
            await session.rollback()
    finally:
        event.remove(driver.AppSession, "before_commit", add_late)
    assert await codes(app, "LATE") == []


async def test_the_hooks_are_on_the_apps_session_class_not_every_session(app: FastAPI) -> None:
    async with app.state.wiring.sessionmaker() as session:
        assert isinstance(session.sync_session, driver.AppSession)
    hooks = [
        ("before_commit", writes._write_before_commit),
        ("do_orm_execute", writes._write_before_orm_query),
        ("do_orm_execute", driver._no_query_after_joined_write),
        ("before_flush", driver._no_flush_after_joined_write),
    ]
    for name, hook in hooks:
        assert event.contains(driver.AppSession, name, hook)
        assert not event.contains(Session, name, hook)
    async with AsyncSession(app.state.wiring.engine) as other:
        with pytest.raises(TypeError, match="app's sessions"):
            writes.add(other, Organisation, writes.row_of(organisation("ELSEWHERE")))


def test_the_driver_and_the_write_queue_use_no_private_member_of_another_library() -> None:
    """Only public SQLAlchemy and asyncpg interfaces: no `x._name` (the modules' own functions are called by name)."""
    for module in ("app/platform/driver.py", "app/platform/writes.py"):
        tree = ast.parse(Path(module).read_text())
        private = [
            f"{module}:{node.lineno} .{node.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.endswith("__")
        ]
        assert private == []
