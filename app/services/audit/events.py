"""What happened, told once: each change or read is recorded here in the caller's transaction.

Every use case calls these functions at the moment something happens; this module
fans the event out to the audit trail and the webhook outbox (and, for an emergency or
overdue case, the email outbox), so that the change, its audit event and its outbox event
commit together or not at all.
"""

from collections.abc import Collection
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.actions import AdminAction, NoticeAction, ReportAction, RequestAction, SignInAction, WebhookAction
from app.models.audit import AuditTarget
from app.models.sharing_request import Decision, SharingRequest
from app.models.webhook import WebhookEventType
from app.platform import observability
from app.principal import Principal
from app.rules import Policy
from app.services.audit import chain as audit
from app.services.disclosures import opening as disclosures
from app.services.notifications import outbox as notifications
from app.services.webhooks import outbox

ADMIN_TARGETS = {
    AdminAction.ORGANISATION_REGISTERED: AuditTarget.ORGANISATION,
    AdminAction.ORGANISATION_CHANGED: AuditTarget.ORGANISATION,
    AdminAction.AGREEMENT_REGISTERED: AuditTarget.SHARING_AGREEMENT,
    AdminAction.AGREEMENT_CHANGED: AuditTarget.SHARING_AGREEMENT,
    AdminAction.AGREEMENT_DOCUMENT_ADDED: AuditTarget.SHARING_AGREEMENT,
    AdminAction.AGREEMENT_DOCUMENT_READ: AuditTarget.SHARING_AGREEMENT,
    AdminAction.POLICY_UPLOADED: AuditTarget.POLICY,
    AdminAction.POLICY_ACTIVATED: AuditTarget.POLICY,
    AdminAction.REGISTER_ENTRY_WITHHELD: AuditTarget.SHARING_REQUEST,
    AdminAction.REGISTER_ENTRY_RESTORED: AuditTarget.SHARING_REQUEST,
    AdminAction.INFORMATION_ASSET_REGISTERED: AuditTarget.INFORMATION_ASSET,
    AdminAction.INFORMATION_ASSET_CHANGED: AuditTarget.INFORMATION_ASSET,
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
    if decision is not None and decision.verdict is not None:
        outcome += f" ({decision.verdict})"
    await audit.record(
        session=session,
        actor=actor,
        action=action,
        target_type=AuditTarget.SHARING_REQUEST,
        target_id=request.id,
        outcome=outcome,
    )
    await outbox.emit(session=session, request=request, action=action, decision=decision)
    notifications.request_changed(session=session, request=request, action=action)  # emergency and overdue cases
    # Every decision of a request passes here, whichever path made it: the one place safeguarding leads are told.
    if decision is not None and outbox.safeguarding_decided(request=request, action=action, decision=decision):
        await outbox.emit_safeguarding_decided(session=session, request=request, decision=decision)
        await notifications.safeguarding_decided(session=session, request=request, decision=decision)
    await disclosures.follow(session=session, request=request, action=action, decision=decision)
    if decision is not None:
        observability.decision_recorded(kind=decision.kind, outcome=decision.outcome, findings=decision.findings)


async def check_recorded(
    *, session: AsyncSession, actor: Principal, request: SharingRequest, check: str, outcome: str
) -> None:
    """A person of the controller recorded one of the request's checks:
    the outcome names the check and what they recorded (never what they wrote)."""
    action = RequestAction.CONTROLLER_CHECK_RECORDED
    await audit.record(
        session=session,
        actor=actor,
        action=action,
        target_type=AuditTarget.SHARING_REQUEST,
        target_id=request.id,
        outcome=f"{check}: {outcome}",
    )


async def ready_to_disclose(*, session: AsyncSession, request: SharingRequest) -> None:
    """The last check holding an approved request back was recorded done: subscribers hear that it may be disclosed."""
    await outbox.emit_ready(session=session, request=request)
    await disclosures.follow(session=session, request=request, action=None, decision=None)


async def check_overdue(*, session: AsyncSession, request: SharingRequest, checks: Collection[str]) -> None:
    """The service found an emergency share's checks still open after the emergency response time."""
    action, outcome = (
        RequestAction.CONTROLLER_CHECK_OVERDUE,
        f"open past the emergency response time: {', '.join(checks)}",
    )
    await audit.record(
        session=session,
        actor=None,
        action=action,
        target_type=AuditTarget.SHARING_REQUEST,
        target_id=request.id,
        outcome=outcome,
    )
    await outbox.emit(session=session, request=request, action=action, decision=None)


async def disclosure_recorded(
    *, session: AsyncSession, actor: Principal, request: SharingRequest, disclosure_id: str, outcome: str
) -> None:
    """An asset's owner (or an IG manager) recorded one of the request's disclosures: the outcome names it and what
    was recorded (its status and channel, never a reason's words)."""
    await audit.record(
        session=session,
        actor=actor,
        action=RequestAction.DISCLOSURE_RECORDED,
        target_type=AuditTarget.SHARING_REQUEST,
        target_id=request.id,
        outcome=f"disclosure {disclosure_id}: {outcome}"[:80],
    )


async def request_read(
    *, session: AsyncSession, actor: Principal, request: SharingRequest, action: RequestAction
) -> None:
    """Someone read a request's details or history."""
    await audit.record(
        session=session,
        actor=actor,
        action=action,
        target_type=AuditTarget.SHARING_REQUEST,
        target_id=request.id,
        outcome="read",
    )


async def consulted(
    *, session: AsyncSession, actor: Principal, request: SharingRequest, action: RequestAction, consultation_id: str
) -> None:
    """The claim holder consulted a role of the controller, or the one consulted answered: the outcome names the
    consultation (never what was asked or answered). The requesting agency is not told: the advice is internal."""
    await audit.record(
        session=session,
        actor=actor,
        action=action,
        target_type=AuditTarget.SHARING_REQUEST,
        target_id=request.id,
        outcome=f"consultation {consultation_id}",
    )


async def incident_acted(
    *, session: AsyncSession, actor: Principal, request_id: str, action: RequestAction, outcome: str
) -> None:
    """An act on an incident with one of the request's disclosures, audited on the request: the outcome names the
    incident (and grades or outcome), never its description. No request webhook: the incident's own events tell."""
    await audit.record(
        session=session,
        actor=actor,
        action=action,
        target_type=AuditTarget.SHARING_REQUEST,
        target_id=request_id,
        outcome=outcome,
    )


async def notice_released(
    *, session: AsyncSession, actor: Principal, request: SharingRequest, audience: str, reasons: Collection[str]
) -> None:
    """A guardian released a withheld subject's notice:
    the outcome names the audience and the reasons it cleared (never why)."""
    action, outcome = RequestAction.NOTICE_RELEASED, f"{audience}: {', '.join(reasons)}"[:80]
    await audit.record(
        session=session,
        actor=actor,
        action=action,
        target_type=AuditTarget.SHARING_REQUEST,
        target_id=request.id,
        outcome=outcome,
    )


async def notice_previewed(
    *, session: AsyncSession, actor: Principal, request: SharingRequest, audience: str, reasons: Collection[str]
) -> None:
    """A guardian read a withheld subject's notice as a preview:
    the outcome names the audience and what withholds it."""
    action, outcome = RequestAction.NOTICE_PREVIEWED, f"{audience}: {', '.join(reasons)}"[:80]
    await audit.record(
        session=session,
        actor=actor,
        action=action,
        target_type=AuditTarget.SHARING_REQUEST,
        target_id=request.id,
        outcome=outcome,
    )


async def attachment_added(*, session: AsyncSession, actor: Principal, request: SharingRequest, sha256: str) -> None:
    """Evidence was attached to a request: the chain holds its content's SHA-256, and subscribers hear of it."""
    action, outcome = RequestAction.ATTACHMENT_ADDED, f"sha256:{sha256}"
    await audit.record(
        session=session,
        actor=actor,
        action=action,
        target_type=AuditTarget.SHARING_REQUEST,
        target_id=request.id,
        outcome=outcome,
    )
    await outbox.emit(session=session, request=request, action=action, decision=None)


async def attachment_read(*, session: AsyncSession, actor: Principal, request_id: str, sha256: str) -> None:
    """Someone downloaded a request's attachment, named by its content's SHA-256."""
    action, outcome = RequestAction.ATTACHMENT_READ, f"sha256:{sha256}"
    await audit.record(
        session=session,
        actor=actor,
        action=action,
        target_type=AuditTarget.SHARING_REQUEST,
        target_id=request_id,
        outcome=outcome,
    )


async def attachment_purged(*, session: AsyncSession, request_id: str, sha256: str) -> None:
    """The service removed an attachment's content at the end of its retention; the hash stays in the chain."""
    action, outcome = RequestAction.ATTACHMENT_PURGED, f"purged sha256:{sha256}"
    await audit.record(
        session=session,
        actor=None,
        action=action,
        target_type=AuditTarget.SHARING_REQUEST,
        target_id=request_id,
        outcome=outcome,
    )


async def subject_hashes_rekeyed(*, session: AsyncSession, request_id: str, rows: int, version: int) -> None:
    """The service moved a request's subject lookup rows to the current subject key (`caldicott subjects rekey`)."""
    await audit.record(
        session=session,
        actor=None,
        action=RequestAction.SUBJECT_HASHES_REKEYED,
        target_type=AuditTarget.SHARING_REQUEST,
        target_id=request_id,
        outcome=f"{rows} subject hashes re-keyed to key version {version}",
    )


async def evidence_verified(
    *, session: AsyncSession, actor: Principal, request: SharingRequest, outcome: str, kind: str, attachment_id: str
) -> None:
    """A guardian verified or rejected an attachment: audited with what they found, and subscribers hear of it."""
    action = RequestAction.EVIDENCE_VERIFIED
    await audit.record(
        session=session,
        actor=actor,
        action=action,
        target_type=AuditTarget.SHARING_REQUEST,
        target_id=request.id,
        outcome=f"{outcome} {kind} {attachment_id}",
    )
    await outbox.emit(session=session, request=request, action=action, decision=None)


async def admin_changed(*, session: AsyncSession, actor: Principal, action: AdminAction, target_id: str) -> None:
    """An admin registered or changed an organisation or agreement."""
    await audit.record(
        session=session,
        actor=actor,
        action=action,
        target_type=ADMIN_TARGETS[action],
        target_id=target_id,
        outcome="applied",
    )


async def agreement_document(
    *, session: AsyncSession, actor: Principal, action: AdminAction, code: str, sha256: str
) -> None:
    """An agreement's document was uploaded or downloaded, named in the chain by its content's SHA-256."""
    await audit.record(
        session=session,
        actor=actor,
        action=action,
        target_type=AuditTarget.SHARING_AGREEMENT,
        target_id=code,
        outcome=f"sha256:{sha256}",
    )


async def policy_changed(*, session: AsyncSession, actor: Principal, action: AdminAction, policy: Policy) -> None:
    """An admin uploaded or activated a policy; an activation is announced to webhook subscribers."""
    target = f"{policy.name}/{policy.version}"
    await audit.record(
        session=session,
        actor=actor,
        action=action,
        target_type=AuditTarget.POLICY,
        target_id=target,
        outcome=f"sha256 {policy.content_hash}",
    )
    if action == AdminAction.POLICY_ACTIVATED:
        await outbox.emit_policy_activated(session=session, policy=policy)


async def webhook_endpoint_changed(
    *, session: AsyncSession, actor: Principal, action: WebhookAction, endpoint_id: str, outcome: str
) -> None:
    """An agency or admin registered, changed, re-keyed, deleted or redelivered to an endpoint;
    `outcome` never holds a secret."""
    await audit.record(
        session=session,
        actor=actor,
        action=action,
        target_type=AuditTarget.WEBHOOK_ENDPOINT,
        target_id=endpoint_id,
        outcome=outcome,
    )


async def webhook_egress_changed(*, session: AsyncSession, digest: str, previous: str) -> None:
    """The service started with an allowlist of networks, ports and proxy other than the last recorded: the new one's
    digest is the target, the old one's the outcome (app/services/webhooks/egress.py keeps the text of each)."""
    await audit.record(
        session=session,
        actor=None,
        action=WebhookAction.EGRESS_CHANGED,
        target_type=AuditTarget.WEBHOOK_EGRESS,
        target_id=digest,
        outcome=f"was {previous}",
    )


async def agreement_announced(
    *,
    session: AsyncSession,
    action: NoticeAction,
    event_type: WebhookEventType,
    code: str,
    outcome: str,
    data: dict[str, Any],
    organisations: Collection[str],
) -> str:
    """The service announced an agreement's review date or end drawing near:
    audited as its own act, and sent to subscribers; the event's id."""
    await audit.record(
        session=session,
        actor=None,
        action=action,
        target_type=AuditTarget.SHARING_AGREEMENT,
        target_id=code,
        outcome=outcome,
    )
    return await outbox.emit_agreement_notice(
        session=session, event_type=event_type, data=data, organisations=organisations
    )


async def report_run(
    *, session: AsyncSession, actor: Principal, action: ReportAction, report: str, outcome: str
) -> None:
    """Someone ran a report or read the audit trail; `outcome` says how much it returned."""
    await audit.record(
        session=session, actor=actor, action=action, target_type=AuditTarget.REPORT, target_id=report, outcome=outcome
    )


async def signed_in_or_out(*, session: AsyncSession, actor: Principal, action: SignInAction, method: str) -> None:
    """A person signed in to the console (`method`: how) or out of it: who used the console, and when."""
    await audit.record(
        session=session, actor=actor, action=action, target_type=AuditTarget.PERSON, target_id=actor.sub, outcome=method
    )
