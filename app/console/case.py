"""The case file: one page with everything a guardian weighs before deciding a request.

The request in plain words, what did not pass (the rules' findings grouped by principle, the passes folded away), the
requester with its toolkit status and agreement, the evidence, the history with earlier questions and answers, the
due time and the claim; for a guardian, the forms that act on it (app/console/case_actions.py), the decision's among
them, so that a referred case is decided from this page; and the deliberation's sections (second opinions, the panel,
a reconsideration, a retrospective review, the notices) with their forms (app/console/deliberation.py). It reads the
services the API reads, as the API's readers do: opening the case is recorded as a read of the request, and of its
history. Every form on it is acted on in one way (app/console/acting.py): done, the page again with a banner naming
the act (`Done`); refused, the page again with a `Refusal`.

A safeguarding lead reads the page too, as the API lets them read a case (`GET /v1/sharing-requests/{id}` and its
history, for the safeguarding requests and those a consultation asks of their role): the request, what did not pass,
the history, and the consultations asked of their role with a link to answer them; never the requester's registration,
the evidence, the claim, the deliberation or a form, which the API does not give them. A case they may not read is a
404, as in the API.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, NotFound, ProblemError
from app.http.dependencies import PathName, SettingsDep
from app.http.etags import etag
from app.http.session import SessionDep
from app.models.base import utcnow
from app.models.notice import NoticeAudience, WithheldReason
from app.models.opinion import Opinion, OpinionRequest
from app.models.panel import PanelPublic
from app.models.reconsideration import Reconsideration
from app.models.sharing_request import RequestVersion, SharingRequest, claim_lapsed
from app.models.vocabulary import FindingResult, RequestStatus, RetrospectiveStatus, Role
from app.services.agreements import organisations
from app.services.agreements import register as agreements
from app.services.attachments import uploads
from app.services.consultations import reading as consultation_reading
from app.services.notices import notice, withholding
from app.services.policies.registry import PolicyRegistry
from app.services.review import decisions, opinions, panel_records, reconsideration
from app.services.review.workflow import Stage, stage_of
from app.services.sharing_requests import history as transitions
from app.services.sharing_requests import reading
from app.wiring import wiring_of

from .auth import CaseReaderUser, ConsoleUser
from .pages import render
from .queue import words

router = APIRouter(include_in_schema=False)

ACTIONS = "actions"  # the id of the column of the case's own forms (claim, decide, verify), and their form id


class Done(StrEnum):
    """What was just done on the case, for the banner after it (POST, redirect, GET: the only thing the redirect's
    address carries). One vocabulary for every form on the page, the case's and the deliberation's."""

    CLAIMED = "claimed"
    RELEASED = "released"
    RENEWED = "renewed"
    HANDED_OVER = "handed_over"
    DECIDED = "decided"
    VERIFIED = "verified"
    OPINION_REQUESTED = "opinion_requested"
    OPINION_GIVEN = "opinion_given"
    PANEL_OPENED = "panel_opened"
    VOTED = "voted"
    WITHDRAWN = "withdrawn"
    PANEL_CLOSED = "panel_closed"
    RECONSIDERED = "reconsidered"
    RETROSPECTIVE_REVIEWED = "retrospective_reviewed"
    NOTICE_RELEASED = "notice_released"


BANNERS = {
    Done.CLAIMED: "You claimed this case",
    Done.RELEASED: "You released this case back to the queue",
    Done.RENEWED: "You renewed your claim",
    Done.HANDED_OVER: "You handed this case to your colleague",
    Done.DECIDED: "Your decision is recorded",
    Done.VERIFIED: "Your verification of the evidence is recorded",
    Done.OPINION_REQUESTED: "Opinion asked for",
    Done.OPINION_GIVEN: "Your opinion is recorded",
    Done.PANEL_OPENED: "Panel opened",
    Done.VOTED: "Your vote is recorded",
    Done.WITHDRAWN: "You have withdrawn from the panel",
    Done.PANEL_CLOSED: "Panel closed: its decision is recorded",
    Done.RECONSIDERED: "Reconsideration decided",
    Done.RETROSPECTIVE_REVIEWED: "Retrospective review recorded",
    Done.NOTICE_RELEASED: "Notice released",
}
HISTORY_SHOWN = 200
EVIDENCE_SHOWN = 100
CONSULTATIONS_SHOWN = 50
# Who reads the whole case file; any other reader of the page (a safeguarding lead) reads only what the API gives them.
WHOLE_FILE_READERS = frozenset({Role.GUARDIAN, Role.AUDITOR, Role.ADMIN})
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


def _root(field: str) -> str:
    """The form's field for an API body's field: a new decision's `decision.outcome` is the reconsideration form's
    `decision`, its `decision.conditions.0` the form's `conditions`, an order's `order.in_date` the order's."""
    return "decision" if field == "decision.outcome" else field.removeprefix("decision.").split(".")[0].split("[")[0]


