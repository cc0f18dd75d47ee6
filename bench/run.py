"""`make bench`: every measurement in one run, written to bench/RESULTS.md (and bench/out/results.json).

Runs, in order, on the PostgreSQL cluster started by bench/pg.sh: the rule engine alone
(bench/engine.py); end to end, the service against a FastAPI baseline and a bare ASGI
baseline at each concurrency with one and two server processes (bench/e2e.py); webhook
delivery lag at a fixed submission rate and the rate of draining a backlog
(bench/webhooks.py); and the scale curves, policy replay and audit verification
(bench/scale.py). Then it writes the figures, the ratios and each target of issue 13 with
met or missed, followed by the hand-written bench/NOTES.md, copied through as it is.
Nothing here asserts a target: it reports.

    bench/pg.sh .venv/bin/python -m bench.run            the full run (about 15 minutes), bench/RESULTS.md
    bench/pg.sh .venv/bin/python -m bench.run --quick    a few minutes, to try the harness: bench/out/RESULTS-quick.md

The quick run has shorter loads, a smaller backlog and sizes up to 100,000 only; its figures
are noisier and never written to bench/RESULTS.md.
"""

import argparse
import asyncio
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h11
import uvicorn

from bench import e2e, engine, scale, webhooks
from bench.common import ROOT, dump, exit_on_sigterm, load_average, machine

RESULTS = ROOT / "bench" / "RESULTS.md"
QUICK_RESULTS = ROOT / "bench" / "out" / "RESULTS-quick.md"
NOTES = ROOT / "bench" / "NOTES.md"

# Issue 13's targets.
THROUGHPUT_RATIO, NOT_DONE_RATIO, P99_RATIO = 0.5, 0.25, 3.0
P99_AT_64_MS = 250
VERIFY_RATE, VERIFY_EVENTS, VERIFY_MEMORY_GROWTH_MIB = 100_000, 1_000_000, 32
LAG_P99_S, DELIVERIES_PER_SECOND = 2.0, 500
SCALE_GROWTH = 1.2


@dataclass(frozen=True)
class Plan:
    """What one run measures, and for how long."""

    engine_rounds: int
    e2e_seconds: float
    e2e_warmup: float
    concurrencies: tuple[int, ...]
    processes: tuple[int, ...]
    webhook_rate: float
    webhook_seconds: float
    backlog: int
    sizes: tuple[int, ...]
    replay_up_to: int


FULL = Plan(300, 20, 3, (16, 64), (1, 2), 200, 20, 5000, (10_000, 100_000, 1_000_000), 100_000)
QUICK = Plan(50, 5, 1, (16, 64), (1, 2), 200, 8, 1000, (10_000, 100_000), 10_000)


def fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def hand_written() -> str:
    """bench/NOTES.md without its leading comment: the profiling, fixes and notes, maintained by hand."""
    return re.sub(r"\A\s*<!--.*?-->\s*", "", NOTES.read_text(), flags=re.DOTALL).rstrip() + "\n"


def e2e_run(figures: dict[str, Any], processes: int, concurrency: int) -> dict[str, Any]:
    return next(run for run in figures["e2e"]["runs"] if run["processes"] == processes and run["concurrency"] == concurrency)


def submission_targets(figures: dict[str, Any]) -> list[str]:
    run = e2e_run(figures, 1, 16)
    fastapi, bare = run["versus_fastapi"], run["versus_bare"]
    throughput = fastapi["throughput"]
    done = verdict(throughput >= THROUGHPUT_RATIO) if throughput >= NOT_DONE_RATIO else "**not done** (under 0.25x)"
    lines = [
        f"| submission throughput >= {THROUGHPUT_RATIO}x the FastAPI baseline's at concurrency 16, one process each "
        f"(under {NOT_DONE_RATIO}x: not done) | {fmt(throughput, 3)}x (bare baseline: "
        f"{fmt(bare['throughput'], 3)}x) | {done} |",
        f"| p99 <= {P99_RATIO:g}x the FastAPI baseline's at concurrency 16, one process each | {fmt(fastapi['p99'])}x "
        f"(bare baseline: {fmt(bare['p99'])}x) | {verdict(fastapi['p99'] <= P99_RATIO)} |",
    ]
    for processes in figures["plan"]["processes"]:
        p99 = e2e_run(figures, processes, 64)["service"]["p99_ms"]
        lines.append(
            f"| p99 at concurrency 64 under {P99_AT_64_MS} ms ({processes} server "
            f"process{'es' if processes > 1 else ''}) | {fmt(p99)} ms | {verdict(p99 < P99_AT_64_MS)} |"
        )
    return lines


