"""The directory of people: the address and name each person's identity provider gave at their last sign-in."""

from collections.abc import Collection
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.notification import Person


async def seen(
    *,
    session: AsyncSession,
    sub: str,
    org: str,
    name: str | None,
    email: str | None,
    now: datetime,
    roles: Collection[str] = (),
) -> None:
    """Record a person signing in to the console, in the sign-in's transaction: their address, name and honoured roles
    as given now."""
    held = " ".join(sorted(roles)) or None
    values = {"sub": sub, "org": org, "name": name, "email": email, "last_signed_in_at": now, "roles": held}
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(Person).values(values)
    # Two sign-ins of one person at once: the later write wins, and neither fails.
    statement = statement.on_conflict_do_update(
        index_elements=["sub", "org"], set_={"name": name, "email": email, "last_signed_in_at": now, "roles": held}
    )
    await session.exec(statement)


async def address_of(*, session: AsyncSession, sub: str, org: str) -> str | None:
    """The address last recorded for this person, if any."""
    return (await session.exec(select(Person.email).where(Person.sub == sub, Person.org == org))).first()


async def addresses_holding(*, session: AsyncSession, roles: Collection[str], org: str) -> list[str]:
    """The addresses of the organisation's people whose last sign-in held any of these roles, each once, in order.
    Roles are one closed vocabulary, space-separated: no role's name holds another's."""
    held = or_(*(col(Person.roles).contains(role) for role in roles))
    query = select(Person.email).where(Person.org == org, held, col(Person.email).is_not(None)).order_by(Person.email)
    return list(dict.fromkeys(address for address in (await session.exec(query)).all() if address))
