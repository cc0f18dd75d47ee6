"""API schemas of the reports: the decision log, a person's disclosures, and the guardian review metrics."""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.models.page import Page
from app.models.vocabulary import (
    DataCategory,
    DecisionOutcome,
    DisclosureChannel,
    DisclosureStatus,
    GuardianOutcome,
    Outcome,
    PurposeCategory,
    RequestStatus,
    RetrospectiveOutcome,
    Urgency,
)


class ReportFormat(StrEnum):
    """The form a report is answered in.

    - `json`: a JSON document, paged with `next_cursor`.
    - `csv`: CSV, one row per line, the next page named in a `Link` header.
    """

    JSON = "json"
    CSV = "csv"


class DecisionLogRow(BaseModel):
    """One decision, as the Caldicott log records it."""

    decided_at: datetime = Field(description="When the decision was made (UTC).")
    request_id: str = Field(description="The request's id.")
    version: int = Field(description="The version of the request decided.")
    requester: str = Field(description="The requesting organisation's code.")
    purpose: PurposeCategory = Field(description="The purpose category of the version decided.")
    purpose_description: str = Field(description="The requester's description of the purpose.")
    urgency: Urgency = Field(description="The urgency of the version decided.")
    outcome: DecisionOutcome = Field(description="The decision's outcome.")
    decided_by: str = Field(description="`rules`, or the deciding guardian's token subject.")
    principles_engaged: list[str] = Field(
        description=(
            "Each rule that did not pass, with what it found, as `RULE (result)`: `CONSENT.public_interest (refer)`."
        )
    )
    conditions: list[str] = Field(description="The conditions the decision set.")
    rationale: str | None = Field(description="The guardian's written reasons; null for a decision of the rules.")


class DecisionLog(Page[DecisionLogRow]):
    pass


class SubjectQuery(BaseModel):
    """The person to search for: an NHS number or local identifier, as requests name them."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"identifier": "9990000018"}]})

    identifier: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)] = Field(
        description=(
            "The person's NHS number or local identifier (1 to 64 characters, not blank), exactly "
            "as requests name them; matched by its keyed hash, never stored or echoed."
        )
    )

    @field_validator("identifier")
    @classmethod
    def not_blank(cls, identifier: str) -> str:
        if not identifier.strip():
            raise ValueError("must not be blank")
        return identifier


class DisclosureMade(BaseModel):
    """What one information asset's owner recorded of an approved request: what actually left the controller."""

    asset_code: str = Field(description="The code of the information asset the data came from.")
    status: DisclosureStatus = Field(
        description="`pending` (not yet recorded), `disclosed`, `not_disclosed` or `cancelled`."
    )
    items: list[DataCategory] | None = Field(description="The data categories sent; null unless `disclosed`.")
    channel: DisclosureChannel | None = Field(description="The secure channel they went by; null unless `disclosed`.")
    disclosed_at: datetime | None = Field(description="When they were sent (UTC); null unless `disclosed`.")


class SubjectDisclosure(BaseModel):
    """One request that named the person, what became of it, and what was actually disclosed."""

    request_id: str = Field(description="The request's id.")
    requester: str = Field(description="The requesting organisation's code.")
    purpose: PurposeCategory = Field(description="The request's purpose category.")
    urgency: Urgency = Field(description="The request's urgency.")
    status: RequestStatus = Field(description="Where the request stands now.")
    outcome: DecisionOutcome = Field(description="The outcome of its current decision.")
    created_at: datetime = Field(description="When the request was submitted (UTC).")
    decided_at: datetime = Field(description="When its current decision was made (UTC).")
    disclosures: list[DisclosureMade] = Field(
        default_factory=list,
        description="What was actually disclosed, per information asset holding the approved items, as the assets' "
        "owners recorded it (oldest opened first); empty when nothing was approved or no registered asset holds the "
        "items.",
    )


class SubjectDisclosures(Page[SubjectDisclosure]):
    """A page of the requests that named the person; the identifier itself is never echoed."""

    matches: int = Field(description="How many requests named the person, on every page")


class ResponseTimes(BaseModel):
    decisions: int = Field(description="How many guardian decisions are counted.")
    median_seconds: float | None = Field(
        description=(
            "The median time from referral to decision, in seconds, less time waiting for "
            "information; null when none was decided."
        )
    )
    p90_seconds: float | None = Field(
        description="The 90th percentile of that time, in seconds; null when none was decided."
    )


class Agreement(BaseModel):
    """How often guardians decided `guardian` where the rules, setting referrals aside, would have decided
    `rules_would`."""

    rules_would: Outcome = Field(description="What the rules would have decided had nothing been referred.")
    guardian: str = Field(description="What the guardians decided.")
    count: int = Field(description="How many decisions had this pair of outcomes.")


class Overturns(BaseModel):
    decisions: int = Field(description="Guardians' decisions on referrals and emergency shares in the period.")
    overturned: int = Field(description="How many of them differ from what the rules would have decided.")
    rate: float | None = Field(description="overturned / decisions; null when there were none.")
    breakdown: list[Agreement] = Field(
        description="The decisions counted by what the rules would have decided and what the guardians decided."
    )


class Reconsiderations(BaseModel):
    """How often agencies ask for a decision to be reconsidered, and how often a second guardian overturns it."""

    reconsiderable: int = Field(
        description="Refusals and approvals with conditions made in the period, by the rules, "
        "a guardian or on reconsideration"
    )
    requested: int = Field(description="How many of those the requesting agency has asked to have reconsidered, so far")
    rate: float | None = Field(
        description="The reconsideration rate: requested / reconsiderable; null when there was nothing to reconsider"
    )
    decided: int = Field(description="Reconsiderations decided in the period")
    upheld: int = Field(description="Reconsiderations decided in the period that upheld the decision.")
    overturned: int = Field(description="Reconsiderations decided in the period that overturned it.")
    overturn_rate: float | None = Field(
        description="The overturn rate on reconsideration: overturned / decided; null when none was decided"
    )


class ReviewMetrics(BaseModel):
    period_from: date = Field(description="The first day of the period reported (London date, inclusive).")
    period_to: date = Field(description="The last day of the period reported (London date, inclusive).")
    decisions: dict[GuardianOutcome, dict[Urgency, int]] = Field(
        description="Guardians' decisions in the period, by outcome and then by urgency."
    )
    retrospective_reviews: dict[RetrospectiveOutcome, int] = Field(
        description="Retrospective reviews of emergency shares in the period, by outcome."
    )
    time_to_decision: dict[Urgency, ResponseTimes] = Field(
        description="Time from referral to a guardian's decision, by urgency."
    )
    overdue_now: int = Field(description="Requests in the queue now whose due time has passed.")
    disclosures_overdue_now: int = Field(
        description="Disclosures of approved requests still pending now past their due time (a configured number of "
        "working days after the approval was ready to disclose): `GET /v1/disclosures?overdue=true` lists them.",
    )
    overturns: Overturns = Field(
        description="Guardians' decisions on referrals and emergency shares against what the rules would have decided"
    )
    reconsiderations: Reconsiderations = Field(
        description=(
            "How often agencies ask for reconsideration, and how often a second guardian overturns the decision."
        )
    )
