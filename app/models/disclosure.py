"""Disclosures actually made: when a request's approval is ready to disclose, one pending disclosure for each
information asset holding its approved items, for that asset's owner (an IAO) to record as sent, with what went and
how, or as not disclosed and why. The record of what left the controller, as against what was approved."""

from datetime import datetime

import sqlmodel
from sqlalchemy import Column, ForeignKey, Integer, String
from sqlmodel import SQLModel

from app.models.base import JSONValue, UTCDateTime, enum_column, utcnow
from app.models.sharing_request import new_id
from app.models.vocabulary import DisclosureChannel, DisclosureStatus


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
