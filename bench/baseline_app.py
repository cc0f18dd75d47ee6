"""The baseline: the least a sharing-request submission can do, to measure the service against.

A bare ASGI app (no framework) under the same uvicorn as the service. For each POST it
reads the body, verifies the bearer token with the service's own verifier class
(app.auth.TokenVerifier, so the same python-jose HS256 check with the same claims),
inserts one row with asyncpg (the body as JSONB, like the service's stored version),
and answers 201 with the new id. No validation, no rules, no audit, no outbox.

    CALDICOTT_DATABASE_URL=postgresql+asyncpg://... CALDICOTT_JWT_SECRET=... \\
      .venv/bin/python -m uvicorn bench.baseline_app:app --host 127.0.0.1 --port 8001

The table is created here at start-up: it is the baseline's own, not the service's schema.
"""

import json
import uuid
from typing import Any

import asyncpg

from app.errors import ProblemError
from app.http.tokens import TokenVerifier
from app.platform.config import get_settings
from bench.common import asyncpg_dsn

# The service's pool holds 10 connections and lends up to 10 more under load; so does this one.
POOL_MIN, POOL_MAX = 10, 20
TABLE = """
CREATE TABLE IF NOT EXISTS baseline_requests (
    id uuid PRIMARY KEY,
    requester_org text NOT NULL,
    submitted_by text NOT NULL,
    body jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT = "INSERT INTO baseline_requests (id, requester_org, submitted_by, body) VALUES ($1, $2, $3, $4)"

settings = get_settings()
verifier = TokenVerifier(settings)
state: dict[str, asyncpg.Pool] = {}


async def reply(send: Any, status: int, document: dict[str, Any]) -> None:
    body = json.dumps(document, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            state["pool"] = await asyncpg.create_pool(asyncpg_dsn(settings.database_url), min_size=POOL_MIN, max_size=POOL_MAX)
            await state["pool"].execute(TABLE)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await state["pool"].close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """POST anything: verify the token, store the body, answer 201; GET /healthz: 200."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["method"] != "POST":
        await reply(send, 200, {"status": "ok"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    authorization = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
    try:
        principal = verifier.verify(authorization.removeprefix("Bearer "))
    except ProblemError as error:
        await reply(send, 401, {"title": error.title, "detail": error.detail})
        return
    request_id = uuid.uuid4()
    await state["pool"].execute(INSERT, request_id, principal.org, principal.sub, body.decode())
    await reply(send, 201, {"id": str(request_id), "status": "received"})
