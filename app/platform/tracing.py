"""Distributed tracing with OpenTelemetry: a span per HTTP request, per SQL statement and per webhook delivery.

The only module that imports OpenTelemetry. Tracing is off unless the standard variable
OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) names a collector, and off
it instruments nothing: no middleware, no engine listeners, no client hooks. On, each app (and
each worker process) has a TracerProvider of its own, handed to every instrumentation in turn;
the process-wide provider of OpenTelemetry, which can be set only once, is never set.

The API names itself `caldicott-api` and the worker `caldicott-worker` (OTEL_SERVICE_NAME names either
otherwise). Which traces are kept is the SDK's sampler, read from OTEL_TRACES_SAMPLER and
OTEL_TRACES_SAMPLER_ARG (by default: follow the caller's choice, keep every trace we begin), beneath
one rule of ours: a statement outside any request or delivery begins no trace.

Spans are held to the log lines' rules (app/platform/logs.py): a request's span names the route,
never the query string; a failure keeps its exception's type, never its text (a database error's
text quotes the statement's parameters). Statements and calls outside any request or delivery
(the worker's polling, start-up) start no trace of their own.
"""

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any
from weakref import WeakKeyDictionary

import httpx
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.background import BackgroundTask

from app.platform.config import Settings

__all__ = [
    "SpanExporter",
    "Tracing",
    "active",
    "current_traceparent",
    "delivering",
    "install",
    "log_fields",
    "serving",
    "setup",
    "statement",
]

API_SERVICE = "caldicott-api"
WORKER_SERVICE = "caldicott-worker"
DELIVERY_SPAN = "webhook delivery"
DRIVER_SCOPE = "caldicott.driver"  # the instrumentation scope of the spans of statements sent straight to asyncpg
# Probes and the scrape: several a minute each, and nothing to follow.
UNTRACED_URLS = r"/healthz$,/readyz$,/metrics$"
_NO_METRICS = (
    NoOpMeterProvider()
)  # the instrumentations' metrics are Prometheus's job here (app/platform/observability.py)
_PROPAGATOR = TraceContextTextMapPropagator()
_FIRST_WORD = re.compile(r"\s*(\w+)")
# An exception event keeps its type; its text and traceback (which repeats the text) stay out.
ERROR_TEXT = frozenset({"exception.message", "exception.stacktrace"})


