"""Observability: the instruments, the scrape, the request middleware and the access log, the delivery log line.

The only module that touches prometheus_client. Each app (or worker) has its own instruments. HTTP
requests are counted by a middleware, decisions at the event seam, 429s by the rate limit, webhook
attempts where the worker records them; those find the instruments of the app (or worker) they run
in through a context variable, as the correlation id is found.

Several server processes (`caldicott serve --workers N`) share their counts through prometheus_client's
multiprocess mode: `shared_by_processes` makes a directory for one start and names it in
PROMETHEUS_MULTIPROC_DIR for the processes it spawns; each counts into files there, and whichever
answers a scrape reads them all, so every answer has the same totals. What describes the database
(the queue, the audit trail's signing, the webhook backlog, the calendar) is read at scrape time by the
process that answers (app/services/operations/pod_gauges.py) and so appears once, not once per process.
One process, and the tests, keep everything in memory.
"""

import functools
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.models.rate_limit import RouteClass
from app.models.vocabulary import DecisionKind
from app.models.webhook import DeliveryStatus
from app.platform import db

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from app.services.operations.pod_gauges import PodGauges

access_log = logging.getLogger("caldicott.access")
delivery_log = logging.getLogger("caldicott.webhooks")

# A route label from a closed set: a scan of made-up paths or methods must not grow the registry.
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
SCRAPE_ROUTE = "/metrics"  # every few seconds from each scraper: answered scrapes leave no access line
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own variable, read in each process it starts
SWEEP_SECONDS = 5.0
_PROCESS_FILE = re.compile(r"_(\d+)\.db$")

disable_created_metrics()  # no `_created` series beside each counter: half the scrape, nothing lost


class WebhookResult(StrEnum):
    SUCCEEDED = "succeeded"
    REJECTED = "rejected"  # the receiver answered, but not with a 2xx
    UNREACHABLE = "unreachable"  # no answer: refused destination, connection error or timeout


class ProcessRole(StrEnum):
    """Which command a process runs: the `process` label of the pool gauges."""

    API = "api"
    WORKER = "worker"


