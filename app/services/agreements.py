"""Registering and changing information sharing agreements (admin)."""

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import Principal
from app.errors import Conflict, InvalidInput, NotFound
from app.models.actions import AdminAction
from app.models.agreement import SharingAgreement, SharingAgreementCreate, SharingAgreementUpdate
from app.models.base import utcnow
from app.services import events
from app.services.pagination import ascending, keyset_page


async def register(*, session: AsyncSession, actor: Principal, data: SharingAgreementCreate) -> SharingAgreement:
    """Add an agreement; a code already taken is a 409."""
    if await session.get(SharingAgreement, data.code) is not None:
        raise Conflict(f"sharing agreement {data.code!r} is already registered")
    agreement = SharingAgreement(**data.model_dump())
    session.add(agreement)
    await session.flush()
    await events.admin_changed(session=session, actor=actor, action=AdminAction.AGREEMENT_REGISTERED, target_id=agreement.code)
    return agreement


async def get(*, session: AsyncSession, code: str) -> SharingAgreement:
    """One agreement, or 404."""
    agreement = await session.get(SharingAgreement, code)
    if agreement is None:
        raise NotFound(f"no sharing agreement {code!r}")
    return agreement


async def find(*, session: AsyncSession, code: str) -> SharingAgreement | None:
    """The agreement a request names, or None when it is not registered."""
    return await session.get(SharingAgreement, code)


async def list_page(*, session: AsyncSession, cursor: str | None, after: str | None, limit: int) -> tuple[list[SharingAgreement], str | None]:
    """Agreements ordered by code, from the cursor (or, deprecated, after the given code), and the next page's cursor."""
    query = select(SharingAgreement)
    if after is not None:
        query = query.where(col(SharingAgreement.code) > after)
    return await keyset_page(session, query, order=[ascending(col(SharingAgreement.code), str)], key=lambda row: (row.code,), cursor=cursor, limit=limit)


async def update(*, session: AsyncSession, actor: Principal, code: str, changes: SharingAgreementUpdate) -> SharingAgreement:
    """Apply an admin's changes; the resulting period must still be ordered."""
    agreement = await get(session=session, code=code)
    values = changes.model_dump(exclude_unset=True)
    valid_from = values.get("valid_from") or agreement.valid_from
    valid_until = values.get("valid_until") or agreement.valid_until
    if valid_until < valid_from:
        raise InvalidInput("valid_until", "must not be before valid_from")
    for field, value in values.items():
        if value is not None:
            setattr(agreement, field, value)
    agreement.updated_at = utcnow()
    await session.flush()
    await events.admin_changed(session=session, actor=actor, action=AdminAction.AGREEMENT_CHANGED, target_id=agreement.code)
    return agreement
