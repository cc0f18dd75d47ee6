"""Disclosures actually made: when a request's approval is ready to disclose, one pending disclosure for each
information asset holding its approved items, for that asset's owner (an IAO) to record as sent, with what went and
how, or as not disclosed and why. The record of what left the controller, as against what was approved."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import sqlmodel
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Column, ForeignKey, Integer, String
from sqlmodel import SQLModel

from app.models.base import STORABLE_TEXT, JSONValue, UTCDateTime, enum_column, utcnow
from app.models.page import Page
from app.models.sharing_request import new_id
from app.models.vocabulary import DataCategory, DisclosureChannel, DisclosureStatus


class Disclosure(SQLModel, table=True):
    """One asset's part of an approved request: pending until its owner's team records it."""

    __tablename__ = "disclosures"

    id: str = sqlmodel.Field(default_factory=new_id, primary_key=True, max_length=36)
    request_id: str = sqlmodel.Field(
        sa_column=Column(String(36), ForeignKey("sharing_requests.id"), nullable=False, index=True)
    )
    asset_code: str = sqlmodel.Field(
        sa_column=Column(String(64), ForeignKey("information_assets.code"), nullable=False, index=True)
    )
    # The asset's owner (an `iao` token's sub) when the disclosure was opened: whose team is to make it.
    owner: str = sqlmodel.Field(max_length=200, index=True)
    # The organisation the data goes to: the request's requester.
    recipient_org: str = sqlmodel.Field(max_length=32, index=True)
    status: DisclosureStatus = sqlmodel.Field(sa_column=enum_column(DisclosureStatus, 16, index=True))
    opened_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    # Past this (a configured number of working days after opening) a pending disclosure is overdue.
    due_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    # Recorded once: the data categories sent (never more than the approved items), how and when.
    items: list[str] | None = sqlmodel.Field(default=None, sa_column=Column(JSONValue, nullable=True))
    channel: DisclosureChannel | None = sqlmodel.Field(
        default=None, sa_column=enum_column(DisclosureChannel, 16, nullable=True)
    )
    disclosed_at: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # Why it was not disclosed, or why it was cancelled.
    reason: str | None = sqlmodel.Field(default=None, max_length=8000)
    recorded_by: str | None = sqlmodel.Field(default=None, max_length=200)
    recorded_at: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # One more at every change: the disclosure's ETag.
    version: int = sqlmodel.Field(default=1, sa_column=Column(Integer(), nullable=False, server_default="1"))


class DisclosureOutcome(StrEnum):
    """What the asset's owner records of a pending disclosure.

    - `disclosed`: the data was sent: the items, the channel and when.
    - `not_disclosed`: nothing was sent, and why.
    """

    DISCLOSED = "disclosed"
    NOT_DISCLOSED = "not_disclosed"


class DisclosureRecordBody(BaseModel):
    """What the asset's owner (or an IG manager) records of a pending disclosure, once: what was sent, by which
    channel and when; or that nothing was sent, and why."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "outcome": "disclosed",
                    "items": ["demographics", "gp_details"],
                    "channel": "nhsmail",
                    "disclosed_at": "2026-12-14T10:30:00Z",
                },
                {"outcome": "not_disclosed", "reason": "The record holds nothing for this person since 2019."},
            ]
        },
    )

    outcome: DisclosureOutcome = Field(
        description="`disclosed`: the data was sent (give `items`, `channel` and `disclosed_at`); `not_disclosed`: "
        "nothing was sent (give `reason`)."
    )
    items: list[DataCategory] | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="With `disclosed` only, and required there: the data categories sent, each one the request's "
        "approval covers (a category it does not is a 422 naming `items`).",
    )
    channel: DisclosureChannel | None = Field(
        default=None, description="With `disclosed` only, and required there: the secure channel the data went by."
    )
    disclosed_at: AwareDatetime | None = Field(
        default=None,
        description="With `disclosed` only, and required there: when the data was sent (an RFC 3339 time with its "
        "offset), neither in the future nor before the disclosure was opened.",
    )
    reason: (
        Annotated[
            str,
            StringConstraints(
                strict=True, strip_whitespace=True, min_length=10, max_length=8000, pattern=STORABLE_TEXT
            ),
        ]
        | None
    ) = Field(
        default=None,
        description="With `not_disclosed` only, and required there: why nothing was sent (10 to 8000 characters).",
    )


class DisclosurePublic(BaseModel):
    """One asset's part of an approved request, as the caller may see it: the requesting agency is not shown which
    of the controller's systems it comes from, nor who holds it."""

    id: str = Field(description="The disclosure's id (a UUID).")
    request_id: str = Field(description="The approved sharing request it discloses.")
    asset_code: str | None = Field(
        description="The code of the information asset the data comes from (`GET /v1/information-assets/{code}`); "
        "null for the requesting agency."
    )
    owner: str | None = Field(
        description="The token subject (`sub`) of the asset's owner (an IAO) when the disclosure was opened: whose "
        "team is to make it; null for the requesting agency."
    )
    recipient_org: str = Field(description="The organisation the data goes to: the request's requester.")
    status: DisclosureStatus = Field(
        description="Where it stands: `pending`, `disclosed`, `not_disclosed` or `cancelled`."
    )
    opened_at: datetime = Field(description="When the approval became ready to disclose and this was opened (UTC).")
    due_at: datetime = Field(
        description="When it is to be recorded by (UTC): a configured number of working days after opening "
        "(`CALDICOTT_DISCLOSURE_DUE_WORKING_DAYS`)."
    )
    overdue: bool = Field(description="True while it is pending past `due_at`.")
    items: list[DataCategory] | None = Field(description="The data categories sent; null unless `disclosed`.")
    channel: DisclosureChannel | None = Field(
        description="The secure channel the data went by; null unless `disclosed`."
    )
    disclosed_at: datetime | None = Field(description="When the data was sent (UTC); null unless `disclosed`.")
    reason: str | None = Field(
        description="Why nothing was sent (`not_disclosed`) or why it was closed (`cancelled`); null otherwise."
    )
    recorded_by: str | None = Field(
        description="The token subject of who recorded it; null while pending, when cancelled, and for the "
        "requesting agency."
    )
    recorded_at: datetime | None = Field(description="When it was recorded or closed (UTC); null while pending.")
    version: int = Field(description="1 when opened, one more at each change: the disclosure's ETag.")

    @classmethod
    def of(cls, row: Disclosure, *, now: datetime, inside: bool) -> "DisclosurePublic":
        """The row as the caller sees it: `inside` (the controller's people) with its asset, owner and recorder."""
        return cls(
            id=row.id,
            request_id=row.request_id,
            asset_code=row.asset_code if inside else None,
            owner=row.owner if inside else None,
            recipient_org=row.recipient_org,
            status=row.status,
            opened_at=row.opened_at,
            due_at=row.due_at,
            overdue=row.status == DisclosureStatus.PENDING and row.due_at <= now,
            items=[DataCategory(item) for item in row.items] if row.items is not None else None,
            channel=row.channel,
            disclosed_at=row.disclosed_at,
            reason=row.reason,
            recorded_by=row.recorded_by if inside else None,
            recorded_at=row.recorded_at,
            version=row.version,
        )


class DisclosureList(Page[DisclosurePublic]):
    """Disclosures the caller may see, a page at a time: oldest due first."""
