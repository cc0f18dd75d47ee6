"""Keyset pagination: an opaque cursor holding the sort key of the last row seen.

Every list calls `keyset_page` with its ordering columns (`ascending(column, kind)`/`descending(column, kind)`,
kind being the Python type its cursor value must have) and a function giving a row's sort key in the same order.
"""

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import BigInteger, ColumnElement, Integer, SmallInteger, and_, null, or_

from app.errors import InvalidInput

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession
    from sqlmodel.sql.expression import Select, SelectOfScalar

Row = TypeVar("Row")
# Every list's `cursor` parameter takes at most 500 characters; so a forged cursor nests at most 384 deep,
# inside json's recursion limit.
MAX_CURSOR_CHARS = 512


@dataclass(frozen=True)
class SortColumn:
    """One column of a list's order; `kind` is the type of its value in a cursor (str, int or datetime)."""

    column: ColumnElement[Any]
    kind: type
    descending: bool = False

    def after(self, value: Any) -> ColumnElement[bool]:
        return self.column < value if self.descending else self.column > value

    def ordered(self) -> ColumnElement[Any]:
        return self.column.desc() if self.descending else self.column.asc()


def ascending(column: Any, kind: type) -> SortColumn:
    """Smallest first."""
    return SortColumn(column, kind)


def descending(column: Any, kind: type) -> SortColumn:
    """Largest first."""
    return SortColumn(column, kind, descending=True)


Order = Sequence[SortColumn]


async def keyset_page(
    session: "AsyncSession",
    query: "Select[Any] | SelectOfScalar[Any]",
    *,
    order: Order,
    key: Callable[[Any], tuple[Any, ...]],
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], str | None]:
    """One page of the query's rows in `order` after the cursor's row,
    and the cursor of the next page (None at the end).

    `order` must end in a unique column so that the key names one row; `key(row)` gives that row's values of
    the order columns. A cursor this list did not issue is a 422 naming `cursor`.
    """
    if cursor is not None:
        query = query.where(after_key(order, cursor_key(cursor, order)))
    query = query.order_by(*(column.ordered() for column in order)).limit(limit + 1)
    rows = list((await session.exec(query)).all())
    return cut(rows, key=key, limit=limit)


def sorted_page(
    rows: Sequence[Row], *, kinds: Sequence[type], key: Callable[[Row], tuple[Any, ...]], cursor: str | None, limit: int
) -> tuple[list[Row], str | None]:
    """One page of rows already sorted by `key` in memory (a list merged from several tables), after the cursor's
    row: the same cursors, validated the same way, as `keyset_page`; `kinds` are the types of the key's values."""
    if cursor is not None:
        after = cursor_key(cursor, [SortColumn(null(), kind) for kind in kinds])
        rows = [row for row in rows if key(row) > after]
    return cut(rows[: limit + 1], key=key, limit=limit)


def cursor_key(cursor: str, order: Order) -> tuple[Any, ...]:
    """The sort key a cursor holds, as values the order's columns can be compared with;
    422 naming `cursor` otherwise."""
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError("too long")
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(order):
            raise ValueError("wrong shape")
        # Every way a forged value fails (bad base64 or UTF-8, a time off the calendar,
        # a lone surrogate) is one of these.
        return tuple(_read(column, value) for column, value in zip(order, values, strict=True))
    except (ValueError, TypeError, OverflowError):
        raise InvalidInput("cursor", "not a cursor this service issued", location="query") from None


def after_key(order: Order, values: Sequence[Any]) -> ColumnElement[bool]:
    """The rows that come after the one with these key values, in this order (ties broken column by column)."""
    branches = []
    for index, column in enumerate(order):
        ties = [earlier.column == value for earlier, value in zip(order[:index], values[:index], strict=True)]
        branches.append(and_(*ties, column.after(values[index])))
    return or_(*branches)


def cut(rows: Sequence[Row], *, key: Callable[[Row], tuple[Any, ...]], limit: int) -> tuple[list[Row], str | None]:
    """The first `limit` of up to `limit + 1` sorted rows, and the next page's cursor when there were more."""
    page = list(rows[:limit])
    return page, encode_cursor(*key(page[-1])) if len(rows) > limit else None


def encode_cursor(*key: Any) -> str:
    """An opaque cursor for a sort key; datetimes travel as ISO-8601."""
    values = [value.isoformat() if isinstance(value, datetime) else value for value in key]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _read(column: SortColumn, value: Any) -> Any:
    """One value of a cursor, refused unless it is of the column's kind and the database can bind and compare it."""
    if column.kind is datetime:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("naive time")
        # Compared in UTC: a time that leaves the calendar there
        # (year 1 at +01:00) raises OverflowError here, not in the driver.
        return moment.astimezone(UTC)
    if not isinstance(value, column.kind) or isinstance(value, bool):
        raise TypeError(f"expected {column.kind.__name__}")
    if isinstance(value, str) and not _storable(value):
        raise ValueError("text we never issue")
    if isinstance(value, int):
        bound = 2 ** (_integer_bits(column.column) - 1)
        if not -bound <= value < bound:
            raise ValueError("past the column's integers")
    return value


def _integer_bits(column: ColumnElement[Any]) -> int:
    """How wide the column's integers are on PostgreSQL (SQLite's are 64 bits,
    but we never issue a key past the column)."""
    if isinstance(column.type, SmallInteger):
        return 16
    if isinstance(column.type, BigInteger) or not isinstance(column.type, Integer):
        return 64
    return 32


def _storable(text: str) -> bool:
    """PostgreSQL text holds no NUL, and a lone surrogate has no UTF-8 form for any database to take."""
    return "\x00" not in text and not any("\ud800" <= char <= "\udfff" for char in text)
