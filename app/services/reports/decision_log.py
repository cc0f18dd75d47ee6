"""Reports for the Caldicott Guardian and auditors: the decision log, a person's disclosures, and the audit trail.

Running a report is itself recorded in the audit trail, in the same transaction as the read.
"""

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.canonical import SubjectKeys
from app.errors import InvalidInput
from app.models.actions import AuditAction, ReportAction
from app.models.audit import AuditEventPage, AuditVerification, CheckpointPublic
from app.models.base import LONDON, utcnow
from app.models.disclosure import Disclosure
from app.models.report import DecisionLog, DecisionLogRow, DisclosureMade, SubjectDisclosure, SubjectDisclosures
from app.models.sharing_request import Decision, RequestSubject, RequestVersion, SharingRequest
from app.models.vocabulary import DataCategory, FindingResult
from app.platform.pagination import ascending, keyset_page
from app.principal import Principal
from app.services.audit import chain as audit
from app.services.audit import events
from app.services.reports import fhir, fhir_export

# A cell starting with one of these is read as a formula by spreadsheets (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
LIST_SEPARATOR = "; "


def day_bound(day: date, *, end: bool) -> datetime:
    """A London calendar day as a bound, in UTC: the instant it starts, or with `end` the instant after it ends."""
    return datetime.combine(day + timedelta(days=1 if end else 0), time(), LONDON).astimezone(UTC)


def period_bound(field: str, value: str | None, *, end: bool, location: str = "query") -> datetime | None:
    """A query bound as an instant: a date is a whole day in Europe/London, a date-time needs an offset."""
    if value is None:
        return None
    try:
        if len(value) == len("YYYY-MM-DD"):
            return day_bound(date.fromisoformat(value), end=end)
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise InvalidInput(field, "a date-time needs an offset, such as Z for UTC", location=location)
        return moment.astimezone(UTC) + timedelta(microseconds=1 if end else 0)
    except (ValueError, OverflowError):  # OverflowError: an instant at the very ends of the calendar
        raise InvalidInput(
            field, "must be a date (YYYY-MM-DD) or a date-time with an offset (2026-11-26T09:00:00Z)", location=location
        ) from None


def period(*, from_: str | None, to: str | None, location: str = "query") -> tuple[datetime | None, datetime | None]:
    """The inclusive from/to parameters as [since, until) instants, validated."""
    since, until = (
        period_bound("from", from_, end=False, location=location),
        period_bound("to", to, end=True, location=location),
    )
    if since is not None and until is not None and until <= since:
        raise InvalidInput("to", "must not be before from", location=location)
    return since, until


def decision_log_query(since: datetime | None, until: datetime | None) -> Select[Any]:
    """The decisions taken in [since, until), each with the request and the version it decided."""
    description = RequestVersion.body[("purpose", "description")].as_string()  # type: ignore[index]
    query = (
        select(
            Decision.decided_at,
            Decision.request_id,
            Decision.version,
            SharingRequest.requester_org,
            SharingRequest.purpose_category,
            description,
            SharingRequest.urgency,
            Decision.outcome,
            Decision.decided_by,
            Decision.findings,
            Decision.conditions,
            Decision.rationale,
            Decision.id,
        )
        .join(SharingRequest, SharingRequest.id == Decision.request_id)  # type: ignore[arg-type]
        .join(
            RequestVersion,
            (RequestVersion.request_id == Decision.request_id) & (RequestVersion.version == Decision.version),
        )  # type: ignore[arg-type]
    )
    if since is not None:
        query = query.where(col(Decision.decided_at) >= since)
    if until is not None:
        query = query.where(col(Decision.decided_at) < until)
    return query


