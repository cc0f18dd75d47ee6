"""Registering and changing organisations (admin)."""

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import Principal
from app.errors import Conflict, Forbidden, NotFound
from app.models.actions import AdminAction
from app.models.base import utcnow
from app.models.organisation import Organisation, OrganisationCreate, OrganisationUpdate
from app.services import events
from app.services.pagination import ascending, keyset_page


async def register(*, session: AsyncSession, actor: Principal, data: OrganisationCreate) -> Organisation:
    """Add an organisation; a code already taken is a 409."""
    if await session.get(Organisation, data.code) is not None:
        raise Conflict(f"organisation {data.code!r} is already registered")
    organisation = Organisation(**data.model_dump(mode="json"))
    session.add(organisation)
    await session.flush()
    await events.admin_changed(session=session, actor=actor, action=AdminAction.ORGANISATION_REGISTERED, target_id=organisation.code)
    return organisation


async def get(*, session: AsyncSession, code: str) -> Organisation:
    """One organisation, or 404."""
    organisation = await session.get(Organisation, code)
    if organisation is None:
        raise NotFound(f"no organisation {code!r}")
    return organisation


async def list_page(*, session: AsyncSession, cursor: str | None, after: str | None, limit: int) -> tuple[list[Organisation], str | None]:
    """Organisations ordered by code, from the cursor (or, deprecated, after the given code), and the next page's cursor."""
    query = select(Organisation)
    if after is not None:
        query = query.where(col(Organisation.code) > after)
    return await keyset_page(session, query, order=[ascending(col(Organisation.code), str)], key=lambda row: (row.code,), cursor=cursor, limit=limit)


async def update(*, session: AsyncSession, actor: Principal, code: str, changes: OrganisationUpdate) -> Organisation:
    """Apply an admin's changes (name, type, DSPT status, active)."""
    organisation = await get(session=session, code=code)
    for field, value in changes.model_dump(mode="json", exclude_unset=True).items():
        if value is not None:
            setattr(organisation, field, value)
    organisation.updated_at = utcnow()
    await session.flush()
    await events.admin_changed(session=session, actor=actor, action=AdminAction.ORGANISATION_CHANGED, target_id=organisation.code)
    return organisation


async def active_requester(*, session: AsyncSession, code: str) -> Organisation:
    """The caller's organisation, which must be registered and active, else 403."""
    organisation = await session.get(Organisation, code)
    if organisation is None or not organisation.active:
        raise Forbidden(f"organisation {code!r} is not registered or not active")
    return organisation
