"""Prometheus metrics and the access log: the only module that touches prometheus_client.

Each app has its own registry. HTTP requests are counted by a middleware, decisions at the
event seam, webhook attempts where the worker records them; those two find the registry of
the app (or worker) they run in through a context variable, as the correlation id is found.
The guardian queue is measured at scrape time.
"""

import hmac
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import StrEnum
from typing import Any
from wsgiref.simple_server import WSGIServer

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, start_http_server
from prometheus_client.exposition import choose_encoder
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import Unauthorized, problem_doc
from app.models.base import utcnow
from app.models.sharing_request import SharingRequest
from app.models.vocabulary import DecisionKind

access_log = logging.getLogger("caldicott.access")
log = logging.getLogger("caldicott.metrics")

# A route label from a closed set: a scan of made-up paths or methods must not grow the registry.
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

disable_created_metrics()  # no `_created` series beside each counter: half the scrape, nothing lost


class WebhookResult(StrEnum):
    SUCCEEDED = "succeeded"
    REJECTED = "rejected"  # the receiver answered, but not with a 2xx
    UNREACHABLE = "unreachable"  # no answer: refused destination, connection error or timeout


class Metrics:
    """The service's counters and histograms, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "caldicott_http_requests", "HTTP requests answered, by method, route template and status", ["method", "route", "status"], registry=self.registry
        )
        self.http_duration = Histogram(
            "caldicott_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.decisions = Counter("caldicott_decisions", "Decisions recorded, by who decided (kind) and outcome", ["kind", "outcome"], registry=self.registry)
        self.findings = Counter(
            "caldicott_rule_findings", "Findings of the rules in the decisions they made, by rule and result", ["rule", "result"], registry=self.registry
        )
        self.webhook_attempts = Counter("caldicott_webhook_delivery_attempts", "Webhook delivery attempts, by result", ["result"], registry=self.registry)

    def render(self, accept: str | None, queue: tuple[int, int] | None = None) -> tuple[bytes, str]:
        """The exposition in the format the scraper asked for, with the queue gauges when they could be measured."""
        scrape = CollectorRegistry()
        scrape.register(self.registry)
        if queue is not None:
            Gauge("caldicott_review_queue_depth", "Requests in the guardian queue now", registry=scrape).set(queue[0])
            Gauge("caldicott_review_queue_overdue", "Requests in the guardian queue past their due time now", registry=scrape).set(queue[1])
        encoder, content_type = choose_encoder(accept)
        return encoder(scrape), content_type


_current: ContextVar[Metrics | None] = ContextVar("metrics", default=None)


@contextmanager
def counting(metrics: Metrics) -> Iterator[None]:
    """Count what happens in this block (a worker) into `metrics`."""
    token = _current.set(metrics)
    try:
        yield
    finally:
        _current.reset(token)


def decision_recorded(*, kind: str, outcome: str, findings: list[dict[str, Any]]) -> None:
    """Count a decision, and the rules' findings when the rules made it."""
    metrics = _current.get()
    if metrics is None:
        return
    metrics.decisions.labels(kind=kind, outcome=outcome).inc()
    if kind == DecisionKind.RULES:
        for finding in findings:
            metrics.findings.labels(rule=finding["rule"], result=finding["result"]).inc()


def webhook_attempted(*, succeeded: bool, answered: bool) -> None:
    """Count one delivery attempt by its result."""
    metrics = _current.get()
    if metrics is None:
        return
    result = WebhookResult.SUCCEEDED if succeeded else WebhookResult.REJECTED if answered else WebhookResult.UNREACHABLE
    metrics.webhook_attempts.labels(result=result).inc()


class ObserveRequests:
    """Pure ASGI middleware: one sample and one access log line per HTTP request; makes the app's metrics current."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        token = _current.set(self.metrics)
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            _current.reset(token)
            duration = time.perf_counter() - started
            method = scope["method"] if scope["method"] in METHODS else "other"
            # The template, never the path: paths and query strings can carry what we must not log.
            route = getattr(scope.get("route"), "path_format", None) or UNMATCHED
            self.metrics.http_requests.labels(method=method, route=route, status=status).inc()
            self.metrics.http_duration.labels(method=method, route=route, status=status).observe(duration)
            access_log.info(
                "%s %s %d", method, route, status, extra={"method": method, "route": route, "status": status, "duration_ms": round(duration * 1000, 1)}
            )


async def queue_counts(*, sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[int, int] | None:
    """(requests in the guardian queue, of which overdue), one count each; None when the database cannot be read."""
    in_queue = select(func.count()).select_from(SharingRequest).where(col(SharingRequest.in_queue))
    try:
        async with sessionmaker() as session:
            depth = (await session.exec(in_queue)).one()
            overdue = (await session.exec(in_queue.where(col(SharingRequest.due_at) < utcnow()))).one()
    except (DBAPIError, OSError) as error:
        log.warning("queue gauges left out of the scrape: database unavailable (%s)", type(getattr(error, "orig", error)).__name__)
        return None
    return depth, overdue


router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Metrics in the Prometheus text format",
    description="No bearer JWT; when CALDICOTT_METRICS_TOKEN is set, `Authorization: Bearer <that token>` is required. Keep it off the public network.",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "The Prometheus (or OpenMetrics) exposition"},
        401: problem_doc("CALDICOTT_METRICS_TOKEN is set and the request did not carry it", {"WWW-Authenticate": "The Bearer challenge"}),
    },
)
async def metrics_endpoint(request: Request) -> Response:
    expected = request.app.state.settings.metrics_token
    if expected is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.get_secret_value().encode()):
            raise Unauthorized("the metrics token is required")
    body, content_type = request.app.state.metrics.render(request.headers.get("accept"), await queue_counts(sessionmaker=request.app.state.sessionmaker))
    return Response(body, media_type=content_type)


def serve_worker_metrics(metrics: Metrics, port: int, *, host: str = "0.0.0.0") -> WSGIServer:
    """Expose a worker's metrics on their own port (the worker has no HTTP API), from a background thread."""
    server, _ = start_http_server(port, addr=host, registry=metrics.registry)
    return server
