"""Restore drill: load, pg_dump, drop, restore into a fresh database, then verify the chain,
the checkpoints and the row counts.

A new database is migrated and loaded through the real app over HTTP (organisations, a webhook endpoint, a few
dozen requests of every outcome, two checkpoints signed between them with a key in the work folder); each table's
row count and row digest, the schema's revision and triggers, and the audit head are recorded. Then `pg_dump
--format=custom`, DROP DATABASE … WITH (FORCE), `pg_restore --no-owner --exit-on-error` into a database of another
name, which must verify (`audit.verify` and `caldicott audit verify`) with the same head and checkpoints, hold the
same rows and triggers, and take new writes and checkpoints. One line per check, then PASS or FAIL (exit 0 or 1).

    bench/pg.sh .venv/bin/python -m bench.restore_drill   (make restore-drill)
"""

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import httpx
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import app.models.tables  # noqa: F401  (registers every table in SQLModel.metadata)
from app.cli import migrate
from app.main import create_app
from app.models.audit import AuditVerification, CheckpointPublic
from app.models.vocabulary import Role
from app.platform.config import Settings
from app.platform.db import make_engine, make_sessionmaker
from app.services.audit import chain as audit
from app.services.audit import checkpoints
from bench.common import AGENCIES, ROOT, asyncpg_dsn, exit_on_sigterm, request_bodies, server_url, settings_for, token

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import async_sessionmaker
    from sqlmodel.ext.asyncio.session import AsyncSession

SUBMISSIONS = 42  # split 20 / 14 / 8 around the two checkpoints: the last ones are not signed yet, as in production
KEY_FILE = "audit-signing-key.pem"


class DrillError(Exception):
    """A step the drill cannot go on from (a tool that failed, a database that is not there)."""


@dataclass
class Check:
    """One check: its name, whether it held, and what it found."""

    name: str
    passed: bool
    detail: str


@dataclass
class DrillReport:
    """The checks in the order they ran; `echo` prints each as it is added."""

    checks: list[Check] = field(default_factory=list)
    echo: Callable[[str], None] | None = None

    def add(self, name: str, passed: bool, detail: str) -> None:
        self.checks.append(Check(name, passed, detail))
        if self.echo is not None:
            self.echo(f"{'PASS' if passed else 'FAIL'}  {name}: {detail}")

    @property
    def failed(self) -> list[str]:
        return [check.name for check in self.checks if not check.passed]

    @property
    def passed(self) -> bool:
        return bool(self.checks) and not self.failed


@dataclass
class Snapshot:
    """What a database holds, as far as the drill compares it:
    each table's row count and row digest (None, None when missing), and so on."""

    tables: dict[str, tuple[int | None, str | None]]
    revision: str | None
    triggers: list[str]
    verification: AuditVerification


def named(server: str, database: str) -> str:
    return make_url(server).set(database=database).render_as_string(hide_password=False)


