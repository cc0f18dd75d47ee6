"""The webhook drain in seconds: woken by PostgreSQL's NOTIFY, sends capped per endpoint, a recovered receiver's backlog
brought forward, several worker processes.

Deliveries go over real HTTP to the test receiver on loopback; the worker runs as it does in
production (`delivery.run`, or `caldicott worker` processes), on SQLite and PostgreSQL where
the behaviour is not PostgreSQL's alone.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, insert, text
from sqlmodel import col, select

from app.models.base import utcnow
from app.models.sharing_request import new_id
from app.models.webhook import DeliveryStatus, OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookEventType
from app.platform.config import Settings
from app.services.webhooks import worker as delivery
from app.services.webhooks.wake import CHANNEL
from tests.factories import register_organisation, submit
from tests.rules.baseline import changed
from tests.support import PROCESS_GROUP, Tokens
from tests.test_webhooks import register_endpoint
from tests.webhook_receiver import Answer, Receiver

REPO = Path(__file__).resolve().parents[1]
pytestmark = PROCESS_GROUP  # worker processes, and deliveries timed to the second


@asynccontextmanager
async def worker(application: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """The worker loop as `caldicott worker` runs it, in this process, until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        delivery.run(
            sessionmaker=application.state.wiring.sessionmaker,
            settings=settings,
            keys=application.state.wiring.audit_keys,
            stop=stop,
        )
    )
    try:
        yield
    finally:
        stop.set()
        await task


async def eventually(condition: Callable[[], bool], *, within: float, what: str) -> float:
    """Seconds until `condition()` held; fails after `within` seconds."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            pytest.fail(f"not within {within:g} s: {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def listener_pid(application: FastAPI, *, other_than: int | None = None, within: float = 15) -> int:
    """The server process of the worker's LISTENing connection, once it is listening."""
    query = text(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE :listen AND pid <> :other"
    )
    started = time.monotonic()
    while time.monotonic() - started < within:
        async with application.state.wiring.engine.connect() as connection:
            pid = (await connection.execute(query, {"listen": f"LISTEN%{CHANNEL}%", "other": other_than or 0})).scalar()
        if pid is not None:
            return pid
        await asyncio.sleep(0.05)
    pytest.fail(f"the worker was not listening on {CHANNEL} within {within:g} s")


async def test_a_committed_delivery_wakes_the_worker_long_before_its_poll(
    hooks: httpx.AsyncClient,
    tokens: Tokens,
    receiver: Receiver,
    hook_app: FastAPI,
    database_kind: str,
) -> None:
    if database_kind != "postgres":
        pytest.skip("NOTIFY is PostgreSQL's; on SQLite the worker only polls")
    await register_organisation(hooks, tokens, "RXT01")
    await register_endpoint(hooks, receiver, tokens.agency("RXT01"))
    drowsy = hook_app.state.wiring.settings.model_copy(update={"webhook_poll_seconds": 30.0})

    async with worker(hook_app, drowsy):
        first_listener = await listener_pid(hook_app)
        await asyncio.sleep(0.5)  # the worker is resting now, for 30 s unless woken
        started = time.monotonic()
        assert (await submit(hooks, tokens, changed({"reference": "WAKE-1"}))).status_code == 201
        woken_in = await eventually(lambda: len(receiver.processed) == 1, within=5, what="the first delivery")
        took = time.monotonic() - started

        # The listening connection is cut, as a PostgreSQL restart cuts it:
        # the worker lives on, listens again, is woken again.
        async with hook_app.state.wiring.engine.connect() as connection:
            assert (
                await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_listener})
            ).scalar() is True
        await listener_pid(hook_app, other_than=first_listener)
        await asyncio.sleep(0.5)
        assert (await submit(hooks, tokens, changed({"reference": "WAKE-2"}))).status_code == 201
        woken_again_in = await eventually(
            lambda: len(receiver.processed) == 2, within=5, what="the delivery after the connection was cut"
        )

    assert took < 5 and woken_in < 5 and woken_again_in < 5, (took, woken_in, woken_again_in)
    assert all(received.verified for received in receiver.received)


