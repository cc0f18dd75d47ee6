"""Guardians' claims on queued requests: taking one, giving it back, and the lease running out."""

from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict
from app.models.base import utcnow
from app.models.sharing_request import SharingRequest, claim_lapsed
from app.principal import Principal
from app.rules import Policy
from app.services.review import workflow
from app.services.review.workflow import Move


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
