"""A database whose schema is behind the code: /readyz answers 503 naming both revisions, requests a 503
(not a 500), `serve` says to migrate."""

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from alembic import command
from app.cli import alembic_config
from app.main import create_app
from app.services.operations import readiness
from app.services.operations.schema_state import SchemaStatus, judge, shipped_revisions
from tests.support import Tokens, settings_for

REPO = Path(__file__).resolve().parents[1]
OLDER = "0012_attachments"  # the revision before the newest; an older schema the newest code cannot serve


def newest() -> str:
    """The newest revision of the shipped migrations."""
    shipped = shipped_revisions()
    assert shipped is not None
    return ", ".join(shipped[0])


@asynccontextmanager
async def served(url: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app on the database and an admin's client on it."""
    application = create_app(settings_for(url))
    headers = Tokens(application.state.wiring.settings).admin()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://testserver", headers=headers
        ) as http:
            yield application, http
    finally:
        await application.state.wiring.engine.dispose()


def test_judging_revisions() -> None:
    shipped = (("0013_b",), frozenset({"0012_a", "0013_b"}))
    assert judge(("0013_b",), shipped).status is SchemaStatus.CURRENT
    behind = judge(("0012_a",), shipped)
    assert (behind.status, behind.ready, behind.revision, behind.expected) == (
        SchemaStatus.BEHIND,
        False,
        "0012_a",
        "0013_b",
    )
    assert (
        behind.detail
        == "the database schema is at revision 0012_a; this service needs revision 0013_b: run `caldicott migrate`"
    )
    assert "no revision (never migrated)" in judge((), shipped).detail and not judge((), shipped).ready
    ahead = judge(("0014_c",), shipped)
    assert (ahead.status, ahead.ready) == (
        SchemaStatus.AHEAD,
        True,
    )  # a newer release migrated it: old processes keep serving
    assert judge(("0013_b",), None).status is SchemaStatus.UNKNOWN


def test_readyz_names_both_revisions_until_migrated(blank_database: str) -> None:
    config = alembic_config(blank_database)
    command.upgrade(config, OLDER)

    async def scenario() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with served(blank_database) as (application, http):
            not_ready = await http.get("/readyz")
            await asyncio.to_thread(command.upgrade, config, "head")  # Alembic runs its own event loop
            cached = await http.get("/readyz")
            application.state.wiring.readiness.schema.ttl = 0
            return not_ready, cached, await http.get("/readyz")

    not_ready, cached, ready = asyncio.run(scenario())
    assert not_ready.status_code == 503 and not_ready.headers["content-type"] == "application/problem+json"
    problem = not_ready.json()
    assert problem["type"].endswith("/schema-not-migrated") and not_ready.headers["retry-after"]
    assert (
        problem["detail"] == f"the database schema is at revision {OLDER}; "
        f"this service needs revision {newest()}: run `caldicott migrate`"
    )
    assert cached.status_code == 503  # the judgement is kept a few seconds: a probe a second is one query in ten
    assert ready.status_code == 200, ready.text
    schema = ready.json()["checks"]["schema"]
    assert (schema["status"], schema["revision"], schema["expected"]) == ("current", newest(), newest())


def test_a_never_migrated_database_is_a_503_not_a_500(blank_database: str) -> None:
    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        async with served(blank_database) as (_, http):
            return await http.get("/readyz"), await http.get("/v1/organisations")

    ready, listing = asyncio.run(scenario())
    assert ready.status_code == 503 and "no revision (never migrated)" in ready.json()["detail"]
    assert listing.status_code == 503, listing.text
    assert listing.json()["type"].endswith("/schema-not-migrated") and "caldicott migrate" in listing.json()["detail"]


def test_the_start_up_report_logs_one_line_naming_the_command(
    blank_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    command.upgrade(alembic_config(blank_database), OLDER)
    settings = settings_for(blank_database)
    registry = create_app(settings).state.wiring.policies
    with caplog.at_level(logging.INFO, logger="caldicott.readiness"):
        found = asyncio.run(readiness.report_at_start(settings=settings, registry=registry))
    assert found is not None and found.status is SchemaStatus.BEHIND
    lines = [record.getMessage() for record in caplog.records if record.name == "caldicott.readiness"]
    assert lines == [
        f"the database schema is at revision {OLDER}; this service needs revision {newest()}: run "
        "`caldicott migrate`; until then GET /readyz answers 503 and requests fail"
    ]
    command.upgrade(alembic_config(blank_database), "head")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="caldicott.readiness"):
        assert (
            asyncio.run(readiness.report_at_start(settings=settings, registry=registry)).status is SchemaStatus.CURRENT
        )  # type: ignore[union-attr]
    assert [record for record in caplog.records if record.name == "caldicott.readiness"] == []


def serve_until(line: str, env: dict[str, Any], *, within: float = 60) -> str:
    """Start `caldicott serve`, read its log until a line contains `line`, stop it; the log read."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CALDICOTT_")}
    argv = [sys.executable, "-m", "app.cli", "serve", "--port", "0", "--log-level", "info"]
    process = subprocess.Popen(
        argv,
        cwd=REPO,
        env=clean | {"PYTHONPATH": str(REPO)} | env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    seen, started = "", time.monotonic()
    try:
        assert process.stderr is not None
        while line not in seen and time.monotonic() - started < within:
            seen += process.stderr.readline()
    finally:
        process.terminate()
        process.wait(timeout=30)
    return seen


def test_serve_on_an_unmigrated_postgresql_says_to_run_migrate(blank_database: str) -> None:
    if blank_database.startswith("sqlite"):
        pytest.skip("`serve` migrates the embedded SQLite database itself")
    command.upgrade(alembic_config(blank_database), OLDER)
    env = {"CALDICOTT_DATABASE_URL": blank_database, "CALDICOTT_JWT_SECRET": "x" * 40}
    seen = serve_until("Caldicott service on", env)
    wanted = [line for line in seen.splitlines() if "run `caldicott migrate`" in line]
    assert len(wanted) == 1 and f"at revision {OLDER}" in wanted[0] and newest() in wanted[0], seen
