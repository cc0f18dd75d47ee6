"""Deciding a sharing request by the policy, and recording it."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.canonical import SubjectKeys
from app.errors import InvalidInput
from app.models.actions import RequestAction
from app.models.base import utcnow
from app.models.organisation import Organisation
from app.models.request_body import MAX_IDENTIFIERS, SharingRequestBody, too_many_identifiers
from app.models.sharing_request import (
    STATUS_FOR_OUTCOME,
    Decision,
    EvaluationPublic,
    PolicyRef,
    RequestSubject,
    RequestVersion,
    SharingRequest,
    new_id,
)
from app.models.vocabulary import (
    DecisionKind,
    FactsOrigin,
    Outcome,
    RequestStatus,
    RetrospectiveStatus,
    Urgency,
)
from app.platform import writes
from app.principal import Principal
from app.rules import Evaluation, Facts, Finding, Policy, evaluate
from app.rules.facts import facts_record
from app.services.agreements import organisations
from app.services.agreements.organisations import CallerOrganisation
from app.services.controller_checks import checks as controller_checks
from app.services.information_assets import matching as assets
from app.services.policies import editions
from app.services.policies.calendar import due_at as response_due  # 503, nothing recorded, past the policy's calendar
from app.services.sharing_requests import history as transitions
from app.services.sharing_requests.facts import Fingerprint, fingerprint, gather_facts

RULES = "rules"
APPROVING = frozenset({Outcome.APPROVE, Outcome.APPROVE_WITH_CONDITIONS})


def policy_ref(policy: Policy) -> PolicyRef:
    return PolicyRef(name=policy.name, version=policy.version, hash=policy.content_hash)


def check_identifiers(body: SharingRequestBody, *, limit: int, field: str = "subjects.identifiers") -> None:
    """Refuse (422 naming the field) more identifiers than this service takes in one request
    (CALDICOTT_MAX_IDENTIFIERS_PER_REQUEST)."""
    if len(body.subjects.identifiers) > limit:
        raise InvalidInput(field, too_many_identifiers(limit))


async def dry_run(
    *,
    session: AsyncSession,
    policy: Policy,
    body: SharingRequestBody,
    requester_code: str,
    subject_keys: SubjectKeys,
    max_identifiers: int = MAX_IDENTIFIERS,
    as_submitted: bool = True,
) -> EvaluationPublic:
    """Evaluate as a submission would, storing nothing;
    `as_submitted` False (a policy named, not the active one): its rules alone."""
    check_identifiers(body, limit=max_identifiers)
    requester = await organisations.active_requester(session=session, code=requester_code)
    now = utcnow()
    facts = await gather_facts(session=session, body=body, requester=requester, now=now)
    evaluation = editions.adjudicate(policy, facts)[0] if as_submitted else evaluate(policy, facts)
    return EvaluationPublic(
        **evaluation.model_dump(),
        status=STATUS_FOR_OUTCOME[evaluation.outcome],
        policy=policy_ref(policy),
        request_hash=fingerprint(body, subject_keys=subject_keys).request_hash,
        evaluated_at=now,
    )


@dataclass(frozen=True, slots=True)
class Submission:
    """A recorded submission: the request, the rules' decision on it and the body as stored."""

    request: SharingRequest
    decision: Decision
    findings: Sequence[Finding]
    body: dict[str, Any]


