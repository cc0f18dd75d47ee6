"""A guardian's verification of a request's evidence, and the evidence that counts:
attachments whose latest verification is `verified`.

The `kind` an uploader declares files an attachment, nothing more (brief section 7, Evidence): a condition that
evidence would clear clears only once a guardian who is not of the requesting organisation has checked the
document and recorded it. Verifications are never edited; the latest of an attachment's is the one that counts.
"""

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Forbidden, InvalidInput, NotFound
from app.models.attachment import Attachment
from app.models.base import LONDON, utcnow
from app.models.sharing_request import RequestVersion, SharingRequest
from app.models.verification import AttachmentVerification, VerificationBody, VerificationPublic
from app.models.vocabulary import AttachmentKind, Role, VerificationOutcome
from app.principal import Principal
from app.rules.facts import WeighedEvidence
from app.services.attachments.store import Gone
from app.services.audit import events

IN_BATCH = 500  # request or attachment ids per IN (...) list
SUMMONS = "witness_summons"


def check_verifier(principal: Principal, request: SharingRequest) -> None:
    """Only a guardian who is not of the requesting organisation verifies its evidence;
    anyone else who can see the request gets 403."""
    if not principal.has(Role.GUARDIAN):
        raise Forbidden("evidence is verified by a Caldicott Guardian")
    if principal.org == request.requester_org:
        raise Forbidden("a guardian may not verify evidence for a request made by their own organisation")


async def verify(
    *, session: AsyncSession, principal: Principal, request: SharingRequest, attachment_id: str, body: VerificationBody
) -> VerificationPublic:
    """Record a guardian's verification of one of the request's attachments;
    the request's ETag changes, and the act is audited and announced."""
    check_verifier(principal, request)
    attachment = await session.get(Attachment, attachment_id)
    if attachment is None or attachment.request_id != request.id:
        raise NotFound(f"no attachment {attachment_id!r} on this request")
    if attachment.purged_at is not None:
        raise Gone(
            f"the content of this attachment was removed on {attachment.purged_at:%Y-%m-%d}: "
            "there is nothing left to verify"
        )
    await _check_body(session=session, request=request, attachment=attachment, body=body)
    now = utcnow()
    row = AttachmentVerification(
        attachment_id=attachment.id,
        request_id=request.id,
        outcome=body.outcome,
        checked=body.checked,
        order=body.order.model_dump(mode="json") if body.order is not None else None,
        verified_by=principal.sub,
        verified_by_org=principal.org,
        verified_by_role=Role.GUARDIAN,
        verified_at=now,
    )
    session.add(row)
    request.updated_at = now  # a change of the request: its row version, and so its ETag, goes up
    await session.flush()
    await events.evidence_verified(
        session=session,
        actor=principal,
        request=request,
        outcome=body.outcome,
        kind=attachment.kind,
        attachment_id=attachment.id,
    )
    return VerificationPublic.of(row)


async def _check_body(
    *, session: AsyncSession, request: SharingRequest, attachment: Attachment, body: VerificationBody
) -> None:
    """An order, summons or notice needs the items section 7 lists;
    one verified must have passed them all (else record `rejected`)."""
    if attachment.kind != AttachmentKind.COURT_ORDER:
        return
    if body.order is None:
        raise InvalidInput(
            "order", "required for evidence of kind court_order: what was checked on the order, summons or notice"
        )
    if body.outcome != VerificationOutcome.VERIFIED:
        return
    query = select(RequestVersion.body).where(
        RequestVersion.request_id == request.id, RequestVersion.version == request.current_version
    )
    provision = (await session.exec(query)).one()["legal_basis"].get("provision")
    shortfalls = body.order.shortfalls(today=utcnow().astimezone(LONDON).date(), summons=provision == SUMMONS)
    if shortfalls:
        raise InvalidInput(
            "order", "; ".join(shortfalls) + ": an order that fails a check is recorded `rejected`, not `verified`"
        )


async def latest_of(session: AsyncSession, attachment_ids: Sequence[str]) -> dict[str, VerificationPublic]:
    """The latest verification of each attachment that has one."""
    latest: dict[str, VerificationPublic] = {}
    ids = list(dict.fromkeys(attachment_ids))
    for start in range(0, len(ids), IN_BATCH):
        query = (
            select(AttachmentVerification)
            .where(col(AttachmentVerification.attachment_id).in_(ids[start : start + IN_BATCH]))
            .order_by(col(AttachmentVerification.id))
        )
        for row in (await session.exec(query)).all():
            latest[row.attachment_id] = VerificationPublic.of(row)  # in order: the last one kept is the latest
    return latest


async def verified_evidence(session: AsyncSession, request_id: str) -> tuple[WeighedEvidence, ...]:
    """The request's attachments whose latest verification is `verified`, with it:
    the evidence the rules see (purged ones included)."""
    return (await verified_by_request(session, [request_id]))[request_id]


async def verified_by_request(
    session: AsyncSession, request_ids: Sequence[str]
) -> dict[str, tuple[WeighedEvidence, ...]]:
    """The verified evidence on each request; every id given is a key (an empty tuple if none)."""
    found: dict[str, dict[str, tuple[AttachmentVerification, AttachmentKind]]] = {
        request_id: {} for request_id in request_ids
    }
    ids = list(found)
    for start in range(0, len(ids), IN_BATCH):
        query = (
            select(AttachmentVerification, Attachment.kind)
            .join(Attachment, col(Attachment.id) == col(AttachmentVerification.attachment_id))
            .where(col(AttachmentVerification.request_id).in_(ids[start : start + IN_BATCH]))
            .order_by(col(AttachmentVerification.id))
        )
        for row, kind in (await session.exec(query)).all():
            found[row.request_id][row.attachment_id] = (row, AttachmentKind(kind))
    return {
        request_id: tuple(
            _weighed(row, kind) for row, kind in latest.values() if row.outcome == VerificationOutcome.VERIFIED
        )
        for request_id, latest in found.items()
    }


def _weighed(row: AttachmentVerification, kind: AttachmentKind) -> WeighedEvidence:
    assert row.id is not None
    return WeighedEvidence(
        attachment_id=row.attachment_id,
        kind=kind,
        verification_id=row.id,
        verified_by=row.verified_by,
        verified_at=row.verified_at,
    )


async def of_request(session: AsyncSession, request_id: str) -> list[AttachmentVerification]:
    """Every verification recorded on the request's evidence, oldest first (its history shows them)."""
    query = (
        select(AttachmentVerification)
        .where(AttachmentVerification.request_id == request_id)
        .order_by(col(AttachmentVerification.id))
    )
    return list((await session.exec(query)).all())
