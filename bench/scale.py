"""Scale: the review queue, one agency's request listing,
audit verification and policy replay at 10k, 100k and 1M stored requests.

One database grows 10k -> 100k -> 1M. Each step bulk-loads whole requests with COPY
(asyncpg): the request, its version (the stored body, identifiers replaced by keyed
hashes), its subject hash, the rules' decision (the real findings of its variant,
evaluated once per variant), its `submitted` transition, its outbox event, and its audit
event. The audit events continue the chain: their hashes are computed with
app.services.audit.chain's own chain_hash and canonical_fields, so the chain verifies.

Every request is decided under policy 2026.1 and its decision records the facts the rules
saw, as the service writes them. The mix of outcomes is that of the load (bench/common.py
VARIANTS); every referred request
is still awaiting review, so the guardian queue is 15% of all requests (a deliberately
large backlog: 150,000 at 1M). Requests come from 20 agencies, created 90 seconds apart.

After each step the tables are vacuumed and analysed (as autovacuum would), then the
three operations are timed through the real app in-process (httpx over ASGI, so routing,
auth, the service, the database and serialisation, without a network hop):
  GET /v1/review-queue?limit=50             as a guardian (median of 30, after 5 warm-ups)
  GET /v1/sharing-requests?limit=50         as one agency (median of 30, after 5 warm-ups)
  GET /v1/audit/verify                      as an auditor (once; events per second)
  POST /v1/policies/uk-caldicott-baseline/2027.1/replay, every stored decision
                                            as a guardian (once, up to 100k; decisions per second)
and then `caldicott audit verify` runs as a process of its own (bench/verify_memory.py), whose
memory growth while verifying (its peak resident set minus its resident set before) shows
whether verification holds the trail in memory: flat across sizes when it streams.

    bench/pg.sh .venv/bin/python -m bench.scale [--sizes 10000 100000 1000000] [--replay-up-to 100000]
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import subprocess
import sys
import time
from collections import namedtuple
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from app.canonical import SubjectKeys, canonical_json, sha256_hex
from app.main import create_app
from app.models.actions import RequestAction
from app.models.base import LONDON
from app.models.request_body import SharingRequestBody
from app.models.sharing_request import STATUS_FOR_OUTCOME
from app.models.vocabulary import DsptStatus, OrganisationType, Role
from app.rules.facts import RequesterFacts, facts_record
from app.services.audit import chain as audit
from app.services.sharing_requests.facts import fingerprint
from app.services.webhooks import outbox
from bench.common import (
    ROOT,
    SUBJECT_KEY,
    VARIANTS,
    VENV_BIN,
    asyncpg_dsn,
    create_database,
    exit_on_sigterm,
    migrate_argv,
    new_id,
    percentile,
    run_checked,
    service_env,
    settings_for,
    token,
)
from tests.rules.baseline import POLICY, changed, facts, run

AGENCY_COUNT = 20
SPACING = timedelta(seconds=90)
BATCH = 20_000
REPEATS, WARMUPS = 30, 5
REPLAY_UP_TO = 100_000  # replaying a million decisions would take most of the bench's time

# What canonical_fields reads from an audit event, and what outbox.payload reads from a request and decision.
AuditRow = namedtuple("AuditRow", "seq occurred_at actor_sub actor_org actor_roles action target_type target_id outcome correlation_id")
RequestView = namedtuple("RequestView", "id status reference open_checks checks_blocking")
DecisionView = namedtuple("DecisionView", "outcome conditions verdict")


def agency(index: int) -> str:
    return f"AG{index % AGENCY_COUNT:03d}"


class Templates:
    """Per variant: the stored body (to be given its own reference and hash), and the rules' decision on it."""

    def __init__(self) -> None:
        self.policy = (POLICY.name, POLICY.version, POLICY.content_hash)
        self.facts = facts()  # the request does not matter here: only what the decision records beside it
        self.variants = []
        for name, changes, weight in VARIANTS:
            body = changed(changes | {"subjects.identifiers": ["9990000018"]})
            evaluation = run(body)
            assert evaluation.outcome == name, (name, evaluation.outcome)
            stored = fingerprint(SharingRequestBody.model_validate(body), subject_keys=SubjectKeys(keys={1: SUBJECT_KEY.encode()}, current=1)).body
            findings = json.dumps([finding.model_dump(mode="json") for finding in evaluation.findings])
            status = str(STATUS_FOR_OUTCOME[evaluation.outcome])
            self.variants.append((name, weight, stored, findings, json.dumps(list(evaluation.conditions)), status, list(evaluation.conditions)))
        # A fixed, repeatable sequence of variants with the weights of VARIANTS.
        self.cycle = [index for index, variant in enumerate(self.variants) for _ in range(round(variant[1] * 20))]


