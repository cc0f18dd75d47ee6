"""The information asset register: the systems and stores that hold the controller's person-identifiable data,
who owns each (an information asset owner, role `iao`) and which data categories it holds."""

from datetime import date, datetime
from typing import Annotated

import sqlmodel
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Column, Date, Integer
from sqlmodel import SQLModel

from app.models.base import STORABLE_TEXT, JSONValue, UTCDateTime, utcnow
from app.models.page import Page
from app.models.vocabulary import DataCategory

AssetCode = Annotated[str, StringConstraints(strict=True, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
AssetText = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=200, pattern=STORABLE_TEXT)
]
Subject = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200, pattern=STORABLE_TEXT)]
HeldCategories = Annotated[list[DataCategory], Field(min_length=1, max_length=len(DataCategory))]


class InformationAsset(SQLModel, table=True):
    __tablename__ = "information_assets"

    code: str = sqlmodel.Field(primary_key=True, max_length=64)
    name: str = sqlmodel.Field(max_length=200)
    system: str = sqlmodel.Field(max_length=200)
    supplier: str = sqlmodel.Field(max_length=200)
    # The information asset owner: the `sub` of an `iao` token of the controller, who alone of the IAOs may change it.
    owner: str = sqlmodel.Field(max_length=200, index=True)
    administrator: str = sqlmodel.Field(max_length=200)
    data_categories: list[str] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))
    hosting: str = sqlmodel.Field(max_length=200)
    last_risk_review: date | None = sqlmodel.Field(default=None, sa_column=Column(Date(), nullable=True))
    # One more at every change: the asset's ETag (app/http/etags.py).
    version: int = sqlmodel.Field(default=1, sa_column=Column(Integer(), nullable=False, server_default="1"))
    created_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class InformationAssetCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "code": "EPR",
                    "name": "Electronic patient record",
                    "system": "Lorenzo",
                    "supplier": "DXC Technology",
                    "owner": "iao-jane.doe",
                    "administrator": "EPR system manager, Digital Services",
                    "data_categories": ["demographics", "diagnoses", "medications", "test_results"],
                    "hosting": "Supplier's UK data centre (hosted service)",
                    "last_risk_review": "2026-09-30",
                }
            ]
        },
    )

    code: AssetCode = Field(
        description=(
            "The asset's code in your register (letters, digits, `_`, `.`, `-`; at most 64 characters); "
            "decisions name the assets they matched by it. It never changes."
        )
    )
    name: AssetText = Field(description="What the asset is called (1 to 200 characters), such as the record it holds.")
    system: AssetText = Field(description="The system or product the asset lives in (1 to 200 characters).")
    supplier: AssetText = Field(description="Who supplies the system (1 to 200 characters); `in-house` if nobody.")
    owner: Subject = Field(
        description=(
            "The information asset owner: the `sub` claim of their `iao` token (1 to 200 characters). "
            "Of the IAOs, only this one may change the asset."
        )
    )
    administrator: AssetText = Field(
        description="Who runs the asset day to day for its owner (a person or team, 1 to 200 characters)."
    )
    data_categories: HeldCategories = Field(
        description=(
            "The data categories the asset holds, from the request vocabulary (at least one): an approved "
            "request's items are matched to the assets holding their categories."
        )
    )
    hosting: AssetText = Field(
        description="Where the asset is hosted, such as `on premises` or a supplier's UK cloud (1 to 200 characters)."
    )
    last_risk_review: date | None = Field(
        default=None, description="The date of its last information risk review; null or left out if never reviewed."
    )


class InformationAssetUpdate(BaseModel):
    """Fields that may change; the code never does. A field left out (or null) stays as it is."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"last_risk_review": "2026-12-01"}]})

    name: AssetText | None = Field(default=None, description="A new name; null or left out to leave it as it is.")
    system: AssetText | None = Field(default=None, description="A new system; null or left out to leave it as it is.")
    supplier: AssetText | None = Field(
        default=None, description="A new supplier; null or left out to leave it as it is."
    )
    owner: Subject | None = Field(
        default=None,
        description=(
            "A new owner (the `sub` of their `iao` token); null or left out to leave it as it is. "
            "An IAO who hands an asset on may no longer change it."
        ),
    )
    administrator: AssetText | None = Field(
        default=None, description="A new administrator; null or left out to leave it as it is."
    )
    data_categories: HeldCategories | None = Field(
        default=None,
        description="The categories it now holds (replacing the list); null or left out to leave it as it is.",
    )
    hosting: AssetText | None = Field(
        default=None, description="Where it is hosted now; null or left out to leave it as it is."
    )
    last_risk_review: date | None = Field(
        default=None, description="The date of its latest information risk review; null or left out to leave it."
    )


class InformationAssetPublic(BaseModel):
    code: str = Field(description="The asset's code; decisions name the assets they matched by it.")
    name: str = Field(description="What the asset is called.")
    system: str = Field(description="The system or product it lives in.")
    supplier: str = Field(description="Who supplies the system.")
    owner: str = Field(description="The `sub` of its information asset owner (an `iao` token of the controller).")
    administrator: str = Field(description="Who runs it day to day for its owner.")
    data_categories: list[DataCategory] = Field(description="The data categories it holds.")
    hosting: str = Field(description="Where it is hosted.")
    last_risk_review: date | None = Field(description="The date of its last information risk review; null if never.")
    created_at: datetime = Field(description="When it was registered (UTC).")
    updated_at: datetime = Field(description="When it last changed (UTC).")


class InformationAssetPage(Page[InformationAssetPublic]):
    pass
