"""The guardian's side: the queue, claims, decisions, requests for information, retrospective reviews.

Allowed transitions, and nothing else (anything else is a 409 naming the current state):
  awaiting_review -> in_review (claim) -> awaiting_review (release, or the claim's lease runs out)
  in_review -> approved | approved_with_conditions | refused | information_requested (review)
  information_requested -> whatever the rules decide on the amended request (amend)
  awaiting_review | in_review | information_requested -> withdrawn (the requesting agency)
An emergency share keeps its status and is claimed and reviewed retrospectively: upheld or not.
"""

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import Principal
from app.errors import Conflict, Forbidden, InvalidInput
from app.models.actions import RequestAction
from app.models.base import STORABLE_TEXT, utcnow
from app.models.page import Page
from app.models.request_body import POLICE_PERMISSIVE_GATEWAY, SharingRequestBody
from app.models.sharing_request import Decision, SharingRequest
from app.models.vocabulary import (
    DataCategory,
    DecisionKind,
    GuardianOutcome,
    PurposeCategory,
    RequestStatus,
    RetrospectiveOutcome,
    RetrospectiveStatus,
    Role,
    Urgency,
)
from app.rules import Policy, evaluate
from app.services import adjudication, events, organisations, transitions
from app.services.pagination import ascending, keyset_page

Rationale = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=20, max_length=8000, pattern=STORABLE_TEXT)]
ConditionText = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=1000, pattern=STORABLE_TEXT)]

OPEN = frozenset({RequestStatus.AWAITING_REVIEW, RequestStatus.IN_REVIEW, RequestStatus.INFORMATION_REQUESTED})
STATUS_FOR_GUARDIAN = {
    GuardianOutcome.APPROVE: RequestStatus.APPROVED,
    GuardianOutcome.APPROVE_WITH_CONDITIONS: RequestStatus.APPROVED_WITH_CONDITIONS,
    GuardianOutcome.REFUSE: RequestStatus.REFUSED,
    GuardianOutcome.REQUEST_INFORMATION: RequestStatus.INFORMATION_REQUESTED,
}


class ReviewBody(BaseModel):
    """A guardian's decision on a referred request."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "outcome": "approve_with_conditions",
                    "rationale": "The address is necessary to an investigation of serious violence; the public interest outweighs the duty of confidence.",
                    "conditions": ["Use only for this investigation", "Delete the address when the case closes"],
                    "approved_items": ["demographics", "contact_details"],
                },
                {"outcome": "request_information", "rationale": "Please say whether a warrant has been issued and which officers will see the address."},
            ]
        },
    )

    outcome: GuardianOutcome
    rationale: Rationale
    conditions: Annotated[list[ConditionText], Field(max_length=50)] = []
    approved_items: Annotated[list[DataCategory], Field(min_length=1, max_length=30)] | None = None


class RetrospectiveReviewBody(BaseModel):
    """A guardian's retrospective judgement on an emergency share."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"outcome": "upheld", "rationale": "The medication list was needed by the ambulance crew at once; the patient could not consent at the time."}
            ]
        },
    )

    outcome: RetrospectiveOutcome
    rationale: Rationale


