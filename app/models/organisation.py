"""Registered organisations: partner agencies and the controller's own units."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StrictBool, StringConstraints
from sqlalchemy import Column, Integer
from sqlmodel import Field, SQLModel

from app.models.base import STORABLE_TEXT, UTCDateTime, enum_column, utcnow
from app.models.page import Page
from app.models.vocabulary import DsptStatus, OrganisationType

ORGANISATION_CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"
OrganisationCode = Annotated[str, StringConstraints(strict=True, max_length=32, pattern=ORGANISATION_CODE)]
OrganisationName = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=200, pattern=STORABLE_TEXT)
]


class Organisation(SQLModel, table=True):
    __tablename__ = "organisations"

    code: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    type: OrganisationType = Field(sa_column=enum_column(OrganisationType, 32))
    dspt_status: DsptStatus = Field(sa_column=enum_column(DsptStatus, 32))
    active: bool = True
    # One more at every change: the organisation's ETag (app/http/etags.py).
    version: int = Field(default=1, sa_column=Column(Integer(), nullable=False, server_default="1"))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class OrganisationCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "code": "RXT01",
                    "name": "Northshire Community Health NHS Trust",
                    "type": "nhs_trust",
                    "dspt_status": "standards_met",
                },
                {"code": "NSP01", "name": "Northshire Police", "type": "police", "dspt_status": "not_published"},
            ]
        },
    )

    code: OrganisationCode = Field(
        description=(
            "The organisation's code (letters, digits, `_`, `.`, `-`; at most 32 characters), "
            "usually its ODS code; the `org` claim of its tokens must match it. It never changes."
        )
    )
    name: OrganisationName = Field(description="The organisation's name (1 to 200 characters), as notices show it.")
    type: OrganisationType = Field(
        description=(
            "What kind of body it is; the rules read the requester's type (the police and schools "
            "are not bound as health professionals are, for instance)."
        )
    )
    dspt_status: DsptStatus = Field(
        description="Its latest Data Security and Protection Toolkit result; the rules read it at each decision."
    )


class OrganisationUpdate(BaseModel):
    """Fields an admin may change; `active: false` deactivates."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"dspt_status": "approaching_standards"}, {"active": False}]}
    )

    name: OrganisationName | None = Field(
        default=None, description="A new name; null or left out to leave it as it is."
    )
    type: OrganisationType | None = Field(
        default=None, description="A new type; null or left out to leave it as it is."
    )
    dspt_status: DsptStatus | None = Field(
        default=None,
        description=(
            "Its new toolkit result, read by every decision from now on; null or left out to leave it as it is."
        ),
    )
    active: StrictBool | None = Field(
        default=None,
        description=(
            "False to deactivate the organisation (its tokens may no longer submit: 403), true to "
            "reactivate it; null or left out to leave it as it is."
        ),
    )


class OrganisationPublic(BaseModel):
    code: str = Field(description="The organisation's code.")
    name: str = Field(description="The organisation's name.")
    type: OrganisationType = Field(description="What kind of body it is.")
    dspt_status: DsptStatus = Field(description="Its latest Data Security and Protection Toolkit result.")
    active: bool = Field(description="Whether its tokens may submit requests; a deactivated organisation's may not.")
    created_at: datetime = Field(description="When it was registered (UTC).")
    updated_at: datetime = Field(description="When it last changed (UTC).")


class OrganisationPage(Page[OrganisationPublic]):
    pass