async def test_a_slow_endpoint_does_not_hold_up_a_fast_one(
    hooks: httpx.AsyncClient,
    tokens: Tokens,
    receiver: Receiver,
    hook_app: FastAPI,
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    await register_organisation(hooks, tokens, "LA-NSH", type="local_authority")
    await register_endpoint(hooks, receiver, tokens.agency("RXT01"), "/slow")
    await register_endpoint(hooks, receiver, tokens.agency("LA-NSH"), "/fast")
    receiver.always("/slow", Answer(200, delay=3))
    for index in range(12):  # written first, so first in line, and more than a batch
        assert (await submit(hooks, tokens, changed({"reference": f"SLOW-{index}"}), org="RXT01")).status_code == 201
    for index in range(4):
        assert (await submit(hooks, tokens, changed({"reference": f"FAST-{index}"}), org="LA-NSH")).status_code == 201
    settings = hook_app.state.wiring.settings.model_copy(
        update={
            "webhook_batch_size": 5,
            "webhook_endpoint_concurrency": 3,
            "webhook_poll_seconds": 0.2,
            "webhook_timeout_seconds": 10,
        }
    )

    async with worker(hook_app, settings):
        fast_in = await eventually(
            lambda: len(receiver.at("/fast")) == 4, within=2.5, what="every delivery to the fast endpoint"
        )
        # Sent while the slow endpoint's first three have not answered yet:
        # it holds three slots, no more, and nothing waits on it.
        slow_busy = len(receiver.at("/slow"))
        await eventually(
            lambda: len(receiver.at("/slow")) == 6,
            within=5,
            what="the slow endpoint's next three, once its first had answered",
        )

    assert slow_busy == 3, (slow_busy, fast_in)
    assert all(received.verified for received in receiver.received)


async def test_a_claim_takes_no_more_of_an_endpoint_than_it_has_room_for(
    hooks: httpx.AsyncClient,
    tokens: Tokens,
    receiver: Receiver,
    hook_app: FastAPI,
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    await register_organisation(hooks, tokens, "LA-NSH", type="local_authority")
    busy = await register_endpoint(hooks, receiver, tokens.agency("RXT01"), "/busy")
    for index in range(10):
        assert (await submit(hooks, tokens, changed({"reference": f"BUSY-{index}"}), org="RXT01")).status_code == 201
    await register_endpoint(hooks, receiver, tokens.agency("LA-NSH"), "/idle")
    assert (await submit(hooks, tokens, changed({"reference": "IDLE-1"}), org="LA-NSH")).status_code == 201
    settings, sessionmaker = (
        hook_app.state.wiring.settings.model_copy(update={"webhook_endpoint_concurrency": 4}),
        hook_app.state.wiring.sessionmaker,
    )

    first = await delivery.claim(sessionmaker=sessionmaker, settings=settings, worker_id="w1", now=utcnow())
    assert Counter(job.endpoint_id for job in first)[busy["id"]] == 4 and len(first) == 5
    second = await delivery.claim(
        sessionmaker=sessionmaker, settings=settings, worker_id="w1", now=utcnow(), room={busy["id"]: 1}
    )
    assert [job.endpoint_id for job in second] == [busy["id"]]
    assert (
        await delivery.claim(
            sessionmaker=sessionmaker, settings=settings, worker_id="w1", now=utcnow(), room={busy["id"]: 0}
        )
        == []
    )


async def test_a_receiver_back_from_an_outage_gets_its_whole_backlog_in_seconds(
    hooks: httpx.AsyncClient,
    tokens: Tokens,
    receiver: Receiver,
    hook_app: FastAPI,
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    endpoint = await register_endpoint(hooks, receiver, tokens.agency("RXT01"))
    receiver.always("/hook", Answer(500))
    waiting = 6
    for index in range(waiting):
        assert (await submit(hooks, tokens, changed({"reference": f"DOWN-{index}"}))).status_code == 201
    # The second attempt half a second on, the third five minutes on, as the default schedule's third.
    settings = hook_app.state.wiring.settings.model_copy(
        update={"webhook_retry_schedule": [0, 0.5, 300], "webhook_poll_seconds": 0.2}
    )
    sessionmaker = hook_app.state.wiring.sessionmaker

    async def parked() -> int:
        """Deliveries failed twice and put off for minutes."""
        async with sessionmaker() as session:
            later = utcnow() + timedelta(seconds=200)
            query = select(func.count()).where(
                WebhookDelivery.attempts_made == 2, col(WebhookDelivery.next_attempt_at) > later
            )
            return (await session.exec(query)).one()

    async with worker(hook_app, settings):
        started = time.monotonic()
        while await parked() < waiting:
            assert time.monotonic() - started < 15, "the deliveries were never put off to the five-minute retry"
            await asyncio.sleep(0.1)
        receiver.always("/hook", Answer(200))  # the receiver is back
        assert (await submit(hooks, tokens, changed({"reference": "BACK"}))).status_code == 201
        backlog_in = await eventually(
            lambda: len(receiver.processed) == waiting + 1, within=10, what="the backlog, after the receiver came back"
        )

    assert backlog_in < 10
    async with sessionmaker() as session:
        rows = (await session.exec(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint["id"]))).all()
        attempts = Counter((await session.exec(select(WebhookAttempt.delivery_id))).all())
    assert {row.status for row in rows} == {DeliveryStatus.SUCCEEDED} and len(rows) == waiting + 1
    assert sorted(attempts.values()) == [1] + [3] * waiting  # two failures each, then at once, not in five minutes


async def test_three_worker_processes_deliver_each_delivery_exactly_once(
    hooks: httpx.AsyncClient,
    tokens: Tokens,
    receiver: Receiver,
    hook_app: FastAPI,
    database_url: str,
    database_kind: str,
    tmp_path: Path,
) -> None:
    if database_kind != "postgres":
        pytest.skip(
            "several worker processes share one database on PostgreSQL "
            "(FOR UPDATE SKIP LOCKED); SQLite is for one process"
        )
    await register_organisation(hooks, tokens, "RXT01")
    paths = ["/one", "/two", "/three"]
    endpoints = [await register_endpoint(hooks, receiver, tokens.agency("RXT01"), path) for path in paths]
    for path in paths:
        receiver.always(path, Answer(200, delay=0.1))

    clean = {key: value for key, value in os.environ.items() if not key.startswith("CALDICOTT_")}
    env = clean | {
        "PYTHONPATH": str(REPO),
        "CALDICOTT_DATABASE_URL": database_url,
        "CALDICOTT_WEBHOOK_ALLOW_PRIVATE": "true",
        "CALDICOTT_WEBHOOK_POLL_SECONDS": "0.5",
    }
    logs = [tmp_path / f"worker-{index}.log" for index in range(3)]
    processes = []
    for log in logs:
        with log.open("wb") as out:
            argv = [sys.executable, "-m", "app.cli", "worker", "--log-level", "info"]
            processes.append(
                await asyncio.create_subprocess_exec(
                    *argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
    try:
        for log, process in zip(logs, processes, strict=True):
            await eventually(
                lambda log=log: any("listening on" in message for message in messages(log)),
                within=30,
                what=f"{log.name} listening",
            )
            assert process.returncode is None, log.read_text()
        ids = await write_due_deliveries(hook_app, [endpoint["id"] for endpoint in endpoints], count=300)
        await eventually(lambda: len(receiver.processed) >= 300, within=60, what="300 deliveries received")
        await asyncio.sleep(0.5)  # time for any second copy to arrive, were one sent
    finally:
        for process in processes:
            if process.returncode is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            await asyncio.wait_for(process.wait(), timeout=30)

    sent = Counter(received.webhook_id for received in receiver.received)
    assert set(sent) == set(ids) and set(sent.values()) == {1}, Counter(sent.values())
    assert all(received.verified for received in receiver.received)
    async with hook_app.state.wiring.sessionmaker() as session:
        statuses = Counter((await session.exec(select(WebhookDelivery.status))).all())
        attempts = Counter((await session.exec(select(WebhookAttempt.delivery_id))).all())
    assert statuses == {DeliveryStatus.SUCCEEDED: 300} and len(attempts) == 300 and set(attempts.values()) == {1}
    per_worker = [sum(" attempt 1 to endpoint " in message for message in messages(log)) for log in logs]
    assert sum(per_worker) == 300 and all(count > 0 for count in per_worker), per_worker


async def write_due_deliveries(application: FastAPI, endpoint_ids: list[str], *, count: int) -> list[str]:
    """`count` events, each with one delivery due now, spread over the endpoints,
    written in one transaction; the deliveries' ids."""
    now = utcnow()
    events, deliveries = [], []
    for index in range(count):
        event_id = new_id()
        body = {"type": str(WebhookEventType.POLICY_ACTIVATED), "timestamp": now.isoformat(), "data": {"index": index}}
        events.append(
            {
                "id": event_id,
                "type": WebhookEventType.POLICY_ACTIVATED,
                "request_id": None,
                "payload": body,
                "created_at": now,
            }
        )
        endpoint_id = endpoint_ids[index % len(endpoint_ids)]
        deliveries.append(
            {
                "id": new_id(),
                "event_id": event_id,
                "endpoint_id": endpoint_id,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
    async with application.state.wiring.sessionmaker() as session:
        await session.exec(insert(OutboxEvent).values(events))
        await session.exec(
            insert(WebhookDelivery).values(
                [row | {"status": DeliveryStatus.PENDING, "attempts_made": 0} for row in deliveries]
            )
        )
        await session.commit()
    return [row["id"] for row in deliveries]


def messages(log: Path) -> list[str]:
    """The messages of a worker's JSON log lines."""
    return [json.loads(line).get("message", "") for line in log.read_text().splitlines() if line.startswith("{")]
