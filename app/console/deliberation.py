"""How guardians deliberate on a case in the console: second opinions, panels, reconsiderations, retrospective
reviews, and the decision notices (read, and a withheld one released).

The sections are the case page's (app/console/case.py builds what they show); this module has the routes their forms
post to, and each notice's page. Each form calls the service the API's route calls (app/routers/deliberation.py,
review.py, notices.py) with the signed-in person's Principal, so the workflow table, separation of duties, audit
events and webhooks are the API's; it is acted on as every form of the case page is (app/console/acting.py): the case
page again with a banner, or with the refusal and the form as sent. A form's inputs have the ids `<form id>-<field>`,
which the error summary links to.
"""

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from app.http.dependencies import NoticeContextDep, PathName, RegistryDep
from app.http.session import SessionDep
from app.models.notice import NoticeAudience, NoticeFormat
from app.models.notice_release import NoticeReleaseBody
from app.models.opinion import OpinionBody, OpinionRequestBody
from app.models.panel import PanelCloseBody, PanelOpenBody, PanelVoteBody, PanelWithdrawalBody
from app.models.review import ReconsiderationDecisionBody, RetrospectiveReviewBody
from app.models.vocabulary import ReconsiderationOutcome
from app.services.notices import notice, withholding
from app.services.review import decisions, opinions, panels, reconsideration

from .acting import ActingOn, act, body_of, case_of, lines_of, text_of, ticked
from .auth import OverseerUser
from .case import Done
from .pages import render

router = APIRouter(include_in_schema=False)

CASE = "/console/cases/{request_id}"
PAGE = CASE + "/deliberation"  # where the deliberation's forms post to


# The forms' routes


@router.post(PAGE + "/opinion-requests")
async def ask_opinion(acting: ActingOn) -> Response:
    """The claim holder asks another guardian (named, or any) for an opinion on the outcome they propose."""

    async def work() -> None:
        sub, org = text_of(acting.form, "guardian"), text_of(acting.form, "guardian_org") or acting.controller
        body = body_of(
            OpinionRequestBody,
            {
                "guardian": {"sub": sub, "org": org} if sub else None,
                "proposed_outcome": text_of(acting.form, "proposed_outcome"),
                "question": text_of(acting.form, "question"),
            },
        )
        await opinions.request_opinion(
            session=acting.db, principal=acting.user.principal, request=acting.case, body=body
        )

    return await act(acting, form_id="ask", done=Done.OPINION_REQUESTED, work=work)


@router.post(PAGE + "/opinions")
async def give_opinion(acting: ActingOn) -> Response:
    """The guardian asked gives their opinion: agree, disagree or abstain, with a rationale."""

    async def work() -> None:
        body = body_of(
            OpinionBody,
            {
                "opinion_request_id": text_of(acting.form, "opinion_request_id"),
                "opinion": text_of(acting.form, "opinion"),
                "rationale": text_of(acting.form, "rationale"),
            },
        )
        await opinions.give_opinion(session=acting.db, principal=acting.user.principal, request=acting.case, body=body)

    return await act(acting, form_id="opinion", done=Done.OPINION_GIVEN, work=work)


@router.post(PAGE + "/panel")
async def open_panel(acting: ActingOn, registry: RegistryDep) -> Response:
    """The claim holder sends the case to a panel they chair, naming the controller's guardians who sit with them."""

    async def work() -> None:
        members = [{"sub": sub, "org": acting.controller} for sub in lines_of(acting.form, "members")]
        body = body_of(PanelOpenBody, {"reason": text_of(acting.form, "reason"), "members": members})
        await panels.open_panel(
            session=acting.db,
            registry=registry,
            principal=acting.user.principal,
            request=acting.case,
            body=body,
            controller_org=acting.controller,
        )

    return await act(acting, form_id="panel", done=Done.PANEL_OPENED, work=work)


@router.post(PAGE + "/panel/votes")
async def vote(acting: ActingOn) -> Response:
    """A member of the open panel votes, once, with a rationale (and conditions with an approval on conditions)."""

    async def work() -> None:
        body = body_of(
            PanelVoteBody,
            {
                "vote": text_of(acting.form, "vote"),
                "rationale": text_of(acting.form, "rationale"),
                "conditions": lines_of(acting.form, "conditions"),
            },
        )
        await panels.vote(session=acting.db, principal=acting.user.principal, request=acting.case, body=body)

    return await act(acting, form_id="vote", done=Done.VOTED, work=work)


