"""Reading disclosures: a request's, for those who may read it, and the controller's list by status, owner and
whether overdue, an IAO seeing only the assets it owns.

The requesting agency reads its own request's disclosures without the controller's internals (which asset, its
owner, who recorded it); any other agency is told 404, as for the request itself.
"""

from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import NotFound
from app.models.actions import RequestAction
from app.models.base import utcnow
from app.models.disclosure import Disclosure, DisclosureList, DisclosurePublic
from app.models.review import DisclosureEntry
from app.models.sharing_request import SharingRequest
from app.models.vocabulary import DisclosureStatus, Role
from app.platform.pagination import ascending, keyset_page
from app.principal import Principal
from app.services.audit import events

# The controller's people who read every disclosure; an IAO (without one of these) reads its own assets' only.
WHOLE_READERS = frozenset({Role.GUARDIAN, Role.AUDITOR, Role.ADMIN, Role.IG_MANAGER, Role.SIRO, Role.DPO})


def reads_all(principal: Principal) -> bool:
    """Whether the caller reads every disclosure of the controller."""
    return bool(principal.roles & WHOLE_READERS)


def may_see(principal: Principal, row: Disclosure) -> bool:
    """Whether the caller may see this disclosure: the controller's readers, its owner, the recipient agency."""
    return (
        reads_all(principal)
        or (principal.has(Role.IAO) and row.owner == principal.sub)
        or (principal.has(Role.AGENCY) and row.recipient_org == principal.org)
    )


async def readable_request(*, session: AsyncSession, principal: Principal, request_id: str) -> SharingRequest:
    """The request if the caller may read its disclosures, else 404: the controller's readers every one, the
    requesting agency its own, an IAO those where it owns one of the assets."""
    request = await session.get(SharingRequest, request_id)
    if request is not None and (
        reads_all(principal)
        or (principal.has(Role.AGENCY) and request.requester_org == principal.org)
        or (principal.has(Role.IAO) and await _owns_one(session, request.id, principal.sub))
    ):
        return request
    raise NotFound(f"no sharing request {request_id!r}")


async def _owns_one(session: AsyncSession, request_id: str, sub: str) -> bool:
    query = select(Disclosure.id).where(Disclosure.request_id == request_id, Disclosure.owner == sub)
    return (await session.exec(query.limit(1))).first() is not None


async def on_request(
    *, session: AsyncSession, principal: Principal, request: SharingRequest, cursor: str | None, limit: int
) -> DisclosureList:
    """The request's disclosures the caller may see, oldest opened first; the read is recorded."""
    query = select(Disclosure).where(Disclosure.request_id == request.id)
    if not reads_all(principal) and not principal.has(Role.AGENCY):
        query = query.where(Disclosure.owner == principal.sub)
    await events.request_read(session=session, actor=principal, request=request, action=RequestAction.READ)
    order = [ascending(col(Disclosure.opened_at), datetime), ascending(col(Disclosure.id), str)]
    rows, next_cursor = await keyset_page(
        session, query, order=order, key=lambda row: (row.opened_at, row.id), cursor=cursor, limit=limit
    )
    now = utcnow()
    return DisclosureList(
        items=[DisclosurePublic.of(row, now=now, inside=principal.inside) for row in rows], next_cursor=next_cursor
    )


async def listed(
    *,
    session: AsyncSession,
    principal: Principal,
    status: DisclosureStatus | None,
    owner: str | None,
    overdue: bool | None,
    cursor: str | None,
    limit: int,
) -> DisclosureList:
    """The controller's disclosures, soonest due first, filtered; an IAO's only those of the assets it owns."""
    now = utcnow()
    query = select(Disclosure)
    if not reads_all(principal):
        query = query.where(Disclosure.owner == principal.sub)
    if status is not None:
        query = query.where(Disclosure.status == status)
    if owner is not None:
        query = query.where(Disclosure.owner == owner)
    if overdue is not None:
        late = (col(Disclosure.status) == DisclosureStatus.PENDING) & (col(Disclosure.due_at) <= now)
        query = query.where(late if overdue else ~late)
    order = [ascending(col(Disclosure.due_at), datetime), ascending(col(Disclosure.id), str)]
    rows, next_cursor = await keyset_page(
        session, query, order=order, key=lambda row: (row.due_at, row.id), cursor=cursor, limit=limit
    )
    return DisclosureList(
        items=[DisclosurePublic.of(row, now=now, inside=True) for row in rows], next_cursor=next_cursor
    )


async def history_entries(*, session: AsyncSession, principal: Principal, request_id: str) -> list[DisclosureEntry]:
    """The request's disclosures once recorded or cancelled, as its history shows them to the caller (an IAO without
    another reading role: its own assets' only)."""
    query = select(Disclosure).where(Disclosure.request_id == request_id, col(Disclosure.recorded_at).is_not(None))
    if not reads_all(principal) and not principal.has(Role.AGENCY):
        query = query.where(Disclosure.owner == principal.sub)
    now = utcnow()
    return [
        DisclosureEntry(at=row.recorded_at, disclosure=DisclosurePublic.of(row, now=now, inside=principal.inside))
        for row in (await session.exec(query)).all()
        if row.recorded_at is not None
    ]


async def any_made(*, session: AsyncSession, request_id: str) -> bool:
    """Whether anything has been recorded disclosed under the request's approval."""
    query = select(Disclosure.id).where(
        Disclosure.request_id == request_id, Disclosure.status == DisclosureStatus.DISCLOSED
    )
    return (await session.exec(query.limit(1))).first() is not None


async def overdue_count(*, session: AsyncSession, now: datetime) -> int:
    """How many disclosures are pending past their due time."""
    query = select(func.count()).where(Disclosure.status == DisclosureStatus.PENDING, col(Disclosure.due_at) <= now)
    return int((await session.exec(query)).one())
