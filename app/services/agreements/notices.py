"""Notices that an agreement's review date or end is near,
sent by the webhook worker once per date, however many workers run.

The worker calls `check` as it starts and every `agreement_check_seconds`. An active agreement that has not
ended is announced `sharing_agreement.review_due` from NOTICE_DAYS before its review date (or at once, if the
date is nearer or past when it is set), and `sharing_agreement.expiring` from NOTICE_DAYS before its last day.
A suspended or ended agreement is announced nothing.

What makes a notice once per date is a row of sharing_agreement_notices keyed by agreement, kind and the date
announced, written by INSERT ... ON CONFLICT DO NOTHING in the transaction that writes the outbox event and the
audit event: of two workers looking at once, the second waits on the key until the first commits and then
inserts nothing, so it sends nothing. A date an admin moves is a new key, so its notice is sent again.
"""

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.actions import NoticeAction
from app.models.agreement import AgreementNotice, AgreementNoticeKind, SharingAgreement
from app.models.base import utcnow
from app.models.vocabulary import AgreementStatus
from app.models.webhook import WebhookEventType
from app.services.audit import chain as audit
from app.services.audit import events
from app.services.sharing_requests.facts import today_in_london

log = logging.getLogger("caldicott.agreements")

NOTICE_DAYS = 30
NOTICES = AgreementNotice.__table__  # type: ignore[attr-defined]
WHAT_IS_SENT = {
    AgreementNoticeKind.REVIEW_DUE: (WebhookEventType.AGREEMENT_REVIEW_DUE, NoticeAction.AGREEMENT_REVIEW_DUE),
    AgreementNoticeKind.EXPIRING: (WebhookEventType.AGREEMENT_EXPIRING, NoticeAction.AGREEMENT_EXPIRING),
}


@dataclass(frozen=True)
class Notice:
    """One notice sent: about which agreement, what it announced, and its outbox event."""

    code: str
    kind: AgreementNoticeKind
    for_date: date
    days_left: int
    event_id: str


def due_dates(agreement: SharingAgreement, today: date) -> list[tuple[AgreementNoticeKind, date]]:
    """The dates of the agreement that are NOTICE_DAYS away or nearer (a review date may also have passed)."""
    soon = today + timedelta(days=NOTICE_DAYS)
    due = []
    if agreement.review_date is not None and agreement.review_date <= soon:
        due.append((AgreementNoticeKind.REVIEW_DUE, agreement.review_date))
    if today <= agreement.valid_until <= soon:
        due.append((AgreementNoticeKind.EXPIRING, agreement.valid_until))
    return due


async def announce_due(*, session: AsyncSession, today: date) -> list[Notice]:
    """Announce each date now due of each active agreement that has not ended,
    unless it was announced before; the notices sent."""
    soon = today + timedelta(days=NOTICE_DAYS)
    review_near = and_(col(SharingAgreement.review_date).is_not(None), col(SharingAgreement.review_date) <= soon)
    query = (
        select(SharingAgreement)
        .where(
            col(SharingAgreement.status) == AgreementStatus.ACTIVE,
            col(SharingAgreement.valid_until) >= today,
            or_(col(SharingAgreement.valid_until) <= soon, review_near),
        )
        # One order for every worker: two that meet wait on the same keys in turn, never on each other's.
        .order_by(col(SharingAgreement.code))
    )
    sent = []
    for agreement in (await session.exec(query)).all():
        for kind, day in due_dates(agreement, today):
            if await _claim(session=session, code=agreement.code, kind=kind, day=day):
                sent.append(await _announce(session=session, agreement=agreement, kind=kind, day=day, today=today))
    return sent


async def check(sessionmaker: async_sessionmaker[AsyncSession], *, today: date | None = None) -> list[Notice]:
    """One look by the worker, in its own transaction (today in London unless given),
    then chain its audit events; the notices sent."""
    async with sessionmaker() as session:
        sent = await announce_due(session=session, today=today or today_in_london(utcnow()))
        await session.commit()
    if sent:
        await audit.chain_pending(sessionmaker)
    for notice in sent:
        log.info("agreement %s: %s %s announced (%d days)", notice.code, notice.kind, notice.for_date, notice.days_left)
    return sent


async def _claim(*, session: AsyncSession, code: str, kind: AgreementNoticeKind, day: date) -> bool:
    """Record that this date of the agreement is being announced; False when it was (or is being) announced already."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(NOTICES)
        .values(code=code, kind=kind, for_date=day, sent_at=utcnow())
        .on_conflict_do_nothing(index_elements=[NOTICES.c.code, NOTICES.c.kind, NOTICES.c.for_date])
        .returning(NOTICES.c.code)
    )
    return (await session.exec(statement)).first() is not None


async def _announce(
    *, session: AsyncSession, agreement: SharingAgreement, kind: AgreementNoticeKind, day: date, today: date
) -> Notice:
    """The outbox event and audit event of one notice, to the endpoints of the controller, the owner and the parties."""
    event_type, action = WHAT_IS_SENT[kind]
    days_left = (day - today).days
    data = {
        "code": agreement.code,
        "title": agreement.title,
        "date": day.isoformat(),
        "days_left": days_left,
        "owner": agreement.owner,
        "parties": list(agreement.parties),
        "link": f"/v1/sharing-agreements/{agreement.code}",
    }
    organisations = {*agreement.parties, *([agreement.owner] if agreement.owner else [])}
    outcome = f"{kind} {day.isoformat()}, {days_left} days left"
    event_id = await events.agreement_announced(
        session=session,
        action=action,
        event_type=event_type,
        code=agreement.code,
        outcome=outcome,
        data=data,
        organisations=organisations,
    )
    return Notice(code=agreement.code, kind=kind, for_date=day, days_left=days_left, event_id=event_id)
