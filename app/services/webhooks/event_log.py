"""The events an organisation may read back (`GET /v1/events`): what its endpoints are sent, kept for
CALDICOTT_EVENTS_RETENTION_DAYS, so a receiver back from an outage longer than the retry schedule catches up.

An agency reads the events about its own organisation's sharing requests, which are what its endpoints are sent
about them; an admin reads every event, as the controller's endpoints are sent. Test events are for one endpoint
and are not listed. The rows are the outbox's own (app/services/webhooks/outbox.py); pruning.py removes them.
"""

from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.base import utcnow
from app.models.sharing_request import SharingRequest
from app.models.vocabulary import Role
from app.models.webhook import EventPage, EventPublic, OutboxEvent, WebhookEventType
from app.platform.config import Settings
from app.platform.pagination import ascending, keyset_page
from app.principal import Principal


async def page(
    *,
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    since: datetime | None,
    cursor: str | None,
    limit: int,
) -> EventPage:
    """The events the caller may read from `since` (inclusive) within the retention, oldest first."""
    kept_from = utcnow() - timedelta(days=settings.events_retention_days)
    start = max(since, kept_from) if since is not None else kept_from
    query = select(OutboxEvent).where(
        col(OutboxEvent.created_at) >= start, col(OutboxEvent.type) != WebhookEventType.TEST
    )
    if not principal.has(Role.ADMIN):
        query = query.join(SharingRequest, col(SharingRequest.id) == col(OutboxEvent.request_id)).where(
            col(SharingRequest.requester_org) == principal.org
        )
    order = [ascending(col(OutboxEvent.created_at), datetime), ascending(col(OutboxEvent.id), str)]
    rows, next_cursor = await keyset_page(
        session, query, order=order, key=lambda row: (row.created_at, row.id), cursor=cursor, limit=limit
    )
    return EventPage(items=[EventPublic.of(event) for event in rows], next_cursor=next_cursor)
