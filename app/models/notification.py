"""People the service may write to, and the email outbox of notifications to them
(app/services/notifications/ writes and sends these)."""

from datetime import datetime
from enum import StrEnum

import sqlmodel
from sqlalchemy import Column, ForeignKey, Index, Integer, String
from sqlmodel import SQLModel

from app.models.base import UTCDateTime, enum_column, utcnow
from app.models.sharing_request import new_id


class EmailKind(StrEnum):
    """Why a notification is sent; each kind has one fixed subject and body (app/services/notifications/messages.py).

    - `opinion_requested`: a guardian was named for a second opinion on a case.
    - `panel_seat`: a guardian was seated on a case's panel.
    - `claim_lapsing`: a guardian's claim on a case lapses soon.
    - `emergency_referred`: an emergency case arrived in the guardian queue (to the guardians on duty).
    - `overdue`: a case in the guardian queue passed its response time (to the guardians on duty).
    - `safeguarding_decided`: a safeguarding case was decided (to each safeguarding lead of the controller).
    """

    OPINION_REQUESTED = "opinion_requested"
    PANEL_SEAT = "panel_seat"
    CLAIM_LAPSING = "claim_lapsing"
    EMERGENCY_REFERRED = "emergency_referred"
    OVERDUE = "overdue"
    SAFEGUARDING_DECIDED = "safeguarding_decided"


# The kinds that go to the guardians on duty (CALDICOTT_NOTIFY_DUTY_ADDRESSES) rather than to one named guardian.
TO_DUTY = frozenset({EmailKind.EMERGENCY_REFERRED, EmailKind.OVERDUE})


class Person(SQLModel, table=True):
    """Someone who signed in to the console, as their identity provider last described them: where to write to a
    guardian the workflow names by token subject, and who the safeguarding leads are."""

    __tablename__ = "people"

    sub: str = sqlmodel.Field(primary_key=True, max_length=200)
    org: str = sqlmodel.Field(primary_key=True, max_length=32)
    email: str | None = sqlmodel.Field(default=None, max_length=320)
    name: str | None = sqlmodel.Field(default=None, max_length=200)
    last_signed_in_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))
    # The roles honoured at that sign-in, space-separated (as a console session keeps them): who is told as a
    # safeguarding lead. Null for a sign-in before they were recorded.
    roles: str | None = sqlmodel.Field(default=None, max_length=200)


class EmailMessage(SQLModel, table=True):
    """One notification to send, written in the transaction of the act that calls for it: a named guardian
    (`recipient_sub`, `recipient_org`) or, for the kinds in TO_DUTY, the guardians on duty (both null)."""

    __tablename__ = "email_outbox"
    __table_args__ = (Index("ix_email_outbox_due", "sent_at", "given_up_at", "next_attempt_at"),)

    id: str = sqlmodel.Field(default_factory=new_id, primary_key=True, max_length=36)
    kind: EmailKind = sqlmodel.Field(sa_column=enum_column(EmailKind, 32))
    request_id: str = sqlmodel.Field(sa_column=Column(String(36), ForeignKey("sharing_requests.id"), nullable=False))
    recipient_sub: str | None = sqlmodel.Field(default=None, max_length=200)
    recipient_org: str | None = sqlmodel.Field(default=None, max_length=32)
    # The time the message names: the case's due time, or when the claim lapses.
    due_at: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # Set for a notification sent once whatever the number of workers looking (a claim's warning): the first insert
    # of a key wins.
    once_key: str | None = sqlmodel.Field(default=None, max_length=120, unique=True)
    created_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    next_attempt_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))
    attempts: int = sqlmodel.Field(default=0, sa_column=Column(Integer(), nullable=False, server_default="0"))
    sent_at: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    given_up_at: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # Why the last attempt failed or the message was given up (the SMTP server's words, never an address).
    last_error: str | None = sqlmodel.Field(default=None, max_length=300)
