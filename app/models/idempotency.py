"""The answers given to POSTs sent with an Idempotency-Key, kept so that a retry gets the same answer."""

from datetime import datetime
from typing import Any

import sqlmodel
from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import SQLModel

from app.models.base import JSONValue, UTCDateTime, utcnow


class IdempotencyRecord(SQLModel, table=True):
    """One organisation's key, what it was sent with, and the answer first given; written in the transaction of the
    change it answers, so the change and its record are kept together or not at all."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("org", "key"),  # keys are per organisation: two racing with one key record one change
        Index("ix_idempotency_keys_expires_at", "expires_at"),  # the housekeeping's pruning reads from the oldest
    )

    id: int | None = sqlmodel.Field(default=None, primary_key=True)
    org: str = sqlmodel.Field(max_length=32)
    key: str = sqlmodel.Field(max_length=200)
    method: str = sqlmodel.Field(max_length=8)
    path: str = sqlmodel.Field(max_length=1000)
    request_hash: str = sqlmodel.Field(max_length=64)
    # The subject key version the body was hashed with: a retry across a key rotation is compared under it.
    key_version: int
    status_code: int
    body: str = sqlmodel.Field(sa_column=Column(Text, nullable=False))
    # The headers that say what the answer was about (Location, ETag, Content-Type), as first sent.
    headers: dict[str, Any] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))
    created_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))
