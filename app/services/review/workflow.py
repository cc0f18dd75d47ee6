"""The guardian workflow as a table: every move a request can make, who may make it, and what it changes.

Read `TRANSITIONS` to know every path a request can take after the rules have placed it. `apply` is the only way a
workflow move changes a request: it checks the move against the table (anything else is a 409 naming the current
status), checks who is acting, makes the row's changes, and records the move (history, audit event, webhook outbox) in
the caller's transaction. Submitting a request and amending it hand the request to the rules, which place it
(`adjudication.place`); an amendment's row therefore names no next stage. A controller's check recorded failed sends an
approved request back to the queue (section 5).

A decided refusal, or approval with conditions, can be reconsidered once at the agency's request: the
request goes back to the queue and a guardian who took no part in that decision (did not make it, sit on its
panel, or give a second opinion it weighed) upholds it (the request takes the decision's status again) or
overturns it (the new decision's status); those rows set no status.

While a guardian holds the claim they may ask another guardian for a second opinion (which changes no status), or
open a panel: the chair (who opened it) and the members the chair named vote, and the chair closes it with the
decision of a majority of its members, or their casting vote on a real tie (app/services/review/panels.py says when it
may close). The policy says which approvals only a panel may make.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, Forbidden
from app.models.actions import RequestAction
from app.models.panel import Panel, PanelMember
from app.models.sharing_request import Decision, SharingRequest
from app.models.vocabulary import RequestStatus, RetrospectiveStatus, Role
from app.principal import Principal
from app.services.review import independence
from app.services.sharing_requests import history as transitions


class Stage(StrEnum):
    """Where a request stands in the workflow (its status, and for an emergency share its retrospective review)."""

    AWAITING_REVIEW = "awaiting_review"  # referred by the rules, in the queue, unclaimed
    IN_REVIEW = "in_review"  # claimed by a guardian
    INFORMATION_REQUESTED = "information_requested"  # a guardian asked the agency for more; the clock is paused
    RETROSPECTIVE_REVIEW = "retrospective_review"  # an emergency share awaiting its retrospective review, unclaimed
    RETROSPECTIVE_IN_REVIEW = "retrospective_in_review"  # that review, claimed by a guardian
    DECIDED = "decided"  # approved, approved with conditions or refused, and nothing left to review
    WITHDRAWN = "withdrawn"
    AWAITING_RECONSIDERATION = (
        "awaiting_reconsideration"  # the agency asked for the decision to be reconsidered; in the queue, unclaimed
    )
    IN_RECONSIDERATION = "in_reconsideration"  # claimed by a guardian who did not make the decision reconsidered
    IN_PANEL = "in_panel"  # a panel is deciding it; in the queue, unclaimed, its due time running


class Move(StrEnum):
    """What someone can do to a request in the workflow."""

    CLAIM = "claim"
    RELEASE = "release"
    EXPIRE_CLAIM = "expire_claim"
    RENEW_CLAIM = "renew_claim"
    HAND_OVER = "hand_over"  # the claim holder gives the claim to a named colleague of their organisation
    APPROVE = "approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions"
    REFUSE = "refuse"
    REQUEST_INFORMATION = "request_information"
    AMEND = "amend"
    WITHDRAW = "withdraw"
    UPHOLD = "upheld"
    NOT_UPHOLD = "not_upheld"
    REQUEST_RECONSIDERATION = "request_reconsideration"
    UPHOLD_DECISION = "uphold_decision"  # on reconsideration: the decision stands
    OVERTURN = "overturn"  # on reconsideration: a new decision replaces it
    REQUEST_OPINION = "request_opinion"
    GIVE_OPINION = "give_opinion"
    OPEN_PANEL = "open_panel"
    VOTE = "vote"
    WITHDRAW_VOTE = "withdraw_vote"
    CLOSE_PANEL = "close_panel"  # the chair records the panel's decision
    # A person of the controller records a controller's check failed (app/services/controller_checks/checks.py)
    FAIL_CHECK = "fail_check"


class Actor(StrEnum):
    """Who may make a move."""

    GUARDIAN = "guardian"  # any guardian not of the requesting organisation (brief, section 6)
    CLAIM_HOLDER = "claim_holder"  # the guardian holding the claim
    REQUESTER = "requester"  # the requesting agency
    SERVICE = "service"  # the service itself, when a claim's lease runs out
    SECOND_GUARDIAN = "second_guardian"  # a guardian not of the requesting organisation who does not hold the claim
    PANEL_MEMBER = "panel_member"  # a member of the open panel (the chair included)
    PANEL_CHAIR = "panel_chair"  # the guardian who opened the panel
    # A guardian or IG manager of the controller organisation (which organisation: the service checks it)
    CONTROLLER = "controller"


class Effect(StrEnum):
    """A change a move makes besides the status."""

    TAKE_CLAIM = "take_claim"  # the actor holds the claim for the policy's lease
    PASS_CLAIM = "pass_claim"  # the colleague handed it holds the claim for the policy's lease
    CLEAR_CLAIM = "clear_claim"
    LEAVE_QUEUE = "leave_queue"
    PAUSE_CLOCK = "pause_clock"  # the response clock stops while the agency answers
    STOP_PAUSE = "stop_pause"  # the paused time is counted out of the response time
    JOIN_QUEUE = "join_queue"  # back in the queue, with a new response clock from now
    END_RETROSPECTIVE = (
        "end_retrospective"  # a pending retrospective review is answered by the guardian's new decision instead
    )


@dataclass(frozen=True)
class Step:
    """One row of the table: from `stage`, `actor` may `move` the request to `to`, recording `action`."""

    actor: Actor
    action: RequestAction
    to: Stage | None  # None: the rules place the amended request
    status: RequestStatus | None = None  # the status it takes; None keeps it (or leaves it to the rules)
    retrospective: RetrospectiveStatus | None = None
    effects: frozenset[Effect] = frozenset()
    independent: bool = (
        False  # the guardian took no part in the decision being reconsidered (app/services/review/independence.py)
    )


CLAIMED = frozenset({Effect.TAKE_CLAIM})
PASSED = frozenset({Effect.PASS_CLAIM})
RETURNED = frozenset({Effect.CLEAR_CLAIM})
CLOSED = frozenset({Effect.CLEAR_CLAIM, Effect.LEAVE_QUEUE})
WITHDRAWN = frozenset({Effect.CLEAR_CLAIM, Effect.LEAVE_QUEUE, Effect.STOP_PAUSE})
REQUEUED = frozenset({Effect.CLEAR_CLAIM, Effect.JOIN_QUEUE})
# A controller's check failed (which one, and that its approval stands: app/services/controller_checks/checks.py):
# back to a guardian, the clock from now.
CHECK_FAILED = Step(
    Actor.CONTROLLER,
    RequestAction.CONTROLLER_CHECK_FAILED,
    Stage.AWAITING_REVIEW,
    RequestStatus.AWAITING_REVIEW,
    effects=REQUEUED,
)
EMERGENCY_CHECK_FAILED = replace(CHECK_FAILED, effects=CHECK_FAILED.effects | {Effect.END_RETROSPECTIVE})


def _withdraw() -> Step:
    return Step(
        Actor.REQUESTER, RequestAction.WITHDRAWN, Stage.WITHDRAWN, status=RequestStatus.WITHDRAWN, effects=WITHDRAWN
    )


def _decide(status: RequestStatus) -> Step:
    return Step(Actor.CLAIM_HOLDER, RequestAction.REVIEWED, Stage.DECIDED, status=status, effects=CLOSED)


def _judge(outcome: RetrospectiveStatus) -> Step:
    return Step(
        Actor.CLAIM_HOLDER, RequestAction.RETROSPECTIVE_REVIEWED, Stage.DECIDED, retrospective=outcome, effects=CLOSED
    )


def _reconsider() -> Step:
    # No status: upheld, the request takes the reconsidered decision's status again; overturned, the new decision's.
    return Step(Actor.CLAIM_HOLDER, RequestAction.RECONSIDERED, Stage.DECIDED, effects=CLOSED, independent=True)


def _renew(stage: Stage) -> Step:
    return Step(Actor.CLAIM_HOLDER, RequestAction.CLAIM_RENEWED, stage, effects=CLAIMED)


def _hand_over(stage: Stage) -> Step:
    # Whether the colleague may hold it (not the holder; for a reconsideration, independent): claims.hand_over checks.
    return Step(Actor.CLAIM_HOLDER, RequestAction.HANDED_OVER, stage, effects=PASSED)


def _reconsideration_returned(actor: Actor, action: RequestAction) -> Step:
    return Step(
        actor, action, Stage.AWAITING_RECONSIDERATION, status=RequestStatus.AWAITING_RECONSIDERATION, effects=RETURNED
    )


TRANSITIONS: dict[tuple[Stage, Move], Step] = {
    (Stage.AWAITING_REVIEW, Move.CLAIM): Step(
        Actor.GUARDIAN, RequestAction.CLAIMED, Stage.IN_REVIEW, status=RequestStatus.IN_REVIEW, effects=CLAIMED
    ),
    (Stage.AWAITING_REVIEW, Move.WITHDRAW): _withdraw(),
    (Stage.IN_REVIEW, Move.RELEASE): Step(
        Actor.CLAIM_HOLDER,
        RequestAction.RELEASED,
        Stage.AWAITING_REVIEW,
        status=RequestStatus.AWAITING_REVIEW,
        effects=RETURNED,
    ),
    (Stage.IN_REVIEW, Move.EXPIRE_CLAIM): Step(
        Actor.SERVICE,
        RequestAction.CLAIM_EXPIRED,
        Stage.AWAITING_REVIEW,
        status=RequestStatus.AWAITING_REVIEW,
        effects=RETURNED,
    ),
    (Stage.IN_REVIEW, Move.APPROVE): _decide(RequestStatus.APPROVED),
    (Stage.IN_REVIEW, Move.APPROVE_WITH_CONDITIONS): _decide(RequestStatus.APPROVED_WITH_CONDITIONS),
    (Stage.IN_REVIEW, Move.REFUSE): _decide(RequestStatus.REFUSED),
    (Stage.IN_REVIEW, Move.REQUEST_INFORMATION): Step(
        Actor.CLAIM_HOLDER,
        RequestAction.INFORMATION_REQUESTED,
        Stage.INFORMATION_REQUESTED,
        status=RequestStatus.INFORMATION_REQUESTED,
        effects=CLOSED | {Effect.PAUSE_CLOCK},
    ),
    (Stage.IN_REVIEW, Move.WITHDRAW): _withdraw(),
    (Stage.INFORMATION_REQUESTED, Move.AMEND): Step(
        Actor.REQUESTER, RequestAction.AMENDED, None, effects=frozenset({Effect.STOP_PAUSE})
    ),
    (Stage.INFORMATION_REQUESTED, Move.WITHDRAW): _withdraw(),
    (Stage.RETROSPECTIVE_REVIEW, Move.CLAIM): Step(
        Actor.GUARDIAN, RequestAction.CLAIMED, Stage.RETROSPECTIVE_IN_REVIEW, effects=CLAIMED
    ),
    (Stage.RETROSPECTIVE_IN_REVIEW, Move.RELEASE): Step(
        Actor.CLAIM_HOLDER, RequestAction.RELEASED, Stage.RETROSPECTIVE_REVIEW, effects=RETURNED
    ),
    (Stage.RETROSPECTIVE_IN_REVIEW, Move.EXPIRE_CLAIM): Step(
        Actor.SERVICE, RequestAction.CLAIM_EXPIRED, Stage.RETROSPECTIVE_REVIEW, effects=RETURNED
    ),
    (Stage.RETROSPECTIVE_IN_REVIEW, Move.UPHOLD): _judge(RetrospectiveStatus.UPHELD),
    (Stage.RETROSPECTIVE_IN_REVIEW, Move.NOT_UPHOLD): _judge(RetrospectiveStatus.NOT_UPHELD),
    # Only a refusal or an approval with conditions, and each decision once: the service checks both
    # (app/services/review/reconsideration.py).
    (Stage.DECIDED, Move.REQUEST_RECONSIDERATION): Step(
        Actor.REQUESTER,
        RequestAction.RECONSIDERATION_REQUESTED,
        Stage.AWAITING_RECONSIDERATION,
        status=RequestStatus.AWAITING_RECONSIDERATION,
        effects=frozenset({Effect.JOIN_QUEUE}),
    ),
    (Stage.AWAITING_RECONSIDERATION, Move.CLAIM): Step(
        Actor.GUARDIAN,
        RequestAction.CLAIMED,
        Stage.IN_RECONSIDERATION,
        status=RequestStatus.IN_RECONSIDERATION,
        effects=CLAIMED,
        independent=True,
    ),
    (Stage.IN_RECONSIDERATION, Move.RELEASE): _reconsideration_returned(Actor.CLAIM_HOLDER, RequestAction.RELEASED),
    (Stage.IN_RECONSIDERATION, Move.EXPIRE_CLAIM): _reconsideration_returned(
        Actor.SERVICE, RequestAction.CLAIM_EXPIRED
    ),
    (Stage.IN_RECONSIDERATION, Move.UPHOLD_DECISION): _reconsider(),
    (Stage.IN_RECONSIDERATION, Move.OVERTURN): _reconsider(),
    # Opinions and votes change no status; which opinion request or vote is the service's to check
    # (app/services/review/opinions.py, panels.py).
    (Stage.IN_REVIEW, Move.REQUEST_OPINION): Step(Actor.CLAIM_HOLDER, RequestAction.OPINION_REQUESTED, Stage.IN_REVIEW),
    (Stage.IN_REVIEW, Move.GIVE_OPINION): Step(Actor.SECOND_GUARDIAN, RequestAction.OPINION_GIVEN, Stage.IN_REVIEW),
    # The claim goes to the panel; the request stays in the queue so its due time runs on and it is flagged overdue.
    (Stage.IN_REVIEW, Move.OPEN_PANEL): Step(
        Actor.CLAIM_HOLDER, RequestAction.PANEL_OPENED, Stage.IN_PANEL, status=RequestStatus.IN_PANEL, effects=RETURNED
    ),
    (Stage.IN_PANEL, Move.VOTE): Step(Actor.PANEL_MEMBER, RequestAction.PANEL_VOTED, Stage.IN_PANEL),
    (Stage.IN_PANEL, Move.WITHDRAW_VOTE): Step(Actor.PANEL_MEMBER, RequestAction.PANEL_VOTE_WITHDRAWN, Stage.IN_PANEL),
    # No status: the panel's outcome gives it.
    (Stage.IN_PANEL, Move.CLOSE_PANEL): Step(
        Actor.PANEL_CHAIR, RequestAction.PANEL_DECIDED, Stage.DECIDED, effects=CLOSED
    ),
    (Stage.IN_PANEL, Move.WITHDRAW): _withdraw(),
    # An approval no longer needed, while nothing has been disclosed under it (a refusal has nothing to withdraw):
    # app/services/sharing_requests/amendments.py checks both.
    (Stage.DECIDED, Move.WITHDRAW): _withdraw(),
    (Stage.DECIDED, Move.FAIL_CHECK): CHECK_FAILED,
    (Stage.RETROSPECTIVE_REVIEW, Move.FAIL_CHECK): EMERGENCY_CHECK_FAILED,
    (Stage.RETROSPECTIVE_IN_REVIEW, Move.FAIL_CHECK): EMERGENCY_CHECK_FAILED,
}
# A claim is renewed for a new lease, or handed to a colleague, wherever one is held; the stage stays.
for _held in (Stage.IN_REVIEW, Stage.RETROSPECTIVE_IN_REVIEW, Stage.IN_RECONSIDERATION):
    TRANSITIONS[_held, Move.RENEW_CLAIM] = _renew(_held)
    TRANSITIONS[_held, Move.HAND_OVER] = _hand_over(_held)

# Why a move is refused in a stage where the table has no row for it: the 409's detail.
WANTED = (
    {
        Move.CLAIM: "only a request awaiting review or reconsideration "
        "(or an unclaimed retrospective review) can be claimed",
        Move.RELEASE: "only a claimed request can be released",
        Move.EXPIRE_CLAIM: "only a claimed request has a claim to lapse",
        Move.RENEW_CLAIM: "only a claimed request has a claim to renew",
        Move.HAND_OVER: "only a claimed request has a claim to hand over",
        Move.REQUEST_INFORMATION: "only a claimed request can be reviewed",
        Move.AMEND: "only a request for which information was asked can be amended",
        Move.WITHDRAW: "only a request without a final decision, or an approval nothing has been disclosed under, "
        "can be withdrawn",
        Move.UPHOLD: "only a claimed emergency share awaiting retrospective review can be upheld or not",
        Move.REQUEST_RECONSIDERATION: "only a refusal or an approval with conditions can be "
        "reconsidered, once it is decided",
        Move.UPHOLD_DECISION: "only a claimed reconsideration can be decided",
        Move.REQUEST_OPINION: "only the guardian holding the claim on a request in review can ask for a second opinion",
        Move.GIVE_OPINION: "opinions are given on a claimed request in review",
        Move.OPEN_PANEL: "only a claimed request in review can go to a panel",
        Move.FAIL_CHECK: "only an approved request has controller's checks to record",
    }
    | dict.fromkeys(
        (Move.VOTE, Move.WITHDRAW_VOTE, Move.CLOSE_PANEL), "only a request before a panel has a panel to vote or close"
    )
    | dict.fromkeys((Move.APPROVE, Move.APPROVE_WITH_CONDITIONS, Move.REFUSE), "only a claimed request can be reviewed")
)
WANTED[Move.NOT_UPHOLD] = WANTED[Move.UPHOLD]
WANTED[Move.OVERTURN] = WANTED[Move.UPHOLD_DECISION]


def stage_of(request: SharingRequest) -> Stage:
    """The request's stage, from its status and retrospective review."""
    if request.retrospective_status == RetrospectiveStatus.PENDING:
        return Stage.RETROSPECTIVE_REVIEW if request.assignee_sub is None else Stage.RETROSPECTIVE_IN_REVIEW
    if request.status in (RequestStatus.APPROVED, RequestStatus.APPROVED_WITH_CONDITIONS, RequestStatus.REFUSED):
        return Stage.DECIDED
    return Stage(request.status)


