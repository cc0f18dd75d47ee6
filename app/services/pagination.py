"""Keyset pagination: an opaque cursor holding the sort key of the last row seen."""

import base64
import json
from typing import Any

from app.errors import InvalidInput


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    """Read a cursor made by encode_cursor, or answer 422 naming `cursor`."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        raise InvalidInput("cursor", "not a cursor this service issued", location="query") from None
    if not isinstance(key, list) or len(key) != size:
        raise InvalidInput("cursor", "not a cursor this service issued", location="query")
    return key
