"""Registering and changing information assets: IG managers and admins change any, an information asset owner
(role `iao`) only the assets it owns; every change is an audit event in the same transaction."""

from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Forbidden
from app.models.actions import AdminAction
from app.models.information_asset import (
    InformationAsset,
    InformationAssetCreate,
    InformationAssetPage,
    InformationAssetPublic,
    InformationAssetUpdate,
)
from app.models.vocabulary import Role
from app.principal import Principal
from app.services.agreements.registers import Register

ASSETS = Register(
    InformationAsset,
    "information asset",
    registered=AdminAction.INFORMATION_ASSET_REGISTERED,
    changed=AdminAction.INFORMATION_ASSET_CHANGED,
)
# Who may change any asset; an IAO alone may change only its own.
STEWARDS = frozenset({Role.IG_MANAGER, Role.ADMIN})


async def register(*, session: AsyncSession, actor: Principal, data: InformationAssetCreate) -> InformationAsset:
    """Add an asset; a code already taken is a 409."""
    return await ASSETS.add(session=session, actor=actor, entry=InformationAsset(**data.model_dump()))


async def get(*, session: AsyncSession, code: str) -> InformationAsset:
    """One asset, or 404."""
    return await ASSETS.get(session=session, code=code)


async def list_page(*, session: AsyncSession, cursor: str | None, limit: int) -> InformationAssetPage:
    """Assets ordered by code, from the cursor."""
    rows, next_cursor = await ASSETS.page(session=session, cursor=cursor, after=None, limit=limit)
    return InformationAssetPage(items=[public(row) for row in rows], next_cursor=next_cursor)


def check_may_change(actor: Principal, asset: InformationAsset) -> None:
    """An IG manager or admin may change any asset; an IAO only one it owns (403: it may read it, so it exists)."""
    if actor.roles & STEWARDS or asset.owner == actor.sub:
        return
    raise Forbidden(f"information asset {asset.code!r} is owned by another information asset owner")


async def update(
    *, session: AsyncSession, actor: Principal, asset: InformationAsset, changes: InformationAssetUpdate
) -> InformationAsset:
    """Apply the changes given to an asset the actor may change (checked, and the asset locked, by the caller)."""
    check_may_change(actor, asset)
    values = changes.model_dump(exclude_unset=True) | {"version": asset.version + 1}
    return await ASSETS.change(session=session, actor=actor, entry=asset, values=values)


def public(asset: InformationAsset) -> InformationAssetPublic:
    return InformationAssetPublic.model_validate(asset, from_attributes=True)
