"""Second opinions, consultations and panels: how guardians deliberate on a referred request before it is decided."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from app.errors import BODY_PROBLEMS, INVALID_INPUT, PROBLEM_RESPONSES, problem_doc
from app.http.dependencies import (
    CurrentRequest,
    PageCursor,
    PageLimit,
    PathName,
    ReadableRequest,
    RegistryDep,
    SettingsDep,
)
from app.http.etags import RequestToChange, tagged
from app.http.idempotency import IdempotentRoute
from app.http.locations import created, locate
from app.http.roles import CaseReader, ConsultationReader, ConsultedPrincipal, GuardianOrAuditor, GuardianPrincipal
from app.http.session import SessionDep
from app.models.actions import RequestAction
from app.models.consultation import (
    ConsultationAnswerBody,
    ConsultationBody,
    ConsultationList,
    ConsultationPublic,
    ConsultationQueue,
)
from app.models.deliberation import OpinionRecord
from app.models.opinion import OpinionBody, OpinionRequestBody, OpinionRequestPublic
from app.models.panel import PanelCloseBody, PanelOpenBody, PanelPublic, PanelVoteBody, PanelWithdrawalBody
from app.models.sharing_request import DecisionPublic, SharingRequest
from app.models.vocabulary import ConsultationStatus
from app.routers.review import MOVED, NOT_FOUND, ON_A_REQUEST
from app.services.audit import events
from app.services.consultations import asking as consultations
from app.services.consultations import reading as consultation_reading
from app.services.review import opinions, panel_records, panels

router = APIRouter(tags=["Guardian review"], responses=PROBLEM_RESPONSES)
router.route_class = IdempotentRoute  # every POST that changes something takes an Idempotency-Key
ON_A_REQUEST_WITH_BODY = ON_A_REQUEST | BODY_PROBLEMS
IN_HISTORY = (
    "The request's history, which records the move (a pending opinion request or an opinion has no URL of its own)"
)
PANEL = "The request's panel (GET), which shows it"
NOT_YET_CLOSED = {
    409: problem_doc(
        "The request is not before a panel (`current_status` names its state), or the panel cannot close yet: fewer "
        "votes for an outcome than its quorum (abstentions do not count), members yet to vote before its deadline (the "
        "request's due time), or no outcome with a majority of its members and no tie for the casting vote to break "
        "(the panel stays open); or it changed at the same moment"
    )
}


CONSULTATIONS = "The request's consultations (GET), which show it"
ConsultationId = Annotated[str, Path(max_length=36, pattern=r"^[0-9a-f-]{1,36}$", description="The consultation's id")]


def moved(response: Response, request: SharingRequest, location: str) -> None:
    """Answer a 201 for a move: where what it made is shown, and the request's new ETag."""
    locate(response, location)
    tagged(response, request)


@router.post(
    "/v1/sharing-requests/{request_id}/opinions/requests",
    status_code=201,
    summary="Ask another guardian, named or any, for a second opinion on the outcome you "
    "propose (the claim holder only)",
    responses=ON_A_REQUEST_WITH_BODY | created("The opinion request; `ETag` is the request's new one", IN_HISTORY),
)
async def request_opinion(
    request: RequestToChange,
    response: Response,
    body: OpinionRequestBody,
    session: SessionDep,
    principal: GuardianPrincipal,
) -> OpinionRequestPublic:
    asked = await opinions.request_opinion(session=session, principal=principal, request=request, body=body)
    moved(response, request, f"/v1/sharing-requests/{request.id}/history")
    return asked


@router.post(
    "/v1/sharing-requests/{request_id}/opinions",
    status_code=201,
    summary="Give the second opinion asked of you: agree, disagree or abstain, with a rationale (never the claim "
    "holder nor the requesting organisation)",
    responses=ON_A_REQUEST_WITH_BODY | created("The opinion; `ETag` is the request's new one", IN_HISTORY),
)
async def give_opinion(
    request: RequestToChange, response: Response, body: OpinionBody, session: SessionDep, principal: GuardianPrincipal
) -> OpinionRecord:
    given = await opinions.give_opinion(session=session, principal=principal, request=request, body=body)
    moved(response, request, f"/v1/sharing-requests/{request.id}/history")
    return given


@router.post(
    "/v1/sharing-requests/{request_id}/panel",
    status_code=201,
    summary="Send a claimed request to a panel that you chair, naming its other members (guardians of the controller "
    "organisation); the due time runs on",
    responses=ON_A_REQUEST_WITH_BODY | created("The panel; `ETag` is the request's new one", "The panel's URL"),
)
async def open_panel(
    request: RequestToChange,
    response: Response,
    body: PanelOpenBody,
    session: SessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
    principal: GuardianPrincipal,
) -> PanelPublic:
    panel = await panels.open_panel(
        session=session,
        registry=registry,
        principal=principal,
        request=request,
        body=body,
        controller_org=settings.controller_org,
    )
    moved(response, request, f"/v1/sharing-requests/{request.id}/panel")
    return panel


@router.get(
    "/v1/sharing-requests/{request_id}/panel",
    summary="The request's panel, open or closed: its chair, members, "
    "and every vote and withdrawal so far (guardians and auditors)",
    responses=NOT_FOUND
    | {404: problem_doc("No such request, or it belongs to another agency, or it has not gone to a panel")},
)
async def read_panel(request: CurrentRequest, session: SessionDep, principal: GuardianOrAuditor) -> PanelPublic:
    panel = await panel_records.latest_panel(session=session, request=request)
    await events.request_read(session=session, actor=principal, request=request, action=RequestAction.READ)
    return panel