class AmendmentBody(BaseModel):
    """The requesting agency's answer to a request for information: the revised request and a note."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "request": POLICE_PERMISSIVE_GATEWAY | {"recipient": POLICE_PERMISSIVE_GATEWAY["recipient"] | {"access_roles": ["investigating officer"]}},
                    "note": "A warrant was issued on 24 November 2026; only the investigating officer will see the address.",
                }
            ]
        },
    )

    request: SharingRequestBody
    note: Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=4000, pattern=STORABLE_TEXT)]


def wrong_state(request: SharingRequest, wanted: str) -> Conflict:
    return Conflict(f"the request is {request.status}; {wanted}", current_status=request.status)


def in_retrospective_review(request: SharingRequest) -> bool:
    return request.retrospective_status == RetrospectiveStatus.PENDING


def claim_lapsed(request: SharingRequest, now: datetime) -> bool:
    return request.claim_expires_at is not None and request.claim_expires_at <= now


async def expire_claim(*, session: AsyncSession, request: SharingRequest, now: datetime) -> None:
    """Return a request to the queue if its claim outlived the lease without a decision."""
    if not claim_lapsed(request, now):
        return
    previous = request.status
    if request.status == RequestStatus.IN_REVIEW:
        request.status = RequestStatus.AWAITING_REVIEW
    _clear_claim(request, now)
    await session.flush()
    await transitions.record(session=session, request=request, action=RequestAction.CLAIM_EXPIRED, from_status=previous, actor=None, now=now)


async def expire_claims(*, session: AsyncSession, now: datetime) -> None:
    """Return every lapsed claim to the queue."""
    lapsed = await session.exec(select(SharingRequest).where(col(SharingRequest.in_queue), col(SharingRequest.claim_expires_at) <= now))
    for request in lapsed.all():
        await expire_claim(session=session, request=request, now=now)


def _clear_claim(request: SharingRequest, now: datetime) -> None:
    request.assignee_sub = request.assignee_org = request.claim_expires_at = None
    request.updated_at = now


def _require_independent(principal: Principal, request: SharingRequest) -> None:
    # A guardian never decides a request made by their own organisation (brief, section 6).
    if principal.org == request.requester_org:
        raise Forbidden("a guardian may not review a request made by their own organisation")


async def claim(*, session: AsyncSession, policy: Policy, principal: Principal, request: SharingRequest) -> SharingRequest:
    """Take a queued request; of two guardians claiming at once exactly one wins."""
    now = utcnow()
    _require_independent(principal, request)
    await expire_claim(session=session, request=request, now=now)
    claimable = request.status == RequestStatus.AWAITING_REVIEW or (in_retrospective_review(request) and request.assignee_sub is None)
    if not claimable:
        raise wrong_state(request, "only a request awaiting review (or an unclaimed retrospective review) can be claimed")
    previous = request.status
    if request.status == RequestStatus.AWAITING_REVIEW:
        request.status = RequestStatus.IN_REVIEW
    request.assignee_sub, request.assignee_org = principal.sub, principal.org
    request.claim_expires_at = now + timedelta(minutes=policy.claim_lease_minutes)
    request.updated_at = now
    await session.flush()  # the row version check makes a concurrent claim fail here
    await transitions.record(session=session, request=request, action=RequestAction.CLAIMED, from_status=previous, actor=principal, now=now)
    return request


async def release(*, session: AsyncSession, principal: Principal, request: SharingRequest) -> SharingRequest:
    """Give a claimed request back to the queue."""
    now = utcnow()
    await expire_claim(session=session, request=request, now=now)
    _require_claim_holder(principal, request)
    previous = request.status
    if request.status == RequestStatus.IN_REVIEW:
        request.status = RequestStatus.AWAITING_REVIEW
    _clear_claim(request, now)
    await session.flush()
    await transitions.record(session=session, request=request, action=RequestAction.RELEASED, from_status=previous, actor=principal, now=now)
    return request


def _require_claim_holder(principal: Principal, request: SharingRequest) -> None:
    if request.status != RequestStatus.IN_REVIEW and not in_retrospective_review(request):
        raise wrong_state(request, "it is not in review")
    if request.assignee_sub is None:
        raise wrong_state(request, "nobody holds its claim (it may have lapsed); claim it first")
    if (request.assignee_sub, request.assignee_org) != (principal.sub, principal.org):
        raise Forbidden("another guardian holds the claim on this request")


async def _rules_decision(session: AsyncSession, request: SharingRequest) -> Decision:
    query = select(Decision).where(Decision.request_id == request.id, Decision.version == request.current_version, Decision.kind == DecisionKind.RULES)
    return (await session.exec(query)).one()


def _response_seconds(request: SharingRequest, now: datetime) -> int:
    assert request.referred_at is not None
    return max(0, int((now - request.referred_at).total_seconds()) - request.paused_seconds)


async def _guardian_decision(
    *,
    session: AsyncSession,
    principal: Principal,
    request: SharingRequest,
    kind: DecisionKind,
    outcome: str,
    rationale: str,
    now: datetime,
    conditions: list[str] | None = None,
    approved_items: list[DataCategory] | None = None,
    final: bool = True,
) -> Decision:
    """A guardian's decision record on the current version, carrying the rules' findings it weighed and what they rest on."""
    rules = await _rules_decision(session, request)
    decision = Decision(
        request_id=request.id,
        version=request.current_version,
        kind=kind,
        outcome=outcome,
        findings=rules.findings,  # the grounds the guardian weighed, so the record explains itself
        conditions=conditions or [],
        review_required=False,
        decided_by=principal.sub,
        rationale=rationale,
        approved_items=approved_items,
        response_seconds=_response_seconds(request, now) if final else None,
        # The findings came from the rules decision's policy and facts, not from whichever policy is active now.
        policy_name=rules.policy_name,
        policy_version=rules.policy_version,
        policy_hash=rules.policy_hash,
        request_hash=rules.request_hash,
        decided_at=now,
        facts=rules.facts,
        facts_origin=rules.facts_origin,
    )
    session.add(decision)
    return decision


async def review(*, session: AsyncSession, principal: Principal, request: SharingRequest, body: ReviewBody) -> Decision:
    """Record the claim holder's decision: approve (wholly or in part), with conditions, refuse, or ask for information."""
    now = utcnow()
    _require_independent(principal, request)
    await expire_claim(session=session, request=request, now=now)
    if in_retrospective_review(request):
        raise wrong_state(request, "an emergency share is reviewed retrospectively (upheld or not upheld)")
    _require_claim_holder(principal, request)
    await _check_review_body(session=session, request=request, body=body)

    final = body.outcome != GuardianOutcome.REQUEST_INFORMATION
    decision = await _guardian_decision(
        session=session,
        principal=principal,
        request=request,
        kind=DecisionKind.GUARDIAN,
        outcome=body.outcome,
        rationale=body.rationale,
        conditions=body.conditions,
        approved_items=body.approved_items,
        now=now,
        final=final,
    )
    previous = request.status
    request.status = STATUS_FOR_GUARDIAN[body.outcome]
    request.in_queue = False
    if not final:
        request.paused_at = now  # the response clock stops while the agency answers
    _clear_claim(request, now)
    await session.flush()
    action = RequestAction.REVIEWED if final else RequestAction.INFORMATION_REQUESTED
    await transitions.record(session=session, request=request, action=action, from_status=previous, actor=principal, now=now, decision=decision)
    return decision


