"""Registering and changing information sharing agreements (admin), and finding the one a request names."""

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import Principal
from app.errors import InvalidInput
from app.models.actions import AdminAction
from app.models.agreement import SharingAgreement, SharingAgreementCreate, SharingAgreementPage, SharingAgreementPublic, SharingAgreementUpdate
from app.services.registers import Register

AGREEMENTS = Register(SharingAgreement, "sharing agreement", registered=AdminAction.AGREEMENT_REGISTERED, changed=AdminAction.AGREEMENT_CHANGED)


async def register(*, session: AsyncSession, actor: Principal, data: SharingAgreementCreate) -> SharingAgreement:
    """Add an agreement; a code already taken is a 409."""
    return await AGREEMENTS.add(session=session, actor=actor, entry=SharingAgreement(**data.model_dump()))


async def get(*, session: AsyncSession, code: str) -> SharingAgreement:
    """One agreement, or 404."""
    return await AGREEMENTS.get(session=session, code=code)


async def find(*, session: AsyncSession, code: str) -> SharingAgreement | None:
    """The agreement a request names, or None when it is not registered."""
    return await session.get(SharingAgreement, code)


async def list_page(*, session: AsyncSession, cursor: str | None, after: str | None, limit: int) -> SharingAgreementPage:
    """Agreements ordered by code, from the cursor (or, deprecated, after the given code)."""
    rows, next_cursor = await AGREEMENTS.page(session=session, cursor=cursor, after=after, limit=limit)
    return SharingAgreementPage(items=[SharingAgreementPublic.model_validate(row, from_attributes=True) for row in rows], next_cursor=next_cursor)


async def update(*, session: AsyncSession, actor: Principal, code: str, changes: SharingAgreementUpdate) -> SharingAgreement:
    """Apply an admin's changes; the resulting period must still be ordered."""
    agreement = await get(session=session, code=code)
    values = changes.model_dump(exclude_unset=True)
    valid_from = values.get("valid_from") or agreement.valid_from
    valid_until = values.get("valid_until") or agreement.valid_until
    if valid_until < valid_from:
        raise InvalidInput("valid_until", "must not be before valid_from")
    return await AGREEMENTS.change(session=session, actor=actor, entry=agreement, values=values)
