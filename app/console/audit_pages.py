"""The audit page: the whole trail verified as GET /v1/audit/verify does (and recorded as that check is), said in
plain words, and the signed checkpoints listed with the state of each one's signature."""

from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.http.dependencies import AuditKeysDep, PageCursor
from app.http.session import SessionDep
from app.models.audit import AuditFinding, AuditVerification, CheckpointPublic
from app.services.audit import checkpoints
from app.services.audit import proof as audit_proof
from app.services.reports import decision_log as reports

from .auth import AuditorUser
from .pages import render

router = APIRouter(include_in_schema=False)


CHECKPOINTS_PER_PAGE = 50


def summary(result: AuditVerification) -> list[str]:
    """The verification's result in sentences, the verdict first."""
    if not result.valid:
        return [
            "The audit trail does not verify: it has been altered, or its checkpoints disagree with it.",
            f"It first disagrees at event {result.first_broken_seq}. What disagrees is listed below.",
        ]
    lines = [
        f"The audit trail is intact: all {result.events} events recompute to the chain's head, and agree with all "
        f"{result.checkpoints} signed checkpoints."
    ]
    unsigned = result.head_seq - (result.last_checkpoint_seq or 0)
    if unsigned > 0:
        lines.append(f"The newest {unsigned} events are not covered by a signed checkpoint yet.")
    if result.pending:
        lines.append(
            f"{result.pending} events recorded moments ago are waiting to join the chain; they are not part of this "
            "check."
        )
    return lines


def finding_source(finding: AuditFinding) -> str:
    return {
        "chain": "The chain's hashes",
        "stored": f"Stored checkpoint {finding.checkpoint}",
        "witness": f"A witness's copy of checkpoint {finding.checkpoint}",
    }.get(finding.source, finding.source)


def signature_state(checkpoint: CheckpointPublic, keys: Mapping[str, dict[str, str]]) -> str:
    """Whether a published key made the checkpoint's signature, in words."""
    problem = audit_proof.signature_problem(checkpoint, keys)
    return f"Not valid: {problem}" if problem else "Valid, by a published key"


@router.get("/console/audit")
async def audit(
    request: Request, db: SessionDep, user: AuditorUser, keys: AuditKeysDep, cursor: PageCursor = None
) -> Response:
    """For auditors, as the API's audit routes (AuditorPrincipal): the whole trail is theirs to read."""
    result = await reports.audit_verification(session=db, auditor=user.principal, keys=keys.published)
    page = await checkpoints.list_page(session=db, cursor=cursor, limit=CHECKPOINTS_PER_PAGE)
    disagreeing = {finding.checkpoint for finding in result.findings if finding.source == "stored"}
    return render(
        request,
        "audit.jinja",
        result=result,
        summary=summary(result),
        findings=[(finding, finding_source(finding)) for finding in result.findings],
        checkpoints=[
            (checkpoint, signature_state(checkpoint, keys.published), checkpoint.number not in disagreeing)
            for checkpoint in page.items
        ],
        next_cursor=page.next_cursor,
    )