def step_for(request: SharingRequest, move: Move) -> Step:
    """The table's row for this move from the request's stage, or the 409 that names its status."""
    step = TRANSITIONS.get((stage_of(request), move))
    if step is None:
        raise Conflict(f"the request is {request.status}; {WANTED[move]}", current_status=request.status)
    return step


async def check(*, session: AsyncSession, request: SharingRequest, move: Move, actor: Principal | None) -> Step:
    """The move's row, once the table allows it from the request's stage (409) and `actor` may make it (403)."""
    step = step_for(request, move)
    check_actor(step, request, actor)
    if step.independent:
        assert actor is not None
        await independence.check_independent(session=session, request=request, actor=actor)
    if step.actor in (Actor.PANEL_MEMBER, Actor.PANEL_CHAIR):
        assert actor is not None
        await _check_seat(session=session, request=request, actor=actor, chair=step.actor is Actor.PANEL_CHAIR)
    return step


async def _check_seat(*, session: AsyncSession, request: SharingRequest, actor: Principal, chair: bool) -> None:
    """A 403 unless `actor` sits on the request's open panel (as its chair, when `chair`)."""
    seat = (
        select(PanelMember.chair)
        .join(Panel, col(Panel.id) == col(PanelMember.panel_id))
        .where(
            col(Panel.request_id) == request.id,
            col(Panel.closed_at).is_(None),
            PanelMember.sub == actor.sub,
            PanelMember.org == actor.org,
        )
    )
    chairing = (await session.exec(seat)).first()
    if chairing is None:
        raise Forbidden("only a member of the panel may do this")
    if chair and not chairing:
        raise Forbidden("only the panel's chair, the guardian who opened it, may close it")


