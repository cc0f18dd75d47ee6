"""The case file: one page with everything a guardian weighs before deciding a request.

The request in plain words, what did not pass (the rules' findings grouped by principle, the passes folded away), the
requester with its toolkit status and agreement, the evidence, the history with earlier questions and answers, the
due time and the claim; for a guardian, the forms that act on it (app/console/case_actions.py), the decision's among
them, so that a referred case is decided from this page. It reads the services the API reads, as the API's readers
do: opening the case is recorded as a read of the request, and of its history.
"""

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import NotFound, ProblemError
from app.http.dependencies import PathName, SettingsDep
from app.http.etags import etag
from app.http.session import SessionDep
from app.models.base import utcnow
from app.models.sharing_request import SharingRequest, claim_lapsed
from app.models.vocabulary import FindingResult, RequestStatus, RetrospectiveStatus, Role
from app.services.agreements import organisations
from app.services.agreements import register as agreements
from app.services.attachments import uploads
from app.services.sharing_requests import history as transitions
from app.services.sharing_requests import reading

from . import deliberation
from .auth import ConsoleUser, OverseerUser
from .pages import render
from .queue import words

router = APIRouter(include_in_schema=False)

# What each action says it did, in the banner after it (POST, redirect, GET: `done` names the action).
DONE = {
    "claimed": "You claimed this case",
    "released": "You released this case back to the queue",
    "renewed": "You renewed your claim",
    "handed_over": "You handed this case to your colleague",
    "decided": "Your decision is recorded",
    "verified": "Your verification of the evidence is recorded",
}
Done = Literal["claimed", "released", "renewed", "handed_over", "decided", "verified"]
HISTORY_SHOWN = 200
EVIDENCE_SHOWN = 100
NOT_A_PASS = (FindingResult.REFUSE, FindingResult.REFER, FindingResult.CONDITION)


@dataclass
class FindingGroup:
    """The findings of one principle (or area beside the principles), those that did not pass first."""

    title: str
    principle: int | None
    not_passed: list[dict[str, Any]] = field(default_factory=list)
    passed: list[dict[str, Any]] = field(default_factory=list)


def grouped(findings: list[Any]) -> list[FindingGroup]:
    """The findings by principle, in principle order (areas beside the principles last)."""
    groups: dict[str, FindingGroup] = {}
    for finding in findings:
        group = groups.setdefault(
            finding.principle_title, FindingGroup(title=finding.principle_title, principle=finding.principle)
        )
        (group.not_passed if finding.result in NOT_A_PASS else group.passed).append(finding)
    return sorted(groups.values(), key=lambda group: (group.principle is None, group.principle or 0))


@dataclass
class Refusal:
    """What went wrong with an action, for the page's error summary: each message and the field it is about."""

    errors: list[dict[str, str]]
    status_code: int
    form: dict[str, Any] = field(default_factory=dict)  # what was sent, to fill the form again

    @classmethod
    def of(cls, problem: ProblemError, form: dict[str, Any], *, fields: dict[str, tuple[str, str]]) -> "Refusal":
        """A service's problem: each bad field it names, by the form's name for it and linked to it; else its
        detail. `fields` gives each body field's anchor on the page and label in the form."""
        listed = []
        for error in problem.errors or []:
            anchor, label = fields.get(error.field.split(".")[0], ("actions", error.field))
            listed.append({"text": f"{label}: {error.message}", "href": f"#{anchor}"})
        detail = problem.detail or problem.title
        return cls(
            errors=listed or [{"text": detail[:1].upper() + detail[1:], "href": "#actions"}],
            status_code=problem.status_code,
            form=form,
        )


async def _requester_and_agreement(session: AsyncSession, case: SharingRequest, body: dict[str, Any]) -> dict[str, Any]:
    """The requesting organisation and the agreement its request cites, as registered (None when not found)."""
    try:
        requester = await organisations.get(session=session, code=case.requester_org)
    except NotFound:
        requester = None
    code = body.get("sharing_agreement")
    agreement = await agreements.find(session=session, code=code) if code else None
    return {"requester": requester, "agreement": agreement}


def decidable(case: SharingRequest) -> bool:
    """An ordinary referral, awaiting review or in it: decided with the decision form (the other kinds of review have
    their own forms, in the deliberation's sections)."""
    ordinary = case.retrospective_status != RetrospectiveStatus.PENDING
    return ordinary and case.status in (RequestStatus.AWAITING_REVIEW, RequestStatus.IN_REVIEW)


async def case_page(
    request: Request,
    *,
    session: AsyncSession,
    user: ConsoleUser,
    controller: str,
    request_id: str,
    done: str | None = None,
    problem: Refusal | None = None,
) -> Response:
    """The case file for `user`, with a banner saying what was just done, or the problem an action met."""
    case = await reading.get_visible(session=session, principal=user.principal, request_id=request_id)
    details = await reading.read(session=session, principal=user.principal, request=case, controller=controller)
    history = await transitions.history(
        session=session, principal=user.principal, request=case, controller=controller, limit=HISTORY_SHOWN
    )
    evidence = await uploads.list_for_request(
        session=session,
        principal=user.principal,
        request=case,
        controller=controller,
        cursor=None,
        limit=EVIDENCE_SHOWN,
    )
    held = case.assignee_sub is not None and not claim_lapsed(case)
    holds = held and (case.assignee_sub, case.assignee_org) == (user.principal.sub, user.principal.org)
    body = details.request
    sent = problem.form if problem else {}
    ticked = sent.get("approved_items") or []
    asked_items = [
        {"value": category, "text": words(category), "checked": category in ticked}
        for category in dict.fromkeys(item["category"] for item in body.get("data_items", []))
    ]
    now = utcnow()
    return render(
        request,
        "case/case.jinja",
        status_code=problem.status_code if problem else 200,
        case=case,
        details=details,
        body=body,
        decision=details.decision,
        groups=grouped(details.decision.findings),
        history=history.items,
        attachments=evidence.items,
        **await _requester_and_agreement(session, case, body),
        held=held,
        holds=holds,
        deciding=decidable(case) and (holds or not held),
        overdue=case.in_queue and case.due_at is not None and case.due_at < now,
        guardian=user.principal.has(Role.GUARDIAN),
        version=etag(case),
        done=DONE.get(done or ""),
        problem=problem,
        sent=sent,
        asked_items=asked_items,
        words=words,
        **await deliberation.section(request, db=session, user=user, case=case),
    )


@router.get("/console/cases/{request_id}")
async def case_file(
    request: Request,
    request_id: PathName,
    session: SessionDep,
    settings: SettingsDep,
    user: OverseerUser,
    done: Annotated[Done | None, Query()] = None,
) -> Response:
    """The case file; `done` names the action just made, for its banner."""
    return await case_page(
        request, session=session, user=user, controller=settings.controller_org, request_id=request_id, done=done
    )
