"""Registered information sharing agreements (ISAs)."""

from datetime import date, datetime
from typing import Annotated, Self

import sqlmodel
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import Column
from sqlmodel import SQLModel

from app.models.base import STORABLE_TEXT, CalendarDate, JSONValue, UTCDateTime, enum_column, utcnow
from app.models.organisation import OrganisationCode
from app.models.page import Page
from app.models.vocabulary import AgreementStatus, DataCategory, PurposeCategory

AgreementCode = Annotated[str, StringConstraints(strict=True, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
AgreementTitle = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=300, pattern=STORABLE_TEXT)]
Parties = Annotated[list[OrganisationCode], Field(min_length=1, max_length=100)]
Purposes = Annotated[list[PurposeCategory], Field(min_length=1, max_length=len(PurposeCategory))]
Categories = Annotated[list[DataCategory], Field(min_length=1, max_length=len(DataCategory))]


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
    created_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


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
                    "data_categories": ["demographics", "contact_details", "care_record_summary", "medications", "social_care_record"],
                    "valid_from": "2026-04-01",
                    "valid_until": "2029-03-31",
                    "status": "active",
                }
            ]
        },
    )

    code: AgreementCode
    title: AgreementTitle
    parties: Parties
    purposes: Purposes
    data_categories: Categories
    valid_from: CalendarDate
    valid_until: CalendarDate
    status: AgreementStatus = AgreementStatus.ACTIVE

    @model_validator(mode="after")
    def period_is_ordered(self) -> Self:
        if self.valid_until < self.valid_from:
            raise ValueError("valid_until must not be before valid_from")
        return self


class SharingAgreementUpdate(BaseModel):
    """Fields an admin may change; the period is checked against the stored one."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"status": "suspended"}, {"valid_until": "2030-03-31"}]})

    title: AgreementTitle | None = None
    parties: Parties | None = None
    purposes: Purposes | None = None
    data_categories: Categories | None = None
    valid_from: CalendarDate | None = None
    valid_until: CalendarDate | None = None
    status: AgreementStatus | None = None


class SharingAgreementPublic(BaseModel):
    code: str
    title: str
    parties: list[str]
    purposes: list[PurposeCategory]
    data_categories: list[DataCategory]
    valid_from: date
    valid_until: date
    status: AgreementStatus
    created_at: datetime
    updated_at: datetime


class SharingAgreementPage(Page[SharingAgreementPublic]):
    pass
