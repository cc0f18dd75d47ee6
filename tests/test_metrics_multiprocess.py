"""`/metrics` under `caldicott serve --workers 2`: whichever process answers, the same totals; what describes the
database once; the processes' directory made for the start and removed after it.

One real server start on PostgreSQL (as tests/test_serve_workers.py starts one). Which process answers a scrape is
told by what the operating system shows, not by anything the service adds: the test opens a connection, waits
until one worker's descriptors hold its other end (/proc), and scrapes over it.
"""

import asyncio
import http.client
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from app.models.vocabulary import Role
from app.platform import db
from bench.common import (
    VENV_BIN,
    Process,
    create_database,
    free_port,
    migrate_argv,
    register_organisations,
    run_checked,
    service_env,
    token,
    wait_until_up,
)
from tests.rules.baseline import baseline_request
from tests.support import PROCESS_GROUP
from tests.test_serve_workers import connections_held, drop_database, started_workers

pytestmark = PROCESS_GROUP

AGENCY = "RXT01"
SUBMISSIONS = 4
READS, READ_QUOTA = 5, 3
# Gauges that describe the database or the pod: one sample each in any answer, never one per process.
ONCE = (
    "caldicott_review_queue_depth",
    "caldicott_review_queue_overdue",
    "caldicott_audit_unsigned_events",
    "caldicott_webhook_backlog",
    "caldicott_webhook_oldest_pending_age_seconds",
    "caldicott_calendar_days_remaining",
    "caldicott_build_info",
    "caldicott_db_pool_connections_in_use",
    "caldicott_db_pool_connections_max",
)
COUNTED = ("caldicott_http_requests_total", "caldicott_decisions_total", "caldicott_rate_limited_total")


def one_connection_per_worker(port: int, workers: set[int]) -> dict[int, http.client.HTTPConnection]:
    """Open connections, each kept open, until every worker has accepted one; one per worker, the rest closed.

    An idle worker is woken first for each new connection, so a few may go to the same one before the other's turn.
    """
    held: dict[int, http.client.HTTPConnection] = {}
    spare = []
    try:
        for _ in range(60):
            before = connections_held(port, workers)
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.connect()
            deadline = time.monotonic() + 5
            while not (grew := [pid for pid, count in connections_held(port, workers).items() if count > before[pid]]):
                assert time.monotonic() < deadline, "no worker took the connection"
                time.sleep(0.02)
            [pid] = grew
            if pid in held:
                spare.append(connection)
                time.sleep(0.05)
            else:
                held[pid] = connection
            if len(held) == len(workers):
                return held
        raise AssertionError(f"only {set(held)} of {workers} took a connection")
    finally:
        for connection in spare:
            connection.close()


def scrape(connection: http.client.HTTPConnection) -> str:
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        assert response.status == 200
        return response.read().decode()
    finally:
        connection.close()


def counted(exposition: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The counters the test's requests moved, the scrapes' own requests left out (each scrape adds one)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name in COUNTED and sample.labels.get("route") != "/metrics"
    }


async def make_traffic(base_url: str, dead_receiver: str) -> list[int]:
    """An endpoint nobody answers at, SUBMISSIONS submissions (each an event for it), READS reads; their statuses."""
    agency = {"Authorization": f"Bearer {token(org=AGENCY, role=Role.AGENCY)}"}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        endpoint = await client.post(
            "/v1/webhook-endpoints",
            json={"url": dead_receiver, "event_types": ["sharing_request.decided"]},
            headers=agency,
        )
        assert endpoint.status_code == 201, endpoint.text
        statuses = [
            (await client.post("/v1/sharing-requests", json=baseline_request(), headers=agency)).status_code
            for _ in range(SUBMISSIONS)
        ]
        statuses += [(await client.get("/v1/sharing-requests", headers=agency)).status_code for _ in range(READS)]
    return statuses


async def test_every_worker_answers_a_scrape_with_the_same_totals_and_the_gauges_once(
    database_url: str, database_kind: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if database_kind != "postgres":
        pytest.skip("several server processes are for PostgreSQL only")
    monkeypatch.setenv(
        "CALDICOTT_BENCH_POSTGRES_URL",
        make_url(database_url).set(database="postgres").render_as_string(hide_password=False),
    )
    fresh = await create_database(f"caldicott_metrics_{uuid.uuid4().hex[:8]}")
    temporary = tmp_path / "tmp"  # where the serve command makes the processes' directory
    temporary.mkdir()
    env = service_env(
        fresh,
        CALDICOTT_RATE_LIMIT_READS_QUOTA=str(READ_QUOTA),
        CALDICOTT_RATE_LIMIT_READS_WINDOW_SECONDS="86400",
        TMPDIR=str(temporary),
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    try:
        await asyncio.to_thread(run_checked, migrate_argv(), env=env)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        argv = [str(VENV_BIN / "caldicott"), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
        with Process("serve-metrics", argv, env=env, log_dir=tmp_path) as serving:
            await asyncio.to_thread(wait_until_up, f"{base_url}/healthz", process=serving)
            workers = await asyncio.to_thread(started_workers, serving.pid, serving.log_path, 2)
            await register_organisations(base_url, [AGENCY])
            statuses = await make_traffic(base_url, f"http://127.0.0.1:{free_port()}/hook")
            assert Counter(statuses) == {201: SUBMISSIONS, 200: READ_QUOTA, 429: READS - READ_QUOTA}

            connections = await asyncio.to_thread(one_connection_per_worker, port, workers)
            answers = [await asyncio.to_thread(scrape, connection) for connection in connections.values()]
            [shared] = list(temporary.glob("caldicott-metrics-*"))
            files = {path.name for path in shared.iterdir()}
        assert not list(temporary.iterdir())  # the directory went with the server
    finally:
        await drop_database(fresh)

    # Each worker counted into a file of its own in the one directory.
    assert {f"counter_{pid}.db" for pid in workers} <= files
    first, second = answers
    assert counted(first) == counted(second)
    check_totals(counted(first))
    for exposition in answers:
        check_gauges(exposition)


def check_totals(totals: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> None:
    """The counters equal to what the test did."""

    def total(name: str, **labels: str) -> float:
        return totals[name, frozenset(labels.items())]

    requests, route = "caldicott_http_requests_total", "/v1/sharing-requests"
    assert total(requests, method="POST", route=route, status="201") == SUBMISSIONS
    assert total(requests, method="GET", route=route, status="200") == READ_QUOTA
    assert total(requests, method="GET", route=route, status="429") == READS - READ_QUOTA
    assert total("caldicott_rate_limited_total", route_class="reads") == READS - READ_QUOTA
    assert total("caldicott_decisions_total", kind="rules", outcome="approve") == SUBMISSIONS


def check_gauges(exposition: str) -> None:
    """Each gauge of the pod once, with no process's id; the backlog and the pool's capacity as predicted."""
    samples = [sample for family in text_string_to_metric_families(exposition) for sample in family.samples]
    once = Counter(sample.name for sample in samples if sample.name in ONCE)
    assert once == dict.fromkeys(ONCE, 1), once
    assert not any("pid" in sample.labels for sample in samples)
    value = {sample.name: sample for sample in samples if sample.name in ONCE}
    assert value["caldicott_webhook_backlog"].value == SUBMISSIONS
    assert value["caldicott_review_queue_depth"].value == 0
    # Both processes' pools, summed: the pod's capacity.
    pool = value["caldicott_db_pool_connections_max"]
    assert (pool.labels, pool.value) == ({"process": "api"}, 2 * (db.POOL_SIZE + db.POOL_MAX_OVERFLOW))
