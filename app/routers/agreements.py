"""Admin API for information sharing agreements."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app.errors import BODY_PROBLEMS, INVALID_INPUT, PROBLEM_RESPONSES, problem_doc
from app.http.dependencies import PageCursor, PageLimit, PathName
from app.http.deprecation import AFTER_HEADERS, deprecate_after
from app.http.etags import ETAG_HEADER, NOT_MODIFIED, REQUIRED, AgreementToChange, IfNoneMatch, not_modified, tagged
from app.http.idempotency import IdempotentRoute
from app.http.locations import created, locate
from app.http.roles import AdminPrincipal, OverseerPrincipal
from app.http.session import SessionDep
from app.models.agreement import (
    SharingAgreementCreate,
    SharingAgreementPage,
    SharingAgreementPublic,
    SharingAgreementUpdate,
    SharingAgreementVersionPage,
    SharingAgreementVersionPublic,
)
from app.models.base import STORABLE_TEXT
from app.services.agreements import register as agreements

router = APIRouter(prefix="/v1/sharing-agreements", tags=["Registers"], responses=PROBLEM_RESPONSES)
router.route_class = IdempotentRoute  # every POST that changes something takes an Idempotency-Key

# `after` is deprecated and goes in 2.0.0; `cursor` replaces it (app/http/deprecation.py).
AFTER = (
    "Deprecated (the answer says so in its `Deprecation` and `Sunset` headers), and removed in 2.0.0: "
    "return codes after this one. Use `cursor` "
    "(the `next_cursor` of the previous page)."
)
DeprecatedAfter = Annotated[str | None, Query(max_length=64, pattern=STORABLE_TEXT, deprecated=True, description=AFTER)]
# Versions are numbered from 1; a number past any PostgreSQL integer could not name one.
VersionNumber = Annotated[
    int, Path(ge=1, le=2**31 - 1, description="1 is the agreement as registered; each change adds one")
]
NOT_FOUND = INVALID_INPUT | {404: problem_doc("No such agreement")}
REGISTERED = "Registering an agreement makes its version 1; "


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register a sharing agreement",
    description=REGISTERED
    + "the owner must be a registered organisation and the review date must lie within the agreement's "
    "period (422 naming the field).",
    responses=BODY_PROBLEMS
    | created("The agreement as registered", "The agreement's own URL")
    | {409: problem_doc("The code is already registered")},
)
async def register_agreement(
    data: SharingAgreementCreate, response: Response, session: SessionDep, admin: AdminPrincipal
) -> SharingAgreementPublic:
    agreement = await agreements.register(session=session, actor=admin, data=data)
    locate(response, f"/v1/sharing-agreements/{agreement.code}")
    tagged(response, agreement)
    return SharingAgreementPublic.model_validate(agreement, from_attributes=True)


@router.get(
    "",
    summary="List agreements, ordered by code",
    responses=INVALID_INPUT | {200: {"description": "A page of agreements", "headers": AFTER_HEADERS}},
)
async def list_agreements(
    session: SessionDep,
    response: Response,
    _: OverseerPrincipal,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
    after: DeprecatedAfter = None,
) -> SharingAgreementPage:
    deprecate_after(response, after)
    return await agreements.list_page(session=session, cursor=cursor, after=after, limit=limit)


@router.get(
    "/{code}",
    summary="One sharing agreement",
    responses=NOT_FOUND | NOT_MODIFIED | {200: {"description": "The agreement", "headers": ETAG_HEADER}},
)
async def get_agreement(
    code: PathName, response: Response, session: SessionDep, _: OverseerPrincipal, if_none_match: IfNoneMatch = None
) -> SharingAgreementPublic:
    agreement = await agreements.get(session=session, code=code)
    if (unchanged := not_modified(agreement, if_none_match)) is not None:
        return unchanged  # type: ignore[return-value]
    tagged(response, agreement)
    return SharingAgreementPublic.model_validate(agreement, from_attributes=True)


@router.patch(
    "/{code}",
    summary="Change a sharing agreement: parties, scope, period, owner, review date, signed copy, or suspend",
    description="Every change is the agreement's next version; the versions before it stay readable. Moving the review "
    "date or the end of the period re-arms its notice (`sharing_agreement.review_due`, `sharing_agreement.expiring`). "
    "`If-Match` (the ETag a GET gave) is required.",
    responses=BODY_PROBLEMS
    | REQUIRED
    | {200: {"description": "The agreement as changed", "headers": ETAG_HEADER}, 404: problem_doc("No such agreement")},
)
async def update_agreement(
    code: PathName,
    changes: SharingAgreementUpdate,
    response: Response,
    session: SessionDep,
    admin: AdminPrincipal,
    agreement: AgreementToChange,
) -> SharingAgreementPublic:
    agreement = await agreements.update(session=session, actor=admin, code=agreement.code, changes=changes)
    tagged(response, agreement)
    return SharingAgreementPublic.model_validate(agreement, from_attributes=True)


@router.get(
    "/{code}/versions",
    summary="Every version of a sharing agreement, oldest first: who made it, when, and the agreement as it then stood",
    responses=NOT_FOUND,
)
async def list_versions(
    code: PathName, session: SessionDep, _: OverseerPrincipal, cursor: PageCursor = None, limit: PageLimit = 50
) -> SharingAgreementVersionPage:
    return await agreements.versions_page(session=session, code=code, cursor=cursor, limit=limit)


@router.get(
    "/{code}/versions/{version}",
    summary="One version of a sharing agreement, as it was made",
    responses=INVALID_INPUT | {404: problem_doc("No such agreement, or no such version of it")},
)
async def get_version(
    code: PathName, version: VersionNumber, session: SessionDep, _: OverseerPrincipal
) -> SharingAgreementVersionPublic:
    return await agreements.version(session=session, code=code, number=version)
