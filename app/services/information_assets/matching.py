"""Which registered assets hold the items of an approved request: those holding any of its data categories.

A decision's facts record names them (under FACTS_KEY) when it approves; the rules never read that key
(app/rules/facts.py rebuilds Facts from the other keys), so naming assets changes no outcome and no replay."""

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select as core_select
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.information_asset import InformationAsset
from app.models.sharing_request import RequestVersion, SharingRequest
from app.models.vocabulary import DataCategory
from app.platform import driver

FACTS_KEY = "information_assets"
# Read through the connection, not the ORM: a submission's rows wait in the write queue (app/platform/writes.py),
# which an ORM query would write early, splitting the hot path's one statement in two.
_HOLDINGS = driver.prepare(core_select(InformationAsset.code, InformationAsset.data_categories))


async def holding(*, session: AsyncSession, categories: Iterable[DataCategory]) -> list[str]:
    """The codes, sorted, of the assets that hold any of these categories.

    Matched here rather than in SQL: the categories are a JSON list, read alike on both databases, and the
    register is a few hundred rows at most."""
    wanted = {DataCategory(category).value for category in categories}
    rows = await driver.fetch(session, _HOLDINGS, {}, transaction=driver.Transaction.JOINED)
    # The driver's own rows carry JSON as text on PostgreSQL; SQLAlchemy's (SQLite) decode it.
    held = {code: json.loads(value) if isinstance(value, str) else value for code, value in rows}
    return sorted(code for code, categories_held in held.items() if wanted.intersection(categories_held))


async def requested_categories(*, session: AsyncSession, request: SharingRequest) -> list[DataCategory]:
    """The data categories of the request's current version, as stored."""
    query = select(RequestVersion.body).where(
        RequestVersion.request_id == request.id, RequestVersion.version == request.current_version
    )
    body = (await session.exec(query)).one()
    return [DataCategory(item["category"]) for item in body["data_items"]]


async def named_in_facts(
    *, session: AsyncSession, facts: dict[str, Any] | None, approved: Iterable[DataCategory] | None
) -> dict[str, Any] | None:
    """A decision's facts record naming the assets that hold the `approved` categories, when any do.

    `approved` None (the decision approves nothing) names none, even where the facts came from an approval it
    overturns; a decision no asset touches keeps the record it had before the register existed."""
    if facts is None:
        return None
    record = {key: value for key, value in facts.items() if key != FACTS_KEY}
    assets = await holding(session=session, categories=approved) if approved is not None else []
    return record | {FACTS_KEY: assets} if assets else record
