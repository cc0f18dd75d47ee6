"""Consultations inside a case: the claim holder asks a safeguarding lead, the DPO, the SIRO or a named information
asset owner a question with a due time, and one of them answers."""

from datetime import datetime
from typing import Annotated

import sqlmodel
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Column, ForeignKey, String
from sqlmodel import SQLModel

from app.models.base import STORABLE_TEXT, UTCDateTime, enum_column
from app.models.page import Page
from app.models.sharing_request import new_id
from app.models.vocabulary import ConsultationStatus, ConsultedRole

QUESTION_EXAMPLE = (
    "The mother refuses; I propose to share on safeguarding grounds. Is the child known to your team, and does the "
    "risk described meet your threshold?"
)
# As a guardian's rationale (app/models/review.py), which imports this module for the history.
Rationale = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=20, max_length=8000, pattern=STORABLE_TEXT)
]
ANSWER_EXAMPLE = "Known to us since March under a child protection plan; the risk meets the threshold. Share."


class Consultation(SQLModel, table=True):
    """A question the claim holder asked of a role of the controller (or a named IAO), and its answer once given."""

    __tablename__ = "consultations"

    id: str = sqlmodel.Field(default_factory=new_id, primary_key=True, max_length=36)
    request_id: str = sqlmodel.Field(
        sa_column=Column(String(36), ForeignKey("sharing_requests.id"), nullable=False, index=True)
    )
    role: ConsultedRole = sqlmodel.Field(sa_column=enum_column(ConsultedRole, 32))
    asked_sub: str | None = sqlmodel.Field(default=None, max_length=200)  # the IAO named; null for the other roles
    asked_by: str = sqlmodel.Field(max_length=200)
    asked_by_org: str = sqlmodel.Field(max_length=32)
    question: str = sqlmodel.Field(max_length=8000)
    asked_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))
    due_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))
    answer: str | None = sqlmodel.Field(default=None, max_length=8000)
    answered_by: str | None = sqlmodel.Field(default=None, max_length=200)
    answered_at: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class ConsultationBody(BaseModel):
    """What the claim holder asks, of whom, and by when."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"role": "safeguarding_lead", "question": QUESTION_EXAMPLE, "due_at": "2026-12-14T17:00:00Z"},
                {
                    "role": "iao",
                    "iao": "iao-pas",
                    "question": "Does the patient administration system hold the GP's address for this person?",
                    "due_at": "2026-12-14T12:00:00Z",
                },
            ]
        },
    )

    role: ConsultedRole = Field(
        description="Whom you consult: `safeguarding_lead`, `dpo` or `siro` (anyone of the controller holding that "
        "role may answer), or `iao` with `iao` naming the information asset owner."
    )
    iao: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="With role `iao` only, and required there: the token subject (`sub`) of the information asset "
        "owner who is to answer.",
    )
    question: Rationale = Field(description="What you ask (20 to 8000 characters).")
    due_at: AwareDatetime = Field(
        description="When you need the answer by (an RFC 3339 time with its offset; in the future). Past it the "
        "consultation shows as overdue, and may still be answered."
    )


class ConsultationAnswerBody(BaseModel):
    """The answer of the person consulted."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"answer": ANSWER_EXAMPLE}]})

    answer: Rationale = Field(description="The answer (20 to 8000 characters); the deciding guardian reads it.")


class ConsultationPublic(BaseModel):
    """A consultation as recorded, with its answer once given."""

    id: str = Field(description="The consultation's id.")
    request_id: str = Field(description="The sharing request it is about.")
    role: ConsultedRole = Field(description="The role consulted: `safeguarding_lead`, `dpo`, `siro` or `iao`.")
    iao: str | None = Field(description="With role `iao`: the token subject of the owner asked; otherwise null.")
    asked_by: str = Field(description="The token subject of the guardian (the claim holder) who asked.")
    question: str = Field(description="What was asked.")
    asked_at: datetime = Field(description="When it was asked (UTC).")
    due_at: datetime = Field(description="When the answer was wanted by (UTC).")
    status: ConsultationStatus = Field(
        description="`answered` once answered; before that `open`, or `overdue` after `due_at`."
    )
    answer: str | None = Field(description="The answer; null until answered.")
    answered_by: str | None = Field(description="The token subject of who answered; null until answered.")
    answered_at: datetime | None = Field(description="When it was answered (UTC); null until answered.")

    @classmethod
    def of(cls, row: Consultation, now: datetime) -> "ConsultationPublic":
        status = (
            ConsultationStatus.ANSWERED
            if row.answered_at is not None
            else ConsultationStatus.OVERDUE
            if row.due_at <= now
            else ConsultationStatus.OPEN
        )
        return cls(
            id=row.id,
            request_id=row.request_id,
            role=row.role,
            iao=row.asked_sub,
            asked_by=row.asked_by,
            question=row.question,
            asked_at=row.asked_at,
            due_at=row.due_at,
            status=status,
            answer=row.answer,
            answered_by=row.answered_by,
            answered_at=row.answered_at,
        )


class ConsultationList(Page[ConsultationPublic]):
    """The consultations on a request the caller may read, oldest first, a page at a time."""

    request_id: str = Field(description="The sharing request.")


class ConsultationQueue(Page[ConsultationPublic]):
    """The consultations the caller is to answer (a safeguarding lead, the DPO, the SIRO: those asked of their role; an
    IAO: those naming it), or every one (a guardian, an auditor): soonest due first, a page at a time."""
