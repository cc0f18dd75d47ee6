"""The public data uses register (Caldicott principle 8): every approval that stands for a purpose other than direct
care, in coded values only, less the entries the controller withholds; and the withholdings themselves.

Nothing here reads a free text, an identifier or a hash out of a request: an entry is built from named coded fields
of the body, so a field added to requests later cannot leak into the register by accident.
"""

import csv
import io
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, NotFound
from app.models.actions import AdminAction
from app.models.base import LONDON
from app.models.organisation import Organisation
from app.models.register import (
    RegisterDataItem,
    RegisterEntry,
    RegisterLegalBasis,
    RegisterOrganisation,
    RegisterPeople,
    RegisterWithholding,
    WithholdingBody,
    WithholdingPublic,
)
from app.models.sharing_request import Decision, RequestVersion, SharingRequest
from app.models.vocabulary import DecisionOutcome, PurposeCategory, RequestStatus
from app.platform.pagination import ascending, descending, keyset_page
from app.principal import Principal
from app.services.audit import events

APPROVED = (RequestStatus.APPROVED, RequestStatus.APPROVED_WITH_CONDITIONS)
APPROVING = (DecisionOutcome.APPROVE, DecisionOutcome.APPROVE_WITH_CONDITIONS)
CSV_COLUMNS = (
    "decided_on",
    "organisation_code",
    "organisation_name",
    "purpose",
    "article_6",
    "article_9",
    "confidentiality",
    "data",
    "people",
    "agreement",
    "outcome",
)


