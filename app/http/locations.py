"""`Location` on a 201: the OpenAPI entry that documents it, and the header itself."""

from typing import Any

from fastapi import Response


def created(description: str, location: str) -> dict[int | str, dict[str, Any]]:
    """An OpenAPI 201 entry whose `Location` header is described by `location` (where the created thing can be read)."""
    return {
        201: {
            "description": description,
            "headers": {"Location": {"description": location, "schema": {"type": "string"}}},
        }
    }


def locate(response: Response, path: str) -> None:
    """Put the URL (an absolute path) of what the request created, or of the resource that shows it, on the answer."""
    response.headers["Location"] = path
