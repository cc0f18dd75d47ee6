"""Reconsiderations: a requesting agency asks that a decision be looked at again,
and a guardian who did not make it answers."""

from datetime import datetime

import sqlmodel
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Column, ForeignKey, String, UniqueConstraint
from sqlmodel import SQLModel

from app.models.base import GUARDIAN_UNNAMED, UTCDateTime, enum_column
from app.models.sharing_request import DecisionPublic, new_id
from app.models.vocabulary import ReconsiderationOutcome


class Reconsideration(SQLModel, table=True):
    """One request to reconsider one decision, and the answer; a decision is reconsidered at most once."""

    __tablename__ = "reconsiderations"
    __table_args__ = (UniqueConstraint("decision_id"),)

    id: str = sqlmodel.Field(default_factory=new_id, primary_key=True, max_length=36)
    request_id: str = sqlmodel.Field(
        sa_column=Column(String(36), ForeignKey("sharing_requests.id"), nullable=False, index=True)
    )
    # The decision reconsidered: a refusal, or an approval with conditions, by the rules or a guardian.
    decision_id: str = sqlmodel.Field(sa_column=Column(String(36), ForeignKey("decisions.id"), nullable=False))
    grounds: str = sqlmodel.Field(max_length=8000)
    # The version sent with the request, if any: the rules decided it as they decide an amendment.
    revised_version: int | None = None
    requested_by: str = sqlmodel.Field(max_length=200)
    requested_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))
    outcome: ReconsiderationOutcome | None = sqlmodel.Field(
        default=None, sa_column=enum_column(ReconsiderationOutcome, 16, nullable=True)
    )
    decided_by: str | None = sqlmodel.Field(default=None, max_length=200)
    decided_at: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # The guardian's decision on it: `upheld`, or the new decision that replaces the one reconsidered.
    new_decision_id: str | None = sqlmodel.Field(
        default=None, sa_column=Column(String(36), ForeignKey("decisions.id"), nullable=True)
    )


class ReconsiderationPublic(BaseModel):
    """A request for reconsideration as recorded; `outcome` is null until a guardian decides it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "4f1c2b9e-8d2a-4c55-9a51-0f3d6c7e2a10",
                    "request_id": "0b6f8a0e-3c1d-4b7e-9f2a-5d8c1e4a7b22",
                    "decision_id": "9a3e5c7d-1b2f-4e6a-8c0d-2f4b6a8c0e13",
                    "grounds": "The address is needed to serve a warrant issued on 24 November 2026; the risk to the "
                    "officers is set out in the warrant.",
                    "revised_version": None,
                    "requested_by": "pc-4471",
                    "requested_at": "2026-11-27T10:15:00Z",
                    "outcome": None,
                    "decided_by": None,
                    "decided_at": None,
                    "new_decision_id": None,
                }
            ]
        }
    )

    id: str = Field(description="The reconsideration's id.")
    request_id: str = Field(description="The sharing request it is about.")
    decision_id: str = Field(description="The decision reconsidered")
    grounds: str = Field(description="The requester's grounds, as sent.")
    revised_version: int | None = Field(
        description="The version sent with the request for reconsideration, evaluated by the rules; null if none"
    )
    requested_by: str = Field(description="The token subject of who asked for it.")
    requested_at: datetime = Field(description="When it was asked for (UTC).")
    outcome: ReconsiderationOutcome | None = Field(
        description="`upheld` or `overturned`; null until a guardian decides it."
    )
    decided_by: str | None = Field(description="The guardian who decided it, by token subject; " + GUARDIAN_UNNAMED)
    decided_at: datetime | None = Field(description="When a guardian decided it (UTC); null until then.")
    new_decision_id: str | None = Field(
        description="The decision made on reconsideration: `upheld`, or the new outcome"
    )

    @classmethod
    def of(cls, row: Reconsideration) -> "ReconsiderationPublic":
        return cls.model_validate(row, from_attributes=True)


class ReconsiderationDecided(ReconsiderationPublic):
    """A decided reconsideration, with the decision the guardian recorded."""

    model_config = ConfigDict(json_schema_extra=None)  # the pending example above does not fit a decided one

    decision: DecisionPublic = Field(description="The decision the reconsidering guardian recorded.")
