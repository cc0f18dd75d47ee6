"""API schema of the SIRO's information-risk report: counts only, in total, per information asset and per requesting
organisation. It names assets, organisations and the assets' owners, never a person a request is about, and carries
no free text."""

from datetime import date, datetime

from pydantic import BaseModel, Field

# A count a row of the kind it is on cannot have: a referral is not matched to assets, nor an agreement to one.
NOT_FOR_ASSETS = " Null on an asset's row: nothing ties it to an asset."


class RiskCounts(BaseModel):
    """The counts of one row (the totals, an asset or an organisation) over the report's period.

    Disclosures belong to the period by when they were recorded (opened, while still pending); approvals by when they
    were decided; whether a disclosure or review is pending or overdue is judged at `generated_at`.
    """

    disclosed: int = Field(description="Disclosures recorded in the period as made (status `disclosed`).")
    not_disclosed: int = Field(description="Disclosures recorded in the period as not made (status `not_disclosed`).")
    disclosures_cancelled: int = Field(
        description="Disclosures closed in the period because the requester cancelled the request before any was made."
    )
    disclosures_pending: int = Field(
        description="Disclosures opened in the period and still pending now, overdue ones included."
    )
    disclosures_overdue: int = Field(
        description="Of `disclosures_pending`, those whose due time (`due_at`) has passed: not recorded in time."
    )
    bulk_shares: int = Field(
        description=(
            "Approvals decided in the period of a request about more people (`subjects.count`) than the bulk "
            "threshold (`thresholds.bulk_subjects`) of the policy that decided it, whatever the data or purpose."
        )
    )
    systematic_shares: int = Field(
        description=(
            "Approvals decided in the period of a request about more than one person that either cited a sharing "
            "agreement or was approved without one where `AGR.systematic` asked for one (its finding not `pass`)."
        )
    )
    systematic_without_agreement: int = Field(
        description="Of `systematic_shares`, those approved without an agreement (`AGR.systematic` did not pass)."
    )
    refusals_overridden: int = Field(
        description=(
            "Approvals decided in the period by a guardian, a panel or on reconsideration where the rules found a "
            "`refuse`, or an earlier decision on the same version of the request refused it."
        )
    )
    emergency_shares: int = Field(
        description=(
            "Emergency shares decided in the period: approved by the rules at once (`review_required`), to be "
            "reviewed by a guardian afterwards."
        )
    )
    emergency_reviews_upheld: int = Field(
        description="Of `emergency_shares`, those a guardian's retrospective review found right."
    )
    emergency_reviews_not_upheld: int = Field(
        description="Of `emergency_shares`, those a guardian's retrospective review found should not have been made."
    )
    emergency_reviews_open: int = Field(
        description="Of `emergency_shares`, those still awaiting their retrospective review, overdue ones included."
    )
    emergency_reviews_overdue: int = Field(
        description="Of `emergency_reviews_open`, those whose review is past its due time."
    )
    referrals_overdue: int | None = Field(
        description=(
            "Requests referred to a guardian (or for reconsideration) in the period, still in the queue now and past "
            "their due time." + NOT_FOR_ASSETS
        )
    )
    agreements_expiring: int | None = Field(
        description=(
            "Registered sharing agreements whose last day falls from `agreements_expiring_from` to "
            "`agreements_expiring_to`; on an organisation's row, those it is a party to." + NOT_FOR_ASSETS
        )
    )


class AssetRisk(BaseModel):
    """One information asset's share of the risk: what was disclosed from it and the approvals of items it holds."""

    code: str = Field(description="The asset's code in the information asset register.")
    name: str | None = Field(description="The asset's name; null when the asset is no longer registered.")
    owner: str | None = Field(
        description=(
            "The asset's information asset owner (the `sub` of their `iao` token); null when the asset is no "
            "longer registered."
        )
    )
    counts: RiskCounts = Field(
        description=(
            "The asset's counts: its own disclosures, and the approvals whose stored facts name it as holding "
            "approved items (one approval counts on every asset it names)."
        )
    )


class OrganisationRisk(BaseModel):
    """One requesting organisation's share of the risk."""

    code: str = Field(description="The organisation's code.")
    name: str = Field(description="The organisation's registered name.")
    counts: RiskCounts = Field(
        description=(
            "The counts of the requests it made and the disclosures made to it, and of the agreements it is party to."
        )
    )


class InformationRiskReport(BaseModel):
    """The information risk that disclosures carry over a period, for the Senior Information Risk Owner."""

    period_start: datetime | None = Field(
        description="The first instant of the period (UTC, inclusive), from `from`; null when `from` was not given."
    )
    period_end: datetime | None = Field(
        description="The instant the period ends (UTC, exclusive), from `to`; null when `to` was not given."
    )
    generated_at: datetime = Field(
        description="When the report was made (UTC): the moment pending and overdue are judged at."
    )
    agreements_expiring_from: date = Field(
        description="The first day (Europe/London) of the agreements' window: the last day of the period, or today."
    )
    agreements_expiring_to: date = Field(description="The window's last day (inclusive): 90 days after its first.")
    totals: RiskCounts = Field(
        description=(
            "Every count over the whole service. An approval naming two assets counts once here and once on each "
            "asset's row, so the asset rows need not add up to the totals."
        )
    )
    assets: list[AssetRisk] = Field(
        description="One row per information asset with at least one count that is not zero, by code."
    )
    organisations: list[OrganisationRisk] = Field(
        description="One row per requesting organisation with at least one count that is not zero, by code."
    )