async def _check_review_body(*, session: AsyncSession, request: SharingRequest, body: ReviewBody) -> None:
    if body.outcome == GuardianOutcome.APPROVE_WITH_CONDITIONS and not body.conditions:
        raise InvalidInput("conditions", "approving with conditions needs at least one condition")
    if body.outcome != GuardianOutcome.APPROVE_WITH_CONDITIONS and body.conditions:
        raise InvalidInput("conditions", f"conditions belong only to approve_with_conditions, not {body.outcome}")
    if body.approved_items is None:
        return
    if body.outcome not in (GuardianOutcome.APPROVE, GuardianOutcome.APPROVE_WITH_CONDITIONS):
        raise InvalidInput("approved_items", "only an approval can name the items that may be shared")
    requested = {item["category"] for item in (await adjudication.current_body(session=session, request=request))["data_items"]}
    for index, category in enumerate(body.approved_items):
        if category not in requested:
            raise InvalidInput(f"approved_items[{index}]", f"{category} was not requested")


async def retrospective_review(*, session: AsyncSession, principal: Principal, request: SharingRequest, body: RetrospectiveReviewBody) -> Decision:
    """Record whether an emergency share is upheld; the sharing itself is not undone."""
    now = utcnow()
    _require_independent(principal, request)
    await expire_claim(session=session, request=request, now=now)
    if not in_retrospective_review(request):
        raise wrong_state(request, "only an emergency share awaiting retrospective review can be upheld or not")
    _require_claim_holder(principal, request)
    decision = await _guardian_decision(
        session=session,
        principal=principal,
        request=request,
        kind=DecisionKind.RETROSPECTIVE,
        outcome=body.outcome,
        rationale=body.rationale,
        now=now,
    )
    request.retrospective_status = RetrospectiveStatus(body.outcome)
    request.in_queue = False
    _clear_claim(request, now)
    await session.flush()
    await transitions.record(
        session=session, request=request, action=RequestAction.RETROSPECTIVE_REVIEWED, from_status=request.status, actor=principal, now=now, decision=decision
    )
    return decision


def _require_requester(principal: Principal, request: SharingRequest) -> None:
    if not principal.has(Role.AGENCY) or principal.org != request.requester_org:
        raise Forbidden("only the requesting agency may do this")


