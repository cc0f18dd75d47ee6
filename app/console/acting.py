"""One way to act on a case from the console, for every form of the case page: the case's own (claim, release, renew,
hand over, decide, verify evidence: app/console/case_actions.py) and the deliberation's (opinions, the panel, a
reconsideration, a retrospective review, a notice's release: app/console/deliberation.py).

A route takes its `Acting` context as a dependency (the guardian signed in, the form after its token was checked, the
case loaded as the API's CurrentRequest loads it), builds the API's body from the form with `body_of`, and hands `act`
the service call. The call is the API route's own service function, with the person's Principal, in the request's
one transaction: no second path to a decision, every act audited as the API's is. Done, the answer is a redirect to
the case page with a banner naming the act (post, redirect, get); refused, the case page again with an error summary
linked to the fields and the form as sent.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.datastructures import FormData

from app.errors import FieldError, InvalidInput, ProblemError
from app.http.dependencies import PathName, SettingsDep
from app.http.etags import check as check_version
from app.http.session import SessionDep
from app.models.sharing_request import SharingRequest
from app.services.sharing_requests import reading

from .auth import CheckedForm, ConsoleUser, GuardianUser
from .case import Done, Refusal, case_page

Body = TypeVar("Body", bound=BaseModel)
Work = Callable[[], Awaitable[Any]]


def _present(data: dict[str, Any]) -> dict[str, Any]:
    """The fields filled in (nested ones too): one left empty is missing, so the model's default or refusal applies."""
    return {
        key: _present(value) if isinstance(value, dict) else value for key, value in data.items() if value is not None
    }


def body_of(model: type[Body], values: dict[str, Any]) -> Body:
    """The API's body built from a form's values: what it refuses is the 422 the API would answer, naming each field."""
    try:
        return model.model_validate(_present(values))
    except ValidationError as invalid:
        errors = [
            FieldError(
                field=".".join(str(part) for part in error["loc"]) or "body",
                location="body",
                message="is required" if error["type"] == "missing" else error["msg"],
            )
            for error in invalid.errors()
        ]
        problem = InvalidInput(errors[0].field, errors[0].message)
        problem.errors = errors
        raise problem from None


def text_of(form: FormData, name: str) -> str | None:
    """A text field as sent, or None when left empty (so the body model names it when it is required)."""
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


def lines_of(form: FormData, name: str) -> list[str]:
    """A text area of one entry per line (conditions, members)."""
    value = form.get(name)
    return [line.strip() for line in value.splitlines() if line.strip()] if isinstance(value, str) else []


def ticked(form: FormData, name: str) -> bool:
    """A checkbox sent ticked (its value `yes`)."""
    return form.get(name) == "yes"


def sent(form: FormData) -> dict[str, Any]:
    """The form as sent, to fill it again after a refusal (never its token; the ticked items as a list)."""
    return {key: form.getlist(key) if key == "approved_items" else form.get(key) for key in form if key != "csrf_token"}


async def case_of(db: AsyncSession, user: ConsoleUser, request_id: str) -> SharingRequest:
    """The request, as the API's CurrentRequest loads it: another agency's, or none, is a 404, never a 403."""
    return await reading.get_visible(session=db, principal=user.principal, request_id=request_id)


@dataclass(frozen=True, slots=True)
class Acting:
    """One act on a case: the request, its one transaction, who acts, on which case, with which form (its token
    checked), and the controller the case page is shown for."""

    request: Request
    db: AsyncSession
    user: ConsoleUser
    case: SharingRequest
    form: FormData
    controller: str


async def acting_on(
    request: Request, request_id: PathName, db: SessionDep, settings: SettingsDep, user: GuardianUser, form: CheckedForm
) -> Acting:
    """A route's acting context. Checked in this order, as a route's own parameters were: a guardian (else the 403
    page), the form's token (else the expired-form page), then the case (else the 404 page)."""
    case = await case_of(db, user, request_id)
    return Acting(request, db, user, case, form, settings.controller_org)


ActingOn = Annotated[Acting, Depends(acting_on)]


async def act(
    acting: Acting, *, form_id: str, done: Done, work: Work, fields: dict[str, tuple[str, str]] | None = None
) -> Response:
    """Do `work` (the service calls of one act) on the case the page showed, then back to the case page with a banner;
    or the case page again with the refusal, the form as sent.

    A form that sends the case's `version` (the case's own forms do) is refused (412) when the case changed since its
    page was shown; one that sends none is not checked, as If-Match is optional for the API.

    A refusal undoes the work to a savepoint, not by rolling the request's transaction back: the transaction belongs
    to the session dependency (it commits at the end of the request), and what the request did before the act stays
    (the sign-in's last-seen mark) while the refused act leaves nothing, its audit events included. `fields` names a
    body field's input id and label where the form's input is not `<form_id>-<field>` (Refusal.of).
    """

    async def checked() -> None:
        check_version(acting.case, str(acting.form.get("version") or "") or None)
        await work()

    async def refused(problem: ProblemError) -> Response:
        await acting.db.refresh(acting.case)  # the savepoint's rollback expired what the work had changed
        refusal = Refusal.of(problem, sent(acting.form), form_id=form_id, fields=fields or {})
        return await case_page(
            acting.request,
            session=acting.db,
            user=acting.user,
            controller=acting.controller,
            request_id=acting.case.id,
            problem=refusal,
        )

    return await attempt(acting.db, checked, refused=refused, then=f"/console/cases/{acting.case.id}?done={done.value}")


async def attempt(
    db: AsyncSession, work: Work, *, refused: Callable[[ProblemError], Awaitable[Response]], then: str
) -> Response:
    """Do `work` in a savepoint of the request's transaction: done, a redirect to `then` (post, redirect, get);
    refused, the savepoint undone and `refused`'s page. Every act of the console passes here, the case page's through
    `act`, the consultations page's (app/console/consultations.py) directly, as it acts on no case page."""
    try:
        async with db.begin_nested():
            await work()
    except ProblemError as problem:
        return await refused(problem)
    return RedirectResponse(then, status_code=303)
