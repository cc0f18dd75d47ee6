"""The information asset register: the controller's systems and stores that hold person-identifiable data."""

from fastapi import APIRouter, Response, status

from app.errors import BODY_PROBLEMS, INVALID_INPUT, PROBLEM_RESPONSES, problem_doc
from app.http.dependencies import PageCursor, PageLimit, PathName
from app.http.etags import ETAG_HEADER, NOT_MODIFIED, REQUIRED, AssetToChange, IfNoneMatch, not_modified, tagged
from app.http.idempotency import IdempotentRoute
from app.http.locations import created, locate
from app.http.roles import AssetReader, AssetRegistrar, AssetWriter
from app.http.session import SessionDep
from app.models.information_asset import (
    InformationAssetCreate,
    InformationAssetPage,
    InformationAssetPublic,
    InformationAssetUpdate,
)
from app.services.information_assets import register as assets

router = APIRouter(prefix="/v1/information-assets", tags=["Registers"], responses=PROBLEM_RESPONSES)
router.route_class = IdempotentRoute  # every POST that changes something takes an Idempotency-Key


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register an information asset (an IG manager or admin)",
    responses=BODY_PROBLEMS
    | created("The asset as registered", "The asset's own URL")
    | {409: problem_doc("The code is already registered")},
)
async def register_asset(
    data: InformationAssetCreate, response: Response, session: SessionDep, registrar: AssetRegistrar
) -> InformationAssetPublic:
    asset = await assets.register(session=session, actor=registrar, data=data)
    locate(response, f"/v1/information-assets/{asset.code}")
    tagged(response, asset)
    return assets.public(asset)


@router.get("", summary="List information assets, ordered by code", responses=INVALID_INPUT)
async def list_assets(
    session: SessionDep, _: AssetReader, cursor: PageCursor = None, limit: PageLimit = 50
) -> InformationAssetPage:
    return await assets.list_page(session=session, cursor=cursor, limit=limit)


@router.get(
    "/{code}",
    summary="One information asset",
    responses=INVALID_INPUT
    | NOT_MODIFIED
    | {200: {"description": "The asset", "headers": ETAG_HEADER}, 404: problem_doc("No such asset")},
)
async def get_asset(
    code: PathName, response: Response, session: SessionDep, _: AssetReader, if_none_match: IfNoneMatch = None
) -> InformationAssetPublic:
    asset = await assets.get(session=session, code=code)
    if (unchanged := not_modified(asset, if_none_match)) is not None:
        return unchanged  # type: ignore[return-value]
    tagged(response, asset)
    return assets.public(asset)


@router.patch(
    "/{code}",
    summary="Change an information asset (an IG manager or admin any, an IAO its own); "
    "`If-Match` (the ETag a GET gave) is required",
    responses=BODY_PROBLEMS
    | REQUIRED
    | {
        200: {"description": "The asset as changed", "headers": ETAG_HEADER},
        403: problem_doc("An IAO may change only the assets it owns"),
        404: problem_doc("No such asset"),
    },
)
async def update_asset(
    changes: InformationAssetUpdate,
    response: Response,
    session: SessionDep,
    writer: AssetWriter,
    asset: AssetToChange,
) -> InformationAssetPublic:
    asset = await assets.update(session=session, actor=writer, asset=asset, changes=changes)
    tagged(response, asset)
    return assets.public(asset)
