"""Profile the service under load: py-spy samples the uvicorn process while bench/load.py posts requests.

Prints the functions with the most samples, by their own time and including what they
call, and writes the raw stacks (bench/out/profile/stacks.txt, py-spy's collapsed
format, for speedscope or flamegraph.pl). This is how the causes recorded in
bench/RESULTS.md were found.

    bench/pg.sh .venv/bin/python -m bench.profile [--concurrency 16] [--duration 15] [--idle]
"""

import argparse
import asyncio
import subprocess
import sys
from collections import Counter

from bench.common import (
    VENV_BIN,
    Process,
    create_database,
    exit_on_sigterm,
    free_port,
    log_dir,
    migrate_argv,
    register_organisations,
    run_checked,
    serve_argv,
    service_env,
    wait_until_up,
)
from bench.e2e import load, subscribe_controller


def summarise(stacks: str, *, top: int) -> str:
    """Own and inclusive sample counts per function, from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in stacks.splitlines():
        frames, _, count = line.rpartition(" ")
        if not frames:
            continue
        samples = int(count)
        total += samples
        names = [frame.split(" (")[0] + " " + frame.split(" (")[-1].rstrip(")").split(":")[0].rsplit("/", 1)[-1] for frame in frames.split(";")]
        own[names[-1]] += samples
        for name in set(names):
            inclusive[name] += samples
    lines = [f"{total} samples", "", "own time:"]
    lines += [f"  {100 * count / total:5.1f}%  {name}" for name, count in own.most_common(top)]
    lines += ["", "including callees:"]
    lines += [f"  {100 * count / total:5.1f}%  {name}" for name, count in inclusive.most_common(top * 2)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--idle", action="store_true", help="include samples where the process waits (py-spy --idle)")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    exit_on_sigterm()
    logs = log_dir("profile")
    database = asyncio.run(create_database("bench_profile"))
    run_checked(migrate_argv(), env=service_env(database))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with Process("service", serve_argv(port), env=service_env(database), log_dir=logs) as service:
        wait_until_up(f"{url}/healthz", process=service)
        asyncio.run(register_organisations(url))
        asyncio.run(subscribe_controller(url))
        stacks = logs / "stacks.txt"
        argv = [str(VENV_BIN / "py-spy"), "record", "--format", "raw", "-o", str(stacks), "-d", str(int(args.duration)), "-r", "200", "-p", str(service.pid)]
        if args.idle:
            argv.append("--idle")
        with Process("py-spy", argv, log_dir=logs) as spy:
            figures = load(url, concurrency=args.concurrency, duration=args.duration, warmup=0)
            assert spy.popen is not None
            spy.popen.wait(timeout=60)
    print(f"throughput while profiled: {figures['throughput_per_second']:.0f}/s, p50 {figures['p50_ms']:.1f} ms", file=sys.stderr)
    print(summarise(stacks.read_text(), top=args.top))


if __name__ == "__main__":
    try:
        main()
    except subprocess.TimeoutExpired as error:
        raise SystemExit(f"timed out: {error}") from None
