"""Shared by the benchmark and resilience scripts: databases, server processes, request bodies, percentiles.

Every process started here listens on 127.0.0.1 only and is stopped by the `Process`
context manager (or by `stop_all` from an atexit hook), whatever happens.
"""

import atexit
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from app.http.tokens import mint_dev_token
from app.models.vocabulary import Role
from app.platform.config import Settings
from app.services.webhooks.wake import asyncpg_dsn as asyncpg_dsn  # re-exported: the bench scripts import it from here
from tests.rules.baseline import changed

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
JWT_SECRET = "bench-secret-for-hs256-only-in-benchmarks-0123456789"
SUBJECT_KEY = "bench-subject-key"
AGENCIES = ("RXT01", "RXT02", "LA001", "POL01")

# The mix of outcomes the load posts: each variant changes the baseline request so the rules decide as named.
VARIANTS: tuple[tuple[str, dict[str, Any], float], ...] = (
    ("approve", {}, 0.50),
    ("approve_with_conditions", {"recipient.staff_trained": False}, 0.20),
    ("refer", {"recipient.onward_sharing": True}, 0.15),
    ("refuse", {"consent.status": "refused"}, 0.15),
)


def server_url() -> str:
    """The throwaway PostgreSQL server started by bench/pg.sh."""
    url = os.environ.get("CALDICOTT_BENCH_POSTGRES_URL")
    if not url:
        raise SystemExit("CALDICOTT_BENCH_POSTGRES_URL is not set: run this under bench/pg.sh (make bench / make resilience)")
    return url


async def create_database(name: str) -> str:
    """A new, empty database on the bench server (dropped first if left over); its SQLAlchemy URL."""
    server = make_url(server_url())
    connection = await asyncpg.connect(asyncpg_dsn(server_url()))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return server.set(database=name).render_as_string(hide_password=False)


def settings_for(database_url: str, **overrides: Any) -> Settings:
    """Development settings with the bench secret, never read from a .env file."""
    values: dict[str, Any] = {"database_url": database_url, "jwt_secret": JWT_SECRET, "subject_key": SUBJECT_KEY, "webhook_allow_private": True}
    return Settings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


def service_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a `caldicott` process on the bench database: only our CALDICOTT_* variables."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CALDICOTT_")}
    env.update(
        CALDICOTT_DATABASE_URL=database_url,
        CALDICOTT_JWT_SECRET=JWT_SECRET,
        CALDICOTT_SUBJECT_KEY=SUBJECT_KEY,
        CALDICOTT_WEBHOOK_ALLOW_PRIVATE="true",
    )
    env.update(extra)
    return env


def token(*, org: str, role: Role, sub: str | None = None, ttl_seconds: int = 6 * 3600) -> str:
    return mint_dev_token(settings_for("sqlite://"), org=org, roles=[role], sub=sub or f"bench-{org.lower()}-{role}", ttl_seconds=ttl_seconds)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request_bodies(count: int, *, seed: int = 7) -> list[tuple[str, dict[str, Any]]]:
    """`count` valid request bodies in the outcome mix of VARIANTS, each with its own reference and identifiers."""
    rng = random.Random(seed)
    names, changes, weights = zip(*VARIANTS, strict=True)
    bodies = []
    for index in range(count):
        (pick,) = rng.choices(range(len(names)), weights=weights)
        # One person per request: more would also engage the systematic-sharing rule and skew the mix.
        body = changed(changes[pick] | {"reference": f"BENCH-{index:07d}", "subjects.identifiers": [f"{rng.randrange(10**9, 10**10)}"]})
        bodies.append((names[pick], body))
    return bodies


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (nan when there are none)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


_running: list["Process"] = []


class Process:
    """A child process in its own process group, logged to a file; stopped on exit whatever happens."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str] | None = None, log_dir: Path):
        self.name, self.argv, self.env = name, argv, env
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> "Process":
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        _running.append(self)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill9(self) -> None:
        """SIGKILL the process itself, as a crash would: no shutdown, no clean-up."""
        if self.alive():
            assert self.popen is not None
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM the process group, then SIGKILL it if it does not go."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
            except ProcessLookupError:
                pass
        if self in _running:
            _running.remove(self)

    def __enter__(self) -> "Process":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def exit_on_sigterm() -> None:
    """Let SIGTERM end a bench script through its exit hooks, so the processes it started are stopped too."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


@atexit.register
def stop_all() -> None:
    for process in list(_running):
        process.stop(timeout=5)


def wait_until_up(url: str, *, process: Process | None = None, timeout: float = 30) -> None:
    """Poll `url` until it answers; fail at once if the process has died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and not process.alive():
            raise RuntimeError(f"{process.name} exited while starting; see {process.log_path}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {timeout:g} s")


def serve_argv(port: int, *, workers: int = 1) -> list[str]:
    """The service as production runs it: `caldicott serve` (uvicorn, one process unless `workers`)."""
    return [str(VENV_BIN / "caldicott"), "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--workers", str(workers)]


def uvicorn_argv(app: str, port: int, *, workers: int = 1) -> list[str]:
    """A baseline app (an import string) under uvicorn with the service's own options (bench/serve.py)."""
    return [str(VENV_BIN / "python"), "-m", "bench.serve", app, "--port", str(port), "--workers", str(workers), "--log-level", "warning"]


def migrate_argv() -> list[str]:
    return [str(VENV_BIN / "caldicott"), "migrate"]


def run_checked(argv: list[str], *, env: dict[str, str], timeout: float = 300) -> str:
    """Run a short command to completion; its output, or an error with the output."""
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


async def register_organisations(base_url: str, codes: Sequence[str] = AGENCIES) -> None:
    """Register the requesting organisations through the admin API."""
    headers = {"Authorization": f"Bearer {token(org='CONTROLLER', role=Role.ADMIN)}"}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for code in codes:
            body = {"code": code, "name": f"Bench organisation {code}", "type": "nhs_trust", "dspt_status": "standards_met"}
            response = await client.post("/v1/organisations", json=body, headers=headers)
            if response.status_code != 201:
                raise RuntimeError(f"registering {code}: {response.status_code} {response.text}")


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": os.environ.get("CALDICOTT_BENCH_PG_VERSION", "unknown"),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: how busy the machine was besides us."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def new_id() -> str:
    return str(uuid.uuid4())


def dump(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, default=str) + "\n")


def log_dir(name: str) -> Path:
    """A folder for the logs of one run's processes, under bench/out/ (ignored by git)."""
    path = ROOT / "bench" / "out" / name
    path.mkdir(parents=True, exist_ok=True)
    return path
