"""The correlation id of the HTTP request being served: taken from X-Request-ID, or else X-Correlation-ID, or made up;
and echoed under the header it came in.

Both names are in use among partners' gateways. X-Request-ID wins when a request carries both; the answer carries
the id under the header the caller used (X-Request-ID when it sent neither), so a caller finds it where it put it.
"""

import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.platform import logs

HEADER = "X-Request-ID"
ALTERNATIVE_HEADER = "X-Correlation-ID"
# Only a plain token is trusted: the id lands in the audit trail and in logs.
SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def correlation_of(headers: dict[bytes, bytes]) -> tuple[str, str]:
    """The header the id is answered under, and the id: the caller's when it is a plain token, else a new UUID."""
    name = HEADER
    given = headers.get(HEADER.lower().encode())
    if given is None and (alternative := headers.get(ALTERNATIVE_HEADER.lower().encode())) is not None:
        name, given = ALTERNATIVE_HEADER, alternative
    text = (given or b"").decode("latin-1")
    return name, text if SANE_ID.fullmatch(text) else str(uuid.uuid4())


class CorrelationMiddleware:
    """Pure ASGI middleware: sets the correlation id for the request and echoes it in the response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header, correlation_id = correlation_of(dict(scope["headers"]))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[header] = correlation_id
            await send(message)

        with logs.correlated(correlation_id):
            await self.app(scope, receive, send_with_id)
