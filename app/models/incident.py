"""Incidents with disclosures: something went wrong with data the controller disclosed (wrong recipient, too much,
the wrong person's record...). Graded on the NHS guide's likelihood and severity scales (policy data,
app/rules/policy.py `IncidentGrading`); a reportable one must be reported to the ICO within 72 hours of the
organisation becoming aware (UK GDPR Article 33(1)); the recipient is asked to return or destroy the data and confirms.
"""

from datetime import datetime, timedelta
from typing import Annotated

import sqlmodel
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Column, ForeignKey, Integer, String
from sqlmodel import SQLModel

from app.models.base import STORABLE_TEXT, JSONValue, UTCDateTime, enum_column
from app.models.page import Page
from app.models.sharing_request import new_id
from app.models.vocabulary import IncidentKind, IncidentStatus, RecallOutcome, TellingChannel, TellingReason

# UK GDPR Article 33(1): without undue delay and, where feasible, not later than 72 hours after becoming aware.
REPORT_WITHIN = timedelta(hours=72)
Grade = Annotated[int, Field(strict=True, ge=1, le=5)]
Narrative = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=10, max_length=8000, pattern=STORABLE_TEXT)
]
Reference = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=100, pattern=STORABLE_TEXT)
]
DESCRIPTION_EXAMPLE = "The letter for the disclosure went to the previous GP practice of the person, not the new one."


class Incident(SQLModel, table=True):
    """One incident recorded against a disclosure, its grading, its report to the ICO, the recall and its closure."""

    __tablename__ = "incidents"

    id: str = sqlmodel.Field(default_factory=new_id, primary_key=True, max_length=36)
    disclosure_id: str = sqlmodel.Field(
        sa_column=Column(String(36), ForeignKey("disclosures.id"), nullable=False, index=True)
    )
    # Copied from the disclosure: the request it belongs to (the audit events' target) and who received the data.
    request_id: str = sqlmodel.Field(sa_column=Column(String(36), nullable=False, index=True))
    recipient_org: str = sqlmodel.Field(max_length=32, index=True)
    kind: IncidentKind = sqlmodel.Field(sa_column=enum_column(IncidentKind, 32))
    description: str = sqlmodel.Field(max_length=8000)
    aware_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))
    likelihood: int
    severity: int
    # Judged against the active policy's threshold at each grading; the policy named for the record.
    reportable: bool = sqlmodel.Field(index=True)
    policy_name: str = sqlmodel.Field(max_length=64)
    policy_version: str = sqlmodel.Field(max_length=64)
    status: IncidentStatus = sqlmodel.Field(sa_column=enum_column(IncidentStatus, 16, index=True))
    recorded_by: str = sqlmodel.Field(max_length=200)
    recorded_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    # Who has been told, and when: a list of {"roles", "channel", "reason", "at"} (TellingPublic).
    told: list[dict[str, object]] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))
    reported_at: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    report_reference: str | None = sqlmodel.Field(default=None, max_length=100)
    reported_by: str | None = sqlmodel.Field(default=None, max_length=200)
    recall_outcome: RecallOutcome | None = sqlmodel.Field(
        default=None, sa_column=enum_column(RecallOutcome, 16, nullable=True)
    )
    recall_confirmed_at: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    recall_note: str | None = sqlmodel.Field(default=None, max_length=8000)
    recall_confirmed_by: str | None = sqlmodel.Field(default=None, max_length=200)
    closure_outcome: str | None = sqlmodel.Field(default=None, max_length=8000)
    lessons: str | None = sqlmodel.Field(default=None, max_length=8000)
    closed_by: str | None = sqlmodel.Field(default=None, max_length=200)
    closed_at: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    version: int = sqlmodel.Field(default=1, sa_column=Column(Integer(), nullable=False, server_default="1"))

    @property
    def report_by(self) -> datetime | None:
        """The 72-hour deadline for reporting to the ICO, for a reportable incident only."""
        return self.aware_at + REPORT_WITHIN if self.reportable else None


