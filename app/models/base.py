"""Column types shared by the tables, and the shapes of text and dates the API accepts into them."""

import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator
from sqlalchemy import JSON, Column, DateTime, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

# The brief's "today" and every calendar date a report or a response time counts in.
LONDON = ZoneInfo("Europe/London")

# PostgreSQL text cannot hold the NUL character, so no text the API stores or looks up may contain one.
STORABLE_TEXT = r"^[^\x00]*$"
# How the contract says what an agency reads where the controller's staff read a guardian's token subject.
GUARDIAN_UNNAMED = (
    'a caller with only the agency role reads "a Caldicott Guardian of" the controller organisation '
    "(its registered name, else its code) instead"
)


def _iso_date(value: object) -> object:
    # Pydantic would also take a number as a Unix time, or a date-time at midnight.
    if type(value) is date or (isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)):
        return value
    raise ValueError("must be a date written YYYY-MM-DD")


CalendarDate = Annotated[date, BeforeValidator(_iso_date)]

# Predictable constraint names, so migrations can alter them on both databases.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both databases (SQLite stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:  # type: ignore[no-untyped-def]
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL so later reports can index into stored bodies.
JSONValue = JSON().with_variant(JSONB(), "postgresql")


E = TypeVar("E", bound=StrEnum)


class StringEnum(TypeDecorator[E]):
    """A closed vocabulary stored as its text value:
    rows read back as enum members, and anything else is refused on write."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum
        self.length = length

    def process_bind_param(self, value: E | str | None, dialect) -> str | None:  # type: ignore[no-untyped-def]
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect) -> E | None:  # type: ignore[no-untyped-def]
        return None if value is None else self.enum(value)


def enum_column(enum: type[StrEnum], length: int, *, nullable: bool = False, **kwargs: Any) -> Column[Any]:
    """A table column holding one member of `enum`, as text no longer than `length`."""
    return Column(StringEnum(enum, length), nullable=nullable, **kwargs)
