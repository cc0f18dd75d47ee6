"""Recording each change of a request, and reading its whole history back in order."""

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.actions import RequestAction
from app.models.reconsideration import Reconsideration, ReconsiderationPublic
from app.models.review import (
    DecisionEntry,
    History,
    HistoryEntry,
    ReconsiderationEntry,
    TransitionEntry,
    VerificationEntry,
    VersionEntry,
)
from app.models.sharing_request import Decision, DecisionPublic, RequestVersion, SharingRequest, Transition
from app.models.verification import VerificationPublic
from app.platform import writes
from app.platform.pagination import sorted_page
from app.principal import Principal
from app.services.attachments import verifications as attachment_verifications
from app.services.audit import events
from app.services.consultations import reading as consultations
from app.services.controller_checks import checks as controller_checks
from app.services.disclosures import reading as disclosures
from app.services.review import naming as guardian_naming

SYSTEM = "system"


async def record(
    *,
    session: AsyncSession,
    request: SharingRequest,
    action: RequestAction,
    from_status: str | None,
    actor: Principal | None,
    now: datetime,
    decision: Decision | None = None,
    handed_to: str | None = None,
    note: str | None = None,
) -> None:
    """Write the state change to the request's history and tell the event seam, in this transaction."""
    change = {
        "request_id": request.id,
        "action": action,
        "from_status": from_status,
        "to_status": request.status,
        "actor_sub": actor.sub if actor else SYSTEM,
        "actor_org": actor.org if actor else None,
        "at": now,
        "handed_to": handed_to,
        "note": note,
    }
    writes.add(session, Transition, change)
    await events.request_changed(session=session, actor=actor, request=request, action=action, decision=decision)


# At the same instant a version comes before the decision on it, that before a reconsideration asked with it,
# and all before the state change.
_ORDER = {
    "version": 0,
    "decision": 1,
    "reconsideration": 2,
    "controller_check": 3,
    "state_change": 4,
    "evidence_verification": 5,
    "consultation": 6,
    "disclosure": 7,
}


async def history(
    *,
    session: AsyncSession,
    principal: Principal,
    request: SharingRequest,
    controller: str,
    cursor: str | None = None,
    limit: int = 50,
) -> History:
    """A page of every version, decision, reconsideration, record of a controller's check, state change,
    verification of its evidence, consultation and disclosure recorded, oldest first; an agency reads no guardian's
    subject nor any consultation. The read is recorded."""
    await events.request_read(session=session, actor=principal, request=request, action=RequestAction.HISTORY_READ)
    words = await guardian_naming.words_for(session=session, principal=principal, controller=controller)
    versions = (await session.exec(select(RequestVersion).where(RequestVersion.request_id == request.id))).all()
    decisions = (await session.exec(select(Decision).where(Decision.request_id == request.id))).all()
    changes = (
        await session.exec(select(Transition).where(Transition.request_id == request.id).order_by(col(Transition.id)))
    ).all()
    reconsiderations = (
        await session.exec(select(Reconsideration).where(Reconsideration.request_id == request.id))
    ).all()
    entries: list[HistoryEntry] = [
        *(
            VersionEntry(
                at=v.created_at,
                version=v.version,
                created_by=v.created_by,
                request_hash=v.request_hash,
                note=v.note,
                request=v.body,
            )
            for v in versions
        ),
        *(
            DecisionEntry(at=d.decided_at, decision=guardian_naming.decision(DecisionPublic.of(d), words))
            for d in decisions
        ),
        *(
            ReconsiderationEntry(
                at=r.requested_at, reconsideration=guardian_naming.reconsideration(ReconsiderationPublic.of(r), words)
            )
            for r in reconsiderations
        ),
        *(
            TransitionEntry(
                at=t.at,
                action=t.action,
                from_status=t.from_status,
                to_status=t.to_status,
                actor=guardian_naming.actor(t.actor_sub, t.actor_org, requester=request.requester_org, words=words),
                actor_org=t.actor_org,
                handed_to=None
                if t.handed_to is None
                else guardian_naming.actor(t.handed_to, t.actor_org, requester=request.requester_org, words=words),
                note=t.note,
            )
            for t in changes
        ),
        *(
            VerificationEntry(
                at=v.verified_at, verification=guardian_naming.verification(VerificationPublic.of(v), words)
            )
            for v in await attachment_verifications.of_request(session, request.id)
        ),
        *(
            guardian_naming.check_record(entry, words)
            for entry in await controller_checks.history_entries(session, request.id)
        ),
        *await consultations.history_entries(session=session, principal=principal, request_id=request.id),
        *await disclosures.history_entries(session=session, principal=principal, request_id=request.id),
    ]
    entries.sort(key=lambda entry: (entry.at, _ORDER[entry.type]))
    # A history only grows at its end, so an entry's place among those of its instant and kind stays its own.
    keys: dict[int, tuple[datetime, int, int]] = {}
    for place, entry in enumerate(entries):
        earlier = keys.get(id(entries[place - 1])) if place else None
        tie = earlier[2] + 1 if earlier is not None and earlier[:2] == (entry.at, _ORDER[entry.type]) else 0
        keys[id(entry)] = (entry.at, _ORDER[entry.type], tie)
    items, next_cursor = sorted_page(
        entries, kinds=(datetime, int, int), key=lambda entry: keys[id(entry)], cursor=cursor, limit=limit
    )
    return History(request_id=request.id, items=items, next_cursor=next_cursor)
