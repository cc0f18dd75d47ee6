"""The requesting agency's side of the workflow: answering a request for information, and withdrawing."""

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import Principal
from app.models.base import utcnow
from app.models.request_body import MAX_IDENTIFIERS
from app.models.review import AmendmentBody
from app.models.sharing_request import Decision, SharingRequest, SharingRequestPublic
from app.rules import Evaluation, Policy, evaluate
from app.services import adjudication, organisations, sharing_requests, workflow
from app.services.workflow import Move


async def amend(
    *,
    session: AsyncSession,
    policy: Policy,
    principal: Principal,
    request: SharingRequest,
    body: AmendmentBody,
    subject_key: bytes,
    max_identifiers: int = MAX_IDENTIFIERS,
) -> SharingRequestPublic:
    """Answer a request for information with a revised request; the rules decide it again; the request as now recorded."""
    adjudication.check_identifiers(body.request, limit=max_identifiers, field="request.subjects.identifiers")
    workflow.check_actor(workflow.step_for(request, Move.AMEND), request, principal)
    requester = await organisations.active_requester(session=session, code=principal.org)
    now = utcnow()
    stored = adjudication.fingerprint(body.request, subject_key=subject_key)
    evaluated: list[Evaluation] = []

    async def decide() -> Decision:
        request.current_version += 1
        request.reference, request.purpose_category, request.urgency = body.request.reference, body.request.purpose.category, body.request.urgency
        facts = await adjudication.gather_facts(session=session, body=body.request, requester=requester, now=now, request_id=request.id)
        evaluation = evaluate(policy, facts)
        evaluated.append(evaluation)
        adjudication.place(request=request, evaluation=evaluation, policy=policy, now=now)
        await session.flush()
        return await adjudication.record_version(
            session=session,
            request=request,
            version=request.current_version,
            stored=stored,
            facts=facts,
            evaluation=evaluation,
            policy=policy,
            principal=principal,
            now=now,
            note=body.note,
        )

    decision = await workflow.apply(session=session, request=request, move=Move.AMEND, actor=principal, now=now, decide=decide)
    assert decision is not None
    return sharing_requests.as_written(request=request, version=request.current_version, decision=decision, findings=evaluated[0].findings, body=stored.body)


async def withdraw(*, session: AsyncSession, principal: Principal, request: SharingRequest) -> SharingRequest:
    """The requesting agency withdraws a request that has no final decision yet."""
    await workflow.apply(session=session, request=request, move=Move.WITHDRAW, actor=principal, now=utcnow())
    return request
