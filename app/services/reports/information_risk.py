"""The SIRO's information-risk report: over a period, what was disclosed and what risky approvals were made, counted in
total, per information asset and per requesting organisation.

What counts, and why so:

- A disclosure belongs to the period by when it was recorded (disclosed, not disclosed, cancelled), or, while still
  pending, by when it was opened; pending and overdue are judged now.
- An approval is a decision approving (with conditions or not) decided in the period, less the reviews that only
  left an earlier decision standing (a verdict `upheld` or `not_upheld`), which shared nothing new. It counts on the
  assets its stored facts name as holding its approved items (app/services/information_assets/matching.py).
- Bulk: more people (`subjects.count` of the version decided) than the bulk threshold of the policy that decided.
  Not the `CP3.bulk_identifiable` finding: that rule fires only for identifiable items and some purposes, so a
  research extract of 5,000 records on section 251 support passes it, and is still a bulk share to the SIRO.
- Systematic (brief, `AGR.systematic`: sharing about more than one person is systematic, and wants an agreement):
  an approval of a version about more than one person that cited an agreement, or that `AGR.systematic` found
  cited none where one was needed (its finding not `pass`). A court-verified order or anonymised data cited
  without an agreement is not systematic sharing, as the rule itself reads it.
- Refusal overridden: a guardian's, a panel's or a reconsideration's approval where the rules found a `refuse`
  (a person's decision carries the rules' findings), or an earlier decision on the same version refused.
- Emergency share: the rules' approval with `review_required`; its review as the request records it now.

Nothing here reads a free text or an identifier out of a request: only `subjects.count` and `sharing_agreement`.
"""

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, true
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.actions import ReportAction
from app.models.agreement import SharingAgreement
from app.models.base import LONDON, utcnow
from app.models.disclosure import Disclosure
from app.models.information_asset import InformationAsset
from app.models.information_risk import AssetRisk, InformationRiskReport, OrganisationRisk, RiskCounts
from app.models.organisation import Organisation
from app.models.sharing_request import Decision, RequestVersion, SharingRequest
from app.models.vocabulary import (
    DecisionKind,
    DecisionOutcome,
    DisclosureStatus,
    FindingResult,
    RetrospectiveStatus,
    ReviewVerdict,
)
from app.principal import Principal
from app.rules.engine import RuleId
from app.services.audit import events
from app.services.information_assets.matching import FACTS_KEY as ASSETS_KEY
from app.services.policies.registry import PolicyRegistry
from app.services.reports.decision_log import spreadsheet_safe

APPROVING = (DecisionOutcome.APPROVE, DecisionOutcome.APPROVE_WITH_CONDITIONS)
# A person's decision (not the rules'): where overriding a refusal is possible.
BY_A_PERSON = (DecisionKind.GUARDIAN, DecisionKind.PANEL, DecisionKind.RECONSIDERATION)
EXPIRING_DAYS = 90
DISCLOSURE_MEASURES = {
    DisclosureStatus.DISCLOSED: "disclosed",
    DisclosureStatus.NOT_DISCLOSED: "not_disclosed",
    DisclosureStatus.CANCELLED: "disclosures_cancelled",
    DisclosureStatus.PENDING: "disclosures_pending",
}
REVIEW_MEASURES = {
    RetrospectiveStatus.UPHELD: "emergency_reviews_upheld",
    RetrospectiveStatus.NOT_UPHELD: "emergency_reviews_not_upheld",
    RetrospectiveStatus.PENDING: "emergency_reviews_open",
}
# Counts nothing ties to an asset: null on an asset's row rather than a zero that would read as "none".
NOT_FOR_ASSETS = ("referrals_overdue", "agreements_expiring")
CSV_KEYS = ("section", "code", "name", "owner")


@dataclass(frozen=True, slots=True)
class Window:
    """The period [since, until) (either end open when None), and the moment pending and overdue are judged at."""

    since: datetime | None
    until: datetime | None
    now: datetime

    def holds(self, moment: ColumnElement[Any]) -> ColumnElement[bool]:
        """`moment` falls in the period."""
        bounds: list[ColumnElement[bool]] = [true()]  # a period open at both ends holds every moment
        if self.since is not None:
            bounds.append(moment >= self.since)
        if self.until is not None:
            bounds.append(moment < self.until)
        return and_(*bounds)

    def expiring(self) -> tuple[date, date]:
        """The London days an agreement's last day is expiring in: the period's last day (today if it has no end)
        and the 90 days after it."""
        last = (self.until - timedelta(microseconds=1) if self.until is not None else self.now).astimezone(LONDON)
        first = last.date()
        # A period ending in the calendar's last days has a window cut at its end, not an overflow.
        return first, first + timedelta(days=min(EXPIRING_DAYS, (date.max - first).days))