class _UnitsOfWork(Sampler):
    """Roots are requests served and deliveries made: a client span with no parent (the worker polling) starts no
    trace; every other span is the configured sampler's to judge."""

    def __init__(self, configured: Sampler):
        self.configured = configured

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Any = None,
        links: Sequence[trace.Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        """Drop a root CLIENT span; ask the configured sampler about any other."""
        if kind == SpanKind.CLIENT and not trace.get_current_span(parent_context).get_span_context().is_valid:
            return SamplingResult(Decision.DROP)
        return self.configured.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        """The sampler's name, as the SDK shows it."""
        return f"UnitsOfWork{{{self.configured.get_description()}}}"


class _Discreet(SpanExporter):
    """Hands the exporter copies of the spans without an error's text:
    the status keeps its code, an exception event its type."""

    def __init__(self, exporter: SpanExporter):
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export the spans, their error text removed."""
        return self.exporter.export([_without_error_text(span) for span in spans])

    def shutdown(self) -> None:
        """Shut the exporter down."""
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the exporter."""
        return self.exporter.force_flush(timeout_millis)


def _without_error_text(span: ReadableSpan) -> ReadableSpan:
    """A copy of the span whose status has no description and whose exception events keep only the exception's type."""
    events = [
        Event(
            event.name,
            {key: value for key, value in (event.attributes or {}).items() if key not in ERROR_TEXT},
            event.timestamp,
        )
        if event.name == "exception"
        else event
        for event in span.events
    ]
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=Status(span.status.status_code),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _without_query(span: trace.Span, scope: Mapping[str, Any]) -> None:
    """A query string can carry what must not leave the service (an actor's subject, a cursor):
    the server span keeps the URL without it."""
    if not scope.get("query_string") or not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    for key in ("http.url", "url.full"):
        if key in attributes:
            span.set_attribute(key, str(attributes[key]).split("?", 1)[0])
    if "url.query" in attributes:
        span.set_attribute("url.query", "REDACTED")


class _StatementTracer:
    """Spans for the statements app/platform/driver.py sends straight to asyncpg,
    named and described as SQLAlchemy's instrumentation does its own."""

    def __init__(self, tracer: trace.Tracer, engine: Engine):
        self.tracer = tracer
        url = engine.url
        self.database = url.database or ""
        self.attributes: dict[str, Any] = {"db.system": engine.dialect.name, "db.name": self.database}
        if url.host:
            self.attributes.update({"net.peer.name": url.host, "net.peer.port": url.port or 5432})
        if url.username:
            self.attributes["db.user"] = url.username

    def span(self, sql: str) -> AbstractContextManager[trace.Span]:
        """A client span for one statement, current while it runs."""
        word = _FIRST_WORD.match(sql)
        name = f"{word.group(1) if word else 'SQL'} {self.database}".strip()
        return self.tracer.start_as_current_span(
            name, kind=SpanKind.CLIENT, attributes={**self.attributes, "db.statement": sql}
        )


_statement_tracers: WeakKeyDictionary[Engine, _StatementTracer] = WeakKeyDictionary()
_NOTHING = nullcontext()


class Tracing:
    """One app's (or worker's) tracer provider and what it instruments;
    without a provider (tracing off) it instruments nothing."""

    def __init__(self, provider: TracerProvider | None):
        self.provider = provider
        self.tracer = provider.get_tracer("caldicott") if provider is not None else None

    @property
    def on(self) -> bool:
        """Whether spans are made and exported."""
        return self.provider is not None

    def instrument_app(self, app: FastAPI) -> None:
        """A server span per HTTP request, the child of the caller's when its `traceparent` names one."""
        if self.provider is None:
            return
        background_call = BackgroundTask.__call__
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.provider,
            meter_provider=_NO_METRICS,
            excluded_urls=UNTRACED_URLS,
            exclude_spans=["receive", "send"],  # a span per ASGI message is noise
            server_request_hook=_without_query,
        )
        # It also wraps every BackgroundTask of the process with the first app's tracer: undone, the work after a
        # response (the audit chaining) stays in the request's span, with no traced app's tracer in any other app.
        if BackgroundTask.__call__ is not background_call:
            BackgroundTask.__call__ = background_call  # type: ignore[method-assign]
            del BackgroundTask._otel_original_call  # type: ignore[attr-defined]

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """A client span per statement the engine runs, and per statement sent straight to its driver."""
        if self.provider is None:
            return
        # EngineTracer directly: SQLAlchemyInstrumentor().instrument() works once per
        # process and patches create_engine everywhere.
        tracer = self.provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
        EngineTracer(
            tracer,
            engine.sync_engine,
            _NO_METRICS.get_meter("sqlalchemy").create_up_down_counter("db.client.connections.usage"),
        )
        _statement_tracers[engine.sync_engine] = _StatementTracer(
            self.provider.get_tracer(DRIVER_SCOPE), engine.sync_engine
        )

    def instrument_client(self, client: httpx.AsyncClient) -> httpx.AsyncClient:
        """The client, sending a `traceparent` header with each request:
        the id of a client span, child of the current span."""
        if self.provider is not None:
            HTTPXClientInstrumentor.instrument_client(client, tracer_provider=self.provider, meter_provider=_NO_METRICS)
        return client

    def shutdown(self) -> None:
        """Export what is left and stop exporting."""
        if self.provider is not None:
            self.provider.shutdown()


OFF = Tracing(None)


