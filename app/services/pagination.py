"""Keyset pagination: an opaque cursor holding the sort key of the last row seen.

Every list calls `keyset_page` with its ordering columns (`ascending(column, kind)`/`descending(column, kind)`,
kind being the Python type its cursor value must have) and a function giving a row's sort key in the same order.
"""

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import ColumnElement, and_, or_

from app.errors import InvalidInput

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession
    from sqlmodel.sql.expression import Select, SelectOfScalar

Row = TypeVar("Row")


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
    """One page of the query's rows in `order` after the cursor's row, and the cursor of the next page (None at the end).

    `order` must end in a unique column so that the key names one row; `key(row)` gives that row's values of
    the order columns. A cursor this list did not issue is a 422 naming `cursor`.
    """
    if cursor is not None:
        query = query.where(after_key(order, cursor_key(cursor, order)))
    query = query.order_by(*(column.ordered() for column in order)).limit(limit + 1)
    rows = list((await session.exec(query)).all())
    return cut(rows, key=key, limit=limit)


def cursor_key(cursor: str, order: Order) -> tuple[Any, ...]:
    """The sort key a cursor holds, checked against the order's types; 422 naming `cursor` otherwise."""
    return tuple(decode_cursor(cursor, *(column.kind for column in order)))


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
