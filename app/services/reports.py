"""Reports for the Caldicott Guardian and auditors: the decision log and a person's disclosures."""

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.canonical import subject_hash
from app.errors import InvalidInput
from app.models.base import LONDON
from app.models.page import Page
from app.models.sharing_request import Decision, RequestSubject, RequestVersion, SharingRequest
from app.models.vocabulary import DecisionOutcome, FindingResult, PurposeCategory, RequestStatus, Urgency
from app.services.pagination import ascending, keyset_page

# A cell starting with one of these is read as a formula by spreadsheets (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
LIST_SEPARATOR = "; "


def period_bound(field: str, value: str | None, *, end: bool, location: str = "query") -> datetime | None:
    """A query bound as an instant: a date is a whole day in Europe/London, a date-time needs an offset."""
    if value is None:
        return None
    try:
        if len(value) == len("YYYY-MM-DD"):
            day = date.fromisoformat(value) + timedelta(days=1 if end else 0)
            return datetime.combine(day, time(), LONDON).astimezone(UTC)
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise InvalidInput(field, "a date-time needs an offset, such as Z for UTC", location=location)
        return moment.astimezone(UTC) + timedelta(microseconds=1 if end else 0)
    except (ValueError, OverflowError):  # OverflowError: an instant at the very ends of the calendar
        raise InvalidInput(field, "must be a date (YYYY-MM-DD) or a date-time with an offset (2026-11-26T09:00:00Z)", location=location) from None


def period(*, from_: str | None, to: str | None, location: str = "query") -> tuple[datetime | None, datetime | None]:
    """The inclusive from/to parameters as [since, until) instants, validated."""
    since, until = period_bound("from", from_, end=False, location=location), period_bound("to", to, end=True, location=location)
    if since is not None and until is not None and until <= since:
        raise InvalidInput("to", "must not be before from", location=location)
    return since, until


class DecisionLogRow(BaseModel):
    """One decision, as the Caldicott log records it."""

    decided_at: datetime
    request_id: str
    version: int
    requester: str
    purpose: PurposeCategory
    purpose_description: str
    urgency: Urgency
    outcome: DecisionOutcome
    decided_by: str
    principles_engaged: list[str]
    conditions: list[str]
    rationale: str | None


class DecisionLog(Page[DecisionLogRow]):
    pass


async def decision_log(*, session: AsyncSession, since: datetime | None, until: datetime | None, cursor: str | None, limit: int) -> DecisionLog:
    """One page of the decisions taken in [since, until), oldest first, with the request each decided."""
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
        .join(RequestVersion, (RequestVersion.request_id == Decision.request_id) & (RequestVersion.version == Decision.version))  # type: ignore[arg-type]
    )
    if since is not None:
        query = query.where(col(Decision.decided_at) >= since)
    if until is not None:
        query = query.where(col(Decision.decided_at) < until)
    order = [ascending(col(Decision.decided_at), datetime), ascending(col(Decision.id), str)]
    rows, next_cursor = await keyset_page(session, query, order=order, key=lambda row: (row[0], row[12]), cursor=cursor, limit=limit)
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
            principles_engaged=[f"{finding['rule']} ({finding['result']})" for finding in row[9] if finding["result"] != FindingResult.PASS],
            conditions=row[10],
            rationale=row[11],
        )
        for row in rows
    ]
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
            spreadsheet_safe(LIST_SEPARATOR.join(value) if isinstance(value, list) else "" if value is None else str(value)) for value in cells.values()
        )
    # The byte order mark makes Excel read the file as UTF-8.
    return "\ufeff" + buffer.getvalue()


class SubjectQuery(BaseModel):
    """The person to search for: an NHS number or local identifier, as requests name them."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"identifier": "9990000018"}]})

    identifier: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]

    @field_validator("identifier")
    @classmethod
    def not_blank(cls, identifier: str) -> str:
        if not identifier.strip():
            raise ValueError("must not be blank")
        return identifier


class SubjectDisclosure(BaseModel):
    """One request that named the person, and what became of it."""

    request_id: str
    requester: str
    purpose: PurposeCategory
    urgency: Urgency
    status: RequestStatus
    outcome: DecisionOutcome
    created_at: datetime
    decided_at: datetime


class SubjectDisclosures(Page[SubjectDisclosure]):
    """A page of the requests that named the person; the identifier itself is never echoed."""

    matches: int = Field(description="How many requests named the person, on every page")


async def subject_disclosures(*, session: AsyncSession, subject_key: bytes, identifier: str, cursor: str | None, limit: int) -> SubjectDisclosures:
    """Requests that named this person in any version, matched by keyed hash, oldest first, with the latest decision."""
    named = select(RequestSubject.request_id).where(RequestSubject.subject_hash == subject_hash(subject_key, identifier))
    matches = (await session.exec(select(func.count()).select_from(SharingRequest).where(col(SharingRequest.id).in_(named)))).one()
    query = select(SharingRequest).where(col(SharingRequest.id).in_(named))
    order = [ascending(col(SharingRequest.created_at), datetime), ascending(col(SharingRequest.id), str)]
    requests, next_cursor = await keyset_page(session, query, order=order, key=lambda row: (row.created_at, row.id), cursor=cursor, limit=limit)
    on_page = [request.id for request in requests]
    decisions = (await session.exec(select(Decision).where(col(Decision.request_id).in_(on_page)).order_by(col(Decision.decided_at), col(Decision.id)))).all()
    latest = {decision.request_id: decision for decision in decisions}  # the last one of each request wins
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
        )
        for request in requests
    ]
    return SubjectDisclosures(matches=matches, items=items, next_cursor=next_cursor)
