"""The controller's checks (brief section 5): opened by approving decisions, recorded by people of the controller,
before anything is disclosed.

A decision that approves, whoever made it, opens one check per controller's check among its condition findings
(CONTROLLER_CHECK_RULES); a significant decision by the rules with none opens `human_involvement`, unless the request
relies on consent the person gave themselves (UK GDPR Art. 22B). The request keeps which decision's checks count now
(`checks_decision_id`), which of them are open and whether one holds the disclosure back, so that reading a request,
listing requests and building a webhook payload need no query here. A record is never edited; the latest counts.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, Forbidden, InvalidInput
from app.models.base import utcnow
from app.models.controller_check import (
    CheckRecordEntry,
    CheckRecordPublic,
    ControllerCheck,
    ControllerCheckBody,
    ControllerCheckPublic,
    ControllerCheckRecord,
    DecisionCheckRecord,
)
from app.models.sharing_request import APPROVING_STATUSES, Decision, SharingRequest, new_id, ready_to_disclose
from app.models.vocabulary import (
    CheckOutcome,
    CheckStatus,
    DecisionKind,
    Role,
    Urgency,
)
from app.platform import writes
from app.principal import Principal
from app.rules import Facts, Policy
from app.services.audit import events
from app.services.controller_checks.rules import (
    EMERGENCY_SHARE,
    NOT_SIGNIFICANT,
    Significance,
    checks_for,
)
from app.services.policies.calendar import due_at as response_due
from app.services.review import workflow
from app.services.review.workflow import Move

CHECKERS = frozenset({Role.GUARDIAN, Role.IG_MANAGER})


class ControllerChecksOpen(Conflict):
    """A 409 for disclosing an approved request whose blocking checks are not all recorded done; `detail` names them.

    Defined beside the checks it names, as other domain problems are beside their services, for the disclosures
    resource a later issue adds."""

    title = "The controller's checks are open"
    slug = "controller-checks-open"

    def __init__(self, checks: Sequence[str], *, current_status: str | None = None):
        super().__init__(
            f"not ready to disclose: the controller's checks {', '.join(checks)} are open",
            current_status=current_status,
        )
        self.checks = list(checks)


def plan(
    *,
    request: SharingRequest,
    decision: Decision,
    policy: Policy | None = None,
    significance: Significance = NOT_SIGNIFICANT,
) -> list[dict[str, Any]]:
    """The check rows a decision that settles the request opens, made the ones that count
    (a refusal: none); nothing is queued.

    An emergency share by the rules that is not a significant decision holds nothing back; its checks are due within
    the emergency response time (`policy`, the rules decision's)."""
    names = checks_for(decision, significance)
    emergency = decision.kind == DecisionKind.RULES and EMERGENCY_SHARE in names
    waits = not emergency or significance.significant
    due = response_due(policy, Urgency.EMERGENCY, decision.decided_at) if emergency and policy is not None else None
    rows = [
        {
            "id": new_id(),
            "request_id": request.id,
            "decision_id": decision.id,
            "name": name,
            "status": CheckStatus.OPEN,
            "blocking": waits and name != EMERGENCY_SHARE,
            "emergency_share": emergency,
            "due_at": due,
            "overdue_flagged_at": None,
            "opened_at": decision.decided_at,
        }
        for name in names
    ]
    request.checks_decision_id = decision.id if names else None
    _count(request, rows)
    return rows


def _count(request: SharingRequest, rows: Sequence[dict[str, Any]]) -> None:
    still_open = [row for row in rows if row["status"] == CheckStatus.OPEN]
    request.open_checks = [row["name"] for row in still_open]
    request.checks_blocking = any(row["blocking"] for row in still_open)


async def open_for(
    *,
    session: AsyncSession,
    request: SharingRequest,
    decision: Decision,
    policy: Policy | None = None,
    facts: Facts | None = None,
    principal: Principal | None = None,
    recorded: Sequence[DecisionCheckRecord] = (),
    queued: dict[str, Any] | None = None,
) -> None:
    """Queue the checks a settling decision opens (queue the decision first),
    with those its guardian recorded done with it (`recorded`).

    `facts`: what the rules saw, for their own decision (whether it is significant). `queued`: the request's row as a
    submission queued it, before the decision existed; it is brought up to date."""
    significance = (
        Significance.of(policy=policy, body=facts.request, requester_type=facts.requester.type)
        if policy and facts
        else NOT_SIGNIFICANT
    )
    rows = plan(request=request, decision=decision, policy=policy, significance=significance)
    writes.add(session, ControllerCheck, rows)
    if queued is not None:
        queued.update(
            {name: getattr(request, name) for name in ("checks_decision_id", "open_checks", "checks_blocking")}
        )
    if not recorded:
        return
    assert principal is not None
    by_name = {row["name"]: row for row in rows}
    records = []
    for given in recorded:
        check = by_name[given.check]
        check["status"] = CheckStatus.DONE
        records.append(
            {
                "id": new_id(),
                "check_id": check["id"],
                "request_id": request.id,
                "outcome": CheckOutcome.DONE,
                "checked": given.checked,
                "by_sub": principal.sub,
                "by_org": principal.org,
                "role": Role.GUARDIAN,
                "at": decision.decided_at,
            }
        )
        await events.check_recorded(
            session=session, actor=principal, request=request, check=given.check, outcome=CheckOutcome.DONE
        )
    writes.add(session, ControllerCheckRecord, records)
    _count(request, rows)


def settle_none(request: SharingRequest) -> None:
    """No decision's checks count now (the request went back to a guardian)."""
    request.checks_decision_id, request.open_checks, request.checks_blocking = None, [], False


async def open_checks(session: AsyncSession, request_id: str) -> list[str]:
    """The names of the request's open checks that count now (for the subject's notice: withheld while any is open)."""
    request = await session.get(SharingRequest, request_id)
    return [] if request is None else list(request.open_checks)


def check_recorder(principal: Principal, controller_org: str) -> Role:
    """A 403 unless the token is the controller organisation's,
    with role guardian or ig_manager; the role it records with."""
    roles = principal.roles & CHECKERS
    if principal.org != controller_org or not roles:
        raise Forbidden("only a guardian or IG manager of the controller organisation records the controller's checks")
    return Role.IG_MANAGER if Role.IG_MANAGER in roles else Role.GUARDIAN


async def _current_checks(session: AsyncSession, request: SharingRequest) -> list[ControllerCheck]:
    if request.checks_decision_id is None:
        return []
    query = (
        select(ControllerCheck)
        .where(ControllerCheck.decision_id == request.checks_decision_id)
        .order_by(col(ControllerCheck.opened_at), col(ControllerCheck.id))
    )
    return list((await session.exec(query)).all())


async def record(
    *,
    session: AsyncSession,
    policy: Policy,
    principal: Principal,
    controller_org: str,
    request: SharingRequest,
    name: str,
    body: ControllerCheckBody,
) -> ControllerCheckPublic:
    """Record one check of the standing decision done or failed;
    a failure sends the request back to the guardian queue."""
    role = check_recorder(principal, controller_org)
    if body.outcome == CheckOutcome.FAILED:
        await workflow.check(
            session=session, request=request, move=Move.FAIL_CHECK, actor=principal
        )  # 409 naming the status
    checks = await _current_checks(session, request)
    check = next((row for row in checks if row.name == name), None)
    if check is None or request.status not in APPROVING_STATUSES:
        raise Conflict(
            f"the request is {request.status} and its standing decision has no check {name!r} to record",
            current_status=request.status,
        )
    now = utcnow()
    _record_row(
        session,
        check=check,
        request=request,
        principal=principal,
        role=role,
        outcome=body.outcome,
        checked=body.checked,
        now=now,
    )
    check.status = CheckStatus(body.outcome)
    was_ready = ready_to_disclose(request)
    await events.check_recorded(session=session, actor=principal, request=request, check=name, outcome=body.outcome)
    if body.outcome == CheckOutcome.FAILED:
        request.possible_incident = request.possible_incident or check.emergency_share
        settle_none(request)
        due = response_due(policy, request.urgency, now)
        await workflow.apply(session=session, request=request, move=Move.FAIL_CHECK, actor=principal, now=now, due=due)
    else:
        _recount(request, checks)
        request.updated_at = now
        await session.flush()
        if not was_ready and ready_to_disclose(request):
            await events.ready_to_disclose(session=session, request=request)
    records = await _records_of(session, check.id)
    return ControllerCheckPublic(
        check=name,
        decision_id=check.decision_id,
        status=check.status,
        blocking=check.blocking,
        due_at=check.due_at,
        records=records,  # this one among them: the session wrote it before reading
        ready_to_disclose=ready_to_disclose(request),
        open_checks=list(request.open_checks),
    )


def _record_row(
    session: AsyncSession,
    *,
    check: ControllerCheck,
    request: SharingRequest,
    principal: Principal,
    role: Role,
    outcome: CheckOutcome,
    checked: str,
    now: datetime,
) -> ControllerCheckRecord:
    row = ControllerCheckRecord(
        id=new_id(),
        check_id=check.id,
        request_id=request.id,
        outcome=outcome,
        checked=checked,
        by_sub=principal.sub,
        by_org=principal.org,
        role=role,
        at=now,
    )
    session.add(row)
    return row


def _recount(request: SharingRequest, checks: Sequence[ControllerCheck]) -> None:
    _count(request, [{"name": row.name, "status": row.status, "blocking": row.blocking} for row in checks])


async def _records_of(session: AsyncSession, check_id: str) -> list[CheckRecordPublic]:
    query = (
        select(ControllerCheckRecord)
        .where(ControllerCheckRecord.check_id == check_id)
        .order_by(col(ControllerCheckRecord.at), col(ControllerCheckRecord.id))
    )
    return [CheckRecordPublic.of(row) for row in (await session.exec(query)).all()]


def check_decision_records(
    *, decision_checks: Sequence[DecisionCheckRecord], opens: Sequence[str], principal: Principal, controller_org: str
) -> None:
    """A 403 or 422 unless checks recorded with a guardian's decision are the controller's guardian's, each once,
    among those the decision opens."""
    if not decision_checks:
        return
    check_recorder(principal, controller_org)
    seen: set[str] = set()
    for index, given in enumerate(decision_checks):
        if given.check not in opens:
            wanted = ", ".join(opens) or "none"
            raise InvalidInput(
                f"checks[{index}].check", f"this decision opens no check {given.check!r} (it opens: {wanted})"
            )
        if given.check in seen:
            raise InvalidInput(f"checks[{index}].check", f"{given.check} is recorded once with the decision")
        seen.add(given.check)


async def history_entries(session: AsyncSession, request_id: str) -> list[CheckRecordEntry]:
    """Every record of the request's checks, for its history."""
    query = select(ControllerCheckRecord, ControllerCheck.name, ControllerCheck.decision_id).join(
        ControllerCheck, col(ControllerCheck.id) == col(ControllerCheckRecord.check_id)
    )
    rows = (await session.exec(query.where(ControllerCheckRecord.request_id == request_id))).all()
    return [
        CheckRecordEntry(at=row.at, check=name, decision_id=decision_id, record=CheckRecordPublic.of(row))
        for row, name, decision_id in rows
    ]


async def flag_overdue(*, session: AsyncSession) -> int:
    """Announce, once each, open checks of emergency shares past the emergency response time;
    returns how many requests."""
    now = utcnow()
    query = (
        select(ControllerCheck)
        .where(
            ControllerCheck.status == CheckStatus.OPEN,
            col(ControllerCheck.due_at) < now,
            col(ControllerCheck.overdue_flagged_at).is_(None),
        )
        .with_for_update(skip_locked=True)  # several workers may look at once; each check is announced by one
    )
    late = (await session.exec(query)).all()
    requests: dict[str, list[ControllerCheck]] = {}
    for check in late:
        check.overdue_flagged_at = now
        requests.setdefault(check.request_id, []).append(check)
    announced = 0
    for request_id, checks in requests.items():
        request = await session.get(SharingRequest, request_id)
        if request is None or request.checks_decision_id != checks[0].decision_id:
            continue  # a later decision replaced these checks
        await events.check_overdue(session=session, request=request, checks=[check.name for check in checks])
        announced += 1
    await session.flush()
    return announced
