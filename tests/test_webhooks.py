"""Signed webhooks: endpoints, the transactional outbox, the delivery worker, retries and the SSRF guard.

Deliveries go over real HTTP to a receiver on loopback that verifies them with the
`standardwebhooks` package, on SQLite and PostgreSQL.
"""

import asyncio
import ipaddress
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func
from sqlmodel import select
from standardwebhooks import Webhook

from app.main import create_app
from app.models.actions import RequestAction
from app.models.base import utcnow
from app.models.request_body import SharingRequestBody
from app.models.vocabulary import RequestStatus, Role
from app.models.webhook import OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEventType
from app.platform.config import Settings
from app.platform.db import make_engine, make_sessionmaker
from app.principal import Principal
from app.services.sharing_requests import adjudication
from app.services.webhooks import egress
from app.services.webhooks import endpoints as webhooks
from app.services.webhooks import worker as delivery
from app.services.webhooks.outbox import event_type_for
from tests.factories import register_organisation, submit
from tests.rules.baseline import baseline_request, changed
from tests.support import Tokens, production_settings, settings_for
from tests.webhook_receiver import Answer, Receiver

REPO = Path(__file__).resolve().parents[1]
# Every event a case-management system hears; audit.checkpoint, which the worker sends as it starts,
# is a witness's (tests/test_checkpoints.py).
ALL_EVENTS = [str(event_type) for event_type in WebhookEventType if event_type is not WebhookEventType.AUDIT_CHECKPOINT]
PAYLOAD_FIELDS = {
    "id",
    "status",
    "outcome",
    "verdict",
    "conditions",
    "ready_to_disclose",
    "open_checks",
    "link",
    "reference",
    "sequence",
}


