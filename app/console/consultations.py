"""The consulted person's page: the consultations asked of the signed-in safeguarding lead, DPO, SIRO or IAO and not
yet answered (overdue first, then soonest due), each with its question and a form to answer it.

The case page is the guardians' (and the overseers'), not the consulted person's, so the question and its answer form
are here. The answer is the API's own (`POST /v1/sharing-requests/{id}/consultations/{id}/answer`): the same service
function with the person's Principal, audited as `consultation_answered`, acted on in the console's one way
(app/console/acting.py `attempt`): done, this page with a banner; refused, this page with the error summary.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import NotFound, ProblemError
from app.http.session import SessionDep
from app.models.consultation import Consultation, ConsultationAnswerBody
from app.models.vocabulary import ConsultationStatus
from app.services.consultations import asking, reading

from .acting import attempt, body_of, sent, text_of
from .auth import CheckedForm, ConsoleUser, ConsultedUser
from .case import Refusal
from .pages import render

router = APIRouter(include_in_schema=False)

PAGE = "/console/consultations"
SHOWN = 100  # of each state: overdue, then open
ConsultationId = Annotated[str, Path(max_length=36, pattern=r"^[0-9a-f-]{1,36}$")]


def form_id_of(consultation_id: str) -> str:
    """The id of a consultation's answer form on the page (its textarea is `<form id>-answer`)."""
    return f"answer-{consultation_id}"


async def consultations_page(
    request: Request, *, db: AsyncSession, user: ConsoleUser, done: bool = False, refusal: Refusal | None = None
) -> Response:
    """The consultations waiting for the person's answer, with a banner after an answer or the refusal of one."""
    waiting, more = [], False
    for status in (ConsultationStatus.OVERDUE, ConsultationStatus.OPEN):
        page = await reading.addressed(session=db, principal=user.principal, status=status, cursor=None, limit=SHOWN)
        waiting += page.items
        more = more or page.next_cursor is not None
    return render(
        request,
        "consultations.jinja",
        status_code=refusal.status_code if refusal else 200,
        waiting=waiting,
        more=more,
        done=done,
        refusal=refusal,
        field_errors=refusal.field_errors if refusal else {},
        form_id_of=form_id_of,
    )


@router.get(PAGE)
async def consultations(
    request: Request,
    db: SessionDep,
    user: ConsultedUser,
    done: Annotated[Literal["answered"] | None, Query()] = None,
) -> Response:
    return await consultations_page(request, db=db, user=user, done=done is not None)


@router.post(f"{PAGE}/{{consultation_id}}/answer")
async def answer_consultation(
    request: Request, consultation_id: ConsultationId, db: SessionDep, user: ConsultedUser, form: CheckedForm
) -> Response:
    row = await db.get(Consultation, consultation_id)
    if row is None:
        raise NotFound(f"no consultation {consultation_id!r}")

    async def work() -> None:
        body = body_of(ConsultationAnswerBody, {"answer": text_of(form, "answer")})
        await asking.answer(
            session=db, principal=user.principal, request_id=row.request_id, consultation_id=row.id, body=body
        )

    async def refused(problem: ProblemError) -> Response:
        refusal = Refusal.of(problem, sent(form), form_id=form_id_of(row.id), fields={})
        return await consultations_page(request, db=db, user=user, refusal=refusal)

    return await attempt(db, work, refused=refused, then=f"{PAGE}?done=answered")