def check_actor(step: Step, request: SharingRequest, actor: Principal | None) -> None:
    """A 403 unless `actor` is whom the row names."""
    if step.actor is Actor.SERVICE:
        if actor is not None:
            raise Forbidden("only the service itself makes this move")
        return
    if actor is None:
        raise Forbidden("this move needs a person")
    if step.actor is Actor.REQUESTER:
        if not actor.has(Role.AGENCY) or actor.org != request.requester_org:
            raise Forbidden("only the requesting agency may do this")
        return
    if not (actor.has(Role.GUARDIAN) or (step.actor is Actor.CONTROLLER and actor.has(Role.IG_MANAGER))):
        raise Forbidden("only a guardian may do this")
    if actor.org == request.requester_org:
        raise Forbidden("a guardian may not review a request made by their own organisation")
    holds_claim = (request.assignee_sub, request.assignee_org) == (actor.sub, actor.org)
    if step.actor is Actor.CLAIM_HOLDER and not holds_claim:
        raise Forbidden("another guardian holds the claim on this request")
    if step.actor is Actor.SECOND_GUARDIAN and holds_claim:
        raise Forbidden("a second opinion comes from another guardian, not the one holding the claim")


async def apply(
    *,
    session: AsyncSession,
    request: SharingRequest,
    move: Move,
    actor: Principal | None,
    now: datetime,
    lease: timedelta | None = None,
    due: datetime | None = None,
    decide: Callable[[], Awaitable[Decision]] | None = None,
    to: Principal | None = None,
    note: str | None = None,
) -> Decision | None:
    """Make a move: check it, change the request as its row says,
    let `decide` record a decision on it, and record the move (a hand-over with the colleague `to` and `note`)."""
    step = await check(session=session, request=request, move=move, actor=actor)
    previous = request.status
    _change(request, step, actor=to if Effect.PASS_CLAIM in step.effects else actor, now=now, lease=lease, due=due)
    decision = await decide() if decide is not None else None
    await session.flush()  # the row version check makes a concurrent move fail here
    await transitions.record(
        session=session,
        request=request,
        action=step.action,
        from_status=previous,
        actor=actor,
        now=now,
        decision=decision,
        handed_to=to.sub if to is not None else None,
        note=note,
    )
    return decision


