"""One error base and its handlers: every error leaves as RFC 9457 application/problem+json."""

import logging
from datetime import datetime
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Relative references (RFC 9457 3.1.1 allows them, with the full path): the same identifier on every deployment,
# resolved against the request's URL to the page app/routers/problems.py serves.
PROBLEM_TYPE_BASE = "/problems/"
# A body of ten thousand bad items was answered with 1.6 MB of problem: the first errors say what is wrong.
MAX_LISTED_ERRORS = 50

log = logging.getLogger("caldicott.errors")


class FieldError(BaseModel):
    field: str = Field(
        description="The field at fault, as a dotted path such as `consent.capacity` or `data_items.0.category`."
    )
    location: str = Field(description="Where the field is: `body`, `query`, `path` or `header`.")
    message: str = Field(description="What is wrong with it, in plain English.")


class Problem(BaseModel):
    """RFC 9457 problem details, with `errors` naming each bad field."""

    type: str = Field(
        description="The problem type: a URI reference, `/problems/{name}`, that resolves against the request's URL to "
        "a page saying what the problem means and what to do; "
        "`about:blank` when the status code says all there is to say",
        json_schema_extra={"format": "uri-reference"},
    )
    title: str = Field(description="A short summary of the problem type; the same for every problem of the type.")
    status: int = Field(description="The HTTP status code, repeated from the response.")
    detail: str | None = Field(
        default=None, description="What went wrong this time, in plain English; null when the title says it all."
    )
    instance: str | None = Field(
        default=None, description="The path of the request that failed; null when none applies."
    )
    errors: list[FieldError] | None = Field(
        default=None, description=f"The bad fields: the first {MAX_LISTED_ERRORS} found"
    )
    error_count: int | None = Field(default=None, description="With `errors`: how many bad fields were found in all")
    current_status: str | None = Field(
        default=None,
        description=(
            "On a 409 for a move the request's state does not allow: the request's current status; null otherwise."
        ),
    )
    current_etag: str | None = Field(
        default=None, description="On a 412: the resource's current ETag, to read it again and retry with"
    )
    held_by: str | None = Field(
        default=None,
        description="On a 409 to a claim: the token subject (`sub`) of the guardian who holds the claim on the request",
    )
    held_until: datetime | None = Field(
        default=None,
        description="On a 409 to a claim: when that claim lapses if the guardian has not acted; the request may be "
        "claimed from then",
    )
    quota: str | None = Field(
        default=None,
        description="On a refused upload (409 `attachment-quota`, 429 `attachment-day-quota`): the limit reached, "
        "`attachments_per_request`, `attachment_bytes_per_request` or `attachment_bytes_per_org_per_day` (the "
        "setting of that name, CALDICOTT_ATTACHMENTS_PER_REQUEST and so on); null otherwise",
    )
    quota_limit: int | None = Field(
        default=None, description="With `quota`: the limit, in attachments or in bytes as its name says"
    )
    quota_used: int | None = Field(
        default=None,
        description="With `quota`: how much of it was already used before this upload (attachments, or bytes); the "
        "refused upload itself is not counted",
    )


class ProblemError(Exception):
    """Base of every error the service raises on purpose."""

    status_code = 500
    title = "Internal server error"
    slug = "internal"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        current_status: str | None = None,
        current_etag: str | None = None,
        extensions: dict[str, Any] | None = None,
    ):
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors
        self.headers = headers
        self.current_status = current_status
        self.current_etag = current_etag
        self.extensions = extensions or {}  # further members of the Problem model (held_by, held_until)


class BadRequest(ProblemError):
    """A request the service cannot read as sent: a query parameter the operation does not take (or takes once,
    sent twice), or a body that is not well-formed JSON."""

    status_code = 400
    title = "Bad request"
    slug = "bad-request"


class UnsupportedContentType(ProblemError):
    """A body sent as something other than JSON to an operation that reads JSON."""

    status_code = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"

    def __init__(self, message: str):
        super().__init__(
            f"Content-Type: {message}", errors=[FieldError(field="Content-Type", location="header", message=message)]
        )


class Unauthorized(ProblemError):
    status_code = 401
    title = "Authentication required"
    slug = "unauthorized"

    def __init__(self, detail: str | None = None):
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


class Forbidden(ProblemError):
    status_code = 403
    title = "Forbidden"
    slug = "forbidden"


class NotFound(ProblemError):
    status_code = 404
    title = "Not found"
    slug = "not-found"


class Conflict(ProblemError):
    status_code = 409
    title = "Conflict"
    slug = "conflict"


class PreconditionFailed(ProblemError):
    status_code = 412
    title = "Precondition failed"
    slug = "precondition-failed"


class PreconditionRequired(ProblemError):
    status_code = 428
    title = "Precondition required"
    slug = "precondition-required"


class InvalidInput(ProblemError):
    status_code = 422
    title = "Invalid request"
    slug = "validation"

    def __init__(self, field: str, message: str, *, location: str = "body"):
        super().__init__(f"{field}: {message}", errors=[FieldError(field=field, location=location, message=message)])


