"""The public data uses register (Caldicott principle 8, transparency): what the controller approved for a purpose
other than direct care, and the entries it withholds from it, each with a recorded reason.

An entry carries only coded values (never an identifier, a hash, a reference or a free text), and its number of
people is a band when it is under CALDICOTT_REGISTER_MIN_COUNT, so that no one can be singled out from it.
"""

from datetime import datetime
from typing import Annotated

import sqlmodel
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Column, ForeignKey, String
from sqlmodel import SQLModel

from app.models.base import STORABLE_TEXT, UTCDateTime, utcnow
from app.models.page import Page
from app.models.vocabulary import (
    Article6Basis,
    Article9Condition,
    ConfidentialityBasis,
    DataCategory,
    DataForm,
    PurposeCategory,
    RequestStatus,
)

WithholdingReason = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=10, max_length=2000, pattern=STORABLE_TEXT)
]


class RegisterWithholding(SQLModel, table=True):
    """One request the controller keeps out of the public register, and why; deleting the row puts it back."""

    __tablename__ = "register_withholdings"

    request_id: str = sqlmodel.Field(sa_column=Column(String(36), ForeignKey("sharing_requests.id"), primary_key=True))
    reason: str = sqlmodel.Field(max_length=2000)
    withheld_by: str = sqlmodel.Field(max_length=200)
    withheld_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class RegisterOrganisation(BaseModel):
    """The organisation the information was disclosed to."""

    code: str = Field(description="The organisation's registered code (its ODS code for an NHS body)")
    name: str = Field(description="The organisation's registered name")


class RegisterLegalBasis(BaseModel):
    """The lawful basis the disclosure was approved on, as codes."""

    article_6: Article6Basis = Field(description="The UK GDPR Article 6 lawful basis")
    article_9: Article9Condition | None = Field(
        description="The UK GDPR Article 9 condition for special category data; null when none was needed"
    )
    confidentiality: ConfidentialityBasis = Field(description="What sets aside the common law duty of confidentiality")


class RegisterDataItem(BaseModel):
    """One category of information disclosed, and in what form."""

    category: DataCategory = Field(description="The category of information")
    form: DataForm = Field(description="Its form: identifiable, pseudonymised or anonymised")


class RegisterPeople(BaseModel):
    """How many people the disclosure was about: exact at or above the register's threshold, a band under it.

    Exactly one of `count` and `band` is set.
    """

    count: int | None = Field(
        description="The number of people, when it is at least the register's threshold (CALDICOTT_REGISTER_MIN_COUNT, "
        "10 by default); null when it is shown as a band"
    )
    band: str | None = Field(
        description='A band such as "<10" when the number is under the threshold (a small number could identify '
        "someone); null when the count is given"
    )


class RegisterEntry(BaseModel):
    """One approved disclosure for a purpose other than direct care."""

    decided_on: str = Field(description="The date (YYYY-MM-DD, Europe/London) of the approving decision that stands")
    organisation: RegisterOrganisation = Field(description="The requesting organisation")
    purpose: PurposeCategory = Field(description="The purpose category (never `direct_care`)")
    legal_basis: RegisterLegalBasis = Field(description="The lawful basis the disclosure was approved on")
    data: list[RegisterDataItem] = Field(
        description="The categories of information disclosed and their form (those the guardian approved, when the "
        "approval named them)"
    )
    people: RegisterPeople = Field(description="How many people it was about, exact or as a band")
    agreement: str | None = Field(description="The code of the sharing agreement it was made under; null when none")
    outcome: RequestStatus = Field(description="`approved` or `approved_with_conditions`")


class Register(Page[RegisterEntry]):
    """A page of the public data uses register, oldest decision first."""


class WithholdingBody(BaseModel):
    """Withhold one request's entry from the public register."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "request_id": "6f1c2a9e-3b7d-4e21-9a55-0c8d2f4b7e10",
                    "reason": "Publishing it now would alert the subject of a live police investigation.",
                }
            ]
        },
    )

    request_id: str = Field(max_length=36, pattern=STORABLE_TEXT, description="The id of the sharing request")
    reason: WithholdingReason = Field(
        description="Why it is withheld (10 to 2000 characters), kept for the controller and auditors; never published"
    )


class WithholdingPublic(BaseModel):
    """An entry the controller keeps out of the public register."""

    request_id: str = Field(description="The id of the sharing request withheld")
    reason: str = Field(description="Why it is withheld")
    withheld_by: str = Field(description="Who withheld it (the token's subject)")
    withheld_at: datetime = Field(description="When it was withheld")

    @classmethod
    def of(cls, row: RegisterWithholding) -> "WithholdingPublic":
        return cls(
            request_id=row.request_id, reason=row.reason, withheld_by=row.withheld_by, withheld_at=row.withheld_at
        )


class WithholdingPage(Page[WithholdingPublic]):
    """A page of withheld register entries, newest first."""
