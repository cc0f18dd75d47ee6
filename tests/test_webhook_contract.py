"""The `webhooks` section of the contract:
one POST per event type, and every payload the service really writes matches it.

Every event type is made through the service as a partner would meet it (HTTP calls, the worker's
overdue sweep, the agreement check), on both databases; each payload stored in the outbox is then
validated against the schema the published document gives for its type, formats included.
"""

import copy
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import jsonschema_rs
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import select

from app.canonical import canonical_json
from app.main import create_app
from app.models.sharing_request import Decision, SharingRequest
from app.models.vocabulary import Role
from app.models.webhook import OutboxEvent, WebhookEventType
from app.models.webhook_payloads import CATALOGUE, EVENT_MODELS, RequestEventData
from app.services.agreements import notices as agreement_notices
from app.services.audit import checkpoints
from app.services.review import queue
from app.services.webhooks import outbox
from tests.factories import (
    COURT_ORDER,
    EMERGENCY,
    EPR_ASSET,
    REFERRED,
    register_agreement,
    register_organisation,
    submit,
)
from tests.rules.baseline import changed
from tests.support import Tokens, settings_for
from tests.test_attachments import PDF
from tests.test_incidents import incident, made_disclosure

SERVED = create_app(settings_for("sqlite+aiosqlite:///:memory:")).openapi()
HEADERS = {"webhook-id", "webhook-timestamp", "webhook-signature"}
RATIONALE = "Weighed the purpose against the duty of confidence; the recipient team is named and small."
CONSENT_REFUSED = {
    "legal_basis.confidentiality": "overriding_public_interest",
    "consent.status": "refused",
}  # a panel may be asked


def schema_of(event_type: str) -> dict[str, Any]:
    """The published body schema of one event type,
    with the document's components beside it so that its references resolve."""
    body = SERVED["webhooks"][event_type]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return body | {"components": SERVED["components"]}


def validator(event_type: str) -> Any:
    """A JSON Schema 2020-12 validator of the published body, checking formats (date-time, date) too."""
    return jsonschema_rs.Draft202012Validator(schema_of(event_type), validate_formats=True)


def sent(payload: dict[str, Any]) -> Any:
    """The payload as a receiver reads it: the delivery's body, parsed."""
    return json.loads(canonical_json(payload))


def problems_with(payload: dict[str, Any], event_type: str) -> list[str]:
    """Why the payload does not match the published schema of its type; empty when it does."""
    return [f"{list(error.instance_path)}: {error.message}" for error in validator(event_type).iter_errors(payload)]


@pytest.mark.parametrize("event_type", list(WebhookEventType), ids=str)
def test_every_event_type_is_a_documented_post(event_type: WebhookEventType) -> None:
    operation = SERVED["webhooks"][event_type.value]["post"]
    assert operation["summary"] == CATALOGUE[event_type].what_happened and "webhook-id" in operation["description"]
    assert {(parameter["name"], parameter["in"], parameter["required"]) for parameter in operation["parameters"]} == {
        (name, "header", True) for name in HEADERS
    }
    assert operation["requestBody"]["required"] is True
    schema = SERVED["components"]["schemas"][EVENT_MODELS[event_type].__name__]
    assert schema["properties"]["type"]["const"] == event_type.value
    assert schema["required"] == ["type", "timestamp", "data"] and schema["additionalProperties"] is False
    assert schema["properties"]["data"]["$ref"] == f"#/components/schemas/{CATALOGUE[event_type].data.__name__}"
    responses = operation["responses"]
    assert {"204", "410", "429", "503", "default"} == responses.keys() and "2xx" in responses["204"]["description"]
    assert all("content" not in response for response in responses.values())  # the worker reads no body as a result


def test_the_section_has_exactly_the_event_types() -> None:
    assert set(SERVED["webhooks"]) == {event_type.value for event_type in WebhookEventType}
    assert SERVED["openapi"].startswith("3.1")


