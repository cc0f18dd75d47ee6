"""Idempotency-Key on every POST that creates or changes something: a retry with the same key and body gets the answer
first given (`Idempotent-Replayed: true`) and changes nothing again.

One mechanism, a route class: the routers whose POSTs change things are made with `route_class=IdempotentRoute`, and
each such POST (but those marked `changes_nothing`) gets

- a dependency that reads the key, looks it up for the caller's organisation (app/services/operations/idempotency.py)
  and either lets the request go on, answers it again (`Replay`), or refuses the key used for another request (422);
- a handler around FastAPI's that, when a key was sent, owns the request's transaction (app/http/session.py yields it
  to the route): the answer is recorded in it with the change, and committed before the answer is sent, so a change
  and the record of its answer are kept together or not at all. Two requests racing with one key record one change:
  the other is a 409 (retry, and get the answer).

What is replayed is what was first sent: the status, the body, and the `Location` and `ETag` that went with that body;
the resource may have moved on since (a GET tells its current state and ETag).
"""

import contextlib
import hashlib
import hmac
import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import IntegrityError
from starlette.background import BackgroundTasks

from app.canonical import canonical_json
from app.errors import Conflict, problem_doc
from app.http.request_shape import is_json, media_type
from app.http.roles import CurrentPrincipal
from app.http.session import OWNED_SESSION, SessionDep
from app.models.base import STORABLE_TEXT
from app.models.idempotency import IdempotencyRecord
from app.platform.db import AUDIT_RECORDED
from app.services.operations import idempotency
from app.services.operations.idempotency import HEADER, KeyUse
from app.wiring import wiring_of

CHANGES_NOTHING = "__changes_nothing__"
KEY_USE = "idempotency_key_use"  # request.state: the key sent, once looked up and not found
REPLAYED = "Idempotent-Replayed"
# The headers of an answer that say what it was about; replayed with its body.
KEPT_HEADERS = ("location", "etag", "content-type")
# Documented on every POST that takes a key.
KEY_PROBLEMS: dict[int | str, dict[str, Any]] = {
    409: problem_doc("A request with the same Idempotency-Key is being recorded at this moment: retry shortly"),
    422: problem_doc("The Idempotency-Key was already used with another request (another body, method or path)"),
}
# The answer header of a replay; documented on the routes whose 2xx lists its headers.
REPLAYED_HEADER = {
    REPLAYED: {
        "description": "`true` when this repeats the answer first given to the same Idempotency-Key",
        "schema": {"type": "string"},
    }
}
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=200,
        pattern=STORABLE_TEXT,
        description="Makes a retry safe: the same key with the same body, within CALDICOTT_IDEMPOTENCY_KEY_HOURS "
        "(24 by default), gets the answer first given (with `Idempotent-Replayed: true`) and changes nothing again; "
        "the same key with another request is a 422. Keys are per organisation.",
    ),
]


Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def changes_nothing(endpoint: Endpoint) -> Endpoint:
    """Mark a POST that changes nothing (a dry run, a report): it takes no Idempotency-Key."""
    setattr(endpoint, CHANGES_NOTHING, True)
    return endpoint


class Replay(Exception):  # noqa: N818 (not an error: the way out of the handler with the answer first given)
    """Raised by the key's dependency: answer with the recorded answer instead."""

    def __init__(self, record: IdempotencyRecord):
        super().__init__(record.key)
        self.answer = replayed(record)  # read now: the rollback that follows expires the row


