"""Reports for the Caldicott Guardian and auditors: the decision log, and what was disclosed about a person."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from app.errors import BODY_PROBLEMS, INVALID_INPUT, PROBLEM_RESPONSES
from app.http.dependencies import PageCursor, PageLimit, SettingsDep
from app.http.roles import GuardianOrAuditor
from app.http.session import SessionDep
from app.models.report import DecisionLog, ReportFormat, SubjectDisclosures, SubjectQuery
from app.routers.fhir import example
from app.services.reports import decision_log as reports
from app.services.reports import fhir, fhir_export

# The subject report's Bundle names the person (here by a test NHS number) in each AuditEvent.
FHIR_CONTENT = {
    "schema": {"type": "object", "description": "A FHIR R4 Bundle of type collection"},
    "example": example("9990000018"),
}

router = APIRouter(prefix="/v1/reports", tags=["Reports"], responses=PROBLEM_RESPONSES)

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
    cursor: PageCursor = None,
    limit: PageLimit = 200,
) -> DecisionLog | Response:
    since, until = reports.period(from_=from_, to=to)
    log = await reports.decision_log(
        session=session, actor=principal, since=since, until=until, cursor=cursor, limit=limit
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
    description=(
        "`format=fhir` answers with a FHIR R4 `Bundle` (`application/fhir+json`): an `AuditEvent` and a `Provenance` "
        "for every decision on each request of the page, each AuditEvent naming the person as the caller did (system "
        "`https://fhir.nhs.uk/Id/nhs-number` for a valid NHS number). Its pages are those of the JSON form: a `next` "
        "link names the following page's URL, to be posted the same body."
    ),
    response_model=SubjectDisclosures,
    responses=BODY_PROBLEMS
    | {
        200: {
            "description": "A page of the requests that named the person, as JSON or as a FHIR R4 Bundle",
            "content": {fhir.MEDIA_TYPE: FHIR_CONTENT},
        }
    },
)
async def subject_disclosures(
    http: Request,
    query: SubjectQuery,
    session: SessionDep,
    settings: SettingsDep,
    principal: GuardianOrAuditor,
    format_: Annotated[
        Literal["json", "fhir"], Query(alias="format", description="`json` (the default) or `fhir`: a FHIR R4 Bundle")
    ] = "json",
    cursor: PageCursor = None,
    limit: PageLimit = 50,
) -> SubjectDisclosures | Response:
    if format_ == "fhir":

        def page_url(next_cursor: str) -> str:
            following = http.url.include_query_params(cursor=next_cursor)
            return f"{following.path}?{following.query}"

        document = await reports.subject_disclosures_fhir(
            session=session,
            actor=principal,
            subject_keys=settings.subject_keyring,
            identifier=query.identifier,
            controller=settings.controller_org,
            cursor=cursor,
            limit=limit,
            page_url=page_url,
        )
        return Response(
            fhir_export.render(document), media_type=fhir.FHIR_MEDIA_TYPE, headers={"Cache-Control": "no-store"}
        )
    return await reports.subject_disclosures(
        session=session,
        actor=principal,
        subject_keys=settings.subject_keyring,
        identifier=query.identifier,
        cursor=cursor,
        limit=limit,
    )
