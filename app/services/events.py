"""What happened, told once: each change or read is recorded here in the caller's transaction.

Every use case calls these functions at the moment something happens; this module
fans the event out to the audit trail and the webhook outbox, so that the change,
its audit event and its outbox event commit together or not at all.
"""

from sqlmodel.ext.asyncio.session import AsyncSession

from app import observability
from app.auth import Principal
from app.models.actions import AdminAction, ReportAction, RequestAction, WebhookAction
from app.models.audit import AuditTarget
from app.models.sharing_request import Decision, SharingRequest
from app.rules import Policy
from app.services import audit, outbox

ADMIN_TARGETS = {
    AdminAction.ORGANISATION_REGISTERED: AuditTarget.ORGANISATION,
    AdminAction.ORGANISATION_CHANGED: AuditTarget.ORGANISATION,
    AdminAction.AGREEMENT_REGISTERED: AuditTarget.SHARING_AGREEMENT,
    AdminAction.AGREEMENT_CHANGED: AuditTarget.SHARING_AGREEMENT,
    AdminAction.POLICY_UPLOADED: AuditTarget.POLICY,
    AdminAction.POLICY_ACTIVATED: AuditTarget.POLICY,
}


async def request_changed(
    *,
    session: AsyncSession,
    actor: Principal | None,
    request: SharingRequest,
    action: RequestAction,
    decision: Decision | None = None,
) -> None:
    """A request changed state (actor None: the service itself, e.g. an expired claim)."""
    outcome = request.status if decision is None else f"{request.status}, decision {decision.outcome}"
    await audit.record(session=session, actor=actor, action=action, target_type=AuditTarget.SHARING_REQUEST, target_id=request.id, outcome=outcome)
    await outbox.emit(session=session, request=request, action=action, decision=decision)
    if decision is not None:
        observability.decision_recorded(kind=decision.kind, outcome=decision.outcome, findings=decision.findings)


async def request_read(*, session: AsyncSession, actor: Principal, request: SharingRequest, action: RequestAction) -> None:
    """Someone read a request's details or history."""
    await audit.record(session=session, actor=actor, action=action, target_type=AuditTarget.SHARING_REQUEST, target_id=request.id, outcome="read")


async def admin_changed(*, session: AsyncSession, actor: Principal, action: AdminAction, target_id: str) -> None:
    """An admin registered or changed an organisation or agreement."""
    await audit.record(session=session, actor=actor, action=action, target_type=ADMIN_TARGETS[action], target_id=target_id, outcome="applied")


async def policy_changed(*, session: AsyncSession, actor: Principal, action: AdminAction, policy: Policy) -> None:
    """An admin uploaded or activated a policy; an activation is announced to webhook subscribers."""
    target = f"{policy.name}/{policy.version}"
    await audit.record(session=session, actor=actor, action=action, target_type=AuditTarget.POLICY, target_id=target, outcome=f"sha256 {policy.content_hash}")
    if action == AdminAction.POLICY_ACTIVATED:
        await outbox.emit_policy_activated(session=session, policy=policy)


async def webhook_endpoint_changed(*, session: AsyncSession, actor: Principal, action: WebhookAction, endpoint_id: str, outcome: str) -> None:
    """An agency or admin registered, changed, re-keyed, deleted or redelivered to an endpoint; `outcome` never holds a secret."""
    await audit.record(session=session, actor=actor, action=action, target_type=AuditTarget.WEBHOOK_ENDPOINT, target_id=endpoint_id, outcome=outcome)


async def report_run(*, session: AsyncSession, actor: Principal, action: ReportAction, report: str, outcome: str) -> None:
    """Someone ran a report or read the audit trail; `outcome` says how much it returned."""
    await audit.record(session=session, actor=actor, action=action, target_type=AuditTarget.REPORT, target_id=report, outcome=outcome)
