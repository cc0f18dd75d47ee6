"""End to end on PostgreSQL: the real service under uvicorn against the baseline app, under the same load.

Each server is one uvicorn process (`caldicott serve` for the service, exactly as
production runs it; `uvicorn bench.baseline_app:app` for the baseline), each with its
own database on the bench cluster. The load generator (bench/load.py) runs as a third
process. At each concurrency the two servers are loaded in turn, service first, each
after a warm-up, so both see the same machine; the ratios compare them at the same
concurrency. The service has its agencies registered and one controller webhook
endpoint subscribed to every event, so each submission also writes a delivery, as it
would in production (no worker runs: deliveries stay pending).

    bench/pg.sh .venv/bin/python -m bench.e2e [--concurrency 16 64] [--duration 20]
"""

import argparse
import asyncio
import json
import subprocess
import sys
from typing import Any

import httpx

from app.models.vocabulary import Role
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
    token,
    wait_until_up,
)


async def subscribe_controller(base_url: str) -> None:
    """An admin's endpoint for every event type, so each submission writes an outbox delivery as in production."""
    headers = {"Authorization": f"Bearer {token(org='CONTROLLER', role=Role.ADMIN)}"}
    body = {"url": "http://127.0.0.1:9/caldicott", "event_types": ["sharing_request.decided", "sharing_request.referred"]}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post("/v1/webhook-endpoints", json=body, headers=headers)
        if response.status_code != 201:
            raise RuntimeError(f"registering the controller's webhook: {response.status_code} {response.text}")


def load(url: str, *, concurrency: int, duration: float, warmup: float) -> dict[str, Any]:
    """Run bench/load.py as its own process and read its figures."""
    argv = [str(VENV_BIN / "python"), "-m", "bench.load", "--url", url, "--concurrency", str(concurrency), "--duration", str(duration), "--warmup", str(warmup)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + warmup + 120)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr}")
    return json.loads(done.stdout)


def measure(*, concurrencies: list[int], duration: float, warmup: float) -> dict[str, Any]:
    """Both servers at each concurrency; the figures and the service/baseline ratios."""
    logs = log_dir("e2e")
    service_db = asyncio.run(create_database("bench_service"))
    baseline_db = asyncio.run(create_database("bench_baseline"))
    run_checked(migrate_argv(), env=service_env(service_db))
    service_port, baseline_port = free_port(), free_port()
    service_url, baseline_url = f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{baseline_port}"
    baseline_argv = [str(VENV_BIN / "python"), "-m", "uvicorn", "bench.baseline_app:app", "--host", "127.0.0.1", "--port", str(baseline_port)]
    runs = []
    with (
        Process("service", serve_argv(service_port), env=service_env(service_db), log_dir=logs) as service,
        Process("baseline", [*baseline_argv, "--log-level", "warning"], env=service_env(baseline_db), log_dir=logs) as baseline,
    ):
        wait_until_up(f"{service_url}/healthz", process=service)
        wait_until_up(f"{baseline_url}/healthz", process=baseline)
        asyncio.run(register_organisations(service_url))
        asyncio.run(subscribe_controller(service_url))
        for concurrency in concurrencies:
            measured = {}
            for name, url in (("service", service_url), ("baseline", baseline_url)):
                print(f"e2e: {name} at concurrency {concurrency} for {duration:g} s", file=sys.stderr, flush=True)
                measured[name] = load(url, concurrency=concurrency, duration=duration, warmup=warmup)
            service_run, baseline_run = measured["service"], measured["baseline"]
            runs.append(
                {
                    "concurrency": concurrency,
                    "service": service_run,
                    "baseline": baseline_run,
                    "throughput_ratio": service_run["throughput_per_second"] / baseline_run["throughput_per_second"],
                    "p99_ratio": service_run["p99_ms"] / baseline_run["p99_ms"],
                }
            )
    return {"duration_seconds": duration, "warmup_seconds": warmup, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    args = parser.parse_args()
    exit_on_sigterm()
    print(json.dumps(measure(concurrencies=args.concurrency, duration=args.duration, warmup=args.warmup), indent=2))


if __name__ == "__main__":
    main()