def delivery_targets(figures: dict[str, Any]) -> list[str]:
    lag, drain = figures["webhooks"]["lag"], figures["webhooks"]["drain"]
    answered = lag["submissions"]["throughput_per_second"]
    offered = lag["offered_per_second"]
    complete = lag["arrived"] == lag["deliveries"]
    if lag["p99_s"] >= LAG_P99_S or not complete:
        lag_verdict = verdict(False)
    elif answered < 0.95 * offered:
        lag_verdict = f"**not shown at {offered:g}/s** (the service answered {fmt(answered, 0)}/s)"
    else:
        lag_verdict = verdict(True)
    missing = "" if complete else f"; {lag['deliveries'] - lag['arrived']:,} never arrived"
    return [
        f"| webhook first-attempt lag p99 < {LAG_P99_S:g} s at {offered:g} submissions/s | {fmt(lag['p99_s'], 2)} s "
        f"(submissions answered at {fmt(answered)}/s{missing}) | {lag_verdict} |",
        f"| >= {DELIVERIES_PER_SECOND} deliveries/s to a local receiver (a backlog of {drain['backlog']:,}) | "
        f"{fmt(drain['deliveries_per_second'], 0)}/s | "
        f"{verdict(drain['deliveries_per_second'] >= DELIVERIES_PER_SECOND and drain['arrived'] == drain['backlog'])} "
        "|",
    ]


def scale_targets(figures: dict[str, Any]) -> list[str]:
    growth = figures["scale"]
    steps = growth["steps"]
    first, last = steps[0], steps[-1]
    short = "" if last["requests"] >= VERIFY_EVENTS else f" (quick run: short of {VERIFY_EVENTS:,})"
    rate = last["audit_verify"]["events_per_second"]
    memory = [step["verify_process"]["growth_mib"] for step in steps]
    span = f"{first['requests']:,} to {last['requests']:,}"
    lines = [
        f"| audit verification >= {VERIFY_RATE:,} events/s over {VERIFY_EVENTS:,} events | {fmt(rate, 0)} events/s "
        f"over {last['audit_verify']['events']:,}{short} | {verdict(rate >= VERIFY_RATE)} |",
        f"| its memory flat: `caldicott audit verify` grows by < {VERIFY_MEMORY_GROWTH_MIB} MiB while verifying, at "
        f"every size from {span} requests | {', '.join(f'{value:+,.1f}' for value in memory)} MiB | "
        f"{verdict(max(memory) < VERIFY_MEMORY_GROWTH_MIB)} |",
    ]
    for key, name in (("queue", "review-queue listing"), ("agency_listing", "one agency's request listing")):
        ratio = growth["growth_first_to_last"][key]
        lines.append(
            f"| {name} grows < {SCALE_GROWTH}x from {span} requests | {fmt(ratio, 2)}x | "
            f"{verdict(ratio < SCALE_GROWTH)} |"
        )
    return lines


def header(figures: dict[str, Any]) -> list[str]:
    host = figures["machine"]
    how = "`bench.run --quick` (a quick run: shorter loads, sizes up to 100,000; not the committed figures)" if figures["quick"] else "`make bench`"
    return [
        "# Benchmarks and scale curves",
        "",
        f"Written by {how} on {host['date']} in {fmt(figures['seconds'] / 60)} minutes. Every figure "
        "below comes from that one run.",
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
        f"| HTTP server | uvicorn {uvicorn.__version__}, h11 {h11.__version__} protocol, "
        "for the service and both baselines alike |",
        f"| load average at start / end | {figures['load_before']} / {figures['load_after']} |",
        f"| also running | {figures['also_running']} |",
        "",
        "The servers, the load generator, the webhook worker and receiver and PostgreSQL share the same cores, so",
        "absolute figures depend on what else runs; the ratios compare servers measured back to back.",
        "",
        "## Targets",
        "",
        "| target (issue 13) | figure | |",
        "|---|---|---|",
        *submission_targets(figures),
        *scale_targets(figures)[:2],
        *delivery_targets(figures),
        *scale_targets(figures)[2:],
    ]