def rows_for(
    templates: Templates, start: int, count: int, *, total: int, now: datetime, head: tuple[int, str]
) -> tuple[dict[str, list[tuple[Any, ...]]], tuple[int, str]]:
    """The rows of requests start..start+count-1 for every table, and the new head of the audit chain."""
    tables: dict[str, list[tuple[Any, ...]]] = {name: [] for name in ("requests", "versions", "subjects", "decisions", "transitions", "outbox", "audit")}
    seq, prev_hash = head
    key = SUBJECT_KEY.encode()
    policy_name, policy_version, policy_hash = templates.policy
    for index in range(start, start + count):
        variant = templates.cycle[index % len(templates.cycle)]
        _name, _weight, stored, _findings, _conditions_json, status, conditions = templates.variants[variant]
        request_id = new_id()
        org = agency(index)
        sub = f"bench-{org.lower()}"
        created = now - (total - index) * SPACING
        subject_hash = hmac.new(key, f"{9_000_000_000 + index}".encode(), hashlib.sha256).hexdigest()
        body = dict(stored, reference=f"SCALE-{index:07d}", subjects=dict(stored["subjects"], identifier_hashes=[subject_hash]))
        body_json = canonical_json(body)
        request_hash = sha256_hex(body_json)
        queued = status == "awaiting_review"
        due = created + timedelta(days=28) if queued else None
        tables["requests"].append(
            (
                request_id,
                org,
                sub,
                body["reference"],
                "direct_care",
                "routine",
                status,
                False,
                1,
                None,
                created,
                created,
                queued,
                2,
                created if queued else None,
                due,
                0,
            )
        )
        tables["versions"].append((request_id, 1, body_json.decode(), request_hash, sub, created))
        tables["subjects"].append((request_id, 1, subject_hash))
        seen = facts_record(
            replace(
                templates.facts, requester=RequesterFacts(org, OrganisationType.NHS_TRUST, DsptStatus.STANDARDS_MET), today=created.astimezone(LONDON).date()
            )
        )
        tables["decisions"].append(
            (
                variant,
                new_id(),
                request_id,
                1,
                "rules",
                _name,
                False,
                "rules",
                policy_name,
                policy_version,
                policy_hash,
                request_hash,
                created,
                json.dumps(seen),
                "recorded",
            )
        )
        tables["transitions"].append((request_id, str(RequestAction.SUBMITTED), None, status, sub, org, created))
        event_type = outbox.event_type_for(RequestAction.SUBMITTED, status)
        assert event_type is not None
        payload = outbox.payload(event_type=event_type, request=RequestView(request_id, status, body["reference"], (), ()), decision=DecisionView(_name, conditions, None), now=created, sequence=1)  # type: ignore[arg-type]
        tables["outbox"].append((new_id(), str(event_type), request_id, json.dumps(payload), created, 1))
        seq += 1
        event = AuditRow(seq, created, sub, org, ["agency"], "submitted", "sharing_request", request_id, f"{status}, decision {_name}", new_id())
        event_hash = audit.chain_hash(prev_hash, audit.canonical_fields(event))
        tables["audit"].append((*event._replace(actor_roles='["agency"]'), prev_hash, event_hash))
        prev_hash = event_hash
    return tables, (seq, prev_hash)


DECISION_COLUMNS = (
    "id",
    "request_id",
    "version",
    "kind",
    "outcome",
    "review_required",
    "decided_by",
    "policy_name",
    "policy_version",
    "policy_hash",
    "request_hash",
    "decided_at",
    "facts",
    "facts_origin",
)
# Parsing the same 7 kB of findings JSON a million times is most of a bulk load; copying the parsed value is not.
STAGING = """
CREATE TEMPORARY TABLE decision_templates (variant int PRIMARY KEY, findings jsonb NOT NULL, conditions jsonb NOT NULL);
CREATE TEMPORARY TABLE staged_decisions (variant int NOT NULL, LIKE decisions);
ALTER TABLE staged_decisions DROP COLUMN findings, DROP COLUMN conditions
"""
UNSTAGE = f"""
INSERT INTO decisions ({", ".join(DECISION_COLUMNS)}, findings, conditions)
SELECT {", ".join("s." + column for column in DECISION_COLUMNS)}, t.findings, t.conditions
FROM staged_decisions s JOIN decision_templates t USING (variant);
TRUNCATE staged_decisions
"""

