"""HEAD on every GET: the GET's status and headers, without its body (RFC 9110 section 9.3.2).

FastAPI's routes answer only the methods they declare, so a HEAD was a 405 everywhere; declaring HEAD on each
route would double every operation in the contract. This middleware asks the app for the GET instead and drops
the body on the way out, keeping `Content-Length` as the GET's.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """Answer HEAD as the GET of the same URL would be answered, without the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)
