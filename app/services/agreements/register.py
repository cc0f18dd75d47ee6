"""Registering and changing information sharing agreements (admin), their versions, and finding the one a request names.

Every registration and every change is a new version: the agreement's `version` goes up by one and a row of
sharing_agreement_versions keeps every field as the change left it, in the same transaction and audit event.
"""

from datetime import date
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import InvalidInput, NotFound
from app.models.actions import AdminAction
from app.models.agreement import (
    CLEARABLE,
    SharingAgreement,
    SharingAgreementCreate,
    SharingAgreementPage,
    SharingAgreementPublic,
    SharingAgreementUpdate,
    SharingAgreementVersion,
    SharingAgreementVersionPage,
    SharingAgreementVersionPublic,
)
from app.models.attachment import Attachment
from app.models.organisation import Organisation
from app.models.vocabulary import AttachmentKind
from app.platform import writes
from app.platform.pagination import ascending, keyset_page
from app.principal import Principal
from app.services.agreements.registers import Register

AGREEMENTS = Register(
    SharingAgreement,
    "sharing agreement",
    registered=AdminAction.AGREEMENT_REGISTERED,
    changed=AdminAction.AGREEMENT_CHANGED,
)


async def register(*, session: AsyncSession, actor: Principal, data: SharingAgreementCreate) -> SharingAgreement:
    """Add an agreement as its version 1;
    a code already taken is a 409, an unregistered owner or a review date outside the period a 422."""
    await _check_owner(session=session, owner=data.owner)
    _check_review_date(data.review_date, valid_from=data.valid_from, valid_until=data.valid_until)
    await _check_signed_copy(session=session, code=data.code, attachment_id=data.signed_attachment)
    agreement = await AGREEMENTS.add(
        session=session, actor=actor, entry=SharingAgreement(**data.model_dump(), version=1)
    )
    _record_version(session=session, actor=actor, agreement=agreement)
    return agreement


async def get(*, session: AsyncSession, code: str) -> SharingAgreement:
    """One agreement, or 404."""
    return await AGREEMENTS.get(session=session, code=code)


async def find(*, session: AsyncSession, code: str) -> SharingAgreement | None:
    """The agreement a request names, or None when it is not registered."""
    return await session.get(SharingAgreement, code)


async def list_page(
    *, session: AsyncSession, cursor: str | None, after: str | None, limit: int
) -> SharingAgreementPage:
    """Agreements ordered by code, from the cursor (or, deprecated, after the given code)."""
    rows, next_cursor = await AGREEMENTS.page(session=session, cursor=cursor, after=after, limit=limit)
    return SharingAgreementPage(
        items=[SharingAgreementPublic.model_validate(row, from_attributes=True) for row in rows],
        next_cursor=next_cursor,
    )


async def update(
    *, session: AsyncSession, actor: Principal, code: str, changes: SharingAgreementUpdate
) -> SharingAgreement:
    """Apply an admin's changes as the next version; the period must stay ordered, with the review date inside it."""
    # Locked until the change commits: two changes at once take the next version one after the other.
    agreement = await session.get(SharingAgreement, code, with_for_update=True)
    if agreement is None:
        raise NotFound(f"no sharing agreement {code!r}")
    values = changes.model_dump(exclude_unset=True)
    cleared = [field for field in CLEARABLE if field in values and values[field] is None]
    valid_from = values.get("valid_from") or agreement.valid_from
    valid_until = values.get("valid_until") or agreement.valid_until
    if valid_until < valid_from:
        raise InvalidInput("valid_until", "must not be before valid_from")
    review_date = None if "review_date" in cleared else values.get("review_date") or agreement.review_date
    _check_review_date(review_date, valid_from=valid_from, valid_until=valid_until)
    await _check_owner(session=session, owner=values.get("owner"))
    await _check_signed_copy(session=session, code=code, attachment_id=values.get("signed_attachment"))
    for field in cleared:  # the register's change leaves a None as it was
        setattr(agreement, field, None)
    values["version"] = agreement.version + 1
    agreement = await AGREEMENTS.change(session=session, actor=actor, entry=agreement, values=values)
    _record_version(session=session, actor=actor, agreement=agreement)
    return agreement


async def versions_page(
    *, session: AsyncSession, code: str, cursor: str | None, limit: int
) -> SharingAgreementVersionPage:
    """The agreement's versions, oldest first, from the cursor; 404 for an agreement never registered."""
    await get(session=session, code=code)
    query = select(SharingAgreementVersion).where(SharingAgreementVersion.code == code)
    order = [ascending(col(SharingAgreementVersion.version), int)]
    rows, next_cursor = await keyset_page(
        session, query, order=order, key=lambda row: (row.version,), cursor=cursor, limit=limit
    )
    return SharingAgreementVersionPage(
        items=[SharingAgreementVersionPublic.of(row) for row in rows], next_cursor=next_cursor
    )


async def version(*, session: AsyncSession, code: str, number: int) -> SharingAgreementVersionPublic:
    """One version of an agreement as it was made, or 404."""
    row = await session.get(SharingAgreementVersion, (code, number))
    if row is None:
        raise NotFound(f"sharing agreement {code!r} has no version {number}")
    return SharingAgreementVersionPublic.of(row)


def snapshot(agreement: SharingAgreement) -> dict[str, Any]:
    """Every field of the agreement, as its public form shows it."""
    return SharingAgreementPublic.model_validate(agreement, from_attributes=True).model_dump(mode="json")


def _record_version(*, session: AsyncSession, actor: Principal, agreement: SharingAgreement) -> None:
    """Keep the agreement as it now stands as its current version, written with the change."""
    row = {
        "code": agreement.code,
        "version": agreement.version,
        "snapshot": snapshot(agreement),
        "changed_at": agreement.updated_at,
        "changed_by": actor.sub,
    }
    writes.add(session, SharingAgreementVersion, row)


def _check_review_date(review_date: date | None, *, valid_from: date, valid_until: date) -> None:
    """A review date must fall within the agreement's period, both ends included; 422 naming `review_date` otherwise."""
    if review_date is not None and not valid_from <= review_date <= valid_until:
        raise InvalidInput("review_date", f"must lie within the agreement's period, {valid_from} to {valid_until}")


async def _check_owner(*, session: AsyncSession, owner: str | None) -> None:
    """The owner must be a registered organisation; 422 naming `owner` otherwise."""
    if owner is not None and await session.get(Organisation, owner) is None:
        raise InvalidInput("owner", f"{owner!r} is not a registered organisation")


async def _check_signed_copy(*, session: AsyncSession, code: str, attachment_id: str | None) -> None:
    """The signed copy must be a document of kind `agreement` uploaded for this agreement;
    422 naming `signed_attachment` otherwise."""
    if attachment_id is None:
        return
    attachment = await session.get(Attachment, attachment_id)
    if attachment is None or attachment.agreement_code != code:
        # A new agreement has none yet: its signed copy is uploaded to it once registered, and named by a change.
        raise InvalidInput("signed_attachment", f"no attachment {attachment_id!r} was uploaded for agreement {code!r}")
    if attachment.kind != AttachmentKind.AGREEMENT:
        raise InvalidInput(
            "signed_attachment",
            f"attachment {attachment_id!r} is the agreement's {attachment.kind}, not its signed copy (kind agreement)",
        )
