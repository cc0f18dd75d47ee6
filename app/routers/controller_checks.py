"""The controller's checks: a guardian or IG manager of the controller organisation
records each before anything is disclosed."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from app.errors import BODY_PROBLEMS, INVALID_INPUT, PROBLEM_RESPONSES, NotFound, problem_doc
from app.http.dependencies import PathName, PolicyDep, SettingsDep
from app.http.etags import ETAG_HEADER, STALE, IfMatch, check, tagged
from app.http.idempotency import IdempotentRoute
from app.http.roles import require_roles
from app.http.session import SessionDep
from app.models.base import STORABLE_TEXT
from app.models.controller_check import ControllerCheckBody, ControllerCheckPublic
from app.models.sharing_request import SharingRequest
from app.models.vocabulary import Role
from app.principal import Principal
from app.services.controller_checks import checks as controller_checks

router = APIRouter(tags=["Controller's checks"], responses=PROBLEM_RESPONSES)
router.route_class = IdempotentRoute  # every POST that changes something takes an Idempotency-Key

CheckerPrincipal = Annotated[Principal, Depends(require_roles(Role.GUARDIAN, Role.IG_MANAGER))]
CheckPath = Annotated[
    str,
    Path(
        max_length=64,
        pattern=STORABLE_TEXT,
        description="The check: a rule id such as `CP6.court_order_verified`, or `human_involvement`",
    ),
]


@router.post(
    "/v1/sharing-requests/{request_id}/controller-checks/{check_name}",
    summary="Record a controller's check of the standing approval done or failed "
    "(a guardian or IG manager of the controller organisation)",
    description=(
        "Each record is audited, appears in the request's history and is never edited: a mistaken one is followed by "
        "another, and the latest counts. When the last check holding the approval back is recorded `done`, the request "
        "is `ready_to_disclose` and subscribers are sent `sharing_request.ready_to_disclose`. A `failed` check stops "
        "the disclosure: the request goes back to the guardian queue (`awaiting_review`, webhook "
        "`sharing_request.referred`), and for an emergency share it is flagged `possible_incident`."
    ),
    responses=INVALID_INPUT
    | BODY_PROBLEMS
    | STALE
    | {
        200: {
            "description": "The check with every record of it; `ETag` is the request's new one",
            "headers": ETAG_HEADER,
        },
        403: problem_doc("The token is not a guardian's or IG manager's of the controller organisation"),
        404: problem_doc("No such request"),
        409: problem_doc(
            "The request is not approved, or its standing decision has no such check (`current_status` names its state)"
        ),
    },
)
async def record_check(
    request_id: PathName,
    check_name: CheckPath,
    body: ControllerCheckBody,
    response: Response,
    session: SessionDep,
    policy: PolicyDep,
    settings: SettingsDep,
    principal: CheckerPrincipal,
    if_match: IfMatch = None,
) -> ControllerCheckPublic:
    controller_checks.check_recorder(
        principal, settings.controller_org
    )  # before the request is looked up: another token learns nothing
    request = await session.get(SharingRequest, request_id)
    if request is None:
        raise NotFound(f"no sharing request {request_id!r}")
    check(request, if_match)
    recorded = await controller_checks.record(
        session=session,
        policy=policy,
        principal=principal,
        controller_org=settings.controller_org,
        request=request,
        name=check_name,
        body=body,
    )
    tagged(response, request)
    return recorded
