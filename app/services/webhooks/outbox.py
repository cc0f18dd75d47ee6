"""The transactional outbox: an event and one delivery per subscribed endpoint, written in the caller's transaction."""

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.actions import RequestAction
from app.models.base import utcnow
from app.models.sharing_request import Decision, SharingRequest, new_id, ready_to_disclose
from app.models.vocabulary import SAFEGUARDING_PURPOSES, RequestStatus
from app.models.webhook import (
    DeliveryStatus,
    EndpointScope,
    OutboxEvent,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventSequence,
    WebhookEventType,
)
from app.platform import driver, tracing, writes
from app.rules import Policy

EVENT_FOR_ACTION = {
    RequestAction.REVIEWED: WebhookEventType.REVIEWED,
    RequestAction.INFORMATION_REQUESTED: WebhookEventType.INFORMATION_REQUESTED,
    RequestAction.WITHDRAWN: WebhookEventType.WITHDRAWN,
    RequestAction.RETROSPECTIVE_REVIEWED: WebhookEventType.RETROSPECTIVE_REVIEW_COMPLETED,
    RequestAction.OVERDUE: WebhookEventType.OVERDUE,
    RequestAction.RECONSIDERATION_REQUESTED: WebhookEventType.RECONSIDERATION_REQUESTED,
    RequestAction.RECONSIDERED: WebhookEventType.RECONSIDERED,
    RequestAction.OPINION_REQUESTED: WebhookEventType.OPINION_REQUESTED,
    RequestAction.PANEL_OPENED: WebhookEventType.PANEL_OPENED,
    RequestAction.PANEL_DECIDED: WebhookEventType.REVIEWED,  # a panel's decision is a guardians' review like any other
    RequestAction.ATTACHMENT_ADDED: WebhookEventType.ATTACHMENT_ADDED,
    RequestAction.EVIDENCE_VERIFIED: WebhookEventType.EVIDENCE_VERIFIED,
    # Back in the guardian queue, for a retrospective review
    RequestAction.UNVERIFIED_EVIDENCE_LISTED: WebhookEventType.REFERRED,
    RequestAction.CONTROLLER_CHECK_FAILED: WebhookEventType.REFERRED,  # back to the guardian queue, as a referral
    RequestAction.CONTROLLER_CHECK_OVERDUE: WebhookEventType.OVERDUE,
}


# The events of a decision that stands (a first decision, or a review of one): a safeguarding request's also tells the
# controller's safeguarding leads.
DECISION_EVENTS = frozenset(
    {
        WebhookEventType.DECIDED,
        WebhookEventType.REVIEWED,
        WebhookEventType.RECONSIDERED,
        WebhookEventType.RETROSPECTIVE_REVIEW_COMPLETED,
    }
)


def event_type_for(action: RequestAction, status: str) -> WebhookEventType | None:
    """The webhook event an action on a request emits; claims and reads emit none."""
    if action in (RequestAction.SUBMITTED, RequestAction.AMENDED):
        return WebhookEventType.REFERRED if status == RequestStatus.AWAITING_REVIEW else WebhookEventType.DECIDED
    return EVENT_FOR_ACTION.get(action)


def payload(
    *,
    event_type: WebhookEventType,
    request: SharingRequest,
    decision: Decision | None,
    now: datetime,
    sequence: int,
) -> dict[str, Any]:
    """What receivers are sent: ids, the requester's reference, status and outcome only; no subject identifiers, no
    other free text."""
    return {
        "type": str(event_type),
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "data": {
            "id": request.id,
            "status": request.status,
            "outcome": decision.outcome if decision is not None else None,
            "verdict": decision.verdict if decision is not None else None,
            "conditions": list(decision.conditions) if decision is not None else None,
            "ready_to_disclose": ready_to_disclose(request),
            "open_checks": list(request.open_checks),
            "link": f"/v1/sharing-requests/{request.id}",
            "reference": request.reference,
            "sequence": sequence,
        },
    }


async def next_sequence(*, session: AsyncSession, request: SharingRequest, action: RequestAction | None) -> int:
    """The request's next event number, taken in the caller's transaction: gap-free, since a rollback returns it.

    A submission's event is its request's first, and its counter is queued with the request's other new rows (no
    round trip); any later one counts on, holding the counter's row until the transaction ends (PostgreSQL), so two
    changes of one request at once number their events in the order they commit.
    """
    if action is RequestAction.SUBMITTED:
        writes.add(session, WebhookEventSequence, {"request_id": request.id, "last_sequence": 1})
        return 1
    return int((await session.exec(_COUNT_ON, params={"request_id": request.id})).scalar_one())