@router.post(PAGE + "/panel/withdrawals")
async def withdraw(acting: ActingOn) -> Response:
    """A member withdraws from the open panel, saying why; their vote, if cast, no longer counts."""

    async def work() -> None:
        body = body_of(PanelWithdrawalBody, {"rationale": text_of(acting.form, "rationale")})
        await panels.withdraw(session=acting.db, principal=acting.user.principal, request=acting.case, body=body)

    return await act(acting, form_id="withdraw", done=Done.WITHDRAWN, work=work)


@router.post(PAGE + "/panel/decision")
async def close_panel(acting: ActingOn, registry: RegistryDep) -> Response:
    """The chair closes the panel: its members' majority decides, or the chair's casting vote on a real tie."""

    async def work() -> None:
        body = body_of(
            PanelCloseBody,
            {
                "rationale": text_of(acting.form, "rationale"),
                "casting_vote": text_of(acting.form, "casting_vote"),
                "conditions": lines_of(acting.form, "conditions"),
            },
        )
        await panels.close(
            session=acting.db, registry=registry, principal=acting.user.principal, request=acting.case, body=body
        )

    return await act(acting, form_id="close", done=Done.PANEL_CLOSED, work=work)


@router.post(PAGE + "/reconsideration")
async def decide_reconsideration(acting: ActingOn, registry: RegistryDep) -> Response:
    """The claim holder upholds the decision reconsidered, or overturns it with a new decision."""

    async def work() -> None:
        overturned = text_of(acting.form, "outcome") == ReconsiderationOutcome.OVERTURNED
        items = [str(item) for item in acting.form.getlist("approved_items")]
        new = {
            "outcome": text_of(acting.form, "decision"),
            "conditions": lines_of(acting.form, "conditions"),
            "approved_items": items or None,
        }
        body = body_of(
            ReconsiderationDecisionBody,
            {
                "outcome": text_of(acting.form, "outcome"),
                "rationale": text_of(acting.form, "rationale"),
                "decision": new if overturned else None,
            },
        )
        await reconsideration.decide(
            session=acting.db, registry=registry, principal=acting.user.principal, request=acting.case, body=body
        )

    return await act(acting, form_id="reconsider", done=Done.RECONSIDERED, work=work)


@router.post(PAGE + "/retrospective-review")
async def retrospective_review(acting: ActingOn) -> Response:
    """The claim holder upholds an emergency share, or not, with reasons."""

    async def work() -> None:
        body = body_of(
            RetrospectiveReviewBody,
            {"outcome": text_of(acting.form, "outcome"), "rationale": text_of(acting.form, "rationale")},
        )
        await decisions.retrospective_review(
            session=acting.db, principal=acting.user.principal, request=acting.case, body=body
        )

    return await act(acting, form_id="retrospective", done=Done.RETROSPECTIVE_REVIEWED, work=work)


@router.post(PAGE + "/notice-releases")
async def release_notice(acting: ActingOn) -> Response:
    """A guardian not of the requesting organisation releases a withheld notice, saying why (recorded, audited)."""
    form_id = (
        f"release-{text_of(acting.form, 'audience')}"
        if text_of(acting.form, "audience") in set(NoticeAudience)
        else "release"
    )

    async def work() -> None:
        body = body_of(
            NoticeReleaseBody,
            {
                "audience": text_of(acting.form, "audience"),
                "why": text_of(acting.form, "why"),
                "not_implicated": ticked(acting.form, "not_implicated"),
                "personal_representative": text_of(acting.form, "personal_representative"),
                "access_to_health_records_checked": ticked(acting.form, "access_to_health_records_checked"),
            },
        )
        await withholding.release(session=acting.db, principal=acting.user.principal, request=acting.case, body=body)

    return await act(acting, form_id=form_id, done=Done.NOTICE_RELEASED, work=work)


@router.get(CASE + "/notices/{audience}")
async def notice_page(
    request: Request,
    request_id: PathName,
    audience: Annotated[NoticeAudience, Path()],
    db: SessionDep,
    user: OverseerUser,
    context: NoticeContextDep,
) -> Response:
    """A notice as its reader will get it, in plain text inside the console's page (the API's HTML form carries its
    own inline styles, which the console's policy forbids). A withheld notice is a guardian's preview, marked so."""
    case = await case_of(db, user, request_id)
    read = await notice.read(
        session=db,
        principal=user.principal,
        request=case,
        audience=audience,
        context=context,
        preview=withholding.may_preview(user.principal, case),
    )
    return render(
        request,
        "deliberation/notice.jinja",
        case=case,
        audience=audience,
        letter=read,
        text=notice.render(read, NoticeFormat.PLAIN),
    )
