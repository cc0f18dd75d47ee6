"""What the registers share: organisations, sharing agreements and information assets are each a table of entries
keyed by a code.

An entry is added (a code already taken is a 409), read (or 404), listed by code and changed the same way in
both, and every change is an admin audit event in the same transaction. Each service keeps its own checks.
"""

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, NotFound
from app.models.actions import AdminAction
from app.models.agreement import SharingAgreement
from app.models.base import utcnow
from app.models.information_asset import InformationAsset
from app.models.organisation import Organisation
from app.platform.pagination import ascending, keyset_page
from app.principal import Principal
from app.services.audit import events

Entry = TypeVar("Entry", Organisation, SharingAgreement, InformationAsset)


@dataclass(frozen=True)
class Register(Generic[Entry]):
    """One register: its table, what an entry is called in problems, and the admin actions that record its changes."""

    table: type[Entry]
    noun: str
    registered: AdminAction
    changed: AdminAction

    async def add(self, *, session: AsyncSession, actor: Principal | None, entry: Entry) -> Entry:
        """Add a new entry (actor None: the service itself); a code already taken is a 409."""
        if await session.get(self.table, entry.code) is not None:
            raise Conflict(f"{self.noun} {entry.code!r} is already registered")
        session.add(entry)
        await session.flush()
        await events.admin_changed(session=session, actor=actor, action=self.registered, target_id=entry.code)
        return entry

    async def get(self, *, session: AsyncSession, code: str) -> Entry:
        """One entry, or 404."""
        entry = await session.get(self.table, code)
        if entry is None:
            raise NotFound(f"no {self.noun} {code!r}")
        return entry

    async def page(
        self, *, session: AsyncSession, cursor: str | None, after: str | None, limit: int
    ) -> tuple[list[Entry], str | None]:
        """Entries ordered by code, from the cursor (or, deprecated, after the given code),
        and the next page's cursor."""
        code = col(self.table.code)
        query = select(self.table)
        if after is not None:
            query = query.where(code > after)
        return await keyset_page(
            session, query, order=[ascending(code, str)], key=lambda row: (row.code,), cursor=cursor, limit=limit
        )

    async def change(self, *, session: AsyncSession, actor: Principal, entry: Entry, values: dict[str, Any]) -> Entry:
        """Set the fields given (None leaves a field as it is), stamp `updated_at` and record the change."""
        for field, value in values.items():
            if value is not None:
                setattr(entry, field, value)
        entry.updated_at = utcnow()
        await session.flush()
        await events.admin_changed(session=session, actor=actor, action=self.changed, target_id=entry.code)
        return entry
