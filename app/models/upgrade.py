"""One-off steps the service takes at its first start after an upgrade,
each recorded once it has run so that it never runs again."""

from datetime import datetime

import sqlmodel
from sqlalchemy import Column
from sqlmodel import SQLModel

from app.models.base import UTCDateTime


class UpgradeStep(SQLModel, table=True):
    """A one-off step that has run: its name, when, and how many rows it acted on (the start log says so too)."""

    __tablename__ = "upgrade_steps"

    name: str = sqlmodel.Field(primary_key=True, max_length=64)
    ran_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))
    count: int = 0