class GradingBody(BaseModel):
    """An incident's grades on the policy's five-step scales (`GET /v1/incidents/grading` shows them)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"likelihood": 3, "severity": 2}]})

    likelihood: Grade = Field(
        description="How likely it is that people are harmed, 1 (not occurred) to 5 (occurred), on the NHS guide's "
        "likelihood scale."
    )
    severity: Grade = Field(
        description="How badly they could be harmed, 1 (no adverse effect) to 5 (catastrophic or death), on the NHS "
        "guide's severity scale."
    )


class IncidentBody(GradingBody):
    """An incident with a disclosure, as recorded by someone of the controller."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "disclosure_id": "0b6f6c1e-5d0c-4a8e-9f0e-1f1c2d3e4f50",
                    "kind": "wrong_recipient",
                    "description": DESCRIPTION_EXAMPLE,
                    "aware_at": "2026-12-14T09:30:00Z",
                    "likelihood": 3,
                    "severity": 2,
                }
            ]
        },
    )

    disclosure_id: str = Field(
        min_length=1,
        max_length=36,
        pattern=STORABLE_TEXT,
        description="The disclosure that went wrong (an id from `GET /v1/sharing-requests/{id}/disclosures`).",
    )
    kind: IncidentKind = Field(description="What went wrong.")
    description: Narrative = Field(
        description="What happened, in 10 to 8000 characters. Keep personal data out of it: name no one, and quote no "
        "identifier; the people told read it."
    )
    aware_at: AwareDatetime = Field(
        description="When the organisation became aware of the incident (RFC 3339 with its offset; not in the "
        "future). A reportable incident is due to be reported 72 hours after it."
    )


class ReportBody(BaseModel):
    """The report of an incident to the ICO (and the DSPT incident reporting tool)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reported_at": "2026-12-15T11:00:00Z", "reference": "DSPT-19283"}]},
    )

    reported_at: AwareDatetime = Field(
        description="When it was reported (RFC 3339 with its offset; not in the future)."
    )
    reference: Reference = Field(description="The reference the ICO or the DSPT incident reporting tool gave it.")


class RecallConfirmationBody(BaseModel):
    """The recipient's confirmation that it returned or destroyed the data it was sent."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"outcome": "destroyed", "confirmed_at": "2026-12-14T15:00:00Z"}]},
    )

    outcome: RecallOutcome = Field(description="`returned` or `destroyed`: what the recipient did with the data.")
    confirmed_at: AwareDatetime = Field(
        description="When it was returned or destroyed (RFC 3339 with its offset; not in the future)."
    )
    note: Narrative | None = Field(
        default=None, description="Anything the controller should know (10 to 8000 characters, no personal data)."
    )


