"""Webhook endpoints: registration and changes (each audited), signing secrets and their rotation,
delivery history, redelivery and the test event. Where deliveries may go is app/services/webhooks/egress.py."""

import base64
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, false, func, or_, text
from sqlalchemy import update as update_rows
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, NotFound
from app.models.actions import WebhookAction
from app.models.base import utcnow
from app.models.vocabulary import Role
from app.models.webhook import (
    DeliveryStatus,
    DisabledReason,
    EndpointScope,
    OutboxEvent,
    WebhookAttempt,
    WebhookAttemptPublic,
    WebhookDelivery,
    WebhookDeliveryPage,
    WebhookDeliveryPublic,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointPage,
    WebhookEndpointPublic,
    WebhookEndpointUpdate,
    WebhookEventType,
    WebhookRedeliveries,
    WebhookRedeliveriesAccepted,
    WebhookSecretRotated,
)
from app.platform.config import Settings
from app.platform.pagination import ascending, descending, keyset_page
from app.principal import Principal
from app.services.agreements import organisations
from app.services.audit import events
from app.services.webhooks import outbox
from app.services.webhooks.egress import check_registrable

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
ROTATION_OVERLAP = timedelta(hours=24)
# First key of the transaction-scoped advisory lock that serialises one
# organisation's registrations on PostgreSQL ("WHKS").
ENDPOINT_LOCK_KEY = 0x57484B53


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signing_secrets(endpoint: WebhookEndpoint, *, now: datetime) -> list[str]:
    """The current secret, and the previous one during the 24 hours after a rotation."""
    keys = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and now < endpoint.previous_secret_expires_at:
        keys.append(endpoint.previous_secret)
    return keys


# --- Endpoints: each principal manages its own kind ---


def manages(principal: Principal, endpoint: WebhookEndpoint) -> bool:
    """An admin manages the controller's endpoints; an agency those of its own organisation."""
    if endpoint.scope == EndpointScope.CONTROLLER:
        return principal.has(Role.ADMIN)
    return principal.has(Role.AGENCY) and endpoint.owner_org == principal.org


async def get_managed(*, session: AsyncSession, principal: Principal, endpoint_id: str) -> WebhookEndpoint:
    """The endpoint if the caller manages it; anyone else's is 404, never 403."""
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or not manages(principal, endpoint):
        raise NotFound(f"no webhook endpoint {endpoint_id!r}")
    return endpoint


async def register(
    *, session: AsyncSession, settings: Settings, principal: Principal, data: WebhookEndpointCreate
) -> WebhookEndpoint:
    """Add an endpoint with a new secret: an admin's receives every event, an agency's its own organisation's."""
    if principal.has(Role.ADMIN):
        scope = EndpointScope.CONTROLLER
    else:
        await organisations.active_requester(session=session, code=principal.org)
        scope = EndpointScope.ORGANISATION
    await check_registrable(data.url, settings=settings)
    await _check_room(session=session, org=principal.org, limit=settings.max_webhook_endpoints_per_org)
    endpoint = WebhookEndpoint(
        owner_org=principal.org,
        scope=scope,
        url=data.url,
        description=data.description,
        event_types=_unique(data.event_types),
        secret=new_secret(),
        created_by=principal.sub,
    )
    session.add(endpoint)
    await session.flush()
    await events.webhook_endpoint_changed(
        session=session,
        actor=principal,
        action=WebhookAction.ENDPOINT_REGISTERED,
        endpoint_id=endpoint.id,
        outcome=f"scope {scope}",
    )
    return endpoint


