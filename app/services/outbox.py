"""The transactional outbox: an event and one delivery per subscribed endpoint, written in the caller's transaction."""

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.actions import RequestAction
from app.models.base import utcnow
from app.models.sharing_request import Decision, SharingRequest
from app.models.vocabulary import RequestStatus
from app.models.webhook import EndpointScope, OutboxEvent, WebhookDelivery, WebhookEndpoint, WebhookEventType
from app.rules import Policy

EVENT_FOR_ACTION = {
    RequestAction.REVIEWED: WebhookEventType.REVIEWED,
    RequestAction.INFORMATION_REQUESTED: WebhookEventType.INFORMATION_REQUESTED,
    RequestAction.WITHDRAWN: WebhookEventType.WITHDRAWN,
    RequestAction.RETROSPECTIVE_REVIEWED: WebhookEventType.RETROSPECTIVE_REVIEW_COMPLETED,
    RequestAction.OVERDUE: WebhookEventType.OVERDUE,
}


def event_type_for(action: RequestAction, status: str) -> WebhookEventType | None:
    """The webhook event an action on a request emits; claims and reads emit none."""
    if action in (RequestAction.SUBMITTED, RequestAction.AMENDED):
        return WebhookEventType.REFERRED if status == RequestStatus.AWAITING_REVIEW else WebhookEventType.DECIDED
    return EVENT_FOR_ACTION.get(action)


def payload(*, event_type: WebhookEventType, request: SharingRequest, decision: Decision | None, now: datetime) -> dict[str, Any]:
    """What receivers are sent: ids, status and outcome only; no subject identifiers, no free text."""
    return {
        "type": str(event_type),
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "data": {
            "id": request.id,
            "status": request.status,
            "outcome": decision.outcome if decision is not None else None,
            "conditions": list(decision.conditions) if decision is not None else None,
            "link": f"/v1/sharing-requests/{request.id}",
        },
    }


async def emit(*, session: AsyncSession, request: SharingRequest, action: RequestAction, decision: Decision | None) -> OutboxEvent | None:
    """Write the event of this action, and a due delivery to each endpoint that should hear of it."""
    event_type = event_type_for(action, request.status)
    if event_type is None:
        return None
    now = utcnow()
    event = OutboxEvent(
        type=event_type, request_id=request.id, payload=payload(event_type=event_type, request=request, decision=decision, now=now), created_at=now
    )
    session.add(event)
    for endpoint in await subscribers(session=session, event_type=event_type, requester_org=request.requester_org):
        session.add(WebhookDelivery(event_id=event.id, endpoint_id=endpoint.id, next_attempt_at=now, created_at=now, updated_at=now))
    await session.flush()
    return event


async def emit_policy_activated(*, session: AsyncSession, policy: Policy) -> OutboxEvent:
    """Announce a newly active policy to every enabled endpoint subscribed to it: it changes how every agency's requests are decided."""
    now = utcnow()
    event_type = WebhookEventType.POLICY_ACTIVATED
    body = {
        "type": str(event_type),
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "data": {"name": policy.name, "version": policy.version, "content_hash": policy.content_hash, "link": f"/v1/policies/{policy.name}/{policy.version}"},
    }
    event = OutboxEvent(type=event_type, request_id=None, payload=body, created_at=now)
    session.add(event)
    endpoints = (await session.exec(select(WebhookEndpoint).where(col(WebhookEndpoint.enabled)))).all()
    for endpoint in endpoints:
        if event_type in endpoint.event_types:
            session.add(WebhookDelivery(event_id=event.id, endpoint_id=endpoint.id, next_attempt_at=now, created_at=now, updated_at=now))
    await session.flush()
    return event


async def subscribers(*, session: AsyncSession, event_type: WebhookEventType, requester_org: str) -> list[WebhookEndpoint]:
    """Enabled endpoints subscribed to this type: the requester's own, and the controller's."""
    query = select(WebhookEndpoint).where(
        col(WebhookEndpoint.enabled),
        or_(
            col(WebhookEndpoint.scope) == EndpointScope.CONTROLLER,
            and_(col(WebhookEndpoint.scope) == EndpointScope.ORGANISATION, col(WebhookEndpoint.owner_org) == requester_org),
        ),
    )
    return [endpoint for endpoint in (await session.exec(query)).all() if event_type in endpoint.event_types]