def engine_section(rules: dict[str, Any]) -> list[str]:
    return [
        "",
        "## Rule engine alone",
        "",
        f"`evaluate(policy, facts)` over {rules['corpus']}; facts built once, outside the timing;",
        f"{rules['evaluations']:,} timed evaluations (each timed alone), "
        "then the same number in a tight loop for throughput.",
        f"Outcomes differing from the corpus's expectations: {rules['outcomes_differing_from_expected'] or 'none'}.",
        "",
        "| evaluations/s | median | p99 |",
        "|---|---|---|",
        f"| {fmt(rules['evaluations_per_second'], 0)} | {fmt(rules['median_us'])} µs | {fmt(rules['p99_us'])} µs |",
    ]


def e2e_section(end_to_end: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## End to end on PostgreSQL",
        "",
        "Three servers under the same uvicorn HTTP implementation and options (uvicorn's h11 protocol, "
        "subclassed in app/platform/server.py",
        "for the request-head deadline, with the service's keep-alive, "
        "head-size and concurrency limits; bench/serve.py runs the",
        "baselines with them), so the ratios measure the application, not the HTTP parser:",
        "",
        "* **service**: `caldicott serve` as production runs it (`--workers 2` for two processes);",
        "* **FastAPI**: bench/fastapi_baseline.py, a FastAPI endpoint taking the service's "
        "`SharingRequestBody` as its body",
        "  parameter (the same validation), the same JWT check (`app.auth.TokenVerifier`) as a "
        "dependency, and one INSERT of the",
        "  validated body as JSONB through an asyncpg pool; 201 with the id;",
        "* **bare**: bench/baseline_app.py, a bare ASGI app: "
        "the same JWT check and INSERT of the raw body, no validation.",
        "",
        "With two processes each runs uvicorn's `workers=2` (the baselines through the same "
        "`uvicorn.run`). bench/load.py, a",
        "separate process, posts valid requests (50% approve, 20% with conditions, "
        "15% referred, 15% refused) over keep-alive",
        f"HTTP/1.1 from 4 agencies; each server gets a {fmt(end_to_end['warmup_seconds'], 0)} s warm-up, then "
        f"{fmt(end_to_end['duration_seconds'], 0)} s measured. The service also writes a",
        "webhook delivery per submission (one controller endpoint subscribed, no worker running).",
        "",
        "| processes | concurrency | server | requests | per second | p50 ms | p95 ms | p99 ms | answers |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in end_to_end["runs"]:
        where = f"| {run['processes']} | {run['concurrency']} |"
        for name in e2e.SERVERS:
            side = run[name]
            counts = side["request_statuses"] if name == "service" else side["http_statuses"]
            answers = ", ".join(f"{key}: {count}" for key, count in sorted(counts.items()))
            errors = f"; errors {side['errors']}" if side["errors"] else ""
            lines.append(
                f"{where} {name} | {side['succeeded']:,} | {fmt(side['throughput_per_second'])} | "
                f"{fmt(side['p50_ms'])} | {fmt(side['p95_ms'])} | {fmt(side['p99_ms'])} | {answers}{errors} |"
            )
        for key, name in (("versus_fastapi", "FastAPI"), ("versus_bare", "bare")):
            ratio = run[key]
            lines.append(
                f"{where} **service / {name}** | | **{fmt(ratio['throughput'], 3)}x** | | "
                f"| **{fmt(ratio['p99'])}x** | |"
            )
    return lines


def webhook_section(delivery: dict[str, Any]) -> list[str]:
    lag, drain = delivery["lag"], delivery["drain"]
    submitted = lag["submissions"]
    return [
        "",
        "## Webhook delivery",
        "",
        f"The service (`caldicott serve --workers {delivery['service_workers']}`), "
        "one `caldicott worker` and a local receiver",
        "(bench/receiver.py: checks each signature with the standardwebhooks package, "
        "answers 204, logs the arrival time) on a",
        "database of their own; an admin's endpoint on the receiver hears every decision and "
        "referral, so each submission is one",
        "delivery. **Lag**: bench/load.py posts at a fixed rate as an open loop "
        "(each request sent when due, whatever the",
        f"answers; skipped when {lag['max_in_flight']} are unanswered) with the worker running; a delivery's lag is "
        "its first arrival at the receiver",
        "minus the event's `timestamp` in the payload "
        "(written in the submission's transaction). **Drain**: with no worker",
        "running, a backlog of submissions is made; then one worker is started and the arrivals timed.",
        "",
        "| offered | answered | per second | skipped | submission p99 ms | deliveries | arrived | lag "
        "p50 s | lag p99 s | lag max s |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {lag['offered_per_second']:g}/s for {lag['seconds']:g} s | {submitted['succeeded']:,} | "
        f"{fmt(submitted['throughput_per_second'])} | {submitted['skipped']:,} | {fmt(submitted['p99_ms'])} | "
        f"{lag['deliveries']:,} | {lag['arrived']:,} | {fmt(lag['p50_s'], 2)} | "
        f"{fmt(lag['p99_s'], 2)} | {fmt(lag['max_s'], 2)} |",
        "",
        "| backlog | arrived | first to last arrival s | deliveries/s | first arrival after the worker's start "
        "s | all arrived after start s |",
        "|---|---|---|---|---|---|",
        f"| {drain['backlog']:,} | {drain['arrived']:,} | {fmt(drain['first_to_last_seconds'], 2)} | "
        f"{fmt(drain['deliveries_per_second'], 0)} | {fmt(drain['first_arrival_after_start_seconds'], 2)} | "
        f"{fmt(drain['from_worker_start_seconds'], 2)} |",
    ]


def scale_section(growth: dict[str, Any], rules: dict[str, Any]) -> list[str]:
    steps = growth["steps"]
    sizes = " -> ".join(f"{step['requests']:,}" for step in steps)
    lines = [
        "",
        "## Scale",
        "",
        f"One database grown {sizes} requests by COPY (each request with its version, subject hash, decision,",
        "transition, outbox event and chained audit event; "
        "15% of requests referred and still in the queue), vacuumed and",
        "analysed after each step, then timed through the app in-process "
        "(httpx over ASGI): median of 30 after 5 warm-ups",
        "for the listings (50 per page), one run for the whole-chain verification; "
        "then `caldicott audit verify` once as a",
        "process of its own (bench/verify_memory.py), for its own rate and how much its "
        "resident memory grew while verifying",
        "(peak VmHWM minus VmRSS before, after the imports).",
        "",
        "| requests | in queue | load s | queue median ms | queue p95 ms | agency list median ms | agency list p95 ms "
        "| audit events | verify s | events/s | CLI verify events/s | CLI verify memory growth MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for step in steps:
        queue, listing, verify = step["queue"], step["agency_listing"], step["audit_verify"]
        lines.append(
            f"| {step['requests']:,} | {step['in_queue']:,} | {fmt(step['load_seconds'])} | "
            f"{fmt(queue['median_ms'], 2)} | {fmt(queue['p95_ms'], 2)} | {fmt(listing['median_ms'], 2)} | "
            f"{fmt(listing['p95_ms'], 2)} | {verify['events']:,} | {fmt(verify['seconds'], 2)} | "
            f"{fmt(verify['events_per_second'], 0)} | {fmt(step['verify_process']['events_per_second'], 0)} | "
            f"{step['verify_process']['growth_mib']:+,.1f} |"
        )
    replays = [step["replay"] for step in steps if step["replay"] is not None]
    lines += [
        "",
        "## Policy replay",
        "",
        "Every stored decision (all made under 2026.1, with the facts they recorded) re-evaluated under 2027.1 by",
        "`POST /v1/policies/uk-caldicott-baseline/2027.1/replay` as a guardian, "
        "through the app in-process, once per size",
        f"up to {growth['replay_up_to']:,}. The ratio compares the replay's rate with the rule engine's "
        "alone in this run: what reading",
        "the stored bodies and facts, validating them again, "
        "comparing findings and storing the differences costs on top.",
        "",
        "| decisions | differing | seconds | decisions/s | replay / engine alone |",
        "|---|---|---|---|---|",
    ]
    for done in replays:
        ratio = done["decisions_per_second"] / rules["evaluations_per_second"]
        lines.append(
            f"| {done['decisions']:,} | {done['differing']:,} | {fmt(done['seconds'], 2)} | "
            f"{fmt(done['decisions_per_second'], 0)} | {fmt(ratio, 3)}x |"
        )
    factors = growth["growth_first_to_last"]
    lines += [
        "",
        f"From {steps[0]['requests']:,} to {steps[-1]['requests']:,} requests the queue listing's median changes "
        f"{fmt(factors['queue'], 2)}x and the agency",
        f"listing's {fmt(factors['agency_listing'], 2)}x. Verification is linear by nature "
        "(it rehashes every event); its rate changes",
        f"{fmt(factors['audit_verify_rate'], 2)}x, and the verifying process's memory growth "
        f"{factors['verify_memory_mib']:+,.1f} MiB. Database size at the",
        f"largest step: {fmt(growth['database_gb_at_largest'])} GB.",
    ]
    return lines


def write_results(figures: dict[str, Any]) -> str:
    """The Markdown document of one run: the measured sections, then bench/NOTES.md as it is."""
    lines = [
        *header(figures),
        *engine_section(figures["engine"]),
        *e2e_section(figures["e2e"]),
        *webhook_section(figures["webhooks"]),
        *scale_section(figures["scale"], figures["engine"]),
        "",
        hand_written(),
        "Reproduce: `make bench` (about 15 minutes here), or `make bench-quick` (a few minutes; "
        "writes bench/out/RESULTS-quick.md);",
        "each part alone: `bench/pg.sh .venv/bin/python -m bench.engine`, `... -m bench.e2e`, `... -m bench.webhooks`,",
        "`... -m bench.scale`, and `... -m bench.profile` to profile the service under load with py-spy.",
        "",
    ]
    return "\n".join(lines)


def also_running() -> str:
    """Other busy processes at the start of the run (the other engineers' tests, typically)."""
    try:
        listing = subprocess.run(["ps", "-eo", "pcpu,args", "--sort=-pcpu"], capture_output=True, text=True, timeout=10).stdout.splitlines()[1:]
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    ours = ("bench.", "caldicott-bench-pg", "ps -eo")
    busy = [line.strip() for line in listing if float(line.split()[0]) >= 5 and not any(mark in line for mark in ours)]
    return "; ".join(line[:120] for line in busy[:4]) or "nothing else busy"


def measure(plan: Plan, *, quick: bool) -> dict[str, Any]:
    started = time.monotonic()
    figures: dict[str, Any] = {"quick": quick, "plan": plan.__dict__, "machine": machine(), "load_before": load_average(), "also_running": also_running()}
    print("bench: rule engine", file=sys.stderr, flush=True)
    figures["engine"] = engine.measure(rounds=plan.engine_rounds)
    print("bench: end to end", file=sys.stderr, flush=True)
    figures["e2e"] = e2e.measure(concurrencies=list(plan.concurrencies), processes=list(plan.processes), duration=plan.e2e_seconds, warmup=plan.e2e_warmup)
    print("bench: webhook delivery", file=sys.stderr, flush=True)
    figures["webhooks"] = webhooks.measure(rate=plan.webhook_rate, duration=plan.webhook_seconds, backlog=plan.backlog)
    print("bench: scale", file=sys.stderr, flush=True)
    figures["scale"] = asyncio.run(scale.measure(list(plan.sizes), replay_up_to=plan.replay_up_to)) | {"replay_up_to": plan.replay_up_to}
    figures["load_after"] = load_average()
    figures["seconds"] = time.monotonic() - started
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs and sizes up to 100,000, to try the harness (writes bench/out/RESULTS-quick.md)")
    parser.add_argument("--render", type=Path, metavar="JSON", help="only write the document again from an earlier run's results JSON (after editing NOTES.md)")
    args = parser.parse_args()
    exit_on_sigterm()
    if args.render:
        figures = json.loads(args.render.read_text())
    else:
        figures = measure(QUICK if args.quick else FULL, quick=args.quick)
        dump(ROOT / "bench" / "out" / ("results-quick.json" if args.quick else "results.json"), figures)
    target: Path = QUICK_RESULTS if figures["quick"] else RESULTS
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(write_results(figures))
    print(f"bench: wrote {target.relative_to(ROOT)} in {figures['seconds'] / 60:.1f} minutes", file=sys.stderr)


if __name__ == "__main__":
    main()
