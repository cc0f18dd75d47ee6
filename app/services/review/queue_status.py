"""How many requests wait in the guardian queue, and how many of them are past their due time: one query."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.sharing_request import SharingRequest


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
