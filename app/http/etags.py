"""HTTP preconditions: strong ETags from row versions, If-Match on changes (412;
428 where required), If-None-Match on reads (304).

A resource that can change carries a version that goes up with every change: `row_version` for a sharing request
(every workflow move updates its row), `version` for organisations, agreements, information assets and webhook
endpoints. Its ETag is `"<kind>-<key>-v<version>"`. A change checks If-Match against the row it is about to change, in
the same transaction: organisations, agreements, information assets and webhook endpoints are locked (FOR UPDATE)
before the check; a sharing request's UPDATE compares its row version, so a move that lost a race is refused (a 412
to a caller who sent If-Match, app/errors.py).
"""

from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import PreconditionFailed, PreconditionRequired, problem_doc
from app.http.dependencies import CurrentRequest, PathName
from app.http.roles import AssetWriter
from app.http.session import SessionDep
from app.models.agreement import SharingAgreement
from app.models.information_asset import InformationAsset
from app.models.organisation import Organisation
from app.models.sharing_request import SharingRequest, claim_lapsed
from app.models.webhook import WebhookEndpoint
from app.services.agreements import organisations
from app.services.agreements import register as agreements
from app.services.information_assets import register as information_assets

Versioned = SharingRequest | Organisation | SharingAgreement | WebhookEndpoint | InformationAsset
Row = TypeVar("Row", SharingRequest, Organisation, SharingAgreement, WebhookEndpoint, InformationAsset)

IF_MATCH = "The resource's `ETag` as last read (or `*`): a change made since is refused with a 412 and changes nothing"
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=1000, description=IF_MATCH)]
IfMatchRequired = Annotated[
    str | None, Header(alias="If-Match", max_length=1000, description="Required (else 428). " + IF_MATCH)
]
IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        max_length=1000,
        description="An `ETag` already held: a 304 without a body while it is still current",
    ),
]

ETAG_HEADER = {
    "ETag": {
        "description": "The resource's current entity tag, for If-Match and If-None-Match",
        "schema": {"type": "string"},
    }
}
# OpenAPI entries: a read's 304, a change's 412 and 428.
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the `If-None-Match` ETag is still current", "headers": ETAG_HEADER}
}
STALE: dict[int | str, dict[str, Any]] = {
    412: problem_doc(
        "`If-Match` does not name the current ETag (`current_etag` does): "
        "someone changed the resource since; nothing was changed"
    )
}
REQUIRED: dict[int | str, dict[str, Any]] = STALE | {
    428: problem_doc("The `If-Match` header is required on this change: send the ETag a GET gave")
}


def etag(row: Versioned) -> str:
    """The row's strong entity tag, quoted: its kind, key and version."""
    if isinstance(row, SharingRequest):
        # A lapsed claim reads as returned before the next write returns it (and bumps the version): its own tag.
        return f'"request-{row.id}-v{row.row_version}{"-lapsed" if claim_lapsed(row) else ""}"'
    if isinstance(row, WebhookEndpoint):
        return f'"webhook-endpoint-{row.id}-v{row.version}"'
    if isinstance(row, InformationAsset):
        return f'"information-asset-{row.code}-v{row.version}"'
    kind = "organisation" if isinstance(row, Organisation) else "agreement"
    return f'"{kind}-{row.code}-v{row.version}"'


def _listed(header: str) -> list[str]:
    """The entity tags a precondition header lists, as sent."""
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def check(row: Versioned, if_match: str | None, *, required: bool = False) -> None:
    """Refuse a change whose If-Match names no current ETag of the row (412),
    or that sends none where one is required (428)."""
    if if_match is None:
        if required:
            raise PreconditionRequired(
                "the If-Match header is required: send the ETag that a GET of the resource answered"
            )
        return
    current, listed = etag(row), _listed(if_match)
    if "*" not in listed and current not in listed:  # strong comparison: a weak tag never matches
        raise PreconditionFailed(
            f"If-Match names {if_match[:200]!r}, not the current ETag {current}",
            current_etag=current,
            headers={"ETag": current},
        )


def tagged(response: Response, row: Versioned) -> None:
    """Put the row's ETag, as it now stands, on the answer."""
    response.headers["ETag"] = etag(row)


def not_modified(row: Versioned, if_none_match: str | None) -> Response | None:
    """A 304 when If-None-Match names the row's current ETag (weak comparison, as for GET) or is `*`; else None."""
    if if_none_match is None:
        return None
    current, listed = etag(row), _listed(if_none_match)
    if "*" in listed or current in {tag.removeprefix("W/") for tag in listed}:
        return Response(status_code=304, headers={"ETag": current})
    return None


async def locked(session: AsyncSession, row: Row) -> Row:
    """The row read again under a row lock (FOR UPDATE) held until the transaction ends,
    so the check sees what the change will change."""
    await session.refresh(row, with_for_update=True)
    return row


async def request_to_change(request: CurrentRequest, if_match: IfMatch = None) -> SharingRequest:
    """The sharing request named in the path, once If-Match, if sent, names its current ETag (else 412)."""
    check(request, if_match)
    return request


async def organisation_to_change(code: PathName, session: SessionDep, if_match: IfMatchRequired = None) -> Organisation:
    """The organisation named in the path, locked, once If-Match names its current ETag (404, 428, 412)."""
    organisation = await locked(session, await organisations.get(session=session, code=code))
    check(organisation, if_match, required=True)
    return organisation


async def agreement_to_change(
    code: PathName, session: SessionDep, if_match: IfMatchRequired = None
) -> SharingAgreement:
    """The agreement named in the path, locked, once If-Match names its current ETag (404, 428, 412)."""
    agreement = await locked(session, await agreements.get(session=session, code=code))
    check(agreement, if_match, required=True)
    return agreement


async def asset_to_change(
    code: PathName, session: SessionDep, writer: AssetWriter, if_match: IfMatchRequired = None
) -> InformationAsset:
    """The information asset named in the path, locked, once the caller may change it (an IAO only its own: 403)
    and If-Match names its current ETag (404, 403, 428, 412)."""
    asset = await locked(session, await information_assets.get(session=session, code=code))
    information_assets.check_may_change(writer, asset)
    check(asset, if_match, required=True)
    return asset


RequestToChange = Annotated[SharingRequest, Depends(request_to_change)]
OrganisationToChange = Annotated[Organisation, Depends(organisation_to_change)]
AgreementToChange = Annotated[SharingAgreement, Depends(agreement_to_change)]
AssetToChange = Annotated[InformationAsset, Depends(asset_to_change)]
