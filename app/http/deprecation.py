"""Deprecation (RFC 9745) and Sunset (RFC 8594) headers on answers that used a deprecated part of the API.

A client that logs these headers learns that it relies on something going away, and when, without reading the
changelog; docs/developers/releases.md is the policy they follow.
"""

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from fastapi import Response

# `after=` on the organisation and agreement lists was replaced by `cursor` when every list came to page alike
# (0.3.0); it is removed in 2.0.0, and not before the sunset, at least six months after this was announced (1.0.0).
AFTER_DEPRECATED = datetime(2026, 11, 27, tzinfo=UTC)
AFTER_SUNSET = datetime(2027, 7, 1, tzinfo=UTC)
# The contract this service serves, where the parameter is marked deprecated and says what replaces it: served in
# production too, where the interactive /docs is off by default (CALDICOTT_API_DOCS).
AFTER_DOCS = "/openapi.json"

AFTER_HEADERS: dict[str, dict[str, Any]] = {
    "Deprecation": {
        "description": "Sent only when `after` was given: the date `after` was deprecated, as an RFC 9745 "
        "structured-field date (`@` and seconds since 1970). Use `cursor` instead.",
        "schema": {"type": "string", "example": f"@{int(AFTER_DEPRECATED.timestamp())}"},
    },
    "Sunset": {
        "description": "Sent only when `after` was given: the HTTP-date (RFC 8594) after which `after` may stop "
        "working; it is removed in the next major version.",
        "schema": {"type": "string", "example": format_datetime(AFTER_SUNSET, usegmt=True)},
    },
    "Link": {
        "description": 'Sent only when `after` was given: `<...>; rel="deprecation"`, the documentation of the '
        "deprecation.",
        "schema": {"type": "string"},
    },
}


def deprecate_after(response: Response, after: str | None) -> None:
    """Mark the answer to a list request that used `after=` as relying on a deprecated parameter."""
    if after is None:
        return
    response.headers["Deprecation"] = f"@{int(AFTER_DEPRECATED.timestamp())}"
    response.headers["Sunset"] = format_datetime(AFTER_SUNSET, usegmt=True)
    response.headers["Link"] = f'<{AFTER_DOCS}>; rel="deprecation"; type="application/json"'