async def submit(
    *,
    session: AsyncSession,
    policy: Policy,
    principal: Principal,
    body: SharingRequestBody,
    subject_keys: SubjectKeys,
    max_identifiers: int = MAX_IDENTIFIERS,
) -> Submission:
    """Decide a new request by the rules and record request, version, subjects and decision.

    Every row is built in memory and queued (app/platform/writes.py: on PostgreSQL they go in one
    statement); the answer is built from what was written, not read back. A retry is answered by the
    Idempotency-Key of the HTTP edge (app/http/idempotency.py), as every change is.
    """
    check_identifiers(body, limit=max_identifiers)
    requester = await organisations.active_requester(session=session, code=principal.org)
    stored = fingerprint(body, subject_keys=subject_keys)
    now = utcnow()
    facts = await gather_facts(session=session, body=body, requester=requester, now=now)
    evaluation, superseded = editions.adjudicate(policy, facts)
    request = new_request(
        org=requester.code,
        principal=principal,
        body=body,
        evaluation=evaluation,
        now=now,
    )
    place(request=request, evaluation=evaluation, policy=policy, now=now)
    queued = writes.row_of(request)
    writes.add(session, SharingRequest, queued)
    decision = await record_version(
        session=session,
        request=request,
        version=1,
        stored=stored,
        facts=facts,
        evaluation=evaluation,
        policy=policy,
        principal=principal,
        now=now,
        superseded=superseded,
    )
    await controller_checks.open_for(
        session=session, request=request, decision=decision, policy=policy, facts=facts, queued=queued
    )
    await transitions.record(
        session=session,
        request=request,
        action=RequestAction.SUBMITTED,
        from_status=None,
        actor=principal,
        now=now,
        decision=decision,
    )
    return Submission(request=request, decision=decision, findings=evaluation.findings, body=stored.body)


def new_request(
    *,
    org: str,
    principal: Principal,
    body: SharingRequestBody,
    evaluation: Evaluation,
    now: datetime,
) -> SharingRequest:
    """The request row of a new submission, with the status the rules' outcome gives it."""
    return SharingRequest(
        id=new_id(),  # every default factory given: pydantic inspects a factory's signature each time it calls one
        requester_org=org,
        submitted_by=principal.sub,
        reference=body.reference,
        purpose_category=body.purpose.category,
        urgency=body.urgency,
        status=STATUS_FOR_OUTCOME[evaluation.outcome],
        created_at=now,
        updated_at=now,
    )


async def record_version(
    *,
    session: AsyncSession,
    request: SharingRequest,
    version: int,
    stored: Fingerprint,
    facts: Facts,
    evaluation: Evaluation,
    policy: Policy,
    principal: Principal,
    now: datetime,
    note: str | None = None,
    superseded: dict[str, Any] | None = None,
) -> Decision:
    """Store one version of the body, its subject hashes, and the rules' decision on it."""
    version_row = {
        "request_id": request.id,
        "version": version,
        "body": stored.body,
        "request_hash": stored.request_hash,
        "subject_key_version": stored.key_version,
        "created_by": principal.sub,
        "note": note,
        "created_at": now,
    }
    writes.add(session, RequestVersion, version_row)
    writes.add(
        session,
        RequestSubject,
        [
            {"request_id": request.id, "version": version, "subject_hash": hashed, "key_version": stored.key_version}
            for hashed in stored.subject_hashes
        ],
    )
    decision = rules_decision(
        request_id=request.id,
        version=version,
        facts=facts,
        evaluation=evaluation,
        policy=policy,
        request_hash=stored.request_hash,
        now=now,
        superseded=superseded,
    )
    if evaluation.outcome in APPROVING:  # the assets holding the approved items, named in the facts
        items = [item.category for item in facts.request.data_items]
        decision.facts = await assets.named_in_facts(session=session, facts=decision.facts, approved=items)
    writes.add(session, Decision, writes.row_of(decision))
    return decision


@dataclass(frozen=True, slots=True)
class Revision:
    """A revised request as recorded: the rules' decision on it, their evaluation, and the stored body."""

    decision: Decision
    evaluation: Evaluation
    stored: Fingerprint


