"""The audit trail: one hash-chained, append-only row per change or read, the rows waiting to be chained, and the API schemas."""

from datetime import datetime
from enum import StrEnum

import sqlmodel
from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Column, Index, Integer
from sqlmodel import SQLModel

from app.models.actions import AuditAction
from app.models.base import JSONValue, UTCDateTime, enum_column
from app.models.page import Page


class AuditTarget(StrEnum):
    """What an audit event is about."""

    SHARING_REQUEST = "sharing_request"
    ORGANISATION = "organisation"
    SHARING_AGREEMENT = "sharing_agreement"
    REPORT = "report"
    POLICY = "policy"
    WEBHOOK_ENDPOINT = "webhook_endpoint"


class AuditEvent(SQLModel, table=True):
    """Who did what to which target, when; `hash` chains it to the event before."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_target", "target_type", "target_id", "seq"),
        Index("ix_audit_events_actor_sub", "actor_sub", "seq"),
        Index("ix_audit_events_actor_org", "actor_org", "seq"),
        Index("ix_audit_events_action", "action", "seq"),
        Index("ix_audit_events_occurred_at", "occurred_at"),
    )

    seq: int = sqlmodel.Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    occurred_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))
    actor_sub: str = sqlmodel.Field(max_length=200)
    actor_org: str | None = sqlmodel.Field(default=None, max_length=32)
    actor_roles: list[str] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))
    action: AuditAction = sqlmodel.Field(sa_column=enum_column(AuditAction, 40))
    target_type: AuditTarget = sqlmodel.Field(sa_column=enum_column(AuditTarget, 32))
    target_id: str = sqlmodel.Field(max_length=64)
    outcome: str = sqlmodel.Field(max_length=80)
    correlation_id: str | None = sqlmodel.Field(default=None, max_length=128)
    prev_hash: str = sqlmodel.Field(max_length=64)
    hash: str = sqlmodel.Field(max_length=64)


class AuditPending(SQLModel, table=True):
    """An event recorded in its writer's transaction and not yet chained: the chainer moves it into audit_events."""

    __tablename__ = "audit_pending"

    id: int | None = sqlmodel.Field(default=None, sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True))
    occurred_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))
    actor_sub: str = sqlmodel.Field(max_length=200)
    actor_org: str | None = sqlmodel.Field(default=None, max_length=32)
    actor_roles: list[str] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))
    action: AuditAction = sqlmodel.Field(sa_column=enum_column(AuditAction, 40))
    target_type: AuditTarget = sqlmodel.Field(sa_column=enum_column(AuditTarget, 32))
    target_id: str = sqlmodel.Field(max_length=64)
    outcome: str = sqlmodel.Field(max_length=80)
    correlation_id: str | None = sqlmodel.Field(default=None, max_length=128)


class AuditEventPublic(BaseModel):
    seq: int
    occurred_at: datetime
    actor_sub: str
    actor_org: str | None
    actor_roles: list[str]
    action: str
    target_type: AuditTarget
    target_id: str
    outcome: str
    correlation_id: str | None
    prev_hash: str
    hash: str


class AuditEventPage(Page[AuditEventPublic]):
    pass


class AuditVerification(BaseModel):
    """The result of recomputing the whole chain; first_broken_seq is where it first fails.

    Events recorded but not chained yet are counted in `pending`; they do not make the chain invalid.
    """

    valid: bool
    events: int
    pending: int = Field(description="Events recorded but not yet chained (they join the chain within moments); not part of `valid`")
    head_seq: int
    head_hash: str
    first_broken_seq: int | None