# The same text on both databases (SQLite 3.35 or later).
_COUNT_ON = text(
    "INSERT INTO webhook_event_sequences (request_id, last_sequence) VALUES (:request_id, 1) "
    "ON CONFLICT (request_id) DO UPDATE SET last_sequence = webhook_event_sequences.last_sequence + 1 "
    "RETURNING last_sequence"
)


async def emit(
    *, session: AsyncSession, request: SharingRequest, action: RequestAction, decision: Decision | None
) -> str | None:
    """Write the event of this action, and a due delivery to each endpoint that should hear of it; the event's id."""
    event_type = event_type_for(action, request.status)
    if event_type is None:
        return None
    return await _emit_request_event(
        session=session, request=request, event_type=event_type, decision=decision, action=action
    )


def safeguarding_decided(*, request: SharingRequest, action: RequestAction, decision: Decision | None) -> bool:
    """Whether this change decided a safeguarding request: the safeguarding leads are told of it."""
    return (
        decision is not None
        and request.purpose_category in SAFEGUARDING_PURPOSES
        and event_type_for(action, request.status) in DECISION_EVENTS
    )


async def emit_safeguarding_decided(*, session: AsyncSession, request: SharingRequest, decision: Decision) -> str:
    """Tell the controller's endpoints (never the requester's) that a safeguarding request was decided.

    Not one of the request's numbered events: the requester's endpoints never see it, so numbering it would leave
    them a gap; and no request id on the row, so `GET /v1/events` lists it to the controller's admins alone."""
    now, event_type = utcnow(), WebhookEventType.SAFEGUARDING_DECIDED
    body = {
        "type": str(event_type),
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "data": {
            "id": request.id,
            "decision_id": decision.id,
            "outcome": decision.outcome,
            "verdict": decision.verdict,
            "kind": decision.kind,
            "purpose": request.purpose_category,
            "decided_at": decision.decided_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "link": f"/v1/sharing-requests/{request.id}",
        },
    }
    endpoints = [
        endpoint_id
        for endpoint_id, types in await driver.fetch(
            session, _CONTROLLER_ENDPOINTS, {}, transaction=driver.Transaction.JOINED
        )
        if event_type in types
    ]
    return await _write(
        session=session, event_type=event_type, request_id=None, body=body, endpoint_ids=endpoints, now=now
    )


async def emit_ready(*, session: AsyncSession, request: SharingRequest) -> str:
    """Tell the requester's endpoints and the controller's that an approved request's
    last blocking check was recorded done."""
    return await _emit_request_event(
        session=session, request=request, event_type=WebhookEventType.READY_TO_DISCLOSE, decision=None, action=None
    )


async def emit_disclosed(*, session: AsyncSession, request: SharingRequest, disclosed: dict[str, Any]) -> str:
    """Tell the requester's endpoints and the controller's what one of the request's disclosures sent
    (`disclosed`: its id, items, channel and time; never who sent it nor from which asset)."""
    return await _emit_request_event(
        session=session,
        request=request,
        event_type=WebhookEventType.DISCLOSED,
        decision=None,
        action=None,
        extra=disclosed,
    )


async def _emit_request_event(
    *,
    session: AsyncSession,
    request: SharingRequest,
    event_type: WebhookEventType,
    decision: Decision | None,
    action: RequestAction | None,
    extra: dict[str, Any] | None = None,
) -> str:
    """The request's next event in its sequence (its `data` with `extra` added),
    and a due delivery to each endpoint that should hear of it."""
    sequence = await next_sequence(session=session, request=request, action=action)
    now = utcnow()
    body = payload(event_type=event_type, request=request, decision=decision, now=now, sequence=sequence)
    body["data"] |= extra or {}
    endpoints = await subscribers(session=session, event_type=event_type, requester_org=request.requester_org)
    return await _write(
        session=session,
        event_type=event_type,
        request_id=request.id,
        body=body,
        endpoint_ids=endpoints,
        now=now,
        sequence=sequence,
    )


async def emit_policy_activated(*, session: AsyncSession, policy: Policy) -> str:
    """Announce a newly active policy to every enabled endpoint subscribed to it:
    it changes how every agency's requests are decided."""
    now, event_type = utcnow(), WebhookEventType.POLICY_ACTIVATED
    body = {
        "type": str(event_type),
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "data": {
            "name": policy.name,
            "version": policy.version,
            "content_hash": policy.content_hash,
            "link": f"/v1/policies/{policy.name}/{policy.version}",
        },
    }
    return await _write(
        session=session,
        event_type=event_type,
        request_id=None,
        body=body,
        endpoint_ids=await _every_subscriber(session, event_type),
        now=now,
    )


