"""Probes, problem responses for unknown routes, the database going away, settings, the CLI."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from app.main import create_app
from app.platform.config import Environment, Settings
from tests.support import TEST_SECRET, Tokens, cli, settings_for

REPO = Path(__file__).resolve().parents[1]
UNREACHABLE_POSTGRES = "postgresql+asyncpg://nobody@127.0.0.1:9/none"


async def test_probes(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "reachable"


async def test_readiness_names_its_checks(client: httpx.AsyncClient) -> None:
    ready = (await client.get("/readyz")).json()
    schema, calendar = ready["checks"]["schema"], ready["checks"]["calendar"]
    assert schema["status"] == "current" and schema["revision"] == schema["expected"] and schema["revision"]
    assert set(calendar) == {"status", "policy", "ends", "days_left", "detail"} and ready["status"] in (
        "ok",
        "degraded",
    )


def test_webhook_retention_is_90_days_unless_set() -> None:
    assert Settings(_env_file=None).webhook_retention_days == 90  # type: ignore[call-arg]
    assert Settings(_env_file=None, webhook_retention_days=30).webhook_retention_days == 30  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(_env_file=None, webhook_retention_days=0)  # type: ignore[call-arg]


async def test_unknown_route_and_method_are_problems(client: httpx.AsyncClient, tokens: Tokens) -> None:
    missing = await client.get("/v1/nothing-here", headers=tokens.admin())
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    wrong_method = await client.delete("/v1/organisations", headers=tokens.admin())
    assert wrong_method.status_code == 405 and wrong_method.json()["status"] == 405


async def test_database_away_is_503_not_500() -> None:
    application = create_app(settings_for(UNREACHABLE_POSTGRES))
    admin = Tokens(application.state.wiring.settings).admin()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 503
        response = await http.get("/v1/organisations", headers=admin)
    await application.state.wiring.engine.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"]


def test_production_refuses_development_shortcuts(tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    good = {
        "env": Environment.PRODUCTION,
        "database_url": "postgresql+asyncpg://db/caldicott",
        "jwks_file": jwks,
        "subject_key": "k" * 32,
    }
    good |= {
        "controller_org": "RXT",
        "controller_name": "Riverside NHS Foundation Trust",
        "audit_public_keys_file": tmp_path / "audit-keys.json",
    }
    assert Settings(_env_file=None, **good).env is Environment.PRODUCTION  # type: ignore[call-arg]
    for unsafe in (
        {"jwt_secret": "dev"},
        {"database_url": "sqlite+aiosqlite:///x.db"},
        {"subject_key": None},
        {"jwks_file": None},
        {"controller_org": "CONTROLLER"},
        {"controller_name": None},
        {"audit_public_keys_file": None},
    ):
        with pytest.raises(ValidationError):
            Settings(_env_file=None, **(good | unsafe))  # type: ignore[call-arg]


def run_cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m app.cli ARGS` as a process of its own: for the commands that start a server or a worker, and what
    an operator sees when one refuses to (tests/test_production.py); the others run in-process (tests.support.cli)."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CALDICOTT_")}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=cwd,
        env=clean | {"PYTHONPATH": str(REPO)} | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_token_command_needs_a_dev_secret(tmp_path: Path) -> None:
    refused = cli("token", "--org", "RXT01", "--role", "agency", cwd=tmp_path)
    assert refused.returncode != 0 and "CALDICOTT_JWT_SECRET" in refused.stderr
    assert refused.stdout == ""

    minted = cli(
        "token",
        "--org",
        "RXT01",
        "--role",
        "agency",
        "--role",
        "guardian",
        cwd=tmp_path,
        CALDICOTT_JWT_SECRET=TEST_SECRET,
    )
    assert minted.returncode == 0, minted.stderr
    principal = create_app(settings_for("sqlite+aiosqlite:///:memory:")).state.wiring.verifier.verify(
        minted.stdout.strip()
    )
    assert (principal.org, sorted(principal.roles), principal.sub) == ("RXT01", ["agency", "guardian"], "dev-rxt01")


async def test_migrate_command_builds_the_schema(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    done = cli("migrate", cwd=tmp_path, CALDICOTT_DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    assert {
        "organisations",
        "sharing_agreements",
        "sharing_requests",
        "sharing_request_versions",
        "sharing_request_subjects",
        "decisions",
        "alembic_version",
    } <= tables
