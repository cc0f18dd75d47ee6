"""Resilience under load: a crashed API server, a receiver that goes away, a database that restarts.

Three checks, each on its own database of the cluster started by bench/pg.sh, each with the
service as production runs it (`caldicott serve`, `caldicott worker`) in its own process:

1. Crash: at least 2,000 submissions at concurrency 16; part way through the API server is
   killed with SIGKILL and started again. Afterwards every request that got a 2xx has its
   version, decision, transition, audit event and outbox event; no stored request lacks
   any of them (nothing half-written); and `caldicott audit verify` finds the chain intact.
2. Receiver outage: two agencies each register an endpoint on their own receiver
   (bench/receiver.py, which checks signatures with the standardwebhooks package); two
   `caldicott worker` processes deliver with the default schedule's first three waits (at
   once, 5 s, 5 min). Receiver A is killed under load for 15 s, long enough for deliveries
   to be put off for five minutes, and started again while the load goes on. Every
   delivery must settle within what the schedule promises (plus a margin), the ones A
   missed must arrive within seconds of its return (its first success brings them forward),
   every webhook-id must reach its own endpoint's receiver at least once, and none the other.
3. Database restart: under load PostgreSQL is stopped (pg_ctl stop -m fast) and started
   again. While it is away the API answers 503 problem documents, never a 500, never
   hangs (no answer takes 10 s), never drops a connection, and the server process lives;
   once it is back, submissions succeed again without anyone touching the service.

Prints the counts and ends with PASS or FAIL (exit status 0 or 1).

    bench/pg.sh .venv/bin/python -m bench.resilience   (make resilience)
"""

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from app.models.vocabulary import Role
from app.services.webhooks.attempts import JITTER, longest_pending
from bench import load
from bench.common import (
    VENV_BIN,
    Process,
    asyncpg_dsn,
    create_database,
    exit_on_sigterm,
    free_port,
    log_dir,
    migrate_argv,
    register_organisations,
    run_checked,
    serve_argv,
    service_env,
    settings_for,
    token,
    wait_until_up,
)

LOGS = log_dir("resilience")
REQUEST_TIMEOUT = 10.0  # an answer slower than this counts as a hang


@dataclass
class Check:
    """The outcome of one check: its counts, and the conditions that failed."""

    name: str
    counts: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def expect(self, condition: bool, failure: str) -> None:
        if not condition:
            self.failures.append(failure)

    @property
    def passed(self) -> bool:
        return not self.failures


def answer_id(body: bytes) -> str | None:
    """The request id of a 201 answer (the document's first `id`)."""
    at = body.find(b'"id":"')
    return body[at + 6 : body.find(b'"', at + 6)].decode() if at >= 0 else None