async def decision_log(
    *,
    session: AsyncSession,
    actor: Principal,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    limit: int,
) -> DecisionLog:
    """One page of the decisions taken in [since, until), oldest first,
    with the request each decided; the export is audited."""
    order = [ascending(col(Decision.decided_at), datetime), ascending(col(Decision.id), str)]
    rows, next_cursor = await keyset_page(
        session,
        decision_log_query(since, until),
        order=order,
        key=lambda row: (row[0], row[12]),
        cursor=cursor,
        limit=limit,
    )
    items = [
        DecisionLogRow(
            decided_at=row[0],
            request_id=row[1],
            version=row[2],
            requester=row[3],
            purpose=row[4],
            purpose_description=row[5],
            urgency=row[6],
            outcome=row[7],
            decided_by=row[8],
            principles_engaged=[
                f"{finding['rule']} ({finding['result']})"
                for finding in row[9]
                if finding["result"] != FindingResult.PASS
            ],
            conditions=row[10],
            rationale=row[11],
        )
        for row in rows
    ]
    await events.report_run(
        session=session,
        actor=actor,
        action=ReportAction.DECISION_LOG_EXPORTED,
        report="decision_log",
        outcome=f"{len(items)} decisions",
    )
    return DecisionLog(items=items, next_cursor=next_cursor)


