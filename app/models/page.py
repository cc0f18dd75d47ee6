"""The one shape of every list answer: a page of items and the cursor of the next page."""

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next, until it is null.

    A list with more to say than its items subclasses it (`class DecisionLog(Page[DecisionLogRow])`), which
    also keeps the list's schema name in the contract.
    """

    items: list[T] = Field(description="This page's items, in the list's order")
    next_cursor: str | None = Field(
        description="An opaque cursor: send it back as `cursor` for the next page; null on the last page"
    )
