"""Webhook delivery: first-attempt lag at a steady submission rate, and deliveries per second draining a backlog.

The service (`caldicott serve --workers 2`), one `caldicott worker` and a receiver (bench/receiver.py:
it verifies each signature with the standardwebhooks package, answers 204 and logs the arrival,
without fsync) run as processes of their own on a database of their own. An admin subscribes the
receiver to every decision and referral, so each submission is one delivery.

1. Lag: with the worker running, bench/load.py posts at a fixed rate (an open loop: a request is
   sent when due, whatever the answers) for the duration. A delivery's lag is its first arrival at
   the receiver minus the event's time: the payload's `timestamp` (microseconds), written with the
   event in the submission's transaction. p50/p99/max once every delivery has arrived. A due
   submission is skipped while 64 are unanswered, so the lag is that of the rate the service answers.
2. Drain: the worker is stopped; `backlog` submissions are made (closed loop, concurrency 32),
   leaving as many deliveries due; a worker is started and the receiver's arrivals are timed:
   deliveries/s from the first arrival to the last (the headline), and from the worker's start.

    bench/pg.sh .venv/bin/python -m bench.webhooks [--rate 200] [--duration 20] [--backlog 5000]
"""

import argparse
import asyncio
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import (
    VENV_BIN,
    Process,
    asyncpg_dsn,
    create_database,
    exit_on_sigterm,
    free_port,
    log_dir,
    migrate_argv,
    percentile,
    register_organisations,
    run_checked,
    serve_argv,
    service_env,
    wait_until_up,
)
from bench.e2e import load, subscribe_controller

SERVICE_WORKERS = 2
BACKLOG_CONCURRENCY = 32
# Unanswered submissions the open loop allows before it skips one: the e2e's highest concurrency. With more, a service
# that cannot keep up only queues them (and, on two cores, answers fewer);
# the lag is measured at the rate it does answer.
LAG_MAX_IN_FLIGHT = 64
DELIVERY_TIMEOUT = 300  # seconds to wait for every delivery to arrive before reporting what did


def arrivals(log: Path) -> dict[str, dict[str, Any]]:
    """The first arrival of each webhook-id at the receiver."""
    first: dict[str, dict[str, Any]] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            if entry["webhook_id"] not in first or entry["received_at"] < first[entry["webhook_id"]]["received_at"]:
                first[entry["webhook_id"]] = entry
    return first


async def deliveries(database_url: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return await connection.fetchval("SELECT count(*) FROM webhook_deliveries")
    finally:
        await connection.close()


def wait_for(log: Path, count: int, *, timeout: float = DELIVERY_TIMEOUT) -> dict[str, dict[str, Any]]:
    """Poll the receiver's log until `count` distinct deliveries have arrived (or the timeout); the arrivals."""
    deadline = time.monotonic() + timeout
    while len(arrived := arrivals(log)) < count and time.monotonic() < deadline:
        time.sleep(0.25)
    return arrived


def event_time(entry: dict[str, Any]) -> float:
    return datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp()


def lag(*, url: str, database_url: str, received: Path, rate: float, duration: float) -> dict[str, Any]:
    """Submissions at `rate` for `duration` with the worker running; each delivery's first-attempt lag."""
    print(f"webhooks: {rate:g} submissions/s for {duration:g} s, worker running", file=sys.stderr, flush=True)
    extra = ["--rate", str(rate), "--max-in-flight", str(LAG_MAX_IN_FLIGHT)]
    submitted = load(url, concurrency=LAG_MAX_IN_FLIGHT, duration=duration, extra=extra, timeout=duration + 180)
    expected = asyncio.run(deliveries(database_url))
    arrived = wait_for(received, expected)
    lags = sorted(entry["received_at"] - event_time(entry) for entry in arrived.values())
    return {
        "offered_per_second": rate,
        "max_in_flight": LAG_MAX_IN_FLIGHT,
        "seconds": duration,
        "submissions": submitted,
        "deliveries": expected,
        "arrived": len(arrived),
        "unverified": sum(not entry["verified"] for entry in arrived.values()),
        "p50_s": percentile(lags, 0.50),
        "p99_s": percentile(lags, 0.99),
        "max_s": lags[-1] if lags else float("nan"),
    }


def drain(*, url: str, database_url: str, received: Path, backlog: int, worker: Process) -> dict[str, Any]:
    """`backlog` deliveries left due with no worker, then drained by one; deliveries per second."""
    print(f"webhooks: {backlog:,} submissions with no worker running", file=sys.stderr, flush=True)
    before = asyncio.run(deliveries(database_url))
    submitted = load(url, concurrency=BACKLOG_CONCURRENCY, duration=3600, extra=["--requests", str(backlog)], timeout=3600)
    due = asyncio.run(deliveries(database_url)) - before
    received.unlink(missing_ok=True)
    print(f"webhooks: {due:,} deliveries due; starting a worker", file=sys.stderr, flush=True)
    started = time.time()
    with worker:
        arrived = wait_for(received, due)
    times = sorted(entry["received_at"] for entry in arrived.values())
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    return {
        "backlog": due,
        "submitted": submitted["succeeded"],
        "arrived": len(arrived),
        "unverified": sum(not entry["verified"] for entry in arrived.values()),
        "first_to_last_seconds": span,
        "deliveries_per_second": (len(times) - 1) / span if len(times) > 1 else float("nan"),
        "from_worker_start_seconds": times[-1] - started if times else float("nan"),
        "first_arrival_after_start_seconds": times[0] - started if times else float("nan"),
    }


def measure(*, rate: float, duration: float, backlog: int) -> dict[str, Any]:
    logs = log_dir("webhooks")
    database_url = asyncio.run(create_database("bench_webhooks"))
    env = service_env(database_url)
    run_checked(migrate_argv(), env=env)
    port, receiver_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    received = logs / "received.jsonl"
    received.unlink(missing_ok=True)
    worker_argv = [str(VENV_BIN / "caldicott"), "worker", "--log-level", "warning"]
    with Process("service", serve_argv(port, workers=SERVICE_WORKERS), env=env, log_dir=logs) as service:
        wait_until_up(f"{url}/healthz", process=service, timeout=60)
        asyncio.run(register_organisations(url))
        endpoint = asyncio.run(subscribe_controller(url, f"http://127.0.0.1:{receiver_port}/caldicott"))
        argv = [str(VENV_BIN / "python"), "-m", "bench.receiver", "--name", "bench", "--port", str(receiver_port), "--secret", endpoint["secret"]]
        with Process("receiver", [*argv, "--log", str(received), "--no-fsync"], log_dir=logs) as receiver:
            wait_until_up(f"http://127.0.0.1:{receiver_port}/", process=receiver)
            with Process("worker-lag", worker_argv, env=env, log_dir=logs):
                time.sleep(2)  # the worker's start-up (imports, first poll) is not part of any lag
                lagged = lag(url=url, database_url=database_url, received=received, rate=rate, duration=duration)
            drained = drain(
                url=url, database_url=database_url, received=received, backlog=backlog, worker=Process("worker-drain", worker_argv, env=env, log_dir=logs)
            )
    return {"service_workers": SERVICE_WORKERS, "lag": lagged, "drain": drained}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--backlog", type=int, default=5000)
    args = parser.parse_args()
    exit_on_sigterm()
    print(json.dumps(measure(rate=args.rate, duration=args.duration, backlog=args.backlog), indent=2))


if __name__ == "__main__":
    main()