def spreadsheet_safe(cell: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula, by a leading apostrophe."""
    return f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell


def decision_log_csv(log: DecisionLog) -> str:
    """The log as CSV for a spreadsheet: a UTF-8 byte order mark, a header row, CRLF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(DecisionLogRow.model_fields)
    for row in log.items:
        cells = row.model_dump(mode="json")
        writer.writerow(
            spreadsheet_safe(
                LIST_SEPARATOR.join(value) if isinstance(value, list) else "" if value is None else str(value)
            )
            for value in cells.values()
        )
    # The byte order mark makes Excel read the file as UTF-8.
    return "\ufeff" + buffer.getvalue()


async def named_requests(
    *, session: AsyncSession, subject_keys: SubjectKeys, identifier: str, cursor: str | None, limit: int
) -> tuple[int, list[SharingRequest], str | None]:
    """How many requests named this person in any version (matched by keyed hash under every configured key
    version, so rows not yet re-keyed are found too), and one page of them, oldest first."""
    under_each_key = [
        and_(col(RequestSubject.key_version) == version, col(RequestSubject.subject_hash) == hashed)
        for version, hashed in subject_keys.every_hash(identifier).items()
    ]
    named = select(RequestSubject.request_id).where(or_(*under_each_key))
    matches = (
        await session.exec(select(func.count()).select_from(SharingRequest).where(col(SharingRequest.id).in_(named)))
    ).one()
    query = select(SharingRequest).where(col(SharingRequest.id).in_(named))
    order = [ascending(col(SharingRequest.created_at), datetime), ascending(col(SharingRequest.id), str)]
    requests, next_cursor = await keyset_page(
        session, query, order=order, key=lambda row: (row.created_at, row.id), cursor=cursor, limit=limit
    )
    return matches, requests, next_cursor


async def subject_disclosures(
    *,
    session: AsyncSession,
    actor: Principal,
    subject_keys: SubjectKeys,
    identifier: str,
    cursor: str | None,
    limit: int,
) -> SubjectDisclosures:
    """Requests that named this person in any version, matched by keyed hash, oldest first,
    with the latest decision; the search is audited."""
    matches, requests, next_cursor = await named_requests(
        session=session, subject_keys=subject_keys, identifier=identifier, cursor=cursor, limit=limit
    )
    on_page = [request.id for request in requests]
    decisions = (
        await session.exec(
            select(Decision)
            .where(col(Decision.request_id).in_(on_page))
            .order_by(col(Decision.decided_at), col(Decision.id))
        )
    ).all()
    latest = {decision.request_id: decision for decision in decisions}  # the last one of each request wins
    made = await disclosures_made(session=session, request_ids=on_page)
    items = [
        SubjectDisclosure(
            request_id=request.id,
            requester=request.requester_org,
            purpose=request.purpose_category,
            urgency=request.urgency,
            status=request.status,
            outcome=latest[request.id].outcome,
            created_at=request.created_at,
            decided_at=latest[request.id].decided_at,
            disclosures=made.get(request.id, []),
        )
        for request in requests
    ]
    # The identifier is not recorded, not even hashed: the trail keeps who searched and how much was found.
    await events.report_run(
        session=session,
        actor=actor,
        action=ReportAction.SUBJECT_DISCLOSURES_SEARCHED,
        report="subject_disclosures",
        outcome=f"{matches} requests",
    )
    return SubjectDisclosures(matches=matches, items=items, next_cursor=next_cursor)


async def disclosures_made(*, session: AsyncSession, request_ids: list[str]) -> dict[str, list[DisclosureMade]]:
    """The disclosures of these requests, oldest opened first, by request."""
    rows = await session.exec(
        select(Disclosure)
        .where(col(Disclosure.request_id).in_(request_ids))
        .order_by(col(Disclosure.opened_at), col(Disclosure.id))
    )
    made: dict[str, list[DisclosureMade]] = {}
    for row in rows.all():
        made.setdefault(row.request_id, []).append(
            DisclosureMade(
                asset_code=row.asset_code,
                status=row.status,
                items=[DataCategory(item) for item in row.items] if row.items is not None else None,
                channel=row.channel,
                disclosed_at=row.disclosed_at,
            )
        )
    return made


async def subject_disclosures_fhir(
    *,
    session: AsyncSession,
    actor: Principal,
    subject_keys: SubjectKeys,
    identifier: str,
    controller: str,
    cursor: str | None,
    limit: int,
    page_url: Callable[[str], str],
) -> fhir.Resource:
    """The same search as a FHIR Bundle: every decision on each request of the page,
    the person named as the caller named them; audited alike."""
    matches, requests, next_cursor = await named_requests(
        session=session, subject_keys=subject_keys, identifier=identifier, cursor=cursor, limit=limit
    )
    # Guardians and auditors only (app/routers/reports.py): they see guardians by subject.
    entries = await fhir_export.entries_for(
        session=session, requests=requests, controller=controller, guardian=None, person=identifier
    )
    await events.report_run(
        session=session,
        actor=actor,
        action=ReportAction.SUBJECT_DISCLOSURES_SEARCHED,
        report="subject_disclosures",
        outcome=f"{matches} requests, as FHIR",
    )
    return fhir.bundle(entries, now=utcnow(), next_url=page_url(next_cursor) if next_cursor is not None else None)


async def audit_events(
    *,
    session: AsyncSession,
    auditor: Principal,
    request_id: str | None,
    actor_sub: str | None,
    actor_org: str | None,
    action: AuditAction | None,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    limit: int,
) -> AuditEventPage:
    """One page of the audit trail, filtered as `audit.list_page` filters it;
    the auditor's reading is itself audited."""
    page = await audit.list_page(
        session=session,
        request_id=request_id,
        actor_sub=actor_sub,
        actor_org=actor_org,
        action=action,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )
    await events.report_run(
        session=session,
        actor=auditor,
        action=ReportAction.AUDIT_EVENTS_LISTED,
        report="audit_events",
        outcome=f"{len(page.items)} events",
    )
    return page


async def audit_verification(
    *,
    session: AsyncSession,
    auditor: Principal,
    keys: Mapping[str, dict[str, str]],
    witnesses: Sequence[CheckpointPublic] = (),
) -> AuditVerification:
    """Recompute the whole hash chain for an auditor, check it against the checkpoints,
    and record that it was checked and what was found."""
    result = await audit.verify(session=session, keys=keys, witnesses=witnesses)
    # Witness copies whose signature fails are said as what they are (rejected, proving nothing), never as a break.
    given = f", {result.witnessed} witnessed, {len(result.rejected_witnesses)} rejected" if witnesses else ""
    checked = f"{result.events} events, {result.checkpoints} checkpoints{given}"
    outcome = f"valid, {checked}" if result.valid else f"broken at seq {result.first_broken_seq}{given}"
    await events.report_run(
        session=session, actor=auditor, action=ReportAction.AUDIT_VERIFIED, report="audit_trail", outcome=outcome[:80]
    )
    return result
