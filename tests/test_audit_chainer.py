"""The chainer: pending events join one linear chain whatever the concurrency,
the commit order, the rollbacks or the kills.

The multi-process tests run this module as their child processes too (`python -m tests.test_audit_chainer ...`):
the children write through a real sessionmaker, exactly as the service does, and report each event they committed.
"""

import asyncio
import itertools
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.audit import AuditTarget, AuditVerification
from app.platform.db import make_engine, make_sessionmaker
from app.services.audit import chain as audit
from tests.support import PROCESS_GROUP

REPO = Path(__file__).resolve().parent.parent
PROCESSES, WRITERS, ROUNDS = 4, 50, 3


async def write(sessionmaker: async_sessionmaker[AsyncSession], name: str, events: int) -> list[str]:
    """One writer's transaction recording `events` events; their target ids once it has committed."""
    target_ids = [f"{name}.{number}" for number in range(events)]
    async with sessionmaker() as session:
        for target_id in target_ids:
            await audit.record(
                session=session,
                actor=None,
                action="read",
                target_type=AuditTarget.REPORT,
                target_id=target_id,
                outcome="written",
            )
        await session.commit()
    return target_ids


async def trail(app: FastAPI) -> tuple[AuditVerification, list[int], list[str]]:
    """The verification, and the chain's seqs and target ids in chain order."""
    async with app.state.wiring.sessionmaker() as session:
        result = await audit.verify(session=session, keys=app.state.wiring.audit_keys.published)
        rows = (
            await (await session.connection()).execute(text("SELECT seq, target_id FROM audit_events ORDER BY seq"))
        ).all()
    return result, [row.seq for row in rows], [row.target_id for row in rows]


