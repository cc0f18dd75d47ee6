"""How many requests wait in the guardian queue, and how many of them are past their due time: one query."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.sharing_request import SharingRequest
from app.models.vocabulary import Urgency


@dataclass(frozen=True, slots=True)
class QueueCounts:
    depth: int
    overdue: int


async def queue_counts(*, session: AsyncSession, now: datetime) -> QueueCounts:
    """Requests in the queue now, and those of them whose response is overdue at `now`."""
    overdue = func.count().filter(col(SharingRequest.due_at) < now)
    depth, late = (
        await session.exec(
            select(func.count(), overdue).select_from(SharingRequest).where(col(SharingRequest.in_queue))
        )
    ).one()
    return QueueCounts(depth=depth, overdue=late)


async def counts_by_urgency(*, session: AsyncSession, now: datetime) -> dict[Urgency, QueueCounts]:
    """The queue now, urgency by urgency (every urgency present, 0 when none waits), for the console's dashboard."""
    overdue = func.count().filter(col(SharingRequest.due_at) < now)
    rows = await session.exec(
        select(SharingRequest.urgency, func.count(), overdue)
        .where(col(SharingRequest.in_queue))
        .group_by(col(SharingRequest.urgency))
    )
    found = {Urgency(urgency): QueueCounts(depth=depth, overdue=late) for urgency, depth, late in rows.all()}
    return {urgency: found.get(urgency, QueueCounts(depth=0, overdue=0)) for urgency in Urgency}
