"""How the guardian queue is doing:
volumes, response times, overdue cases, how often guardians overturn the rules, and reconsiderations."""

from collections import Counter
from datetime import date, datetime, timedelta

from sqlalchemy import and_, exists, func, not_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import InvalidInput
from app.models.base import LONDON, utcnow
from app.models.reconsideration import Reconsideration
from app.models.report import Agreement, Overturns, Reconsiderations, ResponseTimes, ReviewMetrics
from app.models.sharing_request import Decision, SharingRequest
from app.models.vocabulary import (
    DecisionKind,
    DecisionOutcome,
    FindingResult,
    GuardianOutcome,
    Outcome,
    ReconsiderationOutcome,
    RetrospectiveOutcome,
    ReviewVerdict,
    Urgency,
)
from app.rules.engine import combine
from app.services.disclosures.reading import overdue_count as disclosures_overdue
from app.services.reports.decision_log import day_bound
from app.services.review.queue_status import queue_counts


def percentile(values: list[int], fraction: float) -> float | None:
    """Linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def rules_would(findings: list[dict[str, str]]) -> Outcome:
    """What the rules would have decided had nothing been referred: the yardstick for an overturn."""
    return combine({FindingResult(finding["result"]) for finding in findings} - {FindingResult.REFER}, emergency=False)


# A guardian agrees with the rules when the outcome is the same; upholding an emergency share agrees with it.
AGREES = {ReviewVerdict.UPHELD: Outcome.APPROVE_WITH_CONDITIONS}


# Metrics periods stay well inside the calendar, so a default period (30 days back) can always be worked out.
EARLIEST, LATEST = date(1900, 1, 1), date(9998, 12, 31)


def metrics_period(period_from: date | None, period_to: date | None) -> tuple[date, date]:
    """The London dates a metrics request covers: by default the 30 days up to today."""
    for field, day in (("from", period_from), ("to", period_to)):
        if day is not None and not EARLIEST <= day <= LATEST:
            raise InvalidInput(field, f"must be between {EARLIEST} and {LATEST}", location="query")
    last = period_to or utcnow().astimezone(LONDON).date()
    first = period_from or last - timedelta(days=30)
    if last < first:
        raise InvalidInput("to", "must not be before `from`", location="query")
    return first, last


async def review_metrics(*, session: AsyncSession, period_from: date | None, period_to: date | None) -> ReviewMetrics:
    """Metrics over guardian decisions made on the London dates from..to inclusive, and the queue now."""
    period_from, period_to = metrics_period(period_from, period_to)
    start, end = day_bound(period_from, end=False), day_bound(period_to, end=True)
    query = (
        select(Decision, SharingRequest.urgency)
        .join(SharingRequest, col(SharingRequest.id) == col(Decision.request_id))
        # Decisions on reconsideration are counted apart (reconsideration_metrics):
        # they answer an agency, not the rules.
        .where(
            col(Decision.kind).in_((DecisionKind.GUARDIAN, DecisionKind.RETROSPECTIVE)),
            col(Decision.decided_at) >= start,
            col(Decision.decided_at) < end,
        )
    )
    rows = (await session.exec(query)).all()

    decisions = {outcome: dict.fromkeys(Urgency, 0) for outcome in GuardianOutcome}
    retrospective = dict.fromkeys(RetrospectiveOutcome, 0)
    seconds: dict[Urgency, list[int]] = {urgency: [] for urgency in Urgency}
    compared: Counter[tuple[Outcome, str]] = Counter()
    for decision, urgency in rows:
        # A retrospective review is judged by its verdict: its outcome is the emergency share's.
        judged = decision.verdict if decision.kind == DecisionKind.RETROSPECTIVE else decision.outcome
        if decision.kind == DecisionKind.RETROSPECTIVE:
            retrospective[RetrospectiveOutcome(decision.verdict)] += 1
        else:
            decisions[GuardianOutcome(decision.outcome)][urgency] += 1
            if decision.response_seconds is not None:
                seconds[urgency].append(decision.response_seconds)
        if decision.outcome != DecisionOutcome.REQUEST_INFORMATION:
            compared[(rules_would(decision.findings), str(judged))] += 1

    overturned = sum(count for (would, outcome), count in compared.items() if AGREES.get(outcome, outcome) != would)
    total = sum(compared.values())
    return ReviewMetrics(
        period_from=period_from,
        period_to=period_to,
        decisions=decisions,
        retrospective_reviews=retrospective,
        time_to_decision={
            urgency: ResponseTimes(
                decisions=len(values), median_seconds=percentile(values, 0.5), p90_seconds=percentile(values, 0.9)
            )
            for urgency, values in seconds.items()
        },
        overdue_now=(await queue_counts(session=session, now=utcnow())).overdue,
        disclosures_overdue_now=await disclosures_overdue(session=session, now=utcnow()),
        overturns=Overturns(
            decisions=total,
            overturned=overturned,
            rate=overturned / total if total else None,
            breakdown=[
                Agreement(rules_would=would, guardian=outcome, count=count)
                for (would, outcome), count in sorted(compared.items())
            ],
        ),
        reconsiderations=await reconsideration_metrics(session=session, start=start, end=end),
    )


async def reconsideration_metrics(*, session: AsyncSession, start: datetime, end: datetime) -> Reconsiderations:
    """The reconsideration rate of the refusals and approvals with conditions made in [start, end), and the overturn
    rate of reconsiderations decided then."""
    # A revised request's rules decision, made while a reconsideration was asked, settled nothing:
    # it is not one an agency could contest.
    revision = exists().where(
        col(Reconsideration.request_id) == col(Decision.request_id),
        col(Reconsideration.revised_version) == col(Decision.version),
    )
    asked = exists().where(col(Reconsideration.decision_id) == col(Decision.id))
    contestable = (
        select(func.count(), func.count().filter(asked))
        .select_from(Decision)
        .where(
            col(Decision.outcome).in_((DecisionOutcome.REFUSE, DecisionOutcome.APPROVE_WITH_CONDITIONS)),
            col(Decision.decided_at) >= start,
            col(Decision.decided_at) < end,
            not_(and_(col(Decision.kind) == DecisionKind.RULES, revision)),
            # A review that left a decision standing made none of its own to contest.
            or_(col(Decision.verdict).is_(None), col(Decision.verdict) == ReviewVerdict.OVERTURNED),
        )
    )
    reconsiderable, requested = (await session.exec(contestable)).one()
    answered = (
        select(Reconsideration.outcome, func.count())
        .where(col(Reconsideration.decided_at) >= start, col(Reconsideration.decided_at) < end)
        .group_by(col(Reconsideration.outcome))
    )
    outcomes = dict.fromkeys(ReconsiderationOutcome, 0) | {
        outcome: count for outcome, count in (await session.exec(answered)).all()
    }
    decided = sum(outcomes.values())
    overturned = outcomes[ReconsiderationOutcome.OVERTURNED]
    return Reconsiderations(
        reconsiderable=reconsiderable,
        requested=requested,
        rate=requested / reconsiderable if reconsiderable else None,
        decided=decided,
        upheld=outcomes[ReconsiderationOutcome.UPHELD],
        overturned=overturned,
        overturn_rate=overturned / decided if decided else None,
    )
