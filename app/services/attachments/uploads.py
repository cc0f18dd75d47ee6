"""Evidence attached to sharing requests: an upload received as a stream and recorded, the list
(with each one's verification), the audited download.

An upload cannot be one transaction like other writes: the client may take minutes to send it,
and a transaction held open that long would hold a pooled connection on PostgreSQL and SQLite's
only write lock. So `receive` ends the caller's read transaction before it reads the body,
stores the content as it arrives (app/services/attachments/store.py), and only then lets the
caller record the attachment, in a short transaction it commits itself: on any failure,
before or at that commit, it removes what it stored, so nothing is left half-stored.
"""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select as core_select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, Forbidden, InvalidInput, NotFound, ProblemError
from app.models.attachment import Attachment, AttachmentBlob, AttachmentPage, AttachmentPublic, MediaType
from app.models.base import utcnow
from app.models.sharing_request import SharingRequest, new_id
from app.models.vocabulary import AttachmentKind, Role
from app.platform.pagination import ascending, keyset_page
from app.principal import Principal
from app.services.attachments import quotas
from app.services.attachments import verifications as attachment_verifications
from app.services.attachments.content import ContentCheck
from app.services.attachments.store import Gone, Staging, Store
from app.services.audit import events
from app.services.review import naming as guardian_naming

log = logging.getLogger("caldicott.attachments")

KINDS = ", ".join(AttachmentKind)
Sink = Callable[[memoryview], Awaitable[None]]


@dataclass
class UploadForm:
    """What an upload's body held besides the file's bytes."""

    kind: AttachmentKind | None = None
    description: str | None = None
    filename: str | None = None
    has_file: bool = False


# Reads the body, handing the file's bytes to the sink as they arrive (app/http/multipart.py reads multipart/form-data).
BodyReader = Callable[[Sink], Awaitable[UploadForm]]

BLOBS = AttachmentBlob.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Received:
    """What an upload carried: its fields, what its content was found to be, and the content,
    staged until it is recorded."""

    kind: AttachmentKind
    filename: str | None
    description: str | None
    media_type: MediaType
    sha256: str
    size: int
    staging: Staging


@dataclass(frozen=True)
class Download:
    """An attachment about to be sent, and its content in chunks."""

    attachment: Attachment
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True)
class Owner:
    """What attachments belong to: a request (`request_id`) or an agreement (`agreement_code`), by its key."""

    field: str
    key: str
    noun: str

    def owns(self, row: Attachment) -> bool:
        """True when the attachment is this owner's."""
        return getattr(row, self.field) == self.key


def of_request(request: SharingRequest) -> Owner:
    return Owner("request_id", request.id, "request")


def of_agreement(code: str) -> Owner:
    return Owner("agreement_code", code, "agreement")


def check_uploader(principal: Principal, request: SharingRequest) -> None:
    """Evidence is attached by the requesting agency itself or by a guardian;
    anyone else who can see the request gets 403."""
    if principal.has(Role.GUARDIAN) or (principal.has(Role.AGENCY) and principal.org == request.requester_org):
        return
    raise Forbidden("evidence is attached by the requesting agency or by a guardian")


@asynccontextmanager
async def receive(read_body: BodyReader, *, session: AsyncSession, store: Store) -> AsyncIterator[Received]:
    """Read the multipart body, storing the file as it arrives,
    and yield what it carried for the caller to record in `session`.

    Call it before writing anything in `session`: its read transaction is committed first. Leaving the block
    commits `session` (the content then belongs to the rows recorded); any error, in the block or at that
    commit, rolls back and removes the content stored for this upload.
    """
    await session.commit()  # end the authorisation's reads: no lock or connection is held while the client sends
    staging = store.stage()
    check = ContentCheck()

    async def take(piece: memoryview) -> None:
        check.feed(piece)  # refused (415) as soon as the bytes show it, before they are stored
        await staging.write(piece)

    try:
        form = await read_body(take)
        if not form.has_file:
            raise InvalidInput("file", "required: the file, as a part named file")
        if form.kind is None:
            raise InvalidInput("kind", f"required: one of {KINDS}")
        media_type = check.finish()
        await staging.finish()
        yield Received(form.kind, form.filename, form.description, media_type, staging.sha256, staging.size, staging)
        await session.commit()
    except BaseException:
        await _abandon(session, staging)
        raise
    if not staging.placed:
        await staging.discard()  # the same content was stored already


async def _abandon(session: AsyncSession, staging: Staging) -> None:
    """Roll back and remove what this upload stored;
    a failure here is logged, the original error is what the caller sees."""
    try:
        await session.rollback()
        await staging.abandon(session)
    except Exception:
        log.exception(
            "could not remove the content of a failed upload; `caldicott attachments purge` removes such leftovers"
        )


