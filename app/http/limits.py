"""The request body limit: a body over 256 KiB is refused with 413 before anything parses it."""

import re

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import PayloadTooLarge, problem_response

MAX_BODY_BYTES = 256 * 1024
# Routes that read their own body as a stream and bound it themselves (app/http/multipart.py): an upload
# of evidence, up to CALDICOTT_ATTACHMENT_MAX_BYTES. POST to these paths only; every other request is counted here.
STREAMED_UPLOADS = (
    re.compile(r"/v1/sharing-requests/[^/]+/attachments"),
    re.compile(r"/v1/sharing-agreements/[^/]+/attachments"),
)


class BodyLimitMiddleware:
    """Pure ASGI middleware: trusts no Content-Length, counts what arrives, and hands the app the whole body at once."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or streams_its_own_body(scope):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the request body is larger than {self.max_bytes // 1024} KiB"
        # The rest of the body is never read, so the connection cannot be reused.
        headers = {"Connection": "close"}
        response = problem_response(
            Request(scope),
            PayloadTooLarge.status_code,
            PayloadTooLarge.title,
            PayloadTooLarge.slug,
            detail,
            headers=headers,
        )
        await response(scope, receive, send)


def streams_its_own_body(scope: Scope) -> bool:
    """Whether the request goes to a route that streams and limits its own body (STREAMED_UPLOADS)."""
    return scope["method"] == "POST" and any(route.fullmatch(scope["path"]) for route in STREAMED_UPLOADS)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the buffered body once, then whatever the client sends next (its disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