@dataclass
class Tally:
    """The counts as they are found: in total, by asset code and by organisation code."""

    totals: Counter[str] = field(default_factory=Counter)
    assets: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    organisations: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def add(
        self, measure: str, *, organisations: Iterable[str] = (), assets: Iterable[str] = (), count: int = 1
    ) -> None:
        """Count `count` once in the totals, and once on each organisation's and each asset's row."""
        self.totals[measure] += count
        for code in set(organisations):
            self.organisations[code][measure] += count
        for code in set(assets):
            self.assets[code][measure] += count


async def count_disclosures(*, session: AsyncSession, window: Window, tally: Tally) -> None:
    """Disclosures by asset, recipient and status; of the pending, those past due."""
    when = func.coalesce(col(Disclosure.recorded_at), col(Disclosure.opened_at))
    overdue = and_(col(Disclosure.status) == DisclosureStatus.PENDING, col(Disclosure.due_at) < window.now)
    rows = await session.exec(
        select(
            Disclosure.asset_code,
            Disclosure.recipient_org,
            Disclosure.status,
            func.count(),
            func.count().filter(overdue),
        )
        .where(window.holds(when))
        .group_by(col(Disclosure.asset_code), col(Disclosure.recipient_org), col(Disclosure.status))
    )
    for asset, recipient, status, count, late in rows.all():
        tally.add(DISCLOSURE_MEASURES[DisclosureStatus(status)], organisations=[recipient], assets=[asset], count=count)
        if late:
            tally.add("disclosures_overdue", organisations=[recipient], assets=[asset], count=late)


def approvals_query(window: Window) -> Any:
    """The approvals decided in the period, each with what the report weighs: the decision's kind and findings, the
    request's requester and retrospective review, the version's people and agreement, and an earlier refusal."""
    earlier = aliased(Decision)
    refused_before = exists().where(
        earlier.request_id == Decision.request_id,
        earlier.version == Decision.version,
        earlier.outcome == DecisionOutcome.REFUSE,
        earlier.decided_at < Decision.decided_at,
    )
    return (
        select(
            Decision.kind,
            Decision.findings,
            Decision.review_required,
            Decision.facts,
            Decision.policy_name,
            Decision.policy_version,
            SharingRequest.requester_org,
            SharingRequest.retrospective_status,
            SharingRequest.in_queue,
            SharingRequest.due_at,
            RequestVersion.body[("subjects", "count")].as_integer().label("people"),  # type: ignore[index]
            RequestVersion.body[("sharing_agreement",)].as_string().label("agreement"),  # type: ignore[index]
            refused_before.label("refused_before"),
        )
        .join(SharingRequest, col(SharingRequest.id) == col(Decision.request_id))
        .join(
            RequestVersion,
            and_(
                col(RequestVersion.request_id) == col(Decision.request_id),
                col(RequestVersion.version) == col(Decision.version),
            ),
        )
        .where(
            col(Decision.outcome).in_(APPROVING),
            or_(col(Decision.verdict).is_(None), col(Decision.verdict) == ReviewVerdict.OVERTURNED),
            window.holds(col(Decision.decided_at)),
        )
    )


def found(findings: list[dict[str, Any]], rule: RuleId | None = None, result: FindingResult | None = None) -> bool:
    """Whether a finding of `rule` (any rule when None) has `result` (any but `pass` when None)."""
    return any(
        (rule is None or finding["rule"] == rule)
        and (finding["result"] == result if result is not None else finding["result"] != FindingResult.PASS)
        for finding in findings
    )


async def count_approvals(*, session: AsyncSession, registry: PolicyRegistry, window: Window, tally: Tally) -> None:
    """Bulk, systematic, overriding and emergency approvals, and the emergency shares' reviews."""
    thresholds: dict[tuple[str, str], int] = {}
    for row in (await session.exec(approvals_query(window))).all():
        key = (row.policy_name, row.policy_version)
        if key not in thresholds:
            policy = await registry.get(session=session, name=row.policy_name, version=row.policy_version)
            thresholds[key] = policy.thresholds.bulk_subjects
        where = {"organisations": [row.requester_org], "assets": (row.facts or {}).get(ASSETS_KEY, [])}
        if row.people > thresholds[key]:
            tally.add("bulk_shares", **where)
        unagreed = found(row.findings, RuleId.AGR_SYSTEMATIC)
        if row.people > 1 and (row.agreement is not None or unagreed):
            tally.add("systematic_shares", **where)
            if unagreed:
                tally.add("systematic_without_agreement", **where)
        if row.kind in BY_A_PERSON and (row.refused_before or found(row.findings, result=FindingResult.REFUSE)):
            tally.add("refusals_overridden", **where)
        if row.kind == DecisionKind.RULES and row.review_required:
            tally.add("emergency_shares", **where)
            review = row.retrospective_status
            if review is not None:
                tally.add(REVIEW_MEASURES[RetrospectiveStatus(review)], **where)
            late = row.in_queue and row.due_at is not None and row.due_at < window.now
            if review == RetrospectiveStatus.PENDING and late:
                tally.add("emergency_reviews_overdue", **where)