class ClosureBody(BaseModel):
    """How an incident ended, and what was learnt."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "outcome": "Recipient destroyed the letter; the person was told; reported to the ICO, no action.",
                    "lessons": "Check the practice code against the spine before posting; added to the checklist.",
                }
            ]
        },
    )

    outcome: Narrative = Field(description="How the incident ended (10 to 8000 characters).")
    lessons: Narrative = Field(description="The lessons learnt and what changes because of them (10 to 8000).")


class TellingPublic(BaseModel):
    """One telling of the incident: to whom, how, why and when."""

    roles: list[str] = Field(
        description="Who was told: roles of the controller (`siro`, `dpo`, `guardian`), or `recipient` for the "
        "organisation that received the data."
    )
    channel: TellingChannel = Field(
        description="How: `webhook` (an event to the subscribed endpoints) or `email` (to the people's addresses)."
    )
    reason: TellingReason = Field(
        description="Why: the incident was recorded, a regrading made it reportable, or the recipient was asked to "
        "return or destroy the data."
    )
    at: datetime = Field(description="When (UTC).")


class RecallPublic(BaseModel):
    """The recall of the data an incident concerns: the recipient was asked to return or destroy it."""

    incident_id: str = Field(description="The incident's id.")
    request_id: str = Field(description="The sharing request whose disclosure went wrong.")
    recipient: str = Field(description="The code of the organisation asked to return or destroy the data.")
    requested_at: datetime = Field(description="When the recipient was asked (UTC): when the incident was recorded.")
    outcome: RecallOutcome | None = Field(description="`returned` or `destroyed` once confirmed; null until then.")
    confirmed_at: datetime | None = Field(description="When the recipient says it was done (UTC); null until then.")
    note: str | None = Field(description="The recipient's note, if it gave one.")

    @classmethod
    def of(cls, row: Incident) -> "RecallPublic":
        return cls(
            incident_id=row.id,
            request_id=row.request_id,
            recipient=row.recipient_org,
            requested_at=row.recorded_at,
            outcome=row.recall_outcome,
            confirmed_at=row.recall_confirmed_at,
            note=row.recall_note,
        )


class IncidentPublic(BaseModel):
    """An incident as the controller's people read it."""

    id: str = Field(description="The incident's id.")
    disclosure_id: str = Field(description="The disclosure that went wrong.")
    request_id: str = Field(description="The sharing request the disclosure belongs to.")
    kind: IncidentKind = Field(description="What went wrong.")
    description: str = Field(description="What happened, as recorded.")
    aware_at: datetime = Field(description="When the organisation became aware of it (UTC).")
    likelihood: int = Field(description="The current likelihood grade, 1 to 5 (the NHS guide's scale).")
    severity: int = Field(description="The current severity grade, 1 to 5 (the NHS guide's scale).")
    reportable: bool = Field(
        description="Whether the grades meet the policy's threshold for reporting to the ICO (and DHSC)."
    )
    policy: str = Field(description="The policy whose threshold judged the latest grading, as `name version`.")
    report_by: datetime | None = Field(
        description="For a reportable incident: `aware_at` plus 72 hours (UK GDPR Article 33(1)), the deadline for "
        "reporting it to the ICO; null when not reportable."
    )
    reported_at: datetime | None = Field(description="When it was reported to the ICO (UTC); null until recorded.")
    report_reference: str | None = Field(description="The ICO's or DSPT tool's reference; null until reported.")
    reported_in_time: bool | None = Field(
        description="For a reportable incident once reported: whether `reported_at` was no later than `report_by`; "
        "null otherwise."
    )
    overdue: bool = Field(description="Reportable, not reported, and past `report_by`.")
    status: IncidentStatus = Field(description="`open` until closed, then `closed`.")
    recorded_by: str = Field(description="The token subject of who recorded it.")
    recorded_at: datetime = Field(description="When it was recorded (UTC).")
    told: list[TellingPublic] = Field(description="Who has been told of it, how and when, oldest first.")
    recall: RecallPublic = Field(description="The recall of the data from its recipient, and its confirmation.")
    closure_outcome: str | None = Field(description="How it ended; null until closed.")
    lessons: str | None = Field(description="The lessons learnt; null until closed.")
    closed_by: str | None = Field(description="The token subject of who closed it; null until closed.")
    closed_at: datetime | None = Field(description="When it was closed (UTC); null until closed.")

    @classmethod
    def of(cls, row: Incident, now: datetime) -> "IncidentPublic":
        report_by = row.report_by
        in_time = None if report_by is None or row.reported_at is None else row.reported_at <= report_by
        return cls(
            id=row.id,
            disclosure_id=row.disclosure_id,
            request_id=row.request_id,
            kind=row.kind,
            description=row.description,
            aware_at=row.aware_at,
            likelihood=row.likelihood,
            severity=row.severity,
            reportable=row.reportable,
            policy=f"{row.policy_name} {row.policy_version}",
            report_by=report_by,
            reported_at=row.reported_at,
            report_reference=row.report_reference,
            reported_in_time=in_time,
            overdue=report_by is not None and row.reported_at is None and report_by < now,
            status=row.status,
            recorded_by=row.recorded_by,
            recorded_at=row.recorded_at,
            told=[TellingPublic.model_validate(entry) for entry in row.told],
            recall=RecallPublic.of(row),
            closure_outcome=row.closure_outcome,
            lessons=row.lessons,
            closed_by=row.closed_by,
            closed_at=row.closed_at,
        )


class IncidentPage(Page[IncidentPublic]):
    """Incidents, the most recently recorded first."""


class GradeLevelPublic(BaseModel):
    """One step of a grading scale."""

    grade: int = Field(description="The grade, 1 to 5.")
    name: str = Field(description="Its short name, as the NHS guide names it.")
    description: str = Field(description="What it means.")


class GradingScales(BaseModel):
    """The scales incidents are graded on and the threshold for reporting, as the active policy sets them."""

    policy: str = Field(description="The active policy, as `name version`.")
    likelihood: list[GradeLevelPublic] = Field(description="The likelihood scale, grade 1 first.")
    severity: list[GradeLevelPublic] = Field(description="The severity scale, grade 1 first.")
    report_likelihood: int = Field(description="An incident is reportable from this likelihood grade up ...")
    report_severity: int = Field(description="... when its severity is this grade or above too.")
