"""How guardians deliberate on a case in the console: second opinions, panels, reconsiderations, retrospective
reviews, and the decision notices (read, and a withheld one released).

Each form calls the service the API's route calls (app/routers/deliberation.py, review.py, notices.py) with the
signed-in person's Principal, so the workflow table, separation of duties, audit events and webhooks are the API's.
A refusal by a service is shown on the page as an error summary, the form kept; the service's work is undone to a
savepoint first, so the request's one transaction commits nothing of a refused act. A done act redirects (POST,
redirect, GET) to the deliberation page, whose banner says what was done.

The case page (app/console/case.py) includes `case/deliberation.jinja`; given `deliberation` (from `view_of`) in its
context it shows every section there, else a link to this module's page for the case.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.datastructures import FormData

from app.errors import Conflict, FieldError, InvalidInput, NotFound, ProblemError
from app.http.dependencies import PathName, RegistryDep, SettingsDep
from app.http.session import SessionDep
from app.models.actions import RequestAction
from app.models.notice import NoticeAudience, NoticeFormat, WithheldReason
from app.models.notice_release import NoticeReleaseBody
from app.models.opinion import Opinion, OpinionBody, OpinionRequest, OpinionRequestBody
from app.models.panel import PanelCloseBody, PanelOpenBody, PanelPublic, PanelVoteBody, PanelWithdrawalBody
from app.models.reconsideration import Reconsideration
from app.models.review import ReconsiderationDecisionBody, RetrospectiveReviewBody
from app.models.sharing_request import RequestVersion, SharingRequest, claim_lapsed
from app.models.vocabulary import (
    ReconsiderationOutcome,
    Role,
)
from app.services.audit import events
from app.services.notices import notice, withholding
from app.services.policies.registry import PolicyRegistry
from app.services.review import decisions, opinions, panel_records, panels, reconsideration
from app.services.review.workflow import Stage, stage_of
from app.services.sharing_requests import reading
from app.wiring import wiring_of

from .auth import CheckedForm, ConsoleUser, GuardianUser, OverseerUser
from .pages import render

router = APIRouter(include_in_schema=False)
Body = TypeVar("Body", bound=BaseModel)

CASE = "/console/cases/{request_id}"
PAGE = CASE + "/deliberation"
SUBJECT_AUDIENCES = (NoticeAudience.SUBJECT, NoticeAudience.SUBJECT_ADULTS, NoticeAudience.SUBJECT_PROXY)
NEEDS_NOT_IMPLICATED = frozenset({WithheldReason.PARENTAL_RESPONSIBILITY, WithheldReason.PROXY})


class Done(StrEnum):
    """What the banner after an act says was done: the only thing the redirect's address carries."""

    OPINION_REQUESTED = "opinion-requested"
    OPINION_GIVEN = "opinion-given"
    PANEL_OPENED = "panel-opened"
    VOTED = "voted"
    WITHDRAWN = "withdrawn"
    PANEL_CLOSED = "panel-closed"
    RECONSIDERED = "reconsidered"
    RETROSPECTIVE_REVIEWED = "retrospective-reviewed"
    NOTICE_RELEASED = "notice-released"


