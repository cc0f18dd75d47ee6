"""API schemas of the agreements report: each sharing agreement's state today and the requests decided under it."""

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, Field

from app.models.page import Page


class AgreementState(StrEnum):
    """Where an agreement stands on a London date, in the order of its life (the report's order).

    - `not_yet_in_force`: active, but its period has not begun.
    - `active`: in force, neither its review date nor its end within 30 days.
    - `review_due`: in force, its review date within 30 days or past.
    - `expiring`: in force, its last day within 30 days.
    - `expired`: its last day has passed.
    - `suspended`: suspended by an admin, whatever its dates.
    """

    NOT_YET_IN_FORCE = "not_yet_in_force"
    ACTIVE = "active"
    REVIEW_DUE = "review_due"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    SUSPENDED = "suspended"


class AgreementReportRow(BaseModel):
    """One agreement, its state, and how many requests citing it were decided in the twelve months to today."""

    code: str = Field(description="The agreement's code.")
    title: str = Field(description="The agreement's title.")
    state: AgreementState = Field(description="Where the agreement stands today, from its status and dates.")
    owner: str | None = Field(
        description="The code of the organisation that owns the agreement; null when none is named."
    )
    parties: list[str] = Field(description="The codes of the organisations party to it.")
    valid_from: date = Field(description="Its first day in force (inclusive).")
    valid_until: date = Field(description="Its last day in force (inclusive).")
    review_date: date | None = Field(description="When it is due for review; null when none is set.")
    requests_decided: int = Field(
        description="Requests decided (approved, approved with conditions or refused) on a version citing this "
        "agreement, from `counted_from` to today"
    )


class AgreementReport(Page[AgreementReportRow]):
    """A page of agreements by state, then by code; `states` counts every agreement, on every page."""

    today: date = Field(description="The London date the states are worked out for")
    counted_from: date = Field(description="The first London date whose decisions are counted: twelve months to today")
    states: dict[AgreementState, int] = Field(
        description="How many agreements are in each state (every agreement, not only this page's)"
    )