@dataclass
class Refusal:
    """What went wrong with an action, for the page's error summary: each message and the field it is about, and the
    form that was sent (`form_id`), to fill it again and mark its fields."""

    errors: list[dict[str, str]]
    status_code: int
    form_id: str
    form: dict[str, Any] = field(default_factory=dict)  # what was sent, never its token

    @classmethod
    def of(
        cls, problem: ProblemError, form: dict[str, Any], *, form_id: str, fields: dict[str, tuple[str, str]]
    ) -> "Refusal":
        """A service's problem: each bad field it names, linked to its input and labelled as the form labels it; else
        its detail, linked to the form. `fields` gives a body field's input id and label where the form's input is not
        `<form_id>-<field>` labelled by the field's name."""
        listed = []
        for error in problem.errors or []:
            root = _root(error.field)
            anchor, label = fields.get(root, (f"{form_id}-{root}", error.field))
            listed.append({"text": f"{label}: {error.message}", "href": f"#{anchor}"})
        detail = problem.detail or problem.title
        return cls(
            errors=listed or [{"text": detail[:1].upper() + detail[1:], "href": f"#{form_id}"}],
            status_code=problem.status_code,
            form_id=form_id,
            form=form,
        )

    @property
    def field_errors(self) -> dict[str, dict[str, str]]:
        """Each field's own message, by its input's id, to show beside it (not the form's, which has no input)."""
        return {
            entry["href"][1:]: {"text": entry["text"]} for entry in self.errors if entry["href"][1:] != self.form_id
        }


# The deliberation's sections


SUBJECT_AUDIENCES = (NoticeAudience.SUBJECT, NoticeAudience.SUBJECT_ADULTS, NoticeAudience.SUBJECT_PROXY)
NEEDS_NOT_IMPLICATED = frozenset({WithheldReason.PARENTAL_RESPONSIBILITY, WithheldReason.PROXY})


@dataclass(frozen=True, slots=True)
class AskedOpinion:
    """An opinion asked on the case, the opinion given if any, and whether the person looking may give it."""

    asked: OpinionRequest
    given: Opinion | None
    mine_to_give: bool


@dataclass(frozen=True, slots=True)
class NoticeState:
    """One notice of the case: whether it is withheld now, and what a release must clear."""

    audience: NoticeAudience
    withheld: list[WithheldReason]
    releasable: list[WithheldReason]

    @property
    def needs_not_implicated(self) -> bool:
        return bool(NEEDS_NOT_IMPLICATED & set(self.releasable))

    @property
    def deceased(self) -> bool:
        return WithheldReason.DECEASED in self.releasable


@dataclass(frozen=True, slots=True)
class Deliberation:
    """What the case's deliberation sections show to the person looking, and which forms they are offered."""

    stage: Stage
    guardian: bool
    holds_claim: bool
    panel_required: bool
    opinions: list[AskedOpinion]
    panel: PanelPublic | None
    seat: str | None  # "chair", "member", or None for someone not on the open panel
    voted: bool
    withdrew: bool
    reconsideration: Reconsideration | None
    data_categories: list[str]
    notices: list[NoticeState]
    may_release: bool
    withheld_texts: dict[str, str]
    controller_org: str

    @property
    def answerable(self) -> AskedOpinion | None:
        """The opinion the person looking would give: one asked of them first, else one asked of anyone."""
        return next((entry for entry in self.opinions if entry.mine_to_give), None)


