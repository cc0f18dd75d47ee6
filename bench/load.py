"""The load generator: POSTs valid sharing requests at a fixed concurrency
(or a fixed rate) for a fixed time, and reports latency.

A separate process from the server it loads. It speaks plain HTTP/1.1 over asyncio
streams with keep-alive, one connection per concurrent client, so that its own cost per
request stays small beside the server's (httpx costs several times more CPU per request,
and on two cores that would measure the load generator rather than the server). The
bodies are valid requests built from tests/rules/baseline.py in a mix of outcomes
(see VARIANTS in bench/common.py), each with its own reference and subject identifiers;
the agency tokens are minted with the bench development secret.

    .venv/bin/python -m bench.load --url http://127.0.0.1:8000 --concurrency 16 --duration 20
    .venv/bin/python -m bench.load --url http://127.0.0.1:8000 --concurrency 32 --requests 5000 --warmup 0
    .venv/bin/python -m bench.load --url http://127.0.0.1:8000 --rate 200 --duration 20

prints one JSON document: requests, throughput, p50/p95/p99 latency, status counts and
the request statuses the service answered with. With `--rate` the load is an open loop:
a request is started every 1/rate seconds whatever the answers (on an idle kept-alive
connection, or a new one, up to --max-in-flight at once), and each latency counts from
the moment the request was due, so a server falling behind shows it in its latencies.
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

    def count(self, answer: Answer) -> None:
        self.statuses[str(answer.status)] += 1
        if answer.error:
            self.errors[answer.error] += 1
        elif 200 <= answer.status < 300:
            self.request_statuses[request_status(answer.body)] += 1
            self.latencies.append(answer.latency)

    def figures(self, url: str, *, concurrency: int, elapsed: float) -> dict[str, Any]:
        latencies = sorted(self.latencies)
        return {
            "url": url,
            "concurrency": concurrency,
            "seconds": round(elapsed, 2),
            "succeeded": len(latencies),
            "throughput_per_second": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 0.50) * 1000,
            "p95_ms": percentile(latencies, 0.95) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000,
            "http_statuses": dict(self.statuses),
            "request_statuses": dict(self.request_statuses),
            "errors": dict(self.errors),
        }


def prepared_requests(host: str, port: int, count: int, *, seed: int = 7) -> list[bytes]:
    """Whole HTTP/1.1 requests, ready to write: valid bodies in the outcome mix, from the agencies in turn."""
    tokens = {org: token(org=org, role=Role.AGENCY) for org in AGENCIES}
    prepared = []
    for index, (_outcome, body) in enumerate(request_bodies(count, seed=seed)):
        payload = json.dumps(body).encode()
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {tokens[AGENCIES[index % len(AGENCIES)]]}\r\n"
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
        tally.count(answer)
        if on_answer is not None:
            on_answer(answer)

    left = [max_requests]
    started = time.monotonic()
    until = started + duration
    await asyncio.gather(*(client(host, port, requests, until=until, timeout=timeout, left=left, on_answer=count) for _ in range(concurrency)))
    return tally.figures(url, concurrency=concurrency, elapsed=time.monotonic() - started)


async def paced(url: str, *, rate: float, duration: float, max_in_flight: int = 256, request_timeout: float = 30) -> dict[str, Any]:
    """Open loop: a request due every 1/rate seconds for `duration`, sent whatever the answers;
    latency counted from when it was due.

    Each request takes an idle kept-alive connection or opens one; with `max_in_flight` unanswered, a due
    request is skipped (and counted as such) rather than queued without end.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = itertools.cycle(prepared_requests(host, port, 4000))
    tally, idle = Tally(), []
    in_flight, skipped = 0, 0

    async def one(request: bytes, due: float) -> None:
        nonlocal in_flight
        connection = idle.pop() if idle else None
        try:
            async with asyncio.timeout(request_timeout):
                if connection is None:
                    connection = await asyncio.open_connection(host, port)
                connection[1].write(request)
                status, body, closing = await read_answer(connection[0])
            tally.count(Answer(status=status, latency=time.monotonic() - due, body=body))
            if closing:
                connection[1].close()
            else:
                idle.append(connection)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as error:
            kind = "timeout" if isinstance(error, TimeoutError) else type(error).__name__
            tally.count(Answer(status=0, latency=time.monotonic() - due, body=b"", error=kind))
            if connection is not None:
                connection[1].close()
        finally:
            in_flight -= 1

    tasks: set[asyncio.Task[None]] = set()
    started = time.monotonic()
    for index in range(round(rate * duration)):
        due = started + index / rate
        if (delay := due - time.monotonic()) > 0:
            await asyncio.sleep(delay)
        if in_flight >= max_in_flight:
            skipped += 1
            continue
        in_flight += 1
        task = asyncio.create_task(one(next(requests), due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    for _reader, writer in idle:
        writer.close()
    figures = tally.figures(url, concurrency=max_in_flight, elapsed=time.monotonic() - started)
    return figures | {"offered_per_second": rate, "offered_seconds": duration, "skipped": skipped}


async def measure(url: str, *, concurrency: int, duration: float, warmup: float, requests: int | None = None) -> dict[str, Any]:
    """A warm-up at the same concurrency (not counted), then the measured run (for `duration`,
    or until `requests` are answered)."""
    parts = urlsplit(url)
    prepared = prepared_requests(parts.hostname or "127.0.0.1", parts.port or 80, 4000)
    if warmup > 0:
        await run(url, concurrency=concurrency, duration=warmup, prepared=prepared)
    return await run(url, concurrency=concurrency, duration=duration, prepared=prepared, max_requests=requests or 10**9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--requests", type=int, help="stop once this many have been sent (closed loop)")
    parser.add_argument("--rate", type=float, help="open loop: this many requests a second for --duration (no warm-up)")
    parser.add_argument("--max-in-flight", type=int, default=256, help="open loop: skip a due request while this many are unanswered")
    args = parser.parse_args()
    try:
        import uvloop  # the load generator's own cost per request should be small; uvicorn uses uvloop too

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    if args.rate:
        figures = asyncio.run(paced(args.url, rate=args.rate, duration=args.duration, max_in_flight=args.max_in_flight))
    else:
        figures = asyncio.run(measure(args.url, concurrency=args.concurrency, duration=args.duration, warmup=args.warmup, requests=args.requests))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