COLUMNS = {
    "requests": (
        "sharing_requests",
        (
            "id",
            "requester_org",
            "submitted_by",
            "reference",
            "purpose_category",
            "urgency",
            "status",
            "review_required",
            "current_version",
            "idempotency_key",
            "created_at",
            "updated_at",
            "in_queue",
            "review_priority",
            "referred_at",
            "due_at",
            "paused_seconds",
        ),
    ),
    "versions": ("sharing_request_versions", ("request_id", "version", "body", "request_hash", "created_by", "created_at")),
    "subjects": ("sharing_request_subjects", ("request_id", "version", "subject_hash")),
    # Staged without findings, then copied into decisions with its variant's findings (see grow).
    "decisions": ("staged_decisions", ("variant", *DECISION_COLUMNS)),
    "transitions": ("sharing_request_transitions", ("request_id", "action", "from_status", "to_status", "actor_sub", "actor_org", "at")),
    "outbox": ("outbox_events", ("id", "type", "request_id", "payload", "created_at", "sequence")),
    "audit": ("audit_events", (*AuditRow._fields, "prev_hash", "hash")),
}


async def grow(connection: asyncpg.Connection, templates: Templates, *, have: int, want: int, total: int, now: datetime) -> float:
    """Load requests have..want-1 in batches, in one transaction per batch; the seconds it took."""
    started = time.monotonic()
    head_row = await connection.fetchrow("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
    head = (head_row["seq"], head_row["hash"]) if head_row else (0, audit.GENESIS_HASH)
    for start in range(have, want, BATCH):
        tables, head = rows_for(templates, start, min(BATCH, want - start), total=total, now=now, head=head)
        async with connection.transaction():
            for name, rows in tables.items():
                table, columns = COLUMNS[name]
                await connection.copy_records_to_table(table, records=rows, columns=columns)
                if name == "decisions":
                    await connection.execute(UNSTAGE)
        print(f"scale: {start + len(tables['requests']):,} requests loaded", file=sys.stderr, flush=True)
    for table in ("sharing_requests", "sharing_request_versions", "decisions", "audit_events", "outbox_events", "sharing_request_transitions"):
        await connection.execute(f"VACUUM ANALYZE {table}")
    return time.monotonic() - started


async def timed(client: httpx.AsyncClient, path: str, headers: dict[str, str], *, repeats: int, warmups: int) -> dict[str, float]:
    """Median and 95th percentile milliseconds of GET path, after warm-ups."""
    for _ in range(warmups):
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, response.text
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = await client.get(path, headers=headers)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    timings.sort()
    return {"median_ms": percentile(timings, 0.5) * 1000, "p95_ms": percentile(timings, 0.95) * 1000, "items": len(response.json()["items"])}


async def measure_operations(database_url: str, *, window: dict[str, str] | None) -> dict[str, Any]:
    """The three operations through the real app, in-process."""
    app = create_app(settings_for(database_url))
    guardian = {"Authorization": f"Bearer {token(org='CONTROLLER', role=Role.GUARDIAN)}"}
    agency_headers = {"Authorization": f"Bearer {token(org=agency(1), role=Role.AGENCY)}"}
    auditor = {"Authorization": f"Bearer {token(org='CONTROLLER', role=Role.AUDITOR)}"}
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=600) as client:
            queue = await timed(client, "/v1/review-queue?limit=50", guardian, repeats=REPEATS, warmups=WARMUPS)
            listing = await timed(client, "/v1/sharing-requests?limit=50", agency_headers, repeats=REPEATS, warmups=WARMUPS)
            started = time.perf_counter()
            response = await client.get("/v1/audit/verify", headers=auditor)
            seconds = time.perf_counter() - started
            verification = response.json()
            assert response.status_code == 200 and verification["valid"], verification
            replayed = await replay(client, guardian, window) if window is not None else None
    finally:
        await app.state.wiring.engine.dispose()
    return {
        "queue": queue,
        "agency_listing": listing,
        "audit_verify": {"events": verification["events"], "seconds": seconds, "events_per_second": verification["events"] / seconds},
        "replay": replayed,
    }


