"""Traces (app/platform/tracing.py): a submission's span tree, the caller's traceparent honoured, a delivery's
traceparent, OTLP export; and tracing off.

Spans are caught by the SDK's InMemorySpanExporter, handed to the app as a collector would be;
deliveries go to the real test receiver, on SQLite and PostgreSQL.
"""

import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import bindparam, exc, insert
from sqlmodel import select
from starlette.background import BackgroundTask

from app.main import create_app
from app.models.base import utcnow
from app.models.organisation import Organisation
from app.models.vocabulary import DsptStatus, OrganisationType, Role
from app.models.webhook import OutboxEvent
from app.platform import driver, tracing
from app.platform import logs as log_config
from app.platform.config import LogFormat
from app.services.webhooks import worker as delivery
from tests.conftest import fresh_start
from tests.factories import register_organisation, submit
from tests.rules.baseline import baseline_request
from tests.support import Tokens, cli, settings_for
from tests.test_webhooks import register_endpoint
from tests.webhook_receiver import Receiver

SAMPLED = 0x01  # the W3C flag: the other (0x02, "random") is the SDK's to set
CALLER_TRACE, CALLER_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
INSERT = driver.prepare(
    insert(Organisation).values(
        code=bindparam("code"),
        name="Tracing test",
        type=OrganisationType.POLICE,
        dspt_status=DsptStatus.STANDARDS_MET,
        active=True,
        created_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
)


@pytest.fixture(scope="module")
def spans(database_url: str) -> InMemorySpanExporter:
    """A collector in memory, one for each database's app: the app's shutdown shuts it too."""
    return InMemorySpanExporter()


@pytest.fixture(scope="module")
async def traced_app(database_url: str, spans: InMemorySpanExporter) -> AsyncIterator[FastAPI]:
    """The app as local development runs it (webhooks to loopback, a short retry schedule),
    exporting its spans to `spans`."""
    settings = settings_for(
        database_url, webhook_allow_private=True, webhook_retry_schedule=[0, 0, 0], webhook_timeout_seconds=5
    )
    application = create_app(settings, span_exporter=spans)
    yield application
    await application.state.wiring.engine.dispose()
    application.state.wiring.tracing.shutdown()


@pytest.fixture
async def traced(traced_app: FastAPI, spans: InMemorySpanExporter) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the traced app, over an empty database, with no spans caught yet."""
    await fresh_start(traced_app)
    spans.clear()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=traced_app), base_url="http://testserver") as http:
        yield http


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Every log record as a JSON line, into a buffer."""
    root = logging.getLogger()
    level = root.level
    buffer = io.StringIO()
    log_config.configure("info", stream=buffer, log_format=LogFormat.JSON)
    [ours] = root.handlers
    yield buffer
    root.removeHandler(ours)
    root.setLevel(level)


def by_id(caught: InMemorySpanExporter) -> dict[int, ReadableSpan]:
    return {span.context.span_id: span for span in caught.get_finished_spans()}


def descends_from(span: ReadableSpan, ancestor: ReadableSpan, spans: dict[int, ReadableSpan]) -> bool:
    """Whether `ancestor` is on the span's chain of parents."""
    parent = span.parent
    while parent is not None:
        if parent.span_id == ancestor.context.span_id:
            return True
        above = spans.get(parent.span_id)
        parent = above.parent if above is not None else None
    return False


def server_span(caught: InMemorySpanExporter, name: str) -> ReadableSpan:
    [span] = [span for span in caught.get_finished_spans() if span.kind == SpanKind.SERVER and span.name == name]
    return span


def statement_of(span: ReadableSpan) -> str:
    return str((span.attributes or {}).get("db.statement", ""))


async def test_a_submission_is_a_server_span_with_every_statement_beneath_it(
    traced: httpx.AsyncClient, tokens: Tokens, spans: InMemorySpanExporter, database_kind: str
) -> None:
    await register_organisation(traced, tokens, "RXT01")
    spans.clear()
    assert (await submit(traced, tokens, baseline_request())).status_code == 201

    caught = by_id(spans)
    server = server_span(spans, "POST /v1/sharing-requests")
    assert server.parent is None  # no caller's trace to join: a trace of its own
    assert (server.attributes or {})["http.route"] == "/v1/sharing-requests"
    assert {span.context.trace_id for span in caught.values()} == {server.context.trace_id}
    statements = [span for span in caught.values() if statement_of(span)]
    assert len(statements) >= 3
    assert all(descends_from(span, server, caught) and span.kind == SpanKind.CLIENT for span in statements)
    # The one write of the submission's rows: sent straight to asyncpg on PostgreSQL (app/platform/driver.py),
    # through SQLAlchemy on SQLite.
    [write] = [span for span in statements if re.search(r'INSERT INTO "?sharing_requests"? ', statement_of(span))]
    scope = write.instrumentation_scope.name if write.instrumentation_scope else None
    assert scope == (
        tracing.DRIVER_SCOPE if database_kind == "postgres" else "opentelemetry.instrumentation.sqlalchemy"
    )
    assert (write.attributes or {})["db.system"] == ("postgresql" if database_kind == "postgres" else "sqlite")
    assert write.name.split()[0] in ("INSERT", "WITH")
    assert "9990000018" not in json.dumps(
        [dict(span.attributes or {}) for span in caught.values()]
    )  # the subject's identifier


async def test_a_callers_traceparent_makes_the_server_span_its_child(
    traced: httpx.AsyncClient, tokens: Tokens, spans: InMemorySpanExporter
) -> None:
    await register_organisation(traced, tokens, "RXT01")
    spans.clear()
    assert (
        await submit(traced, tokens, baseline_request(), traceparent=f"00-{CALLER_TRACE}-{CALLER_SPAN}-01")
    ).status_code == 201

    server = server_span(spans, "POST /v1/sharing-requests")
    assert server.parent is not None and server.parent.is_remote
    assert (format(server.context.trace_id, "032x"), format(server.parent.span_id, "016x")) == (
        CALLER_TRACE,
        CALLER_SPAN,
    )
    assert {span.context.trace_id for span in spans.get_finished_spans()} == {int(CALLER_TRACE, 16)}

    # A caller that does not sample its trace is heeded: nothing of the request is exported.
    spans.clear()
    assert (
        await submit(traced, tokens, baseline_request(), traceparent=f"00-{CALLER_TRACE}-{CALLER_SPAN}-00")
    ).status_code == 201
    assert spans.get_finished_spans() == ()


async def test_each_delivery_attempt_sends_the_traceparent_of_its_client_span_in_the_submissions_trace(
    traced: httpx.AsyncClient, traced_app: FastAPI, tokens: Tokens, receiver: Receiver, spans: InMemorySpanExporter
) -> None:
    await register_organisation(traced, tokens, "RXT01")
    await register_endpoint(traced, receiver, tokens.agency("RXT01"), event_types=["sharing_request.decided"])
    spans.clear()
    assert (await submit(traced, tokens, baseline_request())).status_code == 201
    submission = server_span(spans, "POST /v1/sharing-requests")
    async with traced_app.state.wiring.sessionmaker() as session:
        [stored] = (await session.exec(select(OutboxEvent.traceparent))).all()
    context = submission.context
    assert stored == f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"

    receiver.answer(500)  # the first attempt fails; the second, at once by the test schedule, succeeds
    with tracing.active(traced_app.state.wiring.tracing):
        assert (
            await delivery.drain(
                sessionmaker=traced_app.state.wiring.sessionmaker, settings=traced_app.state.wiring.settings
            )
            == 2
        )

    caught = by_id(spans)
    attempts = []
    for received in receiver.received:
        assert received.verified
        version, trace_id, span_id, flags = received.headers["traceparent"].split("-")
        assert (version, len(span_id), int(flags, 16) & SAMPLED) == ("00", 16, SAMPLED)
        assert int(trace_id, 16) == submission.context.trace_id
        client = caught[int(span_id, 16)]
        assert (client.kind, client.name) == (SpanKind.CLIENT, "POST")
        assert client.parent is not None
        attempt = caught[client.parent.span_id]
        assert (attempt.name, attempt.kind) == (tracing.DELIVERY_SPAN, SpanKind.PRODUCER)
        assert attempt.parent is not None and attempt.parent.span_id == submission.context.span_id
        assert (attempt.attributes or {})["webhook.delivery_id"] == received.webhook_id
        recorded = [
            span
            for span in caught.values()
            if "INSERT INTO webhook_attempts" in statement_of(span) and descends_from(span, attempt, caught)
        ]
        assert len(recorded) == 1  # the attempt's recording is within its span
        attempts.append(attempt)
    assert [(attempt.attributes or {})["webhook.outcome"] for attempt in attempts] == ["rejected", "succeeded"]
    assert [attempt.status.status_code for attempt in attempts] == [StatusCode.ERROR, StatusCode.UNSET]
    assert (attempts[0].attributes or {})["http.response.status_code"] == 500
    # The worker's claims and sweeps, outside any delivery, began no trace of their own.
    assert all(span.parent is not None or span.kind in (SpanKind.SERVER, SpanKind.PRODUCER) for span in caught.values())


async def test_a_delivery_of_an_event_written_untraced_begins_a_trace_of_its_own(
    hooks: httpx.AsyncClient,
    hook_app: FastAPI,
    traced_app: FastAPI,
    tokens: Tokens,
    receiver: Receiver,
    spans: InMemorySpanExporter,
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    await register_endpoint(hooks, receiver, tokens.agency("RXT01"), event_types=["sharing_request.decided"])
    assert (await submit(hooks, tokens, baseline_request())).status_code == 201  # hook_app traces nothing
    async with hook_app.state.wiring.sessionmaker() as session:
        assert (await session.exec(select(OutboxEvent.traceparent))).all() == [None]
    spans.clear()
    with tracing.active(traced_app.state.wiring.tracing):
        assert (
            await delivery.drain(
                sessionmaker=hook_app.state.wiring.sessionmaker, settings=hook_app.state.wiring.settings
            )
            == 1
        )

    [received] = receiver.received
    _, trace_id, span_id, _ = received.headers["traceparent"].split("-")
    caught = by_id(spans)
    client = caught[int(span_id, 16)]
    assert client.parent is not None
    attempt = caught[client.parent.span_id]
    assert (attempt.name, attempt.parent, attempt.context.trace_id) == (tracing.DELIVERY_SPAN, None, int(trace_id, 16))


async def test_log_lines_carry_the_trace_and_span_ids(
    traced: httpx.AsyncClient, tokens: Tokens, spans: InMemorySpanExporter, json_lines: io.StringIO
) -> None:
    await register_organisation(traced, tokens, "RXT01")
    spans.clear()
    response = await submit(traced, tokens, baseline_request(), traceparent=f"00-{CALLER_TRACE}-{CALLER_SPAN}-01")
    assert response.status_code == 201
    logging.getLogger("caldicott").info("after the request")

    server = server_span(spans, "POST /v1/sharing-requests")
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    [access] = [
        line for line in lines if line["logger"] == "caldicott.access" and line["route"] == "/v1/sharing-requests"
    ]
    assert access["correlation_id"] == response.headers["X-Request-ID"]
    assert (access["trace_id"], access["span_id"]) == (CALLER_TRACE, format(server.context.span_id, "016x"))
    assert "trace_id" not in lines[-1] and "span_id" not in lines[-1]  # outside any span


async def test_a_query_string_stays_out_of_the_server_span(
    traced: httpx.AsyncClient, tokens: Tokens, spans: InMemorySpanExporter
) -> None:
    auditor = tokens.headers("CONTROLLER", Role.AUDITOR, sub="auditor-1")
    assert (
        await traced.get("/v1/audit/events", params={"actor": "staff-member-7731"}, headers=auditor)
    ).status_code == 200
    server = server_span(spans, "GET /v1/audit/events")
    attributes = dict(server.attributes or {})
    assert any("/v1/audit/events" in str(value) for value in attributes.values())
    assert "staff-member-7731" not in json.dumps(attributes)


async def test_probes_and_the_scrape_are_not_traced(traced: httpx.AsyncClient, spans: InMemorySpanExporter) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await traced.get(path)).status_code == 200
    assert spans.get_finished_spans() == ()


async def test_a_failed_statement_keeps_the_error_type_not_its_text(
    traced_app: FastAPI, traced: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    tracer = traced_app.state.wiring.tracing.provider.get_tracer("test")
    with tracer.start_as_current_span("a unit of work", kind=SpanKind.SERVER):
        async with traced_app.state.wiring.sessionmaker() as session:
            await driver.fetch(
                session, INSERT, {"code": "TWICE", "now": utcnow()}, transaction=driver.Transaction.SESSION
            )
            with pytest.raises(exc.IntegrityError):
                await driver.fetch(
                    session, INSERT, {"code": "TWICE", "now": utcnow()}, transaction=driver.Transaction.SESSION
                )
            await session.rollback()
    [failed] = [span for span in spans.get_finished_spans() if span.status.status_code == StatusCode.ERROR]
    assert "INSERT INTO organisations" in statement_of(failed)
    assert failed.status.description is None
    for event in failed.events:
        assert set(event.attributes or {}) <= {"exception.type", "exception.escaped"}


async def test_tracing_off_instruments_nothing(app: FastAPI, traced_app: FastAPI) -> None:
    assert not app.state.wiring.tracing.on
    assert "build_middleware_stack" not in vars(app)  # no tracing middleware wrapped around the app
    assert not app.state.wiring.engine.sync_engine.dispatch.before_cursor_execute  # no listener on any statement
    assert tracing.current_traceparent() is None
    assert not hasattr(
        BackgroundTask, "_otel_original_call"
    )  # FastAPI's instrumentation wraps it for the whole process; undone
    # The traced app, beside it, has both.
    assert (
        "build_middleware_stack" in vars(traced_app)
        and traced_app.state.wiring.engine.sync_engine.dispatch.before_cursor_execute
    )


async def test_spans_go_over_otlp_http_to_the_collector_the_environment_names(
    database_url: str, monkeypatch: pytest.MonkeyPatch, receiver: Receiver, tokens: Tokens
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.base_url)  # the exporter adds /v1/traces
    application = create_app(settings_for(database_url))
    try:
        await fresh_start(application)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://testserver"
        ) as http:
            await register_organisation(http, tokens, "RXT01")
    finally:
        await application.state.wiring.engine.dispose()
        application.state.wiring.tracing.shutdown()  # exports what the batch holds
    exported: list[dict[str, Any]] = []
    for received in receiver.at("/v1/traces"):
        request = ExportTraceServiceRequest.FromString(received.body)
        for resource_spans in request.resource_spans:
            service = {attribute.key: attribute.value.string_value for attribute in resource_spans.resource.attributes}[
                "service.name"
            ]
            exported += [
                {"service": service, "name": span.name} for scope in resource_spans.scope_spans for span in scope.spans
            ]
    assert {"service": "caldicott-api", "name": "POST /v1/organisations"} in exported
    assert len(exported) > 1  # its statements too


@pytest.mark.parametrize(
    ("sampler", "traceparent", "exported"),
    [
        ("traceidratio", None, False),  # a ratio of 0: nothing
        ("traceidratio", f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", False),  # not parent-based: the caller is not heeded
        ("parentbased_traceidratio", f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", True),  # the caller sampled its trace
        ("parentbased_traceidratio", None, False),
    ],
)
async def test_the_sampler_the_environment_names_decides_which_traces_are_kept(
    database_url: str,
    tokens: Tokens,
    monkeypatch: pytest.MonkeyPatch,
    sampler: str,
    traceparent: str | None,
    exported: bool,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    caught = InMemorySpanExporter()
    application = create_app(settings_for(database_url), span_exporter=caught)
    try:
        await fresh_start(application)  # the controller registered, as the admin's powers need
        caught.clear()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://testserver"
        ) as http:
            headers = tokens.admin() | ({"traceparent": traceparent} if traceparent else {})
            assert (await http.get("/v1/organisations", headers=headers)).status_code == 200
    finally:
        await application.state.wiring.engine.dispose()
        application.state.wiring.tracing.shutdown()
    names = {span.name for span in caught.get_finished_spans()}
    assert ("GET /v1/organisations" in names) is exported and bool(names) is exported


async def test_work_outside_any_request_begins_no_trace_whatever_the_sampler(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    caught = InMemorySpanExporter()
    application = create_app(settings_for(database_url), span_exporter=caught)
    try:
        async with application.state.wiring.sessionmaker() as session:  # as the worker polls
            await session.exec(select(Organisation.code))
    finally:
        await application.state.wiring.engine.dispose()
        application.state.wiring.tracing.shutdown()
    assert caught.get_finished_spans() == ()


def test_the_api_and_the_worker_are_named_apart_unless_otel_service_name_says(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for("sqlite+aiosqlite:///:memory:")

    def service_of(**named: str) -> object:
        traces = tracing.setup(settings, exporter=InMemorySpanExporter(), **named)
        assert traces.provider is not None
        return traces.provider.resource.attributes["service.name"]

    assert (service_of(), service_of(service=tracing.WORKER_SERVICE)) == ("caldicott-api", "caldicott-worker")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "caldicott-staging-worker")
    assert service_of(service=tracing.WORKER_SERVICE) == "caldicott-staging-worker"


async def test_the_worker_command_exports_its_deliveries_as_caldicott_worker(
    hooks: httpx.AsyncClient, hook_app: FastAPI, tokens: Tokens, receiver: Receiver, tmp_path: Path
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    await register_endpoint(hooks, receiver, tokens.agency("RXT01"), event_types=["sharing_request.decided"])
    assert (await submit(hooks, tokens, baseline_request())).status_code == 201
    ran = cli(
        "worker",
        "--once",
        cwd=tmp_path,
        CALDICOTT_DATABASE_URL=hook_app.state.wiring.settings.database_url,
        CALDICOTT_WEBHOOK_ALLOW_PRIVATE="true",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.base_url,
    )
    assert ran.returncode == 0, ran.stderr
    assert len(receiver.at("/hook")) == 1
    services = {
        (attribute.value.string_value, span.name)
        for received in receiver.at("/v1/traces")
        for resource_spans in ExportTraceServiceRequest.FromString(received.body).resource_spans
        for attribute in resource_spans.resource.attributes
        if attribute.key == "service.name"
        for scope in resource_spans.scope_spans
        for span in scope.spans
    }
    assert ("caldicott-worker", tracing.DELIVERY_SPAN) in services
    assert {service for service, _ in services} == {"caldicott-worker"}
