"""The guardian queue: listing it most urgent first, and announcing requests that have waited too long."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.actions import RequestAction
from app.models.base import utcnow
from app.models.review import RECONSIDERING, QueueEntry, QueuePage, ReviewKind
from app.models.sharing_request import Decision, RequestSubject, SharingRequest, claim_held, status_read_as
from app.models.vocabulary import (
    DecisionKind,
    FindingResult,
    Outcome,
    PurposeCategory,
    RequestStatus,
    RetrospectiveStatus,
    Urgency,
)
from app.platform.pagination import ascending, keyset_page
from app.services.audit import events
from app.services.policies import editions


@dataclass(frozen=True, slots=True)
class QueueFilters:
    """What a guardian narrows the queue to; None (or empty) leaves a filter off.

    `person` is a person's keyed hash under each subject key version it should be matched under (the caller hashes the
    identifier: app/canonical.py SubjectKeys), never the identifier: requests naming them in any version match."""

    status: RequestStatus | None = None
    urgency: Urgency | None = None
    purpose: PurposeCategory | None = None
    assignee: str | None = None
    overdue: bool | None = None
    review: ReviewKind | None = None
    requester: str | None = None
    reference: str | None = None
    person: Mapping[int, str] = field(default_factory=dict)

    def where(self, now: datetime) -> list[ColumnElement[bool]]:
        """The conditions these filters put on queued requests."""
        conditions = [
            column == value
            for column, value in (
                (col(SharingRequest.urgency), self.urgency),
                (col(SharingRequest.purpose_category), self.purpose),
                (col(SharingRequest.requester_org), self.requester),
                (col(SharingRequest.reference), self.reference),
            )
            if value is not None
        ]
        if self.status is not None:
            conditions.append(status_read_as(self.status, now))
        if self.assignee is not None:
            conditions += [col(SharingRequest.assignee_sub) == self.assignee, claim_held(now)]
        if self.overdue is not None:
            conditions.append(col(SharingRequest.due_at) < now if self.overdue else col(SharingRequest.due_at) >= now)
        if self.review is not None:
            conditions.append(_of_kind(self.review))
        if self.person:
            under_each_key = [
                and_(col(RequestSubject.key_version) == version, col(RequestSubject.subject_hash) == hashed)
                for version, hashed in self.person.items()
            ]
            named = select(RequestSubject.request_id).where(or_(*under_each_key))
            conditions.append(col(SharingRequest.id).in_(named))
        return conditions


async def queue(*, session: AsyncSession, filters: QueueFilters, cursor: str | None, limit: int) -> QueuePage:
    """Emergency, then urgent, then routine; soonest due first within each. A lapsed claim reads as returned
    (status and assignee as they will be once the next write on the request returns it): the listing changes
    nothing."""
    now = utcnow()
    query = select(SharingRequest).where(col(SharingRequest.in_queue), *filters.where(now))
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
    rules = await _rules_decisions(session=session, rows=rows)
    return QueuePage(
        items=[
            QueueEntry.of(
                row,
                now,
                current_edition_outcome=rules[row.id].held if row.id in rules else None,
                referred_for=rules[row.id].not_passed if row.id in rules else [],
            )
            for row in rows
        ],
        next_cursor=next_cursor,
    )


@dataclass(frozen=True, slots=True)
class RulesReading:
    """What the queue shows of a request's rules decision on its current version."""

    not_passed: list[str]  # the rules whose finding was not a pass: why it was referred
    held: Outcome | None  # held by EDITION.superseded: the current edition's outcome


async def _rules_decisions(*, session: AsyncSession, rows: Sequence[SharingRequest]) -> dict[str, RulesReading]:
    """For each listed request, its rules decision on its current version, read in one query."""
    if not rows:
        return {}
    versions = {row.id: row.current_version for row in rows}
    query = select(Decision.request_id, Decision.version, Decision.findings, Decision.facts).where(
        col(Decision.request_id).in_(list(versions)), col(Decision.kind) == DecisionKind.RULES
    )
    read = {}
    for request_id, version, findings, facts in (await session.exec(query)).all():
        if version != versions[request_id]:
            continue
        view = (facts or {}).get(editions.FACTS_KEY)
        not_passed = [finding["rule"] for finding in findings if finding["result"] != FindingResult.PASS]
        read[request_id] = RulesReading(
            not_passed=list(dict.fromkeys(not_passed)), held=None if view is None else Outcome(view["outcome"])
        )
    return read


def _of_kind(review: ReviewKind) -> ColumnElement[bool]:
    """Queued requests of one kind of review, as QueueEntry.review (review_kind) tells them apart."""
    retrospective = col(SharingRequest.retrospective_status) == RetrospectiveStatus.PENDING
    reconsidering = col(SharingRequest.status).in_(RECONSIDERING)
    in_panel = col(SharingRequest.status) == RequestStatus.IN_PANEL
    if review is ReviewKind.RETROSPECTIVE:
        return retrospective
    # retrospective_status is null for most requests: "not pending" must count them too.
    not_retrospective = or_(col(SharingRequest.retrospective_status).is_(None), ~retrospective)
    if review is ReviewKind.RECONSIDERATION:
        return and_(not_retrospective, reconsidering)
    if review is ReviewKind.PANEL:
        return and_(not_retrospective, in_panel)
    return and_(not_retrospective, ~reconsidering, ~in_panel)


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
