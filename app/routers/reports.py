"""Reports for the Caldicott Guardian and auditors: the decision log, and what was disclosed about a person."""

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from app.auth import Principal, require_roles
from app.db import SessionDep
from app.dependencies import SettingsDep
from app.errors import PROBLEM_RESPONSES
from app.models.actions import ReportAction
from app.models.vocabulary import Role
from app.services import events, reports

router = APIRouter(prefix="/v1/reports", tags=["reports"], responses=PROBLEM_RESPONSES)

GuardianOrAuditor = Annotated[Principal, Depends(require_roles(Role.GUARDIAN, Role.AUDITOR))]
PERIOD_BOUND = "A date (Europe/London, inclusive) or a date-time with an offset"


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


@router.get(
    "/decision-log",
    summary="The Caldicott decision log: one row per decision, oldest first",
    response_model=reports.DecisionLog,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The log as JSON, or as CSV for a spreadsheet"}},
)
async def decision_log(
    session: SessionDep,
    principal: GuardianOrAuditor,
    from_: Annotated[str | None, Query(alias="from", max_length=40, description=PERIOD_BOUND)] = None,
    to: Annotated[str | None, Query(max_length=40, description=PERIOD_BOUND)] = None,
    format_: Annotated[ReportFormat, Query(alias="format")] = ReportFormat.JSON,
) -> reports.DecisionLog | Response:
    since, until = reports.period(from_=from_, to=to)
    log = await reports.decision_log(session=session, since=since, until=until)
    await events.report_run(
        session=session, actor=principal, action=ReportAction.DECISION_LOG_EXPORTED, report="decision_log", outcome=f"{len(log.items)} decisions"
    )
    if format_ is ReportFormat.CSV:
        return Response(
            reports.decision_log_csv(log), media_type="text/csv; charset=utf-8", headers={"Content-Disposition": 'attachment; filename="decision-log.csv"'}
        )
    return log


@router.post("/subject-disclosures", summary="Every request that named a person, for a subject access request (the identifier goes in the body)")
async def subject_disclosures(
    query: reports.SubjectQuery, session: SessionDep, settings: SettingsDep, principal: GuardianOrAuditor
) -> reports.SubjectDisclosures:
    found = await reports.subject_disclosures(session=session, subject_key=settings.subject_key_bytes, identifier=query.identifier)
    # The identifier is not recorded, not even hashed: the trail keeps who searched and how much was found.
    await events.report_run(
        session=session,
        actor=principal,
        action=ReportAction.SUBJECT_DISCLOSURES_SEARCHED,
        report="subject_disclosures",
        outcome=f"{found.matches} requests",
    )
    return found