class MethodNotAllowed(ProblemError):
    status_code = 405
    title = "Method not allowed"
    slug = "method-not-allowed"


class NotAcceptable(ProblemError):
    status_code = 406
    title = "Not acceptable"
    slug = "not-acceptable"


class PayloadTooLarge(ProblemError):
    status_code = 413
    title = "Request body too large"
    slug = "too-large"


class TooManyRequests(ProblemError):
    status_code = 429
    title = "Too many requests"
    slug = "rate-limited"


class ServiceUnavailable(ProblemError):
    status_code = 503
    title = "Service unavailable"
    slug = "unavailable"


class CalendarRunOut(ServiceUnavailable):
    """A due time past the end of the active policy's bank-holiday calendar:
    refused, and nothing recorded, rather than counted wrongly."""

    title = "The policy's calendar has run out"
    slug = "calendar-run-out"


class SchemaNotMigrated(ServiceUnavailable):
    """The database schema is not at the revision this code needs: an operator must run `caldicott migrate`."""

    title = "Database schema not migrated"
    slug = "schema-not-migrated"


def problem_doc(description: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """An OpenAPI response entry for a problem document, with the headers it carries (name: what it says)."""
    entry: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if headers:
        entry["headers"] = {
            name: {"description": meaning, "schema": {"type": "string"}} for name, meaning in headers.items()
        }
    return entry


# Declared on every router that needs a token: every such operation reads the database.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: problem_doc(
        "A query parameter the operation does not take, or a single-value one sent more than once "
        "(`errors` names each); or a body that is not well-formed JSON"
    ),
    401: problem_doc("Missing, expired or invalid bearer token", {"WWW-Authenticate": "The Bearer challenge"}),
    403: problem_doc("The caller's role or organisation may not do this"),
    429: problem_doc(
        "The organisation has used its quota for this class of call (writes, reads or reports) for now",
        {
            "Retry-After": "Whole seconds to wait before retrying",
            "RateLimit": 'The quota left, as draft-ietf-httpapi-ratelimit-headers has it: `"reads";r=0;t=1` '
            "(remaining, seconds until reset)",
            "RateLimit-Policy": "The quota of this class of call: "
            '`"reads";q=5000;w=10` (requests, per window of seconds)',
        },
    ),
    503: problem_doc("The database is unavailable", {"Retry-After": "Seconds to wait before retrying"}),
}
# Added to each operation that validates query parameters, headers or a body.
INVALID_INPUT: dict[int | str, dict[str, Any]] = {
    422: problem_doc("The request does not match the vocabulary; `errors` names each field")
}
# Added to each operation that takes a body.
BODY_PROBLEMS: dict[int | str, dict[str, Any]] = INVALID_INPUT | {
    413: problem_doc("The request body is larger than 256 KiB"),
    415: problem_doc("The body was not sent as `application/json`"),
}


