"""Guardians' claims on queued requests: taking one, giving it back, renewing it, handing it to a colleague, and the
lease running out."""

from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, InvalidInput
from app.models.base import utcnow
from app.models.sharing_request import SharingRequest, claim_lapsed
from app.models.vocabulary import Role
from app.principal import Principal
from app.rules import Policy
from app.services.review import independence, workflow
from app.services.review.workflow import Move, Stage


async def expire_claim(*, session: AsyncSession, request: SharingRequest, now: datetime) -> None:
    """Return a request to the queue if its claim outlived the lease without a decision: done by the next write on
    the request (the move that follows), never by a read, which shows the lapsed claim as returned already."""
    if claim_lapsed(request, now):
        await workflow.apply(session=session, request=request, move=Move.EXPIRE_CLAIM, actor=None, now=now)


async def claim(
    *, session: AsyncSession, policy: Policy, principal: Principal, request: SharingRequest
) -> SharingRequest:
    """Take a queued request; of two guardians claiming at once exactly one wins."""
    now = utcnow()
    await expire_claim(session=session, request=request, now=now)
    if request.assignee_sub is not None:
        raise Conflict(
            f"the request is {request.status}: {request.assignee_sub} holds the claim until "
            f"{request.claim_expires_at:%Y-%m-%d %H:%M:%S} UTC; claim it once they release it or the claim lapses",
            current_status=request.status,
            extensions={"held_by": request.assignee_sub, "held_until": request.claim_expires_at},
        )
    lease = timedelta(minutes=policy.claim_lease_minutes)
    await workflow.apply(session=session, request=request, move=Move.CLAIM, actor=principal, now=now, lease=lease)
    return request


async def release(*, session: AsyncSession, principal: Principal, request: SharingRequest) -> SharingRequest:
    """Give a claimed request back to the queue."""
    now = utcnow()
    await expire_claim(session=session, request=request, now=now)
    await workflow.apply(session=session, request=request, move=Move.RELEASE, actor=principal, now=now)
    return request


async def renew(
    *, session: AsyncSession, policy: Policy, principal: Principal, request: SharingRequest
) -> SharingRequest:
    """Hold the claim for another whole lease from now: only its holder, and only while it has not lapsed."""
    now = utcnow()
    await expire_claim(session=session, request=request, now=now)
    lease = timedelta(minutes=policy.claim_lease_minutes)
    await workflow.apply(session=session, request=request, move=Move.RENEW_CLAIM, actor=principal, now=now, lease=lease)
    return request


async def hand_over(
    *, session: AsyncSession, policy: Policy, principal: Principal, request: SharingRequest, to: str, note: str
) -> SharingRequest:
    """Give the claim to a named colleague of the holder's organisation, who holds it for a whole lease from now.

    The colleague must be someone who may review the request: another guardian than the holder, of the holder's
    organisation (never the requester's: the holder's own claim shows it is not), and for a reconsideration one who
    took no part in the decision reconsidered (app/services/review/independence.py). A guardian is known by the
    `sub` their organisation gives them, as a panel's members and an opinion's guardian are."""
    now = utcnow()
    await expire_claim(session=session, request=request, now=now)
    step = await workflow.check(session=session, request=request, move=Move.HAND_OVER, actor=principal)
    if to == principal.sub:
        raise InvalidInput("to", "name a colleague: you hold the claim already")
    colleague = Principal(sub=to, org=principal.org, roles=frozenset({Role.GUARDIAN}))
    if step.to is Stage.IN_RECONSIDERATION:
        await independence.check_independent(session=session, request=request, actor=colleague)
    lease = timedelta(minutes=policy.claim_lease_minutes)
    await workflow.apply(
        session=session,
        request=request,
        move=Move.HAND_OVER,
        actor=principal,
        now=now,
        lease=lease,
        to=colleague,
        note=note,
    )
    return request
