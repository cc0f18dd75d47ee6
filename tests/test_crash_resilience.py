"""A reduced `make resilience` crash check for CI:
kill -9 the API server under load, then nothing is missing or half-written.

The whole check (bench/resilience.py: 2,400 submissions, a receiver outage, a PostgreSQL
restart) takes a few minutes and runs with `make resilience`; this runs its first part
with real processes (`caldicott serve` under uvicorn, killed with SIGKILL and started
again) on the test PostgreSQL server, at a tenth of the size.
"""

import pytest
from sqlalchemy.engine import make_url

from bench import resilience
from tests.support import PROCESS_GROUP

pytestmark = PROCESS_GROUP


async def test_a_server_killed_under_load_leaves_every_acknowledged_request_whole(
    database_url: str, database_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if database_kind != "postgres":
        pytest.skip("runs the service as its own process on the PostgreSQL server")
    monkeypatch.setenv(
        "CALDICOTT_BENCH_POSTGRES_URL",
        make_url(database_url).set(database="postgres").render_as_string(hide_password=False),
    )

    check = await resilience.crash(submissions=300, kill_after=100, required=300)

    assert check.passed, (check.failures, check.counts)
    assert check.counts["stored requests half-written"] == 0
    assert check.counts["answered 2xx"] >= 150