def body_hashes(request: Request, body: bytes) -> dict[int, str]:
    """Keyed hashes (HMAC-SHA256 with each configured subject key, by version) of what the body says: JSON
    canonicalised (key order and spacing are not a different request), a multipart body without its boundary (a
    retry builds a new one), anything else byte for byte. Keyed, because a submission's body holds subject
    identifiers: a plain hash of it could be tested against every NHS number by anyone holding the stored,
    de-identified, rest of the body. Every version, so that a retry across a key rotation is still recognised."""
    content_type = request.headers.get("content-type", "")
    said = body
    if is_json(content_type):
        with contextlib.suppress(ValueError):  # not JSON after all: refused by the route, hashed as bytes meanwhile
            said = canonical_json(json.loads(body))
    message = media_type(content_type)
    boundary = message.get_param("boundary")
    if message.get_content_maintype() == "multipart" and isinstance(boundary, str) and boundary:
        said = body.replace(boundary.encode("latin-1"), b"")
    keyring = wiring_of(request.app).settings.subject_keyring
    return {version: hmac.new(key, said, hashlib.sha256).hexdigest() for version, key in keyring.keys.items()}


async def check_key(
    request: Request, session: SessionDep, principal: CurrentPrincipal, key: IdempotencyKey = None
) -> None:
    """Look the key up: unknown, the request goes on (and its answer is recorded); known with this request, its
    answer is given again; known with another request, a 422 naming the header."""
    if key is None:
        return
    use = KeyUse(
        org=principal.org,
        key=key,
        method=request.method,
        path=request.url.path,
        hashes=body_hashes(request, await request.body()),
        key_version=wiring_of(request.app).settings.subject_keyring.current,
    )
    found = await idempotency.earlier(session=session, use=use)
    if found is not None:
        raise Replay(found)
    setattr(request.state, KEY_USE, use)


def replayed(record: IdempotencyRecord) -> Response:
    """The answer first given, marked as a repeat."""
    return Response(content=record.body, status_code=record.status_code, headers=record.headers | {REPLAYED: "true"})


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


async def answered_once(request: Request, handler: Handler) -> Response:
    """Run the route in a transaction of its own, record its answer under the key in it, and commit before answering."""
    wiring = wiring_of(request.app)
    async with wiring.sessionmaker() as session:
        setattr(request.state, OWNED_SESSION, session)
        try:
            response = await handler(request)
        except Replay as replay:
            await session.rollback()
            return replay.answer
        except BaseException:
            await session.rollback()
            raise
        use: KeyUse | None = getattr(request.state, KEY_USE, None)
        if use is not None and 200 <= response.status_code < 300:
            headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
            body = bytes(getattr(response, "body", b"")).decode()
            session.add(use.record(status_code=response.status_code, body=body, headers=headers, hours=_hours(request)))
            try:
                await session.flush()  # the key's unique index answers here: a request racing with this key won
            except IntegrityError:
                await session.rollback()
                raise Conflict("a request with this Idempotency-Key is being recorded; retry shortly") from None
        await session.commit()
        if session.sync_session.info.pop(AUDIT_RECORDED, False):
            _after(response, wiring.chainer.settle)
    return response


def _hours(request: Request) -> int:
    return wiring_of(request.app).settings.idempotency_key_hours


def _after(response: Response, task: Callable[[], Coroutine[Any, Any, Any]]) -> None:
    """Run `task` once the answer is sent, after whatever the route already runs then."""
    tasks = BackgroundTasks()
    if response.background is not None:
        tasks.add_task(response.background)
    tasks.add_task(task)
    response.background = tasks


class IdempotentRoute(APIRoute):
    """A route whose POST, unless marked `changes_nothing`, takes an Idempotency-Key."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        self.takes_key = "POST" in (kwargs.get("methods") or ()) and not getattr(endpoint, CHANGES_NOTHING, False)
        if self.takes_key:
            kwargs["dependencies"] = [*(kwargs.get("dependencies") or ()), Depends(check_key)]
            kwargs["responses"] = KEY_PROBLEMS | (kwargs.get("responses") or {})
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        if not getattr(self, "takes_key", False):
            return handler

        async def route(request: Request) -> Response:
            if HEADER.lower() not in request.headers:
                return await handler(request)
            return await answered_once(request, handler)

        return route
