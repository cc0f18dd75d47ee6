"""Operations, without a bearer JWT:
liveness, readiness (app/services/operations/readiness.py) and the Prometheus scrape."""

import hmac
import logging

from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import DBAPIError

from app.errors import Unauthorized, problem_doc
from app.http.dependencies import WiringDep
from app.models.base import utcnow
from app.services.operations import pod_gauges
from app.services.operations.pod_gauges import PodGauges
from app.services.operations.readiness import Readiness, readiness
from app.wiring import Wiring

router = APIRouter(tags=["Operations"])
log = logging.getLogger("caldicott.metrics")


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database is reachable and migrated; the active policy's calendar runs long enough",
    description="`degraded` (still 200) when a check in `checks` says an operator should act soon, such as a "
    "bank-holiday calendar ending within 90 days.",
    responses={
        503: problem_doc(
            "The database is unreachable, or its schema is not at this service's revision "
            "(the detail names both; run `caldicott migrate`)",
            {"Retry-After": "Seconds to wait"},
        )
    },
)
async def readyz(wiring: WiringDep) -> Readiness:
    """The readiness checks (app/services/operations/readiness.py)."""
    return await readiness(
        engine=wiring.engine, registry=wiring.policies, sessionmaker=wiring.sessionmaker, monitor=wiring.readiness
    )


@router.get(
    "/metrics",
    summary="Metrics in the Prometheus text format",
    description="No bearer JWT; when CALDICOTT_METRICS_TOKEN is set, `Authorization: Bearer <that token>` is "
    "required. Keep it off the public network.",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "The Prometheus (or OpenMetrics) exposition",
        },
        401: problem_doc(
            "CALDICOTT_METRICS_TOKEN is set and the request did not carry it",
            {"WWW-Authenticate": "The Bearer challenge"},
        ),
    },
)
async def metrics_endpoint(request: Request, wiring: WiringDep) -> Response:
    expected = wiring.settings.metrics_token
    if expected is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), expected.get_secret_value().encode()
        ):
            raise Unauthorized("the metrics token is required")
    body, content_type = wiring.metrics.render(
        request.headers.get("accept"), await _pod_gauges(wiring), commit=wiring.settings.build_commit
    )
    return Response(body, media_type=content_type)


async def _pod_gauges(wiring: Wiring) -> PodGauges | None:
    """What the database says now (the queue, the audit trail's signing, the webhook backlog, the calendar), read by
    the process answering; None (those gauges left out) when the database cannot be read."""
    try:
        async with wiring.sessionmaker() as session:
            return await pod_gauges.read(session=session, registry=wiring.policies, now=utcnow())
    except (DBAPIError, OSError) as error:
        log.warning(
            "database gauges left out of the scrape: database unavailable (%s)",
            type(getattr(error, "orig", error)).__name__,
        )
        return None
