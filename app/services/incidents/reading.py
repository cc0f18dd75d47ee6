"""Reading incidents: the controller's readers (guardian, auditor, IG manager, SIRO, DPO) read every incident in
full; the recipient agency reads only the recall part of the incidents about data it received, and any other agency
is told 404, as if there were none."""

from datetime import datetime

from sqlalchemy import and_, not_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import NotFound
from app.models.base import utcnow
from app.models.incident import REPORT_WITHIN, Incident, IncidentPage, IncidentPublic
from app.models.vocabulary import IncidentStatus
from app.platform.pagination import descending, keyset_page
from app.principal import Principal


async def get(*, session: AsyncSession, incident_id: str) -> Incident:
    """One incident, or 404 (for the controller's readers, whom the route has checked)."""
    incident = await session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"no incident {incident_id!r}")
    return incident


async def recall_of(*, session: AsyncSession, principal: Principal, incident_id: str, lock: bool = False) -> Incident:
    """The incident whose recall the agency may read or answer: only one about data its organisation received; any
    other is a 404, as if there were none."""
    incident = await session.get(Incident, incident_id, with_for_update=lock)
    if incident is None or incident.recipient_org != principal.org:
        raise NotFound(f"no incident {incident_id!r}")
    return incident


async def list_page(
    *,
    session: AsyncSession,
    status: IncidentStatus | None,
    reportable: bool | None,
    overdue: bool | None,
    cursor: str | None,
    limit: int,
) -> IncidentPage:
    """Incidents, the most recently recorded first, filtered by status, reportability and an overdue report."""
    now = utcnow()
    query = select(Incident)
    if status is not None:
        query = query.where(col(Incident.status) == status)
    if reportable is not None:
        query = query.where(col(Incident.reportable) == reportable)
    if overdue is not None:
        # Reportable, not reported, and its 72 hours from awareness run out.
        late = and_(
            col(Incident.reportable),
            col(Incident.reported_at).is_(None),
            col(Incident.aware_at) < now - REPORT_WITHIN,
        )
        query = query.where(late if overdue else not_(late))
    order = [descending(col(Incident.recorded_at), datetime), descending(col(Incident.id), str)]
    rows, next_cursor = await keyset_page(
        session, query, order=order, key=lambda row: (row.recorded_at, row.id), cursor=cursor, limit=limit
    )
    return IncidentPage(items=[IncidentPublic.of(row, now) for row in rows], next_cursor=next_cursor)
