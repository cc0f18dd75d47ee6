"""Observability: the registry and its instruments, the request middleware and the access log.

The only module that touches prometheus_client. Each app has its own registry. HTTP requests
are counted by a middleware, decisions at the event seam, webhook attempts where the worker
records them; those two find the registry of the app (or worker) they run in through a
context variable, as the correlation id is found. The guardian queue is measured at scrape
time (app/routers/operations.py).
"""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, start_http_server
from prometheus_client.exposition import choose_encoder
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.models.vocabulary import DecisionKind
from app.services.review.queue_status import QueueCounts

if TYPE_CHECKING:
    from app.services.audit.checkpoints import SigningLag

access_log = logging.getLogger("caldicott.access")

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
            "caldicott_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "caldicott_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "caldicott_decisions",
            "Decisions recorded, by who decided (kind) and outcome",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.findings = Counter(
            "caldicott_rule_findings",
            "Findings of the rules in the decisions they made, by rule and result",
            ["rule", "result"],
            registry=self.registry,
        )
        # Each decision counts some 30 findings: the labelled children are looked up once each, not on every count.
        self._finding_counters: dict[tuple[str, str], Any] = {}
        self.webhook_attempts = Counter(
            "caldicott_webhook_delivery_attempts",
            "Webhook delivery attempts, by result",
            ["result"],
            registry=self.registry,
        )

    def finding_counter(self, rule: str, result: str) -> Any:
        counter = self._finding_counters.get((rule, result))
        if counter is None:
            counter = self._finding_counters[rule, result] = self.findings.labels(rule=rule, result=result)
        return counter

    def render(
        self, accept: str | None, queue: QueueCounts | None = None, signing: "SigningLag | None" = None
    ) -> tuple[bytes, str]:
        """The exposition in the format the scraper asked for,
        with the queue and audit signing gauges when they could be measured."""
        scrape = CollectorRegistry()
        scrape.register(self.registry)
        if queue is not None:
            Gauge("caldicott_review_queue_depth", "Requests in the guardian queue now", registry=scrape).set(
                queue.depth
            )
            Gauge(
                "caldicott_review_queue_overdue",
                "Requests in the guardian queue past their due time now",
                registry=scrape,
            ).set(queue.overdue)
        if signing is not None:
            Gauge(
                "caldicott_audit_unsigned_events",
                "Audit events chained since the newest signed checkpoint",
                registry=scrape,
            ).set(signing.unsigned_events)
            if signing.checkpoint_age_seconds is not None:
                age = Gauge(
                    "caldicott_audit_checkpoint_age_seconds",
                    "Seconds since the newest signed checkpoint",
                    registry=scrape,
                )
                age.set(signing.checkpoint_age_seconds)
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
            metrics.finding_counter(finding["rule"], finding["result"]).inc()


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
                "%s %s %d",
                method,
                route,
                status,
                extra={"method": method, "route": route, "status": status, "duration_ms": round(duration * 1000, 1)},
            )


def serve_worker_metrics(metrics: Metrics, port: int, *, host: str = "0.0.0.0") -> WSGIServer:
    """Expose a worker's metrics on their own port (the worker has no HTTP API), from a background thread."""
    server, _ = start_http_server(port, addr=host, registry=metrics.registry)
    return server
