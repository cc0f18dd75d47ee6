"""Reports for the Caldicott Guardian and auditors: the decision log, and what was disclosed about a person."""

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth import GuardianOrAuditor
from app.db import SessionDep
from app.dependencies import SettingsDep
from app.errors import BODY_PROBLEMS, INVALID_INPUT, PROBLEM_RESPONSES
from app.models.actions import ReportAction
from app.services import events, reports

router = APIRouter(prefix="/v1/reports", tags=["reports"], responses=PROBLEM_RESPONSES)

PERIOD_BOUND = "A date (Europe/London, inclusive) or a date-time with an offset"


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


@router.get(
    "/decision-log",
    summary="The Caldicott decision log: one row per decision, oldest first",
    response_model=reports.DecisionLog,
    responses=INVALID_INPUT
    | {
        200: {
            "description": "A page of the log as JSON, or as CSV for a spreadsheet",
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "headers": {"Link": {"description": 'CSV only: the next page, rel="next"', "schema": {"type": "string"}}},
        }
    },
)
async def decision_log(
    http: Request,
    session: SessionDep,
    principal: GuardianOrAuditor,
    from_: Annotated[str | None, Query(alias="from", max_length=40, description=PERIOD_BOUND)] = None,
    to: Annotated[str | None, Query(max_length=40, description=PERIOD_BOUND)] = None,
    format_: Annotated[ReportFormat, Query(alias="format")] = ReportFormat.JSON,
    cursor: Annotated[str | None, Query(max_length=500, description="next_cursor from the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 200,
) -> reports.DecisionLog | Response:
    since, until = reports.period(from_=from_, to=to)
    log = await reports.decision_log(session=session, since=since, until=until, cursor=cursor, limit=limit)
    await events.report_run(
        session=session, actor=principal, action=ReportAction.DECISION_LOG_EXPORTED, report="decision_log", outcome=f"{len(log.items)} decisions"
    )
    if format_ is ReportFormat.CSV:
        headers = {"Content-Disposition": 'attachment; filename="decision-log.csv"'}
        if log.next_cursor is not None:
            # A CSV file has no room for the cursor, so the next page is named in a Link header (RFC 8288).
            following = http.url.include_query_params(cursor=log.next_cursor)
            headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
        return Response(reports.decision_log_csv(log), media_type="text/csv; charset=utf-8", headers=headers)
    return log


@router.post(
    "/subject-disclosures",
    summary="Every request that named a person, for a subject access request (the identifier goes in the body)",
    responses=BODY_PROBLEMS,
)
async def subject_disclosures(
    query: reports.SubjectQuery,
    session: SessionDep,
    settings: SettingsDep,
    principal: GuardianOrAuditor,
    cursor: Annotated[str | None, Query(max_length=500, description="next_cursor from the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> reports.SubjectDisclosures:
    found = await reports.subject_disclosures(session=session, subject_key=settings.subject_key_bytes, identifier=query.identifier, cursor=cursor, limit=limit)
    # The identifier is not recorded, not even hashed: the trail keeps who searched and how much was found.
    await events.report_run(
        session=session,
        actor=principal,
        action=ReportAction.SUBJECT_DISCLOSURES_SEARCHED,
        report="subject_disclosures",
        outcome=f"{found.matches} requests",
    )
    return found
