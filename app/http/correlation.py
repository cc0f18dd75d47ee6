"""The correlation id of the HTTP request being served: taken from X-Request-ID or made up, and echoed."""

import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.platform import logs

HEADER = "X-Request-ID"
# Only a plain token is trusted: the id lands in the audit trail and in logs.
SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


class CorrelationMiddleware:
    """Pure ASGI middleware: sets the correlation id for the request and echoes it in the response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER.lower().encode(), b"").decode("latin-1")
        correlation_id = given if SANE_ID.fullmatch(given) else str(uuid.uuid4())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = correlation_id
            await send(message)

        with logs.correlated(correlation_id):
            await self.app(scope, receive, send_with_id)