async def _opinions(
    db: AsyncSession, user: ConsoleUser, case: SharingRequest, *, holds: bool, stage: Stage
) -> list[AskedOpinion]:
    """The opinions asked, marking the one this person would answer: the oldest open one asked of them, else the
    oldest asked of any guardian but them (as app/services/review/opinions.py chooses)."""
    asked = await opinions.asked_on(session=db, request=case)
    me = (user.principal.sub, user.principal.org)
    open_ = [row for row, _ in asked if row.answered_at is None and row.closed_at is None]
    mine = [row for row in open_ if (row.asked_sub, row.asked_org) == me]
    anyone = [row for row in open_ if row.asked_sub is None and (row.asked_by, row.asked_by_org) != me]
    may_answer = user.principal.has(Role.GUARDIAN) and not holds and user.principal.org != case.requester_org
    chosen = (mine or anyone or [None])[0] if may_answer and stage is Stage.IN_REVIEW else None
    return [AskedOpinion(asked=row, given=given, mine_to_give=row is chosen) for row, given in asked]


async def _panel(db: AsyncSession, case: SharingRequest) -> PanelPublic | None:
    try:
        return await panel_records.latest_panel(session=db, request=case)
    except NotFound:
        return None


def _seat(panel: PanelPublic | None, user: ConsoleUser) -> tuple[str | None, bool, bool]:
    """The person's seat on the open panel, and whether they have voted or withdrawn."""
    me = (user.principal.sub, user.principal.org)
    if panel is None or panel.closed_at is not None or me not in {(m.sub, m.org) for m in panel.members}:
        return None, False, False
    seat = "chair" if (panel.chair.sub, panel.chair.org) == me else "member"
    mine = [vote for vote in panel.votes if (vote.member, vote.member_org) == me]
    return seat, any(vote.vote is not None for vote in mine), any(vote.withdrawn for vote in mine)


async def _panel_required(db: AsyncSession, registry: PolicyRegistry, case: SharingRequest) -> bool:
    """Whether the policy leaves approving this case to a panel (the check an approval would meet)."""
    try:
        await decisions.check_no_panel_needed(session=db, registry=registry, request=case)
    except Conflict:
        return True
    return False


async def _notices(db: AsyncSession, case: SharingRequest, body: dict[str, Any]) -> list[NoticeState]:
    """The case's notices once a final decision stands: the requester's, and each the person's side has."""
    if case.status in notice.UNDECIDED:
        return []
    states = [NoticeState(audience=NoticeAudience.REQUESTER, withheld=[], releasable=[])]
    for audience in SUBJECT_AUDIENCES:
        try:
            withholding.addressee(body, audience)
        except NotFound:
            continue  # no such notice for this case
        withheld = await withholding.withheld_reasons(session=db, request=case, body=body, audience=audience)
        released = await withholding.current_release(db, case, audience) is not None
        releasable = [] if released else withholding.releasable_reasons(body, audience)
        states.append(NoticeState(audience=audience, withheld=withheld, releasable=releasable))
    return states


