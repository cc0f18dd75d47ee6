"""Reports for the Caldicott Guardian and auditors: the decision log, and what was disclosed about a person."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth import GuardianOrAuditor
from app.db import SessionDep
from app.dependencies import SettingsDep
from app.errors import BODY_PROBLEMS, INVALID_INPUT, PROBLEM_RESPONSES
from app.models.report import DecisionLog, ReportFormat, SubjectDisclosures, SubjectQuery
from app.services import reports

router = APIRouter(prefix="/v1/reports", tags=["reports"], responses=PROBLEM_RESPONSES)

PERIOD_BOUND = "A date (Europe/London, inclusive) or a date-time with an offset"


@router.get(
    "/decision-log",
    summary="The Caldicott decision log: one row per decision, oldest first",
    response_model=DecisionLog,
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
) -> DecisionLog | Response:
    since, until = reports.period(from_=from_, to=to)
    log = await reports.decision_log(session=session, actor=principal, since=since, until=until, cursor=cursor, limit=limit)
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
    query: SubjectQuery,
    session: SessionDep,
    settings: SettingsDep,
    principal: GuardianOrAuditor,
    cursor: Annotated[str | None, Query(max_length=500, description="next_cursor from the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SubjectDisclosures:
    return await reports.subject_disclosures(
        session=session, actor=principal, subject_key=settings.subject_key_bytes, identifier=query.identifier, cursor=cursor, limit=limit
    )
