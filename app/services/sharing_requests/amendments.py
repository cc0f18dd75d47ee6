"""The requesting agency's side of the workflow: answering a request for information, and withdrawing (before a
final decision, or an approval no longer needed before anything is disclosed under it)."""

from sqlmodel.ext.asyncio.session import AsyncSession

from app.canonical import SubjectKeys
from app.errors import Conflict
from app.models.base import utcnow
from app.models.request_body import MAX_IDENTIFIERS
from app.models.review import AmendmentBody
from app.models.sharing_request import Decision, SharingRequest, SharingRequestPublic
from app.models.vocabulary import RequestStatus
from app.principal import Principal
from app.rules import Policy
from app.services.agreements import organisations
from app.services.disclosures import reading as disclosures
from app.services.review import workflow
from app.services.review.workflow import Move
from app.services.sharing_requests import adjudication
from app.services.sharing_requests import reading as sharing_requests


async def amend(
    *,
    session: AsyncSession,
    policy: Policy,
    principal: Principal,
    request: SharingRequest,
    body: AmendmentBody,
    subject_keys: SubjectKeys,
    max_identifiers: int = MAX_IDENTIFIERS,
) -> SharingRequestPublic:
    """Answer a request for information with a revised request; the rules decide it again;
    the request as now recorded."""
    adjudication.check_identifiers(body.request, limit=max_identifiers, field="request.subjects.identifiers")
    workflow.check_actor(workflow.step_for(request, Move.AMEND), request, principal)
    requester = await organisations.active_requester(session=session, code=principal.org)
    now = utcnow()
    revised: list[adjudication.Revision] = []

    async def decide() -> Decision:
        revision = await adjudication.record_revision(
            session=session,
            policy=policy,
            principal=principal,
            request=request,
            body=body.request,
            requester=requester,
            subject_keys=subject_keys,
            now=now,
            note=body.note,
            placed=True,
        )
        revised.append(revision)
        return revision.decision

    decision = await workflow.apply(
        session=session, request=request, move=Move.AMEND, actor=principal, now=now, decide=decide
    )
    assert decision is not None
    (revision,) = revised
    return sharing_requests.as_written(
        request=request,
        version=request.current_version,
        decision=decision,
        findings=revision.evaluation.findings,
        body=revision.stored.body,
    )


async def withdraw(*, session: AsyncSession, principal: Principal, request: SharingRequest) -> SharingRequest:
    """The requesting agency withdraws a request that has no final decision yet, or cancels an approval it no longer
    needs while nothing has been disclosed under it (its pending disclosures close as cancelled: opening.follow)."""
    workflow.check_actor(workflow.step_for(request, Move.WITHDRAW), request, principal)  # 409, 403 before the lock
    if workflow.stage_of(request) is workflow.Stage.DECIDED:
        # Held until the commit: a disclosure recorded meanwhile (which takes this lock first) is seen, or waits.
        await session.refresh(request, with_for_update=True)
        if request.status == RequestStatus.REFUSED:
            raise Conflict("the request was refused: there is nothing to withdraw", current_status=request.status)
        if await disclosures.any_made(session=session, request_id=request.id):
            raise Conflict(
                "data has been disclosed under this approval: it can no longer be withdrawn",
                current_status=request.status,
            )
    await workflow.apply(session=session, request=request, move=Move.WITHDRAW, actor=principal, now=utcnow())
    return request
