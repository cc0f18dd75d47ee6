"""Reading consultations: who may read a request for them, its consultations, their place in its history, and
whether the policy's consultations are answered before an approval (the 409 `check_answered` raises).

A local policy may name findings whose approval waits for a role's answer (`consultation` in app/rules/policy.py).
The requesting agency never reads a consultation: the advice is the controller's own.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, Forbidden, NotFound
from app.models.actions import RequestAction
from app.models.base import utcnow
from app.models.consultation import Consultation, ConsultationList, ConsultationPublic, ConsultationQueue
from app.models.review import ConsultationEntry
from app.models.sharing_request import SharingRequest
from app.models.vocabulary import SAFEGUARDING_PURPOSES, ConsultationStatus, ConsultedRole, Role
from app.platform.pagination import ascending, keyset_page, sorted_page
from app.principal import Principal
from app.rules import Policy
from app.services.audit import events

# Those who read every request of the controller already, and so every consultation on it.
WHOLE_READERS = frozenset({Role.GUARDIAN, Role.AUDITOR, Role.ADMIN, Role.IG_MANAGER})
# Those who read every consultation of the controller in the list of consultations (GET /v1/consultations).
LIST_READERS = frozenset({Role.GUARDIAN, Role.AUDITOR})


def asked_of(consultation: Consultation, principal: Principal) -> bool:
    """Whether `principal` holds the role consulted (and, for an IAO, is the owner named)."""
    return principal.has(Role(consultation.role)) and consultation.asked_sub in (None, principal.sub)


async def _all_on(session: AsyncSession, request_id: str) -> list[Consultation]:
    query = select(Consultation).where(Consultation.request_id == request_id)
    return list((await session.exec(query.order_by(col(Consultation.asked_at), col(Consultation.id)))).all())


async def readable(*, session: AsyncSession, principal: Principal, request_id: str) -> SharingRequest:
    """The request if the caller may read it, else 404: the controller's readers every one, an agency its own, a
    safeguarding lead the safeguarding requests, and anyone consulted on a request that one."""
    request = await session.get(SharingRequest, request_id)
    if request is not None and (
        principal.roles & WHOLE_READERS
        or (principal.has(Role.AGENCY) and request.requester_org == principal.org)
        or (principal.has(Role.SAFEGUARDING_LEAD) and request.purpose_category in SAFEGUARDING_PURPOSES)
        or (principal.inside and any(asked_of(row, principal) for row in await _all_on(session, request.id)))
    ):
        return request
    raise NotFound(f"no sharing request {request_id!r}")


async def listed(
    *, session: AsyncSession, principal: Principal, request: SharingRequest, cursor: str | None, limit: int
) -> ConsultationList:
    """The request's consultations the caller may read: every one for the controller's readers, those asked of them
    for the people consulted; an agency none (403). The read is recorded."""
    if not principal.inside:
        raise Forbidden("consultations are the controller's own advice; the requesting agency does not read them")
    rows = await _all_on(session, request.id)
    if not principal.roles & WHOLE_READERS:
        rows = [row for row in rows if asked_of(row, principal)]
    await events.request_read(session=session, actor=principal, request=request, action=RequestAction.READ)
    now = utcnow()
    page, next_cursor = sorted_page(
        rows, kinds=(datetime, str), key=lambda row: (row.asked_at, row.id), cursor=cursor, limit=limit
    )
    return ConsultationList(
        request_id=request.id, items=[ConsultationPublic.of(row, now) for row in page], next_cursor=next_cursor
    )


async def addressed(
    *,
    session: AsyncSession,
    principal: Principal,
    status: ConsultationStatus | None,
    cursor: str | None,
    limit: int,
) -> ConsultationQueue:
    """The consultations the caller is to answer, or (a guardian, an auditor) every one: those asked of a role the
    caller holds, an IAO those naming it; soonest due first, of one status or all."""
    now = utcnow()
    query = select(Consultation)
    if not principal.roles & LIST_READERS:
        query = query.where(_asked_of_clause(principal))
    if status is ConsultationStatus.ANSWERED:
        query = query.where(col(Consultation.answered_at).is_not(None))
    elif status is ConsultationStatus.OPEN:
        query = query.where(col(Consultation.answered_at).is_(None), col(Consultation.due_at) > now)
    elif status is ConsultationStatus.OVERDUE:
        query = query.where(col(Consultation.answered_at).is_(None), col(Consultation.due_at) <= now)
    order = [ascending(col(Consultation.due_at), datetime), ascending(col(Consultation.id), str)]
    rows, next_cursor = await keyset_page(
        session, query, order=order, key=lambda row: (row.due_at, row.id), cursor=cursor, limit=limit
    )
    return ConsultationQueue(items=[ConsultationPublic.of(row, now) for row in rows], next_cursor=next_cursor)


def _asked_of_clause(principal: Principal) -> Any:
    """`asked_of` as SQL: a role the caller holds asked as a whole, or the caller named as the IAO."""
    roles = [str(role) for role in ConsultedRole if role != ConsultedRole.IAO and principal.has(Role(role))]
    named = and_(col(Consultation.role) == ConsultedRole.IAO, col(Consultation.asked_sub) == principal.sub)
    if not principal.has(Role.IAO):
        return col(Consultation.role).in_(roles)
    return or_(col(Consultation.role).in_(roles), named)


async def history_entries(*, session: AsyncSession, principal: Principal, request_id: str) -> list[ConsultationEntry]:
    """The consultations as a history shows them to the controller's people; none for the requesting agency."""
    if not principal.inside:
        return []
    now = utcnow()
    return [
        ConsultationEntry(at=row.asked_at, consultation=ConsultationPublic.of(row, now))
        for row in await _all_on(session, request_id)
    ]


async def check_answered(
    *, session: AsyncSession, policy: Policy, request: SharingRequest, findings: list[dict[str, Any]]
) -> None:
    """A 409 naming the finding and the role while the policy wants a consultation answered before an approval."""
    needed = policy.consultation_rule.needed_for(findings)
    if not needed:
        return
    answered = {ConsultedRole(row.role) for row in await _all_on(session, request.id) if row.answered_at is not None}
    waiting = [(rule, role) for rule, role in needed if role not in answered]
    if waiting:
        named = ", ".join(f"{rule} needs the {role}'s answer" for rule, role in waiting)
        raise Conflict(
            f"approving this request waits for a consultation under policy {policy.name} {policy.version}: {named}; "
            f"consult with POST /v1/sharing-requests/{request.id}/consultations (you may still refuse or ask for "
            "information)",
            current_status=request.status,
        )
