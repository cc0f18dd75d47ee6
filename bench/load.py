"""The load generator: POSTs valid sharing requests at a fixed concurrency for a fixed time, and reports latency.

A separate process from the server it loads. It speaks plain HTTP/1.1 over asyncio
streams with keep-alive, one connection per concurrent client, so that its own cost per
request stays small beside the server's (httpx costs several times more CPU per request,
and on two cores that would measure the load generator rather than the server). The
bodies are valid requests built from tests/rules/baseline.py in a mix of outcomes
(see VARIANTS in bench/common.py), each with its own reference and subject identifiers;
the agency tokens are minted with the bench development secret.

    .venv/bin/python -m bench.load --url http://127.0.0.1:8000 --concurrency 16 --duration 20

prints one JSON document: requests, throughput, p50/p95/p99 latency, status counts and
the request statuses the service answered with.
"""

import argparse
import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from app.models.vocabulary import Role
from bench.common import AGENCIES, percentile, request_bodies, token

PATH = "/v1/sharing-requests"


@dataclass
class Answer:
    """One finished request, as the load generator saw it."""

    status: int  # 0: no HTTP answer (connection refused or reset, or timed out)
    latency: float
    body: bytes
    error: str | None = None


@dataclass
class Tally:
    statuses: Counter[str] = field(default_factory=Counter)
    request_statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)


def prepared_requests(host: str, port: int, count: int, *, seed: int = 7) -> list[bytes]:
    """Whole HTTP/1.1 requests, ready to write: valid bodies in the outcome mix, from the agencies in turn."""
    tokens = {org: token(org=org, role=Role.AGENCY) for org in AGENCIES}
    prepared = []
    for index, (_outcome, body) in enumerate(request_bodies(count, seed=seed)):
        payload = json.dumps(body).encode()
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {tokens[AGENCIES[index % len(AGENCIES)]]}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        prepared.append(head.encode() + payload)
    return prepared


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, whether the server will close) of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.find(b"\r\n", at + 2)
        body = await reader.readexactly(int(lower[at + 17 : end]))
    elif b"\r\ntransfer-encoding: chunked" in lower:
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            chunks.append(await reader.readexactly(size + 2))
            if size == 0:
                break
        body = b"".join(chunk[:-2] for chunk in chunks)
    else:
        body = b""
    return status, body, b"\r\nconnection: close" in lower


async def client(
    host: str, port: int, requests: Iterator[bytes], *, until: float, timeout: float, left: list[int], on_answer: Callable[[Answer], None]
) -> None:
    """One keep-alive connection sending requests one after another until the deadline or the shared budget is spent."""
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.monotonic() < until and left[0] > 0:
        left[0] -= 1
        request = next(requests)
        started = time.monotonic()
        sent = False
        try:
            async with asyncio.timeout(timeout):
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                writer.write(request)
                sent = True
                status, body, closing = await read_answer(reader)
            on_answer(Answer(status=status, latency=time.monotonic() - started, body=body))
            if closing:
                writer.close()
                writer = None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as error:
            kind = "timeout" if isinstance(error, TimeoutError) else type(error).__name__
            on_answer(Answer(status=0, latency=time.monotonic() - started, body=b"", error=kind))
            if not sent:
                left[0] += 1  # never reached the server (refused): not one of the submissions counted
            if writer is not None:
                writer.close()
                writer = None
            await asyncio.sleep(0.2)  # the server is away: do not spin
    if writer is not None:
        writer.close()


def request_status(body: bytes) -> str:
    """The `status` the server gave the request (the first one in the document), without parsing it all."""
    at = body.find(b'"status":"')
    return body[at + 10 : body.find(b'"', at + 10)].decode() if at >= 0 else "?"


async def run(
    url: str,
    *,
    concurrency: int,
    duration: float,
    max_requests: int = 10**9,
    timeout: float = 30,
    prepared: list[bytes] | None = None,
    on_answer: Callable[[Answer], None] | None = None,
) -> dict[str, Any]:
    """Load `url` with `concurrency` clients for `duration` seconds (or until `max_requests`); the figures."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = itertools.cycle(prepared or prepared_requests(host, port, 4000))
    tally = Tally()

    def count(answer: Answer) -> None:
        tally.statuses[str(answer.status)] += 1
        if answer.error:
            tally.errors[answer.error] += 1
        elif 200 <= answer.status < 300:
            tally.request_statuses[request_status(answer.body)] += 1
            tally.latencies.append(answer.latency)
        if on_answer is not None:
            on_answer(answer)

    left = [max_requests]
    started = time.monotonic()
    until = started + duration
    await asyncio.gather(*(client(host, port, requests, until=until, timeout=timeout, left=left, on_answer=count) for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    latencies = sorted(tally.latencies)
    return {
        "url": url,
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "succeeded": len(latencies),
        "throughput_per_second": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "http_statuses": dict(tally.statuses),
        "request_statuses": dict(tally.request_statuses),
        "errors": dict(tally.errors),
    }


async def measure(url: str, *, concurrency: int, duration: float, warmup: float) -> dict[str, Any]:
    """A warm-up at the same concurrency (not counted), then the measured run."""
    parts = urlsplit(url)
    prepared = prepared_requests(parts.hostname or "127.0.0.1", parts.port or 80, 4000)
    if warmup > 0:
        await run(url, concurrency=concurrency, duration=warmup, prepared=prepared)
    return await run(url, concurrency=concurrency, duration=duration, prepared=prepared)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    args = parser.parse_args()
    try:
        import uvloop  # the load generator's own cost per request should be small; uvicorn uses uvloop too

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    print(json.dumps(asyncio.run(measure(args.url, concurrency=args.concurrency, duration=args.duration, warmup=args.warmup))))


if __name__ == "__main__":
    main()
