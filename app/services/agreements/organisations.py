"""Registering and changing organisations (admin), and the check that a requester is one of them and active."""

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Forbidden
from app.models.actions import AdminAction
from app.models.organisation import (
    Organisation,
    OrganisationCreate,
    OrganisationPage,
    OrganisationPublic,
    OrganisationUpdate,
)
from app.models.vocabulary import DsptStatus, OrganisationType
from app.platform import driver
from app.principal import Principal
from app.services.agreements.registers import Register

# What every request reads of its caller's organisation: four columns through the connection, not an ORM object.
_CALLER = driver.prepare(
    select(Organisation.code, Organisation.type, Organisation.dspt_status, Organisation.active).where(
        Organisation.code == bindparam("code")
    )
)
CALLER = "caller_organisation"  # in Session.info: the row as read in this request


@dataclass(frozen=True, slots=True)
class CallerOrganisation:
    code: str
    type: OrganisationType
    dspt_status: DsptStatus
    active: bool


async def caller_organisation(*, session: AsyncSession, code: str) -> CallerOrganisation | None:
    """The organisation's code, type, DSPT status and `active`, or None;
    read once per request and kept with its session."""
    held: CallerOrganisation | None = session.sync_session.info.get(CALLER)
    if held is not None and held.code == code:
        return held
    rows = await driver.fetch(session, _CALLER, {"code": code}, transaction=driver.Transaction.JOINED)
    if not rows:
        return None
    found, type_, dspt_status, active = rows[0]  # the code is the primary key: one row at most
    organisation = CallerOrganisation(
        code=found, type=OrganisationType(type_), dspt_status=DsptStatus(dspt_status), active=active
    )
    session.sync_session.info[CALLER] = organisation
    return organisation


ORGANISATIONS = Register(
    Organisation,
    "organisation",
    registered=AdminAction.ORGANISATION_REGISTERED,
    changed=AdminAction.ORGANISATION_CHANGED,
)


async def register(*, session: AsyncSession, actor: Principal, data: OrganisationCreate) -> Organisation:
    """Add an organisation; a code already taken is a 409."""
    return await ORGANISATIONS.add(session=session, actor=actor, entry=Organisation(**data.model_dump()))


async def get(*, session: AsyncSession, code: str) -> Organisation:
    """One organisation, or 404."""
    return await ORGANISATIONS.get(session=session, code=code)


async def list_page(*, session: AsyncSession, cursor: str | None, after: str | None, limit: int) -> OrganisationPage:
    """Organisations ordered by code, from the cursor (or, deprecated, after the given code)."""
    rows, next_cursor = await ORGANISATIONS.page(session=session, cursor=cursor, after=after, limit=limit)
    return OrganisationPage(
        items=[OrganisationPublic.model_validate(row, from_attributes=True) for row in rows], next_cursor=next_cursor
    )


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


async def ensure_controller(*, session: AsyncSession, code: str, name: str | None = None) -> bool:
    """Register the organisation that runs the service if it is missing,
    so that its admins can work on a fresh database.

    It is registered under `name` (CALDICOTT_CONTROLLER_NAME) or, without one, its code, as an NHS trust whose
    toolkit status is not yet known; an admin corrects any of them.
    """
    if await session.get(Organisation, code) is not None:
        return False
    controller = Organisation(
        code=code,
        name=name or f"{code} (the controller)",
        type=OrganisationType.NHS_TRUST,
        dspt_status=DsptStatus.NOT_PUBLISHED,
    )
    await ORGANISATIONS.add(session=session, actor=None, entry=controller)
    return True