async def count_referrals_overdue(*, session: AsyncSession, window: Window, tally: Tally) -> None:
    """Requests referred in the period (retrospective reviews apart) still in the queue past their due time."""
    retrospective = col(SharingRequest.retrospective_status) == RetrospectiveStatus.PENDING
    rows = await session.exec(
        select(SharingRequest.requester_org, func.count())
        .where(
            col(SharingRequest.in_queue),
            or_(col(SharingRequest.retrospective_status).is_(None), ~retrospective),
            col(SharingRequest.due_at) < window.now,
            window.holds(col(SharingRequest.referred_at)),
        )
        .group_by(col(SharingRequest.requester_org))
    )
    for requester, count in rows.all():
        tally.add("referrals_overdue", organisations=[requester], count=count)


async def count_expiring_agreements(*, session: AsyncSession, window: Window, tally: Tally) -> None:
    """Agreements whose last day falls in the 90 days from the period's last day, on each party's row."""
    first, last = window.expiring()
    rows = await session.exec(
        select(SharingAgreement.parties).where(
            col(SharingAgreement.valid_until) >= first, col(SharingAgreement.valid_until) <= last
        )
    )
    for parties in rows.all():
        tally.add("agreements_expiring", organisations=parties)


def risk_counts(counter: Counter[str], *, asset: bool = False) -> RiskCounts:
    """A row's counts from its counter: zero where nothing was found, null where the count is not an asset's."""
    return RiskCounts(
        **{
            measure: None if asset and measure in NOT_FOR_ASSETS else counter[measure]
            for measure in RiskCounts.model_fields
        }
    )


async def information_risk(
    *,
    session: AsyncSession,
    actor: Principal,
    registry: PolicyRegistry,
    since: datetime | None,
    until: datetime | None,
    now: datetime | None = None,
) -> InformationRiskReport:
    """The report over [since, until), judged at `now`; running it is audited."""
    window = Window(since=since, until=until, now=now or utcnow())
    tally = Tally()
    await count_disclosures(session=session, window=window, tally=tally)
    await count_approvals(session=session, registry=registry, window=window, tally=tally)
    await count_referrals_overdue(session=session, window=window, tally=tally)
    await count_expiring_agreements(session=session, window=window, tally=tally)
    # Incidents (issue 29 item 5) are counted here, by the disclosure each is recorded against (its asset and
    # recipient), into fields added to RiskCounts: by grade, reportable, reported within 72 hours.

    assets = (
        await session.exec(
            select(InformationAsset.code, InformationAsset.name, InformationAsset.owner).where(
                col(InformationAsset.code).in_(list(tally.assets))
            )
        )
    ).all()
    registered = {code: (name, owner) for code, name, owner in assets}
    names = dict(
        (
            await session.exec(
                select(Organisation.code, Organisation.name).where(
                    col(Organisation.code).in_(list(tally.organisations))
                )
            )
        ).all()
    )
    expiring_from, expiring_to = window.expiring()
    report = InformationRiskReport(
        period_start=since,
        period_end=until,
        generated_at=window.now,
        agreements_expiring_from=expiring_from,
        agreements_expiring_to=expiring_to,
        totals=risk_counts(tally.totals),
        assets=[
            AssetRisk(
                code=code,
                name=registered.get(code, (None, None))[0],
                owner=registered.get(code, (None, None))[1],
                counts=risk_counts(counter, asset=True),
            )
            for code, counter in sorted(tally.assets.items())
        ],
        organisations=[
            OrganisationRisk(code=code, name=names.get(code, code), counts=risk_counts(counter))
            for code, counter in sorted(tally.organisations.items())
        ],
    )
    await events.report_run(
        session=session,
        actor=actor,
        action=ReportAction.INFORMATION_RISK_REPORTED,
        report="information_risk",
        outcome=f"{len(report.assets)} assets, {len(report.organisations)} organisations",
    )
    return report


def information_risk_csv(report: InformationRiskReport) -> str:
    """The report as one flat table: a row for the totals, then each asset's and each organisation's, with a
    `section` column saying which; a UTF-8 byte order mark and CRLF line ends, as the decision log's."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    measures = list(RiskCounts.model_fields)
    writer.writerow([*CSV_KEYS, *measures])
    rows: list[tuple[list[str | None], RiskCounts]] = [(["total", None, None, None], report.totals)]
    rows += [(["asset", asset.code, asset.name, asset.owner], asset.counts) for asset in report.assets]
    rows += [(["organisation", org.code, org.name, None], org.counts) for org in report.organisations]
    for keys, counts in rows:
        numbers = counts.model_dump()
        writer.writerow(
            [spreadsheet_safe(key or "") for key in keys]
            + ["" if numbers[measure] is None else str(numbers[measure]) for measure in measures]
        )
    return "\ufeff" + buffer.getvalue()
