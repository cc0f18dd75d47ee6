"""Recording each change of a request, and reading its whole history back in order."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import Principal
from app.models.actions import RequestAction
from app.models.sharing_request import Decision, DecisionPublic, RequestVersion, SharingRequest, Transition
from app.models.vocabulary import RequestStatus
from app.services import events

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
) -> None:
    """Write the state change to the request's history and tell the event seam, in this transaction."""
    session.add(
        Transition(
            request_id=request.id,
            action=action,
            from_status=from_status,
            to_status=request.status,
            actor_sub=actor.sub if actor else SYSTEM,
            actor_org=actor.org if actor else None,
            at=now,
        )
    )
    await session.flush()
    await events.request_changed(session=session, actor=actor, request=request, action=action, decision=decision)


class VersionEntry(BaseModel):
    type: Literal["version"] = "version"
    at: datetime
    version: int
    created_by: str
    request_hash: str
    note: str | None
    request: dict[str, Any]


class DecisionEntry(BaseModel):
    type: Literal["decision"] = "decision"
    at: datetime
    decision: DecisionPublic


class TransitionEntry(BaseModel):
    type: Literal["state_change"] = "state_change"
    at: datetime
    action: RequestAction
    from_status: RequestStatus | None
    to_status: RequestStatus
    actor: str
    actor_org: str | None


HistoryEntry = VersionEntry | DecisionEntry | TransitionEntry


class History(BaseModel):
    request_id: str
    entries: list[HistoryEntry]


# At the same instant a version comes before the decision on it, and that before the state change.
_ORDER = {"version": 0, "decision": 1, "state_change": 2}


async def history(*, session: AsyncSession, request: SharingRequest) -> History:
    """Every version, every decision and every state change of a request, oldest first."""
    versions = (await session.exec(select(RequestVersion).where(RequestVersion.request_id == request.id))).all()
    decisions = (await session.exec(select(Decision).where(Decision.request_id == request.id))).all()
    changes = (await session.exec(select(Transition).where(Transition.request_id == request.id).order_by(col(Transition.id)))).all()
    entries: list[HistoryEntry] = [
        *(
            VersionEntry(at=v.created_at, version=v.version, created_by=v.created_by, request_hash=v.request_hash, note=v.note, request=v.body)
            for v in versions
        ),
        *(DecisionEntry(at=d.decided_at, decision=DecisionPublic.of(d)) for d in decisions),
        *(
            TransitionEntry(at=t.at, action=RequestAction(t.action), from_status=t.from_status, to_status=t.to_status, actor=t.actor_sub, actor_org=t.actor_org)
            for t in changes
        ),
    ]
    entries.sort(key=lambda entry: (entry.at, _ORDER[entry.type]))
    return History(request_id=request.id, entries=entries)
