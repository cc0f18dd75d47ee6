"""Recording and handling incidents: each act changes the incident row, writes its audit event (on the request whose
disclosure went wrong) and any webhook event, all in the caller's transaction.

Who has been told is kept on the incident (`told`): the controller's endpoints hear `incident.recorded` when it is
recorded and when a regrading makes it reportable; the recipient's endpoints (and the controller's) hear
`sharing_request.recall_requested` when it is recorded.
"""

from datetime import UTC, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, InvalidInput, NotFound
from app.models.actions import RequestAction
from app.models.base import utcnow
from app.models.disclosure import Disclosure
from app.models.incident import (
    ClosureBody,
    GradingBody,
    Incident,
    IncidentBody,
    RecallConfirmationBody,
    ReportBody,
)
from app.models.sharing_request import new_id
from app.models.vocabulary import DisclosureStatus, IncidentStatus, Role
from app.models.webhook import WebhookEventType
from app.principal import Principal
from app.rules import Policy
from app.services.audit import events
from app.services.incidents.reading import recall_of
from app.services.notifications import outbox as notifications
from app.services.webhooks import outbox

# Who an incident is told to inside the controller: its SIRO, its DPO and its guardians (their endpoints).
TOLD_INSIDE = [str(Role.SIRO), str(Role.DPO), str(Role.GUARDIAN)]
RECIPIENT = "recipient"


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _past(field: str, when: datetime, now: datetime) -> datetime:
    """The time in UTC, or a 422 naming the field when it is in the future."""
    if when > now:
        raise InvalidInput(field, "must not be in the future")
    return when.astimezone(UTC)


async def _announce(*, session: AsyncSession, incident: Incident, reason: str, email: bool, now: datetime) -> None:
    """`incident.recorded` to the controller's endpoints and, when mail is on, an email to the guardians on duty and
    the SIRO's and DPO's addresses; each telling noted on the incident."""
    report_by = incident.report_by
    data = {
        "id": incident.id,
        "request_id": incident.request_id,
        "disclosure_id": incident.disclosure_id,
        "kind": str(incident.kind),
        "likelihood": incident.likelihood,
        "severity": incident.severity,
        "reportable": incident.reportable,
        "report_by": _stamp(report_by) if report_by is not None else None,
        "reason": reason,
        "link": f"/v1/incidents/{incident.id}",
    }
    await outbox.emit_incident_event(
        session=session, event_type=WebhookEventType.INCIDENT_RECORDED, data=data, recipient_org=None
    )
    tellings = [{"roles": TOLD_INSIDE, "channel": "webhook", "reason": reason, "at": _stamp(now)}]
    if email:
        notifications.incident_recorded(
            session=session, request_id=incident.request_id, incident_id=incident.id, report_by=report_by, now=now
        )
        tellings.append({"roles": TOLD_INSIDE, "channel": "email", "reason": reason, "at": _stamp(now)})
    incident.told = [*incident.told, *tellings]


async def _recall(*, session: AsyncSession, incident: Incident, now: datetime) -> None:
    """`sharing_request.recall_requested` to the recipient's endpoints and the controller's."""
    data = {
        "request_id": incident.request_id,
        "incident_id": incident.id,
        "recipient": incident.recipient_org,
        "action": "return_or_destroy",
        "confirm_at": f"/v1/incidents/{incident.id}/recall-confirmation",
        "link": f"/v1/incidents/{incident.id}/recall",
    }
    await outbox.emit_incident_event(
        session=session, event_type=WebhookEventType.RECALL_REQUESTED, data=data, recipient_org=incident.recipient_org
    )
    telling = {"roles": [RECIPIENT], "channel": "webhook", "reason": "recall_requested", "at": _stamp(now)}
    incident.told = [*incident.told, telling]


async def record(
    *, session: AsyncSession, principal: Principal, policy: Policy, body: IncidentBody, email: bool
) -> Incident:
    """Record an incident against a disclosure made, graded under the active policy; tell the controller's people (by
    email too when `email`: mail is on) and ask the recipient to return or destroy the data."""
    now = utcnow()
    aware_at = _past("aware_at", body.aware_at, now)
    disclosure = await session.get(Disclosure, body.disclosure_id)
    if disclosure is None:
        raise InvalidInput("disclosure_id", f"no disclosure {body.disclosure_id!r}")
    if disclosure.status != DisclosureStatus.DISCLOSED:
        raise InvalidInput("disclosure_id", f"disclosure {disclosure.id!r} was not made (it is {disclosure.status})")
    grading = policy.incident_grading
    incident = Incident(
        id=new_id(),
        disclosure_id=disclosure.id,
        request_id=disclosure.request_id,
        recipient_org=disclosure.recipient_org,
        kind=body.kind,
        description=body.description,
        aware_at=aware_at,
        likelihood=body.likelihood,
        severity=body.severity,
        reportable=grading.reportable(likelihood=body.likelihood, severity=body.severity),
        policy_name=policy.name,
        policy_version=policy.version,
        status=IncidentStatus.OPEN,
        recorded_by=principal.sub,
        recorded_at=now,
        told=[],
    )
    await _announce(session=session, incident=incident, reason="recorded", email=email, now=now)
    await _recall(session=session, incident=incident, now=now)
    session.add(incident)
    await session.flush()
    await events.incident_acted(
        session=session,
        actor=principal,
        request_id=incident.request_id,
        action=RequestAction.INCIDENT_RECORDED,
        outcome=f"incident {incident.id} {incident.kind}",  # the audit outcome holds 80 characters
    )
    return incident


