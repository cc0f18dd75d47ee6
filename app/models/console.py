"""The console's sign-ins: one row per signed-in person, found by the hash of the random value its cookie holds."""

from datetime import datetime

import sqlmodel
from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import SQLModel

from app.models.base import UTCDateTime, utcnow


class ConsoleSession(SQLModel, table=True):
    """A person signed in to the console. The cookie holds a random value; the row holds its SHA-256, so the table
    alone cannot be replayed. Signing out, an idle spell past CALDICOTT_CONSOLE_IDLE_MINUTES or the absolute lifetime
    ends it; the roles are those honoured at sign-in (app/powers.py), as the API honours a token's."""

    __tablename__ = "console_sessions"
    __table_args__ = (
        UniqueConstraint("token_hash"),
        Index("ix_console_sessions_expires_at", "expires_at"),  # expired rows are pruned oldest first
    )

    id: int | None = sqlmodel.Field(default=None, primary_key=True)
    token_hash: str = sqlmodel.Field(max_length=64)
    sub: str = sqlmodel.Field(max_length=200)
    org: str = sqlmodel.Field(max_length=32)
    roles: str = sqlmodel.Field(max_length=200)  # honoured roles, space-separated
    name: str = sqlmodel.Field(sa_column=Column(Text, nullable=False))
    email: str = sqlmodel.Field(sa_column=Column(Text, nullable=False))
    # How the person signed in: `oidc` (the trust's provider) or `development` (the marked development sign-in).
    method: str = sqlmodel.Field(max_length=16)
    csrf_token: str = sqlmodel.Field(max_length=64)
    created_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    last_seen_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))
