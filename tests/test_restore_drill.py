"""The restore drill (`make restore-drill`, bench/restore_drill.py) on the test PostgreSQL server: it passes on an
honest restore, and fails, naming the check, when the restored database is not what was dumped.
"""

import os
from pathlib import Path

import pytest

from bench.restore_drill import DrillReport, run_drill
from tests.support import PROCESS_GROUP

POSTGRES_URL = os.environ.get("CALDICOTT_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("CALDICOTT_TEST_REQUIRE_POSTGRES") == "1"
CHECKS = [
    "load",
    "pg_dump",
    "drop",
    "pg_restore",
    "audit verify (library)",
    "row counts",
    "table contents",
    "schema",
    "caldicott audit verify (CLI)",
    "writes after restore",
]
# The audit table's trigger refuses DELETE and UPDATE; replica mode skips it (the test cluster's user is a superuser).
REPLICA = "SET LOCAL session_replication_role = replica"

pytestmark = [pytest.mark.postgres, PROCESS_GROUP]


@pytest.fixture
def server_url() -> str:
    """The test PostgreSQL server: the drill dumps and restores there, with PostgreSQL's own tools."""
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("CALDICOTT_TEST_REQUIRE_POSTGRES=1 but CALDICOTT_TEST_POSTGRES_URL is not set")
        pytest.skip(
            "the restore drill needs PostgreSQL (pg_dump, pg_restore): "
            "set CALDICOTT_TEST_POSTGRES_URL (scripts/with-postgres does)"
        )
    return POSTGRES_URL


def details(report: DrillReport) -> dict[str, str]:
    return {check.name: check.detail for check in report.checks}


def test_an_honest_restore_passes_every_check(server_url: str, tmp_path: Path) -> None:
    lines: list[str] = []
    report = run_drill(server_url, tmp_path, echo=lines.append)

    assert [check.name for check in report.checks] == CHECKS, lines
    assert all(check.passed for check in report.checks), "\n".join(lines)
    assert report.passed
    assert lines == [f"PASS  {check.name}: {check.detail}" for check in report.checks]
    assert "2 checkpoints (before 2)" in details(report)["audit verify (library)"]
    assert (tmp_path / "audit-signing-key.pem").exists()
    assert list(tmp_path.glob("restore_drill_*.dump"))


def test_a_trail_cut_after_the_restore_fails_the_drill(server_url: str, tmp_path: Path) -> None:
    report = run_drill(server_url, tmp_path, after_restore=[REPLICA, "DELETE FROM audit_events WHERE seq > 10"])

    assert not report.passed
    assert {"audit verify (library)", "row counts", "caldicott audit verify (CLI)"} <= set(report.failed)
    assert {"load", "pg_dump", "drop", "pg_restore", "table contents", "schema"}.isdisjoint(report.failed)
    found = details(report)
    assert "valid=False" in found["audit verify (library)"] and "head seq 10 " in found["audit verify (library)"]
    assert "audit_events 48 -> 10" in found["row counts"]
    assert (
        found["caldicott audit verify (CLI)"].startswith("exit 1, valid=False")
        and "broken at seq" in found["caldicott audit verify (CLI)"]
    )


def test_rows_changed_after_the_restore_fail_the_drill_even_when_the_counts_agree(
    server_url: str, tmp_path: Path
) -> None:
    report = run_drill(
        server_url,
        tmp_path,
        after_restore=["UPDATE organisations SET name = 'Renamed behind the service' WHERE code = 'RXT02'"],
    )

    assert report.failed == ["table contents"]
    assert details(report)["table contents"] == "rows differ in organisations"
