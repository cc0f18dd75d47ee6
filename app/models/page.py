"""The one shape of every list answer: a page of items and the cursor of the next page."""

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next, until it is null.

    A list with more to say than its items subclasses it (`class DecisionLog(Page[DecisionLogRow])`), which
    also keeps the list's schema name in the contract.
    """

    items: list[T]
    next_cursor: str | None
