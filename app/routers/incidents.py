"""Incidents with disclosures: record, grade, report to the ICO, recall the data from its recipient, close; and read.

Anyone of the controller records one; its IG manager, SIRO and DPO grade, report and close it; they, the guardians
and the auditors read it. The recipient agency reads only the recall (`/recall`) and confirms it; any other agency is
told 404.
"""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.errors import BODY_PROBLEMS, INVALID_INPUT, PROBLEM_RESPONSES, problem_doc
from app.http.dependencies import PageCursor, PageLimit, PathName, PolicyDep, SettingsDep
from app.http.idempotency import IdempotentRoute
from app.http.locations import created, locate
from app.http.roles import AgencyPrincipal, IncidentManager, IncidentReader, IncidentRecorder
from app.http.session import SessionDep
from app.models.base import utcnow
from app.models.incident import (
    ClosureBody,
    GradeLevelPublic,
    GradingBody,
    GradingScales,
    IncidentBody,
    IncidentPage,
    IncidentPublic,
    RecallConfirmationBody,
    RecallPublic,
    ReportBody,
)
from app.models.vocabulary import IncidentStatus
from app.platform.config import Settings
from app.services.incidents import reading, recording

router = APIRouter(prefix="/v1/incidents", tags=["Incidents"], responses=PROBLEM_RESPONSES)
router.route_class = IdempotentRoute  # every POST that changes something takes an Idempotency-Key

NO_INCIDENT = {404: problem_doc("No such incident")}


def mail_on(settings: Settings) -> bool:
    """Whether an incident's email goes anywhere: a mail server, and a duty or incident address to write to."""
    return settings.smtp_host is not None and bool(settings.notify_duty_addresses or settings.notify_incident_addresses)


CLOSED = {409: problem_doc("The incident is closed, or this was recorded already")}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Record an incident with a disclosure (anyone of the controller)",
    responses=BODY_PROBLEMS | created("The incident as recorded", "The incident's own URL"),
)
async def record_incident(
    body: IncidentBody,
    response: Response,
    session: SessionDep,
    recorder: IncidentRecorder,
    policy: PolicyDep,
    settings: SettingsDep,
) -> IncidentPublic:
    incident = await recording.record(
        session=session, principal=recorder, policy=policy, body=body, email=mail_on(settings)
    )
    locate(response, f"/v1/incidents/{incident.id}")
    return IncidentPublic.of(incident, utcnow())


@router.get("", summary="List incidents, the most recently recorded first", responses=INVALID_INPUT)
async def list_incidents(
    session: SessionDep,
    _: IncidentReader,
    status_: Annotated[IncidentStatus | None, Query(alias="status", description="Only `open` or `closed` ones")] = None,
    reportable: Annotated[bool | None, Query(description="Only reportable ones (true) or the others (false)")] = None,
    overdue: Annotated[
        bool | None, Query(description="Only those reportable, unreported and past `report_by` (true), or the others")
    ] = None,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
) -> IncidentPage:
    return await reading.list_page(
        session=session, status=status_, reportable=reportable, overdue=overdue, cursor=cursor, limit=limit
    )


@router.get("/grading", summary="The grading scales and the reporting threshold of the active policy")
async def grading_scales(_: IncidentRecorder, policy: PolicyDep) -> GradingScales:
    grading = policy.incident_grading
    return GradingScales(
        policy=f"{policy.name} {policy.version}",
        likelihood=[
            GradeLevelPublic(grade=grade, name=level.name, description=level.description)
            for grade, level in enumerate(grading.likelihood, start=1)
        ],
        severity=[
            GradeLevelPublic(grade=grade, name=level.name, description=level.description)
            for grade, level in enumerate(grading.severity, start=1)
        ],
        report_likelihood=grading.report_likelihood,
        report_severity=grading.report_severity,
    )


@router.get("/{incident_id}", summary="One incident", responses=INVALID_INPUT | NO_INCIDENT)
async def get_incident(incident_id: PathName, session: SessionDep, _: IncidentReader) -> IncidentPublic:
    return IncidentPublic.of(await reading.get(session=session, incident_id=incident_id), utcnow())


@router.get(
    "/{incident_id}/recall",
    summary="An incident's recall of the data (the recipient agency only; the controller reads it in the incident)",
    responses=INVALID_INPUT | NO_INCIDENT,
)
async def get_recall(incident_id: PathName, session: SessionDep, agency: AgencyPrincipal) -> RecallPublic:
    return RecallPublic.of(await reading.recall_of(session=session, principal=agency, incident_id=incident_id))


@router.post(
    "/{incident_id}/grading",
    summary="Grade an incident again (an IG manager, the SIRO or the DPO)",
    responses=BODY_PROBLEMS | NO_INCIDENT | CLOSED,
)
async def regrade_incident(
    incident_id: PathName,
    body: GradingBody,
    session: SessionDep,
    manager: IncidentManager,
    policy: PolicyDep,
    settings: SettingsDep,
) -> IncidentPublic:
    incident = await recording.regrade(
        session=session, principal=manager, policy=policy, incident_id=incident_id, body=body, email=mail_on(settings)
    )
    return IncidentPublic.of(incident, utcnow())


@router.post(
    "/{incident_id}/report",
    summary="Record the incident's report to the ICO (an IG manager, the SIRO or the DPO)",
    responses=BODY_PROBLEMS | NO_INCIDENT | CLOSED,
)
async def report_incident(
    incident_id: PathName, body: ReportBody, session: SessionDep, manager: IncidentManager
) -> IncidentPublic:
    incident = await recording.report(session=session, principal=manager, incident_id=incident_id, body=body)
    return IncidentPublic.of(incident, utcnow())


@router.post(
    "/{incident_id}/recall-confirmation",
    summary="Confirm the recalled data was returned or destroyed (the recipient agency only)",
    responses=BODY_PROBLEMS | NO_INCIDENT | {409: problem_doc("The recall is confirmed already")},
)
async def confirm_recall(
    incident_id: PathName, body: RecallConfirmationBody, session: SessionDep, agency: AgencyPrincipal
) -> RecallPublic:
    incident = await recording.confirm_recall(session=session, principal=agency, incident_id=incident_id, body=body)
    return RecallPublic.of(incident)


@router.post(
    "/{incident_id}/closure",
    summary="Close an incident with its outcome and lessons (an IG manager, the SIRO or the DPO)",
    responses=BODY_PROBLEMS
    | NO_INCIDENT
    | {409: problem_doc("The incident is closed already, or reportable and its report not recorded")},
)
async def close_incident(
    incident_id: PathName, body: ClosureBody, session: SessionDep, manager: IncidentManager
) -> IncidentPublic:
    incident = await recording.close(session=session, principal=manager, incident_id=incident_id, body=body)
    return IncidentPublic.of(incident, utcnow())
