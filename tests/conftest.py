"""Fixtures: every API test runs over real HTTP (httpx on the ASGI app) against SQLite and PostgreSQL.

PostgreSQL comes from CALDICOTT_TEST_POSTGRES_URL (a server URL; a throwaway database
is created on it for the run). Without it the PostgreSQL half is skipped, and with
CALDICOTT_TEST_REQUIRE_POSTGRES=1 (as in CI) its absence is an error instead.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import app.models.tables  # noqa: F401  (registers every table for the clean-up)
from app.cli import migrate
from app.main import create_app, register_controller
from app.models.policy import PolicyActivation
from app.platform.db import make_engine
from app.services.operations.rate_limits import MemoryBuckets
from tests.support import Tokens, settings_for
from tests.webhook_receiver import Receiver, running

T = TypeVar("T")
POSTGRES_URL = os.environ.get("CALDICOTT_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("CALDICOTT_TEST_REQUIRE_POSTGRES") == "1"


async def _create_postgres_database(server_url: str) -> str:
    url = make_url(server_url)
    name = f"caldicott_test_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, database=url.database or "postgres"
    )
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return url.set(database=name).render_as_string(hide_password=False)


async def _drop_postgres_database(database_url: str) -> None:
    url = make_url(database_url)
    connection = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, database="postgres"
    )
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    finally:
        await connection.close()


def _require_postgres() -> str:
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("CALDICOTT_TEST_REQUIRE_POSTGRES=1 but CALDICOTT_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL half skipped: set CALDICOTT_TEST_POSTGRES_URL (scripts/test does)")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def _migrated_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Each kind of database, made and migrated on first use, once per test process (each xdist worker has its own).

    `database_url` is torn down whenever the tests run switch between its parameters, which a worker's share of
    them does more than once; the databases themselves outlive that, rather than being migrated again each time.
    """
    made: dict[str, str] = {}
    yield made
    if "postgres" in made:
        asyncio.run(_drop_postgres_database(made["postgres"]))


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, _migrated_databases: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A migrated, empty database of each kind, for the whole run."""
    kind = request.param
    if kind not in _migrated_databases:
        if kind == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'caldicott.db'}"
        else:
            url = asyncio.run(_create_postgres_database(_require_postgres()))
        migrate(settings_for(url))
        _migrated_databases[kind] = url
    return _migrated_databases[kind]


@pytest.fixture(params=["sqlite", "postgres"])
def blank_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind, for this test alone (not the session's migrated one)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'blank.db'}"
        return
    url = asyncio.run(_create_postgres_database(_require_postgres()))
    yield url
    asyncio.run(_drop_postgres_database(url))


def on_database(url: str, work: Callable[[sa.Connection], T]) -> T:
    """Run synchronous Core work in one transaction over the service's own driver.

    The test is not async: Alembic runs its own loop."""

    async def run() -> T:
        engine = make_engine(url)
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture(scope="session")
def database_kind(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgres"


@pytest.fixture(scope="session")
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(settings_for(database_url))
    yield application
    await application.state.wiring.engine.dispose()


async def empty_tables(application: FastAPI, tables: list[str] | None = None) -> None:
    """Delete every row (or every row of `tables`), children first, so each test starts from an empty database."""
    application.state.wiring.policies.forget_active()  # the process's cached active policy goes with the activations
    async with application.state.wiring.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # The audit table's trigger refuses DELETE; replica mode skips it (the test cluster's user is a superuser).
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
        for table in reversed(SQLModel.metadata.sorted_tables):
            if tables is None or table.name in tables:
                await connection.execute(text(f'DELETE FROM "{table.name}"'))


async def fresh_start(application: FastAPI) -> None:
    """An empty database as the service leaves it at start: only the controller's organisation, and an empty trail.

    Its registration is the trail's first event in a real start (tests/test_admin.py checks that); here the trail
    is emptied again so that each test counts only its own events.
    """
    await empty_tables(application)
    limiter = application.state.wiring.rate_limiter
    if isinstance(limiter.buckets, MemoryBuckets):  # SQLite's buckets, full again as PostgreSQL's emptied table is
        limiter.buckets = MemoryBuckets()
    await register_controller(application)
    await empty_tables(application, ["audit_events", "audit_pending"])


async def active_before_upgrade(application: FastAPI, name: str, version: str) -> None:
    """An installation upgraded while this policy was active: its activation recorded as an earlier release recorded it.

    The service itself refuses to activate a replay-only policy now; an installation that activated one before
    keeps it."""
    async with application.state.wiring.engine.begin() as connection:
        await connection.execute(
            sa.insert(PolicyActivation).values(
                name=name, version=version, activated_at=datetime.now(UTC), activated_by="admin-before-upgrade"
            )
        )
    application.state.wiring.policies.forget_active()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app, over an empty database."""
    await fresh_start(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        yield http


@pytest.fixture(scope="session")
def tokens(app: FastAPI) -> Tokens:
    return Tokens(app.state.wiring.settings)


# Webhooks: an app that may deliver to loopback, a client on it, and a receiver that checks signatures.


@pytest.fixture(scope="module")
async def hook_app(database_url: str) -> AsyncIterator[FastAPI]:
    """The app as local development runs it: private addresses allowed, a short retry schedule."""
    application = create_app(
        settings_for(
            database_url, webhook_allow_private=True, webhook_retry_schedule=[0, 0, 0], webhook_timeout_seconds=5
        )
    )
    yield application
    await application.state.wiring.engine.dispose()


@pytest.fixture
async def hooks(hook_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on that app, over an empty database."""
    await fresh_start(hook_app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=hook_app), base_url="http://testserver") as http:
        yield http


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running(Receiver()) as serving:
        yield serving
