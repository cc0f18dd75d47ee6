"""The guardian queue: listing it most urgent first, and announcing requests that have waited too long."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.actions import RequestAction
from app.models.base import utcnow
from app.models.review import RECONSIDERING, QueueEntry, QueuePage, ReviewKind
from app.models.sharing_request import Decision, SharingRequest, claim_held, status_read_as
from app.models.vocabulary import DecisionKind, Outcome, PurposeCategory, RequestStatus, RetrospectiveStatus, Urgency
from app.platform.pagination import ascending, keyset_page
from app.services.audit import events
from app.services.policies import editions


async def queue(
    *,
    session: AsyncSession,
    status: RequestStatus | None,
    urgency: Urgency | None,
    purpose: PurposeCategory | None,
    assignee: str | None,
    overdue: bool | None,
    cursor: str | None,
    limit: int,
    review: ReviewKind | None = None,
) -> QueuePage:
    """Emergency, then urgent, then routine; soonest due first within each. A lapsed claim reads as returned
    (status and assignee as they will be once the next write on the request returns it): the listing changes
    nothing."""
    now = utcnow()
    query = select(SharingRequest).where(col(SharingRequest.in_queue))
    for column, value in ((SharingRequest.urgency, urgency), (SharingRequest.purpose_category, purpose)):
        if value is not None:
            query = query.where(column == value)
    if status is not None:
        query = query.where(status_read_as(status, now))
    if assignee is not None:
        query = query.where(col(SharingRequest.assignee_sub) == assignee, claim_held(now))
    if overdue is not None:
        query = query.where(col(SharingRequest.due_at) < now if overdue else col(SharingRequest.due_at) >= now)
    if review is not None:
        query = query.where(_of_kind(review))
    # Every request in the queue has a due time (set when it is referred), so the key is never partial.
    order = [
        ascending(col(SharingRequest.review_priority), int),
        ascending(col(SharingRequest.due_at), datetime),
        ascending(col(SharingRequest.id), str),
    ]
    rows, next_cursor = await keyset_page(
        session,
        query,
        order=order,
        key=lambda row: (row.review_priority, row.due_at, row.id),
        cursor=cursor,
        limit=limit,
    )
    held = await _held_by_edition(session=session, rows=rows)
    return QueuePage(
        items=[QueueEntry.of(row, now, current_edition_outcome=held.get(row.id)) for row in rows],
        next_cursor=next_cursor,
    )


async def _held_by_edition(*, session: AsyncSession, rows: Sequence[SharingRequest]) -> dict[str, Outcome]:
    """For each listed request whose current rules decision was held by EDITION.superseded,
    the current edition's outcome."""
    if not rows:
        return {}
    versions = {row.id: row.current_version for row in rows}
    query = select(Decision.request_id, Decision.version, Decision.facts).where(
        col(Decision.request_id).in_(list(versions)), col(Decision.kind) == DecisionKind.RULES
    )
    held = {}
    for request_id, version, facts in (await session.exec(query)).all():
        view = (facts or {}).get(editions.FACTS_KEY)
        if version == versions[request_id] and view is not None:
            held[request_id] = Outcome(view["outcome"])
    return held


def _of_kind(review: ReviewKind) -> ColumnElement[bool]:
    """Queued requests of one kind of review, as QueueEntry.review tells them apart."""
    retrospective = col(SharingRequest.retrospective_status) == RetrospectiveStatus.PENDING
    reconsidering = col(SharingRequest.status).in_(RECONSIDERING)
    if review is ReviewKind.RETROSPECTIVE:
        return retrospective
    # retrospective_status is null for most requests: "not pending" must count them too.
    not_retrospective = or_(col(SharingRequest.retrospective_status).is_(None), ~retrospective)
    return and_(not_retrospective, reconsidering if review is ReviewKind.RECONSIDERATION else ~reconsidering)


async def flag_overdue(*, session: AsyncSession) -> int:
    """Announce, once each, queued requests whose response time has passed; returns how many."""
    now = utcnow()
    query = (
        select(SharingRequest)
        .where(
            col(SharingRequest.in_queue),
            col(SharingRequest.due_at) < now,
            col(SharingRequest.overdue_flagged_at).is_(None),
        )
        .with_for_update(skip_locked=True)  # several workers may look at once; each request is announced by one
    )
    late = (await session.exec(query)).all()
    for request in late:
        request.overdue_flagged_at = now
        await session.flush()
        await events.request_changed(session=session, actor=None, request=request, action=RequestAction.OVERDUE)
    return len(late)
