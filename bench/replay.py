"""Replay: one what-if replay of N stored decisions (default 100,000), its rate, and what it does to other requests.

The decisions are bulk-loaded with COPY exactly as bench/scale.py loads them (every request decided under 2026.1,
its decision recording the facts the rules saw, the load's mix of outcomes, 90 seconds apart up to now), then
`POST /v1/policies/uk-caldicott-baseline/{version}/replay` runs once as a guardian (2028.1, the current edition,
unless `--policy` names another: 2027.1 is replay-only, so each approval it gives is evaluated under 2028.1 too)
through the real app in-process (httpx over ASGI), with the window from the first decision's London date to today. Meanwhile a second task asks
`GET /healthz` of the same app every 10 ms: the longest wait between its answers says how long the replay held the
event loop (the issue's figure before batching: other requests held up to 1.7 s). The process's peak resident memory is read before and after.

    bench/pg.sh .venv/bin/python -m bench.replay [--decisions 100000] [--policy 2028.1]

Prints JSON: decisions, differing, seconds, decisions_per_second, event_loop_held_max_ms, peak_rss_growth_mib. No figure
is asserted: the reader compares it with the issue's target (100,000 decisions in under 10 s).
"""

import argparse
import asyncio
import json
import resource
import sys
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from app.main import create_app
from app.models.base import LONDON
from app.models.vocabulary import Role
from bench.common import (
    asyncpg_dsn,
    create_database,
    exit_on_sigterm,
    migrate_argv,
    run_checked,
    service_env,
    settings_for,
    token,
)
from bench.scale import STAGING, Templates, grow, organisations


async def seed(database_url: str, decisions: int) -> tuple[float, datetime]:
    """Load `decisions` requests with their rules decisions; the seconds it took and the first decision's time."""
    templates, now = Templates(), datetime.now(UTC)
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await organisations(connection, now)
        await connection.execute(STAGING)
        await connection.executemany(
            "INSERT INTO decision_templates VALUES ($1, $2, $3)",
            [(index, variant[3], variant[4]) for index, variant in enumerate(templates.variants)],
        )
        seconds = await grow(connection, templates, have=0, want=decisions, total=decisions, now=now)
        first = await connection.fetchval("SELECT min(decided_at) FROM decisions")
    finally:
        await connection.close()
    return seconds, first


async def watch(client: httpx.AsyncClient, stop: asyncio.Event) -> float:
    """The longest wait, in milliseconds, between GET /healthz answers asked for every 10 ms until `stop`, less the
    10 ms: how long the event loop was held from them (a held loop delays the next ask as well as the answer)."""
    longest, last = 0.0, time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.01)
        response = await client.get("/healthz")
        assert response.status_code == 200, response.text
        now = time.perf_counter()
        longest, last = max(longest, now - last - 0.01), now
    return longest * 1000


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure(decisions: int, policy: str) -> dict[str, Any]:
    database_url = await create_database("bench_replay")
    run_checked(migrate_argv(), env=service_env(database_url))
    load_seconds, first = await seed(database_url, decisions)
    window = {"from": first.astimezone(LONDON).date().isoformat(), "to": datetime.now(LONDON).date().isoformat()}
    app = create_app(settings_for(database_url))
    guardian = {"Authorization": f"Bearer {token(org='CONTROLLER', role=Role.GUARDIAN)}"}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=600
        ) as client:
            assert (await client.get("/healthz")).status_code == 200  # the app's start-up work done before timing
            rss_before, stop = peak_rss_mib(), asyncio.Event()
            watcher = asyncio.create_task(watch(client, stop))
            started = time.perf_counter()
            response = await client.post(
                "/v1/policies/uk-caldicott-baseline/2027.1/replay", json=window, headers=guardian
            )
            seconds = time.perf_counter() - started
            stop.set()
            event_loop_held_max_ms = await watcher
            assert response.status_code == 201, response.text
    finally:
        await app.state.wiring.engine.dispose()
    totals = response.json()["totals"]
    print(f"replay: {totals['replayed']:,} decisions in {seconds:.2f} s", file=sys.stderr, flush=True)
    return {
        "policy": f"uk-caldicott-baseline {policy}",
        "decisions": totals["replayed"],
        "differing": totals["differing"],
        "load_seconds": load_seconds,
        "window": window,
        "seconds": seconds,
        "decisions_per_second": totals["replayed"] / seconds,
        "event_loop_held_max_ms": event_loop_held_max_ms,
        "peak_rss_growth_mib": peak_rss_mib() - rss_before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--policy", default="2028.1", help="the uk-caldicott-baseline version replayed (2027.1: replay-only)")
    args = parser.parse_args()
    exit_on_sigterm()
    print(json.dumps(asyncio.run(measure(args.decisions, args.policy)), indent=2))


if __name__ == "__main__":
    main()