async def replay(client: httpx.AsyncClient, headers: dict[str, str], window: dict[str, str]) -> dict[str, Any]:
    """Every stored decision replayed under 2027.1, through the API, in a window that holds them all (one is required);
    nothing stored changes."""
    started = time.perf_counter()
    response = await client.post("/v1/policies/uk-caldicott-baseline/2027.1/replay", json=window, headers=headers)
    seconds = time.perf_counter() - started
    assert response.status_code == 201, response.text
    totals = response.json()["totals"]
    return {"decisions": totals["replayed"], "differing": totals["differing"], "seconds": seconds, "decisions_per_second": totals["replayed"] / seconds}


async def organisations(connection: asyncpg.Connection, now: datetime) -> None:
    """The agencies, and the controller (whose guardian and auditor tokens are refused unless it is registered)."""
    rows = [(agency(index), f"Scale agency {index}", "nhs_trust", "standards_met", True, now, now) for index in range(AGENCY_COUNT)]
    rows.append(("CONTROLLER", "Scale controller", "nhs_trust", "standards_met", True, now, now))
    await connection.copy_records_to_table("organisations", records=rows, columns=("code", "name", "type", "dspt_status", "active", "created_at", "updated_at"))


def verify_in_a_process(database_url: str) -> dict[str, Any]:
    """`caldicott audit verify` as a process of its own (bench/verify_memory.py):
    its result, seconds and memory growth."""
    argv = [str(VENV_BIN / "python"), "-m", "bench.verify_memory"]
    done = subprocess.run(argv, env=service_env(database_url), cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"caldicott audit verify exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    measured = json.loads(done.stdout)
    result = measured["result"]
    return {
        "events": result["events"],
        "valid": result["valid"],
        "seconds": measured["seconds"],
        "events_per_second": result["events"] / measured["seconds"],
        "rss_before_mib": measured["rss_before_mib"],
        "peak_rss_mib": measured["peak_rss_mib"],
        "growth_mib": measured["growth_mib"],
    }


async def measure(sizes: list[int], *, replay_up_to: int = REPLAY_UP_TO) -> dict[str, Any]:
    database_url = await create_database("bench_scale")
    run_checked(migrate_argv(), env=service_env(database_url))
    templates = Templates()
    now = datetime.now(UTC)
    total = max(sizes)
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    steps = []
    try:
        await organisations(connection, now)
        await connection.execute(STAGING)
        await connection.executemany(
            "INSERT INTO decision_templates VALUES ($1, $2, $3)", [(index, variant[3], variant[4]) for index, variant in enumerate(templates.variants)]
        )
        have = 0
        for size in sorted(sizes):
            load_seconds = await grow(connection, templates, have=have, want=size, total=total, now=now)
            have = size
            queued = await connection.fetchval("SELECT count(*) FROM sharing_requests WHERE in_queue")
            print(f"scale: measuring at {size:,} requests", file=sys.stderr, flush=True)
            first = await connection.fetchval("SELECT min(decided_at) FROM decisions")
            # From the first decision's London day, as many days as a replay may span: every one loaded so far.
            window = {"from": first.astimezone(LONDON).date().isoformat(), "to": (first.astimezone(LONDON).date() + timedelta(days=365)).isoformat()}
            operations = await measure_operations(database_url, window=window if size <= replay_up_to else None)
            verified = await asyncio.to_thread(verify_in_a_process, database_url)
            steps.append({"requests": size, "in_queue": queued, "load_seconds": load_seconds, **operations, "verify_process": verified})
        database_bytes = await connection.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await connection.close()
    first, last = steps[0], steps[-1]
    growth = {
        "queue": last["queue"]["median_ms"] / first["queue"]["median_ms"],
        "agency_listing": last["agency_listing"]["median_ms"] / first["agency_listing"]["median_ms"],
        "audit_verify_rate": last["audit_verify"]["events_per_second"] / first["audit_verify"]["events_per_second"],
        "verify_memory_mib": last["verify_process"]["growth_mib"] - first["verify_process"]["growth_mib"],
    }
    return {"steps": steps, "growth_first_to_last": growth, "database_gb_at_largest": database_bytes / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--replay-up-to", type=int, default=REPLAY_UP_TO, help="replay every decision at each size up to this one")
    args = parser.parse_args()
    exit_on_sigterm()
    print(json.dumps(asyncio.run(measure(args.sizes, replay_up_to=args.replay_up_to)), indent=2))


if __name__ == "__main__":
    main()