async def amend(*, session: AsyncSession, policy: Policy, principal: Principal, request: SharingRequest, body: AmendmentBody, subject_key: bytes) -> Decision:
    """Answer a request for information with a revised request; the rules decide it again."""
    _require_requester(principal, request)
    if request.status != RequestStatus.INFORMATION_REQUESTED:
        raise wrong_state(request, "only a request for which information was asked can be amended")
    requester = await organisations.active_requester(session=session, code=principal.org)
    now = utcnow()
    assert request.paused_at is not None
    request.paused_seconds += int((now - request.paused_at).total_seconds())
    request.paused_at = None
    request.current_version += 1
    request.reference, request.purpose_category, request.urgency = body.request.reference, body.request.purpose.category, body.request.urgency
    stored = adjudication.fingerprint(body.request, subject_key=subject_key)
    facts = await adjudication.gather_facts(session=session, body=body.request, requester=requester, now=now)
    evaluation = evaluate(policy, facts)
    previous = request.status
    adjudication.place(request=request, evaluation=evaluation, policy=policy, now=now)
    await session.flush()
    decision = await adjudication.record_version(
        session=session,
        request=request,
        version=request.current_version,
        stored=stored,
        facts=facts,
        evaluation=evaluation,
        policy=policy,
        principal=principal,
        now=now,
        note=body.note,
    )
    await transitions.record(session=session, request=request, action=RequestAction.AMENDED, from_status=previous, actor=principal, now=now, decision=decision)
    return decision


async def withdraw(*, session: AsyncSession, principal: Principal, request: SharingRequest) -> SharingRequest:
    """The requesting agency withdraws a request that has no final decision yet."""
    _require_requester(principal, request)
    if request.status not in OPEN:
        raise wrong_state(request, "only a request without a final decision can be withdrawn")
    now = utcnow()
    previous = request.status
    request.status = RequestStatus.WITHDRAWN
    request.in_queue = False
    request.paused_at = None
    _clear_claim(request, now)
    await session.flush()
    await transitions.record(session=session, request=request, action=RequestAction.WITHDRAWN, from_status=previous, actor=principal, now=now)
    return request


async def flag_overdue(*, session: AsyncSession) -> int:
    """Announce, once each, queued requests whose response time has passed; returns how many."""
    now = utcnow()
    query = (
        select(SharingRequest)
        .where(col(SharingRequest.in_queue), col(SharingRequest.due_at) < now, col(SharingRequest.overdue_flagged_at).is_(None))
        .with_for_update(skip_locked=True)  # several workers may look at once; each request is announced by one
    )
    late = (await session.exec(query)).all()
    for request in late:
        request.overdue_flagged_at = now
        await session.flush()
        await events.request_changed(session=session, actor=None, request=request, action=RequestAction.OVERDUE)
    return len(late)


class QueueEntry(BaseModel):
    id: str
    reference: str | None
    requester: str
    purpose: PurposeCategory
    urgency: Urgency
    status: RequestStatus
    review: str  # "referral" or "retrospective"
    assignee: str | None
    claim_expires_at: datetime | None
    referred_at: datetime | None
    due_at: datetime | None
    overdue: bool


class QueuePage(Page[QueueEntry]):
    pass


async def queue(
    *,
    session: AsyncSession,
    status: RequestStatus | None,
    urgency: Urgency | None,
    purpose: PurposeCategory | None,
    assignee: str | None,
    overdue: bool | None,
    cursor: str | None,
    limit: int,
) -> QueuePage:
    """The guardian queue: emergency, then urgent, then routine; soonest due first within each."""
    now = utcnow()
    await expire_claims(session=session, now=now)
    query = select(SharingRequest).where(col(SharingRequest.in_queue))
    for column, value in (
        (SharingRequest.status, status),
        (SharingRequest.urgency, urgency),
        (SharingRequest.purpose_category, purpose),
        (SharingRequest.assignee_sub, assignee),
    ):
        if value is not None:
            query = query.where(column == value)
    if overdue is not None:
        query = query.where(col(SharingRequest.due_at) < now if overdue else col(SharingRequest.due_at) >= now)
    # Every request in the queue has a due time (set when it is referred), so the key is never partial.
    order = [ascending(col(SharingRequest.review_priority), int), ascending(col(SharingRequest.due_at), datetime), ascending(col(SharingRequest.id), str)]
    rows, next_cursor = await keyset_page(session, query, order=order, key=lambda row: (row.review_priority, row.due_at, row.id), cursor=cursor, limit=limit)
    return QueuePage(items=[_queue_entry(row, now) for row in rows], next_cursor=next_cursor)


def _queue_entry(request: SharingRequest, now: datetime) -> QueueEntry:
    return QueueEntry(
        id=request.id,
        reference=request.reference,
        requester=request.requester_org,
        purpose=PurposeCategory(request.purpose_category),
        urgency=Urgency(request.urgency),
        status=RequestStatus(request.status),
        review="retrospective" if in_retrospective_review(request) else "referral",
        assignee=request.assignee_sub,
        claim_expires_at=request.claim_expires_at,
        referred_at=request.referred_at,
        due_at=request.due_at,
        overdue=request.due_at is not None and request.due_at < now,
    )