def child(*args: str) -> subprocess.Popen[str]:
    environment = os.environ | {"PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "tests.test_audit_chainer", *args]
    return subprocess.Popen(
        command, cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


async def test_concurrent_callers_share_one_pass_and_a_failed_pass_is_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passes: list[str] = []

    async def one_pass(_sessionmaker: object, outcome: str = "ok") -> int:
        passes.append(outcome)
        await asyncio.sleep(0.01)
        if outcome == "fail":
            raise OSError("the database is away")
        return 0

    chainer = audit.Chainer(async_sessionmaker())
    monkeypatch.setattr(audit, "chain_pending", one_pass)
    await asyncio.gather(*(chainer.settle() for _ in range(30)))
    # The first caller's pass started before the others took their tickets, so one more pass covers all 29 of them.
    assert passes == ["ok", "ok"]

    monkeypatch.setattr(audit, "chain_pending", lambda sessionmaker: one_pass(sessionmaker, "fail"))
    await asyncio.gather(*(chainer.settle() for _ in range(10)))
    assert passes == ["ok", "ok", "fail", "fail"]  # those waiting behind a failed pass do not each fail again in turn
    await chainer.settle()
    assert len(passes) == 5  # a later caller tries again


async def test_rolled_back_writers_leave_no_gap(client: httpx.AsyncClient, app: FastAPI) -> None:
    for number in range(3):
        async with app.state.wiring.sessionmaker() as session:
            await audit.record(
                session=session,
                actor=None,
                action="read",
                target_type=AuditTarget.REPORT,
                target_id=f"undone-{number}",
                outcome="written",
            )
            await session.rollback()
        await write(app.state.wiring.sessionmaker, f"kept-{number}", 1)

    assert await audit.chain_pending(app.state.wiring.sessionmaker) == 3

    result, seqs, target_ids = await trail(app)
    assert (result.valid, result.pending, seqs) == (True, 0, [1, 2, 3])
    assert target_ids == ["kept-0.0", "kept-1.0", "kept-2.0"]
    assert await audit.chain_pending(app.state.wiring.sessionmaker) == 0


async def test_a_pass_chains_rows_committed_out_of_id_order(
    client: httpx.AsyncClient, app: FastAPI, database_kind: str
) -> None:
    if database_kind != "postgres":
        pytest.skip("SQLite's BEGIN IMMEDIATE serialises writers, so rows always commit in id order there")
    async with app.state.wiring.sessionmaker() as early, app.state.wiring.sessionmaker() as late:
        await audit.record(
            session=early,
            actor=None,
            action="read",
            target_type=AuditTarget.REPORT,
            target_id="lower-id",
            outcome="written",
        )
        await audit.record(
            session=late,
            actor=None,
            action="read",
            target_type=AuditTarget.REPORT,
            target_id="higher-id",
            outcome="written",
        )
        await late.commit()
        assert (
            await audit.chain_pending(app.state.wiring.sessionmaker) == 1
        )  # the open transaction's row is neither seen nor waited for
        await early.commit()
    assert await audit.chain_pending(app.state.wiring.sessionmaker) == 1
    await write(app.state.wiring.sessionmaker, "after", 2)
    assert await audit.chain_pending(app.state.wiring.sessionmaker, batch_size=1) == 2

    result, seqs, target_ids = await trail(app)
    assert (result.valid, result.pending, result.first_broken_seq, seqs) == (True, 0, None, [1, 2, 3, 4])
    assert target_ids == ["higher-id", "lower-id", "after.0", "after.1"]


@PROCESS_GROUP
async def test_concurrent_writers_in_four_processes_leave_one_linear_chain(
    client: httpx.AsyncClient, app: FastAPI, database_url: str, database_kind: str
) -> None:
    if database_kind != "postgres":
        pytest.skip(
            "concurrent writers in several processes are PostgreSQL's case; SQLite serialises every writer at BEGIN"
        )
    start_at = str(time.time() + 3)  # after every child has started, so that they write at the same time
    shares = [WRITERS // PROCESSES + (number < WRITERS % PROCESSES) for number in range(PROCESSES)]
    children = [
        child("writers", database_url, f"p{number}", str(share), start_at) for number, share in enumerate(shares)
    ]
    outputs = [await asyncio.to_thread(process.communicate, timeout=120) for process in children]

    for process, (_, errors) in zip(children, outputs, strict=True):
        assert process.returncode == 0, errors
        assert "could not be chained" not in errors  # no pass failed (a fork would fail on the seq's primary key)
    committed = [line for out, _ in outputs for line in out.splitlines()]
    await audit.chain_pending(app.state.wiring.sessionmaker)

    result, seqs, target_ids = await trail(app)
    assert (result.valid, result.pending, result.first_broken_seq) == (True, 0, None)
    assert len(committed) == sum(
        1 + (writer + round_) % 3 for share in shares for writer in range(share) for round_ in range(ROUNDS)
    )
    assert seqs == list(range(1, len(committed) + 1))
    assert Counter(target_ids) == Counter(committed) and set(Counter(target_ids).values()) == {1}


@PROCESS_GROUP
async def test_writers_killed_at_random_moments_lose_nothing_committed(
    client: httpx.AsyncClient, app: FastAPI, database_url: str, database_kind: str, tmp_path: Path
) -> None:
    seed = random.randrange(1 << 30)
    rng, report = random.Random(seed), tmp_path / "committed.txt"
    report.touch()
    for kill in range(6):
        process = child("killable", database_url, f"k{kill}", str(report))
        started, size = time.monotonic(), report.stat().st_size
        while report.stat().st_size == size:  # killed only once it is writing and chaining
            assert process.poll() is None and time.monotonic() - started < 60, (
                process.stderr.read() if process.stderr else ""
            )
            await asyncio.sleep(0.02)
        await asyncio.sleep(rng.uniform(0.0, 0.4))
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.communicate)

    lines = report.read_text()
    committed = (
        lines.splitlines() if lines.endswith("\n") else lines.splitlines()[:-1]
    )  # a line cut short by the kill is not counted
    await audit.chain_pending(app.state.wiring.sessionmaker)

    result, seqs, target_ids = await trail(app)
    assert (result.valid, result.pending, result.first_broken_seq) == (True, 0, None), f"seed {seed}"
    assert seqs == list(range(1, len(seqs) + 1)), f"seed {seed}"
    chained = Counter(target_ids)
    assert set(chained.values()) == {1}, f"seed {seed}"
    assert [target_id for target_id in committed if target_id not in chained] == [], f"seed {seed}"
    assert len(committed) >= 6


async def _writers(database_url: str, name: str, writers: str, start_at: str) -> None:
    """Child: `writers` concurrent writers,
    each committing ROUNDS transactions and settling after each, as requests do."""
    engine = make_engine(database_url)
    sessionmaker = make_sessionmaker(engine)
    chainer = audit.Chainer(sessionmaker)
    await asyncio.sleep(max(0.0, float(start_at) - time.time()))

    async def writer(number: int) -> None:
        for round_ in range(ROUNDS):
            print(
                *await write(sessionmaker, f"{name}.{number}.{round_}", 1 + (number + round_) % 3), sep="\n", flush=True
            )
            await chainer.settle()

    await asyncio.gather(*(writer(number) for number in range(int(writers))))
    await engine.dispose()


async def _killable(database_url: str, name: str, report: str) -> None:
    """Child: four writers that commit, report, and chain in passes of two events, until the process is killed."""
    engine = make_engine(database_url)
    sessionmaker = make_sessionmaker(engine)
    descriptor = os.open(report, os.O_WRONLY | os.O_APPEND)

    async def writer(number: int) -> None:
        for round_ in itertools.count():
            committed = await write(sessionmaker, f"{name}.{number}.{round_}", 1 + round_ % 3)
            os.write(
                descriptor, "".join(f"{target_id}\n" for target_id in committed).encode()
            )  # one append, after the commit
            await audit.chain_pending(sessionmaker, batch_size=2)

    await asyncio.gather(*(writer(number) for number in range(4)))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    role, *arguments = sys.argv[1:]
    asyncio.run({"writers": _writers, "killable": _killable}[role](*arguments))
