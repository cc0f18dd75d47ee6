"""Keyset pagination: an opaque cursor holding the sort key of the last row seen."""

import base64
import json
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from app.errors import InvalidInput


def encode_cursor(*key: Any) -> str:
    """An opaque cursor for a sort key; datetimes travel as ISO-8601."""
    values = [value.isoformat() if isinstance(value, datetime) else value for value in key]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *kinds: type) -> list[Any]:
    """Read a cursor made by encode_cursor back into values of the given types, or answer 422 naming `cursor`."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(kinds):
            raise ValueError("wrong shape")
        key = [_read(kind, value) for kind, value in zip(kinds, values, strict=True)]
    except (ValueError, TypeError):
        raise InvalidInput("cursor", "not a cursor this service issued", location="query") from None
    return key


def _read(kind: type, value: Any) -> Any:
    if kind is datetime:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("naive time")
        return moment
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"expected {kind.__name__}")
    # We never issue these, and the database could not compare them: a NUL, an integer past 64 bits.
    if (isinstance(value, str) and "\x00" in value) or (isinstance(value, int) and not -(2**63) <= value < 2**63):
        raise ValueError("not a value of ours")
    return value


def older_than(cursor: str, moment: ColumnElement[datetime], key: ColumnElement[str]) -> ColumnElement[bool]:
    """For newest-first pages ordered by (moment, key) descending: the rows after the cursor's row."""
    after, last_key = decode_cursor(cursor, datetime, str)
    return or_(moment < after, and_(moment == after, key < last_key))


def newer_than(cursor: str, moment: ColumnElement[datetime], key: ColumnElement[str]) -> ColumnElement[bool]:
    """For oldest-first pages ordered by (moment, key) ascending: the rows after the cursor's row."""
    after, last_key = decode_cursor(cursor, datetime, str)
    return or_(moment > after, and_(moment == after, key > last_key))
