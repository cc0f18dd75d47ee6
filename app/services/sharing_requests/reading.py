"""Reading sharing requests (one at a time or by page, only those the caller may see), and dry runs."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.canonical import SubjectKeys
from app.errors import Forbidden, InvalidInput, NotFound
from app.models.actions import RequestAction
from app.models.base import utcnow
from app.models.request_body import SharingRequestBody
from app.models.sharing_request import (
    Decision,
    DecisionPublic,
    EvaluationPublic,
    RequestVersion,
    SharingRequest,
    SharingRequestPage,
    SharingRequestPublic,
    SharingRequestSummary,
    status_read_as,
)
from app.models.vocabulary import DecisionKind, PurposeCategory, RequestStatus
from app.platform.pagination import descending, keyset_page
from app.principal import Principal
from app.rules import Finding
from app.services.audit import events
from app.services.policies.registry import PolicyRegistry
from app.services.review import naming as guardian_naming
from app.services.sharing_requests import adjudication


def sees_all(principal: Principal) -> bool:
    """Guardians, auditors and admins (the controller's:
    app/powers.py honours them for no one else) see every request; an agency its own."""
    return principal.inside


async def get_visible(*, session: AsyncSession, principal: Principal, request_id: str) -> SharingRequest:
    """The request if the caller may see it; another agency's request is 404, never 403."""
    request = await session.get(SharingRequest, request_id)
    if request is None or not (sees_all(principal) or request.requester_org == principal.org):
        raise NotFound(f"no sharing request {request_id!r}")
    return request


async def details(
    *,
    session: AsyncSession,
    request: SharingRequest,
    reader: Principal,
    controller: str,
) -> SharingRequestPublic:
    """The request with its current body and latest decision; an agency reads no guardian's subject."""
    version = request.current_version
    body = (
        await session.exec(
            select(RequestVersion.body).where(
                RequestVersion.request_id == request.id, RequestVersion.version == version
            )
        )
    ).one()
    order = col(Decision.decided_at).desc()
    decision = (
        await session.exec(
            select(Decision).where(Decision.request_id == request.id).order_by(order, col(Decision.id)).limit(1)
        )
    ).one()
    public = SharingRequestSummary.fields_of(request)
    shown = DecisionPublic.of(decision)
    if (
        decision.kind != DecisionKind.RULES
    ):  # only then is there a guardian to name (and the controller's name worth reading)
        shown = guardian_naming.decision(
            shown, await guardian_naming.words_for(session=session, principal=reader, controller=controller)
        )
    return SharingRequestPublic(**public, version=version, decision=shown, request=body)


def as_written(
    *, request: SharingRequest, version: int, decision: Decision, findings: Sequence[Finding], body: dict[str, Any]
) -> SharingRequestPublic:
    """The request as this transaction just wrote it, built from what was written
    (and the rules' findings) rather than read back."""
    public = DecisionPublic.of(decision, findings=findings)
    return SharingRequestPublic(
        **SharingRequestSummary.fields_of(request), version=version, decision=public, request=body
    )


async def read(
    *, session: AsyncSession, principal: Principal, request: SharingRequest, controller: str
) -> SharingRequestPublic:
    """The request's details for a reader; the read itself is recorded."""
    await events.request_read(session=session, actor=principal, request=request, action=RequestAction.READ)
    return await details(session=session, request=request, reader=principal, controller=controller)


async def list_page(
    *,
    session: AsyncSession,
    principal: Principal,
    status: RequestStatus | None,
    purpose: PurposeCategory | None,
    cursor: str | None,
    limit: int,
    reference: str | None = None,
    updated_since: datetime | None = None,
) -> SharingRequestPage:
    """Newest first, keyset-paginated; an agency's page holds only its own requests."""
    query = select(SharingRequest)
    if not sees_all(principal):
        query = query.where(SharingRequest.requester_org == principal.org)
    for column, value in ((SharingRequest.purpose_category, purpose), (SharingRequest.reference, reference)):
        if value is not None:
            query = query.where(column == value)
    if status is not None:
        query = query.where(status_read_as(status, utcnow()))
    if updated_since is not None:
        query = query.where(col(SharingRequest.updated_at) >= updated_since)
    order = [descending(col(SharingRequest.created_at), datetime), descending(col(SharingRequest.id), str)]
    rows, next_cursor = await keyset_page(
        session, query, order=order, key=lambda row: (row.created_at, row.id), cursor=cursor, limit=limit
    )
    return SharingRequestPage(items=[SharingRequestSummary.of(row) for row in rows], next_cursor=next_cursor)


async def dry_run(
    *,
    session: AsyncSession,
    registry: PolicyRegistry,
    principal: Principal,
    body: SharingRequestBody,
    policy_name: str | None,
    policy_version: str | None,
    requester: str | None,
    subject_keys: SubjectKeys,
    max_identifiers: int,
) -> EvaluationPublic:
    """How a request would be decided now, as `requester` (an agency:
    only itself), under a held policy or the active one."""
    if requester is not None and requester != principal.org and not sees_all(principal):
        raise Forbidden("an agency may evaluate only as its own organisation")
    if (policy_name is None) != (policy_version is None):
        raise InvalidInput(
            "policy_version" if policy_version is None else "policy_name",
            "give policy_name and policy_version together",
            location="query",
        )
    if policy_name is not None and policy_version is not None:
        policy = await registry.get(session=session, name=policy_name, version=policy_version)
    else:
        policy = await registry.active(session=session)
    return await adjudication.dry_run(
        session=session,
        policy=policy,
        body=body,
        requester_code=requester or principal.org,
        subject_keys=subject_keys,
        max_identifiers=max_identifiers,
        as_submitted=policy_name is None,
    )
