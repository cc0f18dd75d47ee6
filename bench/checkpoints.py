"""What signed checkpoints cost: verification with them against the same trail without,
and the worker's signing as the unsigned tail grows.

On a throwaway PostgreSQL (bench/pg.sh): a trail of EVENTS audit events is loaded with COPY (hashes by
app.services.audit.chain's own rule), then, in the same run and on the same database:

* `audit.verify` with no checkpoint (the baseline), then with one checkpoint every CHECKPOINT_EVERY events
  (what a busy day's five-minute checkpoints amount to), each signed as the worker signs; the ratio;
* `checkpoints.make` after 1,000, 10,000 and 100,000 new events (it checks the events since the last
  checkpoint extend it before signing), against `audit.verify` of the whole trail; the ratios;
* `caldicott audit export` of the whole trail and `verify --export` of the file, against `audit.verify`.

Nothing here asserts a speed: it prints the seconds and the ratios.
"""

import asyncio
import io
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import asyncpg
from sqlalchemy.engine import make_url

from app.cli import migrate
from app.models.audit import CheckpointPublic
from app.platform.config import Settings
from app.platform.db import make_engine, make_sessionmaker
from app.services.audit import chain as audit
from app.services.audit import checkpoints
from app.services.audit import export as audit_export
from app.services.audit import proof as audit_proof
from app.services.audit import signing as audit_signing

EVENTS = int(os.environ.get("CALDICOTT_BENCH_CHECKPOINT_EVENTS", "300000"))
CHECKPOINT_EVERY = 1000
COLUMNS = (
    "seq",
    "occurred_at",
    "actor_sub",
    "actor_org",
    "actor_roles",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "correlation_id",
    "prev_hash",
    "hash",
)


def events(first: int, count: int, prev_hash: str, start: datetime) -> tuple[list[tuple[object, ...]], str]:
    """Rows first..first+count-1 of the chain after prev_hash, and the new head hash."""
    rows = []
    for seq in range(first, first + count):
        event = SimpleNamespace(
            seq=seq,
            occurred_at=start + timedelta(milliseconds=seq),
            actor_sub="user-rxt01",
            actor_org="RXT01",
            actor_roles=["agency"],
            action="submitted",
            target_type="sharing_request",
            target_id=f"request-{seq}",
            outcome="approved, decision approve",
            correlation_id=f"bench-{seq}",
        )
        event_hash = audit.chain_hash(prev_hash, audit.canonical_fields(event))
        rows.append((*vars(event).values(), prev_hash, event_hash))
        prev_hash = event_hash
    return [(*row[:4], '["agency"]', *row[5:]) for row in rows], prev_hash


async def load(url: str, first: int, count: int, prev_hash: str) -> str:
    """COPY `count` events after `prev_hash` in batches; the new head hash."""
    connection = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        for batch_first in range(first, first + count, 50_000):
            size = min(50_000, first + count - batch_first)
            rows, head = events(batch_first, size, prev_hash, start)
            await connection.copy_records_to_table("audit_events", records=rows, columns=COLUMNS)
            prev_hash = head
        await connection.execute("VACUUM ANALYZE audit_events")
    finally:
        await connection.close()
    return prev_hash


async def sign_every(sessionmaker, signer: audit_signing.SigningKey, every: int) -> int:  # type: ignore[no-untyped-def]
    """One checkpoint per `every` events of the trail, as the worker would have signed them; how many."""
    async with sessionmaker() as session:
        connection = await session.connection()
        hashes = {row.seq: row.hash for row in (await connection.execute(audit.EVENTS.select().where(audit.EVENTS.c.seq % every == 0))).all()}
        previous, rows = None, []
        for number, seq in enumerate(sorted(hashes), start=1):
            checkpoint = CheckpointPublic(
                number=number, log="BENCH", seq=seq, hash=hashes[seq], time="2026-01-01T00:00:00.000000Z", previous=previous, kid=signer.kid, signature=""
            )
            checkpoint.signature = signer.sign(audit_proof.signed_bytes(checkpoint))
            previous = audit_proof.digest(checkpoint)
            rows.append(checkpoint.model_dump() | {"time": datetime(2026, 1, 1, tzinfo=UTC)})
        await connection.execute(audit.CHECKPOINTS.insert(), rows)
        await session.commit()
    return len(rows)


async def seconds(work) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def on_server(server_url: str, statement: str) -> None:
    admin = await asyncpg.connect(make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


async def run(settings: Settings) -> None:
    url = settings.database_url
    keys = settings.audit_keys(sign=True)
    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    try:
        head = await load(url, 1, EVENTS, audit.GENESIS_HASH)

        async def verify() -> None:
            async with sessionmaker() as session:
                result = await audit.verify(session=session, keys=keys.published)
            assert result.valid, result.findings[:3]

        bare = await seconds(verify)
        signed = await sign_every(sessionmaker, keys.signer, CHECKPOINT_EVERY)
        with_checkpoints = await seconds(verify)
        print(
            f"audit.verify, {EVENTS:,} events: {bare:.2f} s without checkpoints, {with_checkpoints:.2f} s with "
            f"{signed:,} ({with_checkpoints / bare:.2f}x)"
        )
        seq = EVENTS
        for tail in (1_000, 10_000, 100_000):
            head = await load(url, seq + 1, tail, head)
            seq += tail
            signing = await seconds(lambda: checkpoints.make(sessionmaker, keys=keys, log_name="BENCH"))
            print(
                f"checkpoints.make after {tail:>7,} new events: {signing * 1000:8.1f} ms "
                f"({signing / with_checkpoints:.3f}x a whole verification)"
            )
        whole = await seconds(verify)
        buffer = io.BytesIO()

        async def export() -> None:
            async with sessionmaker() as session:
                await audit_export.write(session=session, out=buffer, since=0, log_name="BENCH", keys=keys.published)

        exporting = await seconds(export)
        started = time.perf_counter()
        offline = audit_export.verify(io.StringIO(buffer.getvalue().decode()), keys=keys.published)
        checking = time.perf_counter() - started
        assert offline.valid, offline.findings[:3]
        print(
            f"export of {offline.events:,} events ({len(buffer.getvalue()) / 2**20:.0f} MiB): {exporting:.2f} s "
            f"({exporting / whole:.2f}x audit.verify, {whole:.2f} s)"
        )
        print(f"verify --export of that file, no database: {checking:.2f} s ({checking / whole:.2f}x audit.verify)")
    finally:
        await engine.dispose()


def main() -> int:
    server_url = os.environ.get("CALDICOTT_BENCH_POSTGRES_URL")
    if not server_url:
        print("bench.checkpoints: run it under bench/pg.sh (make bench-checkpoints)", file=sys.stderr)
        return 2
    database = f"caldicott_bench_checkpoints_{os.getpid()}"
    asyncio.run(on_server(server_url, f'CREATE DATABASE "{database}"'))
    try:
        with tempfile.TemporaryDirectory() as folder:
            url = make_url(server_url).set(database=database).render_as_string(hide_password=False)
            settings = Settings(_env_file=None, database_url=url, audit_signing_key_file=Path(folder) / "key.pem")  # type: ignore[call-arg]
            migrate(settings)
            asyncio.run(run(settings))
    finally:
        asyncio.run(on_server(server_url, f'DROP DATABASE "{database}" WITH (FORCE)'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
