"""Every way a delivery can go wrong is recorded as a failed attempt and retried on schedule; none stalls the queue.

A receiver on loopback answers as a careless or hostile one might: Retry-After values of every
shape, a body the database cannot store, an answer late or cut short, no listener at all.
Deliveries go over real HTTP, on SQLite and PostgreSQL.
"""

import asyncio
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update
from sqlmodel import select

from app.models.base import utcnow
from app.models.webhook import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.platform.config import Settings
from app.services.webhooks import retry_after
from app.services.webhooks import worker as delivery
from tests.factories import register_organisation, submit
from tests.rules.baseline import baseline_request, changed
from tests.support import Tokens
from tests.test_webhooks import deliveries, drain, register_endpoint
from tests.webhook_receiver import Answer, Receiver

SCHEDULE = [0, 60, 600]  # the first attempt at once, the second a minute later (jittered), ten minutes at most
SLACK = 10  # seconds from an attempt's start to its recording on a loaded machine; far less than any step tested
ON_SCHEDULE = (54, 66 + SLACK)  # a minute, give or take the jitter of a tenth and the time to record
LONGEST = (600, 600 + SLACK)


@pytest.fixture
def patient(hook_app: FastAPI) -> Settings:
    """The test app's settings with a schedule long enough to see where Retry-After puts the next attempt."""
    return hook_app.state.wiring.settings.model_copy(update={"webhook_retry_schedule": SCHEDULE})


def http_date(seconds_from_now: float, form: str = "%a, %d %b %Y %H:%M:%S GMT") -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds_from_now)).strftime(form)


def waited(history: dict[str, Any]) -> float:
    """Seconds from the last attempt to the next one scheduled."""
    attempted = datetime.fromisoformat(history["attempts"][-1]["attempted_at"])
    return (datetime.fromisoformat(history["next_attempt_at"]) - attempted).total_seconds()


async def first_attempt(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, app: FastAPI, settings: Settings, answer: Answer
) -> dict[str, Any]:
    """One delivery answered once with `answer`; its history after that attempt."""
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    endpoint = await register_endpoint(hooks, receiver, agency)
    receiver.answer(answer)
    await submit(hooks, tokens, baseline_request())
    assert await drain(app, settings=settings) == 1
    [history] = await deliveries(hooks, agency, endpoint["id"])
    return history


RETRY_AFTER: list[tuple[str, Callable[[], str], tuple[float, float]]] = [
    ("seconds", lambda: "120", (120, 120 + SLACK)),
    ("leading zeros", lambda: "0" * 30 + "120", (120, 120 + SLACK)),
    ("more seconds than a timedelta holds", lambda: "99999999999999999999", LONGEST),
    ("more digits than int() reads", lambda: "9" * 5000, LONGEST),
    ("longer than the schedule", lambda: "86400", LONGEST),
    ("zero", lambda: "0", ON_SCHEDULE),
    ("a superscript digit", lambda: "²", ON_SCHEDULE),
    ("Arabic-Indic digits", lambda: "١٢٠", ON_SCHEDULE),
    ("fullwidth digits", lambda: "１２０", ON_SCHEDULE),
    ("negative", lambda: "-5", ON_SCHEDULE),
    ("a fraction", lambda: "1.5", ON_SCHEDULE),
    ("hexadecimal", lambda: "0x10", ON_SCHEDULE),
    ("words after the number", lambda: "120 seconds", ON_SCHEDULE),
    ("words", lambda: "soon", ON_SCHEDULE),
    ("an impossible date", lambda: "Mon, 99 Foo 2030 25:61:61 GMT", ON_SCHEDULE),
    ("a date in the past", lambda: "Sun, 06 Nov 1994 08:49:37 GMT", ON_SCHEDULE),
    ("a date in five minutes", lambda: http_date(300), (297, 300 + SLACK)),
    ("a date in five minutes, RFC 850 form", lambda: http_date(300, "%A, %d-%b-%y %H:%M:%S GMT"), (297, 300 + SLACK)),
    ("a date in five minutes, asctime form", lambda: http_date(300, "%a %b %e %H:%M:%S %Y"), (297, 300 + SLACK)),
    ("the last date there is", lambda: "Fri, 31 Dec 9999 23:59:59 GMT", LONGEST),
]