BANNERS = {
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


async def section(request: Request, *, db: AsyncSession, user: ConsoleUser, case: SharingRequest) -> dict[str, Any]:
    """What a page that includes `case/deliberation.jinja` adds to its context for every section to show: the case
    page's render call takes `**await deliberation.section(request, db=..., user=..., case=...)`."""
    wiring = wiring_of(request.app)
    view = await view_of(
        db=db, user=user, case=case, controller_org=wiring.settings.controller_org, registry=wiring.policies
    )
    return {"deliberation": view}


# Reading forms


def _text(form: FormData, name: str) -> str | None:
    """A text field as sent, or None when left empty (so the body model names it when it is required)."""
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


def _lines(form: FormData, name: str) -> list[str]:
    """A text area of one entry per line (conditions, members)."""
    value = form.get(name)
    return [line.strip() for line in value.splitlines() if line.strip()] if isinstance(value, str) else []


def _checked(form: FormData, name: str) -> bool:
    return form.get(name) == "yes"


def _present(data: dict[str, Any]) -> dict[str, Any]:
    """The fields filled in (nested ones too): one left empty is missing, so the model's default or refusal applies."""
    return {
        key: _present(value) if isinstance(value, dict) else value for key, value in data.items() if value is not None
    }


def parsed(model: type[Body], data: dict[str, Any]) -> Body:
    """The API's body model built from a form: what it refuses is a 422 naming each field, as the API's would be."""
    try:
        return model.model_validate(_present(data))
    except ValidationError as invalid:
        errors = [
            FieldError(
                field=".".join(str(part) for part in error["loc"]) or "body",
                location="body",
                message="is required" if error["type"] == "missing" else error["msg"],
            )
            for error in invalid.errors()
        ]
        problem = InvalidInput(errors[0].field, errors[0].message)
        problem.errors = errors
        raise problem from None


# The page, and acting on it


@dataclass(frozen=True, slots=True)
class Acting:
    """One act on a case (or the page showing it): who, on which request, in which transaction."""

    request: Request
    db: AsyncSession
    user: ConsoleUser
    case: SharingRequest


async def _case(db: AsyncSession, user: ConsoleUser, request_id: str) -> SharingRequest:
    """The request, as the API's CurrentRequest loads it (another agency's is a 404, never a 403)."""
    return await reading.get_visible(session=db, principal=user.principal, request_id=request_id)


def _field_id(form_id: str, field: str) -> str:
    """The id of the page's input for an API field (a new decision's `decision.outcome` is the form's `decision`,
    its `decision.conditions.0` the form's `conditions`)."""
    root = "decision" if field == "decision.outcome" else field.removeprefix("decision.").split(".")[0].split("[")[0]
    return f"{form_id}-{root}"


def error_list(problem: ProblemError, form_id: str) -> list[dict[str, str]]:
    """The error summary's entries: each field the service named, linked to its input; else the refusal itself."""
    if problem.errors:
        return [
            {"text": f"{error.field}: {error.message}", "href": "#" + _field_id(form_id, error.field)}
            for error in problem.errors
        ]
    return [{"text": problem.detail or problem.title, "href": "#" + form_id}]


async def show(
    acting: Acting,
    *,
    status_code: int = 200,
    done: Done | None = None,
    failed: str | None = None,
    errors: list[dict[str, str]] | None = None,
    kept: FormData | None = None,
) -> Response:
    """The deliberation page for the case: the banner of a done act, or a refused one's errors and form."""
    listed = errors or []
    return render(
        acting.request,
        "deliberation/page.jinja",
        status_code=status_code,
        case=acting.case,
        **await section(acting.request, db=acting.db, user=acting.user, case=acting.case),
        banner=BANNERS.get(done) if done else None,
        errors=listed,
        # Each field's own message beside it, as the summary links to it (not the form's, which has no input).
        field_errors={entry["href"][1:]: {"text": entry["text"]} for entry in listed if entry["href"][1:] != failed},
        kept={failed: _kept(kept)} if failed and kept is not None else None,
    )


def _kept(form: FormData) -> dict[str, Any]:
    """A refused form's fields, to fill it again (never its token)."""
    return {
        name: form.getlist(name) if name == "approved_items" else form.get(name)
        for name in form
        if name != "csrf_token"
    }


async def act(
    acting: Acting, form: FormData, *, form_id: str, done: Done, work: Callable[[], Awaitable[Any]]
) -> Response:
    """Do `work` (a service call); a refusal undoes it to a savepoint and shows the page with the form kept."""
    try:
        async with acting.db.begin_nested():
            await work()
    except ProblemError as problem:
        await acting.db.refresh(acting.case)  # the savepoint's rollback expired what the work had changed
        return await show(
            acting, status_code=problem.status_code, failed=form_id, errors=error_list(problem, form_id), kept=form
        )
    return RedirectResponse(PAGE.format(request_id=acting.case.id) + f"?done={done.value}", status_code=303)


async def acting_on(request: Request, db: AsyncSession, user: ConsoleUser, request_id: str) -> Acting:
    return Acting(request, db, user, await _case(db, user, request_id))


@router.get(PAGE)
async def deliberation_page(
    request: Request,
    request_id: PathName,
    db: SessionDep,
    user: OverseerUser,
    done: Done | None = None,
) -> Response:
    """The case's opinions, panel, reconsideration, retrospective review and notices, with their forms."""
    acting = await acting_on(request, db, user, request_id)
    await events.request_read(session=db, actor=user.principal, request=acting.case, action=RequestAction.READ)
    return await show(acting, done=done)


@router.post(PAGE + "/opinion-requests")
async def ask_opinion(
    request: Request,
    request_id: PathName,
    db: SessionDep,
    user: GuardianUser,
    form: CheckedForm,
    settings: SettingsDep,
) -> Response:
    """The claim holder asks another guardian (named, or any) for an opinion on the outcome they propose."""
    acting = await acting_on(request, db, user, request_id)

    async def work() -> None:
        sub, org = _text(form, "guardian"), _text(form, "guardian_org") or settings.controller_org
        body = parsed(
            OpinionRequestBody,
            {
                "guardian": {"sub": sub, "org": org} if sub else None,
                "proposed_outcome": _text(form, "proposed_outcome"),
                "question": _text(form, "question"),
            },
        )
        await opinions.request_opinion(session=db, principal=user.principal, request=acting.case, body=body)

    return await act(acting, form, form_id="ask", done=Done.OPINION_REQUESTED, work=work)


@router.post(PAGE + "/opinions")
async def give_opinion(
    request: Request,
    request_id: PathName,
    db: SessionDep,
    user: GuardianUser,
    form: CheckedForm,
) -> Response:
    """The guardian asked gives their opinion: agree, disagree or abstain, with a rationale."""
    acting = await acting_on(request, db, user, request_id)

    async def work() -> None:
        body = parsed(
            OpinionBody,
            {
                "opinion_request_id": _text(form, "opinion_request_id"),
                "opinion": _text(form, "opinion"),
                "rationale": _text(form, "rationale"),
            },
        )
        await opinions.give_opinion(session=db, principal=user.principal, request=acting.case, body=body)

    return await act(acting, form, form_id="opinion", done=Done.OPINION_GIVEN, work=work)


@router.post(PAGE + "/panel")
async def open_panel(
    request: Request,
    request_id: PathName,
    db: SessionDep,
    user: GuardianUser,
    form: CheckedForm,
    settings: SettingsDep,
    registry: RegistryDep,
) -> Response:
    """The claim holder sends the case to a panel they chair, naming the controller's guardians who sit with them."""
    acting = await acting_on(request, db, user, request_id)

    async def work() -> None:
        members = [{"sub": sub, "org": settings.controller_org} for sub in _lines(form, "members")]
        body = parsed(PanelOpenBody, {"reason": _text(form, "reason"), "members": members})
        await panels.open_panel(
            session=db,
            registry=registry,
            principal=user.principal,
            request=acting.case,
            body=body,
            controller_org=settings.controller_org,
        )

    return await act(acting, form, form_id="panel", done=Done.PANEL_OPENED, work=work)


@router.post(PAGE + "/panel/votes")
async def vote(
    request: Request,
    request_id: PathName,
    db: SessionDep,
    user: GuardianUser,
    form: CheckedForm,
) -> Response:
    """A member of the open panel votes, once, with a rationale (and conditions with an approval on conditions)."""
    acting = await acting_on(request, db, user, request_id)

    async def work() -> None:
        body = parsed(
            PanelVoteBody,
            {
                "vote": _text(form, "vote"),
                "rationale": _text(form, "rationale"),
                "conditions": _lines(form, "conditions"),
            },
        )
        await panels.vote(session=db, principal=user.principal, request=acting.case, body=body)

    return await act(acting, form, form_id="vote", done=Done.VOTED, work=work)


@router.post(PAGE + "/panel/withdrawals")
async def withdraw(
    request: Request,
    request_id: PathName,
    db: SessionDep,
    user: GuardianUser,
    form: CheckedForm,
) -> Response:
    """A member withdraws from the open panel, saying why; their vote, if cast, no longer counts."""
    acting = await acting_on(request, db, user, request_id)

    async def work() -> None:
        body = parsed(PanelWithdrawalBody, {"rationale": _text(form, "rationale")})
        await panels.withdraw(session=db, principal=user.principal, request=acting.case, body=body)

    return await act(acting, form, form_id="withdraw", done=Done.WITHDRAWN, work=work)


@router.post(PAGE + "/panel/decision")
async def close_panel(
    request: Request,
    request_id: PathName,
    db: SessionDep,
    user: GuardianUser,
    form: CheckedForm,
) -> Response:
    """The chair closes the panel: its members' majority decides, or the chair's casting vote on a real tie."""
    acting = await acting_on(request, db, user, request_id)

    async def work() -> None:
        body = parsed(
            PanelCloseBody,
            {
                "rationale": _text(form, "rationale"),
                "casting_vote": _text(form, "casting_vote"),
                "conditions": _lines(form, "conditions"),
            },
        )
        await panels.close(session=db, principal=user.principal, request=acting.case, body=body)

    return await act(acting, form, form_id="close", done=Done.PANEL_CLOSED, work=work)


@router.post(PAGE + "/reconsideration")
async def decide_reconsideration(
    request: Request,
    request_id: PathName,
    db: SessionDep,
    user: GuardianUser,
    form: CheckedForm,
    registry: RegistryDep,
) -> Response:
    """The claim holder upholds the decision reconsidered, or overturns it with a new decision."""
    acting = await acting_on(request, db, user, request_id)

    async def work() -> None:
        overturned = _text(form, "outcome") == ReconsiderationOutcome.OVERTURNED
        items = [str(item) for item in form.getlist("approved_items")]
        new = {
            "outcome": _text(form, "decision"),
            "conditions": _lines(form, "conditions"),
            "approved_items": items or None,
        }
        body = parsed(
            ReconsiderationDecisionBody,
            {
                "outcome": _text(form, "outcome"),
                "rationale": _text(form, "rationale"),
                "decision": new if overturned else None,
            },
        )
        await reconsideration.decide(
            session=db, registry=registry, principal=user.principal, request=acting.case, body=body
        )

    return await act(acting, form, form_id="reconsider", done=Done.RECONSIDERED, work=work)


@router.post(PAGE + "/retrospective-review")
async def retrospective_review(
    request: Request,
    request_id: PathName,
    db: SessionDep,
    user: GuardianUser,
    form: CheckedForm,
) -> Response:
    """The claim holder upholds an emergency share, or not, with reasons."""
    acting = await acting_on(request, db, user, request_id)

    async def work() -> None:
        body = parsed(
            RetrospectiveReviewBody, {"outcome": _text(form, "outcome"), "rationale": _text(form, "rationale")}
        )
        await decisions.retrospective_review(session=db, principal=user.principal, request=acting.case, body=body)

    return await act(acting, form, form_id="retrospective", done=Done.RETROSPECTIVE_REVIEWED, work=work)


@router.post(PAGE + "/notice-releases")
async def release_notice(
    request: Request,
    request_id: PathName,
    db: SessionDep,
    user: GuardianUser,
    form: CheckedForm,
) -> Response:
    """A guardian not of the requesting organisation releases a withheld notice, saying why (recorded, audited)."""
    acting = await acting_on(request, db, user, request_id)
    form_id = f"release-{_text(form, 'audience')}" if _text(form, "audience") in set(NoticeAudience) else "release"

    async def work() -> None:
        body = parsed(
            NoticeReleaseBody,
            {
                "audience": _text(form, "audience"),
                "why": _text(form, "why"),
                "not_implicated": _checked(form, "not_implicated"),
                "personal_representative": _text(form, "personal_representative"),
                "access_to_health_records_checked": _checked(form, "access_to_health_records_checked"),
            },
        )
        await withholding.release(session=db, principal=user.principal, request=acting.case, body=body)

    return await act(acting, form, form_id=form_id, done=Done.NOTICE_RELEASED, work=work)


@router.get(CASE + "/notices/{audience}")
async def notice_page(
    request: Request,
    request_id: PathName,
    audience: Annotated[NoticeAudience, Path()],
    db: SessionDep,
    user: OverseerUser,
    settings: SettingsDep,
    registry: RegistryDep,
) -> Response:
    """A notice as its reader will get it, in plain text inside the console's page (the API's HTML form carries its
    own inline styles, which the console's policy forbids). A withheld notice is a guardian's preview, marked so."""
    case = await _case(db, user, request_id)
    context = notice.NoticeContext(
        controller_org=settings.controller_org,
        controller_name=settings.controller_name,
        window_days=settings.reconsideration_window_days,
        registry=registry,
        dpo_contact=settings.dpo_contact,
        ico_contact=settings.ico_contact,
    )
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
