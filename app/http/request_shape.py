"""What every request must look like before an operation reads it: only the query parameters the operation
declares, each single-value one once, and a JSON body sent as JSON.

One dependency for every route (added to the app as a whole, so no route can forget it); it learns each route's
query parameters and body from FastAPI's own dependant of the route, once per route.
"""

import email.message
import types
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from fastapi import Request, params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from app.errors import BadRequest, FieldError, UnsupportedContentType

REPEATABLE = (list, set, frozenset, tuple)
ONCE = "takes one value; it was sent more than once"


@dataclass(frozen=True, slots=True)
class RequestShape:
    """A route's query parameters (by the name sent), which of them take one value, and whether it reads JSON."""

    query: frozenset[str]
    single: frozenset[str]
    json_body: bool


# By the route's id (routes are not hashable), the route kept beside its shape so that the id stays its own.
_SHAPES: dict[int, tuple[APIRoute, RequestShape]] = {}


def _repeatable(annotation: Any) -> bool:
    """True for a list-like annotation (`list[str] | None` included): such a parameter may be sent several times."""
    options = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    return any(option in REPEATABLE or get_origin(option) in REPEATABLE for option in options)


def _query_fields(dependant: Dependant) -> list[Any]:
    """The query parameters of the route and of every dependency it solves."""
    fields, pending = [], [dependant]
    while pending:
        current = pending.pop()
        fields.extend(current.query_params)
        pending.extend(current.dependencies)
    return fields


def shape_of(route: APIRoute) -> RequestShape:
    """The route's shape, worked out from its dependant the first time it is asked for."""
    known = _SHAPES.get(id(route))
    if known is not None:
        return known[1]
    fields = _query_fields(route.dependant)
    body = route.body_field
    shape = RequestShape(
        query=frozenset(field.alias for field in fields),
        single=frozenset(field.alias for field in fields if not _repeatable(field.field_info.annotation)),
        json_body=body is not None and not isinstance(body.field_info, params.Form),
    )
    _SHAPES[id(route)] = (route, shape)
    return shape


def media_type(content_type: str) -> email.message.Message:
    """A Content-Type read as the standard library reads one: its type, subtype and parameters (a boundary)."""
    message = email.message.Message()
    message["content-type"] = content_type
    return message


def is_json(content_type: str) -> bool:
    """`application/json` or any `application/*+json`, parameters (charset) allowed."""
    message = media_type(content_type)
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def query_errors(request: Request, shape: RequestShape) -> list[FieldError]:
    """A field error for each query parameter the route does not declare, and each single-value one sent twice."""
    errors = []
    for name in dict.fromkeys(request.query_params.keys()):
        if name not in shape.query:
            errors.append(FieldError(field=name, location="query", message="not a parameter of this operation"))
        elif name in shape.single and len(request.query_params.getlist(name)) > 1:
            errors.append(FieldError(field=name, location="query", message=ONCE))
    return errors


async def check_request_shape(request: Request) -> None:
    """Refuse (400) query parameters the operation does not take or takes once, and (415) a body that is not JSON
    where the operation reads JSON; everything else is the operation's own validation."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    shape = shape_of(route)
    errors = query_errors(request, shape)
    if errors:
        raise BadRequest("; ".join(f"{error.field}: {error.message}" for error in errors), errors=errors)
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    if shape.json_body and has_body:
        content_type = request.headers.get("content-type")
        if content_type is None or not is_json(content_type):
            raise UnsupportedContentType(
                f"the body must be sent as application/json, not {(content_type or 'without a Content-Type')[:100]}"
            )
