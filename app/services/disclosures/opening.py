"""Opening and closing a request's disclosures as its decision changes, in the transaction of that change.

An approval ready to disclose (approved by the rules, a guardian, a panel or a reconsideration, its blocking
controller's checks done) opens one pending disclosure per information asset its decision's facts name
(app/services/information_assets/matching.py); none are named, none open. A request that stops being approved before
its data went (a reconsideration that refuses, a failed check, a cancellation) closes its pending ones as cancelled.
Both are told here once, from the event seam (app/services/audit/events.py), so no approval path can forget them.
"""

import functools
from datetime import datetime, timedelta

from sqlalchemy import select as core_select
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.actions import RequestAction
from app.models.base import LONDON, utcnow
from app.models.disclosure import Disclosure
from app.models.information_asset import InformationAsset
from app.models.policy import StoredPolicy
from app.models.sharing_request import APPROVING_STATUSES, Decision, SharingRequest, new_id, ready_to_disclose
from app.models.vocabulary import DecisionOutcome, DisclosureStatus
from app.platform import driver, writes
from app.rules import Policy
from app.rules.policy_documents import parse_policy, shipped_policies
from app.rules.response_times import CalendarExhausted, is_working_day
from app.services.information_assets.matching import FACTS_KEY

# The session's info key for the working days a disclosure has (app/platform/db.py make_sessionmaker puts the
# setting there, as a service reads no settings); a session made without it counts the default.
DUE_WORKING_DAYS = "disclosure_due_working_days"
DEFAULT_DUE_WORKING_DAYS = 5
APPROVING_OUTCOMES = (DecisionOutcome.APPROVE, DecisionOutcome.APPROVE_WITH_CONDITIONS)
# Why pending disclosures closed, as the request's change says it; any other change names the request's new status.
CANCELLED_BECAUSE = {
    RequestAction.WITHDRAWN: "the requester withdrew the approved request before it was disclosed",
    RequestAction.RECONSIDERATION_REQUESTED: "the requester asked for the approval to be reconsidered: disclosures "
    "open again if it is approved once more",
    RequestAction.RECONSIDERED: "the approval was overturned on reconsideration before it was disclosed",
    RequestAction.CONTROLLER_CHECK_FAILED: "a controller's check of the approval failed: it went back to a guardian",
}
_OWNERS = driver.prepare(core_select(InformationAsset.code, InformationAsset.owner))


async def follow(
    *, session: AsyncSession, request: SharingRequest, action: RequestAction | None, decision: Decision | None
) -> None:
    """Open the request's disclosures if it has just become ready to disclose; close its pending ones if it is no
    longer approved."""
    if ready_to_disclose(request):
        await _open(session=session, request=request, action=action, decision=decision)
    elif request.status not in APPROVING_STATUSES and action is not RequestAction.SUBMITTED:
        reason = (
            CANCELLED_BECAUSE.get(action) if action is not None else None
        ) or f"the request is now {request.status}"
        await cancel_pending(session=session, request_id=request.id, reason=reason)


async def cancel_pending(*, session: AsyncSession, request_id: str, reason: str) -> int:
    """Close the request's pending disclosures as cancelled, with the reason; how many."""
    statement = (
        update(Disclosure)
        .where(col(Disclosure.request_id) == request_id, col(Disclosure.status) == DisclosureStatus.PENDING)
        .values(
            status=DisclosureStatus.CANCELLED,
            reason=reason,
            recorded_at=utcnow(),
            version=col(Disclosure.version) + 1,
        )
        .execution_options(synchronize_session=False)
    )
    result = await session.exec(statement)  # type: ignore[call-overload]
    return int(result.rowcount or 0)


async def _open(
    *, session: AsyncSession, request: SharingRequest, action: RequestAction | None, decision: Decision | None
) -> None:
    # A submission's request is new: nothing to look up. Otherwise the approval may have opened them already.
    if action is not RequestAction.SUBMITTED:
        opened = select(Disclosure.id).where(
            Disclosure.request_id == request.id, col(Disclosure.status) != DisclosureStatus.CANCELLED
        )
        if (await session.exec(opened.limit(1))).first() is not None:
            return
        if decision is None or decision.outcome not in APPROVING_OUTCOMES:
            decision = await approval(session, request)
    if decision is None or not (decision.facts or {}).get(FACTS_KEY):
        return
    codes = set(decision.facts[FACTS_KEY])
    owners = {
        code: owner
        for code, owner in await driver.fetch(session, _OWNERS, {}, transaction=driver.Transaction.JOINED)
        if code in codes
    }
    now = utcnow()
    days = session.sync_session.info.get(DUE_WORKING_DAYS, DEFAULT_DUE_WORKING_DAYS)
    due = after_working_days(await _calendar(session, decision), now, days)
    rows = [
        {
            "id": new_id(),
            "request_id": request.id,
            "asset_code": code,
            "owner": owner,
            "recipient_org": request.requester_org,
            "status": DisclosureStatus.PENDING,
            "opened_at": now,
            "due_at": due,
            "version": 1,
        }
        for code, owner in sorted(owners.items())
    ]
    writes.add(session, Disclosure, rows)


async def approval(session: AsyncSession, request: SharingRequest) -> Decision | None:
    """The approval whose checks were tracked, else the request's latest approval."""
    if request.checks_decision_id is not None:
        tracked = await session.get(Decision, request.checks_decision_id)
        if tracked is not None and tracked.outcome in APPROVING_OUTCOMES:
            return tracked
    latest = select(Decision).where(Decision.request_id == request.id, col(Decision.outcome).in_(APPROVING_OUTCOMES))
    return (await session.exec(latest.order_by(col(Decision.decided_at).desc(), col(Decision.id)).limit(1))).first()


@functools.cache
def _shipped() -> dict[tuple[str, str], Policy]:
    return shipped_policies()


async def _calendar(session: AsyncSession, decision: Decision) -> Policy | None:
    """The policy that made the decision, for its bank holidays; None if it cannot be read."""
    key = (decision.policy_name, decision.policy_version)
    if key in _shipped():
        return _shipped()[key]
    stored = await session.get(StoredPolicy, key)
    if stored is None:
        return None
    return _parsed(stored.content, stored.media_type, f"{key[0]} {key[1]}")


@functools.lru_cache(maxsize=32)
def _parsed(content: str, media_type: str, source: str) -> Policy:
    return parse_policy(content.encode(), source=source, shipped=False, media_type=media_type)


def after_working_days(policy: Policy | None, start: datetime, days: int) -> datetime:
    """`days` working days after `start`, at the same London time: weekdays that are not the policy's bank holidays.

    Past the end of the policy's calendar (or without one) weekdays count: unlike a guardian's due time, a
    disclosure's never refuses the approval that opens it."""
    local = start.astimezone(LONDON)
    day, counted = local.date(), 0
    while counted < days:
        day += timedelta(days=1)
        try:
            counted += is_working_day(policy, day) if policy is not None else day.weekday() < 5
        except CalendarExhausted:
            counted += day.weekday() < 5
    return datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=LONDON).astimezone(start.tzinfo)