async def _open(session: AsyncSession, incident_id: str) -> Incident:
    """The incident, locked for the change, or 404; a closed one is a 409."""
    incident = await session.get(Incident, incident_id, with_for_update=True)
    if incident is None:
        raise NotFound(f"no incident {incident_id!r}")
    if incident.status == IncidentStatus.CLOSED:
        raise Conflict("the incident is closed", current_status=incident.status)
    return incident


async def _acted(
    *, session: AsyncSession, principal: Principal, incident: Incident, action: RequestAction, outcome: str
) -> Incident:
    """An act on the incident done: its version moved on (its ETag), written, and audited on the request."""
    incident.version += 1
    await session.flush()
    await events.incident_acted(
        session=session, actor=principal, request_id=incident.request_id, action=action, outcome=outcome
    )
    return incident


async def regrade(
    *, session: AsyncSession, principal: Principal, policy: Policy, incident_id: str, body: GradingBody, email: bool
) -> Incident:
    """Grade an open incident again under the active policy; one that becomes reportable is announced again."""
    incident = await _open(session, incident_id)
    was_reportable, now = incident.reportable, utcnow()
    incident.likelihood, incident.severity = body.likelihood, body.severity
    incident.reportable = policy.incident_grading.reportable(likelihood=body.likelihood, severity=body.severity)
    incident.policy_name, incident.policy_version = policy.name, policy.version
    if incident.reportable and not was_reportable:
        await _announce(session=session, incident=incident, reason="became_reportable", email=email, now=now)
    return await _acted(
        session=session,
        principal=principal,
        incident=incident,
        action=RequestAction.INCIDENT_GRADED,
        outcome=f"incident {incident.id} graded {incident.likelihood}x{incident.severity}"
        f"{' reportable' if incident.reportable else ''}",
    )


async def report(*, session: AsyncSession, principal: Principal, incident_id: str, body: ReportBody) -> Incident:
    """Record the incident's report to the ICO, once."""
    incident = await _open(session, incident_id)
    if incident.reported_at is not None:
        raise Conflict("the incident's report is recorded already", current_status=incident.status)
    reported_at = _past("reported_at", body.reported_at, utcnow())
    if reported_at < incident.aware_at:
        raise InvalidInput("reported_at", "must not be before the organisation became aware (aware_at)")
    incident.reported_at, incident.report_reference, incident.reported_by = reported_at, body.reference, principal.sub
    return await _acted(
        session=session,
        principal=principal,
        incident=incident,
        action=RequestAction.INCIDENT_REPORTED,
        outcome=f"incident {incident.id} reported",
    )


async def confirm_recall(
    *, session: AsyncSession, principal: Principal, incident_id: str, body: RecallConfirmationBody
) -> Incident:
    """The recipient agency confirms it returned or destroyed the data, once; any other organisation is told 404."""
    incident = await recall_of(session=session, principal=principal, incident_id=incident_id, lock=True)
    if incident.recall_confirmed_at is not None:
        raise Conflict("the recall is confirmed already", current_status=incident.status)
    incident.recall_confirmed_at = _past("confirmed_at", body.confirmed_at, utcnow())
    incident.recall_outcome, incident.recall_note, incident.recall_confirmed_by = body.outcome, body.note, principal.sub
    return await _acted(
        session=session,
        principal=principal,
        incident=incident,
        action=RequestAction.RECALL_CONFIRMED,
        outcome=f"incident {incident.id} {body.outcome}",
    )


async def close(*, session: AsyncSession, principal: Principal, incident_id: str, body: ClosureBody) -> Incident:
    """Close the incident with its outcome and lessons: a reportable one only once its report is recorded (409)."""
    incident = await _open(session, incident_id)
    if incident.reportable and incident.reported_at is None:
        raise Conflict(
            f"the incident is reportable and its report to the ICO is not recorded: record it with POST "
            f"/v1/incidents/{incident.id}/report before closing",
            current_status=incident.status,
        )
    incident.status, incident.closure_outcome, incident.lessons = IncidentStatus.CLOSED, body.outcome, body.lessons
    incident.closed_by, incident.closed_at = principal.sub, utcnow()
    return await _acted(
        session=session,
        principal=principal,
        incident=incident,
        action=RequestAction.INCIDENT_CLOSED,
        outcome=f"incident {incident.id} closed",
    )