async def record(
    *,
    session: AsyncSession,
    principal: Principal,
    received: Received,
    request_id: str | None = None,
    agreement_code: str | None = None,
) -> Attachment:
    """The attachment row for a request or an agreement (exactly one), its content placed under its hash if new;
    the caller records the event."""
    if await _claim_content(session, received):
        await received.staging.place(session)
    row = Attachment(
        id=new_id(),
        request_id=request_id,
        agreement_code=agreement_code,
        kind=received.kind,
        filename=received.filename,
        description=received.description,
        media_type=received.media_type,
        size=received.size,
        sha256=received.sha256,
        uploaded_by=principal.sub,
        uploaded_by_org=principal.org,
        uploaded_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row


async def check_room(
    *, session: AsyncSession, principal: Principal, request: SharingRequest, limits: quotas.Limits
) -> None:
    """Before the body is read: refuse an upload that no file could fit (the request full, or the day's bytes spent),
    so a caller at a limit sends nothing more; the connection is closed, as the body is left unread."""
    try:
        await quotas.check(
            session=session, limits=limits, request_id=request.id, org=principal.org, size=1, now=utcnow()
        )
    except ProblemError as refused:
        refused.headers = (refused.headers or {}) | {"Connection": "close"}
        raise


async def record_for_request(
    *,
    session: AsyncSession,
    principal: Principal,
    request: SharingRequest,
    received: Received,
    limits: quotas.Limits,
) -> Attachment:
    """Attach the received content to the request if it fits the limits (checked under the request's lock);
    the audit event names its SHA-256, and webhook subscribers hear of it."""
    # Locked and read again: two uploads at once are counted one after the other, and subscribers are told the status
    # the request has now (it was read before the upload began).
    await quotas.hold(session=session, org=principal.org, request=request)
    await quotas.check(
        session=session,
        limits=limits,
        request_id=request.id,
        org=principal.org,
        size=received.size,
        now=utcnow(),
    )
    row = await record(session=session, principal=principal, received=received, request_id=request.id)
    request.updated_at = row.uploaded_at  # a change of the request: its row version, and so its ETag, goes up
    await session.flush()
    await events.attachment_added(session=session, actor=principal, request=request, sha256=received.sha256)
    return row


async def _claim_content(session: AsyncSession, received: Received) -> bool:
    """Register the content: True if it is new (to be placed), False if already stored
    (its row then held against a purge until commit)."""
    dialect = (await session.connection()).dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    new = (
        insert(BLOBS)
        .values(sha256=received.sha256, size=received.size, stored_at=utcnow())
        .on_conflict_do_nothing(index_elements=["sha256"])
    )
    held = core_select(BLOBS.c.sha256).where(BLOBS.c.sha256 == received.sha256).with_for_update(read=True)
    for _ in range(3):  # a purge may remove the row between the two statements; then the content is new again
        if (await session.exec(new.returning(BLOBS.c.sha256))).first() is not None:
            return True
        if (await session.exec(held)).first() is not None:
            return False
    raise Conflict("the same content was being purged at this moment; send it again")


async def list_page(*, session: AsyncSession, owner: Owner, cursor: str | None, limit: int) -> AttachmentPage:
    """A request's or an agreement's attachments, oldest first, purged ones included; keyset-paginated."""
    query = select(Attachment).where(col(getattr(Attachment, owner.field)) == owner.key)
    order = [ascending(col(Attachment.uploaded_at), datetime), ascending(col(Attachment.id), str)]
    rows, next_cursor = await keyset_page(
        session, query, order=order, key=lambda row: (row.uploaded_at, row.id), cursor=cursor, limit=limit
    )
    verified = (
        await attachment_verifications.latest_of(session, [row.id for row in rows])
        if owner.field == "request_id"
        else {}
    )
    return AttachmentPage(
        items=[AttachmentPublic.of(row, verified.get(row.id)) for row in rows], next_cursor=next_cursor
    )


async def list_for_request(
    *,
    session: AsyncSession,
    principal: Principal,
    request: SharingRequest,
    controller: str,
    cursor: str | None,
    limit: int,
) -> AttachmentPage:
    """A request's evidence for a reader who may see the request:
    an agency reads no guardian's subject as who attached it."""
    page = await list_page(session=session, owner=of_request(request), cursor=cursor, limit=limit)
    words = await guardian_naming.words_for(session=session, principal=principal, controller=controller)
    if words is None:
        return page
    items = [guardian_naming.attachment(item, requester=request.requester_org, words=words) for item in page.items]
    return page.model_copy(update={"items": items})


async def download(*, session: AsyncSession, store: Store, owner: Owner, attachment_id: str) -> Download:
    """The attachment's content, found before anything is sent;
    the caller records the read. 404 if not the owner's, 410 if purged."""
    row = await session.get(Attachment, attachment_id)
    if row is None or not owner.owns(row):
        raise NotFound(f"no attachment {attachment_id!r} on this {owner.noun}")
    if row.purged_at is not None:
        raise Gone(
            f"the content of this attachment was removed on {row.purged_at:%Y-%m-%d} when its retention "
            "ended; its record and SHA-256 remain"
        )
    try:
        chunks = await store.reader(row.sha256)
    except FileNotFoundError:
        log.error("attachment %s names content %s, which the store does not hold", row.id, row.sha256)
        raise ProblemError("the content of this attachment cannot be found; the error has been logged") from None
    return Download(attachment=row, chunks=chunks)


async def download_for_request(
    *, session: AsyncSession, store: Store, principal: Principal, request: SharingRequest, attachment_id: str
) -> Download:
    """A request's attachment, its download recorded as an audited read."""
    found = await download(session=session, store=store, owner=of_request(request), attachment_id=attachment_id)
    await events.attachment_read(
        session=session, actor=principal, request_id=request.id, sha256=found.attachment.sha256
    )
    return found
