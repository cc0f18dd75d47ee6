"""The policies page: the active policy, every policy held with its version and hash, and the what-if replays read
as tables of what would change; an admin activates a policy and a reviewer starts a replay from it. The same
services, roles and audit events as /v1/policies and /v1/policy-replays."""

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from app.errors import ProblemError
from app.http.dependencies import PageCursor, PathName, RegistryDep, SettingsDep
from app.http.session import SessionDep
from app.models.base import LONDON
from app.models.policy import PolicyPublic, ReplayCriteria
from app.models.vocabulary import FindingResult, Outcome, Role
from app.services.policies import registry as policies
from app.services.policies import replay

from .auth import AdminUser, CheckedForm, ConsoleUser, require
from .pages import render

router = APIRouter(include_in_schema=False)

# As the API's PolicyReviewer (replays and their changes); the header's link (app/console/pages.py) names the same.
ROLES = frozenset({Role.ADMIN, Role.GUARDIAN, Role.AUDITOR})
PolicyReviewerUser = Annotated[ConsoleUser, Depends(require(*ROLES))]

REPLAYS_PER_PAGE = 20
CHANGES_PER_PAGE = 50
OUTCOME_TEXT = {
    Outcome.APPROVE: "Approve",
    Outcome.APPROVE_WITH_CONDITIONS: "Approve with conditions",
    Outcome.REFER: "Refer to a guardian",
    Outcome.REFUSE: "Refuse",
}
RESULT_TEXT = {
    FindingResult.PASS: "pass",
    FindingResult.CONDITION: "condition",
    FindingResult.REFER: "refer",
    FindingResult.REFUSE: "refuse",
    None: "not in the policy",
}
PolicyField = Annotated[str, Form(min_length=1, max_length=64)]


def when(moment: datetime | None) -> str:
    """A moment as a person here reads it: London time."""
    if moment is None:
        return "Never"
    local = moment.astimezone(LONDON)
    return f"{local.day} {local.strftime('%B %Y at %H:%M')}"


def activated_text(policy: PolicyPublic) -> str:
    """When and by whom the active policy was activated; a new installation's default never was."""
    if policy.activated_at is None:
        return "Never: it is the default of a new installation"
    return f"{when(policy.activated_at)} by {policy.activated_by}"


def rule_change_text(change: Any) -> str:
    """One rule's change, such as `CP4.onward_sharing: refer to pass`."""
    return f"{change.rule}: {RESULT_TEXT[change.old]} to {RESULT_TEXT[change.new]}"


async def all_policies(*, db: SessionDep, registry: RegistryDep) -> tuple[list[PolicyPublic], str | None, str]:
    """Every policy held (a handful: the shipped baselines and what admins derived), the warning of a replay-only
    active policy, and the activation's entity tag, which an activation form carries back."""
    items: list[PolicyPublic] = []
    cursor = None
    while True:
        page, etag = await policies.list_page(session=db, registry=registry, cursor=cursor, limit=100)
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            return items, page.warning, etag


async def policies_page(
    request: Request,
    *,
    db: SessionDep,
    registry: RegistryDep,
    user: ConsoleUser,
    cursor: str | None,
    errors: list[dict[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    held, warning, etag = await all_policies(db=db, registry=registry)
    replays = await replay.recent_page(session=db, cursor=cursor, limit=REPLAYS_PER_PAGE)
    active = next(policy for policy in held if policy.active)
    return render(
        request,
        "policies.jinja",
        status_code=status_code,
        errors=errors or [],
        held=held,
        active=active,
        activated=activated_text(active),
        choices=[
            {
                "value": f"{policy.name}/{policy.version}",
                "text": f"{policy.name} {policy.version}",
                "selected": policy.active,
            }
            for policy in held
        ],
        warning=warning,
        activation=etag,
        may_activate=Role.ADMIN in user.principal.roles,
        replays=replays.items,
        next_cursor=replays.next_cursor,
        when=when,
    )


@router.get("/console/policies")
async def policies_home(
    request: Request, db: SessionDep, registry: RegistryDep, user: PolicyReviewerUser, cursor: PageCursor = None
) -> Response:
    return await policies_page(request, db=db, registry=registry, user=user, cursor=cursor)


@router.post("/console/policies/activate")
async def activate(
    request: Request,
    db: SessionDep,
    registry: RegistryDep,
    user: AdminUser,
    form: CheckedForm,
    name: PolicyField,
    version: PolicyField,
    activation: Annotated[str, Form(max_length=100)],
) -> Response:
    """Activate a policy, as POST /v1/policies/{name}/{version}/activate with If-Match: the activation the page
    showed, so that one made since is not overridden unseen."""
    try:
        await policies.activate(
            session=db, registry=registry, actor=user.principal, name=name, version=version, if_match=activation
        )
    except ProblemError as problem:
        await db.rollback()  # nothing of the refused activation stays
        registry.forget_active()
        errors = [{"text": activation_refusal(problem, name, version), "href": "#policies-held"}]
        return await policies_page(
            request, db=db, registry=registry, user=user, cursor=None, errors=errors, status_code=problem.status_code
        )
    return RedirectResponse("/console/policies", status_code=303)


def activation_refusal(problem: ProblemError, name: str, version: str) -> str:
    """Why an activation was refused, in words for the page."""
    if problem.status_code == 412:
        return (
            f"{name} {version} was not activated: another activation was made since you loaded this page. Check "
            "the policies below and try again if it is still wanted."
        )
    return f"{name} {version} was not activated: {problem.detail or problem.title}."


@router.post("/console/policies/replay")
async def start_replay(
    db: SessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
    user: PolicyReviewerUser,
    form: CheckedForm,
    policy: PolicyField,
) -> Response:
    """Replay the stored rules decisions of the widest window allowed (CALDICOTT_REPLAY_MAX_DAYS, up to today) under a
    policy, as POST /v1/policies/{name}/{version}/replay with that window and no filter; nothing stored changes but
    the report."""
    name, _, version = policy.rpartition("/")
    candidate = await registry.get(session=db, name=name, version=version)
    today = datetime.now(LONDON).date()
    first = today - timedelta(days=settings.replay_max_days - 1)
    criteria = ReplayCriteria.model_validate({"from": first.isoformat(), "to": today.isoformat()})
    since, until = replay.window(criteria=criteria, max_days=settings.replay_max_days)
    done = await replay.replay(
        session=db,
        policy=candidate,
        criteria=criteria,
        since=since,
        until=until,
        actor=user.principal,
        max_decisions=settings.replay_max_decisions,
    )
    return RedirectResponse(f"/console/policies/replays/{done.id}", status_code=303)


@router.get("/console/policies/replays/{replay_id}")
async def replay_report(
    request: Request,
    replay_id: PathName,
    db: SessionDep,
    user: PolicyReviewerUser,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    report = await replay.get(session=db, replay_id=replay_id)
    changes = await replay.changes_page(session=db, replay_id=replay_id, cursor=cursor, limit=CHANGES_PER_PAGE)
    return render(
        request,
        "policies_replay.jinja",
        report=report,
        changes=changes,
        outcome_text=OUTCOME_TEXT,
        rule_change=rule_change_text,
        when=when,
    )