def test_the_schema_refuses_what_the_service_does_not_send() -> None:
    good = {
        "type": "policy.activated",
        "timestamp": "2026-11-26T14:05:00.000000Z",
        "data": {
            "name": "uk-caldicott-baseline",
            "version": "2027.1",
            "content_hash": "ab" * 32,
            "link": "/v1/policies/uk-caldicott-baseline/2027.1",
        },
    }
    assert problems_with(good, "policy.activated") == []
    extra, missing, wrong_type, bad_time = (copy.deepcopy(good) for _ in range(4))
    extra["data"]["subject"] = "943 476 5919"
    del missing["data"]["content_hash"]
    wrong_type["type"] = "sharing_request.decided"
    bad_time["timestamp"] = "yesterday"
    for payload in (extra, missing, wrong_type, bad_time):
        assert problems_with(payload, "policy.activated"), payload


async def make_every_event(client: httpx.AsyncClient, tokens: Tokens, app: FastAPI) -> None:
    """Drive the service through every kind of event: requests decided and referred, every review path,
    a policy, agreement notices."""
    for code, kind in (("RXT01", "nhs_trust"), ("LA-NSH", "local_authority"), ("OWN01", "nhs_trust")):
        await register_organisation(client, tokens, code, type=kind)
    await make_evidence_events(client, tokens)
    await make_review_events(client, tokens)
    await make_ready_to_disclose(client, tokens)
    await make_disclosed(client, tokens)
    await make_worker_events(client, tokens, app)
    await make_test_event(client, tokens)
    await make_incident_events(client, tokens)


async def make_incident_events(client: httpx.AsyncClient, tokens: Tokens) -> None:
    """An incident recorded against a disclosure made: incident.recorded and sharing_request.recall_requested."""
    body = incident(await made_disclosure(client, tokens))
    recorded = await client.post("/v1/incidents", json=body, headers=tokens.headers("CONTROLLER", Role.DPO))
    assert recorded.status_code == 201, recorded.text


async def make_disclosed(client: httpx.AsyncClient, tokens: Tokens) -> None:
    """sharing_request.disclosed: an asset holding the approved items, its disclosure recorded as sent."""
    asset = EPR_ASSET | {"data_categories": ["demographics"]}
    assert (await client.post("/v1/information-assets", json=asset, headers=tokens.admin())).status_code == 201
    request_id = await submitted(client, tokens, {}, "approved")
    iao = tokens.headers("CONTROLLER", Role.IAO, sub="iao-1")
    [pending] = (await client.get(f"/v1/sharing-requests/{request_id}/disclosures", headers=iao)).json()["items"]
    body = {
        "outcome": "disclosed",
        "items": ["demographics"],
        "channel": "mesh",
        "disclosed_at": datetime.now(UTC).isoformat(),
    }
    recorded = await client.post(f"/v1/disclosures/{pending['id']}/record", json=body, headers=iao)
    assert recorded.status_code == 200, recorded.text


async def make_test_event(client: httpx.AsyncClient, tokens: Tokens) -> None:
    """webhook.test, to an endpoint registered for it (nothing is sent here)."""
    agency = tokens.agency("RXT01")
    endpoint = await client.post(
        "/v1/webhook-endpoints",
        json={"url": "https://93.184.215.14/hook", "event_types": ["sharing_request.decided"]},
        headers=agency,
    )
    assert endpoint.status_code == 201, endpoint.text
    tested = await client.post(f"/v1/webhook-endpoints/{endpoint.json()['id']}/test", headers=agency)
    assert tested.status_code == 202, tested.text


async def act(
    client: httpx.AsyncClient,
    request_id: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
    status: int = 200,
) -> None:
    """POST one action on a request and check it was done."""
    response = await client.post(f"/v1/sharing-requests/{request_id}/{path}", json=body, headers=headers)
    assert response.status_code == status, response.text


