"""Prometheus metrics after real traffic, the correlation id in responses and log lines, and logs that leak nothing."""

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from app.main import create_app
from app.models.base import LONDON, utcnow
from app.models.sharing_request import SharingRequest
from app.models.vocabulary import Role
from app.platform import db, observability
from app.platform import logs as log_config
from app.services.webhooks import worker as delivery
from bench.common import free_port
from tests.conftest import fresh_start
from tests.factories import REFERRED, register_organisation, submit
from tests.rules.baseline import baseline_request, changed
from tests.support import Tokens, settings_for
from tests.test_operations import UNREACHABLE_POSTGRES
from tests.webhook_receiver import Receiver, running

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
async def service(client: httpx.AsyncClient, database_url: str) -> AsyncIterator[FastAPI]:
    """A new app over the emptied database, so that its metrics start from nothing."""
    application = create_app(
        settings_for(
            database_url, webhook_allow_private=True, webhook_retry_schedule=[0, 0, 0], webhook_timeout_seconds=5
        )
    )
    yield application
    await application.state.wiring.engine.dispose()


@pytest.fixture
async def http(service: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=service), base_url="http://testserver") as client:
        yield client


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Every log record, as `caldicott serve` writes them (JSON lines), at DEBUG, into a buffer."""
    root = logging.getLogger()
    level, quiet = root.level, {name: logging.getLogger(name).level for name in log_config.QUIET_LOGGERS}
    buffer = io.StringIO()
    log_config.configure("debug", stream=buffer)
    [ours] = root.handlers
    yield buffer
    # pytest adds and removes its own capture handlers around each phase; only ours is ours to take away.
    root.removeHandler(ours)
    root.setLevel(level)
    for name, quiet_level in quiet.items():
        logging.getLogger(name).setLevel(quiet_level)


def log_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    """Each line parsed: a line that is not one JSON object fails here."""
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def access_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in log_lines(buffer) if line["logger"] == "caldicott.access"]


async def scrape(http: httpx.AsyncClient, **headers: str) -> Samples:
    response = await http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def guardian(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")


async def test_requests_decisions_and_the_queue_are_counted(
    http: httpx.AsyncClient, tokens: Tokens, service: FastAPI
) -> None:
    await register_organisation(http, tokens, "RXT01")
    approved = (await submit(http, tokens, baseline_request())).json()
    referred = (await submit(http, tokens, changed(REFERRED))).json()
    assert (approved["status"], referred["status"]) == ("approved", "awaiting_review")
    assert (await http.get(f"/v1/sharing-requests/{approved['id']}", headers=tokens.agency("RXT01"))).status_code == 200
    assert (await http.get("/v1/sharing-requests/no-such-request", headers=tokens.agency("RXT01"))).status_code == 404
    assert (await http.get(f"/v1/no-such-route/{approved['id']}")).status_code == 404

    samples = await scrape(http)
    requests = "caldicott_http_requests_total"
    assert value(samples, requests, method="POST", route="/v1/organisations", status="201") == 1
    assert value(samples, requests, method="POST", route="/v1/sharing-requests", status="201") == 2
    assert value(samples, requests, method="GET", route="/v1/sharing-requests/{request_id}", status="200") == 1
    assert value(samples, requests, method="GET", route="/v1/sharing-requests/{request_id}", status="404") == 1
    assert value(samples, requests, method="GET", route="unmatched", status="404") == 1
    latency = "caldicott_http_request_duration_seconds_count"
    assert value(samples, latency, method="POST", route="/v1/sharing-requests", status="201") == 2
    assert not any(approved["id"] in dict(labels).get("route", "") for _, labels in samples)  # templates, never paths

    assert value(samples, "caldicott_decisions_total", kind="rules", outcome="approve") == 1
    assert value(samples, "caldicott_decisions_total", kind="rules", outcome="refer") == 1
    assert value(samples, "caldicott_rule_findings_total", rule="CP4.onward_sharing", result="refer") == 1
    assert value(samples, "caldicott_rule_findings_total", rule="CP4.onward_sharing", result="pass") == 1
    findings = sum(count for (name, _), count in samples.items() if name == "caldicott_rule_findings_total")
    assert findings == len(approved["decision"]["findings"]) + len(referred["decision"]["findings"])
    assert (value(samples, "caldicott_review_queue_depth"), value(samples, "caldicott_review_queue_overdue")) == (1, 0)

    async with service.state.wiring.engine.begin() as connection:
        await connection.execute(
            update(SharingRequest)
            .where(SharingRequest.id == referred["id"])
            .values(due_at=utcnow() - timedelta(hours=1))
        )
    samples = await scrape(http)
    assert (value(samples, "caldicott_review_queue_depth"), value(samples, "caldicott_review_queue_overdue")) == (1, 1)
    assert value(samples, requests, method="GET", route="/metrics", status="200") == 1  # the first scrape

    # A guardian's decision counts by its kind; it adds no rule findings.
    claim = await http.post(f"/v1/sharing-requests/{referred['id']}/claim", headers=guardian(tokens))
    assert claim.status_code == 200, claim.text
    body = {"outcome": "approve", "rationale": "Onward sharing is limited to the named team in the care plan."}
    assert (
        await http.post(f"/v1/sharing-requests/{referred['id']}/review", json=body, headers=guardian(tokens))
    ).status_code == 200
    samples = await scrape(http)
    assert value(samples, "caldicott_decisions_total", kind="guardian", outcome="approve") == 1
    assert sum(count for (name, _), count in samples.items() if name == "caldicott_rule_findings_total") == findings
    assert value(samples, "caldicott_review_queue_depth") == 0


async def test_webhook_attempts_are_counted_by_result_in_the_worker(
    http: httpx.AsyncClient, tokens: Tokens, service: FastAPI
) -> None:
    await register_organisation(http, tokens, "RXT01")
    with running(Receiver()) as receiver:
        created = await http.post(
            "/v1/webhook-endpoints",
            json={"url": receiver.url(), "event_types": ["sharing_request.decided"]},
            headers=tokens.agency("RXT01"),
        )
        assert created.status_code == 201, created.text
        receiver.secrets["/hook"] = created.json()["secret"]
        receiver.answer(500)
        assert (await submit(http, tokens, baseline_request())).status_code == 201
        worker_metrics = observability.Metrics()
        server = observability.serve_worker_metrics(worker_metrics, 0, host="127.0.0.1")
        try:
            with observability.counting(worker_metrics):
                assert (
                    await delivery.drain(
                        sessionmaker=service.state.wiring.sessionmaker, settings=service.state.wiring.settings
                    )
                    == 2
                )
            async with httpx.AsyncClient() as scraper:
                exposition = (await scraper.get(f"http://127.0.0.1:{server.server_port}/metrics")).text
        finally:
            server.shutdown()
    assert len(receiver.processed) == 1
    attempts = {
        sample.labels["result"]: sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "caldicott_webhook_delivery_attempts_total"
    }
    assert attempts == {"rejected": 1, "succeeded": 1}
    # The API's own registry saw none of it: each app or worker counts into its own.
    assert value(await scrape(http), "caldicott_webhook_delivery_attempts_total", result="succeeded") is None


async def test_the_metrics_token_guards_the_scrape(database_url: str, json_logs: io.StringIO) -> None:
    application = create_app(settings_for(database_url, metrics_token="scrape-secret-0123456789"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url="http://testserver"
    ) as client:
        refused = [
            await client.get("/metrics", headers=headers)
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic c2NyYXBl"})
        ]
        allowed = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret-0123456789"})
    await application.state.wiring.engine.dispose()
    assert [response.status_code for response in refused] == [401, 401, 401]
    assert all(response.headers["content-type"] == "application/problem+json" for response in refused)
    assert allowed.status_code == 200 and "caldicott_http_requests_total" in allowed.text
    # A refused scrape leaves its access line (someone scrapes without the token); an answered one none.
    assert [(line["route"], line["status"]) for line in access_lines(json_logs)] == [("/metrics", 401)] * 3


async def test_metrics_answer_without_the_database_leaving_out_the_queue() -> None:
    application = create_app(settings_for(UNREACHABLE_POSTGRES))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url="http://testserver"
    ) as client:
        assert (await client.get("/readyz")).status_code == 503
        samples = await scrape(client)
    await application.state.wiring.engine.dispose()
    assert value(samples, "caldicott_http_requests_total", method="GET", route="/readyz", status="503") == 1
    assert value(samples, "caldicott_review_queue_depth") is None


async def test_the_correlation_id_comes_back_and_is_in_every_log_line_of_the_request(
    http: httpx.AsyncClient, json_logs: io.StringIO
) -> None:
    given = await http.get("/healthz", headers={"X-Request-ID": "partner-trace.42"})
    made_up = await http.get("/healthz")
    untrusted = await http.get("/healthz", headers={"X-Request-ID": "has spaces; and=more"})
    assert given.headers["X-Request-ID"] == "partner-trace.42"
    generated = [made_up.headers["X-Request-ID"], untrusted.headers["X-Request-ID"]]
    assert all(uuid.UUID(correlation_id) for correlation_id in generated) and generated[0] != generated[1]

    lines = access_lines(json_logs)
    assert [line["correlation_id"] for line in lines] == ["partner-trace.42", *generated]
    first = lines[0]
    assert {key: first[key] for key in ("level", "message", "method", "route", "status")} == {
        "level": "INFO",
        "message": "GET /healthz 200",
        "method": "GET",
        "route": "/healthz",
        "status": 200,
    }
    assert first["duration_ms"] >= 0 and first["time"].endswith("Z")


async def test_lines_logged_while_serving_carry_the_requests_correlation_id(json_logs: io.StringIO) -> None:
    application = create_app(settings_for(UNREACHABLE_POSTGRES))
    admin = Tokens(application.state.wiring.settings).admin()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url="http://testserver"
    ) as client:
        response = await client.get("/v1/organisations", headers=admin | {"X-Request-ID": "db-outage-1"})
    await application.state.wiring.engine.dispose()
    assert response.status_code == 503
    warning = [line for line in log_lines(json_logs) if line["logger"] == "caldicott.errors"]
    assert [(line["level"], line["correlation_id"]) for line in warning] == [("WARNING", "db-outage-1")]
    assert access_lines(json_logs)[-1]["correlation_id"] == "db-outage-1"


async def test_no_identifier_or_request_text_reaches_the_logs(
    http: httpx.AsyncClient, tokens: Tokens, json_logs: io.StringIO, service: FastAPI
) -> None:
    identifiers = ["9434765919", "LOCAL-ID-77310"]
    free_text = {
        "purpose.description": "Marker description PLUGH-4417 about the family's circumstances",
        "reference": "CASE-XYZZY-5521",
        "legal_basis.reference": "Order FROBOZZ-0091",
        "recipient.access_roles": ["team GRUE-3307"],
    }
    body = changed({"subjects.count": 2, "subjects.identifiers": identifiers, **REFERRED, **free_text})
    body["data_items"][0]["justification"] = "Justified by ZORKMID-6620 findings"
    rationale = "Guardian rationale QUENDOR-8812 names nothing personal"
    agency = tokens.agency("RXT01")

    await register_organisation(http, tokens, "RXT01")
    created = await submit(http, tokens, body)
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]
    invalid = changed({"urgency": "whenever"}, body)
    calls = [
        http.post("/v1/evaluate", json=body, headers=agency),
        http.post("/v1/sharing-requests", json=invalid, headers=agency),
        http.get(f"/v1/sharing-requests/{request_id}", headers=agency),
        http.get(f"/v1/sharing-requests/{request_id}/history", headers=agency),
        http.get("/v1/sharing-requests", params={"purpose": "direct_care", "limit": 5}, headers=agency),
        http.post("/v1/reports/subject-disclosures", json={"identifier": identifiers[0]}, headers=guardian(tokens)),
        http.post(f"/v1/sharing-requests/{request_id}/claim", headers=guardian(tokens)),
        http.post(
            f"/v1/sharing-requests/{request_id}/review",
            json={"outcome": "refuse", "rationale": rationale},
            headers=guardian(tokens),
        ),
    ]
    statuses = [(await call).status_code for call in calls]
    assert statuses == [200, 422, 200, 200, 200, 200, 200, 200]
    exposition = (await http.get("/metrics")).text

    logged = json_logs.getvalue()
    # Every request left its line, and each line is JSON; the scrape left none.
    assert len(access_lines(json_logs)) == 2 + len(calls)
    hashes = [service.state.wiring.settings.subject_keyring.hash(identifier) for identifier in identifiers]
    texts = [
        free_text["purpose.description"],
        free_text["reference"],
        free_text["legal_basis.reference"],
        "GRUE-3307",
        "ZORKMID-6620",
        rationale,
    ]
    for secret in [*identifiers, *hashes, *texts, "PLUGH-4417", "QUENDOR-8812"]:
        assert secret not in logged, secret
        assert secret not in exposition, secret


def test_exceptions_are_logged_by_type_and_place_never_by_their_text(json_logs: io.StringIO) -> None:
    try:
        try:
            raise KeyError("9434765919")
        except KeyError as inner:
            raise ValueError("description PLUGH-4417 in an error message") from inner
    except ValueError:
        logging.getLogger("caldicott.test").exception("could not decide")
    [line] = [line for line in log_lines(json_logs) if line["logger"] == "caldicott.test"]
    assert (line["level"], line["message"], line["exception"], line["caused_by"]) == (
        "ERROR",
        "could not decide",
        "ValueError",
        ["KeyError"],
    )
    assert line["stack"] and "test_observability.py" in line["stack"][-1]
    assert "9434765919" not in json_logs.getvalue() and "PLUGH-4417" not in json_logs.getvalue()


async def test_a_dead_receiver_shows_as_backlog_then_as_deliveries_given_up_each_attempt_logged_with_its_fields(
    http: httpx.AsyncClient, tokens: Tokens, service: FastAPI, json_logs: io.StringIO
) -> None:
    await register_organisation(http, tokens, "RXT01")
    created = await http.post(
        "/v1/webhook-endpoints",
        json={"url": f"http://127.0.0.1:{free_port()}/hook", "event_types": ["sharing_request.decided"]},
        headers=tokens.agency("RXT01"),
    )
    assert created.status_code == 201, created.text
    events = 3
    for _ in range(events):
        assert (await submit(http, tokens, baseline_request())).status_code == 201
    samples = await scrape(http)
    assert value(samples, "caldicott_webhook_backlog") == events
    assert 0 < value(samples, "caldicott_webhook_oldest_pending_age_seconds") < 60  # type: ignore[operator]

    worker_metrics = observability.Metrics(process=observability.ProcessRole.WORKER)
    with observability.counting(worker_metrics):
        attempts = await delivery.drain(
            sessionmaker=service.state.wiring.sessionmaker, settings=service.state.wiring.settings
        )
    schedule = len(service.state.wiring.settings.webhook_retry_schedule)
    assert attempts == events * schedule
    given_up = worker_metrics.registry.get_sample_value("caldicott_webhook_deliveries_failed_total")
    assert given_up == events
    unreachable = {"result": "unreachable"}
    assert (
        worker_metrics.registry.get_sample_value("caldicott_webhook_delivery_attempts_total", unreachable) == attempts
    )
    samples = await scrape(http)
    assert (
        value(samples, "caldicott_webhook_backlog"),
        value(samples, "caldicott_webhook_oldest_pending_age_seconds"),
    ) == (
        0,
        0,
    )
    assert value(samples, "caldicott_webhook_deliveries_failed_total") == 0  # counted by the process that delivers

    lines = [line for line in log_lines(json_logs) if line["logger"] == "caldicott.webhooks" and "attempt" in line]
    assert len(lines) == attempts
    endpoint_id = created.json()["id"]
    for line in lines:
        assert (line["endpoint_id"], line["event_type"], line["outcome"], line["response_status"]) == (
            endpoint_id,
            "sharing_request.decided",
            "unreachable",
            None,
        )
        assert isinstance(line["duration_ms"], int) and line["level"] == "INFO"
    by_delivery: dict[str, list[tuple[int, str]]] = {}
    for line in lines:
        by_delivery.setdefault(line["delivery_id"], []).append((line["attempt"], line["delivery_status"]))
    expected = [(number, "pending") for number in range(1, schedule)] + [(schedule, "failed")]
    assert len(by_delivery) == events and all(sorted(seen) == expected for seen in by_delivery.values())


async def test_pool_use_429s_the_build_and_the_calendar_are_measured(database_url: str, tokens: Tokens) -> None:
    application = create_app(
        settings_for(
            database_url, rate_limit_reads_quota=2, rate_limit_reads_window_seconds=86400, build_commit="0123abc"
        )
    )
    wiring = application.state.wiring
    try:
        await fresh_start(application)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://testserver"
        ) as client:
            await register_organisation(client, tokens, "RXT01")
            reads = [
                (await client.get("/v1/sharing-requests", headers=tokens.agency("RXT01"))).status_code for _ in "abcd"
            ]
            await wiring.chainer.settle()
            async with wiring.engine.connect():  # one connection lent while the scrape is read
                samples = await scrape(client)
            async with wiring.sessionmaker() as session:
                policy = await wiring.policies.active(session=session)
    finally:
        await wiring.engine.dispose()
    assert reads == [200, 200, 429, 429]
    limited = {
        route_class: value(samples, "caldicott_rate_limited_total", route_class=route_class)
        for route_class in ("reads", "writes", "reports", "uploads")
    }
    assert limited == {"reads": 2, "writes": 0, "reports": 0, "uploads": 0}

    api = {"process": "api"}
    assert value(samples, "caldicott_db_pool_connections_in_use", **api) == 1
    capacity = (
        db.POOL_SIZE + db.POOL_MAX_OVERFLOW
        if database_url.startswith("postgresql")
        else db.pool_capacity(wiring.engine)
    )
    assert value(samples, "caldicott_db_pool_connections_max", **api) == capacity > 1

    assert value(samples, "caldicott_build_info", version=metadata.version("caldicott"), commit="0123abc") == 1
    today = utcnow().astimezone(LONDON).date()
    assert policy.calendar_ends is not None
    assert value(samples, "caldicott_calendar_days_remaining") == (policy.calendar_ends - today).days > 0


async def test_the_correlation_id_may_come_as_x_correlation_id_and_x_request_id_wins(
    http: httpx.AsyncClient, json_logs: io.StringIO
) -> None:
    alternative = await http.get("/healthz", headers={"X-Correlation-ID": "gateway-77"})
    both = await http.get("/healthz", headers={"X-Request-ID": "partner-1", "X-Correlation-ID": "gateway-78"})
    untrusted = await http.get("/healthz", headers={"X-Correlation-ID": "not a token"})
    assert alternative.headers["X-Correlation-ID"] == "gateway-77" and "X-Request-ID" not in alternative.headers
    assert both.headers["X-Request-ID"] == "partner-1" and "X-Correlation-ID" not in both.headers
    made_up = untrusted.headers["X-Correlation-ID"]
    assert uuid.UUID(made_up) and "X-Request-ID" not in untrusted.headers
    assert [line["correlation_id"] for line in access_lines(json_logs)] == ["gateway-77", "partner-1", made_up]


def test_the_processes_directory_is_made_for_one_start_and_a_dead_processs_gauges_are_swept(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead, alive = int(gone.stdout), os.getpid()
    with observability.shared_by_processes() as directory:
        assert os.environ[observability.MULTIPROCESS_DIR] == str(directory) and directory.is_dir()
        files = [f"counter_{dead}.db", f"gauge_livesum_{dead}.db", f"counter_{alive}.db", f"gauge_livesum_{alive}.db"]
        for name in files:
            (directory / name).write_bytes(b"")
        assert observability.sweep_dead(directory) == {dead}
        # A dead process's counts stay in the totals; its live gauges (the pool it held) go.
        assert sorted(path.name for path in directory.iterdir()) == sorted(set(files) - {f"gauge_livesum_{dead}.db"})
    assert observability.MULTIPROCESS_DIR not in os.environ and not directory.exists()