async def register_endpoint(
    client: httpx.AsyncClient,
    receiver: Receiver,
    headers: dict[str, str],
    path: str = "/hook",
    event_types: list[str] | None = None,
) -> dict[str, Any]:
    """Register the receiver's path as an endpoint and give the receiver its secret."""
    response = await client.post(
        "/v1/webhook-endpoints",
        json={"url": receiver.url(path), "event_types": event_types or ALL_EVENTS},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    receiver.secrets[path] = created["secret"]
    return created


async def drain(application: FastAPI, *, settings: Settings | None = None, now: datetime | None = None) -> int:
    return await delivery.drain(
        sessionmaker=application.state.wiring.sessionmaker,
        settings=settings or application.state.wiring.settings,
        now=now,
    )


async def deliveries(client: httpx.AsyncClient, headers: dict[str, str], endpoint_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_decision_reaches_the_receiver_signed_and_verifiable(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    endpoint = await register_endpoint(hooks, receiver, agency)
    assert endpoint["secret"].startswith("whsec_") and len(endpoint["secret"]) >= len("whsec_") + 32
    assert (endpoint["scope"], endpoint["organisation"], endpoint["enabled"]) == ("organisation", "RXT01", True)

    body = changed(
        {"subjects.count": 2, "subjects.identifiers": ["9990000018", "999 000 0026"], "recipient.staff_trained": False}
    )
    request = (await submit(hooks, tokens, body)).json()
    assert await drain(hook_app) == 1

    [received] = receiver.received
    assert received.verified
    Webhook(endpoint["secret"]).verify(received.body, received.headers)  # the independent check, in the open
    event = received.payload
    assert event["type"] == "sharing_request.decided"
    assert datetime.fromisoformat(event["timestamp"]).tzinfo is not None
    assert set(event["data"]) == PAYLOAD_FIELDS
    assert event["data"] == {
        "id": request["id"],
        "status": "approved_with_conditions",
        "outcome": "approve_with_conditions",
        "verdict": None,
        "conditions": request["decision"]["conditions"],
        "ready_to_disclose": True,
        "open_checks": [],
        "link": f"/v1/sharing-requests/{request['id']}",
        "reference": body["reference"],
        "sequence": 1,
    }
    for secret_thing in (
        "9990000018",
        "0000026",
        body["purpose"]["description"],
        *request["request"]["subjects"]["identifier_hashes"],
    ):
        assert secret_thing not in received.body.decode()
    assert received.headers["content-type"] == "application/json"

    [history] = await deliveries(hooks, agency, endpoint["id"])
    assert history["id"] == received.webhook_id
    assert (history["status"], history["event_type"], history["request_id"], history["next_attempt_at"]) == (
        "succeeded",
        "sharing_request.decided",
        request["id"],
        None,
    )
    [attempt] = history["attempts"]
    assert (attempt["number"], attempt["response_status"], attempt["response_body"], attempt["error"]) == (
        1,
        200,
        "answered 200",
        None,
    )
    assert attempt["duration_ms"] >= 0


async def test_the_secret_is_shown_only_at_creation(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    endpoint = await register_endpoint(hooks, receiver, agency)
    assert (await hooks.get("/v1/webhook-endpoints", headers=agency)).json()["items"] == [
        {k: v for k, v in endpoint.items() if k != "secret"}
    ]
    for response in (
        await hooks.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=agency),
        await hooks.get("/v1/webhook-endpoints", headers=agency),
        await hooks.patch(
            f"/v1/webhook-endpoints/{endpoint['id']}", json={"description": "case system"}, headers=agency
        ),
    ):
        assert response.status_code == 200
        assert endpoint["secret"] not in response.text and "secret" not in response.text.replace(
            "previous_secret_expires_at", ""
        )


async def test_referrals_and_subscriptions(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    await register_endpoint(hooks, receiver, agency, "/referrals", ["sharing_request.referred"])
    await register_endpoint(hooks, receiver, agency, "/decisions", ["sharing_request.decided"])

    referred = (await submit(hooks, tokens, changed({"recipient.onward_sharing": True}))).json()
    decided = (await submit(hooks, tokens, baseline_request())).json()
    assert await drain(hook_app) == 2

    [referral] = receiver.at("/referrals")
    assert (referral.payload["type"], referral.payload["data"]["id"], referral.payload["data"]["status"]) == (
        "sharing_request.referred",
        referred["id"],
        "awaiting_review",
    )
    assert referral.payload["data"]["outcome"] == "refer"
    [decision] = receiver.at("/decisions")
    assert (decision.payload["type"], decision.payload["data"]["id"]) == ("sharing_request.decided", decided["id"])
    assert all(delivery.verified for delivery in receiver.received)


def test_request_actions_map_to_event_types() -> None:
    expected = {
        (RequestAction.SUBMITTED, RequestStatus.APPROVED): WebhookEventType.DECIDED,
        (RequestAction.SUBMITTED, RequestStatus.REFUSED): WebhookEventType.DECIDED,
        (RequestAction.SUBMITTED, RequestStatus.AWAITING_REVIEW): WebhookEventType.REFERRED,
        (RequestAction.AMENDED, RequestStatus.AWAITING_REVIEW): WebhookEventType.REFERRED,
        (RequestAction.AMENDED, RequestStatus.APPROVED_WITH_CONDITIONS): WebhookEventType.DECIDED,
        (RequestAction.REVIEWED, RequestStatus.APPROVED): WebhookEventType.REVIEWED,
        (RequestAction.INFORMATION_REQUESTED, RequestStatus.AWAITING_REVIEW): WebhookEventType.INFORMATION_REQUESTED,
        (RequestAction.WITHDRAWN, RequestStatus.AWAITING_REVIEW): WebhookEventType.WITHDRAWN,
        (
            RequestAction.RETROSPECTIVE_REVIEWED,
            RequestStatus.APPROVED_WITH_CONDITIONS,
        ): WebhookEventType.RETROSPECTIVE_REVIEW_COMPLETED,
        (RequestAction.OVERDUE, RequestStatus.AWAITING_REVIEW): WebhookEventType.OVERDUE,
    }
    for (action, status), event_type in expected.items():
        assert event_type_for(action, status) is event_type, action
    for action in (
        RequestAction.CLAIMED,
        RequestAction.RELEASED,
        RequestAction.CLAIM_EXPIRED,
        RequestAction.READ,
        RequestAction.HISTORY_READ,
    ):
        assert event_type_for(action, RequestStatus.AWAITING_REVIEW) is None, action


async def test_the_event_commits_or_rolls_back_with_the_change(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    await register_endpoint(hooks, receiver, tokens.agency("RXT01"))
    principal = Principal(sub="user-rxt01", org="RXT01", roles=frozenset({Role.AGENCY}))
    body = SharingRequestBody.model_validate(baseline_request())

    async def submit_in_transaction(*, commit: bool) -> None:
        async with hook_app.state.wiring.sessionmaker() as session:
            await adjudication.submit(
                session=session,
                policy=await hook_app.state.wiring.policies.active(session=session),
                principal=principal,
                body=body,
                subject_keys=hook_app.state.wiring.settings.subject_keyring,
            )
            await (session.commit() if commit else session.rollback())

    async def rows() -> tuple[int, int]:
        async with hook_app.state.wiring.sessionmaker() as session:
            events = (await session.exec(select(func.count()).select_from(OutboxEvent))).one()
            pending = (await session.exec(select(func.count()).select_from(WebhookDelivery))).one()
            return events, pending

    await submit_in_transaction(commit=False)
    assert await rows() == (0, 0)
    await submit_in_transaction(commit=True)
    # Written with the decision, before any worker ran: nothing is lost if the worker is down.
    assert await rows() == (1, 1)
    assert receiver.received == []


async def test_the_receiver_recovers_from_an_outage_and_gets_the_event_once(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    endpoint = await register_endpoint(hooks, receiver, agency)
    receiver.answer(500, 500)
    await submit(hooks, tokens, baseline_request())

    assert await drain(hook_app) == 3
    assert [delivery.verified for delivery in receiver.received] == [True, True, True]
    assert len({delivery.webhook_id for delivery in receiver.received}) == 1
    assert len(receiver.processed) == 1
    [history] = await deliveries(hooks, agency, endpoint["id"])
    assert (history["status"], history["attempts_made"]) == ("succeeded", 3)
    assert [attempt["response_status"] for attempt in history["attempts"]] == [500, 500, 200]
    assert [attempt["number"] for attempt in history["attempts"]] == [1, 2, 3]
    assert history["attempts"][0]["response_body"] == "answered 500"


async def test_after_the_last_attempt_the_delivery_fails_and_can_be_redelivered(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    endpoint = await register_endpoint(hooks, receiver, agency)
    receiver.answer(500, 502, 500)
    await submit(hooks, tokens, baseline_request())

    assert await drain(hook_app) == 3
    [failed] = await deliveries(hooks, agency, endpoint["id"])
    assert (failed["status"], failed["attempts_made"], failed["next_attempt_at"]) == ("failed", 3, None)
    assert receiver.processed == {}
    assert (
        await hooks.get(
            f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", params={"status": "failed"}, headers=agency
        )
    ).json()["items"] == [failed]

    redelivered = await hooks.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{failed['id']}/redeliver", headers=agency
    )
    assert redelivered.status_code == 202
    assert (redelivered.json()["status"], redelivered.json()["attempts_made"]) == ("pending", 0)
    assert await drain(hook_app) == 1
    [history] = await deliveries(hooks, agency, endpoint["id"])
    assert history["status"] == "succeeded"
    assert [attempt["response_status"] for attempt in history["attempts"]] == [500, 502, 500, 200]
    assert {delivery.webhook_id for delivery in receiver.received} == {failed["id"]}
    assert list(receiver.processed) == [failed["id"]]
    missing = await hooks.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/00000000-0000-0000-0000-000000000000/redeliver",
        headers=agency,
    )
    assert missing.status_code == 404


async def test_retry_after_is_honoured_on_429_and_503(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    endpoint = await register_endpoint(hooks, receiver, agency)
    receiver.answer(
        Answer(503, {"Retry-After": "120"}), Answer(429, {"Retry-After": "3600"}), Answer(503, {"Retry-After": "86400"})
    )
    await submit(hooks, tokens, baseline_request())
    # Retry-After may put an attempt off, never further than the schedule's longest wait
    # (here two hours, after a fourth attempt).
    settings = hook_app.state.wiring.settings.model_copy(update={"webhook_retry_schedule": [0, 0, 0, 0, 7200]})

    assert await drain(hook_app, settings=settings) == 1  # the next attempt is not due for two minutes
    [waiting] = await deliveries(hooks, agency, endpoint["id"])
    attempted = datetime.fromisoformat(waiting["attempts"][0]["attempted_at"])
    assert waiting["status"] == "pending"
    assert datetime.fromisoformat(waiting["next_attempt_at"]) - attempted >= timedelta(seconds=120)

    assert await drain(hook_app, settings=settings, now=utcnow() + timedelta(seconds=121)) == 1
    [waiting] = await deliveries(hooks, agency, endpoint["id"])
    assert datetime.fromisoformat(waiting["next_attempt_at"]) - datetime.fromisoformat(
        waiting["attempts"][1]["attempted_at"]
    ) >= timedelta(hours=1)

    assert await drain(hook_app, settings=settings, now=utcnow() + timedelta(hours=1, seconds=121)) == 1
    [waiting] = await deliveries(hooks, agency, endpoint["id"])
    capped = datetime.fromisoformat(waiting["next_attempt_at"]) - datetime.fromisoformat(
        waiting["attempts"][2]["attempted_at"]
    )
    assert timedelta(hours=2) <= capped < timedelta(hours=2, seconds=5)
    assert [attempt["response_status"] for attempt in waiting["attempts"]] == [503, 429, 503]


async def test_redirects_are_not_followed(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    endpoint = await register_endpoint(hooks, receiver, agency)
    receiver.secrets["/elsewhere"] = receiver.secrets["/hook"]
    receiver.answer(*[Answer(307, {"Location": receiver.url("/elsewhere")})] * 3)
    await submit(hooks, tokens, baseline_request())

    assert await drain(hook_app) == 3
    assert {delivery.path for delivery in receiver.received} == {"/hook"}
    [history] = await deliveries(hooks, agency, endpoint["id"])
    assert history["status"] == "failed"
    assert [attempt["response_status"] for attempt in history["attempts"]] == [307, 307, 307]


async def test_410_disables_the_endpoint(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    endpoint = await register_endpoint(hooks, receiver, agency)
    receiver.answer(410)
    await submit(hooks, tokens, baseline_request())

    assert await drain(hook_app) == 1
    gone = (await hooks.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=agency)).json()
    assert (gone["enabled"], gone["disabled_reason"]) == (False, "receiver_answered_410")
    [failed] = await deliveries(hooks, agency, endpoint["id"])
    assert (failed["status"], len(failed["attempts"])) == ("failed", 1)

    await submit(hooks, tokens, baseline_request())
    assert await drain(hook_app) == 0
    assert len(await deliveries(hooks, agency, endpoint["id"])) == 1  # a disabled endpoint is not subscribed
    refused = await hooks.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{failed['id']}/redeliver", headers=agency
    )
    assert refused.status_code == 409

    enabled = await hooks.patch(f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": True}, headers=agency)
    assert (enabled.json()["enabled"], enabled.json()["disabled_reason"]) == (True, None)
    await submit(hooks, tokens, baseline_request())
    assert await drain(hook_app) == 1
    assert len(receiver.processed) == 1


async def test_an_agency_never_sees_or_receives_another_agencys_webhooks(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    await register_organisation(hooks, tokens, "LA-NSH", type="local_authority")
    mine, theirs = tokens.agency("RXT01"), tokens.agency("LA-NSH")
    my_endpoint = await register_endpoint(hooks, receiver, mine, "/rxt01")
    their_endpoint = await register_endpoint(hooks, receiver, theirs, "/la-nsh")
    controller = await register_endpoint(hooks, receiver, tokens.admin(), "/controller")
    assert controller["scope"] == "controller"

    mine_request = (await submit(hooks, tokens, baseline_request(), org="RXT01")).json()
    their_request = (await submit(hooks, tokens, changed({"recipient.onward_sharing": True}), org="LA-NSH")).json()
    assert await drain(hook_app) == 4

    assert [delivery.payload["data"]["id"] for delivery in receiver.at("/rxt01")] == [mine_request["id"]]
    assert [delivery.payload["data"]["id"] for delivery in receiver.at("/la-nsh")] == [their_request["id"]]
    assert {delivery.payload["data"]["id"] for delivery in receiver.at("/controller")} == {
        mine_request["id"],
        their_request["id"],
    }
    assert all(delivery.verified for delivery in receiver.received)

    base = f"/v1/webhook-endpoints/{my_endpoint['id']}"
    [my_delivery] = await deliveries(hooks, mine, my_endpoint["id"])
    for method, path, body in (
        ("GET", base, None),
        ("PATCH", base, {"enabled": False}),
        ("POST", f"{base}/rotate-secret", None),
        ("GET", f"{base}/deliveries", None),
        ("POST", f"{base}/deliveries/{my_delivery['id']}/redeliver", None),
        ("DELETE", base, None),
    ):
        response = await hooks.request(method, path, json=body, headers=theirs)
        assert response.status_code == 404, (method, path)
        assert response.headers["content-type"] == "application/problem+json"
    # Nor can one agency reach another's delivery through its own endpoint.
    cross = await hooks.post(
        f"/v1/webhook-endpoints/{their_endpoint['id']}/deliveries/{my_delivery['id']}/redeliver", headers=theirs
    )
    assert cross.status_code == 404
    assert [row["id"] for row in (await hooks.get("/v1/webhook-endpoints", headers=theirs)).json()["items"]] == [
        their_endpoint["id"]
    ]
    assert [
        row["id"] for row in (await hooks.get("/v1/webhook-endpoints", headers=tokens.admin())).json()["items"]
    ] == [controller["id"]]
    assert (await hooks.get(f"/v1/webhook-endpoints/{my_endpoint['id']}", headers=mine)).json()["enabled"] is True

    for role in (Role.GUARDIAN, Role.AUDITOR):
        other = tokens.headers("CONTROLLER", role)
        assert (await hooks.get("/v1/webhook-endpoints", headers=other)).status_code == 403
        assert (
            await hooks.post(
                "/v1/webhook-endpoints", json={"url": receiver.url(), "event_types": ALL_EVENTS}, headers=other
            )
        ).status_code == 403
    unregistered = await hooks.post(
        "/v1/webhook-endpoints",
        json={"url": receiver.url(), "event_types": ALL_EVENTS},
        headers=tokens.agency("NOBODY"),
    )
    assert unregistered.status_code == 403


async def test_a_worker_killed_after_sending_leads_to_redelivery_and_the_receiver_deduplicates(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    endpoint = await register_endpoint(hooks, receiver, agency)
    await submit(hooks, tokens, baseline_request())
    settings, sessionmaker = hook_app.state.wiring.settings, hook_app.state.wiring.sessionmaker

    [job] = await delivery.claim(sessionmaker=sessionmaker, settings=settings, worker_id="doomed", now=utcnow())
    async with delivery.new_client(settings) as client:
        sent = await delivery.send(client=client, settings=settings, job=job)
    assert sent.succeeded and len(receiver.processed) == 1
    # The worker dies here: the result is never recorded, and its lease still holds the delivery.
    assert await drain(hook_app) == 0

    assert await drain(hook_app, now=utcnow() + timedelta(seconds=settings.webhook_lease_seconds + 1)) == 1
    assert [delivery.webhook_id for delivery in receiver.received] == [job.delivery_id, job.delivery_id]
    assert all(delivery.verified for delivery in receiver.received)
    assert list(receiver.processed) == [job.delivery_id]
    [history] = await deliveries(hooks, agency, endpoint["id"])
    assert (history["status"], len(history["attempts"])) == ("succeeded", 1)


SUBMISSIONS = 40  # each a delivery to each of two endpoints


async def test_two_workers_never_deliver_the_same_attempt_twice(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI, database_url: str
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    await register_endpoint(hooks, receiver, tokens.agency("RXT01"), "/one")
    await register_endpoint(hooks, receiver, tokens.admin(), "/two")
    # Enough deliveries that the second worker's first claim comes while the first is
    # still busy, however loaded the machine.
    for index in range(SUBMISSIONS):
        assert (await submit(hooks, tokens, changed({"reference": f"R{index}"}))).status_code == 201
    settings = hook_app.state.wiring.settings.model_copy(update={"webhook_batch_size": 2})

    # Two workers with engines of their own, as two processes would have.
    engines = [make_engine(database_url), make_engine(database_url)]
    try:
        claimed = await asyncio.gather(
            *(
                delivery.drain(sessionmaker=make_sessionmaker(engine), settings=settings, worker_id=f"worker-{index}")
                for index, engine in enumerate(engines)
            )
        )
    finally:
        for engine in engines:
            await engine.dispose()

    assert sum(claimed) == 2 * SUBMISSIONS and all(count > 0 for count in claimed), claimed
    sent = Counter(delivery.webhook_id for delivery in receiver.received)
    assert len(sent) == 2 * SUBMISSIONS and set(sent.values()) == {1}
    async with hook_app.state.wiring.sessionmaker() as session:
        attempts = Counter((await session.exec(select(WebhookAttempt.delivery_id))).all())
        statuses = set((await session.exec(select(WebhookDelivery.status))).all())
    assert len(attempts) == 2 * SUBMISSIONS and set(attempts.values()) == {1}
    assert statuses == {"succeeded"}


async def test_rotation_signs_with_both_secrets_for_24_hours(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    endpoint = await register_endpoint(hooks, receiver, agency)
    rotated = await hooks.post(f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=agency)
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != endpoint["secret"]
    expires = datetime.fromisoformat(rotated.json()["previous_secret_expires_at"])
    assert timedelta(hours=23, minutes=59) < expires - utcnow() <= timedelta(hours=24)

    await submit(hooks, tokens, baseline_request())
    assert await drain(hook_app) == 1
    [received] = receiver.received
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    for secret in (endpoint["secret"], new_secret):
        Webhook(secret).verify(received.body, received.headers)

    async with hook_app.state.wiring.sessionmaker() as session:
        stored = await session.get(WebhookEndpoint, endpoint["id"])
        assert stored is not None
    assert webhooks.signing_secrets(stored, now=utcnow()) == [new_secret, endpoint["secret"]]
    assert webhooks.signing_secrets(stored, now=utcnow() + timedelta(hours=24, seconds=1)) == [new_secret]


async def test_endpoint_input_is_validated_field_by_field(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    good = {"url": receiver.url(), "event_types": ["sharing_request.decided"]}
    cases = [
        (good | {"url": "not a url"}, "url"),
        (good | {"url": "ftp://127.0.0.1/hook"}, "url"),
        (good | {"url": "http://user:pw@127.0.0.1/hook"}, "url"),
        (good | {"url": ""}, "url"),
        (good | {"event_types": ["sharing_request.lost"]}, "event_types[0]"),
        (good | {"event_types": []}, "event_types"),
        (good | {"description": "x" * 501}, "description"),
        (good | {"secret": "whsec_mine"}, "secret"),
        ({"event_types": ["sharing_request.decided"]}, "url"),
    ]
    for body, field in cases:
        response = await hooks.post("/v1/webhook-endpoints", json=body, headers=agency)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["field"] == field, (body, response.json())

    endpoint = await register_endpoint(
        hooks, receiver, agency, event_types=["sharing_request.decided", "sharing_request.decided"]
    )
    assert endpoint["event_types"] == ["sharing_request.decided"]
    base = f"/v1/webhook-endpoints/{endpoint['id']}"
    for body, field in (
        ({"enabled": "no"}, "enabled"),
        ({"event_types": []}, "event_types"),
        ({"url": receiver.url("/x")}, "url"),
    ):
        response = await hooks.patch(base, json=body, headers=agency)
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == field, response.text
    for params, field in (({"cursor": "nonsense"}, "cursor"), ({"status": "lost"}, "status"), ({"limit": 0}, "limit")):
        response = await hooks.get(f"{base}/deliveries", params=params, headers=agency)
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == field, response.text

    changed_types = await hooks.patch(
        base, json={"event_types": ["sharing_request.referred", "sharing_request.withdrawn"]}, headers=agency
    )
    assert changed_types.json()["event_types"] == ["sharing_request.referred", "sharing_request.withdrawn"]
    disabled = await hooks.patch(base, json={"enabled": False}, headers=agency)
    assert (disabled.json()["enabled"], disabled.json()["disabled_reason"]) == (False, "disabled_by_owner")
    assert (await hooks.delete(base, headers=agency)).status_code == 204
    assert (await hooks.get(base, headers=agency)).status_code == 404
    assert (await hooks.get(f"{base}/deliveries", headers=agency)).status_code == 404


async def test_deliveries_are_paged_newest_first(hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    endpoint = await register_endpoint(hooks, receiver, agency)
    requests = [(await submit(hooks, tokens, changed({"reference": f"R{index}"}))).json()["id"] for index in range(5)]

    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await hooks.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", params=params, headers=agency)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [row["request_id"] for row in page["items"]]
        assert all(row["status"] == "pending" and row["attempts"] == [] for row in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(requests))


SSRF_URLS = [
    "http://127.0.0.1:8080/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
    "http://localhost/hook",
]


async def test_private_addresses_are_refused_at_registration(client: httpx.AsyncClient, tokens: Tokens) -> None:
    # The shared `client` app runs with the default: private addresses not allowed.
    await register_organisation(client, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    for url in SSRF_URLS:
        response = await client.post(
            "/v1/webhook-endpoints", json={"url": url, "event_types": ALL_EVENTS}, headers=agency
        )
        assert response.status_code == 422, (url, response.text)
        assert response.json()["errors"][0]["field"] == "url"
        assert "not a public address" in response.json()["errors"][0]["message"], url
    # A public address is accepted (nothing is sent to it here).
    public = await client.post(
        "/v1/webhook-endpoints", json={"url": "https://93.184.215.14/hook", "event_types": ALL_EVENTS}, headers=agency
    )
    assert public.status_code == 201, public.text


async def test_private_addresses_are_refused_again_at_send_time(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    endpoint = await register_endpoint(hooks, receiver, agency)
    await submit(hooks, tokens, baseline_request())

    strict = hook_app.state.wiring.settings.model_copy(update={"webhook_allow_private": False})
    assert await drain(hook_app, settings=strict) == 3
    assert receiver.received == []
    [history] = await deliveries(hooks, agency, endpoint["id"])
    assert history["status"] == "failed"
    assert all(
        attempt["response_status"] is None and "127.0.0.1" in attempt["error"] for attempt in history["attempts"]
    )


def test_which_addresses_count_as_public() -> None:
    refused = [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
    ]
    refused += [
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        "2002:7f00:1::1",
        "2002:a00:1::1",
        "64:ff9b::7f00:1",
    ]
    for address in refused:
        assert not egress.is_public(ipaddress.ip_address(address)), address
    for address in ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]:
        assert egress.is_public(ipaddress.ip_address(address)), address


def test_production_sends_only_to_https(tmp_path: Path) -> None:
    production = production_settings(tmp_path)
    with pytest.raises(egress.DestinationRefused, match="https"):
        egress.parse_url("http://93.184.215.14/hook", settings=production)
    assert egress.parse_url("https://93.184.215.14/hook", settings=production).scheme == "https"
    with pytest.raises(ValueError, match="at once"):
        settings_for("sqlite+aiosqlite:///:memory:", webhook_retry_schedule=[5, 10])


async def test_the_sender_connects_to_the_checked_address_with_the_real_host_name() -> None:
    settings = settings_for("sqlite+aiosqlite:///:memory:", webhook_allow_private=True)
    plain = await egress.resolve("http://localhost:8080/hook?x=1", settings=settings)
    assert ipaddress.ip_address(plain.url.host).is_loopback
    assert (plain.host_header, plain.url.port, plain.url.path, plain.url.query, plain.sni_hostname) == (
        "localhost:8080",
        8080,
        "/hook",
        b"x=1",
        None,
    )
    secure = await egress.resolve("https://localhost/hook", settings=settings)
    assert (secure.host_header, secure.sni_hostname) == ("localhost", "localhost")
    literal = await egress.resolve("https://[::1]:8443/hook", settings=settings)
    assert (str(literal.url), literal.host_header, literal.sni_hostname) == (
        "https://[::1]:8443/hook",
        "[::1]:8443",
        None,
    )


async def test_the_worker_command_drains_the_outbox(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, database_url: str
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    await register_endpoint(hooks, receiver, tokens.agency("RXT01"))
    await submit(hooks, tokens, baseline_request())

    clean = {key: value for key, value in os.environ.items() if not key.startswith("CALDICOTT_")}
    env = clean | {
        "PYTHONPATH": str(REPO),
        "CALDICOTT_DATABASE_URL": database_url,
        "CALDICOTT_WEBHOOK_ALLOW_PRIVATE": "true",
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app.cli", "worker", "--once"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "webhook attempts made: 1" in done.stdout
    assert len(receiver.processed) == 1 and all(delivery.verified for delivery in receiver.received)


async def test_the_worker_can_run_inside_serve(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, database_url: str
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    await register_endpoint(hooks, receiver, tokens.agency("RXT01"))
    serving = create_app(
        settings_for(database_url, webhook_allow_private=True, webhook_worker_in_serve=True, webhook_poll_seconds=0.05)
    )
    async with serving.router.lifespan_context(serving):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=serving), base_url="http://testserver") as http:
            assert (await submit(http, tokens, baseline_request())).status_code == 201
        for _ in range(600):  # wait for the background worker, at most a minute
            if receiver.processed:
                break
            await asyncio.sleep(0.1)
    assert len(receiver.processed) == 1
    assert all(delivery.verified for delivery in receiver.received)


async def test_a_policy_activation_reaches_every_subscriber_signed(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    controller = await register_endpoint(
        hooks, receiver, tokens.admin(), path="/controller", event_types=["policy.activated"]
    )
    agency = await register_endpoint(
        hooks, receiver, tokens.agency("RXT01"), path="/agency", event_types=["policy.activated"]
    )
    await register_endpoint(
        hooks, receiver, tokens.agency("RXT01"), path="/decisions-only", event_types=["sharing_request.decided"]
    )

    activated = await hooks.post("/v1/policies/uk-caldicott-baseline/2028.2/activate", headers=tokens.admin())
    assert activated.status_code == 200, activated.text
    assert await drain(hook_app) == 2

    assert sorted(received.path for received in receiver.received) == ["/agency", "/controller"]
    for received, endpoint in zip(sorted(receiver.received, key=lambda r: r.path), (agency, controller), strict=True):
        assert received.verified
        Webhook(endpoint["secret"]).verify(received.body, received.headers)
        assert received.payload["type"] == "policy.activated"
        assert received.payload["data"] == {
            "name": "uk-caldicott-baseline",
            "version": "2028.2",
            "content_hash": activated.json()["content_hash"],
            "link": "/v1/policies/uk-caldicott-baseline/2028.2",
        }
    [history] = await deliveries(hooks, tokens.admin(), controller["id"])
    assert (history["event_type"], history["request_id"], history["status"]) == ("policy.activated", None, "succeeded")


async def test_a_test_event_goes_signed_to_that_endpoint_alone(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    for code in ("RXT01", "RXT02"):
        await register_organisation(hooks, tokens, code)
    agency = tokens.agency("RXT01")
    endpoint = await register_endpoint(hooks, receiver, agency, event_types=["sharing_request.withdrawn"])
    await register_endpoint(hooks, receiver, agency, path="/other")
    tested = await hooks.post(f"/v1/webhook-endpoints/{endpoint['id']}/test", headers=agency)
    assert tested.status_code == 202, tested.text
    delivery_sent = tested.json()
    assert (delivery_sent["event_type"], delivery_sent["status"], delivery_sent["request_id"]) == (
        "webhook.test",
        "pending",
        None,
    )
    assert await drain(hook_app) == 1
    [received] = receiver.received
    assert (received.path, received.verified, received.webhook_id) == ("/hook", True, delivery_sent["id"])
    assert received.payload["type"] == "webhook.test"
    assert received.payload["data"] == {
        "endpoint_id": endpoint["id"],
        "link": f"/v1/webhook-endpoints/{endpoint['id']}",
    }
    [history] = await deliveries(hooks, agency, endpoint["id"])
    assert (history["id"], history["status"]) == (delivery_sent["id"], "succeeded")
    assert (await hooks.get("/v1/events", headers=agency)).json()["items"] == []  # not an event about anything

    auditor = tokens.headers("CONTROLLER", Role.AUDITOR)
    trail = (await hooks.get("/v1/audit/events", params={"action": "webhook_test_sent"}, headers=auditor)).json()
    assert [(event["target_id"], event["outcome"]) for event in trail["items"]] == [
        (endpoint["id"], f"delivery {delivery_sent['id']}")
    ]
    other = await hooks.post(f"/v1/webhook-endpoints/{endpoint['id']}/test", headers=tokens.agency("RXT02"))
    assert other.status_code == 404
    await hooks.patch(f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": False}, headers=agency)
    assert (await hooks.post(f"/v1/webhook-endpoints/{endpoint['id']}/test", headers=agency)).status_code == 409