async def record_revision(
    *,
    session: AsyncSession,
    policy: Policy,
    principal: Principal,
    request: SharingRequest,
    body: SharingRequestBody,
    requester: Organisation | CallerOrganisation,
    subject_keys: SubjectKeys,
    now: datetime,
    note: str | None,
    placed: bool,
) -> Revision:
    """Record a revised request as the request's next version with the rules' decision on it
    (weighing the evidence attached).

    `placed` moves the request where the new outcome puts it (an amendment); otherwise it stays where the
    workflow has it (a reconsideration, which a guardian decides whatever the rules say)."""
    stored = fingerprint(body, subject_keys=subject_keys)
    facts = await gather_facts(session=session, body=body, requester=requester, now=now, request_id=request.id)
    evaluation, superseded = editions.adjudicate(policy, facts)
    request.current_version += 1
    request.reference, request.purpose_category, request.urgency = body.reference, body.purpose.category, body.urgency
    if placed:
        place(request=request, evaluation=evaluation, policy=policy, now=now)
        await session.flush()
    decision = await record_version(
        session=session,
        request=request,
        version=request.current_version,
        stored=stored,
        facts=facts,
        evaluation=evaluation,
        policy=policy,
        principal=principal,
        now=now,
        note=note,
        superseded=superseded,
    )
    if placed:
        await controller_checks.open_for(
            session=session, request=request, decision=decision, policy=policy, facts=facts
        )
    return Revision(decision=decision, evaluation=evaluation, stored=stored)


REVIEW_PRIORITY = {Urgency.EMERGENCY: 0, Urgency.URGENT: 1, Urgency.ROUTINE: 2}


def place(*, request: SharingRequest, evaluation: Evaluation, policy: Policy, now: datetime) -> None:
    """Set the request's status from the rules' outcome, and put it in the guardian queue if it needs a guardian.

    The response clock starts at the first referral and excludes time paused waiting
    for information, so an amended request keeps its place rather than starting again.
    """
    request.status = STATUS_FOR_OUTCOME[evaluation.outcome]
    request.review_required = evaluation.review_required
    request.retrospective_status = RetrospectiveStatus.PENDING if evaluation.review_required else None
    request.review_priority = REVIEW_PRIORITY[request.urgency]
    request.in_queue = request.status == RequestStatus.AWAITING_REVIEW or evaluation.review_required
    if request.in_queue:
        request.referred_at = request.referred_at or now
        request.due_at = response_due(policy, request.urgency, request.referred_at) + timedelta(
            seconds=request.paused_seconds
        )
        request.overdue_flagged_at = None
    request.updated_at = now


def rules_decision(
    *,
    request_id: str,
    version: int,
    facts: Facts,
    evaluation: Evaluation,
    policy: Policy,
    request_hash: str,
    now: datetime,
    superseded: dict[str, Any] | None = None,
) -> Decision:
    """The decision record of one evaluation by the rules, with the facts it saw
    (and any current edition's view) so that it can be replayed."""
    return Decision(
        id=new_id(),
        request_id=request_id,
        version=version,
        outcome=evaluation.outcome,
        findings=[dict(finding.stored) for finding in evaluation.findings],  # each row its own copy
        conditions=list(evaluation.conditions),
        review_required=evaluation.review_required,
        decided_by=RULES,
        policy_name=policy.name,
        policy_version=policy.version,
        policy_hash=policy.content_hash,
        request_hash=request_hash,
        decided_at=now,
        facts=facts_record(facts) | ({editions.FACTS_KEY: superseded} if superseded is not None else {}),
        facts_origin=FactsOrigin.RECORDED,
    )


async def current_body(*, session: AsyncSession, request: SharingRequest) -> dict[str, Any]:
    """The stored body of the request's current version."""
    query = select(RequestVersion.body).where(
        RequestVersion.request_id == request.id, RequestVersion.version == request.current_version
    )
    return (await session.exec(query)).one()


async def rules_decision_of(*, session: AsyncSession, request: SharingRequest) -> Decision:
    """The rules' decision on the request's current version."""
    query = select(Decision).where(
        Decision.request_id == request.id,
        Decision.version == request.current_version,
        Decision.kind == DecisionKind.RULES,
    )
    return (await session.exec(query)).one()
