"""Registered organisations: partner agencies and the controller's own units."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StrictBool, StringConstraints
from sqlalchemy import Column, Integer
from sqlmodel import Field, SQLModel

from app.models.base import STORABLE_TEXT, UTCDateTime, enum_column, utcnow
from app.models.page import Page
from app.models.vocabulary import DsptStatus, OrganisationType

OrganisationCode = Annotated[
    str, StringConstraints(strict=True, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
]
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

    code: OrganisationCode
    name: OrganisationName
    type: OrganisationType
    dspt_status: DsptStatus


class OrganisationUpdate(BaseModel):
    """Fields an admin may change; `active: false` deactivates."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"dspt_status": "approaching_standards"}, {"active": False}]}
    )

    name: OrganisationName | None = None
    type: OrganisationType | None = None
    dspt_status: DsptStatus | None = None
    active: StrictBool | None = None


class OrganisationPublic(BaseModel):
    code: str
    name: str
    type: OrganisationType
    dspt_status: DsptStatus
    active: bool
    created_at: datetime
    updated_at: datetime


class OrganisationPage(Page[OrganisationPublic]):
    pass
