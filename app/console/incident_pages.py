"""The open incidents, as a page: each with its grades and, when reportable, its 72-hour deadline to the ICO, the
overdue ones marked. Read-only, for the roles that read `GET /v1/incidents`; recording and handling stay in the API."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from app.http.dependencies import PageCursor, SettingsDep
from app.http.session import SessionDep
from app.models.vocabulary import IncidentStatus, Role
from app.services.incidents import reading as incidents
from app.services.notifications.messages import said

from .auth import ConsoleRefused, ConsoleUser, require
from .pages import render
from .queue import words

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
# As the API's IncidentReader; the console signs in the controller's own people alone.
IncidentReaderUser = Annotated[
    ConsoleUser, Depends(require(Role.SIRO, Role.DPO, Role.IG_MANAGER, Role.GUARDIAN, Role.AUDITOR))
]


@router.get("/console/incidents")
async def open_incidents(
    request: Request, db: SessionDep, user: IncidentReaderUser, settings: SettingsDep, cursor: PageCursor = None
) -> Response:
    """The open incidents, the most recently recorded first (the controller's own people: not a guardian
    organisation's guardian, as in the API)."""
    if user.principal.org != settings.controller_org:
        raise ConsoleRefused("You cannot use this page", "Incidents are the controller's own.")
    page = await incidents.list_page(
        session=db, status=IncidentStatus.OPEN, reportable=None, overdue=None, cursor=cursor, limit=PAGE_SIZE
    )
    rows = [
        {
            "id": item.id,  # the row's anchor: the incident email links to it
            "kind": words(item.kind),
            "aware": said(item.aware_at),
            "grades": f"{item.likelihood} × {item.severity}",
            "report_by": said(item.report_by) if item.report_by else "Not reportable",
            "reported": said(item.reported_at) if item.reported_at else ("—" if not item.reportable else "Not yet"),
            "overdue": item.overdue,
            "recall": words(item.recall.outcome) if item.recall.outcome else "Not confirmed",
        }
        for item in page.items
    ]
    return render(request, "incidents.jinja", rows=rows, next_cursor=page.next_cursor)
