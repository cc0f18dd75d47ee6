"""`make bench`: every measurement in one run, written to bench/RESULTS.md (and bench/out/results.json).

Runs, in order, on the PostgreSQL cluster started by bench/pg.sh: the rule engine alone
(bench/engine.py), end to end against the baseline at each concurrency (bench/e2e.py),
and the scale curves (bench/scale.py); then writes the figures, the ratios and each
target of issue 7 with met or missed. Nothing here asserts a target: it reports.

    bench/pg.sh .venv/bin/python -m bench.run [--quick]
"""

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from bench import e2e, engine, scale
from bench.common import ROOT, dump, exit_on_sigterm, load_average, machine

RESULTS = ROOT / "bench" / "RESULTS.md"

# Measured during development on this machine (2 cores shared with other engineers' test runs),
# before and after each fix; the "after" figures of this run are in the tables above them.
FIXES = """\
Measured during development on this machine (2 cores shared with the other engineers' test runs, so
single figures moved by 30% from run to run); the figures of this run are in the tables above.

| what was missed | cause found (py-spy, pyinstrument, pg_stat_activity, EXPLAIN) | fix | before | after |
|---|---|---|---|---|
| rule evaluation median < 20 µs | 60% of `evaluate` built the 32 `Finding` models and formatted every reason (`Policy.reason` dumped the thresholds model each time) | `Policy.findings`: every finding a rule can give is built once per policy (findings are frozen) and `evaluate` looks them up (app/rules/policy.py, engine.py) | 116 µs median, 8,400/s | 28 µs median, 34,000/s |
| end-to-end throughput | sampling pg_stat_activity under load at 16: on average 12 of the 16 sessions were waiting on the audit chain's advisory lock, taken at the first audit event and held through the outbox writes, the response's two reads and the commit | the transaction's audit events are chained in a `before_commit` hook, so the lock covers only reading the head, the insert and the commit (app/services/audit.py); `get_policy`/`get_app_settings` are `async`, so FastAPI no longer hops to a worker thread for them (app/dependencies.py) | lock waits in 1,977 samples; 91 req/s | lock waits in 1,037 samples; throughput within run-to-run noise (76-114 req/s at 16 across runs): the event loop's CPU is now the limit |
| queue latency growth < 2x | every queue listing first looks for lapsed claims (`in_queue AND claim_expires_at <= now`), which read every queued row: 15,000 rows and 15 ms at 100k requests (EXPLAIN) | index on `sharing_requests.claim_expires_at` (migration 0005) | 6.2 ms at 10k, 11.9 ms at 50k (p95 130 ms) | flat from 10k to 1M (table above) |
| audit verification >= 100k events/s | a third of verification was `json.dumps`, which builds a new encoder on every call with these options | `canonical_json` keeps one `JSONEncoder` with the same options; byte-identical output (app/canonical.py) | 8.5 µs per event's JSON | 4.6 µs (whole verification 30,000-50,000 events/s across runs) |
| resilience: PostgreSQL restart | while PostgreSQL shut down or started up it refused connections with SQLSTATE 57P03, which SQLAlchemy raises as a plain `DBAPIError`, so the handler answered 500 | SQLSTATE classes 08, 53 and 57 mean "database away": 503 problem with Retry-After (app/errors.py; test in tests/test_database_unavailable.py) | 18 answers 500 | none |
"""


def fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def write_results(figures: dict[str, Any]) -> str:
    """The Markdown document of one run."""
    host, rules, end_to_end, growth = figures["machine"], figures["engine"], figures["e2e"], figures["scale"]
    lines = [
        "# Benchmarks and scale curves",
        "",
        f"Written by `make bench` on {host['date']} in {fmt(figures['seconds'] / 60)} minutes. Every figure below comes from that one run.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {host['cpu']}, {host['cores']} cores |",
        f"| memory | {host['memory']} |",
        f"| system | {host['os']} |",
        f"| Python | {host['python']} |",
        f"| PostgreSQL | {host['postgresql']} (throwaway cluster from bench/pg.sh: fsync off, shared_buffers 1 GB) |",
        f"| load average at start / end | {figures['load_before']} / {figures['load_after']} |",
        f"| also running | {figures['also_running']} |",
        "",
        "The service, the baseline, the load generator and PostgreSQL share the same cores, so absolute",
        "figures depend on what else runs; the ratios compare service and baseline measured back to back.",
        "",
        "## Targets",
        "",
        "| target (issue 7) | figure | |",
        "|---|---|---|",
        f"| rule evaluation median < 20 µs | {fmt(rules['median_us'])} µs | {verdict(rules['median_us'] < 20)} |",
    ]
    for run in end_to_end["runs"]:
        concurrency = run["concurrency"]
        lines.append(f"| throughput >= 0.5x baseline at {concurrency} | {fmt(run['throughput_ratio'], 3)}x | {verdict(run['throughput_ratio'] >= 0.5)} |")
        lines.append(f"| p99 < 3x baseline's at {concurrency} | {fmt(run['p99_ratio'])}x | {verdict(run['p99_ratio'] < 3)} |")
    steps = growth["steps"]
    span = f"{steps[0]['requests']:,} to {steps[-1]['requests']:,}"
    for key, name in (("queue", "review-queue listing"), ("agency_listing", "one agency's request listing")):
        ratio = growth["growth_first_to_last"][key]
        lines.append(f"| {name} grows < 2x from {span} | {fmt(ratio, 2)}x | {verdict(ratio < 2)} |")
    slowest = min(step["audit_verify"]["events_per_second"] for step in steps)
    lines.append(f"| audit verification >= 100,000 events/s | {fmt(slowest, 0)} events/s (slowest size) | {verdict(slowest >= 100_000)} |")
    replays = [step for step in steps if step["replay"] is not None]
    largest = replays[-1]["replay"]
    lines.append(
        f"| replay of {largest['decisions']:,} decisions < 1 minute (issue 10) | {fmt(largest['seconds'])} s, "
        f"{fmt(largest['decisions_per_second'], 0)}/s | {verdict(largest['decisions'] >= 100_000 and largest['seconds'] < 60)} |"
    )
    lines += [
        "",
        "## Rule engine alone",
        "",
        f"`evaluate(policy, facts)` over {rules['corpus']}; facts built once, outside the timing;",
        f"{rules['evaluations']:,} timed evaluations (each timed alone), then the same number in a tight loop for throughput.",
        f"Outcomes differing from the corpus's expectations: {rules['outcomes_differing_from_expected'] or 'none'}.",
        "",
        "| evaluations/s | median | p99 |",
        "|---|---|---|",
        f"| {fmt(rules['evaluations_per_second'], 0)} | {fmt(rules['median_us'])} µs | {fmt(rules['p99_us'])} µs |",
        "",
        "## End to end on PostgreSQL",
        "",
        "The service is `caldicott serve` (uvicorn, one process); the baseline is bench/baseline_app.py under the same",
        "uvicorn: a bare ASGI app that verifies the same JWT with the service's own `app.auth.TokenVerifier`, inserts one",
        "row with asyncpg and answers 201. bench/load.py, a separate process, posts valid requests (50% approve, 20% with",
        "conditions, 15% referred, 15% refused) over keep-alive HTTP/1.1 from 4 agencies; each server gets a",
        f"{fmt(end_to_end['warmup_seconds'], 0)} s warm-up, then {fmt(end_to_end['duration_seconds'], 0)} s measured. The service also writes a webhook",
        "delivery per submission (one controller endpoint subscribed, no worker running).",
        "",
        "| concurrency | server | requests | per second | p50 ms | p95 ms | p99 ms | answers |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in end_to_end["runs"]:
        for name in ("service", "baseline"):
            side = run[name]
            answers = ", ".join(f"{key}: {count}" for key, count in sorted((side["request_statuses"] if name == "service" else side["http_statuses"]).items()))
            errors = f"; errors {side['errors']}" if side["errors"] else ""
            lines.append(
                f"| {run['concurrency']} | {name} | {side['succeeded']:,} | {fmt(side['throughput_per_second'])} | {fmt(side['p50_ms'])} | "
                f"{fmt(side['p95_ms'])} | {fmt(side['p99_ms'])} | {answers}{errors} |"
            )
        lines.append(f"| {run['concurrency']} | **service / baseline** | | **{fmt(run['throughput_ratio'], 3)}x** | | | **{fmt(run['p99_ratio'])}x** | |")
    lines += [
        "",
        "## Scale",
        "",
        "One database grown 10k -> 100k -> 1M requests by COPY (each request with its version, subject hash, decision,",
        "transition, outbox event and chained audit event; 15% of requests referred and still in the queue), vacuumed and",
        "analysed after each step, then timed through the app in-process (httpx over ASGI): median of 30 after 5 warm-ups",
        "for the listings (50 per page), one run for the whole-chain verification.",
        "",
        "| requests | in queue | load s | queue median ms | queue p95 ms | agency list median ms | agency list p95 ms | audit events | verify s | events/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for step in steps:
        queue, listing, verify = step["queue"], step["agency_listing"], step["audit_verify"]
        lines.append(
            f"| {step['requests']:,} | {step['in_queue']:,} | {fmt(step['load_seconds'])} | {fmt(queue['median_ms'], 2)} | {fmt(queue['p95_ms'], 2)} | "
            f"{fmt(listing['median_ms'], 2)} | {fmt(listing['p95_ms'], 2)} | {verify['events']:,} | {fmt(verify['seconds'], 2)} | {fmt(verify['events_per_second'], 0)} |"
        )
    lines += [
        "",
        "## Policy replay",
        "",
        "Every stored decision (all made under 2026.1, with the facts they recorded) re-evaluated under 2027.1 by",
        "`POST /v1/policies/uk-caldicott-baseline/2027.1/replay` as a guardian, through the app in-process, once per size",
        f"up to {scale.REPLAY_UP_TO:,}. The ratio compares the replay's rate with the rule engine's alone in this run: what reading",
        "the stored bodies and facts, validating them again, comparing findings and storing the differences costs on top.",
        "",
        "| decisions | differing | seconds | decisions/s | replay / engine alone |",
        "|---|---|---|---|---|",
    ]
    for step in replays:
        done = step["replay"]
        ratio = done["decisions_per_second"] / rules["evaluations_per_second"]
        lines.append(
            f"| {done['decisions']:,} | {done['differing']:,} | {fmt(done['seconds'], 2)} | {fmt(done['decisions_per_second'], 0)} | {fmt(ratio, 3)}x |"
        )
    factors = growth["growth_first_to_last"]
    lines += [
        "",
        f"From {span} requests the queue listing's median changes {fmt(factors['queue'], 2)}x and the agency listing's",
        f"{fmt(factors['agency_listing'], 2)}x: both read one index range of 51 rows, whatever the table size. Verification is linear",
        f"by nature (it rehashes every event); its rate changes {fmt(factors['audit_verify_rate'], 2)}x. Database size at the largest step:",
        f"{fmt(growth['database_gb_at_largest'])} GB.",
        "",
        "## Profiling and fixes",
        "",
        FIXES,
        "Where a target is still missed, the reason is in the notes below.",
        "",
        "## Notes",
        "",
        *NOTES,
        "",
        "Reproduce: `make bench` (6-8 minutes here); each part alone: `bench/pg.sh .venv/bin/python -m bench.engine`,",
        "`... -m bench.e2e`, `... -m bench.scale`, and `... -m bench.profile` to profile the service under load with py-spy.",
        "",
    ]
    return "\n".join(lines)


NOTES = [
    "* Rule engine: the corpus now holds both policy versions (2026.1's 32 rules and 2027.1's 38, several of which"
    " consult others), so its median is not comparable with the 28 µs measured on 2026.1 alone before. After the fix"
    " what remains is the rules themselves, each a small readable Python function"
    " (about 0.5 µs apiece); going under 20 µs would mean rewriting them for speed rather than for review by a Caldicott"
    " Guardian. One evaluation is under 1% of a submission's cost end to end.",
    "* End to end: the targets (0.5x the baseline's throughput, 3x its p99) are not within reach of this design, and no"
    " small edit changes that. A submission validates a body of some 40 fields, evaluates the rules, and writes the"
    " request, version, subject hash, decision, transition, audit event, outbox event and delivery through the SQLAlchemy"
    " ORM: 16 statements from BEGIN to COMMIT (counted with an engine event), against the baseline's one insert. Measured one at a time"
    " in-process it costs some 8 ms of CPU on this machine, the baseline well under 0.5 ms. Getting near half the"
    " baseline would need the write path rebuilt (one multi-row statement or a database function instead of ORM flushes)"
    " and the response built from what was just written instead of read back.",
    "* The audit chain is appended one transaction at a time, by design: the brief asks for one tamper-evident hash chain,"
    " and each event's hash covers the one before. Since the fix the advisory lock covers only the last three statements"
    " of a transaction, but under load it still orders every writer, which is why p99 grows with concurrency.",
    "* Audit verification recomputes SHA-256 over the canonical JSON of every event, in Python, reading the table in"
    " batches of 5,000: 30,000-50,000 events/s on this shared machine across runs (a million events in 20-30 s)."
    " The 100,000/s target would need the hashing outside Python's interpreter or spread over processes; it"
    " is linear in the trail's length by nature.",
    "* The scale data keeps every referred request in the queue (15%, 150,000 at 1M), a far larger backlog than a real"
    " guardian team would carry, to show the queue listing does not depend on it.",
    "* Also found, not measured here: the webhook worker's overdue check (`in_queue AND due_at < now AND"
    " overdue_flagged_at IS NULL`, every poll) reads every queued request too; with a large queue it would want an"
    " index of its own.",
]


def also_running() -> str:
    """Other busy processes at the start of the run (the other engineers' tests, typically)."""
    try:
        import subprocess

        listing = subprocess.run(["ps", "-eo", "pcpu,args", "--sort=-pcpu"], capture_output=True, text=True, timeout=10).stdout.splitlines()[1:]
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    ours = ("bench.", "caldicott-bench-pg", "ps -eo")
    busy = [line.strip() for line in listing if float(line.split()[0]) >= 5 and not any(mark in line for mark in ours)]
    return "; ".join(line[:120] for line in busy[:4]) or "nothing else busy"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs and small sizes, to try the harness (does not write RESULTS.md)")
    args = parser.parse_args()
    exit_on_sigterm()
    started = time.monotonic()
    figures: dict[str, Any] = {"machine": machine(), "load_before": load_average(), "also_running": also_running()}
    print("bench: rule engine", file=sys.stderr, flush=True)
    figures["engine"] = engine.measure(rounds=50 if args.quick else 300)
    print("bench: end to end", file=sys.stderr, flush=True)
    figures["e2e"] = e2e.measure(concurrencies=[16, 64], duration=5 if args.quick else 20, warmup=1 if args.quick else 3)
    print("bench: scale", file=sys.stderr, flush=True)
    figures["scale"] = asyncio.run(scale.measure([2_000, 10_000] if args.quick else [10_000, 100_000, 1_000_000]))
    figures["load_after"] = load_average()
    figures["seconds"] = time.monotonic() - started
    dump(ROOT / "bench" / "out" / "results.json", figures)
    document = write_results(figures)
    target: Path = ROOT / "bench" / "out" / "RESULTS.quick.md" if args.quick else RESULTS
    target.write_text(document)
    print(f"bench: wrote {target.relative_to(ROOT)} in {figures['seconds'] / 60:.1f} minutes", file=sys.stderr)


if __name__ == "__main__":
    main()