def standing_approval(request_id: Any) -> Any:
    """The id of the latest approving decision on a request: the approval that stands while its status is approved
    (a reconsideration or retrospective review that upheld it carries the same outcome, later)."""
    later = aliased(Decision)  # not the outer query's Decision, which it would otherwise correlate to
    return (
        select(later.id)
        .where(later.request_id == request_id, later.outcome.in_(APPROVING))
        .order_by(later.decided_at.desc(), later.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def register_query() -> Select[Any]:
    """Each approved request not for direct care and not withheld, with its standing approval, the version that
    approval decided, and its requester's name."""
    withheld = exists().where(col(RegisterWithholding.request_id) == col(SharingRequest.id))
    return (
        select(
            Decision.decided_at,
            Decision.id,
            Decision.approved_items,
            SharingRequest,
            RequestVersion.body,
            Organisation.name,
        )
        .join(SharingRequest, col(SharingRequest.id) == col(Decision.request_id))
        .join(
            RequestVersion,
            (col(RequestVersion.request_id) == col(Decision.request_id))
            & (col(RequestVersion.version) == col(Decision.version)),
        )
        .join(Organisation, col(Organisation.code) == col(SharingRequest.requester_org))
        .where(
            col(SharingRequest.status).in_(APPROVED),
            col(SharingRequest.purpose_category) != PurposeCategory.DIRECT_CARE,
            col(Decision.id) == standing_approval(SharingRequest.id),
            ~withheld,
        )
    )


def people(count: int, threshold: int) -> RegisterPeople:
    """A count as published: exact at or above the threshold, else the band under it."""
    return (
        RegisterPeople(count=count, band=None)
        if count >= threshold
        else RegisterPeople(count=None, band=f"<{threshold}")
    )


def entry(
    decided_at: datetime,
    approved_items: list[str] | None,
    request: SharingRequest,
    body: dict[str, Any],
    name: str,
    threshold: int,
) -> RegisterEntry:
    """One register entry from the coded fields of the body the approval decided; the data items are those the
    guardian approved when the approval named them."""
    basis = body["legal_basis"]
    items = [item for item in body["data_items"] if approved_items is None or item["category"] in approved_items]
    return RegisterEntry(
        decided_on=decided_at.astimezone(LONDON).date().isoformat(),
        organisation=RegisterOrganisation(code=request.requester_org, name=name),
        purpose=request.purpose_category,
        legal_basis=RegisterLegalBasis(
            article_6=basis["article_6"], article_9=basis.get("article_9"), confidentiality=basis["confidentiality"]
        ),
        data=[RegisterDataItem(category=item["category"], form=item["form"]) for item in items],
        people=people(body["subjects"]["count"], threshold),
        agreement=body.get("sharing_agreement"),
        outcome=request.status,
    )


async def register_page(
    *, session: AsyncSession, threshold: int, cursor: str | None, limit: int
) -> tuple[list[RegisterEntry], str | None]:
    """One page of the register, oldest decision first. Not audited: it is public, read by anyone."""
    order = [ascending(col(Decision.decided_at), datetime), ascending(col(Decision.id), str)]
    rows, next_cursor = await keyset_page(
        session, register_query(), order=order, key=lambda row: (row[0], row[1]), cursor=cursor, limit=limit
    )
    entries = [entry(row[0], row[2], row[3], row[4], row[5], threshold) for row in rows]
    return entries, next_cursor


def register_csv(entries: list[RegisterEntry]) -> str:
    """The entries as CSV: one row each, data items as `category:form` joined by "; ", people as the count or band.
    Every cell is a coded value or a registered name; a name starting like a formula is quoted out of harm's way."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in entries:
        name = item.organisation.name
        writer.writerow(
            (
                item.decided_on,
                item.organisation.code,
                f"'{name}" if name.startswith(("=", "+", "-", "@", "\t", "\r")) else name,
                item.purpose.value,
                item.legal_basis.article_6.value,
                item.legal_basis.article_9.value if item.legal_basis.article_9 else "",
                item.legal_basis.confidentiality.value,
                "; ".join(f"{data.category.value}:{data.form.value}" for data in item.data),
                item.people.count if item.people.count is not None else item.people.band,
                item.agreement or "",
                item.outcome.value,
            )
        )
    return out.getvalue()


async def withhold(*, session: AsyncSession, actor: Principal, body: WithholdingBody) -> WithholdingPublic:
    """Keep a request's entry out of the register, with the reason recorded and audited.
    Any request of the controller's may be withheld, listed now or not (a later approval stays withheld)."""
    if await session.get(SharingRequest, body.request_id) is None:
        raise NotFound(f"no sharing request {body.request_id!r}")
    if await session.get(RegisterWithholding, body.request_id) is not None:
        raise Conflict(f"sharing request {body.request_id!r} is already withheld from the register")
    row = RegisterWithholding(request_id=body.request_id, reason=body.reason, withheld_by=actor.sub)
    session.add(row)
    await session.flush()
    await events.admin_changed(
        session=session, actor=actor, action=AdminAction.REGISTER_ENTRY_WITHHELD, target_id=body.request_id
    )
    return WithholdingPublic.of(row)


async def restore(*, session: AsyncSession, actor: Principal, request_id: str) -> None:
    """Put a withheld entry back in the register (audited)."""
    row = await session.get(RegisterWithholding, request_id)
    if row is None:
        raise NotFound(f"sharing request {request_id!r} is not withheld from the register")
    await session.delete(row)
    await session.flush()
    await events.admin_changed(
        session=session, actor=actor, action=AdminAction.REGISTER_ENTRY_RESTORED, target_id=request_id
    )


async def withholding(*, session: AsyncSession, request_id: str) -> WithholdingPublic:
    """One withheld entry, with its reason."""
    row = await session.get(RegisterWithholding, request_id)
    if row is None:
        raise NotFound(f"sharing request {request_id!r} is not withheld from the register")
    return WithholdingPublic.of(row)


async def withholdings(
    *, session: AsyncSession, cursor: str | None, limit: int
) -> tuple[list[WithholdingPublic], str | None]:
    """One page of the withheld entries, newest first."""
    order = [
        descending(col(RegisterWithholding.withheld_at), datetime),
        ascending(col(RegisterWithholding.request_id), str),
    ]
    rows, next_cursor = await keyset_page(
        session,
        select(RegisterWithholding),
        order=order,
        key=lambda row: (row.withheld_at, row.request_id),
        cursor=cursor,
        limit=limit,
    )
    return [WithholdingPublic.of(row) for row in rows], next_cursor
