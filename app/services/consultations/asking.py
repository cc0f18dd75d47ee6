"""Consultations inside a case: the guardian holding the claim asks a safeguarding lead, the DPO, the SIRO or a named
information asset owner a question with a due time; a person of the controller holding that role answers.

Both are audited (`consultation_requested`, `consultation_answered`) in the caller's transaction; no webhook tells the
requesting agency, whose business the controller's internal advice is not.
"""

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.models.actions import RequestAction
from app.models.base import utcnow
from app.models.consultation import Consultation, ConsultationAnswerBody, ConsultationBody, ConsultationPublic
from app.models.sharing_request import SharingRequest, new_id
from app.models.vocabulary import ConsultedRole, RequestStatus
from app.principal import Principal
from app.services.audit import events
from app.services.consultations.reading import asked_of
from app.services.review import panel_records
from app.services.review.claims import expire_claim

CLAIMED = frozenset({RequestStatus.IN_REVIEW, RequestStatus.IN_RECONSIDERATION})
ANSWERED = "that consultation has been answered; each is answered once"


async def ask(
    *, session: AsyncSession, principal: Principal, request: SharingRequest, body: ConsultationBody
) -> ConsultationPublic:
    """Consult a role of the controller (or a named IAO) on the request the caller holds the claim on."""
    now = utcnow()
    await expire_claim(session=session, request=request, now=now)
    await _check_asker(session=session, principal=principal, request=request)
    if (body.role == ConsultedRole.IAO) != (body.iao is not None):
        raise InvalidInput("iao", "name the information asset owner with role iao, and only with it")
    if body.due_at <= now:
        raise InvalidInput("due_at", "the answer is due after now")
    row = Consultation(
        id=new_id(),
        request_id=request.id,
        role=body.role,
        asked_sub=body.iao,
        asked_by=principal.sub,
        asked_by_org=principal.org,
        question=body.question,
        asked_at=now,
        due_at=body.due_at,
    )
    session.add(row)
    await session.flush()
    await events.consulted(
        session=session,
        actor=principal,
        request=request,
        action=RequestAction.CONSULTATION_REQUESTED,
        consultation_id=row.id,
    )
    return ConsultationPublic.of(row, now)


async def _check_asker(*, session: AsyncSession, principal: Principal, request: SharingRequest) -> None:
    """The guardian holding the claim consults, or the chair of the panel deciding the request (a claim ends when a
    panel opens, and the panel's approval may wait for a consultation too): 409 at any other stage, 403 for anyone
    else."""
    if request.status == RequestStatus.IN_PANEL:
        panel, _, _ = await panel_records.open_panel_of(session=session, request=request)
        asker = (panel.chair_sub, panel.chair_org)
    elif request.status in CLAIMED:
        asker = (request.assignee_sub, request.assignee_org)
    else:
        raise Conflict(
            "consult while you hold the claim on the request, or chair its panel", current_status=request.status
        )
    if asker != (principal.sub, principal.org):
        raise Forbidden("only the guardian holding the claim, or the panel's chair, consults on the request")


async def answer(
    *,
    session: AsyncSession,
    principal: Principal,
    request_id: str,
    consultation_id: str,
    body: ConsultationAnswerBody,
) -> ConsultationPublic:
    """Answer a consultation asked of the caller's role (the caller one of the controller's consulted roles): 403 for
    anyone else, 409 once answered."""
    request = await session.get(SharingRequest, request_id)
    if request is None:
        raise NotFound(f"no sharing request {request_id!r}")
    row = await session.get(Consultation, consultation_id)
    if row is None or row.request_id != request.id:
        raise NotFound(f"no consultation {consultation_id!r} on this request")
    if not asked_of(row, principal):
        named = f" {row.asked_sub}" if row.asked_sub else ""
        raise Forbidden(f"this consultation was asked of the {row.role}{named}, not of you")
    now = utcnow()
    # Two people of the role answering at once: only the first update finds it unanswered.
    answered = await session.exec(
        update(Consultation)
        .where(col(Consultation.id) == row.id, col(Consultation.answered_at).is_(None))
        .values(answer=body.answer, answered_by=principal.sub, answered_at=now)
    )
    if answered.rowcount != 1:
        raise Conflict(ANSWERED, current_status=request.status)
    await session.refresh(row)
    await events.consulted(
        session=session,
        actor=principal,
        request=request,
        action=RequestAction.CONSULTATION_ANSWERED,
        consultation_id=row.id,
    )
    return ConsultationPublic.of(row, now)