class Metrics:
    """The service's counters, histograms and the pool's gauges: kept in memory in one process,
    in the shared directory's files with several."""

    def __init__(self, *, process: ProcessRole = ProcessRole.API) -> None:
        self.process = process
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
        self.webhook_failed = Counter(
            "caldicott_webhook_deliveries_failed",
            "Webhook deliveries given up: the last attempt of the retry schedule failed, or the receiver answered 410",
            registry=self.registry,
        )
        self.email_attempts = Counter(
            "caldicott_email_attempts",
            "Attempts to send a notification by email, by result: sent, failed (tried again later) or given_up",
            ["result"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "caldicott_rate_limited",
            "Requests refused with 429 by the per-organisation rate limit, by class of route",
            ["route_class"],
            registry=self.registry,
        )
        for route_class in RouteClass:  # each class present from the start, at 0
            self.rate_limited.labels(route_class=route_class)
        # livesum: with several processes, the pod's total over the processes alive (a dead one's files are swept).
        self.pool_in_use = Gauge(
            "caldicott_db_pool_connections_in_use",
            "Database connections lent by the pool now, by process kind",
            ["process"],
            registry=self.registry,
            multiprocess_mode="livesum",
        ).labels(process=process)
        self.pool_max = Gauge(
            "caldicott_db_pool_connections_max",
            "The most database connections the pool may lend (size and overflow), by process kind",
            ["process"],
            registry=self.registry,
            multiprocess_mode="livesum",
        ).labels(process=process)

    def finding_counter(self, rule: str, result: str) -> Any:
        counter = self._finding_counters.get((rule, result))
        if counter is None:
            counter = self._finding_counters[rule, result] = self.findings.labels(rule=rule, result=result)
        return counter

    def watch_pool(self, engine: "AsyncEngine") -> None:
        """Follow the engine's pool: its capacity, and each connection lent and returned."""
        self.pool_max.set(db.pool_capacity(engine))
        db.watch_pool(engine, lent=self.pool_in_use.inc)

    def render(
        self, accept: str | None, pod: "PodGauges | None" = None, *, commit: str = "unknown"
    ) -> tuple[bytes, str]:
        """The exposition in the format the scraper asked for: every process's counts,
        the build (from `commit`), and what the database says now when it could be read."""
        scrape = CollectorRegistry()
        shared = os.environ.get(MULTIPROCESS_DIR)
        if shared:
            MultiProcessCollector(scrape, path=shared)
        else:
            scrape.register(self.registry)
        scrape.register(_Build(commit))
        if pod is not None:
            scrape.register(_Pod(pod))
        encoder, content_type = choose_encoder(accept)
        return encoder(scrape), content_type


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class _Pod(Collector):
    """The gauges that describe the database, as read for this scrape (never written to any process's files)."""

    def __init__(self, pod: "PodGauges"):
        self.pod = pod

    def collect(self) -> Iterator[Metric]:
        pod = self.pod
        yield _gauge("caldicott_review_queue_depth", "Requests in the guardian queue now", pod.queue.depth)
        yield _gauge(
            "caldicott_review_queue_overdue",
            "Requests in the guardian queue past their due time now",
            pod.queue.overdue,
        )
        yield _gauge(
            "caldicott_disclosures_overdue",
            "Disclosures of approved requests still pending past their due time now",
            pod.disclosures_overdue,
        )
        yield _gauge(
            "caldicott_audit_unsigned_events",
            "Audit events chained since the newest signed checkpoint",
            pod.signing.unsigned_events,
        )
        if pod.signing.checkpoint_age_seconds is not None:
            yield _gauge(
                "caldicott_audit_checkpoint_age_seconds",
                "Seconds since the newest signed checkpoint",
                pod.signing.checkpoint_age_seconds,
            )
        yield _gauge(
            "caldicott_webhook_backlog", "Webhook deliveries pending now, to enabled endpoints", pod.webhooks.pending
        )
        yield _gauge(
            "caldicott_webhook_oldest_pending_age_seconds",
            "Seconds the oldest pending webhook delivery has waited since it was created (0 when none is pending)",
            pod.webhooks.oldest_pending_age_seconds,
        )
        yield _gauge(
            "caldicott_calendar_days_remaining",
            "Days from today to the last day the active policy's bank-holiday calendar covers (0 when it lists none)",
            pod.calendar_days_remaining,
        )


@functools.cache
def _version() -> str:
    try:
        return metadata.version("caldicott")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


class _Build(Collector):
    """caldicott_build_info{version,commit} 1: which build answers, once per scrape;
    the version from the package's installed metadata, the commit from CALDICOTT_BUILD_COMMIT."""

    def __init__(self, commit: str):
        self.commit = commit

    def collect(self) -> Iterator[Metric]:
        labels = {"version": _version(), "commit": self.commit}
        info = GaugeMetricFamily(
            "caldicott_build_info", "The running build: its version and commit, as labels", labels=list(labels)
        )
        info.add_metric(list(labels.values()), 1)
        yield info


@contextmanager
def shared_by_processes() -> Iterator[Path]:
    """While several server processes run: a directory of their counts, made for this start and removed after,
    named in PROMETHEUS_MULTIPROC_DIR for the processes started meanwhile; a process that has exited has its
    gauges swept out (`mark_process_dead`), while its counts stay in the totals."""
    directory = Path(tempfile.mkdtemp(prefix="caldicott-metrics-"))
    before = os.environ.get(MULTIPROCESS_DIR)
    os.environ[MULTIPROCESS_DIR] = str(directory)
    stop = threading.Event()
    sweeper = threading.Thread(target=_sweep_until, args=(directory, stop), name="metrics-sweeper", daemon=True)
    sweeper.start()
    try:
        yield directory
    finally:
        stop.set()
        sweeper.join()
        if before is None:
            del os.environ[MULTIPROCESS_DIR]
        else:
            os.environ[MULTIPROCESS_DIR] = before
        shutil.rmtree(directory, ignore_errors=True)


def _sweep_until(directory: Path, stop: threading.Event) -> None:
    while not stop.wait(SWEEP_SECONDS):
        sweep_dead(directory)


def sweep_dead(directory: Path) -> set[int]:
    """Mark dead each process that has left live gauges in `directory` and is gone (uvicorn replaces a worker that
    dies; the pool it held must not count on); the processes swept. Its counts stay: they happened."""
    gone = set()
    for path in directory.glob("gauge_live*.db"):
        match = _PROCESS_FILE.search(path.name)
        if match and not _alive(int(match.group(1))):
            gone.add(int(match.group(1)))
    for pid in gone:
        mark_process_dead(pid, str(directory))
    return gone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone; or another user's process has its number now
        return False
    return True


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
    metrics.webhook_attempts.labels(result=_result(succeeded=succeeded, answered=answered)).inc()


def email_attempted(*, result: str) -> None:
    """Count one attempt to send a notification (a message with no address to go to counts as given up)."""
    metrics = _current.get()
    if metrics is not None:
        metrics.email_attempts.labels(result=result).inc()


def _result(*, succeeded: bool, answered: bool) -> WebhookResult:
    return WebhookResult.SUCCEEDED if succeeded else WebhookResult.REJECTED if answered else WebhookResult.UNREACHABLE


def delivery_attempt_recorded(
    *,
    delivery_id: str,
    endpoint_id: str,
    event_type: str,
    attempt: int,
    response_status: int | None,
    error: str | None,
    succeeded: bool,
    duration_ms: int,
    delivery_status: DeliveryStatus,
) -> None:
    """The worker's line for one recorded attempt, its fields for machines;
    a delivery given up (`failed`) is counted."""
    if delivery_status is DeliveryStatus.FAILED and (metrics := _current.get()) is not None:
        metrics.webhook_failed.inc()
    delivery_log.info(
        "webhook delivery %s attempt %d to endpoint %s: %s",
        delivery_id,
        attempt,
        endpoint_id,
        response_status if response_status is not None else error,
        extra={
            "delivery_id": delivery_id,
            "endpoint_id": endpoint_id,
            "event_type": event_type,
            "attempt": attempt,
            "outcome": str(_result(succeeded=succeeded, answered=response_status is not None)),
            "response_status": response_status,
            "duration_ms": duration_ms,
            "delivery_status": str(delivery_status),
        },
    )


def rate_limited(*, route_class: str) -> None:
    """Count a request refused with 429, by its class of route."""
    metrics = _current.get()
    if metrics is not None:
        metrics.rate_limited.labels(route_class=route_class).inc()


def watch_pool(engine: "AsyncEngine") -> None:
    """Have the metrics counting here (a worker's) follow the engine's pool."""
    metrics = _current.get()
    if metrics is not None:
        metrics.watch_pool(engine)


class ObserveRequests:
    """Pure ASGI middleware: one sample and one access log line per HTTP request
    (none for an answered scrape); makes the app's metrics current.

    A request is counted as its last byte is handed to the server, before the client can have it: a scrape that
    follows an answer always counts it, and the work the app does after answering is not the request's time."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering
        observed = False

        def observe() -> None:
            nonlocal observed
            if not observed:
                observed = True
                self._observe(scope, status, time.perf_counter() - started)

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                observe()
            await send(message)

        token = _current.set(self.metrics)
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            _current.reset(token)
            observe()  # an app that raised, or never finished its answer

    def _observe(self, scope: Scope, status: int, duration: float) -> None:
        method = scope["method"] if scope["method"] in METHODS else "other"
        # The template, never the path: paths and query strings can carry what we must not log.
        route = getattr(scope.get("route"), "path_format", None) or UNMATCHED
        self.metrics.http_requests.labels(method=method, route=route, status=status).inc()
        self.metrics.http_duration.labels(method=method, route=route, status=status).observe(duration)
        if route != SCRAPE_ROUTE or status >= 400:  # a refused scrape is worth its line
            access_log.info(
                "%s %s %d",
                method,
                route,
                status,
                extra={
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(duration * 1000, 1),
                },
            )


def serve_worker_metrics(metrics: Metrics, port: int, *, host: str = "0.0.0.0", commit: str = "unknown") -> WSGIServer:
    """Expose a worker's metrics, and its build, on their own port (the worker has no HTTP API),
    from a background thread."""
    exposed = CollectorRegistry()
    exposed.register(metrics.registry)
    exposed.register(_Build(commit))
    server, _ = start_http_server(port, addr=host, registry=exposed)
    return server