@pytest.mark.parametrize("status", [503, 429])
@pytest.mark.parametrize(
    ("value", "expected"),
    [(value, expected) for _, value, expected in RETRY_AFTER],
    ids=[name for name, _, _ in RETRY_AFTER],
)
async def test_retry_after_is_read_as_rfc_9110_says_and_capped_at_the_schedule(
    hooks: httpx.AsyncClient,
    tokens: Tokens,
    receiver: Receiver,
    hook_app: FastAPI,
    patient: Settings,
    status: int,
    value: Callable[[], str],
    expected: tuple[float, float],
) -> None:
    history = await first_attempt(hooks, tokens, receiver, hook_app, patient, Answer(status, {"Retry-After": value()}))
    [attempt] = history["attempts"]
    assert (history["status"], attempt["response_status"], attempt["error"]) == ("pending", status, None)
    low, high = expected
    assert low <= waited(history) <= high


async def test_retry_after_on_other_statuses_is_not_read(
    hooks: httpx.AsyncClient,
    tokens: Tokens,
    receiver: Receiver,
    hook_app: FastAPI,
    patient: Settings,
) -> None:
    history = await first_attempt(hooks, tokens, receiver, hook_app, patient, Answer(500, {"Retry-After": "300"}))
    assert history["attempts"][0]["response_status"] == 500
    assert ON_SCHEDULE[0] <= waited(history) <= ON_SCHEDULE[1]


async def test_a_body_the_database_cannot_hold_is_recorded_all_the_same(
    hooks: httpx.AsyncClient,
    tokens: Tokens,
    receiver: Receiver,
    hook_app: FastAPI,
) -> None:
    # PostgreSQL text cannot hold NUL; the receiver chooses its body, so the worker must make it storable.
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    endpoint = await register_endpoint(hooks, receiver, agency)
    receiver.answer(Answer(500, body=b"broken\x00body \xff"), Answer(200, body=b"\x00"))
    await submit(hooks, tokens, baseline_request())

    assert await drain(hook_app) == 2
    [history] = await deliveries(hooks, agency, endpoint["id"])
    assert history["status"] == "succeeded"
    assert [(attempt["response_status"], attempt["response_body"]) for attempt in history["attempts"]] == [
        (500, "broken\ufffdbody \ufffd"),
        (200, "\ufffd"),
    ]


async def test_an_exception_while_sending_is_a_failed_attempt_and_the_schedule_runs_out(
    hooks: httpx.AsyncClient,
    tokens: Tokens,
    receiver: Receiver,
    hook_app: FastAPI,
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    endpoint = await register_endpoint(hooks, receiver, agency)
    # A secret that is not base64 makes signing raise, inside the sending of every attempt.
    async with hook_app.state.wiring.engine.begin() as connection:
        await connection.execute(
            update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint["id"]).values(secret="whsec_abc")
        )
    await submit(hooks, tokens, baseline_request())

    assert await drain(hook_app) == 3  # the test app's schedule has three attempts
    assert receiver.received == []
    [history] = await deliveries(hooks, agency, endpoint["id"])
    assert (history["status"], history["next_attempt_at"]) == ("failed", None)
    assert [attempt["number"] for attempt in history["attempts"]] == [1, 2, 3]
    for attempt in history["attempts"]:
        assert attempt["response_status"] is None
        assert attempt["error"].startswith("unexpected Error: ") and len(attempt["error"]) <= 300, attempt


