"""Second opinions: the claim holder asks another guardian (named,
or any) and that guardian agrees, disagrees or abstains."""

from datetime import datetime
from typing import Annotated

import sqlmodel
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Column, ForeignKey, String, UniqueConstraint
from sqlmodel import SQLModel

from app.models.base import UTCDateTime, enum_column
from app.models.deliberation import GuardianRef, OpinionRecord
from app.models.review import Rationale
from app.models.sharing_request import new_id
from app.models.vocabulary import FinalOutcome, OpinionChoice

QUESTION_EXAMPLE = (
    "I propose to approve: the risk to the child outweighs the mother's refusal. Do you agree "
    "the public interest test is met?"
)
OPINION_EXAMPLE = (
    "A refusal by a capable adult weighs heavily; the risk described is not yet serious enough to override it."
)


class OpinionRequest(SQLModel, table=True):
    """The claim holder's request for a second opinion; open until answered or a decision is recorded on the request."""

    __tablename__ = "opinion_requests"

    id: str = sqlmodel.Field(default_factory=new_id, primary_key=True, max_length=36)
    request_id: str = sqlmodel.Field(
        sa_column=Column(String(36), ForeignKey("sharing_requests.id"), nullable=False, index=True)
    )
    asked_by: str = sqlmodel.Field(max_length=200)
    asked_by_org: str = sqlmodel.Field(max_length=32)
    # The guardian asked; both null: any guardian outside the requesting organisation may answer.
    asked_sub: str | None = sqlmodel.Field(default=None, max_length=200)
    asked_org: str | None = sqlmodel.Field(default=None, max_length=32)
    proposed_outcome: FinalOutcome = sqlmodel.Field(sa_column=enum_column(FinalOutcome, 32))
    question: str = sqlmodel.Field(max_length=8000)
    asked_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))
    answered_at: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    closed_at: datetime | None = sqlmodel.Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )  # a decision was recorded unanswered


class Opinion(SQLModel, table=True):
    """A second guardian's opinion; each request for one is answered once,
    and the decision that weighed it is linked."""

    __tablename__ = "opinions"
    __table_args__ = (UniqueConstraint("opinion_request_id"),)

    id: str = sqlmodel.Field(default_factory=new_id, primary_key=True, max_length=36)
    request_id: str = sqlmodel.Field(
        sa_column=Column(String(36), ForeignKey("sharing_requests.id"), nullable=False, index=True)
    )
    opinion_request_id: str = sqlmodel.Field(
        sa_column=Column(String(36), ForeignKey("opinion_requests.id"), nullable=False)
    )
    given_by: str = sqlmodel.Field(max_length=200)
    given_by_org: str = sqlmodel.Field(max_length=32)
    opinion: OpinionChoice = sqlmodel.Field(sa_column=enum_column(OpinionChoice, 16))
    rationale: str = sqlmodel.Field(max_length=8000)
    given_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))
    decision_id: str | None = sqlmodel.Field(
        default=None, sa_column=Column(String(36), ForeignKey("decisions.id"), nullable=True)
    )


class OpinionRequestBody(BaseModel):
    """What the claim holder asks, of whom, and the outcome they propose."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "guardian": {"sub": "guardian-2", "org": "CONTROLLER"},
                    "proposed_outcome": "approve",
                    "question": QUESTION_EXAMPLE,
                },
                {
                    "proposed_outcome": "refuse",
                    "question": "I propose to refuse: onward sharing to the whole team is more "
                    "than the purpose needs. Agree?",
                },
            ]
        },
    )

    guardian: GuardianRef | None = Field(
        default=None,
        description="The guardian asked; omitted, any guardian outside the requesting organisation may answer",
    )
    proposed_outcome: FinalOutcome = Field(
        description="The outcome the claim holder proposes: `approve`, `approve_with_conditions` or `refuse`."
    )
    question: Rationale = Field(description="What the claim holder asks (20 to 8000 characters).")


class OpinionBody(BaseModel):
    """A second guardian's opinion on the outcome proposed."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"opinion": "disagree", "rationale": OPINION_EXAMPLE},
                {
                    "opinion_request_id": "5b0e2f4c-7a1d-4c3e-9b8a-1d2c3e4f5a6b",
                    "opinion": "agree",
                    "rationale": QUESTION_EXAMPLE,
                },
            ]
        },
    )

    opinion_request_id: Annotated[str, Field(max_length=36, pattern=r"^[0-9a-f-]{1,36}$")] | None = Field(
        default=None,
        description="The request answered; omitted, the oldest open one asked of you, else of any guardian",
    )
    opinion: OpinionChoice = Field(description="`agree` or `disagree` with the outcome proposed, or `abstain`.")
    rationale: Rationale = Field(description="Why (20 to 8000 characters); kept with the decision that weighs it.")


class OpinionRequestPublic(BaseModel):
    """A request for a second opinion as recorded."""

    id: str = Field(description="The request for an opinion's id.")
    request_id: str = Field(description="The sharing request it is about.")
    asked_by: str = Field(description="The token subject of the claim holder who asked.")
    guardian: GuardianRef | None = Field(
        description="The guardian asked; null: any guardian outside the requesting organisation"
    )
    proposed_outcome: FinalOutcome = Field(description="The outcome proposed.")
    question: str = Field(description="What was asked.")
    asked_at: datetime = Field(description="When it was asked (UTC).")

    @classmethod
    def of(cls, row: OpinionRequest) -> "OpinionRequestPublic":
        asked = (
            GuardianRef(sub=row.asked_sub, org=row.asked_org)
            if row.asked_sub is not None and row.asked_org is not None
            else None
        )
        return cls(
            id=row.id,
            request_id=row.request_id,
            asked_by=row.asked_by,
            guardian=asked,
            proposed_outcome=row.proposed_outcome,
            question=row.question,
            asked_at=row.asked_at,
        )


def opinion_record(opinion: Opinion, asked: OpinionRequest) -> OpinionRecord:
    """The opinion as a decision record keeps it."""
    return OpinionRecord(
        id=opinion.id,
        opinion_request_id=asked.id,
        proposed_outcome=asked.proposed_outcome,
        given_by=opinion.given_by,
        given_by_org=opinion.given_by_org,
        opinion=opinion.opinion,
        rationale=opinion.rationale,
        given_at=opinion.given_at,
    )