async def submitted(client: httpx.AsyncClient, tokens: Tokens, changes: dict[str, Any], status: str) -> str:
    """Submit the baseline request with these changes, check its status; its id."""
    response = await submit(client, tokens, changed(changes))
    assert (response.status_code, response.json()["status"]) == (201, status), response.text
    return str(response.json()["id"])


async def make_evidence_events(client: httpx.AsyncClient, tokens: Tokens) -> None:
    """A request decided, evidence attached to it, and a guardian's verification of that evidence."""
    agency, guardian = tokens.agency("RXT01"), tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")
    approved = await submitted(client, tokens, {}, "approved")  # decided
    files = {"file": ("order.pdf", PDF, "application/pdf")}
    uploaded = await client.post(
        f"/v1/sharing-requests/{approved}/attachments", data={"kind": "court_order"}, files=files, headers=agency
    )
    assert uploaded.status_code == 201, uploaded.text  # attachment_added
    checked = {"outcome": "rejected", "checked": "A typed page headed 'court order': no seal, no court, no number."}
    order = {
        "issued_by": "unknown",
        "issued_on": "2026-11-20",
        "number": "none",
        "sealed_or_signed": False,
        "in_date": False,
    }
    order |= {"addressed_to_controller": False, "covers_information": False}
    await act(
        client,
        approved,
        f"attachments/{uploaded.json()['id']}/verifications",
        guardian,
        checked | {"order": order},
        status=201,
    )  # evidence_verified


async def make_review_events(client: httpx.AsyncClient, tokens: Tokens) -> None:
    """Every review path: a referral reviewed after information and an opinion were asked for, a withdrawal, a
    retrospective review, a reconsideration and a panel."""
    agency = tokens.agency("RXT01")
    guardian, second = (
        tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1"),
        tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-2"),
    )
    asked = await submitted(client, tokens, REFERRED, "awaiting_review")  # referred
    await act(client, asked, "claim", guardian)
    await act(
        client, asked, "review", guardian, {"outcome": "request_information", "rationale": RATIONALE}
    )  # information_requested
    await act(
        client,
        asked,
        "amendments",
        agency,
        {"request": changed(REFERRED | {"reference": "v2"}), "note": "The onward recipient is the MASH."},
    )
    await act(client, asked, "claim", guardian)
    question = {
        "proposed_outcome": "approve",
        "question": "The onward sharing is to the MASH only: do you agree it may go?",
    }
    await act(client, asked, "opinions/requests", guardian, question, status=201)  # opinion_requested
    await act(client, asked, "review", guardian, {"outcome": "approve", "rationale": RATIONALE})  # reviewed

    await act(client, await submitted(client, tokens, REFERRED, "awaiting_review"), "withdraw", agency)  # withdrawn

    shared = await submitted(client, tokens, EMERGENCY, "approved_with_conditions")
    await act(client, shared, "claim", guardian)
    await act(
        client, shared, "retrospective-review", guardian, {"outcome": "upheld", "rationale": RATIONALE}
    )  # retrospective_review_completed

    refused = await submitted(client, tokens, {"recipient.storage_region": "other"}, "refused")
    grounds = "The recipient now stores the record in the UK, answering the reason given."
    await act(client, refused, "reconsideration", agency, {"grounds": grounds}, status=201)
    await act(client, refused, "claim", second)
    await act(
        client, refused, "reconsideration/decision", second, {"outcome": "upheld", "rationale": RATIONALE}
    )  # reconsideration_requested, reconsidered

    panelled = await submitted(client, tokens, CONSENT_REFUSED, "awaiting_review")
    await act(client, panelled, "claim", guardian)
    members = [
        {"sub": "guardian-2", "org": "CONTROLLER"},
        {"sub": "guardian-3", "org": "CONTROLLER"},
    ]  # a panel sits the controller's guardians
    reason = "Approving would override a capable adult's refusal of consent."
    await act(client, panelled, "panel", guardian, {"reason": reason, "members": members}, status=201)


