"""Registered information sharing agreements (ISAs), every version of each, and the notices sent about their dates."""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Self

import sqlmodel
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import Column, Date, ForeignKey, Integer, String
from sqlmodel import SQLModel

from app.models.base import STORABLE_TEXT, CalendarDate, JSONValue, UTCDateTime, enum_column, utcnow
from app.models.organisation import OrganisationCode
from app.models.page import Page
from app.models.vocabulary import AgreementStatus, DataCategory, PurposeCategory

AgreementCode = Annotated[
    str, StringConstraints(strict=True, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
]
AgreementTitle = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=300, pattern=STORABLE_TEXT)
]
Parties = Annotated[list[OrganisationCode], Field(min_length=1, max_length=100)]
Purposes = Annotated[list[PurposeCategory], Field(min_length=1, max_length=len(PurposeCategory))]
Categories = Annotated[list[DataCategory], Field(min_length=1, max_length=len(DataCategory))]
DpiaReference = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=200, pattern=STORABLE_TEXT)
]
AttachmentId = Annotated[
    str, StringConstraints(strict=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
]

# Fields that may be absent (null) on an agreement: on PATCH, an explicit null clears them.
CLEARABLE = ("owner", "dpia_reference", "review_date", "signed_attachment")


class SharingAgreement(SQLModel, table=True):
    __tablename__ = "sharing_agreements"

    code: str = sqlmodel.Field(primary_key=True, max_length=64)
    title: str = sqlmodel.Field(max_length=300)
    parties: list[str] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))
    purposes: list[str] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))
    data_categories: list[str] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))
    valid_from: date
    valid_until: date
    status: AgreementStatus = sqlmodel.Field(sa_column=enum_column(AgreementStatus, 16))
    # The organisation answerable for the agreement: told, with the parties, when its review or end draws near.
    owner: str | None = sqlmodel.Field(
        default=None, sa_column=Column(String(32), ForeignKey("organisations.code"), nullable=True)
    )
    dpia_reference: str | None = sqlmodel.Field(default=None, max_length=200)
    review_date: date | None = sqlmodel.Field(default=None, sa_column=Column(Date(), nullable=True))
    # The id of the attachment holding the signed copy (table `attachments`).
    signed_attachment: str | None = sqlmodel.Field(default=None, max_length=64)
    # The latest row of sharing_agreement_versions: 1 when registered, one more at every change.
    version: int = sqlmodel.Field(default=1, sa_column=Column(Integer(), nullable=False, server_default="1"))
    created_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class SharingAgreementVersion(SQLModel, table=True):
    """The agreement as one registration or change left it:
    every field, as its public form showed it then; never edited."""

    __tablename__ = "sharing_agreement_versions"

    code: str = sqlmodel.Field(sa_column=Column(String(64), ForeignKey("sharing_agreements.code"), primary_key=True))
    version: int = sqlmodel.Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    snapshot: dict[str, Any] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))
    changed_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))
    changed_by: str = sqlmodel.Field(max_length=200)


class AgreementNoticeKind(StrEnum):
    """What a notice about an agreement announces."""

    REVIEW_DUE = "review_due"
    EXPIRING = "expiring"


class AgreementNotice(SQLModel, table=True):
    """A notice sent about one date of an agreement;
    the key is what makes it once per date, however many workers look."""

    __tablename__ = "sharing_agreement_notices"

    code: str = sqlmodel.Field(sa_column=Column(String(64), ForeignKey("sharing_agreements.code"), primary_key=True))
    kind: AgreementNoticeKind = sqlmodel.Field(sa_column=enum_column(AgreementNoticeKind, 16, primary_key=True))
    # The review date or end date announced: a date moved by an admin is a new key, so its notice is sent again.
    for_date: date = sqlmodel.Field(sa_column=Column(Date(), primary_key=True))
    sent_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))


class SharingAgreementCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "code": "ISA-NSH-2026-01",
                    "title": "Northshire integrated care: community health and adult social care",
                    "parties": ["RXT01", "NSC01"],
                    "purposes": ["direct_care", "safeguarding_adult"],
                    "data_categories": [
                        "demographics",
                        "contact_details",
                        "care_record_summary",
                        "medications",
                        "social_care_record",
                    ],
                    "valid_from": "2026-04-01",
                    "valid_until": "2029-03-31",
                    "status": "active",
                    "owner": "RXT01",
                    "dpia_reference": "DPIA-2026-014",
                    "review_date": "2027-09-30",
                }
            ]
        },
    )

    code: AgreementCode = Field(
        description=(
            "The agreement's code, chosen by the admin and quoted by requests in "
            "`sharing_agreement` (letters, digits, `_`, `.`, `-`; at most 64 characters). It never"
            " changes."
        )
    )
    title: AgreementTitle = Field(description="The agreement's title (1 to 300 characters).")
    parties: Parties = Field(
        description=(
            "The codes of the registered organisations party to the agreement (1 to 100). A "
            "request naming it from any other requester is referred."
        )
    )
    purposes: Purposes = Field(
        description=(
            "The purposes the agreement covers; a request for another purpose is referred (a "
            "condition for direct care)."
        )
    )
    data_categories: Categories = Field(
        description=(
            "The data categories the agreement covers; a request for another category is referred "
            "(a condition for direct care)."
        )
    )
    valid_from: CalendarDate = Field(
        description="The first day the agreement is in force (a date, inclusive, read in Europe/London)."
    )
    valid_until: CalendarDate = Field(
        description="The last day the agreement is in force (inclusive); not before `valid_from`."
    )
    status: AgreementStatus = Field(
        default=AgreementStatus.ACTIVE,
        description="`active` (the default) or `suspended`: a suspended agreement is treated as not in force.",
    )
    owner: OrganisationCode | None = Field(
        default=None, description="A registered organisation answerable for the agreement"
    )
    dpia_reference: DpiaReference | None = Field(
        default=None, description="The reference of the data protection impact assessment"
    )
    review_date: CalendarDate | None = Field(
        default=None, description="When the agreement is next to be reviewed: within valid_from..valid_until"
    )
    signed_attachment: AttachmentId | None = Field(
        default=None, description="The attachment holding the signed copy, uploaded for this agreement"
    )

    @model_validator(mode="after")
    def period_is_ordered(self) -> Self:
        if self.valid_until < self.valid_from:
            raise ValueError("valid_until must not be before valid_from")
        return self


