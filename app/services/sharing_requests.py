"""Reading sharing requests: one at a time or by page, only those the caller may see."""

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import Principal
from app.errors import NotFound
from app.models.actions import RequestAction
from app.models.sharing_request import (
    STATUS_FOR_OUTCOME,
    Decision,
    DecisionPublic,
    RequestVersion,
    SharingRequest,
    SharingRequestPage,
    SharingRequestPublic,
    SharingRequestSummary,
)
from app.models.vocabulary import Outcome, PurposeCategory, RequestStatus, RetrospectiveStatus, Role
from app.services import events
from app.services.pagination import descending, keyset_page

# Roles that see every organisation's requests; an agency sees only its own.
OVERSIGHT_ROLES = frozenset({Role.GUARDIAN, Role.AUDITOR, Role.ADMIN})


def sees_all(principal: Principal) -> bool:
    return bool(principal.roles & OVERSIGHT_ROLES)


async def get_visible(*, session: AsyncSession, principal: Principal, request_id: str) -> SharingRequest:
    """The request if the caller may see it; another agency's request is 404, never 403."""
    request = await session.get(SharingRequest, request_id)
    if request is None or not (sees_all(principal) or request.requester_org == principal.org):
        raise NotFound(f"no sharing request {request_id!r}")
    return request


def summary(request: SharingRequest) -> SharingRequestSummary:
    return SharingRequestSummary(
        id=request.id,
        reference=request.reference,
        requester=request.requester_org,
        purpose=PurposeCategory(request.purpose_category),
        urgency=request.urgency,
        status=RequestStatus(request.status),
        review_required=request.review_required,
        retrospective_review=request.retrospective_status,
        due_at=request.due_at,
        created_at=request.created_at,
        updated_at=request.updated_at,
    )


async def details(*, session: AsyncSession, request: SharingRequest, as_first_answered: bool = False) -> SharingRequestPublic:
    """The request with its current body and latest decision, or, for a replay, as first answered."""
    version = 1 if as_first_answered else request.current_version
    body = (await session.exec(select(RequestVersion.body).where(RequestVersion.request_id == request.id, RequestVersion.version == version))).one()
    order = col(Decision.decided_at).asc() if as_first_answered else col(Decision.decided_at).desc()
    decision = (await session.exec(select(Decision).where(Decision.request_id == request.id).order_by(order, col(Decision.id)).limit(1))).one()
    public = summary(request).model_dump()
    if as_first_answered:
        first_status = STATUS_FOR_OUTCOME[Outcome(decision.outcome)]
        public.update(
            status=first_status,
            review_required=decision.review_required,
            retrospective_review=RetrospectiveStatus.PENDING if decision.review_required else None,
            updated_at=request.created_at,
        )
    return SharingRequestPublic(**public, version=version, decision=DecisionPublic.of(decision), request=body)


async def read(*, session: AsyncSession, principal: Principal, request: SharingRequest) -> SharingRequestPublic:
    """The request's details for a reader; the read itself is recorded."""
    await events.request_read(session=session, actor=principal, request=request, action=RequestAction.READ)
    return await details(session=session, request=request)


async def list_page(
    *,
    session: AsyncSession,
    principal: Principal,
    status: RequestStatus | None,
    purpose: PurposeCategory | None,
    cursor: str | None,
    limit: int,
) -> SharingRequestPage:
    """Newest first, keyset-paginated; an agency's page holds only its own requests."""
    query = select(SharingRequest)
    if not sees_all(principal):
        query = query.where(SharingRequest.requester_org == principal.org)
    if status is not None:
        query = query.where(SharingRequest.status == status)
    if purpose is not None:
        query = query.where(SharingRequest.purpose_category == purpose)
    order = [descending(col(SharingRequest.created_at), datetime), descending(col(SharingRequest.id), str)]
    rows, next_cursor = await keyset_page(session, query, order=order, key=lambda row: (row.created_at, row.id), cursor=cursor, limit=limit)
    return SharingRequestPage(items=[summary(row) for row in rows], next_cursor=next_cursor)
