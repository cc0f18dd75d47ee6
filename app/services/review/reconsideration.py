"""Reconsideration: the requesting agency asks, once per decision,
that a refusal or an approval's conditions be looked at again.

The request goes back to the guardian queue with the urgency's response time; a guardian who took no part in
the decision (did not make it, sit on the panel that made it, or give a second opinion it weighed; checked by
app/services/review/independence.py through the workflow) upholds it or overturns it with a new decision.
"""

from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.canonical import SubjectKeys
from app.errors import Conflict, InvalidInput
from app.models.base import utcnow
from app.models.reconsideration import Reconsideration, ReconsiderationDecided, ReconsiderationPublic
from app.models.request_body import MAX_IDENTIFIERS, SharingRequestBody
from app.models.review import ReconsiderationBody, ReconsiderationDecisionBody
from app.models.sharing_request import STATUS_FOR_OUTCOME, Decision, DecisionPublic, SharingRequest, new_id
from app.models.vocabulary import (
    DataCategory,
    DecisionKind,
    DecisionOutcome,
    FinalOutcome,
    Outcome,
    ReconsiderationOutcome,
    ReviewVerdict,
)
from app.platform import observability, writes
from app.principal import Principal
from app.rules import Policy
from app.services.agreements import organisations
from app.services.controller_checks import checks as controller_checks
from app.services.policies.calendar import due_at  # 503, nothing recorded, past the policy's calendar
from app.services.policies.registry import PolicyRegistry
from app.services.review import decisions as guardian_decisions
from app.services.review import workflow
from app.services.review.claims import expire_claim
from app.services.review.workflow import Move
from app.services.sharing_requests import adjudication

# Outcomes a request's status can rest on; of them, those an agency may ask to have reconsidered.
SETTLING = (DecisionOutcome.APPROVE, DecisionOutcome.APPROVE_WITH_CONDITIONS, DecisionOutcome.REFUSE)
RECONSIDERABLE = frozenset({DecisionOutcome.APPROVE_WITH_CONDITIONS, DecisionOutcome.REFUSE})
ALREADY = "this decision has already been reconsidered; each decision is reconsidered once"


async def standing_decision(*, session: AsyncSession, request: SharingRequest) -> Decision:
    """The decision a decided request's status rests on:
    the last reconsideration's answer, else its latest settling decision."""
    last = select(Reconsideration).where(
        Reconsideration.request_id == request.id, col(Reconsideration.decided_at).is_not(None)
    )
    reconsidered = (await session.exec(last.order_by(col(Reconsideration.decided_at).desc()).limit(1))).first()
    if reconsidered is not None:
        # Upheld, the reconsidered decision stands;
        # overturned, the new one. (A revision's rules decision never settled anything.)
        standing = (
            reconsidered.decision_id
            if reconsidered.outcome == ReconsiderationOutcome.UPHELD
            else reconsidered.new_decision_id
        )
        decision = await session.get(Decision, standing)
        assert decision is not None
        return decision
    # A decision with a verdict reviewed another (a retrospective review): the one it reviewed stands.
    settling = select(Decision).where(
        Decision.request_id == request.id, col(Decision.outcome).in_(SETTLING), col(Decision.verdict).is_(None)
    )
    return (
        await session.exec(settling.order_by(col(Decision.decided_at).desc(), col(Decision.version).desc()).limit(1))
    ).one()


async def pending_on(*, session: AsyncSession, request: SharingRequest) -> Reconsideration | None:
    """The reconsideration the request awaits an answer to, if any (at most one is pending at a time)."""
    query = select(Reconsideration).where(
        Reconsideration.request_id == request.id, col(Reconsideration.outcome).is_(None)
    )
    return (await session.exec(query)).first()


async def request_reconsideration(
    *,
    session: AsyncSession,
    policy: Policy,
    principal: Principal,
    request: SharingRequest,
    body: ReconsiderationBody,
    subject_keys: SubjectKeys,
    window: timedelta,
    max_identifiers: int = MAX_IDENTIFIERS,
) -> ReconsiderationPublic:
    """Send a refused request, or one approved with conditions,
    back to the queue for a guardian to reconsider; once per decision."""
    if body.request is not None:
        adjudication.check_identifiers(body.request, limit=max_identifiers, field="request.subjects.identifiers")
    await workflow.check(session=session, request=request, move=Move.REQUEST_RECONSIDERATION, actor=principal)
    standing, decided = (
        await standing_decision(session=session, request=request),
        request.status,
    )  # read now: a failed flush expires the request
    if standing.outcome not in RECONSIDERABLE:
        raise Conflict(
            f"the request is {request.status}; only a refusal or an approval with conditions can be reconsidered",
            current_status=request.status,
        )
    if (
        await session.exec(select(Reconsideration.id).where(Reconsideration.decision_id == standing.id))
    ).first() is not None:
        raise Conflict(ALREADY, current_status=decided)
    now = utcnow()
    if now > standing.decided_at + window:
        closed = (standing.decided_at + window).isoformat(timespec="seconds")
        raise Conflict(
            f"reconsideration of this decision could be asked for until {closed}; that time has passed",
            current_status=decided,
        )
    if body.request is not None:
        note = f"Sent with a request to reconsider decision {standing.id}"
        await _revise(
            session=session,
            policy=policy,
            principal=principal,
            request=request,
            revision=body.request,
            subject_keys=subject_keys,
            now=now,
            note=note,
        )
    due = due_at(policy, request.urgency, now)
    await workflow.apply(
        session=session, request=request, move=Move.REQUEST_RECONSIDERATION, actor=principal, now=now, due=due
    )
    row = Reconsideration(
        id=new_id(),
        request_id=request.id,
        decision_id=standing.id,
        grounds=body.grounds,
        revised_version=request.current_version if body.request is not None else None,
        requested_by=principal.sub,
        requested_at=now,
    )
    session.add(row)
    try:
        await session.flush()  # the unique constraint on decision_id answers here, as a 409, should two requests race
    except IntegrityError:
        raise Conflict(ALREADY, current_status=decided) from None
    return ReconsiderationPublic.of(row)


