"""`caldicott serve --workers N`: several uvicorn processes on PostgreSQL, refused on SQLite.

The PostgreSQL test starts the real command (`caldicott serve --workers 2`) on a fresh
database of the test server, as bench/e2e.py does, and tells the workers apart by what
the operating system and the logs show: the parent's spawned children in /proc, the
sockets each holds, and the `pid` each worker's JSON log lines carry. No debug endpoint.
"""

import asyncio
import contextlib
import json
import os
import pickle
import socket
import subprocess
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from app.cli import parser
from app.models.vocabulary import Role
from app.platform import server
from bench.common import (
    VENV_BIN,
    Process,
    asyncpg_dsn,
    create_database,
    free_port,
    migrate_argv,
    register_organisations,
    request_bodies,
    run_checked,
    service_env,
    token,
    wait_until_up,
)
from tests.support import PROCESS_GROUP, settings_for

SUBMISSIONS = 100
HEAD_TIMEOUT = 2
AGENCY = "RXT01"
pytestmark = PROCESS_GROUP


def children(parent: int) -> set[int]:
    """The worker processes uvicorn spawned under `parent` (multiprocessing's spawn children), from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"spawn_main" in command:
            found.add(int(entry.name))
    return found


def connections_held(port: int, pids: set[int]) -> dict[int, int]:
    """How many established connections to `port` each process holds (sockets in /proc/net/tcp, matched by inode)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
            inodes.add(fields[9])
    held = {}
    for pid in pids:
        links = []
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:  # the process has exited since it was found: it holds nothing
            descriptors = []
        for fd in descriptors:
            with contextlib.suppress(OSError):  # closed since the listing
                links.append(str(fd.readlink()))
        held[pid] = sum(link.startswith("socket:[") and link[8:-1] in inodes for link in links)
    return held


def started_workers(parent: int, log: Path, count: int, *, timeout: float = 90) -> set[int]:
    """Wait until `parent` has `count` children that have each logged that its application started; those children.

    On a loaded machine one worker may start many seconds after the other (and until then the first takes every
    connection), and uvicorn replaces a child that is too slow to answer its health check, so the children are
    looked up again until they are all serving.
    """
    deadline = time.monotonic() + timeout
    while True:
        started = set()
        for line in log.read_text().splitlines():
            entry = json.loads(line) if line.startswith("{") else {}
            if entry.get("message") == "Application startup complete.":
                started.add(entry.get("pid"))
        workers = children(parent)
        if len(workers) == count and workers <= started:
            return workers
        assert time.monotonic() < deadline, f"of {workers}, only {started} started within {timeout:g} s"
        time.sleep(0.2)


def closed_by_server(connection: socket.socket, *, within: float) -> bool:
    connection.settimeout(within)
    try:
        return connection.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def idle_connections_are_closed_by_every_worker(port: int, workers: set[int]) -> None:
    """Open connections that never send a head until each worker holds some;
    every one is closed at the head deadline."""
    opened: list[socket.socket] = []
    try:
        while len(opened) < 60 and min(connections_held(port, workers).values()) == 0:
            opened.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            time.sleep(0.05)
        held = connections_held(port, workers)
        assert min(held.values()) >= 1, f"the idle connections all went to one worker: {held}"
        assert all(closed_by_server(connection, within=HEAD_TIMEOUT + 3) for connection in opened)
    finally:
        for connection in opened:
            connection.close()


async def submit_concurrently(base_url: str) -> list[httpx.Response]:
    """SUBMISSIONS posts at once, each on its own connection."""
    headers = {"Authorization": f"Bearer {token(org=AGENCY, role=Role.AGENCY)}"}
    bodies = [body for _outcome, body in request_bodies(SUBMISSIONS, seed=13)]
    async with httpx.AsyncClient(
        base_url=base_url, timeout=60, limits=httpx.Limits(max_connections=SUBMISSIONS)
    ) as client:
        return await asyncio.gather(
            *(client.post("/v1/sharing-requests", json=body, headers=headers) for body in bodies)
        )


async def read_back(base_url: str, created: list[dict[str, str]]) -> list[tuple[str, int, str | None]]:
    """Each created request as the agency reads it again: (id, status code, reference)."""
    headers = {"Authorization": f"Bearer {token(org=AGENCY, role=Role.AGENCY)}"}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        answers = [await client.get(f"/v1/sharing-requests/{request['id']}", headers=headers) for request in created]
    return [
        (request["id"], answer.status_code, answer.json().get("reference"))
        for request, answer in zip(created, answers, strict=True)
    ]


async def verified_after_chaining(base_url: str) -> dict[str, object]:
    """GET /v1/audit/verify as an auditor, polled until no event is waiting to be chained (up to 10 s)."""
    headers = {"Authorization": f"Bearer {token(org='CONTROLLER', role=Role.AUDITOR)}"}
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        deadline = time.monotonic() + 10
        while True:
            response = await client.get("/v1/audit/verify", headers=headers)
            assert response.status_code == 200, response.text
            verification = response.json()
            if not verification.get("pending") or time.monotonic() > deadline:
                return verification
            await asyncio.sleep(0.2)


