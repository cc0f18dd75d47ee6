"""The FastAPI baseline: a plain FastAPI endpoint doing the least a submission can do, to measure the service against.

One route, `POST /v1/sharing-requests`, written as a FastAPI tutorial would: the service's own
request body model (app.models.request_body.SharingRequestBody) as the endpoint's body
parameter, so FastAPI reads, parses and validates the same 40-odd fields as the service; the
bearer token checked by a dependency with the service's own verifier (app.auth.TokenVerifier,
the same python-jose HS256 check with the same claims); one INSERT through an asyncpg pool
(the validated body as JSONB); 201 with the new id. No rules, no audit, no outbox, no ORM.
Served by bench/serve.py under the same uvicorn options as `caldicott serve`.

    CALDICOTT_DATABASE_URL=postgresql+asyncpg://... CALDICOTT_JWT_SECRET=... \\
      .venv/bin/python -m bench.serve bench.fastapi_baseline:app --port 8002

The table is created at start-up, as bench/baseline_app.py's (the same table and statement).
"""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import asyncpg
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.errors import ProblemError
from app.http.tokens import TokenVerifier
from app.models.request_body import SharingRequestBody
from app.platform.config import get_settings
from app.principal import Principal
from bench.baseline_app import INSERT, POOL_MAX, POOL_MIN, TABLE
from bench.common import asyncpg_dsn

settings = get_settings()
verifier = TokenVerifier(settings)
bearer = HTTPBearer(auto_error=False)


@asynccontextmanager
async def lifespan(application: FastAPI) -> AsyncIterator[None]:
    async with asyncpg.create_pool(asyncpg_dsn(settings.database_url), min_size=POOL_MIN, max_size=POOL_MAX) as pool:
        await pool.execute(TABLE)
        application.state.pool = pool
        yield


app = FastAPI(title="FastAPI baseline", lifespan=lifespan)


async def caller(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
    """The verified caller, or 401 (async, as the service's dependencies are, so FastAPI runs it on the event loop)."""
    try:
        return verifier.verify(credentials.credentials if credentials is not None else "")
    except ProblemError as error:
        raise HTTPException(status_code=401, detail=error.detail) from error


@app.post("/v1/sharing-requests", status_code=201)
async def submit(body: SharingRequestBody, principal: Annotated[Principal, Depends(caller)], request: Request) -> dict[str, str]:
    request_id = uuid.uuid4()
    await request.app.state.pool.execute(INSERT, request_id, principal.org, principal.sub, body.model_dump_json())
    return {"id": str(request_id), "status": "received"}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
