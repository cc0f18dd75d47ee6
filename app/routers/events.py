"""The events an organisation may read back: what its webhook endpoints are sent, to catch up after an outage."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.errors import INVALID_INPUT, PROBLEM_RESPONSES
from app.http.dependencies import PageCursor, PageLimit, SettingsDep
from app.http.roles import WebhookOwner
from app.http.session import SessionDep
from app.models.webhook import EventPage
from app.services.reports.decision_log import period_bound
from app.services.webhooks import event_log

router = APIRouter(prefix="/v1/events", tags=["Webhooks"], responses=PROBLEM_RESPONSES)


@router.get(
    "", summary="The events the caller's endpoints are sent, oldest first, kept for a while", responses=INVALID_INPUT
)
async def list_events(
    session: SessionDep,
    settings: SettingsDep,
    principal: WebhookOwner,
    since: Annotated[
        str | None,
        Query(
            max_length=40,
            description="Events from this instant on (inclusive): the `timestamp` of the last event you processed, "
            "or a little before it; a date-time with an offset, or a date (Europe/London)",
        ),
    ] = None,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
) -> EventPage:
    """An agency reads the events about its own organisation's sharing requests, an admin every event; each as its
    webhook carried it. Kept for CALDICOTT_EVENTS_RETENTION_DAYS (30 by default)."""
    return await event_log.page(
        session=session,
        settings=settings,
        principal=principal,
        since=period_bound("since", since, end=False),
        cursor=cursor,
        limit=limit,
    )