async def test_connection_refused_is_a_failed_attempt(
    hooks: httpx.AsyncClient, tokens: Tokens, hook_app: FastAPI
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    response = await hooks.post(
        "/v1/webhook-endpoints",
        json={"url": f"http://127.0.0.1:{closed_port}/hook", "event_types": ["sharing_request.decided"]},
        headers=agency,
    )
    assert response.status_code == 201, response.text
    await submit(hooks, tokens, baseline_request())

    assert await drain(hook_app) == 3
    [history] = await deliveries(hooks, agency, response.json()["id"])
    assert history["status"] == "failed"
    assert all(
        attempt["response_status"] is None and attempt["error"].startswith("ConnectError")
        for attempt in history["attempts"]
    )


async def test_a_host_that_no_longer_resolves_is_a_failed_attempt(
    hooks: httpx.AsyncClient, tokens: Tokens, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    body = {
        "url": "http://caldicott-test.invalid/hook",
        "event_types": ["sharing_request.decided"],
    }  # .invalid never resolves (RFC 6761)
    response = await hooks.post("/v1/webhook-endpoints", json=body, headers=agency)
    assert response.status_code == 201, response.text  # the test app only parses URLs at registration
    await submit(hooks, tokens, baseline_request())

    assert await drain(hook_app) == 3
    [history] = await deliveries(hooks, agency, response.json()["id"])
    assert history["status"] == "failed"
    for attempt in history["attempts"]:
        assert attempt["response_status"] is None
        assert attempt["error"] in (
            "refused: the host 'caldicott-test.invalid' does not resolve",
            "no answer within 5 s",
        ), attempt


@pytest.mark.parametrize(
    ("late", "status_seen"),
    [(Answer(200, delay=3), None), (Answer(200, stall=3), 200)],
    ids=["no answer in time", "half an answer in time"],
)
async def test_an_answer_too_slow_is_a_failed_attempt_and_tried_again(
    hooks: httpx.AsyncClient,
    tokens: Tokens,
    receiver: Receiver,
    hook_app: FastAPI,
    late: Answer,
    status_seen: int | None,
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    endpoint = await register_endpoint(hooks, receiver, agency)
    receiver.answer(late)
    await submit(hooks, tokens, baseline_request())
    hasty = hook_app.state.wiring.settings.model_copy(update={"webhook_timeout_seconds": 0.5})

    assert await drain(hook_app, settings=hasty) == 2
    [history] = await deliveries(hooks, agency, endpoint["id"])
    assert history["status"] == "succeeded"
    first, second = history["attempts"]
    assert (first["response_status"], first["error"]) == (status_seen, "no answer within 0.5 s")
    assert (second["response_status"], second["error"]) == (200, None)


async def test_an_exception_while_recording_is_recorded_as_a_failed_attempt(
    hooks: httpx.AsyncClient,
    tokens: Tokens,
    receiver: Receiver,
    hook_app: FastAPI,
    patient: Settings,
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    endpoint = await register_endpoint(hooks, receiver, agency)
    await submit(hooks, tokens, baseline_request())
    sessionmaker = hook_app.state.wiring.sessionmaker

    [job] = await delivery.claim(sessionmaker=sessionmaker, settings=patient, worker_id="w1", now=utcnow())
    # A lone surrogate cannot be encoded for either database: storing this result fails.
    unstorable = delivery.AttemptResult(
        attempted_at=utcnow(), duration_ms=5, response_status=200, response_body="\ud800"
    )
    await delivery.record(sessionmaker=sessionmaker, settings=patient, worker_id="w1", job=job, result=unstorable)

    [history] = await deliveries(hooks, agency, endpoint["id"])
    [attempt] = history["attempts"]
    assert history["status"] == "pending" and ON_SCHEDULE[0] <= waited(history) <= ON_SCHEDULE[1]
    assert (attempt["response_status"], attempt["response_body"]) == (None, None)
    assert attempt["error"].startswith("answered 200, but the attempt could not be recorded: ")
    async with sessionmaker() as session:
        stored = await session.get(WebhookDelivery, job.delivery_id)
        assert stored is not None and (stored.claimed_by, stored.claimed_until, stored.attempts_made) == (None, None, 1)


async def test_a_poisoned_receiver_does_not_starve_another_agencys_deliveries(
    hooks: httpx.AsyncClient,
    tokens: Tokens,
    receiver: Receiver,
    hook_app: FastAPI,
    patient: Settings,
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    await register_organisation(hooks, tokens, "LA-NSH", type="local_authority")
    await register_endpoint(hooks, receiver, tokens.agency("RXT01"), "/poisoned")
    await register_endpoint(hooks, receiver, tokens.agency("LA-NSH"), "/fair")
    receiver.always("/poisoned", Answer(503, {"Retry-After": "99999999999999999999"}))
    poisoned = 8
    for index in range(poisoned):  # written first, so due first
        assert (await submit(hooks, tokens, changed({"reference": f"P{index}"}), org="RXT01")).status_code == 201
    assert (await submit(hooks, tokens, baseline_request(), org="LA-NSH")).status_code == 201

    # The worker as it runs: one delivery per claim, resting a second whenever a claim brings nothing.
    settings = patient.model_copy(update={"webhook_batch_size": 1, "webhook_poll_seconds": 1.0})
    stop = asyncio.Event()
    worker = asyncio.create_task(
        delivery.run(
            sessionmaker=hook_app.state.wiring.sessionmaker,
            settings=settings,
            keys=hook_app.state.wiring.audit_keys,
            stop=stop,
        )
    )
    try:
        for _ in range(40):  # four seconds; without the fix it took a second per poisoned delivery, and then again
            if receiver.at("/fair"):
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await worker
    assert len(receiver.at("/fair")) == 1

    async with hook_app.state.wiring.sessionmaker() as session:
        rows = (
            await session.exec(
                select(WebhookDelivery).join(WebhookEndpoint).where(WebhookEndpoint.owner_org == "RXT01")
            )
        ).all()
        attempts = (await session.exec(select(WebhookAttempt.response_status))).all()
    assert len(rows) == poisoned and sorted(attempts) == [200] + [503] * poisoned
    later = utcnow() + timedelta(seconds=SCHEDULE[-1] - 5)
    for row in rows:  # each answered once, recorded, and put back ten minutes on
        assert (row.status, row.attempts_made, row.claimed_by) == (DeliveryStatus.PENDING, 1, None)
        assert row.next_attempt_at is not None and row.next_attempt_at > later


# The header on its own: no database, no network.

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("value", "wait"),
    [
        ("90", timedelta(seconds=90)),
        (" \t90\t ", timedelta(seconds=90)),
        ("0", timedelta(0)),
        ("000", timedelta(0)),
        ("3601", HOUR),
        ("99999999999999999999", HOUR),
        ("0" * 5000 + "7", timedelta(seconds=7)),
        ("9" * 5000, HOUR),
        ("Fri, 27 Nov 2026 12:10:00 GMT", timedelta(minutes=10)),
        ("Friday, 27-Nov-26 12:10:00 GMT", timedelta(minutes=10)),
        ("Fri Nov 27 12:10:00 2026", timedelta(minutes=10)),
        ("Fri, 27 Nov 2026 11:00:00 GMT", timedelta(0)),
        ("Fri, 31 Dec 9999 23:59:59 GMT", HOUR),
        ("Mon, 31 Dec 9999 23:59:59 -2359", HOUR),
        ("Mon, 01 Jan 0100 00:00:00 +2359", timedelta(0)),
    ],
)
def test_retry_after_values_that_mean_a_wait(value: str, wait: timedelta) -> None:
    assert retry_after.parse(value, now=NOW, longest=HOUR) == wait


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        " ",
        "²",
        "١٢٠",
        "１２０",
        "-5",
        "+5",
        "1.5",
        "1e3",
        "0x10",
        "120 seconds",
        "120s",
        "1,5",
        "soon",
        "Mon, 99 Foo 2030 25:61:61 GMT",
        "\x00",
    ],
)
def test_retry_after_values_that_are_ignored(value: str | None) -> None:
    assert retry_after.parse(value, now=NOW, longest=HOUR) is None


@given(st.text())
def test_no_retry_after_value_raises_or_waits_past_the_longest(value: str) -> None:
    wait = retry_after.parse(value, now=NOW, longest=HOUR)
    assert wait is None or timedelta(0) <= wait <= HOUR
