"""Second opinions and panels: how guardians deliberate on a referred request before it is decided."""

from fastapi import APIRouter

from app.auth import GuardianOrAuditor, GuardianPrincipal
from app.db import SessionDep
from app.dependencies import CurrentRequest, RegistryDep
from app.errors import BODY_PROBLEMS, PROBLEM_RESPONSES, problem_doc
from app.models.actions import RequestAction
from app.models.deliberation import OpinionRecord
from app.models.opinion import OpinionBody, OpinionRequestBody, OpinionRequestPublic
from app.models.panel import PanelCloseBody, PanelOpenBody, PanelPublic, PanelVoteBody, PanelWithdrawalBody
from app.models.sharing_request import DecisionPublic
from app.routers.review import NOT_FOUND, ON_A_REQUEST
from app.services import events, opinions, panel_records, panels

router = APIRouter(tags=["guardian review"], responses=PROBLEM_RESPONSES)
ON_A_REQUEST_WITH_BODY = ON_A_REQUEST | BODY_PROBLEMS


@router.post(
    "/v1/sharing-requests/{request_id}/opinions/requests",
    status_code=201,
    summary="Ask another guardian, named or any, for a second opinion on the outcome you propose (the claim holder only)",
    responses=ON_A_REQUEST_WITH_BODY,
)
async def request_opinion(request: CurrentRequest, body: OpinionRequestBody, session: SessionDep, principal: GuardianPrincipal) -> OpinionRequestPublic:
    return await opinions.request_opinion(session=session, principal=principal, request=request, body=body)


@router.post(
    "/v1/sharing-requests/{request_id}/opinions",
    status_code=201,
    summary="Give the second opinion asked of you: agree, disagree or abstain, with a rationale (never the claim holder nor the requesting organisation)",
    responses=ON_A_REQUEST_WITH_BODY,
)
async def give_opinion(request: CurrentRequest, body: OpinionBody, session: SessionDep, principal: GuardianPrincipal) -> OpinionRecord:
    return await opinions.give_opinion(session=session, principal=principal, request=request, body=body)


@router.post(
    "/v1/sharing-requests/{request_id}/panel",
    status_code=201,
    summary="Send a claimed request to a panel that you chair, naming its other members; the due time runs on",
    responses=ON_A_REQUEST_WITH_BODY,
)
async def open_panel(request: CurrentRequest, body: PanelOpenBody, session: SessionDep, registry: RegistryDep, principal: GuardianPrincipal) -> PanelPublic:
    return await panels.open_panel(session=session, registry=registry, principal=principal, request=request, body=body)


@router.get(
    "/v1/sharing-requests/{request_id}/panel",
    summary="The request's panel, open or closed: its chair, members, and every vote and withdrawal so far (guardians and auditors)",
    responses=NOT_FOUND | {404: problem_doc("No such request, or it belongs to another agency, or it has not gone to a panel")},
)
async def read_panel(request: CurrentRequest, session: SessionDep, principal: GuardianOrAuditor) -> PanelPublic:
    panel = await panel_records.latest_panel(session=session, request=request)
    await events.request_read(session=session, actor=principal, request=request, action=RequestAction.READ)
    return panel


@router.post(
    "/v1/sharing-requests/{request_id}/panel/votes",
    status_code=201,
    summary="Vote, once, as a member of the request's panel, with a rationale",
    responses=ON_A_REQUEST_WITH_BODY,
)
async def vote(request: CurrentRequest, body: PanelVoteBody, session: SessionDep, principal: GuardianPrincipal) -> PanelPublic:
    return await panels.vote(session=session, principal=principal, request=request, body=body)


@router.post(
    "/v1/sharing-requests/{request_id}/panel/withdrawals",
    status_code=201,
    summary="Withdraw from the request's panel, superseding your vote if you cast one; recorded, never deleted",
    responses=ON_A_REQUEST_WITH_BODY,
)
async def withdraw(request: CurrentRequest, body: PanelWithdrawalBody, session: SessionDep, principal: GuardianPrincipal) -> PanelPublic:
    return await panels.withdraw(session=session, principal=principal, request=request, body=body)


@router.post(
    "/v1/sharing-requests/{request_id}/panel/decision",
    summary="Close the panel as its chair once the quorum has voted: the majority decides, or on a tie your casting vote",
    responses=ON_A_REQUEST_WITH_BODY,
)
async def close_panel(request: CurrentRequest, body: PanelCloseBody, session: SessionDep, principal: GuardianPrincipal) -> DecisionPublic:
    return DecisionPublic.of(await panels.close(session=session, principal=principal, request=request, body=body))