async def on_database(database_url: str, *statements: str, transaction: bool = False) -> list[list[asyncpg.Record]]:
    """Run statements on a database, in one transaction or
    (as CREATE and DROP DATABASE need) each on its own; the rows of each."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with connection.transaction() if transaction else contextlib.nullcontext():
            return [await connection.fetch(statement) for statement in statements]
    finally:
        await connection.close()


def on_server(server: str, *statements: str) -> list[list[asyncpg.Record]]:
    return asyncio.run(on_database(named(server, "postgres"), *statements))


def pg_tool(name: str) -> str:
    """A PostgreSQL client program: from `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin, else PATH."""
    folders: list[Path] = []
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        folders.append(Path(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()))
    folders += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0, reverse=True)
    found = shutil.which(name, path=os.pathsep.join([*map(str, folders), os.environ.get("PATH", os.defpath)]))
    if found is None:
        raise DrillError(f"{name} not found (install the PostgreSQL client tools)")
    return found


def run_tool(name: str, database_url: str, *args: str) -> float:
    """Run pg_dump or pg_restore on the database named in the URL,
    connected through libpq's variables; the seconds it took."""
    url = make_url(database_url)
    env = os.environ | {"PGHOST": url.host or "127.0.0.1", "PGPORT": str(url.port or 5432), "PGUSER": url.username or "postgres"}
    env |= {"PGPASSWORD": url.password} if url.password else {}
    started = time.monotonic()
    done = subprocess.run([pg_tool(name), f"--dbname={url.database}", *args], env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise DrillError(f"{name} exited {done.returncode}: {done.stderr.strip()}")
    return time.monotonic() - started


def drill_settings(database_url: str, work_dir: Path) -> Settings:
    """Development settings on the drill's database; every event chained before its answer;
    the signing key in the work folder."""
    return settings_for(database_url, audit_chain_delay_seconds=0, audit_signing_key_file=work_dir / KEY_FILE)


def client(application: "FastAPI") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://restore-drill", timeout=30)


def expect(response: httpx.Response, what: str) -> None:
    if response.status_code != 201:
        raise DrillError(f"{what}: {response.status_code} {response.text[:300]}")


async def load(settings: Settings, submissions: int) -> int:
    """Load the database through the app over HTTP,
    signing a checkpoint after the first and the second batch; how many were signed."""
    application = create_app(settings)
    bodies = request_bodies(submissions, seed=17)
    cuts = [0, submissions * 10 // 21, submissions * 17 // 21, submissions]
    admin = {"Authorization": f"Bearer {token(org=settings.controller_org, role=Role.ADMIN)}"}
    signed = 0
    async with application.router.lifespan_context(application), client(application) as http:
        for code in AGENCIES:
            body = {"code": code, "name": f"Drill organisation {code}", "type": "nhs_trust", "dspt_status": "standards_met"}
            expect(await http.post("/v1/organisations", json=body, headers=admin), f"registering {code}")
        hook = {"url": "http://127.0.0.1:9/drill", "event_types": ["sharing_request.decided", "sharing_request.referred"]}
        expect(await http.post("/v1/webhook-endpoints", json=hook, headers=agency(AGENCIES[0])), "registering a webhook endpoint")
        for batch, (start, end) in enumerate(zip(cuts, cuts[1:], strict=False)):
            for index in range(start, end):
                org = AGENCIES[index % len(AGENCIES)]
                expect(await http.post("/v1/sharing-requests", json=bodies[index][1], headers=agency(org)), f"submission {index}")
            if batch < 2:
                checkpoint = await sign(application.state.wiring.sessionmaker, settings)
                signed += checkpoint is not None
    return signed


def agency(org: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(org=org, role=Role.AGENCY)}"}


async def sign(sessionmaker: "async_sessionmaker[AsyncSession]", settings: Settings) -> CheckpointPublic | None:
    """Sign the chain's head as `caldicott audit checkpoint` does."""
    await audit.chain_pending(sessionmaker)
    return await checkpoints.make(sessionmaker, keys=settings.audit_keys(sign=True), log_name=settings.controller_org)


async def verify(settings: Settings) -> AuditVerification:
    """`audit.verify` on the database, against the published key of the signing key in the work folder."""
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return await audit.verify(session=session, keys=settings.audit_keys(sign=False).published)
    finally:
        await engine.dispose()


async def snapshot(settings: Settings) -> Snapshot:
    """Every table's rows (the models' tables, alembic_version and whatever else is there),
    the revision, the triggers, the trail."""
    connection = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        listed = {row[0] for row in await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        names = sorted(listed | {table.name for table in SQLModel.metadata.sorted_tables} | {"alembic_version"})
        digest = "SELECT count(*), md5(coalesce(string_agg(t::text, chr(10) ORDER BY t::text), '')) FROM \"{}\" t"
        tables = {name: tuple(await connection.fetchrow(digest.format(name))) if name in listed else (None, None) for name in names}
        revision = await connection.fetchval("SELECT string_agg(version_num, ',') FROM alembic_version") if "alembic_version" in listed else None
        triggers = await connection.fetch(
            "SELECT c.relname || '.' || t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = "
            "t.tgrelid WHERE NOT t.tgisinternal"
        )
    finally:
        await connection.close()
    return Snapshot(tables=tables, revision=revision, triggers=sorted(row[0] for row in triggers), verification=await verify(settings))


async def write_after_restore(settings: Settings) -> tuple[bool, str]:
    """The service on the restored database takes a new submission,
    chains it and signs a checkpoint over it; the trail still verifies."""
    application = create_app(settings)
    async with application.router.lifespan_context(application), client(application) as http:
        body = request_bodies(1, seed=99)[0][1] | {"reference": "RESTORE-DRILL-AFTER"}
        response = await http.post("/v1/sharing-requests", json=body, headers=agency(AGENCIES[0]))
        if response.status_code != 201:
            return False, f"a submission answered {response.status_code}: {response.text[:200]}"
        try:
            checkpoint = await sign(application.state.wiring.sessionmaker, settings)
        except checkpoints.CannotSign as refusal:
            return False, f"checkpoint not signed: {refusal}"
    after = await verify(settings)
    if checkpoint is None or not after.valid:
        return False, f"checkpoint {'none' if checkpoint is None else checkpoint.number}, trail valid={after.valid}"
    return (
        True,
        f"submission 201, checkpoint {checkpoint.number} signed at seq {checkpoint.seq}, "
        f"trail valid ({after.events} events)",
    )


def rows(snapshot: Snapshot) -> int:
    return sum(count or 0 for count, _ in snapshot.tables.values())


def compare_trail(report: DrillReport, was: AuditVerification, now: AuditVerification) -> None:
    """The restored trail verifies, with the checkpoints and the head the original had."""
    same = (now.head_seq, now.head_hash, now.checkpoints) == (was.head_seq, was.head_hash, was.checkpoints)
    broken = f"; broken at seq {now.first_broken_seq}: {now.findings[0].source}: {now.findings[0].problem}" if now.findings else ""
    report.add(
        "audit verify (library)",
        now.valid and now.checkpoints > 0 and same and now.pending == 0,
        f"valid={now.valid}, {now.events} events, {now.checkpoints} checkpoints (before {was.checkpoints}), pending "
        f"{now.pending}, head seq {now.head_seq} {now.head_hash[:12]} "
        f"(before {was.head_seq} {was.head_hash[:12]}){broken}",
    )


def compare_tables(report: DrillReport, before: Snapshot, after: Snapshot) -> None:
    """Every table holds as many rows as before, and the same ones;
    the schema is at the same revision with its triggers."""
    pairs = {name: (before.tables.get(name, (None, None)), after.tables.get(name, (None, None))) for name in sorted(before.tables | after.tables)}
    counts = [f"{name} {old[0]} -> {new[0]}" for name, (old, new) in pairs.items() if old[0] != new[0]]
    report.add("row counts", not counts, "; ".join(counts) or f"{len(pairs)} tables, {rows(before)} rows, all equal")
    changed = [name for name, (old, new) in pairs.items() if old[0] == new[0] and old != new]
    report.add("table contents", not changed, f"rows differ in {', '.join(changed)}" if changed else "every table's rows have the same digest")
    missing = sorted(set(before.triggers) - set(after.triggers))
    report.add(
        "schema",
        after.revision == before.revision and not missing,
        f"revision {after.revision} (before {before.revision}), {len(after.triggers)} triggers" + (f", missing {', '.join(missing)}" if missing else ""),
    )


def cli_verify(report: DrillReport, database_url: str, work_dir: Path, was: AuditVerification) -> None:
    """`python -m app.cli audit verify` in its own process on the database,
    as an operator would run it after a restore."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CALDICOTT_")}
    env |= {"CALDICOTT_DATABASE_URL": database_url, "CALDICOTT_AUDIT_SIGNING_KEY_FILE": str(work_dir / KEY_FILE), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "app.cli", "audit", "verify"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    result = json.loads(done.stdout) if done.stdout.lstrip().startswith("{") else {}
    passed = done.returncode == 0 and result.get("valid") is True and (result.get("head_seq"), result.get("checkpoints")) == (was.head_seq, was.checkpoints)
    problem = (done.stderr.strip().splitlines() or ["no message"])[-1]
    report.add(
        "caldicott audit verify (CLI)",
        passed,
        f"exit {done.returncode}, valid={result.get('valid')}, {result.get('events')} events, "
        f"{result.get('checkpoints')} checkpoints, "
        f"head seq {result.get('head_seq')}" + ("" if passed else f": {problem}"),
    )


def restore_and_check(report: DrillReport, server: str, work_dir: Path, stem: str, before: Snapshot, after_restore: Sequence[str]) -> None:
    """Dump the original, drop it, restore into a new database and check that one."""
    original, restored = named(server, stem), named(server, f"{stem}_restored")
    dump_file = work_dir / f"{stem}.dump"
    seconds = run_tool("pg_dump", original, "--format=custom", f"--file={dump_file}")
    report.add("pg_dump", dump_file.stat().st_size > 0, f"{dump_file.name}, {dump_file.stat().st_size / 1024:.0f} KiB in {seconds:.1f} s")
    on_server(server, f'DROP DATABASE "{stem}" WITH (FORCE)', f'CREATE DATABASE "{stem}_restored"')
    gone = not on_server(server, f"SELECT 1 FROM pg_database WHERE datname = '{stem}'")[0]
    report.add("drop", gone, f"{stem} dropped, empty {stem}_restored created" if gone else f"{stem} is still there")
    seconds = run_tool("pg_restore", restored, "--no-owner", "--exit-on-error", str(dump_file))
    report.add("pg_restore", True, f"into {stem}_restored in {seconds:.1f} s")
    if after_restore:
        asyncio.run(on_database(restored, *after_restore, transaction=True))
    settings = drill_settings(restored, work_dir)
    after = asyncio.run(snapshot(settings))
    compare_trail(report, before.verification, after.verification)
    compare_tables(report, before, after)
    cli_verify(report, restored, work_dir, before.verification)
    report.add("writes after restore", *asyncio.run(write_after_restore(settings)))


def run_drill(
    server: str, work_dir: Path, *, submissions: int = SUBMISSIONS, after_restore: Sequence[str] = (), echo: Callable[[str], None] | None = None
) -> DrillReport:
    """The whole drill on the PostgreSQL server `server` (a SQLAlchemy URL); `after_restore`:
    SQL run on the restored database before its checks."""
    work_dir.mkdir(parents=True, exist_ok=True)
    report = DrillReport(echo=echo)
    stem = f"restore_drill_{uuid.uuid4().hex[:10]}"
    try:
        on_server(server, f'CREATE DATABASE "{stem}"')
        settings = drill_settings(named(server, stem), work_dir)
        migrate(settings)
        signed = asyncio.run(load(settings, submissions))
        before = asyncio.run(snapshot(settings))
        was = before.verification
        report.add(
            "load",
            signed >= 2 and was.valid and was.checkpoints == signed and was.pending == 0,
            f"{len(AGENCIES)} organisations, {submissions} submissions, {rows(before)} rows in {len(before.tables)} "
            f"tables; trail valid={was.valid}, {was.events} events, "
            f"{was.checkpoints} checkpoints, head seq {was.head_seq}",
        )
        restore_and_check(report, server, work_dir, stem, before, after_restore)
    except DrillError as error:
        report.add("drill", False, str(error))
    finally:
        on_server(server, f'DROP DATABASE IF EXISTS "{stem}" WITH (FORCE)', f'DROP DATABASE IF EXISTS "{stem}_restored" WITH (FORCE)')
    return report


def main() -> None:
    """Run the drill on the server bench/pg.sh started, print a line per check, then PASS or FAIL."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=SUBMISSIONS, help=f"sharing requests to load (default {SUBMISSIONS})")
    parser.add_argument("--work-dir", type=Path, help="keep the dump and the signing key here (default: a temporary folder, removed)")
    args = parser.parse_args()
    exit_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="caldicott-restore-drill-") as temporary:
        try:
            report = run_drill(server_url(), args.work_dir or Path(temporary), submissions=args.submissions, echo=lambda line: print(line, flush=True))
        except Exception:
            traceback.print_exc()
            report = DrillReport()
    failed = f"; failed: {', '.join(report.failed)}" if report.failed else ""
    print(f"restore drill: {len(report.checks) - len(report.failed)} of {len(report.checks)} checks passed{failed}")
    print("PASS" if report.passed else "FAIL")
    sys.exit(0 if report.passed else 1)


if __name__ == "__main__":
    main()