def problem_response(
    request: Request,
    status: int,
    title: str,
    slug: str | None,
    detail: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    current_status: str | None = None,
    error_count: int | None = None,
    current_etag: str | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    """Render one problem document (slug None: `about:blank`);
    it lists at most MAX_LISTED_ERRORS errors and counts them all."""
    if errors is not None:
        error_count, errors = len(errors) if error_count is None else error_count, errors[:MAX_LISTED_ERRORS]
    problem = Problem(
        type="about:blank" if slug is None else PROBLEM_TYPE_BASE + slug,
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=errors,
        error_count=error_count,
        current_status=current_status,
        current_etag=current_etag,
        **(extensions or {}),
    )
    return JSONResponse(
        problem.model_dump(mode="json", exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def field_path(loc: tuple[int | str, ...]) -> tuple[str, str]:
    """Turn a pydantic error location into (location, dotted field name)."""
    location, *rest = loc if loc else ("body",)
    name = ""
    for part in rest:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return str(location), name or str(location)


async def handle_problem(request: Request, exc: ProblemError) -> JSONResponse:
    return problem_response(
        request,
        exc.status_code,
        exc.title,
        exc.slug,
        exc.detail,
        exc.errors,
        exc.headers,
        exc.current_status,
        current_etag=exc.current_etag,
        extensions=exc.extensions,
    )


NOT_JSON = "the body is not well-formed UTF-8 JSON"


async def handle_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    found = exc.errors()
    if any(error.get("type") == "json_invalid" for error in found):
        # Not a value outside the vocabulary but a body that cannot be read at all: a 400, like FastAPI's own.
        return bad_body(request)
    errors = []
    for error in found[:MAX_LISTED_ERRORS]:
        location, field = field_path(tuple(error.get("loc", ())))
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        errors.append(FieldError(field=field, location=location, message=message))
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
    if len(found) > len(errors):
        detail += f"; and {len(found) - len(errors)} more"
    return problem_response(request, 422, InvalidInput.title, InvalidInput.slug, detail, errors, error_count=len(found))


def bad_body(request: Request) -> JSONResponse:
    """The 400 for a body that is not JSON at all (malformed, or not UTF-8)."""
    errors = [FieldError(field="body", location="body", message=NOT_JSON)]
    return problem_response(request, 400, BadRequest.title, BadRequest.slug, f"body: {NOT_JSON}", errors)


def allowed_methods(request: Request) -> str:
    """Every method some route of the app takes at this path (HEAD wherever GET is), for the `Allow` of a 405:
    Starlette's names only the first route matching the path, though GET and POST are often two routes."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):  # through included routers, to each route
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= route.methods or set()
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


async def handle_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400:
        # FastAPI's only 400: a body it could not decode (not UTF-8, say).
        return bad_body(request)
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": allowed_methods(request)}
    known = {404: NotFound, 405: MethodNotAllowed}.get(exc.status_code)
    if known is None:
        # Any other status has no type of ours: `about:blank`, titled with the status phrase,
        # as RFC 9457 section 4.2.1 has it.
        phrase = next((status.phrase for status in HTTPStatus if status == exc.status_code), "HTTP error")
        return problem_response(request, exc.status_code, phrase, None, str(exc.detail), headers=headers)
    return problem_response(request, exc.status_code, known.title, known.slug, str(exc.detail), headers=headers)


# SQLSTATE classes of a server that is away or turning us away for now: connection exception,
# insufficient resources, operator intervention (57P03 "the database system is starting up").
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")


def database_away(exc: DBAPIError | OSError) -> bool:
    """True when the error says the database cannot be reached now, rather than that a statement failed."""
    if isinstance(exc, OSError | OperationalError) or exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in UNAVAILABLE_SQLSTATE_CLASSES


# SQLSTATEs of a statement naming a table or column the schema does not have: undefined_table, undefined_column.
SCHEMA_BEHIND_SQLSTATES = ("42P01", "42703")


def schema_behind(exc: DBAPIError | OSError) -> bool:
    """True when the error says a table or column is missing: a schema not migrated to this code's revision."""
    if not isinstance(exc, DBAPIError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate in SCHEMA_BEHIND_SQLSTATES or str(exc.orig).startswith(
        ("no such table", "no such column")
    )  # SQLite's wording


async def handle_database_down(request: Request, exc: DBAPIError | OSError) -> JSONResponse:
    if schema_behind(exc):
        log.error(
            "the database schema is behind this service (%s): run `caldicott migrate`",
            type(getattr(exc, "orig", exc)).__name__,
        )
        detail = (
            "The database schema is not at this service's revision; an operator must run `caldicott migrate` "
            "(GET /readyz names both revisions)"
        )
        return problem_response(
            request, 503, SchemaNotMigrated.title, SchemaNotMigrated.slug, detail, headers={"Retry-After": "30"}
        )
    # asyncpg raises plain OSError when the server cannot be reached at all.
    if database_away(exc):
        log.warning("database unavailable: %s", type(getattr(exc, "orig", exc)).__name__)
        return problem_response(
            request,
            503,
            ServiceUnavailable.title,
            ServiceUnavailable.slug,
            "The database is unavailable; retry shortly",
            headers={"Retry-After": "5"},
        )
    return await handle_unexpected(request, exc)


async def handle_concurrent_change(request: Request, exc: StaleDataError) -> JSONResponse:
    # Optimistic locking lost: someone else changed the request between our read and our write;
    # a 412 to a caller who sent If-Match.
    if request.headers.get("if-match") is not None:
        detail = "the resource was changed by someone else at the same moment; read it again for its ETag and retry"
        return problem_response(request, 412, PreconditionFailed.title, PreconditionFailed.slug, detail)
    return problem_response(
        request,
        409,
        Conflict.title,
        Conflict.slug,
        "the request was changed by someone else at the same moment; reload it and retry",
    )


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        request, 500, ProblemError.title, ProblemError.slug, "An unexpected error occurred; it has been logged"
    )


def document_problems(app: FastAPI) -> None:
    """Put the Problem schema, to which every problem_doc refers, into the app's OpenAPI document,
    in place of FastAPI's own."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()  # cached by FastAPI, so this is done once
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        if "Problem" not in schemas:
            problem = Problem.model_json_schema(mode="serialization", ref_template="#/components/schemas/{model}")
            schemas.update(problem.pop("$defs"))
            schemas["Problem"] = problem
            # FastAPI adds a 422 of its own shape to any operation with parameters;
            # ours are declared where they can happen.
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    if "application/json" in operation.get("responses", {}).get("422", {}).get("content", {}):
                        del operation["responses"]["422"]
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def install_problem_handlers(app: FastAPI) -> None:
    """Route every kind of error to the problem renderer, and describe problems in the OpenAPI document."""
    document_problems(app)
    app.add_exception_handler(ProblemError, handle_problem)
    app.add_exception_handler(RequestValidationError, handle_validation)
    app.add_exception_handler(StarletteHTTPException, handle_http)
    app.add_exception_handler(StaleDataError, handle_concurrent_change)
    app.add_exception_handler(DBAPIError, handle_database_down)
    app.add_exception_handler(OSError, handle_database_down)
    app.add_exception_handler(Exception, handle_unexpected)
