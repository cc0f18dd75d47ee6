"""End to end on PostgreSQL: the real service against two baselines, under the same load,
with one and two server processes.

Three servers, each on its own database of the bench cluster, all under the same uvicorn
HTTP implementation and options (app/platform/server.py: uvicorn's h11 protocol with the request-head
deadline; bench/serve.py runs the baselines with them):
  service   `caldicott serve`, exactly as production runs it (`--workers 2` for two processes)
  fastapi   bench/fastapi_baseline.py: FastAPI, the same body model validated, the same JWT check, one INSERT
  bare      bench/baseline_app.py: a bare ASGI app, the same JWT check, one INSERT, no validation
The load generator (bench/load.py) runs as a process of its own. For each process count the
three servers are started on fresh databases; at each concurrency they are loaded in turn,
service first, each after a warm-up, so all see the same machine; the ratios compare them at
the same concurrency and process count. The service has its agencies registered and one
controller webhook endpoint subscribed to every event, so each submission also writes a
delivery, as it would in production (no worker runs: deliveries stay pending).

    bench/pg.sh .venv/bin/python -m bench.e2e [--concurrency 16 64] [--processes 1 2] [--duration 20]
"""

import argparse
import asyncio
import json
import subprocess
import sys
from contextlib import ExitStack
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
    uvicorn_argv,
    wait_until_up,
)

SERVERS = ("service", "fastapi", "bare")
BASELINE_APPS = {"fastapi": "bench.fastapi_baseline:app", "bare": "bench.baseline_app:app"}
UNREACHABLE = "http://127.0.0.1:9/caldicott"  # the discard port: deliveries are written, and stay pending without a worker


async def subscribe_controller(base_url: str, url: str = UNREACHABLE) -> dict[str, Any]:
    """An admin's endpoint for every event type, so each submission writes an outbox delivery as in production;
    the endpoint, with its secret."""
    headers = {"Authorization": f"Bearer {token(org='CONTROLLER', role=Role.ADMIN)}"}
    body = {"url": url, "event_types": ["sharing_request.decided", "sharing_request.referred"]}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post("/v1/webhook-endpoints", json=body, headers=headers)
        if response.status_code != 201:
            raise RuntimeError(f"registering the controller's webhook: {response.status_code} {response.text}")
        return response.json()


def load(url: str, *, concurrency: int, duration: float, warmup: float = 0, extra: list[str] | None = None, timeout: float | None = None) -> dict[str, Any]:
    """Run bench/load.py as its own process and read its figures."""
    argv = [str(VENV_BIN / "python"), "-m", "bench.load", "--url", url, "--concurrency", str(concurrency), "--duration", str(duration), "--warmup", str(warmup)]
    done = subprocess.run([*argv, *(extra or [])], capture_output=True, text=True, timeout=timeout or duration + warmup + 120)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr}")
    return json.loads(done.stdout)


def server_argv(name: str, port: int, workers: int) -> list[str]:
    return serve_argv(port, workers=workers) if name == "service" else uvicorn_argv(BASELINE_APPS[name], port, workers=workers)


def ratios(service: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float]:
    return {"throughput": service["throughput_per_second"] / baseline["throughput_per_second"], "p99": service["p99_ms"] / baseline["p99_ms"]}


def measure_processes(processes: int, *, concurrencies: list[int], duration: float, warmup: float) -> list[dict[str, Any]]:
    """The three servers with `processes` uvicorn processes each, at each concurrency."""
    logs = log_dir("e2e")
    databases = {name: asyncio.run(create_database(f"bench_{name}")) for name in SERVERS}
    run_checked(migrate_argv(), env=service_env(databases["service"]))
    ports = {name: free_port() for name in SERVERS}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    runs = []
    with ExitStack() as servers:
        for name in SERVERS:
            process = Process(f"{name}-{processes}", server_argv(name, ports[name], processes), env=service_env(databases[name]), log_dir=logs)
            servers.enter_context(process)
            wait_until_up(f"{urls[name]}/healthz", process=process, timeout=60)
        asyncio.run(register_organisations(urls["service"]))
        asyncio.run(subscribe_controller(urls["service"]))
        for concurrency in concurrencies:
            measured = {}
            for name in SERVERS:
                print(f"e2e: {name}, {processes} process(es), concurrency {concurrency}, {duration:g} s", file=sys.stderr, flush=True)
                measured[name] = load(urls[name], concurrency=concurrency, duration=duration, warmup=warmup)
            runs.append(
                {
                    "processes": processes,
                    "concurrency": concurrency,
                    **measured,
                    "versus_fastapi": ratios(measured["service"], measured["fastapi"]),
                    "versus_bare": ratios(measured["service"], measured["bare"]),
                }
            )
    return runs


def measure(*, concurrencies: list[int], processes: list[int], duration: float, warmup: float) -> dict[str, Any]:
    """Every server at each process count and concurrency; the figures and the service/baseline ratios."""
    runs = [run for count in processes for run in measure_processes(count, concurrencies=concurrencies, duration=duration, warmup=warmup)]
    return {"duration_seconds": duration, "warmup_seconds": warmup, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    args = parser.parse_args()
    exit_on_sigterm()
    print(json.dumps(measure(concurrencies=args.concurrency, processes=args.processes, duration=args.duration, warmup=args.warmup), indent=2))


if __name__ == "__main__":
    main()
