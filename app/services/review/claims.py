"""Guardians' claims on queued requests: taking one, giving it back, and the lease running out."""

from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.base import utcnow
from app.models.sharing_request import SharingRequest
from app.principal import Principal
from app.rules import Policy
from app.services.review import workflow
from app.services.review.workflow import Move


def claim_lapsed(request: SharingRequest, now: datetime) -> bool:
    return request.claim_expires_at is not None and request.claim_expires_at <= now


async def expire_claim(*, session: AsyncSession, request: SharingRequest, now: datetime) -> None:
    """Return a request to the queue if its claim outlived the lease without a decision."""
    if claim_lapsed(request, now):
        await workflow.apply(session=session, request=request, move=Move.EXPIRE_CLAIM, actor=None, now=now)


async def expire_claims(*, session: AsyncSession, now: datetime) -> None:
    """Return every lapsed claim to the queue."""
    lapsed = await session.exec(
        select(SharingRequest).where(col(SharingRequest.in_queue), col(SharingRequest.claim_expires_at) <= now)
    )
    for request in lapsed.all():
        await expire_claim(session=session, request=request, now=now)


async def claim(
    *, session: AsyncSession, policy: Policy, principal: Principal, request: SharingRequest
) -> SharingRequest:
    """Take a queued request; of two guardians claiming at once exactly one wins."""
    now = utcnow()
    await expire_claim(session=session, request=request, now=now)
    lease = timedelta(minutes=policy.claim_lease_minutes)
    await workflow.apply(session=session, request=request, move=Move.CLAIM, actor=principal, now=now, lease=lease)
    return request


async def release(*, session: AsyncSession, principal: Principal, request: SharingRequest) -> SharingRequest:
    """Give a claimed request back to the queue."""
    now = utcnow()
    await expire_claim(session=session, request=request, now=now)
    await workflow.apply(session=session, request=request, move=Move.RELEASE, actor=principal, now=now)
    return request
