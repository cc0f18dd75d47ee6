"""Second opinions: the claim holder asks another guardian, named or any, who agrees,
disagrees or abstains with a rationale.

Opinions never come from the requesting organisation nor from the claim holder (app/services/review/workflow.py checks
both); the claim holder's next decision on the request lists the opinions given, and closes any request unanswered.
"""

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, Forbidden, InvalidInput
from app.models.base import utcnow
from app.models.deliberation import OpinionRecord
from app.models.opinion import (
    Opinion,
    OpinionBody,
    OpinionRequest,
    OpinionRequestBody,
    OpinionRequestPublic,
    opinion_record,
)
from app.models.sharing_request import SharingRequest, new_id
from app.principal import Principal
from app.services.notifications import outbox as notifications
from app.services.review import workflow
from app.services.review.claims import expire_claim
from app.services.review.workflow import Move

ANSWERED = "that request for an opinion has been answered; each is answered once"


async def request_opinion(
    *, session: AsyncSession, principal: Principal, request: SharingRequest, body: OpinionRequestBody
) -> OpinionRequestPublic:
    """Ask another guardian (or any) for an opinion on the outcome the claim holder proposes;
    the request stays claimed."""
    now = utcnow()
    await expire_claim(session=session, request=request, now=now)
    await workflow.check(session=session, request=request, move=Move.REQUEST_OPINION, actor=principal)
    asked = body.guardian
    if asked is not None and asked.org == request.requester_org:
        raise Forbidden("guardian.org: an opinion never comes from the requesting organisation")
    if asked is not None and (asked.sub, asked.org) == (principal.sub, principal.org):
        raise InvalidInput("guardian", "ask another guardian: you hold the claim and will decide")
    await workflow.apply(session=session, request=request, move=Move.REQUEST_OPINION, actor=principal, now=now)
    row = OpinionRequest(
        id=new_id(),
        request_id=request.id,
        asked_by=principal.sub,
        asked_by_org=principal.org,
        asked_sub=asked.sub if asked else None,
        asked_org=asked.org if asked else None,
        proposed_outcome=body.proposed_outcome,
        question=body.question,
        asked_at=now,
    )
    session.add(row)
    await session.flush()
    if asked is not None:
        notifications.opinion_requested(session=session, request=request, sub=asked.sub, org=asked.org, now=now)
    return OpinionRequestPublic.of(row)


async def give_opinion(
    *, session: AsyncSession, principal: Principal, request: SharingRequest, body: OpinionBody
) -> OpinionRecord:
    """Answer a request for an opinion: the one named, else the oldest asked of this guardian,
    else the oldest asked of any."""
    now = utcnow()
    await expire_claim(session=session, request=request, now=now)
    await workflow.check(session=session, request=request, move=Move.GIVE_OPINION, actor=principal)
    asked = await _answerable(session=session, principal=principal, request=request, wanted=body.opinion_request_id)
    await workflow.apply(session=session, request=request, move=Move.GIVE_OPINION, actor=principal, now=now)
    opinion = Opinion(
        id=new_id(),
        request_id=request.id,
        opinion_request_id=asked.id,
        given_by=principal.sub,
        given_by_org=principal.org,
        opinion=body.opinion,
        rationale=body.rationale,
        given_at=now,
    )
    asked.answered_at = now
    session.add(opinion)
    try:
        await session.flush()  # two guardians answering one request at once: the unique constraint lets one in
    except IntegrityError:
        raise Conflict(ANSWERED, current_status=request.status) from None
    return opinion_record(opinion, asked)


async def _answerable(
    *, session: AsyncSession, principal: Principal, request: SharingRequest, wanted: str | None
) -> OpinionRequest:
    """The open request for an opinion this guardian answers: 409 if none is open, 403 if none is asked of them."""
    query = select(OpinionRequest).where(
        OpinionRequest.request_id == request.id,
        col(OpinionRequest.answered_at).is_(None),
        col(OpinionRequest.closed_at).is_(None),
    )
    open_requests = (await session.exec(query.order_by(col(OpinionRequest.asked_at), col(OpinionRequest.id)))).all()
    if wanted is not None:
        open_requests = [row for row in open_requests if row.id == wanted]
        if not open_requests:
            raise InvalidInput("opinion_request_id", "no open request for an opinion on this request has this id")
    elif not open_requests:
        raise Conflict(
            "no opinion has been asked on this request, or every one asked has been answered",
            current_status=request.status,
        )
    mine = [row for row in open_requests if (row.asked_sub, row.asked_org) == (principal.sub, principal.org)]
    anyone = [
        row
        for row in open_requests
        if row.asked_sub is None and (row.asked_by, row.asked_by_org) != (principal.sub, principal.org)
    ]
    if not mine and not anyone:
        raise Forbidden("no opinion has been asked of you on this request")
    return (mine or anyone)[0]


async def asked_on(*, session: AsyncSession, request: SharingRequest) -> list[tuple[OpinionRequest, Opinion | None]]:
    """Every opinion asked on the request, oldest first, each with the opinion given if it was answered."""
    query = (
        select(OpinionRequest, Opinion)
        .join(Opinion, col(Opinion.opinion_request_id) == col(OpinionRequest.id), isouter=True)
        .where(OpinionRequest.request_id == request.id)
        .order_by(col(OpinionRequest.asked_at), col(OpinionRequest.id))
    )
    return [(asked, given) for asked, given in (await session.exec(query)).all()]


async def to_weigh(*, session: AsyncSession, request: SharingRequest) -> list[tuple[Opinion, OpinionRequest]]:
    """The opinions given on the request that no decision has weighed yet, oldest first."""
    query = (
        select(Opinion, OpinionRequest)
        .join(OpinionRequest, col(OpinionRequest.id) == col(Opinion.opinion_request_id))
        .where(Opinion.request_id == request.id, col(Opinion.decision_id).is_(None))
        .order_by(col(Opinion.given_at), col(Opinion.id))
    )
    return [(opinion, asked) for opinion, asked in (await session.exec(query)).all()]


def records(weighed: list[tuple[Opinion, OpinionRequest]]) -> list[dict[str, Any]]:
    """The opinions as the decision record stores them."""
    return [opinion_record(opinion, asked).model_dump(mode="json") for opinion, asked in weighed]


async def weighed(
    *,
    session: AsyncSession,
    request: SharingRequest,
    weighed: list[tuple[Opinion, OpinionRequest]],
    decision_id: str,
    now: datetime,
) -> None:
    """Link the opinions to the decision that weighed them (written already), and close the requests left unanswered."""
    for opinion, _ in weighed:
        opinion.decision_id = decision_id
    unanswered = select(OpinionRequest).where(
        OpinionRequest.request_id == request.id,
        col(OpinionRequest.answered_at).is_(None),
        col(OpinionRequest.closed_at).is_(None),
    )
    for row in (await session.exec(unanswered)).all():
        row.closed_at = now
    await session.flush()
