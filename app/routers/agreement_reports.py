"""The agreements report for the Caldicott Guardian and auditors:
every sharing agreement by state, with the requests decided under it."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.errors import INVALID_INPUT, PROBLEM_RESPONSES
from app.http.dependencies import PageCursor, PageLimit
from app.http.roles import GuardianOrAuditor
from app.http.session import SessionDep
from app.models.agreement_report import AgreementReport, AgreementState
from app.services.agreements import reports as agreement_reports

router = APIRouter(prefix="/v1/reports", tags=["Reports"], responses=PROBLEM_RESPONSES)

DESCRIPTION = (
    "Each agreement's state on today's date in Europe/London: `not_yet_in_force`, `active`, `review_due` (its review "
    "date within 30 days or past), `expiring` (its last day within 30 days), `expired` or `suspended`, the first that "
    "holds from the last. `requests_decided` counts the requests approved, approved with conditions or refused in the "
    "twelve months to today on a version of the request that cited the agreement. Ordered by state in that order, then "
    "by code; running it is audited."
)
EXAMPLE = {
    "items": [
        {
            "code": "ISA-NSH-2026-01",
            "title": "Northshire integrated care: community health and adult social care",
            "state": "review_due",
            "owner": "RXT01",
            "parties": ["RXT01", "NSC01"],
            "valid_from": "2026-04-01",
            "valid_until": "2029-03-31",
            "review_date": "2026-12-15",
            "requests_decided": 412,
        }
    ],
    "next_cursor": None,
    "today": "2026-11-27",
    "counted_from": "2025-11-28",
    "states": {"not_yet_in_force": 0, "active": 11, "review_due": 1, "expiring": 0, "expired": 2, "suspended": 1},
}


@router.get(
    "/agreements",
    summary="Sharing agreements by state (active, review due, expiring, expired, suspended), with the requests "
    "decided under each in twelve months",
    description=DESCRIPTION,
    responses=INVALID_INPUT
    | {
        200: {
            "description": "A page of agreements, and how many are in each state",
            "content": {"application/json": {"example": EXAMPLE}},
        }
    },
)
async def agreements_report(
    session: SessionDep,
    principal: GuardianOrAuditor,
    state: Annotated[AgreementState | None, Query(description="Only the agreements in this state")] = None,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
) -> AgreementReport:
    return await agreement_reports.agreements_report(
        session=session, actor=principal, state=state, cursor=cursor, limit=limit
    )
