"""A guardian's decisions: on a referred request (approve, with conditions, refuse,
ask for information) and on an emergency share."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, InvalidInput, NotFound
from app.models.base import utcnow
from app.models.controller_check import DecisionCheckRecord
from app.models.review import RetrospectiveReviewBody, ReviewBody
from app.models.sharing_request import Decision, SharingRequest, new_id
from app.models.vocabulary import DataCategory, DecisionKind, DecisionOutcome, GuardianOutcome, ReviewVerdict
from app.platform import writes
from app.principal import Principal
from app.rules import Policy
from app.services.consultations import reading as consultations
from app.services.controller_checks import checks as controller_checks
from app.services.controller_checks import rules as controller_check_rules
from app.services.information_assets import matching
from app.services.policies.registry import PolicyRegistry
from app.services.review import opinions, workflow
from app.services.review.claims import expire_claim
from app.services.review.workflow import Move
from app.services.sharing_requests import adjudication

APPROVALS = frozenset({GuardianOutcome.APPROVE, GuardianOutcome.APPROVE_WITH_CONDITIONS})
APPROVED = frozenset({DecisionOutcome.APPROVE, DecisionOutcome.APPROVE_WITH_CONDITIONS})


async def review(
    *,
    session: AsyncSession,
    registry: PolicyRegistry,
    principal: Principal,
    request: SharingRequest,
    body: ReviewBody,
    controller_org: str,
) -> Decision:
    """Record the claim holder's decision: approve (wholly or in part), with conditions, refuse, or ask for information.

    The controller's guardian may record done, with an approval, the controller's checks it opens (`body.checks`)."""
    now, move = utcnow(), Move(body.outcome)
    await _check_move(session=session, principal=principal, request=request, move=move, now=now)
    await _check_review_body(session=session, request=request, body=body)
    if body.checks:
        rules = await adjudication.rules_decision_of(session=session, request=request)
        opens = controller_check_rules.controller_checks_among(rules.findings) if body.outcome in APPROVALS else []
        controller_checks.check_decision_records(
            decision_checks=body.checks, opens=opens, principal=principal, controller_org=controller_org
        )
    if body.outcome in APPROVALS:
        await check_no_panel_needed(session=session, registry=registry, request=request)
        await check_consultations_answered(session=session, registry=registry, request=request)
    final = body.outcome != GuardianOutcome.REQUEST_INFORMATION
    return await _decide(
        session=session,
        principal=principal,
        request=request,
        move=move,
        kind=DecisionKind.GUARDIAN,
        rationale=body.rationale,
        response_seconds=waited_seconds(request, now) if final else None,  # asking for information is no final answer
        now=now,
        conditions=body.conditions,
        approved_items=body.approved_items,
        recorded=body.checks,
        subject_reason=body.subject_reason if body.outcome in APPROVALS else None,
    )


async def retrospective_review(
    *, session: AsyncSession, principal: Principal, request: SharingRequest, body: RetrospectiveReviewBody
) -> Decision:
    """Record whether an emergency share is upheld; the sharing itself is not undone, so the record's outcome is the
    emergency share's (with its conditions) and the guardian's judgement is its verdict."""
    now, move = utcnow(), Move(body.outcome)
    await _check_move(session=session, principal=principal, request=request, move=move, now=now)
    share = await adjudication.rules_decision_of(session=session, request=request)
    return await _decide(
        session=session,
        principal=principal,
        request=request,
        move=move,
        kind=DecisionKind.RETROSPECTIVE,
        rationale=body.rationale,
        response_seconds=waited_seconds(request, now),
        now=now,
        outcome=DecisionOutcome(share.outcome),
        verdict=ReviewVerdict(body.outcome),
        conditions=list(share.conditions),
    )


async def _check_move(
    *, session: AsyncSession, principal: Principal, request: SharingRequest, move: Move, now: datetime
) -> None:
    """A lapsed claim goes back first; then the move must be in the table and this guardian's to make
    (before the body is checked)."""
    await expire_claim(session=session, request=request, now=now)
    workflow.check_actor(workflow.step_for(request, move), request, principal)


async def check_no_panel_needed(
    *, session: AsyncSession, registry: PolicyRegistry, request: SharingRequest, remedy: str | None = None
) -> None:
    """A 409 when the policy the rules decided under leaves approving this request to a panel,
    saying what the guardian may do instead."""
    rules = await adjudication.rules_decision_of(session=session, request=request)
    policy = await _policy_of(session=session, registry=registry, rules=rules)
    panel = policy.panel_rule
    needed = panel.needed_for(rules.findings)
    if needed:
        remedy = remedy or (
            f"open one with POST /v1/sharing-requests/{request.id}/panel, naming {panel.size - 1} other guardians; "
            "you may still refuse or ask for information"
        )
        raise Conflict(
            f"approving this request is a panel's decision under policy {rules.policy_name} {rules.policy_version} "
            f"(findings {', '.join(needed)}): {remedy}",
            current_status=request.status,
        )


async def check_consultations_answered(
    *, session: AsyncSession, registry: PolicyRegistry, request: SharingRequest
) -> None:
    """A 409 naming the finding and the role while the policy the rules decided under wants a consultation answered
    before this request is approved."""
    rules = await adjudication.rules_decision_of(session=session, request=request)
    policy = await _policy_of(session=session, registry=registry, rules=rules)
    await consultations.check_answered(session=session, policy=policy, request=request, findings=rules.findings)


async def _policy_of(*, session: AsyncSession, registry: PolicyRegistry, rules: Decision) -> Policy:
    """The policy the rules decided under."""
    try:
        return await registry.get(session=session, name=rules.policy_name, version=rules.policy_version)
    except NotFound:  # decided under a policy this database no longer holds (a restore, a test): the active one
        return await registry.active(session=session)


def waited_seconds(request: SharingRequest, now: datetime) -> int:
    """Seconds from the request joining the queue to `now`, less the time paused waiting for information."""
    assert request.referred_at is not None
    return max(0, int((now - request.referred_at).total_seconds()) - request.paused_seconds)


async def _decide(
    *,
    session: AsyncSession,
    principal: Principal,
    request: SharingRequest,
    move: Move,
    kind: DecisionKind,
    rationale: str,
    response_seconds: int | None,
    now: datetime,
    conditions: list[str] | None = None,
    approved_items: list[DataCategory] | None = None,
    recorded: Sequence[DecisionCheckRecord] = (),
    subject_reason: str | None = None,
    outcome: DecisionOutcome | None = None,
    verdict: ReviewVerdict | None = None,
) -> Decision:
    """Make the move with the guardian's decision record (its outcome the move's, unless given),
    which carries the rules' findings it weighed and what they rest on.

    A review settles the request, so its checks (brief section 5) are the ones that count;
    a retrospective review changes no check."""
    rules = await adjudication.rules_decision_of(session=session, request=request)
    weighed = await opinions.to_weigh(session=session, request=request)

    async def decide() -> Decision:
        decision = await record_decision(
            session=session,
            request=request,
            rules=rules,
            kind=kind,
            outcome=outcome or DecisionOutcome(move),
            verdict=verdict,
            principal=principal,
            rationale=rationale,
            response_seconds=response_seconds,
            now=now,
            conditions=conditions,
            approved_items=approved_items,
            opinions=opinions.records(weighed),
            subject_reason=subject_reason,
        )
        if kind == DecisionKind.GUARDIAN:
            await controller_checks.open_for(
                session=session, request=request, decision=decision, principal=principal, recorded=recorded
            )
        return decision

    decision = await workflow.apply(
        session=session, request=request, move=move, actor=principal, now=now, decide=decide
    )
    assert decision is not None
    await writes.write(session)  # the decision row exists before the opinions name it
    await opinions.weighed(session=session, request=request, weighed=weighed, decision_id=decision.id, now=now)
    return decision


async def record_decision(
    *,
    session: AsyncSession,
    request: SharingRequest,
    rules: Decision,
    kind: DecisionKind,
    outcome: DecisionOutcome,
    principal: Principal,
    rationale: str,
    response_seconds: int | None,
    now: datetime,
    conditions: list[str] | None = None,
    approved_items: list[DataCategory] | None = None,
    opinions: list[dict[str, Any]] | None = None,
    panel: dict[str, Any] | None = None,
    subject_reason: str | None = None,
    verdict: ReviewVerdict | None = None,
) -> Decision:
    """Queue a guardian's decision record on the current version, carrying the findings of `rules`
    (the rules' decision on it), and naming in its facts the information assets that hold what it approves."""
    approved = None
    if outcome in APPROVED:
        approved = (
            approved_items
            if approved_items is not None
            else await matching.requested_categories(session=session, request=request)
        )
    decision = Decision(
        id=new_id(),
        request_id=request.id,
        version=request.current_version,
        kind=kind,
        outcome=outcome,
        verdict=verdict,
        findings=rules.findings,  # the grounds the guardian weighed, so the record explains itself
        conditions=conditions or [],
        review_required=False,
        decided_by=principal.sub,
        rationale=rationale,
        subject_reason=subject_reason,
        approved_items=approved_items,
        response_seconds=response_seconds,
        # The findings came from the rules decision's policy and facts, not from whichever policy is active now.
        policy_name=rules.policy_name,
        policy_version=rules.policy_version,
        policy_hash=rules.policy_hash,
        request_hash=rules.request_hash,
        decided_at=now,
        facts=await matching.named_in_facts(session=session, facts=rules.facts, approved=approved),
        facts_origin=rules.facts_origin,
        opinions=opinions or None,
        panel=panel,
    )
    writes.add(session, Decision, writes.row_of(decision))
    return decision


async def _check_review_body(*, session: AsyncSession, request: SharingRequest, body: ReviewBody) -> None:
    if body.subject_reason is not None and body.outcome not in APPROVALS:
        raise InvalidInput(
            "subject_reason", "a reason for the person goes only with an approval, which their notice explains"
        )
    await check_outcome_details(
        session=session,
        request=request,
        outcome=body.outcome,
        conditions=body.conditions,
        approved_items=body.approved_items,
    )


async def check_outcome_details(
    *,
    session: AsyncSession,
    request: SharingRequest,
    outcome: str,
    conditions: list[str],
    approved_items: list[DataCategory] | None,
    prefix: str = "",
) -> None:
    """A 422 naming the field unless conditions come only with (and always with) approve_with_conditions,
    and approved items were requested."""
    if outcome == GuardianOutcome.APPROVE_WITH_CONDITIONS and not conditions:
        raise InvalidInput(f"{prefix}conditions", "approving with conditions needs at least one condition")
    if outcome != GuardianOutcome.APPROVE_WITH_CONDITIONS and conditions:
        raise InvalidInput(f"{prefix}conditions", f"conditions belong only to approve_with_conditions, not {outcome}")
    if approved_items is None:
        return
    if outcome not in APPROVALS:
        raise InvalidInput(f"{prefix}approved_items", "only an approval can name the items that may be shared")
    requested = {
        item["category"] for item in (await adjudication.current_body(session=session, request=request))["data_items"]
    }
    for index, category in enumerate(approved_items):
        if category not in requested:
            raise InvalidInput(f"{prefix}approved_items[{index}]", f"{category} was not requested")