async def make_ready_to_disclose(client: httpx.AsyncClient, tokens: Tokens) -> None:
    """A court order: its controller's check recorded done by the controller's IG manager makes it ready to disclose."""
    await register_organisation(client, tokens, "POL01", type="police")
    court = await submit(client, tokens, changed(COURT_ORDER), org="POL01")
    assert court.json()["status"] == "approved_with_conditions", court.text
    checked = {"outcome": "done", "checked": "Sealed order 2028/123 seen; it covers the diagnoses asked for."}
    ig_manager = tokens.headers("CONTROLLER", Role.IG_MANAGER)
    await act(
        client, court.json()["id"], "controller-checks/CP6.court_order_verified", ig_manager, checked
    )  # ready_to_disclose


async def make_worker_events(client: httpx.AsyncClient, tokens: Tokens, app: FastAPI) -> None:
    """What the worker and an admin make: an overdue request, a policy activated, agreement notices, a checkpoint."""
    late = await submitted(client, tokens, REFERRED, "awaiting_review")
    async with app.state.wiring.sessionmaker() as session:
        await session.exec(
            update(SharingRequest)
            .where(SharingRequest.id == late)
            .values(due_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        assert await queue.flag_overdue(session=session) == 1  # overdue, as the worker's sweep finds it
        await session.commit()

    policies = (await client.get("/v1/policies", headers=tokens.admin())).json()["items"]
    inactive = next(policy for policy in policies if not policy["active"] and not policy["replay_only"])
    activated = await client.post(
        f"/v1/policies/{inactive['name']}/{inactive['version']}/activate", headers=tokens.admin()
    )
    assert activated.status_code == 200, activated.text  # policy.activated

    today = date(2031, 12, 10)
    await register_agreement(
        client, tokens, code="ISA-NEAR", owner="OWN01", valid_until="2031-12-31", review_date="2031-12-01"
    )
    sent = await agreement_notices.check(app.state.wiring.sessionmaker, today=today)
    assert {str(notice.kind) for notice in sent} == {
        "review_due",
        "expiring",
    }  # sharing_agreement.review_due and .expiring

    signing = app.state.wiring.settings.audit_keys(sign=True)  # the worker's keys: this app only publishes them
    assert (
        await checkpoints.make(app.state.wiring.sessionmaker, keys=signing, log_name="CONTROLLER") is not None
    )  # audit.checkpoint


async def stored_events(app: FastAPI) -> list[OutboxEvent]:
    """Every event in the outbox, oldest first."""
    async with app.state.wiring.sessionmaker() as session:
        return list((await session.exec(select(OutboxEvent).order_by(OutboxEvent.created_at))).all())


async def test_every_payload_the_service_writes_matches_the_published_schema(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await make_every_event(client, tokens, app)
    events = await stored_events(app)
    assert {event.type for event in events} == set(WebhookEventType), (
        "an event type was not made: the check below would not cover it"
    )
    for event in events:
        assert problems_with(sent(event.payload), event.type) == [], (event.type, event.payload)
        EVENT_MODELS[WebhookEventType(event.type)].model_validate(
            event.payload
        )  # the models say the same as their schema


async def test_every_request_event_type_built_from_a_real_request_matches(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    # The payload of every request event, however it is reached, comes from one function:
    # built here for each type from stored rows.
    await register_organisation(client, tokens, "RXT01")
    for changes in ({}, REFERRED):
        response = await submit(client, tokens, changed(changes))
        async with app.state.wiring.sessionmaker() as session:
            request = await session.get(SharingRequest, response.json()["id"])
            decision = (await session.exec(select(Decision).where(Decision.request_id == request.id))).one()
        for event_type in (event_type for event_type, kind in CATALOGUE.items() if kind.data is RequestEventData):
            for with_decision in (decision, None):
                payload = outbox.payload(
                    event_type=event_type, request=request, decision=with_decision, now=datetime.now(UTC), sequence=2
                )
                assert problems_with(sent(payload), event_type) == [], payload
