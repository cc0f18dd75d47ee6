"""The public data uses register (Caldicott principle 8): what the controller approved for purposes other than
direct care, read by anyone without a token; and the controller's withholdings of entries from it."""

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response, status

from app.errors import BODY_PROBLEMS, INVALID_INPUT, PROBLEM_RESPONSES, Forbidden, NotAcceptable, problem_doc
from app.http.dependencies import PageCursor, PageLimit, PathName, SettingsDep
from app.http.idempotency import IdempotentRoute
from app.http.locations import created, locate
from app.http.negotiation import choose
from app.http.roles import OverseerPrincipal, require_roles
from app.http.session import SessionDep
from app.models.register import Register, WithholdingBody, WithholdingPage, WithholdingPublic
from app.models.vocabulary import Role
from app.principal import Principal
from app.services.reports import register

JSON, CSV = "application/json", "text/csv"


async def controller_withholder(
    principal: Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.GUARDIAN))], settings: SettingsDep
) -> Principal:
    """The controller's own admins and guardians: a guardian of an organisation CALDICOTT_GUARDIAN_ORGS names sits in
    its review, but what the controller publishes about itself is the controller's to decide."""
    if principal.org != settings.controller_org:
        raise Forbidden("only the controller's admins and guardians may withhold or restore a register entry")
    return principal


Withholder = Annotated[Principal, Depends(controller_withholder)]

# No token: the register is published for anyone to read (and not rate-limited, like the problem pages: it is the
# only public read of the database, one indexed page at a time; docs/guardians/register.md).
# Of the problems every token-bearing route declares, only those that can happen without a token.
PUBLIC_PROBLEMS = {status_code: PROBLEM_RESPONSES[status_code] for status_code in (400, 503)}
public_router = APIRouter(prefix="/v1/register", tags=["Transparency"], responses=PUBLIC_PROBLEMS)
router = APIRouter(prefix="/v1/register/withholdings", tags=["Transparency"], responses=PROBLEM_RESPONSES)
router.route_class = IdempotentRoute  # every POST that changes something takes an Idempotency-Key

DESCRIPTION = (
    "Every request whose approval stands (`approved` or `approved_with_conditions`) for a purpose other than "
    "`direct_care`, oldest decision first, less the entries the controller withholds. Only coded values are "
    "published: never an identifier, a hash, a reference or a free text. `people` is `{count: n, band: null}` at or "
    'above CALDICOTT_REGISTER_MIN_COUNT (10 by default) and `{count: null, band: "<10"}` under it. No token needed. '
    "`Accept: text/csv` answers the same page as CSV (columns `decided_on, organisation_code, organisation_name, "
    "purpose, article_6, article_9, confidentiality, data, people, agreement, outcome`; `data` as `category:form` "
    'joined by "; "), the next page named in a `Link: <...>; rel="next"` header.'
)


@public_router.get(
    "",
    summary="The public data uses register: approved disclosures for purposes other than direct care",
    description=DESCRIPTION,
    response_model=Register,
    responses=INVALID_INPUT
    | {
        200: {
            "description": "A page of the register as JSON, or as CSV",
            "content": {CSV: {"schema": {"type": "string"}}},
            "headers": {"Link": {"description": 'CSV only: the next page, rel="next"', "schema": {"type": "string"}}},
        },
        406: problem_doc("The Accept header allows neither JSON nor CSV"),
    },
)
async def public_register(
    http: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
    cursor: PageCursor = None,
    limit: PageLimit = 100,
) -> Register | Response:
    wanted = choose(accept, (JSON, CSV))
    if wanted is None:
        raise NotAcceptable("the register is given as application/json or text/csv; the Accept header allows neither")
    entries, next_cursor = await register.register_page(
        session=session, threshold=settings.register_min_count, cursor=cursor, limit=limit
    )
    if wanted == CSV:
        headers = {"Content-Disposition": 'attachment; filename="data-uses-register.csv"', "Vary": "Accept"}
        if next_cursor is not None:
            # A CSV file has no room for the cursor, so the next page is named in a Link header (RFC 8288).
            following = http.url.include_query_params(cursor=next_cursor)
            headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
        return Response(register.register_csv(entries), media_type="text/csv; charset=utf-8", headers=headers)
    response.headers["Vary"] = "Accept"  # a cache keeps the JSON and CSV forms apart
    return Register(items=entries, next_cursor=next_cursor)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Withhold a request's entry from the public register, with the reason (admins and guardians)",
    responses=BODY_PROBLEMS
    | created("The entry is withheld", "Where the withholding can be read (and removed)")
    | {
        404: problem_doc("No such sharing request"),
        409: problem_doc("The request is already withheld"),
    },
)
async def withhold_register_entry(
    body: WithholdingBody, session: SessionDep, principal: Withholder, response: Response
) -> WithholdingPublic:
    withheld = await register.withhold(session=session, actor=principal, body=body)
    locate(response, f"/v1/register/withholdings/{withheld.request_id}")
    return withheld


@router.get("", summary="The entries withheld from the public register, newest first", responses=INVALID_INPUT)
async def list_register_withholdings(
    session: SessionDep, _: OverseerPrincipal, cursor: PageCursor = None, limit: PageLimit = 50
) -> WithholdingPage:
    items, next_cursor = await register.withholdings(session=session, cursor=cursor, limit=limit)
    return WithholdingPage(items=items, next_cursor=next_cursor)


@router.get(
    "/{request_id}",
    summary="One entry withheld from the public register, with its reason",
    responses=INVALID_INPUT | {404: problem_doc("The request is not withheld")},
)
async def get_register_withholding(
    request_id: PathName, session: SessionDep, _: OverseerPrincipal
) -> WithholdingPublic:
    return await register.withholding(session=session, request_id=request_id)


@router.delete(
    "/{request_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Put a withheld entry back in the public register (admins and guardians)",
    responses=INVALID_INPUT | {404: problem_doc("The request is not withheld")},
)
async def restore_register_entry(request_id: PathName, session: SessionDep, principal: Withholder) -> None:
    await register.restore(session=session, actor=principal, request_id=request_id)