async def _revise(
    *,
    session: AsyncSession,
    policy: Policy,
    principal: Principal,
    request: SharingRequest,
    revision: SharingRequestBody,
    subject_keys: SubjectKeys,
    now: datetime,
    note: str,
) -> Decision:
    """Record the revised request as a new version and the rules' decision on it, as an amendment is;
    the request stays where the workflow puts it."""
    requester = await organisations.active_requester(session=session, code=principal.org)
    revised = await adjudication.record_revision(
        session=session,
        policy=policy,
        principal=principal,
        request=request,
        body=revision,
        requester=requester,
        subject_keys=subject_keys,
        now=now,
        note=note,
        placed=False,
    )
    decision = revised.decision
    observability.decision_recorded(kind=decision.kind, outcome=decision.outcome, findings=decision.findings)
    return decision


# Panels are opened from a claimed review only:
# a reconsideration that would approve a panel's case cannot be decided by one guardian.
NO_PANEL_ON_RECONSIDERATION = (
    "a panel cannot be opened on a reconsideration, so a single guardian may uphold the "
    "decision or overturn it to a refusal"
)


async def decide(
    *,
    session: AsyncSession,
    registry: PolicyRegistry,
    principal: Principal,
    request: SharingRequest,
    body: ReconsiderationDecisionBody,
) -> ReconsiderationDecided:
    """Record the claim holder's answer:
    the decision stands (`upheld`), or a new decision replaces it (`overturned`)."""
    now, upheld = utcnow(), body.outcome == ReconsiderationOutcome.UPHELD
    move = Move.UPHOLD_DECISION if upheld else Move.OVERTURN
    await expire_claim(session=session, request=request, now=now)
    await workflow.check(session=session, request=request, move=move, actor=principal)  # before the body is looked at
    pending = (
        await session.exec(
            select(Reconsideration).where(
                Reconsideration.request_id == request.id, col(Reconsideration.outcome).is_(None)
            )
        )
    ).one()
    reconsidered = await session.get(Decision, pending.decision_id)
    assert reconsidered is not None
    await _check_answer(session=session, request=request, body=body, reconsidered=reconsidered)
    if body.decision is not None and body.decision.outcome != FinalOutcome.REFUSE:
        await guardian_decisions.check_no_panel_needed(
            session=session, registry=registry, request=request, remedy=NO_PANEL_ON_RECONSIDERATION
        )
        await guardian_decisions.check_consultations_answered(session=session, registry=registry, request=request)
    rules = await adjudication.rules_decision_of(session=session, request=request)
    if body.decision is None:  # upheld: the record repeats what stands, its verdict apart
        outcome, conditions, items = (
            DecisionOutcome(reconsidered.outcome),
            reconsidered.conditions,
            reconsidered.approved_items,
        )
        settles = Outcome(reconsidered.outcome)
    else:
        outcome, conditions, items = (
            DecisionOutcome(body.decision.outcome),
            body.decision.conditions,
            body.decision.approved_items,
        )
        settles = Outcome(body.decision.outcome)

    async def record() -> Decision:
        request.status = STATUS_FOR_OUTCOME[settles]
        decision = await guardian_decisions.record_decision(
            session=session,
            request=request,
            rules=rules,
            kind=DecisionKind.RECONSIDERATION,
            outcome=outcome,
            verdict=ReviewVerdict.UPHELD if upheld else ReviewVerdict.OVERTURNED,
            principal=principal,
            rationale=body.rationale,
            response_seconds=guardian_decisions.waited_seconds(request, now),
            now=now,
            conditions=list(conditions),
            approved_items=[DataCategory(item) for item in items] if items is not None else None,
        )
        if not upheld:  # the new decision's checks count now; upheld, the reconsidered decision's still do
            await controller_checks.open_for(session=session, request=request, decision=decision)
        return decision

    decision = await workflow.apply(
        session=session, request=request, move=move, actor=principal, now=now, decide=record
    )
    assert decision is not None
    await writes.write(session)  # the decision row exists before the reconsideration names it
    pending.outcome, pending.decided_by, pending.decided_at, pending.new_decision_id = (
        body.outcome,
        principal.sub,
        now,
        decision.id,
    )
    await session.flush()
    return ReconsiderationDecided(
        **ReconsiderationPublic.of(pending).model_dump(), decision=DecisionPublic.of(decision)
    )


async def _check_answer(
    *, session: AsyncSession, request: SharingRequest, body: ReconsiderationDecisionBody, reconsidered: Decision
) -> None:
    """A 422 naming the field unless an overturn carries a new decision
    (one that differs) and an upholding carries none."""
    if body.outcome == ReconsiderationOutcome.UPHELD:
        if body.decision is not None:
            raise InvalidInput("decision", "an upheld decision stands as it was: send no new decision")
        return
    if body.decision is None:
        raise InvalidInput("decision", "overturning a decision needs the new decision")
    new = body.decision
    await guardian_decisions.check_outcome_details(
        session=session,
        request=request,
        outcome=new.outcome,
        conditions=new.conditions,
        approved_items=new.approved_items,
        prefix="decision.",
    )
    if (new.outcome, new.conditions, new.approved_items) == (
        reconsidered.outcome,
        reconsidered.conditions,
        reconsidered.approved_items,
    ):
        raise InvalidInput("decision", "the new decision is the one reconsidered: uphold it instead")
