"""The agreements report: each sharing agreement's state on today's London date,
and the requests decided under it in twelve months.

The state is worked out in SQL, one CASE over the agreement's status and dates, so the report is filtered by
state and paged by (state, code) like every list. The counts are one grouped query over the twelve months'
decisions, a range of ix_decisions_decided_at, each joined to the version it decided (found by the versions' request_id
index) and grouped by the agreement the version's body cites, for the codes on the page only:
its cost follows a year's decisions, not every decision ever made nor the number of agreements. The version's
body is what the requester cited; the decision's recorded facts carry the agreement only when it was registered,
and not at all for decisions made before facts were recorded.
"""

from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, distinct, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.actions import ReportAction
from app.models.agreement import SharingAgreement
from app.models.agreement_report import AgreementReport, AgreementReportRow, AgreementState
from app.models.base import utcnow
from app.models.sharing_request import Decision, RequestVersion
from app.models.vocabulary import AgreementStatus, DecisionOutcome
from app.platform.pagination import ascending, keyset_page
from app.principal import Principal
from app.services.agreements.notices import NOTICE_DAYS
from app.services.audit import events
from app.services.reports.decision_log import day_bound
from app.services.sharing_requests.facts import today_in_london

RANKS = {state: rank for rank, state in enumerate(AgreementState)}
STATES = list(AgreementState)
# A request is decided under an agreement when it is approved or refused;
# a referral or a request for information is not yet a decision.
VERDICTS = (DecisionOutcome.APPROVE, DecisionOutcome.APPROVE_WITH_CONDITIONS, DecisionOutcome.REFUSE)


def state_rank(today: date) -> ColumnElement[int]:
    """The rank in AgreementState of each agreement's state on `today`: the first of these that holds."""
    soon = today + timedelta(days=NOTICE_DAYS)
    review_date = col(SharingAgreement.review_date)
    return case(
        (col(SharingAgreement.status) == AgreementStatus.SUSPENDED, RANKS[AgreementState.SUSPENDED]),
        (col(SharingAgreement.valid_until) < today, RANKS[AgreementState.EXPIRED]),
        (col(SharingAgreement.valid_from) > today, RANKS[AgreementState.NOT_YET_IN_FORCE]),
        (col(SharingAgreement.valid_until) <= soon, RANKS[AgreementState.EXPIRING]),
        (and_(review_date.is_not(None), review_date <= soon), RANKS[AgreementState.REVIEW_DUE]),
        else_=RANKS[AgreementState.ACTIVE],
    )


def twelve_months_to(today: date) -> date:
    """The first day of the twelve months that end with `today` (29 February counts from 1 March)."""
    try:
        return today.replace(year=today.year - 1) + timedelta(days=1)
    except ValueError:
        return date(today.year - 1, 3, 1)


async def agreements_report(
    *,
    session: AsyncSession,
    actor: Principal,
    state: AgreementState | None,
    cursor: str | None,
    limit: int,
    today: date | None = None,
) -> AgreementReport:
    """One page of agreements by state, then code,
    each with its requests decided in twelve months; the run is audited."""
    today = today or today_in_london(utcnow())
    rank = state_rank(today)
    query: Any = select(SharingAgreement, rank.label("state_rank"))
    if state is not None:
        query = query.where(rank == RANKS[state])
    order = [ascending(rank, int), ascending(col(SharingAgreement.code), str)]
    rows, next_cursor = await keyset_page(
        session, query, order=order, key=lambda row: (row[1], row[0].code), cursor=cursor, limit=limit
    )
    counted_from = twelve_months_to(today)
    decided = await requests_decided(
        session=session, codes=[agreement.code for agreement, _ in rows], since=counted_from
    )
    items = [
        AgreementReportRow(
            code=agreement.code,
            title=agreement.title,
            state=STATES[ranked],
            owner=agreement.owner,
            parties=agreement.parties,
            valid_from=agreement.valid_from,
            valid_until=agreement.valid_until,
            review_date=agreement.review_date,
            requests_decided=decided.get(agreement.code, 0),
        )
        for agreement, ranked in rows
    ]
    states = await state_counts(session=session, today=today)
    await events.report_run(
        session=session,
        actor=actor,
        action=ReportAction.AGREEMENTS_REPORTED,
        report="agreements",
        outcome=f"{len(items)} agreements",
    )
    return AgreementReport(items=items, next_cursor=next_cursor, today=today, counted_from=counted_from, states=states)


async def state_counts(*, session: AsyncSession, today: date) -> dict[AgreementState, int]:
    """How many agreements are in each state on `today` (every state named, with 0 for none)."""
    # Grouped over a subquery: PostgreSQL would not see a CASE with bound dates in the
    # SELECT and in GROUP BY as one expression.
    ranked = select(state_rank(today).label("state_rank")).subquery()
    found = (await session.exec(select(ranked.c.state_rank, func.count()).group_by(ranked.c.state_rank))).all()
    return {state: 0 for state in AgreementState} | {STATES[rank]: count for rank, count in found}


async def requests_decided(*, session: AsyncSession, codes: list[str], since: date) -> dict[str, int]:
    """For each of these agreement codes,
    how many requests were approved or refused from the London date `since`, on a version citing it."""
    if not codes:
        return {}
    cited = RequestVersion.body["sharing_agreement"].as_string()  # type: ignore[index]
    decisions = (
        select(cited.label("code"), col(Decision.request_id).label("request_id"))
        .select_from(Decision)
        .join(
            RequestVersion,
            and_(
                col(RequestVersion.request_id) == col(Decision.request_id),
                col(RequestVersion.version) == col(Decision.version),
            ),
        )
        .where(
            col(Decision.decided_at) >= day_bound(since, end=False),
            col(Decision.outcome).in_(VERDICTS),
            cited.in_(codes),
        )
        .subquery()
    )
    counted = select(decisions.c.code, func.count(distinct(decisions.c.request_id))).group_by(decisions.c.code)
    return {code: count for code, count in (await session.exec(counted)).all()}
