"""Writing notifications: one `email_outbox` row per message, in the transaction of the act that calls for it."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.actions import RequestAction
from app.models.base import utcnow
from app.models.notification import EmailKind, EmailMessage, Person
from app.models.sharing_request import Decision, SharingRequest, new_id
from app.models.vocabulary import Role, Urgency
from app.platform import driver, writes

# The moves that bring a request (back) into the guardian queue: an emergency one arriving by any of them is told to
# the guardians on duty.
ARRIVALS = frozenset(
    {
        RequestAction.SUBMITTED,
        RequestAction.AMENDED,
        RequestAction.RECONSIDERATION_REQUESTED,
        RequestAction.UNVERIFIED_EVIDENCE_LISTED,
        RequestAction.CONTROLLER_CHECK_FAILED,
    }
)


def _row(
    *,
    kind: EmailKind,
    request_id: str,
    due_at: datetime | None,
    now: datetime,
    sub: str | None = None,
    org: str | None = None,
    once_key: str | None = None,
) -> dict[str, object]:
    return {
        "id": new_id(),
        "kind": kind,
        "request_id": request_id,
        "recipient_sub": sub,
        "recipient_org": org,
        "due_at": due_at,
        "once_key": once_key,
        "created_at": now,
        "next_attempt_at": now,
        "attempts": 0,
    }


def opinion_requested(*, session: AsyncSession, request: SharingRequest, sub: str, org: str, now: datetime) -> None:
    """Tell the guardian named for an opinion on the request."""
    row = _row(
        kind=EmailKind.OPINION_REQUESTED, request_id=request.id, due_at=request.due_at, now=now, sub=sub, org=org
    )
    writes.add(session, EmailMessage, row)


def seated(
    *, session: AsyncSession, request: SharingRequest, members: Iterable[tuple[str, str]], now: datetime
) -> None:
    """Tell each guardian seated on the request's panel (not its chair, who opened it)."""
    rows = [
        _row(kind=EmailKind.PANEL_SEAT, request_id=request.id, due_at=request.due_at, now=now, sub=sub, org=org)
        for sub, org in members
    ]
    writes.add(session, EmailMessage, rows)


def request_changed(*, session: AsyncSession, request: SharingRequest, action: RequestAction) -> None:
    """Tell the guardians on duty of an emergency request arriving in the queue, or of a queued request gone overdue."""
    if action is RequestAction.OVERDUE:
        kind = EmailKind.OVERDUE
    elif action in ARRIVALS and request.in_queue and request.urgency == Urgency.EMERGENCY:
        kind = EmailKind.EMERGENCY_REFERRED
    else:
        return
    writes.add(session, EmailMessage, _row(kind=kind, request_id=request.id, due_at=request.due_at, now=utcnow()))


async def safeguarding_decided(*, session: AsyncSession, request: SharingRequest, decision: Decision) -> None:
    """Tell each safeguarding lead of a safeguarding request's decision: the people whose last console sign-in held
    the role (honoured for the controller's people alone, app/powers.py)."""
    leads = await driver.fetch(session, _LEADS, {}, transaction=driver.Transaction.JOINED)
    now = utcnow()
    rows = [
        _row(
            kind=EmailKind.SAFEGUARDING_DECIDED,
            request_id=request.id,
            due_at=decision.decided_at,  # the time its message names: when the case was decided
            now=now,
            sub=sub,
            org=org,
        )
        for sub, org in leads
    ]
    writes.add(session, EmailMessage, rows)


# Roles are one closed vocabulary, space-separated: no role's name holds another's.
_LEADS = driver.prepare(
    select(Person.sub, Person.org)
    .where(col(Person.roles).contains(str(Role.SAFEGUARDING_LEAD)))
    .order_by(col(Person.org), col(Person.sub))
)


async def claims_lapsing(*, session: AsyncSession, now: datetime, within: timedelta) -> int:
    """Warn each guardian whose claim lapses within `within`, once per claim (a renewed claim is a new one);
    the warnings written."""
    query = select(
        SharingRequest.id, SharingRequest.assignee_sub, SharingRequest.assignee_org, SharingRequest.claim_expires_at
    ).where(
        col(SharingRequest.assignee_sub).is_not(None),
        col(SharingRequest.claim_expires_at) > now,
        col(SharingRequest.claim_expires_at) <= now + within,
    )
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    written = 0
    for request_id, sub, org, expires in (await session.exec(query)).all():
        once = f"claim:{request_id}:{expires:%Y%m%dT%H%M%S.%f}"
        row = _row(
            kind=EmailKind.CLAIM_LAPSING,
            request_id=request_id,
            due_at=expires,
            now=now,
            sub=sub,
            org=org,
            once_key=once,
        )
        statement = insert(EmailMessage).values(row).on_conflict_do_nothing(index_elements=["once_key"])
        written += (await session.exec(statement.returning(col(EmailMessage.id)))).first() is not None
    return written