@router.post(
    "/v1/sharing-requests/{request_id}/panel/votes",
    status_code=201,
    summary="Vote, once, as a member of the request's panel, with a rationale",
    responses=ON_A_REQUEST_WITH_BODY | created("The panel with the vote; `ETag` is the request's new one", PANEL),
)
async def vote(
    request: RequestToChange, response: Response, body: PanelVoteBody, session: SessionDep, principal: GuardianPrincipal
) -> PanelPublic:
    panel = await panels.vote(session=session, principal=principal, request=request, body=body)
    moved(response, request, f"/v1/sharing-requests/{request.id}/panel")
    return panel


@router.post(
    "/v1/sharing-requests/{request_id}/panel/withdrawals",
    status_code=201,
    summary="Withdraw from the request's panel, superseding your vote if you cast one; recorded, never deleted",
    responses=ON_A_REQUEST_WITH_BODY | created("The panel with the withdrawal; `ETag` is the request's new one", PANEL),
)
async def withdraw(
    request: RequestToChange,
    response: Response,
    body: PanelWithdrawalBody,
    session: SessionDep,
    principal: GuardianPrincipal,
) -> PanelPublic:
    panel = await panels.withdraw(session=session, principal=principal, request=request, body=body)
    moved(response, request, f"/v1/sharing-requests/{request.id}/panel")
    return panel


@router.post(
    "/v1/sharing-requests/{request_id}/panel/decision",
    summary="Close the panel as its chair once every member has voted or its deadline has passed: a majority of its "
    "members decides, or on a real tie your casting vote",
    responses=ON_A_REQUEST_WITH_BODY | NOT_YET_CLOSED | MOVED,
)
async def close_panel(
    request: RequestToChange,
    response: Response,
    body: PanelCloseBody,
    session: SessionDep,
    registry: RegistryDep,
    principal: GuardianPrincipal,
) -> DecisionPublic:
    decision = await panels.close(session=session, registry=registry, principal=principal, request=request, body=body)
    tagged(response, request)
    return DecisionPublic.of(decision)


@router.post(
    "/v1/sharing-requests/{request_id}/consultations",
    status_code=201,
    summary="Consult a safeguarding lead, the DPO, the SIRO or a named information asset owner of the controller, with "
    "a question and a due time (the claim holder only)",
    description="The request stays claimed and its state does not change. The answer is recorded in the request's "
    "history for the deciding guardian; a local policy may make an approval wait for it "
    "(`consultation.required_for_approval`). The requesting agency is never shown a consultation.",
    responses=ON_A_REQUEST_WITH_BODY | created("The consultation", CONSULTATIONS),
)
async def ask_consultation(
    request: RequestToChange,
    response: Response,
    body: ConsultationBody,
    session: SessionDep,
    principal: GuardianPrincipal,
) -> ConsultationPublic:
    asked = await consultations.ask(session=session, principal=principal, request=request, body=body)
    locate(response, f"/v1/sharing-requests/{request.id}/consultations")
    return asked


@router.get(
    "/v1/sharing-requests/{request_id}/consultations",
    summary="The request's consultations, oldest first, with their answers (the controller's people: guardians, "
    "auditors and admins read every one; a safeguarding lead, the DPO, the SIRO or an IAO those asked of them)",
    responses=NOT_FOUND
    | {
        403: problem_doc("The requesting agency: consultations are the controller's own advice"),
        404: problem_doc("No such request, or one the caller may not read"),
    },
)
async def list_consultations(
    request: ReadableRequest,
    session: SessionDep,
    principal: CaseReader,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
) -> ConsultationList:
    return await consultation_reading.listed(
        session=session, principal=principal, request=request, cursor=cursor, limit=limit
    )


@router.get(
    "/v1/consultations",
    summary="The consultations you are to answer, soonest due first (a safeguarding lead, the DPO, the SIRO: those "
    "asked of your role; an IAO: those naming you; guardians and auditors: every one)",
    description="Each names its sharing request (`request_id`) and when the answer is due (`due_at`); answer with "
    "`POST /v1/sharing-requests/{request_id}/consultations/{id}/answer`. The requesting agencies are refused.",
    responses=INVALID_INPUT
    | {403: problem_doc("The caller is not a guardian, an auditor or one of the controller's consulted roles")},
)
async def consultations_to_answer(
    session: SessionDep,
    principal: ConsultationReader,
    status: Annotated[
        ConsultationStatus | None,
        Query(description="Only the consultations in this state: `open`, `overdue` or `answered`; all when absent"),
    ] = None,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
) -> ConsultationQueue:
    return await consultation_reading.addressed(
        session=session, principal=principal, status=status, cursor=cursor, limit=limit
    )


@router.post(
    "/v1/sharing-requests/{request_id}/consultations/{consultation_id}/answer",
    summary="Answer a consultation asked of your role (a safeguarding lead, the DPO, the SIRO) or of you (an IAO "
    "named), once",
    responses=BODY_PROBLEMS
    | {
        403: problem_doc(
            "The consultation was asked of another role or another IAO, or the caller's role is not "
            "honoured for its organisation"
        ),
        404: problem_doc("No such request or consultation, or one the caller may not read"),
        409: problem_doc("The consultation has been answered already"),
    },
)
async def answer_consultation(
    principal: ConsultedPrincipal,
    request_id: PathName,
    consultation_id: ConsultationId,
    body: ConsultationAnswerBody,
    session: SessionDep,
) -> ConsultationPublic:
    # Not ReadableRequest: the controller's consulted roles are told 403 for a consultation asked of another, not 404.
    return await consultations.answer(
        session=session, principal=principal, request_id=request_id, consultation_id=consultation_id, body=body
    )
