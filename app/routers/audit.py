"""The audit trail for auditors: list its events, and verify that none has been altered."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth import AuditorPrincipal
from app.db import SessionDep
from app.errors import INVALID_INPUT, PROBLEM_RESPONSES
from app.models.actions import AuditAction
from app.models.audit import AuditEventPage, AuditVerification
from app.models.base import STORABLE_TEXT
from app.services import reports

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=PROBLEM_RESPONSES)


@router.get("/events", summary="Audit events in chain order (oldest first), filtered and paginated", responses=INVALID_INPUT)
async def list_audit_events(
    session: SessionDep,
    auditor: AuditorPrincipal,
    request_id: Annotated[str | None, Query(max_length=36, pattern=STORABLE_TEXT, description="Events about this sharing request")] = None,
    actor: Annotated[str | None, Query(max_length=200, pattern=STORABLE_TEXT, description="The actor's subject (`sub`)")] = None,
    organisation: Annotated[str | None, Query(max_length=32, pattern=STORABLE_TEXT, description="The actor's organisation (`org`)")] = None,
    action: AuditAction | None = None,
    from_: Annotated[str | None, Query(alias="from", max_length=40, description="A date (Europe/London, inclusive) or a date-time with an offset")] = None,
    to: Annotated[str | None, Query(max_length=40, description="A date (Europe/London, inclusive) or a date-time with an offset")] = None,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor from the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AuditEventPage:
    """Chained events only: an event recorded moments ago may still be pending (counted as `pending` by `GET /v1/audit/verify`)."""
    since, until = reports.period(from_=from_, to=to)
    return await reports.audit_events(
        session=session,
        auditor=auditor,
        request_id=request_id,
        actor_sub=actor,
        actor_org=organisation,
        action=action,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )


@router.get("/verify", summary="Recompute the hash chain of the whole trail and report where it first breaks")
async def verify_audit_trail(session: SessionDep, auditor: AuditorPrincipal) -> AuditVerification:
    """`valid` covers the chained events; events recorded but not chained yet are counted in `pending` and never make it false."""
    return await reports.audit_verification(session=session, auditor=auditor)
