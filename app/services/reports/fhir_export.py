"""Reading what a FHIR export of disclosure decisions needs, and the audited export of one request's decisions."""

import json
from collections.abc import Sequence
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.actions import RequestAction
from app.models.base import utcnow
from app.models.disclosure import Disclosure
from app.models.organisation import Organisation
from app.models.sharing_request import Decision, RequestVersion, SharingRequest
from app.models.vocabulary import DisclosureStatus
from app.principal import Principal
from app.services.audit import events
from app.services.reports import fhir
from app.services.review import naming as guardian_naming


async def entries_for(
    *,
    session: AsyncSession,
    requests: Sequence[SharingRequest],
    controller: str,
    guardian: str | None,
    person: str | None = None,
) -> list[fhir.Resource]:
    """An AuditEvent and a Provenance for every decision on each request, then for each disclosure of it recorded
    as made, in the requests' order, each request's decisions oldest first, then its disclosures as they were made.

    `guardian`: None to name guardians by their token subject;
    else the words that stand for them (app/services/review/naming.py).
    """
    ids = [request.id for request in requests]
    if not ids:
        return []
    decisions = (
        await session.exec(
            select(Decision)
            .where(col(Decision.request_id).in_(ids))
            .order_by(col(Decision.decided_at), col(Decision.id))
        )
    ).all()
    versions = select(RequestVersion.request_id, RequestVersion.version, RequestVersion.body).where(
        col(RequestVersion.request_id).in_(ids)
    )
    bodies = {(request_id, version): body for request_id, version, body in (await session.exec(versions)).all()}
    codes = {request.requester_org for request in requests} | {controller}
    names = dict(
        (
            await session.exec(select(Organisation.code, Organisation.name).where(col(Organisation.code).in_(codes)))
        ).all()
    )
    made = select(Disclosure).where(
        col(Disclosure.request_id).in_(ids), col(Disclosure.status) == DisclosureStatus.DISCLOSED
    )
    disclosed: dict[str, list[Disclosure]] = {request_id: [] for request_id in ids}
    for row in (await session.exec(made.order_by(col(Disclosure.disclosed_at), col(Disclosure.id)))).all():
        disclosed[row.request_id].append(row)
    by_request: dict[str, list[Decision]] = {request_id: [] for request_id in ids}
    for decision in decisions:
        by_request[decision.request_id].append(decision)
    entries = []
    for request in requests:
        for decision in by_request[request.id]:
            body = bodies[(request.id, decision.version)]
            entries += fhir.decision_entries(
                decision=decision,
                requester=request.requester_org,
                body=body,
                controller=controller,
                names=names,
                person=person,
                guardian=guardian,
            )
        for row in disclosed[request.id]:
            entries += fhir.disclosure_entries(
                disclosure=row,
                requester=request.requester_org,
                purpose=request.purpose_category,
                controller=controller,
                names=names,
                person=person,
            )
    return entries


async def request_bundle(
    *, session: AsyncSession, principal: Principal, request: SharingRequest, controller: str
) -> fhir.Resource:
    """Every decision on a request the reader may see, as a FHIR Bundle
    (an agency's names no guardian by subject); the read is audited."""
    guardian = await guardian_naming.words_for(session=session, principal=principal, controller=controller)
    entries = await entries_for(session=session, requests=[request], controller=controller, guardian=guardian)
    await events.request_read(session=session, actor=principal, request=request, action=RequestAction.FHIR_READ)
    return fhir.bundle(entries, now=utcnow())


def render(document: fhir.Resource) -> bytes:
    """A resource as the bytes of its JSON form."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def to_json(document: Any) -> Any:
    """A resource as plain JSON values (enum members as their strings), for examples in the published contract."""
    return json.loads(render(document))
