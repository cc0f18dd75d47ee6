"""Registering and changing organisations (admin), and the check that a requester is one of them and active."""

from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Forbidden
from app.http.auth import CallerOrganisation, Principal, caller_organisation
from app.models.actions import AdminAction
from app.models.organisation import Organisation, OrganisationCreate, OrganisationPage, OrganisationPublic, OrganisationUpdate
from app.models.vocabulary import DsptStatus, OrganisationType
from app.services.agreements.registers import Register

ORGANISATIONS = Register(Organisation, "organisation", registered=AdminAction.ORGANISATION_REGISTERED, changed=AdminAction.ORGANISATION_CHANGED)


async def register(*, session: AsyncSession, actor: Principal, data: OrganisationCreate) -> Organisation:
    """Add an organisation; a code already taken is a 409."""
    return await ORGANISATIONS.add(session=session, actor=actor, entry=Organisation(**data.model_dump()))


async def get(*, session: AsyncSession, code: str) -> Organisation:
    """One organisation, or 404."""
    return await ORGANISATIONS.get(session=session, code=code)


async def list_page(*, session: AsyncSession, cursor: str | None, after: str | None, limit: int) -> OrganisationPage:
    """Organisations ordered by code, from the cursor (or, deprecated, after the given code)."""
    rows, next_cursor = await ORGANISATIONS.page(session=session, cursor=cursor, after=after, limit=limit)
    return OrganisationPage(items=[OrganisationPublic.model_validate(row, from_attributes=True) for row in rows], next_cursor=next_cursor)


async def update(*, session: AsyncSession, actor: Principal, code: str, changes: OrganisationUpdate) -> Organisation:
    """Apply an admin's changes (name, type, DSPT status, active)."""
    organisation = await get(session=session, code=code)
    values = changes.model_dump(exclude_unset=True) | {"version": organisation.version + 1}
    return await ORGANISATIONS.change(session=session, actor=actor, entry=organisation, values=values)


async def active_requester(*, session: AsyncSession, code: str) -> CallerOrganisation:
    """The caller's organisation (code, type, DSPT status), which must be registered and active, else 403."""
    organisation = await caller_organisation(session=session, code=code)
    if organisation is None or not organisation.active:
        raise Forbidden(f"organisation {code!r} is not registered or not active")
    return organisation


async def ensure_controller(*, session: AsyncSession, code: str) -> bool:
    """Register the organisation that runs the service if it is missing, so that its admins can work on a fresh database.

    It is registered as an NHS trust whose toolkit status is not yet known; an admin corrects both.
    """
    if await session.get(Organisation, code) is not None:
        return False
    controller = Organisation(code=code, name=f"{code} (the controller)", type=OrganisationType.NHS_TRUST, dspt_status=DsptStatus.NOT_PUBLISHED)
    await ORGANISATIONS.add(session=session, actor=None, entry=controller)
    return True
