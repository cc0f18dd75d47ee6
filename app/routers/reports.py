"""Reports for the Caldicott Guardian, the SIRO and auditors: the decision log, what was disclosed about a person, and
the information risk of disclosures."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from app.errors import BODY_PROBLEMS, INVALID_INPUT, PROBLEM_RESPONSES
from app.http.dependencies import PageCursor, PageLimit, RegistryDep, SettingsDep
from app.http.roles import GuardianOrAuditor, RiskReader
from app.http.session import SessionDep
from app.models.information_risk import InformationRiskReport
from app.models.report import DecisionLog, ReportFormat, SubjectDisclosures, SubjectQuery
from app.routers.fhir import example
from app.services.reports import decision_log as reports
from app.services.reports import fhir, fhir_export, information_risk

# The subject report's Bundle names the person (here by a test NHS number) in each AuditEvent.
FHIR_CONTENT = {
    "schema": {"type": "object", "description": "A FHIR R4 Bundle of type collection"},
    "example": example("9990000018"),
}

router = APIRouter(prefix="/v1/reports", tags=["Reports"], responses=PROBLEM_RESPONSES)

PERIOD_BOUND = "A date (Europe/London, inclusive) or a date-time with an offset"
PeriodFrom = Annotated[str | None, Query(alias="from", max_length=40, description=PERIOD_BOUND)]
PeriodTo = Annotated[str | None, Query(max_length=40, description=PERIOD_BOUND)]
Format = Annotated[ReportFormat, Query(alias="format")]


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
    from_: PeriodFrom = None,
    to: PeriodTo = None,
    format_: Format = ReportFormat.JSON,
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


@router.get(
    "/information-risk",
    summary="The SIRO's information-risk report: disclosures and risky approvals, per asset and per organisation",
    description=(
        "For the period (decisions by when they were decided, disclosures by when they were recorded, or opened while "
        "pending): disclosures made, not made, cancelled, pending and overdue; bulk and systematic shares; refusals "
        "overridden; emergency shares and their retrospective reviews; referrals overdue; and the sharing agreements "
        "whose last day falls within 90 days of the period's end. Counts only, in total, per information asset and "
        "per requesting organisation; no person a request is about and no free text. For the controller's `siro`, "
        "`dpo` and `auditor`; running it is audited."
    ),
    response_model=InformationRiskReport,
    responses=INVALID_INPUT
    | {
        200: {
            "description": "The report as JSON, or as CSV: one row per section (`total`, `asset`, `organisation`)",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def information_risk_report(
    session: SessionDep,
    registry: RegistryDep,
    principal: RiskReader,
    from_: PeriodFrom = None,
    to: PeriodTo = None,
    format_: Format = ReportFormat.JSON,
) -> InformationRiskReport | Response:
    since, until = reports.period(from_=from_, to=to)
    report = await information_risk.information_risk(
        session=session, actor=principal, registry=registry, since=since, until=until
    )
    if format_ is ReportFormat.CSV:
        return Response(
            information_risk.information_risk_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="information-risk.csv"'},
        )
    return report


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
