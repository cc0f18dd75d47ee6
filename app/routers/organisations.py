"""Admin API for registered organisations."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.errors import BODY_PROBLEMS, INVALID_INPUT, PROBLEM_RESPONSES, problem_doc
from app.http.dependencies import PageCursor, PageLimit, PathName
from app.http.deprecation import AFTER_HEADERS, deprecate_after
from app.http.etags import ETAG_HEADER, NOT_MODIFIED, REQUIRED, IfNoneMatch, OrganisationToChange, not_modified, tagged
from app.http.idempotency import IdempotentRoute
from app.http.locations import created, locate
from app.http.roles import AdminPrincipal, OverseerPrincipal
from app.http.session import SessionDep
from app.models.base import STORABLE_TEXT
from app.models.organisation import OrganisationCreate, OrganisationPage, OrganisationPublic, OrganisationUpdate
from app.services.agreements import organisations

router = APIRouter(prefix="/v1/organisations", tags=["Registers"], responses=PROBLEM_RESPONSES)
router.route_class = IdempotentRoute  # every POST that changes something takes an Idempotency-Key

# `after` is deprecated and goes in 2.0.0; `cursor` replaces it (app/http/deprecation.py).
AFTER = (
    "Deprecated (the answer says so in its `Deprecation` and `Sunset` headers), and removed in 2.0.0: "
    "return codes after this one. Use `cursor` "
    "(the `next_cursor` of the previous page)."
)
DeprecatedAfter = Annotated[str | None, Query(max_length=32, pattern=STORABLE_TEXT, deprecated=True, description=AFTER)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register an organisation",
    responses=BODY_PROBLEMS
    | created("The organisation as registered", "The organisation's own URL")
    | {409: problem_doc("The code is already registered")},
)
async def register_organisation(
    data: OrganisationCreate, response: Response, session: SessionDep, admin: AdminPrincipal
) -> OrganisationPublic:
    organisation = await organisations.register(session=session, actor=admin, data=data)
    locate(response, f"/v1/organisations/{organisation.code}")
    tagged(response, organisation)
    return OrganisationPublic.model_validate(organisation, from_attributes=True)


@router.get(
    "",
    summary="List organisations, ordered by code",
    responses=INVALID_INPUT | {200: {"description": "A page of organisations", "headers": AFTER_HEADERS}},
)
async def list_organisations(
    session: SessionDep,
    response: Response,
    _: OverseerPrincipal,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
    after: DeprecatedAfter = None,
) -> OrganisationPage:
    deprecate_after(response, after)
    return await organisations.list_page(session=session, cursor=cursor, after=after, limit=limit)


@router.get(
    "/{code}",
    summary="One organisation",
    responses=INVALID_INPUT
    | NOT_MODIFIED
    | {200: {"description": "The organisation", "headers": ETAG_HEADER}, 404: problem_doc("No such organisation")},
)
async def get_organisation(
    code: PathName, response: Response, session: SessionDep, _: OverseerPrincipal, if_none_match: IfNoneMatch = None
) -> OrganisationPublic:
    organisation = await organisations.get(session=session, code=code)
    if (unchanged := not_modified(organisation, if_none_match)) is not None:
        return unchanged  # type: ignore[return-value]
    tagged(response, organisation)
    return OrganisationPublic.model_validate(organisation, from_attributes=True)


@router.patch(
    "/{code}",
    summary="Change an organisation: name, type, DSPT status, or deactivate; "
    "`If-Match` (the ETag a GET gave) is required",
    responses=BODY_PROBLEMS
    | REQUIRED
    | {
        200: {"description": "The organisation as changed", "headers": ETAG_HEADER},
        404: problem_doc("No such organisation"),
    },
)
async def update_organisation(
    code: PathName,
    changes: OrganisationUpdate,
    response: Response,
    session: SessionDep,
    admin: AdminPrincipal,
    organisation: OrganisationToChange,
) -> OrganisationPublic:
    organisation = await organisations.update(session=session, actor=admin, code=organisation.code, changes=changes)
    tagged(response, organisation)
    return OrganisationPublic.model_validate(organisation, from_attributes=True)