class Server:
    """The API server on a fixed port, which can be killed and started again."""

    def __init__(self, name: str, database_url: str):
        self.name, self.env, self.port = name, service_env(database_url), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: Process | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.process = Process(f"{self.name}-server-{self.starts}", serve_argv(self.port), env=self.env, log_dir=LOGS).start()
        wait_until_up(f"{self.url}/healthz", process=self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


async def database(database_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_dsn(database_url))


# --- 1. Crash -------------------------------------------------------------------------------


async def crash(*, submissions: int, kill_after: int, required: int = 2000) -> Check:
    """Submit under load, kill -9 the server part way and start it again,
    then look for anything missing or half-written."""
    check = Check("crash: kill -9 of the API server under load")
    database_url = await create_database("resilience_crash")
    run_checked(migrate_argv(), env=service_env(database_url))
    server = Server("crash", database_url)
    server.start()
    try:
        await register_organisations(server.url)
        accepted: list[str] = []
        statuses: Counter[str] = Counter()
        killed, enough = asyncio.Event(), asyncio.Event()

        def note(answer: load.Answer) -> None:
            statuses[answer.error or str(answer.status)] += 1
            if 200 <= answer.status < 300 and (request_id := answer_id(answer.body)):
                accepted.append(request_id)
                if len(accepted) >= kill_after:
                    enough.set()

        async def kill_and_restart() -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(enough.wait(), timeout=120)
            assert server.process is not None
            server.process.kill9()
            killed.set()
            print(f"resilience: API server killed (SIGKILL) after {len(accepted)} accepted submissions", file=sys.stderr, flush=True)
            await asyncio.sleep(2)
            await asyncio.to_thread(server.start)
            print("resilience: API server started again", file=sys.stderr, flush=True)

        restarter = asyncio.create_task(kill_and_restart())
        await load.run(server.url, concurrency=16, duration=300, max_requests=submissions, timeout=REQUEST_TIMEOUT, on_answer=note)
        await asyncio.wait_for(restarter, timeout=60)
    finally:
        server.stop()

    connection = await database(database_url)
    try:
        missing = {}
        for name, query in {
            "request": "SELECT 1 FROM sharing_requests x WHERE x.id = a.id",
            "version": "SELECT 1 FROM sharing_request_versions x WHERE x.request_id = a.id AND x.version = 1",
            "decision": "SELECT 1 FROM decisions x WHERE x.request_id = a.id",
            "transition": "SELECT 1 FROM sharing_request_transitions x WHERE x.request_id = "
            "a.id AND x.action = 'submitted'",
            "audit event": "SELECT 1 FROM audit_events x WHERE x.target_id = a.id AND x.action = 'submitted'",
            "outbox event": "SELECT 1 FROM outbox_events x WHERE x.request_id = a.id",
        }.items():
            missing[name] = await connection.fetchval(f"SELECT count(*) FROM unnest($1::text[]) AS a(id) WHERE NOT EXISTS ({query})", accepted)
        half_written = await connection.fetchval(
            """
            SELECT count(*) FROM sharing_requests r WHERE
                NOT EXISTS (SELECT 1 FROM sharing_request_versions x WHERE x.request_id = r.id)
             OR NOT EXISTS (SELECT 1 FROM decisions x WHERE x.request_id = r.id)
             OR NOT EXISTS (SELECT 1 FROM sharing_request_transitions x WHERE x.request_id = r.id)
             OR NOT EXISTS (SELECT 1 FROM audit_events x WHERE x.target_id = r.id)
             OR NOT EXISTS (SELECT 1 FROM outbox_events x WHERE x.request_id = r.id)
            """
        )
        stored = await connection.fetchval("SELECT count(*) FROM sharing_requests")
    finally:
        await connection.close()
    argv = [str(VENV_BIN / "caldicott"), "audit", "verify"]
    verify = await asyncio.to_thread(subprocess.run, argv, env=service_env(database_url), capture_output=True, text=True, timeout=300)
    verification = json.loads(verify.stdout) if verify.stdout.strip() else {}

    attempts = sum(count for status, count in statuses.items() if status != "ConnectionRefusedError")
    check.counts = {
        "submissions sent (connections refused while the server was down not counted)": attempts,
        "answered 2xx": len(accepted),
        "answers by status or error": dict(statuses),
        "requests stored": stored,
        "stored but never acknowledged (answer lost in the crash)": stored - len(set(accepted)),
        "2xx missing request/version/decision/transition/audit/outbox": missing,
        "stored requests half-written": half_written,
        "audit verify": f"exit {verify.returncode}, {verification.get('events')} events, "
        f"valid={verification.get('valid')}",
    }
    check.expect(killed.is_set(), "the server was never killed")
    check.expect(attempts >= required, f"only {attempts} submissions were sent (want at least {required:,})")
    check.expect(all(count == 0 for count in missing.values()), f"acknowledged requests are missing parts: {missing}")
    check.expect(half_written == 0, f"{half_written} stored requests are half-written")
    check.expect(verify.returncode == 0 and verification.get("valid") is True, f"caldicott audit verify failed: {verify.stderr.strip()}")
    check.expect(len(accepted) >= required // 2, f"only {len(accepted)} submissions succeeded")
    return check


# --- 2. Receiver outage ----------------------------------------------------------------------


# The default schedule's first three waits: a delivery that fails twice while its receiver is down is put off
# for five minutes, unless a success at that endpoint brings it forward (app/services/webhooks/attempts.py).
WORKER_SETTINGS: dict[str, Any] = {"webhook_retry_schedule": [0, 5, 300], "webhook_timeout_seconds": 5.0}
SETTLE_MARGIN_SECONDS = 30.0  # beyond what the schedule promises: time to deliver what the load left behind
OUTAGE_AFTER_SECONDS = 3.0  # of load, before receiver a is killed
LOAD_AFTER_OUTAGE_SECONDS = 20.0  # traffic goes on once receiver a is back, as it would in production


def worker_env(database_url: str) -> dict[str, str]:
    """A `caldicott worker`'s environment: the bench database and WORKER_SETTINGS."""
    return service_env(database_url, **{f"CALDICOTT_{name.upper()}": json.dumps(value) for name, value in WORKER_SETTINGS.items()})


def settle_deadline() -> float:
    """Seconds after the load by which every delivery must have settled:
    the longest the schedule keeps one pending, and a margin."""
    return longest_pending(settings_for("sqlite://", **WORKER_SETTINGS)).total_seconds() + SETTLE_MARGIN_SECONDS


def receiver_process(name: str, port: int, secret: str, log: Path, start: int) -> Process:
    argv = [str(VENV_BIN / "python"), "-m", "bench.receiver", "--name", name, "--port", str(port), "--secret", secret, "--log", str(log)]
    return Process(f"receiver-{name}-{start}", argv, log_dir=LOGS)


async def register_endpoint(base_url: str, org: str, url: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token(org=org, role=Role.AGENCY)}"}
    body = {"url": url, "event_types": ["sharing_request.decided", "sharing_request.referred"]}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post("/v1/webhook-endpoints", json=body, headers=headers)
    if response.status_code != 201:
        raise RuntimeError(f"registering {org}'s endpoint: {response.status_code} {response.text}")
    return response.json()


async def receiver_outage(*, down_seconds: float, concurrency: int = 4) -> Check:
    check = Check("receiver outage: a webhook receiver goes away under load")
    database_url = await create_database("resilience_webhooks")
    run_checked(migrate_argv(), env=service_env(database_url))
    received_log = LOGS / "received.jsonl"
    received_log.unlink(missing_ok=True)
    server = Server("webhooks", database_url)
    server.start()
    processes: list[Process] = []
    try:
        await register_organisations(server.url)
        ports = {"a": free_port(), "b": free_port()}
        owners = {"a": "RXT01", "b": "RXT02"}
        endpoints = {name: await register_endpoint(server.url, owners[name], f"http://127.0.0.1:{ports[name]}/{name}") for name in ports}
        receivers = {name: receiver_process(name, ports[name], endpoints[name]["secret"], received_log, 1).start() for name in ports}
        processes += receivers.values()
        for name in ports:
            wait_until_up(f"http://127.0.0.1:{ports[name]}/", process=receivers[name])
        processes += [
            Process(f"worker-{index}", [str(VENV_BIN / "caldicott"), "worker"], env=worker_env(database_url), log_dir=LOGS).start() for index in (1, 2)
        ]
        back_at: list[float] = []

        async def outage() -> None:
            await asyncio.sleep(OUTAGE_AFTER_SECONDS)
            receivers["a"].kill9()
            print(f"resilience: receiver a killed; down for {down_seconds:g} s", file=sys.stderr, flush=True)
            await asyncio.sleep(down_seconds)
            receivers["a"] = receiver_process("a", ports["a"], endpoints["a"]["secret"], received_log, 2).start()
            processes.append(receivers["a"])
            await asyncio.to_thread(wait_until_up, f"http://127.0.0.1:{ports['a']}/", process=receivers["a"])
            back_at.append(time.time())
            print("resilience: receiver a is back", file=sys.stderr, flush=True)

        outage_task = asyncio.create_task(outage())
        duration = OUTAGE_AFTER_SECONDS + down_seconds + LOAD_AFTER_OUTAGE_SECONDS
        figures = await load.run(server.url, concurrency=concurrency, duration=duration, timeout=REQUEST_TIMEOUT)
        await outage_task
        load_after_return = time.time() - back_at[0]
        print(f"resilience: load over; waiting up to {settle_deadline():.0f} s for every delivery to settle", file=sys.stderr, flush=True)
        connection = await database(database_url)
        try:
            settled_in = await until_settled(connection, within=settle_deadline())
            unsettled = await still_pending(connection)
            missed_then_received = await connection.fetchval(
                """
                SELECT extract(epoch FROM max(a.attempted_at)) FROM webhook_attempts a
                WHERE a.response_status BETWEEN 200 AND 299 AND a.error IS NULL
                  AND EXISTS (SELECT 1 FROM webhook_attempts f
                              WHERE f.delivery_id = a.delivery_id AND f.error IS NOT NULL)
                """
            )
            rows = await connection.fetch(
                """
                SELECT d.id, d.status, d.endpoint_id, r.requester_org,
                       (SELECT count(*) FROM webhook_attempts a WHERE a.delivery_id = d.id) AS attempts,
                       (SELECT count(*) FROM webhook_attempts a
                        WHERE a.delivery_id = d.id AND a.error IS NOT NULL) AS failed_attempts
                FROM webhook_deliveries d
                JOIN outbox_events e ON e.id = d.event_id
                JOIN sharing_requests r ON r.id = e.request_id
                """
            )
        finally:
            await connection.close()
    finally:
        for process in reversed(processes):
            process.stop()
        server.stop()

    receiver_of = {endpoints[name]["id"]: name for name in ports}
    received = [json.loads(line) for line in received_log.read_text().splitlines()] if received_log.exists() else []
    seen: dict[str, Counter[str]] = {}
    for line in received:
        seen.setdefault(line["webhook_id"], Counter())[line["receiver"]] += 1
    statuses = Counter(row["status"] for row in rows)
    never_reached = [row["id"] for row in rows if seen.get(row["id"], Counter())[receiver_of[row["endpoint_id"]]] == 0]
    own_receiver = {row["id"]: receiver_of[row["endpoint_id"]] for row in rows}
    wrong_receiver = [(webhook_id, name) for webhook_id, names in seen.items() for name in names if own_receiver.get(webhook_id) != name]
    wrong_owner = [row["id"] for row in rows if owners[receiver_of[row["endpoint_id"]]] != row["requester_org"]]
    retried_then_delivered = sum(1 for row in rows if row["failed_attempts"] > 0 and row["status"] == "succeeded")
    # From receiver a's return to the last success of a delivery it had missed: seconds, not the five-minute retry.
    backlog_in = round(float(missed_then_received) - back_at[0], 1) if missed_then_received is not None else None
    long_wait = WORKER_SETTINGS["webhook_retry_schedule"][2] * (1 - JITTER)
    check.counts = {
        "submissions answered 2xx": figures["succeeded"],
        "seconds of load after receiver a was back": round(load_after_return, 1),
        "deliveries": len(rows),
        "deliveries by status": dict(statuses),
        "deliveries per receiver": dict(Counter(receiver_of[row["endpoint_id"]] for row in rows)),
        "deliveries that failed while receiver a was down, then succeeded": retried_then_delivered,
        "posts received (with repeats)": len(received),
        "webhook-ids received more than once (at least once delivery)": sum(1 for names in seen.values() if sum(names.values()) > 1),
        "signatures that did not verify": sum(1 for line in received if not line["verified"]),
        "deliveries never received by their own receiver": len(never_reached),
        "webhook-ids received by the wrong receiver": len(wrong_receiver),
        "deliveries for another organisation's request": len(wrong_owner),
        "seconds from receiver a's return to the last delivery it had missed": backlog_in,
        "seconds until every delivery settled after the load": settled_in,
        f"deadline for that (retry schedule {WORKER_SETTINGS['webhook_retry_schedule']} and margin), seconds": round(settle_deadline()),
    }
    check.expect(len(rows) > 0, "no deliveries were made")
    check.expect(
        settled_in is not None,
        f"{unsettled['pending']} of {len(rows)} deliveries still pending {settle_deadline():.0f} s after the load, "
        f"past what the retry schedule promises ({unsettled['failed_before']} had failed before; "
        f"next attempt due by {unsettled['next_due']})",
    )
    check.expect(statuses.get("succeeded", 0) == len(rows), f"not every delivery succeeded: {dict(statuses)}")
    check.expect(load_after_return > 5, f"the load ended {load_after_return:.1f} s after receiver a was back: too soon to show its backlog recovering")
    check.expect(
        backlog_in is not None and backlog_in < long_wait,
        f"what receiver a missed arrived {backlog_in} s after its return: "
        "it waited for the retry schedule, not for its first success",
    )
    check.expect(not never_reached, f"{len(never_reached)} deliveries never reached their receiver")
    check.expect(not wrong_receiver, f"{len(wrong_receiver)} webhook-ids reached the wrong receiver")
    check.expect(not wrong_owner, f"{len(wrong_owner)} deliveries went to another organisation's endpoint")
    check.expect(all(line["verified"] for line in received), "a delivery's signature did not verify")
    check.expect(retried_then_delivered > 0, "the outage never made a delivery fail (was the receiver really down under load?)")
    return check


async def still_pending(connection: asyncpg.Connection) -> dict[str, Any]:
    """How many deliveries are pending, how many of them failed before, and when the last is next due."""
    row = await connection.fetchrow(
        "SELECT count(*) AS pending, count(*) FILTER (WHERE attempts_made > 0) AS failed_before, max(next_attempt_at) "
        "AS next_due FROM webhook_deliveries WHERE status = 'pending'"
    )
    return dict(row)


async def until_settled(connection: asyncpg.Connection, *, within: float) -> float | None:
    """Wait until no delivery is pending; the seconds it took, or None if that did not happen `within` seconds."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await connection.fetchval("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'") == 0:
            return round(time.monotonic() - started, 1)
        await asyncio.sleep(1)
    return None


# --- 3. Database restart ---------------------------------------------------------------------


def pg_ctl(action: str) -> None:
    control = os.environ.get("CALDICOTT_BENCH_PG_CTL")
    if not control:
        raise SystemExit("CALDICOTT_BENCH_PG_CTL is not set: run this under bench/pg.sh")
    subprocess.run([control, action], check=True, timeout=90)


async def database_restart(*, down_seconds: float, duration: float) -> Check:
    check = Check("database restart: PostgreSQL stopped and started under load")
    database_url = await create_database("resilience_database")
    run_checked(migrate_argv(), env=service_env(database_url))
    server = Server("database", database_url)
    server.start()
    phases: dict[str, Counter[str]] = {"before": Counter(), "away": Counter(), "back": Counter()}
    phase = ["before"]
    first_success_back: list[float] = []
    back_at = [0.0]
    non_problem_503 = [0]
    try:
        await register_organisations(server.url)

        def note(answer: load.Answer) -> None:
            phases[phase[0]][answer.error or str(answer.status)] += 1
            if answer.status == 503 and b"/problems/unavailable" not in answer.body:
                non_problem_503[0] += 1
            if phase[0] == "back" and 200 <= answer.status < 300 and not first_success_back:
                first_success_back.append(time.monotonic() - back_at[0])

        async def restart() -> None:
            await asyncio.sleep(4)
            await asyncio.to_thread(pg_ctl, "stop")
            phase[0] = "away"
            print(f"resilience: PostgreSQL stopped; away for {down_seconds:g} s", file=sys.stderr, flush=True)
            await asyncio.sleep(down_seconds)
            await asyncio.to_thread(pg_ctl, "start")
            phase[0], back_at[0] = "back", time.monotonic()
            print("resilience: PostgreSQL started again", file=sys.stderr, flush=True)

        restarter = asyncio.create_task(restart())
        await load.run(server.url, concurrency=16, duration=duration, timeout=REQUEST_TIMEOUT, on_answer=note)
        await restarter
        alive = server.process is not None and server.process.alive()
        async with httpx.AsyncClient(timeout=10) as client:
            ready = (await client.get(f"{server.url}/readyz")).status_code
    finally:
        server.stop()

    everything = phases["before"] + phases["away"] + phases["back"]
    check.counts = {
        "answers before PostgreSQL had stopped (some while it shut down)": dict(phases["before"]),
        "answers while PostgreSQL was away": dict(phases["away"]),
        "answers after it was back": dict(phases["back"]),
        "503 answers that were not problem documents": non_problem_503[0],
        "seconds from restart to the first 2xx": round(first_success_back[0], 2) if first_success_back else None,
        "server process alive at the end": alive,
        "/readyz at the end": ready,
    }
    check.expect(phases["away"]["503"] > 0, "no 503 while the database was away")
    check.expect(everything["500"] == 0, f"{everything['500']} answers were 500")
    check.expect(everything["timeout"] == 0, f"{everything['timeout']} requests hung for {REQUEST_TIMEOUT:g} s")
    unanswered = sum(count for key, count in everything.items() if not key.isdigit())
    check.expect(unanswered == 0, f"{unanswered} requests got no HTTP answer")
    check.expect(non_problem_503[0] == 0, "a 503 was not a problem document")
    check.expect(set(everything) <= {"201", "503"}, f"unexpected answers: {dict(everything)}")
    check.expect(bool(first_success_back), "no submission succeeded after the database came back")
    check.expect(alive, "the server process died")
    check.expect(ready == 200, f"/readyz answered {ready} after the database came back")
    return check


# ---------------------------------------------------------------------------------------------


def report(checks: list[Check], out: Callable[[str], None] = print) -> bool:
    for check in checks:
        out(f"\n== {check.name}: {'PASS' if check.passed else 'FAIL'}")
        for name, value in check.counts.items():
            out(f"   {name}: {value}")
        for failure in check.failures:
            out(f"   FAILED: {failure}")
    passed = all(check.passed for check in checks)
    out(
        f"\nresilience: {'PASS' if passed else 'FAIL'} ({sum(check.passed for check in checks)} "
        f"of {len(checks)} checks passed)"
    )
    return passed


async def main_async(args: argparse.Namespace) -> bool:
    checks = []
    if "crash" in args.only:
        checks.append(await crash(submissions=args.submissions, kill_after=args.submissions // 3))
    if "webhooks" in args.only:
        checks.append(await receiver_outage(down_seconds=15))
    if "database" in args.only:
        checks.append(await database_restart(down_seconds=8, duration=30))
    (LOGS / "results.json").write_text(json.dumps([check.__dict__ for check in checks], indent=2, default=str) + "\n")
    return report(checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=2400, help="submissions in the crash check (at least 2,000 to pass)")
    parser.add_argument("--only", nargs="+", choices=["crash", "webhooks", "database"], default=["crash", "webhooks", "database"])
    exit_on_sigterm()
    sys.exit(0 if asyncio.run(main_async(parser.parse_args())) else 1)


if __name__ == "__main__":
    main()
