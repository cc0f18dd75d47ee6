"""A guardian's verification of a request's evidence: who checked it, when, what they found and what they checked.

An attachment's `kind` is the uploader's claim; it counts in the rules only once a guardian who is not of the
requesting organisation has verified it (brief section 7, Evidence). Verifications are never edited: a mistaken
one is followed by another, and the latest counts.
"""

from datetime import date, datetime
from typing import Annotated

import sqlmodel
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Column, ForeignKey, Index, String
from sqlmodel import SQLModel

from app.models.base import STORABLE_TEXT, JSONValue, UTCDateTime, enum_column
from app.models.vocabulary import Role, VerificationOutcome

MAX_CHECKED_CHARS = 4000
Checked = Annotated[
    str,
    StringConstraints(
        strict=True, strip_whitespace=True, min_length=10, max_length=MAX_CHECKED_CHARS, pattern=STORABLE_TEXT
    ),
]
Named = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=200, pattern=STORABLE_TEXT)
]


class OrderCheck(BaseModel):
    """What a guardian checked on an order, summons or notice (brief section 7): required to verify evidence of kind
    `court_order`."""

    model_config = ConfigDict(extra="forbid")

    issued_by: Named = Field(description="The court or coroner that issued it")
    issued_on: date = Field(description="The date it bears")
    number: Named = Field(description="Its case, claim or reference number")
    sealed_or_signed: bool = Field(description="It bears the court's seal, or the coroner's or judge's signature")
    return_date: date | None = Field(
        default=None, description="Its return or hearing date, or the date by which to produce, if it names one"
    )
    in_date: bool = Field(description="Its return or hearing date has not passed")
    addressed_to_controller: bool = Field(
        description="It is addressed to this controller, or names it as the person to produce"
    )
    covers_information: bool = Field(description="It covers the information the request asks for")
    produce_to: Named | None = Field(
        default=None,
        description="For a witness summons (required then): the court to which the material is to be "
        "produced, then the only recipient",
    )

    def shortfalls(self, *, today: date, summons: bool) -> list[str]:
        """What stops this order being verified: each item that was not found, in the order section 7 lists them."""
        found = [
            ("sealed_or_signed", self.sealed_or_signed, "it is not sealed or signed"),
            (
                "in_date",
                self.in_date and (self.return_date is None or self.return_date >= today),
                "its return or hearing date has passed",
            ),
            (
                "addressed_to_controller",
                self.addressed_to_controller,
                "it is not addressed to this controller and does not name it",
            ),
            ("covers_information", self.covers_information, "it does not cover the information asked for"),
            (
                "produce_to",
                not summons or self.produce_to is not None,
                "a witness summons names the court to which to produce: give it",
            ),
        ]
        return [f"order.{name}: {why}" for name, held, why in found if not held]


class VerificationBody(BaseModel):
    """A guardian's finding on one attachment: `verified` (it counts) or `rejected` (it does not), and what was
    checked."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "outcome": "verified",
                    "checked": "Read the sealed order against the court's listing; "
                    "called the family court office to confirm the case number.",
                    "order": {
                        "issued_by": "Family Court at Leeds",
                        "issued_on": "2026-11-20",
                        "number": "ZW26C00123",
                        "sealed_or_signed": True,
                        "return_date": "2026-12-18",
                        "in_date": True,
                        "addressed_to_controller": True,
                        "covers_information": True,
                    },
                },
                {
                    "outcome": "rejected",
                    "checked": "A typed page headed 'court order' with no seal, court or case number: not an order.",
                },
            ]
        },
    )

    outcome: VerificationOutcome = Field(
        description=(
            "`verified`: the evidence is what it claims and covers this request, so it counts in "
            "the rules; `rejected`: it does not count."
        )
    )
    checked: Checked = Field(description="What the guardian checked, in their words (required)")
    order: OrderCheck | None = Field(
        default=None,
        description="Required when the attachment's kind is `court_order` (an order, "
        "summons or notice); optional otherwise",
    )


class AttachmentVerification(SQLModel, table=True):
    """One verification of an attachment; never edited (a mistaken one is followed by another: the latest counts)."""

    __tablename__ = "attachment_verifications"
    __table_args__ = (Index("ix_attachment_verifications_request", "request_id", "id"),)

    id: int | None = sqlmodel.Field(
        default=None, primary_key=True
    )  # increasing: the latest of an attachment's is its highest
    attachment_id: str = sqlmodel.Field(
        sa_column=Column(String(36), ForeignKey("attachments.id"), nullable=False, index=True)
    )
    request_id: str = sqlmodel.Field(sa_column=Column(String(36), ForeignKey("sharing_requests.id"), nullable=False))
    outcome: VerificationOutcome = sqlmodel.Field(sa_column=enum_column(VerificationOutcome, 16))
    checked: str = sqlmodel.Field(max_length=MAX_CHECKED_CHARS)
    order: dict[str, object] | None = sqlmodel.Field(default=None, sa_column=Column(JSONValue, nullable=True))
    verified_by: str = sqlmodel.Field(max_length=200)
    verified_by_org: str = sqlmodel.Field(max_length=32)
    verified_by_role: Role = sqlmodel.Field(sa_column=enum_column(Role, 16))
    verified_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))


class VerificationPublic(BaseModel):
    """A verification as recorded: the service adds who (the token's subject), their organisation and role, and when."""

    id: int = Field(
        description="The verification's id; an attachment's latest (highest) verification is the one that counts."
    )
    attachment_id: str = Field(description="The attachment verified.")
    outcome: VerificationOutcome = Field(description="`verified` or `rejected`.")
    checked: str = Field(description="What the guardian checked, in their words.")
    order: OrderCheck | None = Field(
        description="What was checked on an order, summons or notice; null for other kinds of evidence."
    )
    verified_by: str = Field(description="The token subject of the guardian who verified it.")
    verified_by_org: str = Field(description="The guardian's organisation.")
    verified_by_role: Role = Field(description="The guardian's role.")
    verified_at: datetime = Field(description="When it was recorded (UTC).")

    @classmethod
    def of(cls, row: AttachmentVerification) -> "VerificationPublic":
        """The public form of a stored verification."""
        assert row.id is not None
        fields = {name: getattr(row, name) for name in cls.model_fields if name != "order"}
        return cls(**fields, order=OrderCheck.model_validate(row.order) if row.order is not None else None)