async def _check_room(*, session: AsyncSession, org: str, limit: int) -> None:
    """Refuse (409) an endpoint beyond the organisation's limit: each one is another outbound POST for every event."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        # Held to the end of the transaction,
        # so two registrations at once cannot both see room for one (SQLite: BEGIN IMMEDIATE).
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key, hashtext(:org))"), {"key": ENDPOINT_LOCK_KEY, "org": org}
        )
    held = (
        await session.exec(select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.owner_org == org))
    ).one()
    if held >= limit:
        raise Conflict(
            f"an organisation may have at most {limit} webhook endpoints and {org} has {held}; delete one first"
        )


async def list_managed(
    *, session: AsyncSession, principal: Principal, cursor: str | None, limit: int
) -> WebhookEndpointPage:
    """The endpoints the caller manages, oldest first, keyset-paginated."""
    mine = [false()]
    if principal.has(Role.ADMIN):
        mine.append(col(WebhookEndpoint.scope) == EndpointScope.CONTROLLER)
    if principal.has(Role.AGENCY):
        mine.append(
            and_(
                col(WebhookEndpoint.scope) == EndpointScope.ORGANISATION,
                col(WebhookEndpoint.owner_org) == principal.org,
            )
        )
    query = select(WebhookEndpoint).where(or_(*mine))
    order = [ascending(col(WebhookEndpoint.created_at), datetime), ascending(col(WebhookEndpoint.id), str)]
    rows, next_cursor = await keyset_page(
        session, query, order=order, key=lambda row: (row.created_at, row.id), cursor=cursor, limit=limit
    )
    return WebhookEndpointPage(items=[WebhookEndpointPublic.of(endpoint) for endpoint in rows], next_cursor=next_cursor)


async def update(
    *, session: AsyncSession, principal: Principal, endpoint: WebhookEndpoint, changes: WebhookEndpointUpdate
) -> WebhookEndpoint:
    """Enable or disable, change the event types or the description."""
    changed = []
    if changes.enabled is not None:
        endpoint.enabled = changes.enabled
        endpoint.disabled_reason = None if changes.enabled else DisabledReason.BY_OWNER
        changed.append(f"enabled={str(changes.enabled).lower()}")
    if changes.event_types is not None:
        endpoint.event_types = _unique(changes.event_types)
        changed.append("event_types")
    if "description" in changes.model_fields_set:
        endpoint.description = changes.description
        changed.append("description")
    endpoint.updated_at, endpoint.version = utcnow(), endpoint.version + 1
    await session.flush()
    outcome = f"changed {', '.join(changed)}" if changed else "nothing changed"
    await events.webhook_endpoint_changed(
        session=session,
        actor=principal,
        action=WebhookAction.ENDPOINT_CHANGED,
        endpoint_id=endpoint.id,
        outcome=outcome,
    )
    return endpoint


async def remove(*, session: AsyncSession, principal: Principal, endpoint: WebhookEndpoint) -> None:
    """Delete an endpoint with its deliveries and their history; the events stay."""
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    count = (await session.exec(select(func.count()).select_from(deliveries.subquery()))).one()
    await session.exec(delete(WebhookAttempt).where(col(WebhookAttempt.delivery_id).in_(deliveries)))
    await session.exec(delete(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint.id))
    await session.delete(endpoint)
    await session.flush()
    outcome = f"deleted with {count} deliver{'y' if count == 1 else 'ies'}"
    await events.webhook_endpoint_changed(
        session=session,
        actor=principal,
        action=WebhookAction.ENDPOINT_DELETED,
        endpoint_id=endpoint.id,
        outcome=outcome,
    )


async def rotate_secret(
    *, session: AsyncSession, principal: Principal, endpoint: WebhookEndpoint
) -> WebhookSecretRotated:
    """A new secret; the old one keeps signing beside it for 24 hours."""
    now = utcnow()
    expires = now + ROTATION_OVERLAP
    endpoint.previous_secret, endpoint.previous_secret_expires_at = endpoint.secret, expires
    endpoint.secret = new_secret()
    endpoint.updated_at, endpoint.version = now, endpoint.version + 1
    await session.flush()
    hours = int(ROTATION_OVERLAP.total_seconds() // 3600)
    outcome = f"the previous secret also signs for {hours} hours"  # never either secret
    await events.webhook_endpoint_changed(
        session=session, actor=principal, action=WebhookAction.SECRET_ROTATED, endpoint_id=endpoint.id, outcome=outcome
    )
    return WebhookSecretRotated(secret=endpoint.secret, previous_secret_expires_at=expires)


def _unique(event_types: list[WebhookEventType]) -> list[str]:
    return list(dict.fromkeys(str(event_type) for event_type in event_types))


# --- Delivery history and redelivery ---


async def deliveries_page(
    *, session: AsyncSession, endpoint: WebhookEndpoint, status: DeliveryStatus | None, cursor: str | None, limit: int
) -> WebhookDeliveryPage:
    """An endpoint's deliveries, newest first, each with its attempts."""
    query = (
        select(WebhookDelivery, OutboxEvent)
        .join(OutboxEvent, col(OutboxEvent.id) == col(WebhookDelivery.event_id))
        .where(WebhookDelivery.endpoint_id == endpoint.id)
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    order = [descending(col(WebhookDelivery.created_at), datetime), descending(col(WebhookDelivery.id), str)]
    rows, next_cursor = await keyset_page(
        session, query, order=order, key=lambda row: (row[0].created_at, row[0].id), cursor=cursor, limit=limit
    )
    attempts = await _attempts_of(session=session, delivery_ids=[delivery.id for delivery, _ in rows])
    items = [_delivery_public(delivery, event, attempts.get(delivery.id, [])) for delivery, event in rows]
    return WebhookDeliveryPage(items=items, next_cursor=next_cursor)


async def redeliver(
    *, session: AsyncSession, principal: Principal, endpoint: WebhookEndpoint, delivery_id: str
) -> WebhookDeliveryPublic:
    """Send a delivery again at once, with the same `webhook-id`; a finished one starts a new round of retries."""
    delivery = await session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint.id:
        raise NotFound(f"no delivery {delivery_id!r} for this endpoint")
    if not endpoint.enabled:
        raise Conflict("the endpoint is disabled; enable it first")
    now = utcnow()
    outcome = f"delivery {delivery.id} was {delivery.status}"
    if delivery.status != DeliveryStatus.PENDING:
        delivery.status = DeliveryStatus.PENDING
        delivery.attempts_made = 0
    delivery.next_attempt_at = now
    delivery.updated_at = now
    await session.flush()
    await events.webhook_endpoint_changed(
        session=session,
        actor=principal,
        action=WebhookAction.REDELIVERY_REQUESTED,
        endpoint_id=endpoint.id,
        outcome=outcome,
    )
    event = (await session.exec(select(OutboxEvent).where(OutboxEvent.id == delivery.event_id))).one()
    attempts = await _attempts_of(session=session, delivery_ids=[delivery.id])
    return _delivery_public(delivery, event, attempts.get(delivery.id, []))


async def redeliver_since(
    *, session: AsyncSession, principal: Principal, endpoint: WebhookEndpoint, asked: WebhookRedeliveries
) -> WebhookRedeliveriesAccepted:
    """Queue again, from their first attempt, every delivery to the endpoint created since the instant asked (only
    those in the status asked, if one is): a receiver that lost what it was sent gets it again, in order."""
    if not endpoint.enabled:
        raise Conflict("the endpoint is disabled; enable it first")
    now = utcnow()
    chosen = [
        col(WebhookDelivery.endpoint_id) == endpoint.id,
        col(WebhookDelivery.created_at) >= asked.since,
    ]
    if asked.status is not None:
        chosen.append(col(WebhookDelivery.status) == asked.status)
    requeued = await session.exec(
        update_rows(WebhookDelivery)
        .where(*chosen)
        .values(status=DeliveryStatus.PENDING, attempts_made=0, next_attempt_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    count = requeued.rowcount or 0
    since = asked.since.astimezone(UTC)
    await events.webhook_endpoint_changed(
        session=session,
        actor=principal,
        action=WebhookAction.REDELIVERIES_REQUESTED,
        endpoint_id=endpoint.id,
        outcome=f"{count} since {since:%Y-%m-%dT%H:%M:%S.%fZ}" + (f" {asked.status}" if asked.status else ""),
    )
    return WebhookRedeliveriesAccepted(requeued=count, since=asked.since)


async def send_test(*, session: AsyncSession, principal: Principal, endpoint: WebhookEndpoint) -> WebhookDeliveryPublic:
    """A `webhook.test` event for this endpoint alone, due at once and signed like any other; the delivery."""
    if not endpoint.enabled:
        raise Conflict("the endpoint is disabled; enable it first")
    event_id = await outbox.emit_test(session=session, endpoint_id=endpoint.id)
    delivery, event = (
        await session.exec(
            select(WebhookDelivery, OutboxEvent)
            .join(OutboxEvent, col(OutboxEvent.id) == col(WebhookDelivery.event_id))
            .where(WebhookDelivery.event_id == event_id, WebhookDelivery.endpoint_id == endpoint.id)
        )
    ).one()
    await events.webhook_endpoint_changed(
        session=session,
        actor=principal,
        action=WebhookAction.TEST_SENT,
        endpoint_id=endpoint.id,
        outcome=f"delivery {delivery.id}",
    )
    return _delivery_public(delivery, event, [])


async def _attempts_of(*, session: AsyncSession, delivery_ids: list[str]) -> dict[str, list[WebhookAttempt]]:
    if not delivery_ids:
        return {}
    query = (
        select(WebhookAttempt)
        .where(col(WebhookAttempt.delivery_id).in_(delivery_ids))
        .order_by(col(WebhookAttempt.number))
    )
    grouped: dict[str, list[WebhookAttempt]] = {}
    for attempt in (await session.exec(query)).all():
        grouped.setdefault(attempt.delivery_id, []).append(attempt)
    return grouped


def _delivery_public(
    delivery: WebhookDelivery, event: OutboxEvent, attempts: list[WebhookAttempt]
) -> WebhookDeliveryPublic:
    return WebhookDeliveryPublic(
        id=delivery.id,
        event_id=event.id,
        event_type=WebhookEventType(event.type),
        request_id=event.request_id,
        status=DeliveryStatus(delivery.status),
        attempts_made=delivery.attempts_made,
        next_attempt_at=delivery.next_attempt_at,
        created_at=delivery.created_at,
        updated_at=delivery.updated_at,
        attempts=[WebhookAttemptPublic.model_validate(attempt, from_attributes=True) for attempt in attempts],
    )