async def view_of(
    *, db: AsyncSession, user: ConsoleUser, case: SharingRequest, controller_org: str, registry: PolicyRegistry
) -> Deliberation:
    """Everything the deliberation sections show of `case` to `user` (reads only; nothing audited)."""
    principal = user.principal
    stage = stage_of(case)
    # A lapsed claim is no one's: the services return it to the queue before any move.
    holds = (case.assignee_sub, case.assignee_org) == (principal.sub, principal.org) and not claim_lapsed(case)
    body = (
        await db.exec(
            select(RequestVersion.body).where(
                RequestVersion.request_id == case.id, RequestVersion.version == case.current_version
            )
        )
    ).one()
    panel = await _panel(db, case)
    seat, voted, withdrew = _seat(panel, user)
    return Deliberation(
        stage=stage,
        guardian=principal.has(Role.GUARDIAN),
        holds_claim=holds,
        panel_required=holds and stage is Stage.IN_REVIEW and await _panel_required(db, registry, case),
        opinions=await _opinions(db, user, case, holds=holds, stage=stage),
        panel=panel,
        seat=seat,
        voted=voted,
        withdrew=withdrew,
        reconsideration=await reconsideration.pending_on(session=db, request=case),
        data_categories=list(dict.fromkeys(item["category"] for item in body["data_items"])),
        notices=await _notices(db, case, body),
        may_release=withholding.may_preview(principal, case),
        withheld_texts=notice.texts()["withheld"],
        controller_org=controller_org,
    )


# The page


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
    # The API's loader for a case's readers: every case for the overseers, a lead's own for a safeguarding lead.
    case = await consultation_reading.readable(session=session, principal=user.principal, request_id=request_id)
    details = await reading.read(session=session, principal=user.principal, request=case, controller=controller)
    history = await transitions.history(
        session=session, principal=user.principal, request=case, controller=controller, limit=HISTORY_SHOWN
    )
    body = details.request
    whole = bool(user.principal.roles & WHOLE_FILE_READERS)
    sections = (
        await _whole_file(request, session=session, user=user, case=case, body=body, controller=controller)
        if whole
        else await _consulted_part(session=session, user=user, case=case)
    )
    held = case.assignee_sub is not None and not claim_lapsed(case)
    holds = held and (case.assignee_sub, case.assignee_org) == (user.principal.sub, user.principal.org)
    sent = problem.form if problem and problem.form_id == ACTIONS else {}  # the case's own forms read `sent`
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
        whole=whole,
        **sections,
        held=held,
        holds=holds,
        deciding=decidable(case) and (holds or not held),
        overdue=case.in_queue and case.due_at is not None and case.due_at < now,
        guardian=user.principal.has(Role.GUARDIAN),
        version=etag(case),
        done=BANNERS.get(done) if done else None,
        problem=problem,
        sent=sent,
        # the deliberation's forms read theirs from `kept`, by form id, and their fields' messages from `field_errors`
        kept={problem.form_id: problem.form} if problem else {},
        field_errors=problem.field_errors if problem else {},
        asked_items=asked_items,
        words=words,
    )


async def _whole_file(
    request: Request,
    *,
    session: AsyncSession,
    user: ConsoleUser,
    case: SharingRequest,
    body: dict[str, Any],
    controller: str,
) -> dict[str, Any]:
    """The sections only the overseers read: the evidence, the requester as registered, and the deliberation."""
    evidence = await uploads.list_for_request(
        session=session,
        principal=user.principal,
        request=case,
        controller=controller,
        cursor=None,
        limit=EVIDENCE_SHOWN,
    )
    return {
        "attachments": evidence.items,
        **await _requester_and_agreement(session, case, body),
        "deliberation": await view_of(
            db=session, user=user, case=case, controller_org=controller, registry=wiring_of(request.app).policies
        ),
    }


async def _consulted_part(*, session: AsyncSession, user: ConsoleUser, case: SharingRequest) -> dict[str, Any]:
    """For a safeguarding lead: the consultations asked of their role, as the API lists them to them (and records the
    read, as it does); no requester registration, which the API does not give them."""
    asked = await consultation_reading.listed(
        session=session, principal=user.principal, request=case, cursor=None, limit=CONSULTATIONS_SHOWN
    )
    return {"consulted": asked.items, "requester": None, "agreement": None}


@router.get("/console/cases/{request_id}")
async def case_file(
    request: Request,
    request_id: PathName,
    session: SessionDep,
    settings: SettingsDep,
    user: CaseReaderUser,
    done: Annotated[Done | None, Query()] = None,
) -> Response:
    """The case file; `done` names the action just made, for its banner."""
    return await case_page(
        request, session=session, user=user, controller=settings.controller_org, request_id=request_id, done=done
    )
