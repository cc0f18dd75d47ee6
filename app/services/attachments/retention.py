"""The end of an attachment's retention: its content removed, its row and SHA-256 kept, each purge audited.

Retention runs CALDICOTT_ATTACHMENT_RETENTION_DAYS (six years by default) from the later of the
request's last change and the upload. The request's last change is `sharing_requests.updated_at`,
which every move of the workflow stamps (a decision, a reconsideration, a withdrawal, a claim),
so evidence is kept while the request is live and for the whole period after it settles; the
upload's own time counts too, so evidence added late is not purged the day it arrives. An
agreement's signed copy is not purged here: it is kept as long as the agreement's record is.

Content that another attachment still needs stays; when the last attachment naming it is
purged, the content goes with its attachment_blobs row, in the transaction that marks it.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, exists, or_
from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.attachment import Attachment, AttachmentBlob
from app.models.base import utcnow
from app.models.sharing_request import SharingRequest
from app.platform.config import Settings
from app.platform.db import make_engine, make_sessionmaker
from app.services.attachments.store import Removal, Store, open_store
from app.services.audit import chain as audit
from app.services.audit import events

BATCH = 100  # attachments purged per transaction
LEFTOVER_GRACE = timedelta(days=1)  # staged content older than this belongs to no upload still under way
BLOBS = AttachmentBlob.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Purge:
    """One attachment whose retention ended, and whether its content went with it (or stays for another attachment)."""

    attachment_id: str
    request_id: str
    kind: str
    size: int
    sha256: str
    content_removed: bool


@dataclass
class PurgeReport:
    purged: list[Purge] = field(default_factory=list)
    leftovers_removed: int = 0

    def lines(self, *, dry_run: bool) -> list[str]:
        """What was done (or, in a dry run, would be), one line per attachment and a summary."""
        verb = "would purge" if dry_run else "purged"
        lines = [
            f"{verb} attachment {p.attachment_id} of request {p.request_id} ({p.kind}, "
            f"{p.size} bytes, sha256:{p.sha256}): "
            + (
                "content removed"
                if p.content_removed
                else "content kept, another attachment still needs it or it is gone already"
            )
            for p in self.purged
        ]
        removed = sum(p.content_removed for p in self.purged)
        lines.append(f"{verb} {len(self.purged)} attachments whose retention has ended; {removed} contents removed")
        if not dry_run:
            lines.append(f"removed {self.leftovers_removed} leftovers of interrupted uploads")
        return lines


def _expired(cutoff: datetime) -> ColumnElement[bool]:
    """An unpurged request attachment (joined to its request) whose retention ended before `cutoff`."""
    return and_(
        col(Attachment.purged_at).is_(None),
        col(SharingRequest.updated_at) < cutoff,
        col(Attachment.uploaded_at) < cutoff,
    )


def _retained(cutoff: datetime) -> ColumnElement[bool]:
    """An unpurged attachment (outer-joined to its request) whose retention runs on:
    an agreement's, or a request's not yet ended."""
    runs_on = or_(
        col(Attachment.request_id).is_(None),
        col(SharingRequest.updated_at) >= cutoff,
        col(Attachment.uploaded_at) >= cutoff,
    )
    return and_(col(Attachment.purged_at).is_(None), runs_on)


async def purge(
    *, sessionmaker: async_sessionmaker[AsyncSession], store: Store, retention_days: int, now: datetime, dry_run: bool
) -> PurgeReport:
    """Purge every request attachment whose retention ended before `now`;
    in a dry run, only say what would be purged."""
    cutoff, report, after = now - timedelta(days=retention_days), PurgeReport(), ""
    while True:
        async with sessionmaker() as session:
            query = select(Attachment).join(SharingRequest, col(SharingRequest.id) == col(Attachment.request_id))
            query = query.where(_expired(cutoff), col(Attachment.id) > after).order_by(col(Attachment.id)).limit(BATCH)
            rows = list((await session.exec(query)).all())
            if not rows:
                break
            after = rows[-1].id
            if dry_run:
                removed = {
                    sha256
                    for sha256 in {row.sha256 for row in rows}
                    if not await _retained_elsewhere(session, sha256, cutoff)
                }
            else:
                removed = await _purge_batch(session, store, rows, now)
            report.purged += [
                Purge(row.id, str(row.request_id), str(row.kind), row.size, row.sha256, row.sha256 in removed)
                for row in rows
            ]
    if not dry_run:
        report.leftovers_removed = await _sweep(sessionmaker, store, before=now - LEFTOVER_GRACE)
        await audit.chain_pending(sessionmaker)
    return report


async def _purge_batch(session: AsyncSession, store: Store, rows: list[Attachment], now: datetime) -> set[str]:
    """Mark the rows purged and audit each; remove each content no unpurged attachment names;
    commit. The contents removed."""
    for row in rows:
        row.purged_at = now
        await events.attachment_purged(session=session, request_id=str(row.request_id), sha256=row.sha256)
    await session.flush()
    removals: list[Removal] = []
    removed: set[str] = set()
    for sha256 in sorted({row.sha256 for row in rows}):
        # Locked first: an upload of the same content holds this row
        # (FOR SHARE) until it commits, so it is counted below.
        held = core_select(BLOBS.c.sha256).where(BLOBS.c.sha256 == sha256).with_for_update()
        if (await session.exec(held)).first() is None:
            continue
        still_named = core_select(exists().where(col(Attachment.sha256) == sha256, col(Attachment.purged_at).is_(None)))
        if (await session.exec(still_named)).scalar():
            continue
        await session.exec(delete(BLOBS).where(BLOBS.c.sha256 == sha256))
        removals.append(await store.remove(session, sha256))
        removed.add(sha256)
    try:
        await session.commit()
    except BaseException:
        for removal in removals:
            await removal.settle(committed=False)
        raise
    for removal in removals:
        await removal.settle(committed=True)
    return removed


async def _retained_elsewhere(session: AsyncSession, sha256: str, cutoff: datetime) -> bool:
    """Dry run: whether an attachment whose retention runs on still names the content."""
    query = select(Attachment.id).outerjoin(SharingRequest, col(SharingRequest.id) == col(Attachment.request_id))
    return (
        await session.exec(query.where(col(Attachment.sha256) == sha256, _retained(cutoff)).limit(1))
    ).first() is not None


async def _sweep(sessionmaker: async_sessionmaker[AsyncSession], store: Store, *, before: datetime) -> int:
    """Remove what uploads interrupted by a crash left staged, older than `before`; how many were removed."""
    async with sessionmaker() as session:
        stored = set((await session.exec(core_select(BLOBS.c.sha256))).scalars().all())
        removed = await store.sweep(session, before=before, stored=stored)
        await session.commit()
    return removed


async def run(settings: Settings, *, dry_run: bool, now: datetime | None = None) -> PurgeReport:
    """`caldicott attachments purge`: purge with the service's settings, on an engine of its own."""
    engine = make_engine(settings.database_url)
    try:
        return await purge(
            sessionmaker=make_sessionmaker(engine),
            store=open_store(settings, engine),
            retention_days=settings.attachment_retention_days,
            now=now or utcnow(),
            dry_run=dry_run,
        )
    finally:
        await engine.dispose()
