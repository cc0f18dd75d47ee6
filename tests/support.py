"""Test support shared by fixtures and tests: settings, tokens, the command line, where the scenario corpus lives."""

import fcntl
import html
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import cli as caldicott
from app.http.tokens import mint_dev_token
from app.models.base import LONDON
from app.models.vocabulary import Role
from app.platform.config import Environment, Settings, get_settings
from app.platform.logs import QUIET_LOGGERS

TEST_SECRET = "test-secret-for-hs256-only-in-tests-0123456789"
# The key that signs the tests' audit checkpoints: made on first use, as development makes it, outside the checkout.
TEST_AUDIT_KEY = Path(tempfile.mkdtemp(prefix="caldicott-test-keys-")) / "audit-signing-key.pem"
GUARDIAN_ORGS = ("LA01", "RXT01")
# Tests that start server or worker processes, or time what those do: pytest-xdist (scripts/test, --dist loadgroup)
# runs them one after another on one worker, so that at most one such test shares the machine with the other
# worker's in-process tests.
PROCESS_GROUP = pytest.mark.xdist_group("processes")
SHARED_SCENARIOS = Path(
    os.environ.get("CALDICOTT_SCENARIOS_DIR", Path(__file__).resolve().parents[2] / "shared" / "scenarios")
)


def replay_window() -> dict[str, str]:
    """A replay's window (one is required) of the last 300 London days to tomorrow: every decision a test makes."""
    today = datetime.now(LONDON).date()
    return {"from": (today - timedelta(days=300)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}


def settings_for(database_url: str, **overrides: object) -> Settings:
    """Development settings for tests, never read from the environment or a .env file."""
    values: dict[str, object] = {
        "database_url": database_url,
        "jwt_secret": TEST_SECRET,
        "subject_key": "test-subject-key",
        "audit_chain_delay_seconds": 0,  # every request's events chained before the test sees its answer
        "audit_signing_key_file": TEST_AUDIT_KEY,
        # Guardians of these sit in the controller's review besides its own (CALDICOTT_GUARDIAN_ORGS): RXT01 is also the
        # tests' usual requester, so that "a guardian never decides their own organisation's request" can be tested.
        "guardian_orgs": list(GUARDIAN_ORGS),
        "console_dev_sign_in": True,  # the console's pages are tested signed in through the development sign-in
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class Tokens:
    """Mints bearer headers signed with the test secret."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def headers(self, org: str, *roles: Role, sub: str | None = None) -> dict[str, str]:
        token = mint_dev_token(self.settings, org=org, roles=list(roles), sub=sub or f"user-{org.lower()}")
        return {"Authorization": f"Bearer {token}"}

    def admin(self) -> dict[str, str]:
        return self.headers("CONTROLLER", Role.ADMIN, sub="admin-1")

    def agency(self, org: str) -> dict[str, str]:
        return self.headers(org, Role.AGENCY)


@dataclass(frozen=True)
class Ran:
    """What a command left, as subprocess.CompletedProcess holds it: its exit status and what it wrote."""

    returncode: int
    stdout: str
    stderr: str


def cli(*args: str, cwd: Path, **env: str) -> Ran:
    """`caldicott ARGS` run in this process, as a shell would run it in `cwd` with no CALDICOTT_* variables but `env`.

    A process of its own proves nothing more for commands that start no server (tests.test_operations.run_cli starts
    one where it does) and costs seconds. The command runs in a thread, as it runs its own event loop and an async
    test is inside one; the environment, the directory, the cached settings and the logging it set up are put back.
    """
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(_run_cli, list(args), cwd, env).result()


def _run_cli(argv: list[str], cwd: Path, env: dict[str, str]) -> Ran:
    saved_environ, saved_cwd = dict(os.environ), Path.cwd()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    out, err = io.StringIO(), io.StringIO()
    for name in [name for name in os.environ if name.startswith("CALDICOTT_")]:
        del os.environ[name]
    os.environ.update(env)
    os.chdir(cwd)
    get_settings.cache_clear()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = caldicott.main(argv)
            except SystemExit as exit:  # argparse's refusals, and a command that exits with a message as Python does
                code = exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 1
                if isinstance(exit.code, str):
                    print(exit.code, file=sys.stderr)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_environ)
        get_settings.cache_clear()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
    return Ran(code, out.getvalue(), err.getvalue())


def production_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings production accepts (a JWKS file written in `tmp_path`), with `overrides`."""
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    return Settings(
        _env_file=None,
        env=Environment.PRODUCTION,
        database_url="postgresql+asyncpg://db/caldicott",
        jwks_file=jwks,
        subject_key="k" * 32,
        controller_org="RX1",
        controller_name="Riverside NHS Foundation Trust",
        audit_public_keys_file=tmp_path / "audit-keys.json",
        **overrides,
    )  # type: ignore[call-arg]


# The console (app/console/): signed in through the development sign-in, over https (its cookie is Secure).

FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(page: str) -> str:
    """The form token a console page gave its forms."""
    found = FORM_TOKEN.search(page)
    assert found, "the page has no form with a form token"
    return html.unescape(found[1])


def console_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver")


async def dev_sign_in(console: httpx.AsyncClient, role: Role = Role.GUARDIAN, name: str = "Grace Guardian") -> str:
    """Sign `console` in as a person of the controller with `role`; the form token of their pages."""
    page = await console.get("/console/sign-in")
    assert page.status_code == 200, page.text
    signed_in = await console.post(
        "/console/dev-sign-in", data={"csrf_token": form_token(page.text), "name": name, "role": role.value}
    )
    assert signed_in.status_code == 303, signed_in.text
    signing_out = await console.get("/console/sign-out")  # a page with a form: any page's token is the sign-in's
    assert signing_out.status_code == 200, signing_out.text
    return form_token(signing_out.text)


def npm_ci(folder: Path) -> None:
    """`npm ci` in `folder` (tests/oidc, tests/browser) unless it is installed already, from its lock file alone.

    Test processes may ask at the same moment: one installs under a lock on the folder while the others wait, then
    find it done. npm writes node_modules/.package-lock.json last, so an install cut short counts as none."""
    with (folder / ".npm-ci.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / "node_modules" / ".package-lock.json").is_file():
            return
        npm = shutil.which("npm")
        assert npm, "npm (and node, 20.19 or later) are needed by the tests in " + str(folder)
        installed = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if installed.returncode != 0:
            raise RuntimeError(f"npm ci in {folder} failed:\n{installed.stdout}{installed.stderr}")