def _change(
    request: SharingRequest,
    step: Step,
    *,
    actor: Principal | None,
    now: datetime,
    lease: timedelta | None,
    due: datetime | None,
) -> None:
    if step.status is not None:
        request.status = step.status
    if (
        step.retrospective is not None or Effect.END_RETROSPECTIVE in step.effects
    ):  # ended: the guardian's new decision answers for it
        request.retrospective_status = step.retrospective
    effects = step.effects
    if effects & {Effect.TAKE_CLAIM, Effect.PASS_CLAIM}:
        assert actor is not None and lease is not None
        request.assignee_sub, request.assignee_org, request.claim_expires_at = actor.sub, actor.org, now + lease
    if Effect.CLEAR_CLAIM in effects:
        request.assignee_sub = request.assignee_org = request.claim_expires_at = None
    if Effect.LEAVE_QUEUE in effects:
        request.in_queue = False
    if Effect.STOP_PAUSE in effects and request.paused_at is not None:
        request.paused_seconds += int((now - request.paused_at).total_seconds())
    if Effect.STOP_PAUSE in effects:
        request.paused_at = None
    if Effect.PAUSE_CLOCK in effects:
        request.paused_at = now
    if Effect.JOIN_QUEUE in effects:
        assert due is not None
        request.in_queue, request.referred_at, request.due_at, request.overdue_flagged_at = True, now, due, None
        request.paused_at, request.paused_seconds = None, 0
    request.updated_at = now