def setup(settings: Settings, *, exporter: SpanExporter | None = None, service: str = API_SERVICE) -> Tracing:
    """Tracing to `exporter` (tests), else over OTLP/HTTP when settings name a collector, else off;
    its spans named as from `service` unless OTEL_SERVICE_NAME says otherwise."""
    if exporter is not None:
        processor: SimpleSpanProcessor | BatchSpanProcessor = SimpleSpanProcessor(_Discreet(exporter))
    elif settings.otlp_endpoint:
        # The exporter reads OTEL_EXPORTER_OTLP_* itself:
        # the endpoint (with /v1/traces added to the general one), headers, timeout.
        processor = BatchSpanProcessor(_Discreet(OTLPSpanExporter()))
    else:
        return OFF
    # Our name overrides what OTEL_RESOURCE_ATTRIBUTES says; OTEL_SERVICE_NAME, the operator's word, overrides ours.
    name = os.environ.get("OTEL_SERVICE_NAME") or service
    # Built without a sampler, the provider takes the one OTEL_TRACES_SAMPLER(_ARG) names; ours goes around it.
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}), shutdown_on_exit=False)
    provider.sampler = _UnitsOfWork(provider.sampler)
    provider.add_span_processor(processor)
    return Tracing(provider)


def install(app: FastAPI, engine: AsyncEngine, tracing: Tracing) -> None:
    """Have `tracing` see the app and its engine: a span per request and per statement, the access line's included."""
    tracing.instrument_engine(engine)
    tracing.instrument_app(app)  # outside every middleware of ours


_current: ContextVar[Tracing] = ContextVar("tracing", default=OFF)


@contextmanager
def active(tracing: Tracing) -> Iterator[None]:
    """Trace the webhook deliveries made in this block (a worker) with `tracing`."""
    token = _current.set(tracing)
    try:
        yield
    finally:
        _current.reset(token)


@contextmanager
def serving(tracing: Tracing) -> Iterator[None]:
    """While an app serves: the deliveries of its in-process worker are traced too,
    and at the end what is left is exported."""
    try:
        with active(tracing):
            yield
    finally:
        tracing.shutdown()


def instrumented(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The client, instrumented when the deliveries of this block are traced (`active`)."""
    return _current.get().instrument_client(client)


def statement(engine: Engine, sql: str) -> AbstractContextManager[Any]:
    """A span for a statement sent straight to the driver, when its engine is traced; otherwise nothing."""
    if not _statement_tracers:  # tracing is off in this process: not even a lookup
        return _NOTHING
    tracer = _statement_tracers.get(engine)
    return _NOTHING if tracer is None else tracer.span(sql)


class DeliveryAttempt:
    """The span of one delivery attempt, told how the attempt went."""

    def __init__(self, span: trace.Span | None):
        self.span = span

    def ended(self, *, succeeded: bool, status: int | None) -> None:
        """Record how the attempt went (succeeded, rejected or unreachable) and the receiver's status;
        a failed attempt is an error."""
        if self.span is None:
            return
        self.span.set_attribute(
            "webhook.outcome", "succeeded" if succeeded else "rejected" if status is not None else "unreachable"
        )
        if status is not None:
            self.span.set_attribute("http.response.status_code", status)
        if not succeeded:
            self.span.set_status(StatusCode.ERROR)


@contextmanager
def delivering(*, delivery_id: str, endpoint_id: str, traceparent: str | None) -> Iterator[DeliveryAttempt]:
    """A producer span around one delivery attempt: the child of the span that wrote its event (`traceparent`),
    else the root of a trace of its own."""
    tracing = _current.get()
    if tracing.tracer is None:
        yield DeliveryAttempt(None)
        return
    parent = _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else Context()
    attributes = {"webhook.delivery_id": delivery_id, "webhook.endpoint_id": endpoint_id}
    with tracing.tracer.start_as_current_span(
        DELIVERY_SPAN, context=parent, kind=SpanKind.PRODUCER, attributes=attributes
    ) as span:
        yield DeliveryAttempt(span)


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, stored with an outbox event so its deliveries join this trace;
    None when none is recorded."""
    span = trace.get_current_span()
    if not span.get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def log_fields() -> dict[str, str]:
    """`trace_id` and `span_id` of the current span, for a log line; empty outside any span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}