def answering_pids(log: Path) -> set[int]:
    """The processes whose access log lines record a submission answered 201."""
    pids = set()
    for line in log.read_text().splitlines():
        entry = json.loads(line) if line.startswith("{") else {}
        if (
            entry.get("logger") == "caldicott.access"
            and entry.get("route") == "/v1/sharing-requests"
            and entry.get("status") == 201
        ):
            pids.add(entry["pid"])
    return pids


async def drop_database(database_url: str) -> None:
    connection = await asyncpg.connect(
        asyncpg_dsn(make_url(database_url).set(database="postgres").render_as_string(hide_password=False))
    )
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{make_url(database_url).database}" WITH (FORCE)')
    finally:
        await connection.close()


async def test_two_workers_share_the_load_and_keep_every_request_and_the_chain(
    database_url: str, database_kind: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if database_kind != "postgres":
        pytest.skip("several server processes are for PostgreSQL only (SQLite is refused: see the tests below)")
    monkeypatch.setenv(
        "CALDICOTT_BENCH_POSTGRES_URL",
        make_url(database_url).set(database="postgres").render_as_string(hide_password=False),
    )
    fresh = await create_database(f"caldicott_workers_{uuid.uuid4().hex[:8]}")
    env = service_env(fresh, CALDICOTT_HTTP_HEADER_TIMEOUT_SECONDS=str(HEAD_TIMEOUT))
    try:
        await asyncio.to_thread(run_checked, migrate_argv(), env=env)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        argv = [
            str(VENV_BIN / "caldicott"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "info",
        ]
        with Process("serve-workers", argv, env=env, log_dir=tmp_path) as serving:
            await asyncio.to_thread(wait_until_up, f"{base_url}/healthz", process=serving)
            workers = await asyncio.to_thread(started_workers, serving.pid, serving.log_path, 2)
            await asyncio.to_thread(idle_connections_are_closed_by_every_worker, port, workers)

            await register_organisations(base_url, [AGENCY])
            answers = await submit_concurrently(base_url)
            created = [answer.json() for answer in answers if answer.status_code == 201]
            assert len(created) == SUBMISSIONS, sorted({answer.status_code for answer in answers})
            assert all(status == 200 and reference for _id, status, reference in await read_back(base_url, created))

            verification = await verified_after_chaining(base_url)
            assert verification["valid"] and not verification.get("pending"), verification
            assert verification["events"] >= SUBMISSIONS + 1, (
                verification
            )  # the organisation's registration, then each submission
            assert answering_pids(serving.log_path) == workers
    finally:
        await drop_database(fresh)


@pytest.mark.parametrize("how", [["--workers", "2"], ["--workers=3"], "CALDICOTT_WORKERS", "WEB_CONCURRENCY"])
def test_sqlite_refuses_more_than_one_worker_in_one_line(how: list[str] | str, tmp_path: Path) -> None:
    database = tmp_path / "caldicott.db"
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("CALDICOTT_") and key != "WEB_CONCURRENCY"
    }
    env["CALDICOTT_DATABASE_URL"] = f"sqlite+aiosqlite:///{database}"
    arguments = how if isinstance(how, list) else []
    if isinstance(how, str):
        env[how] = "2"
    done = subprocess.run(
        [str(VENV_BIN / "caldicott"), "serve", "--port", str(free_port()), *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("caldicott serve: --workers ") and "needs PostgreSQL" in line and "SQLite" in line
    assert not database.exists()  # refused before anything was migrated


def test_the_worker_count_defaults_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALDICOTT_WORKERS", raising=False)
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    assert parser().parse_args(["serve"]).workers == 1
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert parser().parse_args(["serve"]).workers == 3
    monkeypatch.setenv("CALDICOTT_WORKERS", "auto")
    assert parser().parse_args(["serve"]).workers == "auto"
    assert parser().parse_args(["serve", "--workers", "2"]).workers == 2
    monkeypatch.setenv("CALDICOTT_WORKERS", "none")
    with pytest.raises(SystemExit):
        parser().parse_args(["serve"])


def test_the_uvicorn_options_survive_the_trip_into_a_spawned_worker() -> None:
    options = server.uvicorn_options(settings_for("sqlite+aiosqlite:///:memory:", http_header_timeout_seconds=2.5))
    options["log_config"] = server.worker_logging("info")
    arrived = pickle.loads(pickle.dumps(options))
    assert issubclass(arrived["http"], server.HeadDeadlineProtocol) and arrived["http"].head_timeout == 2.5
    assert arrived["http"] is options["http"]  # rebuilt by protocol_for, which gives one class per deadline
    assert arrived["log_config"]["root"]["level"] == "INFO"
    assert 1 <= server.available_cpus() <= (os.cpu_count() or 1)
