"""The one-off listing at the first start after evidence came to need a guardian's verification
(brief section 7, last paragraph).

Before, an attachment counted in the rules by the `kind` its uploader declared. A decision that let such an
attachment clear `CP6.court_order_verified`'s or `CP6.police_request_form`'s condition recorded its evidence as
kinds alone (no verification record): the listing finds each one whose condition would have stood without that
evidence, and places its request in the guardian queue for a retrospective review (`review_required`, the
urgent response time, flagged `possible_incident`; audited; webhook `sharing_request.referred`). The decision
itself is not edited: the guardian's review is a new decision. A row in upgrade_steps, written in the same
transaction, makes it run once, whichever of several starting processes gets there first.
"""

import logging
from datetime import datetime

from sqlalchemy import select as core_select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import NotFound
from app.models.actions import RequestAction
from app.models.base import utcnow
from app.models.sharing_request import Decision, RequestVersion, SharingRequest
from app.models.upgrade import UpgradeStep
from app.models.vocabulary import DecisionKind, FindingResult, RequestStatus, RetrospectiveStatus, Urgency
from app.rules import Policy, evaluate
from app.rules.engine import RuleId
from app.rules.facts import facts_from_record
from app.services.policies.calendar import due_at as response_due
from app.services.policies.registry import PolicyRegistry
from app.services.policies.replay import results, stored_request
from app.services.review import workflow
from app.services.sharing_requests import history as transitions
from app.services.sharing_requests.adjudication import REVIEW_PRIORITY

log = logging.getLogger("caldicott.upgrade")

STEP = "unverified_evidence_listing"
STEPS = UpgradeStep.__table__  # type: ignore[attr-defined]
CLEARED_BY_EVIDENCE = (RuleId.CP6_COURT_ORDER_VERIFIED.value, RuleId.CP6_POLICE_REQUEST_FORM.value)


async def run_once(*, sessionmaker: async_sessionmaker[AsyncSession], registry: PolicyRegistry) -> int:
    """List, the first time only, the requests decided on unverified evidence and queue each for review;
    how many were queued (0 on a later start)."""
    async with sessionmaker() as session:
        now = utcnow()
        if not await _claim(session, now):
            await session.rollback()
            return 0
        queued = await list_unverified(session=session, registry=registry, now=now)
        await session.exec(update(UpgradeStep).where(col(UpgradeStep.name) == STEP).values(count=len(queued)))
        await session.commit()
    return len(queued)


async def _claim(session: AsyncSession, now: datetime) -> bool:
    """Record that the step runs: True if this process is the first, False if it has run
    (or is running elsewhere, and then has run)."""
    dialect = (await session.connection()).dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    claimed = (
        insert(STEPS)
        .values(name=STEP, ran_at=now, count=0)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(STEPS.c.name)
    )
    return (await session.exec(claimed)).first() is not None  # type: ignore[call-overload]


async def list_unverified(*, session: AsyncSession, registry: PolicyRegistry, now: datetime) -> list[str]:
    """Queue every request one of whose rules decisions cleared an evidence condition on evidence
    with no verification record; their ids."""
    found: list[str] = []
    for policy in await _weighing_evidence(session, registry):
        query = (
            select(Decision.request_id, Decision.findings, Decision.facts, RequestVersion.body)
            .join(
                RequestVersion,
                (col(RequestVersion.request_id) == col(Decision.request_id))
                & (col(RequestVersion.version) == col(Decision.version)),
            )
            .where(
                col(Decision.kind) == DecisionKind.RULES,
                Decision.policy_name == policy.name,
                Decision.policy_version == policy.version,
            )
            .where(col(Decision.facts).is_not(None))
            .order_by(col(Decision.decided_at), col(Decision.id))
        )
        for request_id, findings, facts, body in (await session.exec(query)).all():
            if request_id not in found and _cleared_on_unverified(policy, findings, facts, body):
                found.append(request_id)
    active = await registry.active(session=session)
    queued = []
    for request_id in found:
        request = await session.get(SharingRequest, request_id, with_for_update=True)
        if request is not None and await _queue_for_review(session=session, request=request, policy=active, now=now):
            queued.append(request_id)
    return queued


async def _weighing_evidence(session: AsyncSession, registry: PolicyRegistry) -> list[Policy]:
    """Every policy that rules decisions were made under and that weighs evidence (2027.2, 2028.2,
    a local one with an `evidence` section)."""
    used = (
        await session.exec(
            core_select(Decision.policy_name, Decision.policy_version)
            .where(Decision.kind == DecisionKind.RULES)
            .distinct()
        )
    ).all()  # type: ignore[call-overload]
    policies = []
    for name, version in sorted(used):
        try:
            policy = await registry.get(session=session, name=name, version=version)
        except NotFound:
            log.warning("decisions name policy %s %s, which this database does not hold: not listed", name, version)
            continue
        if policy.evidence is not None:
            policies.append(policy)
    return policies


def _cleared_on_unverified(
    policy: Policy, findings: list[dict[str, object]], facts: dict[str, object], body: dict[str, object]
) -> bool:
    """True when the decision weighed evidence with no verification record,
    and without it a rule that reads evidence would not have passed."""
    evidence = facts.get("evidence", [])
    if not isinstance(evidence, list) or not any(isinstance(item, str) for item in evidence):
        return False  # none weighed, or each with its verification
    passed = [
        rule
        for rule, result in results(findings).items()
        if rule in CLEARED_BY_EVIDENCE and result == FindingResult.PASS
    ]
    if not passed:
        return False
    without = {
        finding.rule: finding.result
        for finding in evaluate(policy, facts_from_record(facts, stored_request(body), evidence=())).findings
    }
    return any(without.get(rule, FindingResult.PASS) != FindingResult.PASS for rule in passed)


async def _queue_for_review(*, session: AsyncSession, request: SharingRequest, policy: Policy, now: datetime) -> bool:
    """Flag the request and put it before a guardian within the urgent response time;
    False for a withdrawn one (nothing was disclosed)."""
    if request.status == RequestStatus.WITHDRAWN:
        return False
    previous, due = request.status, response_due(policy, Urgency.URGENT, now)
    request.possible_incident = True
    if workflow.stage_of(request) == workflow.Stage.DECIDED:
        # As an emergency share's retrospective review: the decision stands until a guardian upholds it or not.
        request.review_required, request.retrospective_status = True, RetrospectiveStatus.PENDING
        request.in_queue, request.referred_at, request.due_at, request.overdue_flagged_at = True, now, due, None
        request.paused_at, request.paused_seconds = None, 0
    elif request.in_queue and (request.due_at is None or request.due_at > due):
        request.due_at, request.overdue_flagged_at = (
            due,
            None,
        )  # already before a guardian, whose decision is the review: sooner
    request.review_priority = min(request.review_priority, REVIEW_PRIORITY[Urgency.URGENT])
    request.updated_at = now
    await session.flush()
    await transitions.record(
        session=session,
        request=request,
        action=RequestAction.UNVERIFIED_EVIDENCE_LISTED,
        from_status=previous,
        actor=None,
        now=now,
    )
    return True