class SharingAgreementUpdate(BaseModel):
    """Fields an admin may change; the period is checked against the stored one. A null leaves a field as it is, but
    clears the owner, the DPIA reference, the review date and the signed copy."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"status": "suspended"},
                {"valid_until": "2030-03-31"},
                {"review_date": "2028-03-31", "owner": "RXT01"},
            ]
        },
    )

    title: AgreementTitle | None = Field(
        default=None, description="A new title; null or left out to leave it as it is."
    )
    parties: Parties | None = Field(
        default=None, description="The parties from now on, replacing the list; null or left out to leave it as it is."
    )
    purposes: Purposes | None = Field(
        default=None, description="The purposes from now on, replacing the list; null or left out to leave it as it is."
    )
    data_categories: Categories | None = Field(
        default=None,
        description="The data categories from now on, replacing the list; null or left out to leave it as it is.",
    )
    valid_from: CalendarDate | None = Field(
        default=None, description="A new first day in force; null or left out to leave it as it is."
    )
    valid_until: CalendarDate | None = Field(
        default=None, description="A new last day in force; null or left out to leave it as it is."
    )
    status: AgreementStatus | None = Field(
        default=None,
        description=(
            "`suspended` to suspend the agreement, `active` to lift a suspension; null or left out"
            " to leave it as it is."
        ),
    )
    owner: OrganisationCode | None = Field(default=None, description="A registered organisation; null clears it")
    dpia_reference: DpiaReference | None = Field(default=None, description="null clears it")
    review_date: CalendarDate | None = Field(
        default=None, description="Within valid_from..valid_until; moving it re-arms the review notice; null clears it"
    )
    signed_attachment: AttachmentId | None = Field(
        default=None, description="An attachment uploaded for this agreement; null clears it"
    )


class SharingAgreementPublic(BaseModel):
    code: str = Field(description="The agreement's code.")
    title: str = Field(description="The agreement's title.")
    parties: list[str] = Field(description="The codes of the organisations party to it.")
    purposes: list[PurposeCategory] = Field(description="The purposes it covers.")
    data_categories: list[DataCategory] = Field(description="The data categories it covers.")
    valid_from: date = Field(description="Its first day in force (inclusive).")
    valid_until: date = Field(description="Its last day in force (inclusive).")
    status: AgreementStatus = Field(description="`active`, or `suspended` by an admin.")
    owner: str | None = Field(description="The code of the organisation answerable for it; null when none is named.")
    dpia_reference: str | None = Field(
        description="The reference of its data protection impact assessment; null when none."
    )
    review_date: date | None = Field(description="When it is next to be reviewed; null when none is set.")
    signed_attachment: str | None = Field(
        description="The id of the attachment holding its signed copy; null when none."
    )
    version: int = Field(description="The agreement's latest version: 1 when registered, one more at every change")
    created_at: datetime = Field(description="When it was registered (UTC).")
    updated_at: datetime = Field(description="When it last changed (UTC).")


class SharingAgreementPage(Page[SharingAgreementPublic]):
    pass


class SharingAgreementVersionPublic(BaseModel):
    """One version of an agreement: who made it, when, and the agreement as it then stood."""

    code: str = Field(description="The agreement's code.")
    version: int = Field(description="The version's number: 1 for the registration, one more at every change.")
    changed_at: datetime = Field(description="When this version was made (UTC).")
    changed_by: str = Field(description="The token subject of the admin who made it.")
    agreement: SharingAgreementPublic = Field(description="The agreement as it stood in this version.")

    @classmethod
    def of(cls, row: SharingAgreementVersion) -> "SharingAgreementVersionPublic":
        return cls(
            code=row.code,
            version=row.version,
            changed_at=row.changed_at,
            changed_by=row.changed_by,
            agreement=SharingAgreementPublic.model_validate(row.snapshot),
        )


class SharingAgreementVersionPage(Page[SharingAgreementVersionPublic]):
    pass
