"""The controller's checks (brief section 5):
each opened by an approving decision, and the records people of the controller make of it."""

from datetime import datetime
from typing import Annotated, Literal

import sqlmodel
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Column, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import SQLModel

from app.models.base import STORABLE_TEXT, UTCDateTime, enum_column
from app.models.sharing_request import new_id
from app.models.vocabulary import CheckOutcome, CheckStatus, Role

# The check a significant decision by the rules opens when none of its findings is a controller's check.
HUMAN_INVOLVEMENT = "human_involvement"
CheckName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=STORABLE_TEXT)]
CheckedText = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=10, max_length=4000, pattern=STORABLE_TEXT)
]


class ControllerCheck(SQLModel, table=True):
    """One check a decision opened; `status` is the outcome of its latest record (`open` before any)."""

    __tablename__ = "controller_checks"
    __table_args__ = (
        UniqueConstraint("decision_id", "name"),
        # The worker's sweep looks for open emergency checks past their time on every pass.
        Index("ix_controller_checks_due", "status", "due_at"),
    )

    id: str = sqlmodel.Field(default_factory=new_id, primary_key=True, max_length=36)
    request_id: str = sqlmodel.Field(
        sa_column=Column(String(36), ForeignKey("sharing_requests.id"), nullable=False, index=True)
    )
    decision_id: str = sqlmodel.Field(sa_column=Column(String(36), ForeignKey("decisions.id"), nullable=False))
    name: str = sqlmodel.Field(max_length=64)  # a rule id, or `human_involvement`
    status: CheckStatus = sqlmodel.Field(sa_column=enum_column(CheckStatus, 16))
    # False only for CP7.emergency_share's own check,
    # and for every check of an emergency share that is not a significant decision.
    blocking: bool
    emergency_share: bool  # opened by an emergency share: a failure calls for the incident process
    due_at: datetime | None = sqlmodel.Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )  # an emergency share's: the response time
    overdue_flagged_at: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    opened_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))


class ControllerCheckRecord(SQLModel, table=True):
    """What a person of the controller recorded of a check;
    never edited (a mistaken record is followed by another, and the latest counts)."""

    __tablename__ = "controller_check_records"

    id: str = sqlmodel.Field(default_factory=new_id, primary_key=True, max_length=36)
    check_id: str = sqlmodel.Field(
        sa_column=Column(String(36), ForeignKey("controller_checks.id"), nullable=False, index=True)
    )
    request_id: str = sqlmodel.Field(
        sa_column=Column(String(36), ForeignKey("sharing_requests.id"), nullable=False, index=True)
    )
    outcome: CheckOutcome = sqlmodel.Field(sa_column=enum_column(CheckOutcome, 16))
    checked: str = sqlmodel.Field(max_length=4000)
    by_sub: str = sqlmodel.Field(max_length=200)
    by_org: str = sqlmodel.Field(max_length=32)
    role: Role = sqlmodel.Field(sa_column=enum_column(Role, 16))
    at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))


class ControllerCheckBody(BaseModel):
    """A person of the controller records a check: done or failed, and what they checked."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "outcome": "done",
                    "checked": "Sealed order of the Family Court, case 2028/123, seen; it names the requester and "
                    "covers the diagnoses asked for.",
                }
            ]
        },
    )

    outcome: CheckOutcome = Field(
        description="`done`: the check holds; `failed`: it does not, and the request goes back to a guardian"
    )
    checked: CheckedText = Field(
        description="What was checked (for an order, summons or notice: "
        "the court or coroner, the case number, whom it names and what it covers)"
    )


class DecisionCheckRecord(BaseModel):
    """A check the guardian's approval opens, recorded done with the decision."""

    model_config = ConfigDict(extra="forbid")

    check: CheckName = Field(
        description="The check: a rule id among the approval's controller's checks, or `human_involvement`"
    )
    checked: CheckedText = Field(description="What the guardian checked")


class CheckRecordPublic(BaseModel):
    """One record of a check, as made."""

    outcome: CheckOutcome = Field(description="`done` or `failed`")
    checked: str = Field(description="What was checked, in the recorder's words")
    by: str = Field(description="The `sub` of the person who recorded it")
    role: Role = Field(description="Their role: `guardian` or `ig_manager`")
    at: datetime = Field(description="When it was recorded (UTC).")

    @classmethod
    def of(cls, record: ControllerCheckRecord) -> "CheckRecordPublic":
        return cls(outcome=record.outcome, checked=record.checked, by=record.by_sub, role=record.role, at=record.at)


class ControllerCheckPublic(BaseModel):
    """A controller's check of one decision, with every record of it, oldest first."""

    check: str = Field(
        description="A rule id (`CP6.court_order_verified`, "
        "`CP6.legal_requirement_verified`, ...) or `human_involvement`"
    )
    decision_id: str = Field(description="The decision that opened it")
    status: CheckStatus = Field(description="`open` until recorded; then the outcome of its latest record")
    blocking: bool = Field(
        description="Whether it holds the disclosure back while open (not for an emergency share that "
        "is not a significant decision)"
    )
    due_at: datetime | None = Field(
        description="For an emergency share's check: "
        "when the emergency response time ends; open after it, it is overdue"
    )
    records: list[CheckRecordPublic] = Field(description="Every record of the check, oldest first.")
    ready_to_disclose: bool = Field(description="The request's `ready_to_disclose` after this record")
    open_checks: list[str] = Field(description="The request's open checks after this record")


class CheckRecordEntry(BaseModel):
    """A record of a controller's check, in a request's history."""

    type: Literal["controller_check"] = Field(
        default="controller_check", description="Always `controller_check`: a controller's check was recorded."
    )
    at: datetime = Field(description="When it was recorded (UTC).")
    check: str = Field(description="The check recorded: a rule id or `human_involvement`")
    decision_id: str = Field(description="The decision that opened it")
    record: CheckRecordPublic = Field(description="The record as made.")