async def emit_checkpoint(*, session: AsyncSession, checkpoint: dict[str, Any]) -> str:
    """Send a signed checkpoint to every enabled endpoint subscribed to it, whoever owns it:
    each is a witness the controller cannot recall."""
    now, event_type = utcnow(), WebhookEventType.AUDIT_CHECKPOINT
    body = {"type": str(event_type), "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "data": checkpoint}
    return await _write(
        session=session,
        event_type=event_type,
        request_id=None,
        body=body,
        endpoint_ids=await _every_subscriber(session, event_type),
        now=now,
    )


async def emit_agreement_notice(
    *, session: AsyncSession, event_type: WebhookEventType, data: dict[str, Any], organisations: Collection[str]
) -> str:
    """Announce an agreement's review or end drawing near to the enabled endpoints subscribed to it:
    the controller's, and those of its owner and parties."""
    now = utcnow()
    body = {"type": str(event_type), "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "data": data}
    query = select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
        col(WebhookEndpoint.enabled),
        or_(
            col(WebhookEndpoint.scope) == EndpointScope.CONTROLLER,
            and_(
                col(WebhookEndpoint.scope) == EndpointScope.ORGANISATION,
                col(WebhookEndpoint.owner_org).in_(sorted(organisations)),
            ),
        ),
    )
    endpoints = [endpoint_id for endpoint_id, types in (await session.exec(query)).all() if event_type in types]
    return await _write(
        session=session, event_type=event_type, request_id=None, body=body, endpoint_ids=endpoints, now=now
    )


async def emit_incident_event(
    *, session: AsyncSession, event_type: WebhookEventType, data: dict[str, Any], recipient_org: str | None
) -> str:
    """Tell the controller's endpoints of an incident (and, for a recall, the recipient organisation's): the same
    audience rule as an agreement's notice, with the recipient as the one organisation named."""
    organisations = [recipient_org] if recipient_org is not None else []
    return await emit_agreement_notice(session=session, event_type=event_type, data=data, organisations=organisations)


async def emit_test(*, session: AsyncSession, endpoint_id: str) -> str:
    """A `webhook.test` event and its one delivery, to this endpoint alone and due now; the event's id."""
    now, event_type = utcnow(), WebhookEventType.TEST
    body = {
        "type": str(event_type),
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "data": {"endpoint_id": endpoint_id, "link": f"/v1/webhook-endpoints/{endpoint_id}"},
    }
    return await _write(
        session=session, event_type=event_type, request_id=None, body=body, endpoint_ids=[endpoint_id], now=now
    )


async def _every_subscriber(session: AsyncSession, event_type: WebhookEventType) -> list[str]:
    """Ids of every enabled endpoint subscribed to this type, whoever owns it."""
    rows = (
        await session.exec(select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(col(WebhookEndpoint.enabled)))
    ).all()
    return [endpoint_id for endpoint_id, types in rows if event_type in types]


async def _write(
    *,
    session: AsyncSession,
    event_type: WebhookEventType,
    request_id: str | None,
    body: dict[str, Any],
    endpoint_ids: list[str],
    now: datetime,
    sequence: int | None = None,
) -> str:
    """The event row and one due delivery per endpoint, created at the payload's timestamp."""
    event_id = new_id()
    event = {
        "id": event_id,
        "type": event_type,
        "request_id": request_id,
        "payload": body,
        "created_at": now,
        "traceparent": tracing.current_traceparent(),
        "sequence": sequence,
    }
    writes.add(session, OutboxEvent, event)
    deliveries = [
        {
            "id": new_id(),
            "event_id": event_id,
            "endpoint_id": endpoint_id,
            "status": DeliveryStatus.PENDING,
            "attempts_made": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for endpoint_id in endpoint_ids
    ]
    writes.add(session, WebhookDelivery, deliveries)
    return event_id


async def subscribers(*, session: AsyncSession, event_type: WebhookEventType, requester_org: str) -> list[str]:
    """Ids of the enabled endpoints subscribed to this type: the requester's own, and the controller's."""
    # Not an ORM query: the rows this transaction has queued need not be written for it (app/platform/writes.py).
    return [
        endpoint_id
        for endpoint_id, types in await driver.fetch(
            session, _SUBSCRIBERS, {"org": requester_org}, transaction=driver.Transaction.JOINED
        )
        if event_type in types
    ]


# Built once: a submission runs it every time.
_SUBSCRIBERS = driver.prepare(
    select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
        col(WebhookEndpoint.enabled),
        or_(
            col(WebhookEndpoint.scope) == EndpointScope.CONTROLLER,
            and_(
                col(WebhookEndpoint.scope) == EndpointScope.ORGANISATION,
                col(WebhookEndpoint.owner_org) == bindparam("org"),
            ),
        ),
    )
)

_CONTROLLER_ENDPOINTS = driver.prepare(
    select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
        col(WebhookEndpoint.enabled), col(WebhookEndpoint.scope) == EndpointScope.CONTROLLER
    )
)
