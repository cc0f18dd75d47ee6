"""The audit trail for auditors: list its events and signed checkpoints, and verify that none has been altered;
its public keys for anyone."""

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from app.errors import BODY_PROBLEMS, INVALID_INPUT, PROBLEM_RESPONSES, NotFound, problem_doc
from app.http.dependencies import AuditKeysDep, PageCursor, PageLimit
from app.http.roles import AuditorPrincipal
from app.http.session import SessionDep
from app.models.actions import AuditAction
from app.models.audit import AuditEventPage, AuditVerification, CheckpointPage, CheckpointPublic, WitnessCheckpoints
from app.models.base import STORABLE_TEXT
from app.services.audit import checkpoints
from app.services.reports import decision_log as reports

router = APIRouter(prefix="/v1/audit", tags=["Audit"], responses=PROBLEM_RESPONSES)
# No token and no rate limit: a witness checks a checkpoint with these keys alone.
public_router = APIRouter(prefix="/v1/audit", tags=["Audit"])
JWK_SET_MEDIA_TYPE = "application/jwk-set+json"


@router.get(
    "/events", summary="Audit events in chain order (oldest first), filtered and paginated", responses=INVALID_INPUT
)
async def list_audit_events(
    session: SessionDep,
    auditor: AuditorPrincipal,
    request_id: Annotated[
        str | None, Query(max_length=36, pattern=STORABLE_TEXT, description="Events about this sharing request")
    ] = None,
    actor: Annotated[
        str | None, Query(max_length=200, pattern=STORABLE_TEXT, description="The actor's subject (`sub`)")
    ] = None,
    organisation: Annotated[
        str | None, Query(max_length=32, pattern=STORABLE_TEXT, description="The actor's organisation (`org`)")
    ] = None,
    action: AuditAction | None = None,
    from_: Annotated[
        str | None,
        Query(
            alias="from", max_length=40, description="A date (Europe/London, inclusive) or a date-time with an offset"
        ),
    ] = None,
    to: Annotated[
        str | None, Query(max_length=40, description="A date (Europe/London, inclusive) or a date-time with an offset")
    ] = None,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
) -> AuditEventPage:
    """Chained events only: an event recorded moments ago may still be pending (counted as `pending` by \
`GET /v1/audit/verify`)."""
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


@router.get(
    "/verify",
    summary="Recompute the hash chain of the whole trail, check it against every signed checkpoint, "
    "and report where it first disagrees",
)
async def verify_audit_trail(session: SessionDep, auditor: AuditorPrincipal, keys: AuditKeysDep) -> AuditVerification:
    """`valid` covers the chained events and the stored checkpoints; events recorded but not chained yet are counted \
in `pending` and never make it false."""
    return await reports.audit_verification(session=session, auditor=auditor, keys=keys.published)


@router.post(
    "/verify", summary="Verify the trail as GET does, and against checkpoints a witness kept", responses=BODY_PROBLEMS
)
async def verify_audit_trail_against_witnesses(
    session: SessionDep, auditor: AuditorPrincipal, body: WitnessCheckpoints, keys: AuditKeysDep
) -> AuditVerification:
    """Each checkpoint given (the `data` of an `audit.checkpoint` webhook) must carry a published key's signature, \
match the chain's hash at its seq,
    and equal the stored checkpoint of its number: a trail cut, rewritten or given a new checkpoint table since the \
witness received it disagrees."""
    return await reports.audit_verification(
        session=session, auditor=auditor, keys=keys.published, witnesses=body.checkpoints
    )


@router.get("/checkpoints", summary="Signed checkpoints of the chain's head, oldest first", responses=INVALID_INPUT)
async def list_checkpoints(
    session: SessionDep,
    _: AuditorPrincipal,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
) -> CheckpointPage:
    return await checkpoints.list_page(session=session, cursor=cursor, limit=limit)


@router.get(
    "/checkpoints/{number}",
    summary="One signed checkpoint",
    responses={404: problem_doc("No checkpoint has this number")} | INVALID_INPUT,
)
async def get_checkpoint(
    session: SessionDep, _: AuditorPrincipal, number: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> CheckpointPublic:
    checkpoint = await checkpoints.one(session=session, number=number)
    if checkpoint is None:
        raise NotFound(f"no audit checkpoint {number}")
    return checkpoint


@public_router.get(
    "/keys",
    summary="The public keys that sign audit checkpoints, as a JWK set (no token needed)",
    response_class=JSONResponse,
    responses={
        200: {
            "content": {
                JWK_SET_MEDIA_TYPE: {
                    "schema": {
                        "type": "object",
                        "required": ["keys"],
                        "properties": {"keys": {"type": "array", "items": {"type": "object"}}},
                    }
                }
            }
        }
    },
)
async def audit_keys(keys: AuditKeysDep) -> JSONResponse:
    """Every key that ever signed a checkpoint (Ed25519, `OKP`), named by its RFC 7638 thumbprint: retired keys stay, \
so old checkpoints still verify."""
    return JSONResponse(keys.jwk_set(), media_type=JWK_SET_MEDIA_TYPE, headers={"Cache-Control": "public, max-age=300"})
