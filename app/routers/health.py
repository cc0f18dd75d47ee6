"""Liveness and readiness probes, without authentication."""

from fastapi import APIRouter, Request
from sqlalchemy import text

from app.errors import ServiceUnavailable, problem_doc

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database is reachable", responses={503: problem_doc("The database is unreachable", {"Retry-After": "Seconds to wait"})})
async def readyz(request: Request) -> dict[str, str]:
    try:
        async with request.app.state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:  # any failure to reach the database means not ready
        raise ServiceUnavailable("the database is unreachable", headers={"Retry-After": "5"}) from None
    return {"status": "ok", "database": "reachable"}
