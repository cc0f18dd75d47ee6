"""API schemas of the reports: the decision log, a person's disclosures, and the guardian review metrics."""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.models.page import Page
from app.models.vocabulary import (
    DecisionOutcome,
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

    decided_at: datetime
    request_id: str
    version: int
    requester: str
    purpose: PurposeCategory
    purpose_description: str
    urgency: Urgency
    outcome: DecisionOutcome
    decided_by: str
    principles_engaged: list[str]
    conditions: list[str]
    rationale: str | None


class DecisionLog(Page[DecisionLogRow]):
    pass


class SubjectQuery(BaseModel):
    """The person to search for: an NHS number or local identifier, as requests name them."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"identifier": "9990000018"}]})

    identifier: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]

    @field_validator("identifier")
    @classmethod
    def not_blank(cls, identifier: str) -> str:
        if not identifier.strip():
            raise ValueError("must not be blank")
        return identifier


class SubjectDisclosure(BaseModel):
    """One request that named the person, and what became of it."""

    request_id: str
    requester: str
    purpose: PurposeCategory
    urgency: Urgency
    status: RequestStatus
    outcome: DecisionOutcome
    created_at: datetime
    decided_at: datetime


class SubjectDisclosures(Page[SubjectDisclosure]):
    """A page of the requests that named the person; the identifier itself is never echoed."""

    matches: int = Field(description="How many requests named the person, on every page")


class ResponseTimes(BaseModel):
    decisions: int
    median_seconds: float | None
    p90_seconds: float | None


class Agreement(BaseModel):
    """How often guardians decided `guardian` where the rules, setting referrals aside, would have decided \
`rules_would`."""

    rules_would: Outcome
    guardian: str
    count: int


class Overturns(BaseModel):
    decisions: int
    overturned: int
    rate: float | None
    breakdown: list[Agreement]


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
    upheld: int
    overturned: int
    overturn_rate: float | None = Field(
        description="The overturn rate on reconsideration: overturned / decided; null when none was decided"
    )


class ReviewMetrics(BaseModel):
    period_from: date
    period_to: date
    decisions: dict[GuardianOutcome, dict[Urgency, int]]
    retrospective_reviews: dict[RetrospectiveOutcome, int]
    time_to_decision: dict[Urgency, ResponseTimes]
    overdue_now: int
    overturns: Overturns = Field(
        description="Guardians' decisions on referrals and emergency shares against what the rules would have decided"
    )
    reconsiderations: Reconsiderations
