"""What a guardian does from the case file: claim, release, renew the claim, hand it to a colleague, decide, and
verify or reject evidence; and the evidence's download.

Each action is a form posted with its token. When it sends the version of the case its page showed, as the case
page's forms do, a case that changed meanwhile is not acted on unseen (as If-Match is optional for the API, and
checked when sent). The action is made through the same service function as the API's route, in the request's one
transaction, and answered by a redirect to the case with a banner (post, redirect, get). A service's refusal rolls
the transaction back and shows the case again with an error summary and the form as sent. An unclaimed case can be
claimed and decided in one post: both moves in the one transaction, so a refused decision leaves it unclaimed.
"""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from app.errors import FieldError, InvalidInput, ProblemError
from app.http.dependencies import AttachmentStoreDep, PathName, PolicyDep, RegistryDep, SettingsDep
from app.http.etags import check as check_version
from app.http.session import SessionDep
from app.models.review import HandOverBody, ReviewBody
from app.models.sharing_request import SharingRequest, claim_lapsed
from app.models.verification import VerificationBody
from app.routers.attachments import streamed
from app.services.attachments import uploads, verifications
from app.services.review import claims, decisions
from app.services.sharing_requests import reading

from .auth import CheckedForm, ConsoleUser, GuardianUser, OverseerUser
from .case import Refusal, case_page

router = APIRouter(include_in_schema=False)

# Where a bad field of each body is on the page, for the error summary's links, and what the form calls it.
FIELDS = {
    "outcome": ("outcome", "Your decision"),
    "rationale": ("rationale", "Your reasons"),
    "conditions": ("conditions", "Conditions"),
    "approved_items": ("approved-items", "Approve only these items"),
    "to": ("to", "Colleague's user id"),
    "note": ("note", "Note for them"),
    "checked": ("evidence", "What you checked"),
    "order": ("evidence", "The order"),
}
# The checks of an order, summons or notice the verification form asks for, as checkboxes.
ORDER_CHECKS = ("sealed_or_signed", "in_date", "addressed_to_controller", "covers_information")

Change = Callable[[SharingRequest], Awaitable[Any]]
Body = TypeVar("Body", bound=BaseModel)


def body_of(model: type[Body], values: dict[str, Any]) -> Body:
    """The API's body built from a form: its validation errors become the refusal the API would answer."""
    try:
        return model.model_validate(values)
    except ValidationError as invalid:
        errors = [
            FieldError(field=".".join(str(part) for part in error["loc"]), location="body", message=error["msg"])
            for error in invalid.errors()
        ]
        refused = InvalidInput(errors[0].field, errors[0].message)
        refused.errors = errors
        raise refused from None


def sent(form: FormData) -> dict[str, Any]:
    """The form as sent, to fill it again after a refusal (never the form token)."""
    return {key: form.getlist(key) if key == "approved_items" else form.get(key) for key in form if key != "csrf_token"}


async def act(
    request: Request,
    *,
    session: SessionDep,
    user: ConsoleUser,
    controller: str,
    request_id: str,
    form: FormData,
    change: Change,
    done: str,
) -> Response:
    """Make `change` on the case the page showed, then back to it with a banner; or the case again with the refusal."""
    case = await reading.get_visible(session=session, principal=user.principal, request_id=request_id)
    try:
        check_version(case, str(form.get("version") or "") or None)
        await change(case)
    except ProblemError as refused:
        await session.rollback()
        problem = Refusal.of(refused, sent(form), fields=FIELDS)
        return await case_page(
            request, session=session, user=user, controller=controller, request_id=request_id, problem=problem
        )
    return RedirectResponse(f"/console/cases/{request_id}?done={done}", status_code=303)


@router.post("/console/cases/{request_id}/claim")
async def claim(
    request: Request,
    request_id: PathName,
    session: SessionDep,
    policy: PolicyDep,
    settings: SettingsDep,
    user: GuardianUser,
    form: CheckedForm,
) -> Response:
    async def change(case: SharingRequest) -> None:
        await claims.claim(session=session, policy=policy, principal=user.principal, request=case)

    return await act(
        request,
        session=session,
        user=user,
        controller=settings.controller_org,
        request_id=request_id,
        form=form,
        change=change,
        done="claimed",
    )


@router.post("/console/cases/{request_id}/release")
async def release(
    request: Request,
    request_id: PathName,
    session: SessionDep,
    settings: SettingsDep,
    user: GuardianUser,
    form: CheckedForm,
) -> Response:
    async def change(case: SharingRequest) -> None:
        await claims.release(session=session, principal=user.principal, request=case)

    return await act(
        request,
        session=session,
        user=user,
        controller=settings.controller_org,
        request_id=request_id,
        form=form,
        change=change,
        done="released",
    )


@router.post("/console/cases/{request_id}/renew")
async def renew(
    request: Request,
    request_id: PathName,
    session: SessionDep,
    policy: PolicyDep,
    settings: SettingsDep,
    user: GuardianUser,
    form: CheckedForm,
) -> Response:
    async def change(case: SharingRequest) -> None:
        await claims.renew(session=session, policy=policy, principal=user.principal, request=case)

    return await act(
        request,
        session=session,
        user=user,
        controller=settings.controller_org,
        request_id=request_id,
        form=form,
        change=change,
        done="renewed",
    )


@router.post("/console/cases/{request_id}/hand-over")
async def hand_over(
    request: Request,
    request_id: PathName,
    session: SessionDep,
    policy: PolicyDep,
    settings: SettingsDep,
    user: GuardianUser,
    form: CheckedForm,
) -> Response:
    async def change(case: SharingRequest) -> None:
        body = body_of(HandOverBody, {"to": str(form.get("to") or "").strip(), "note": form.get("note") or ""})
        await claims.hand_over(
            session=session, policy=policy, principal=user.principal, request=case, to=body.to, note=body.note
        )

    return await act(
        request,
        session=session,
        user=user,
        controller=settings.controller_org,
        request_id=request_id,
        form=form,
        change=change,
        done="handed_over",
    )


def review_body(form: FormData) -> ReviewBody:
    """The API's ReviewBody from the decision form: conditions one a line, approved items ticked (none: every item)."""
    conditions = [line.strip() for line in str(form.get("conditions") or "").splitlines() if line.strip()]
    items = [str(item) for item in form.getlist("approved_items")]
    values: dict[str, Any] = {
        "outcome": form.get("outcome") or "",
        "rationale": form.get("rationale") or "",
        "conditions": conditions,
        "approved_items": items or None,
    }
    return body_of(ReviewBody, values)


@router.post("/console/cases/{request_id}/decide")
async def decide(
    request: Request,
    request_id: PathName,
    session: SessionDep,
    policy: PolicyDep,
    registry: RegistryDep,
    settings: SettingsDep,
    user: GuardianUser,
    form: CheckedForm,
) -> Response:
    """Decide the case; an unclaimed one is claimed first, in the same transaction."""

    async def change(case: SharingRequest) -> None:
        body = review_body(form)
        if case.assignee_sub is None or claim_lapsed(case):
            await claims.claim(session=session, policy=policy, principal=user.principal, request=case)
        await decisions.review(
            session=session,
            registry=registry,
            principal=user.principal,
            request=case,
            body=body,
            controller_org=settings.controller_org,
        )

    return await act(
        request,
        session=session,
        user=user,
        controller=settings.controller_org,
        request_id=request_id,
        form=form,
        change=change,
        done="decided",
    )


def order_of(form: FormData) -> dict[str, Any]:
    """The order's details from the verification form of a court order (blank dates and court: not given)."""
    texts = {name: str(form.get(name) or "").strip() for name in ("issued_by", "issued_on", "number", "return_date")}
    produce_to = str(form.get("produce_to") or "").strip()
    return (
        texts
        | {"return_date": texts["return_date"] or None, "produce_to": produce_to or None}
        | {check: check in form for check in ORDER_CHECKS}
    )


@router.post("/console/cases/{request_id}/attachments/{attachment_id}/verify")
async def verify(
    request: Request,
    request_id: PathName,
    attachment_id: PathName,
    session: SessionDep,
    settings: SettingsDep,
    user: GuardianUser,
    form: CheckedForm,
) -> Response:
    """Verify or reject one piece of evidence, with what was checked."""

    async def change(case: SharingRequest) -> None:
        values = {"outcome": form.get("outcome") or "", "checked": form.get("checked") or ""}
        if form.get("order") == "yes":
            values["order"] = order_of(form)
        body = body_of(VerificationBody, values)
        await verifications.verify(
            session=session, principal=user.principal, request=case, attachment_id=attachment_id, body=body
        )

    return await act(
        request,
        session=session,
        user=user,
        controller=settings.controller_org,
        request_id=request_id,
        form=form,
        change=change,
        done="verified",
    )


@router.get("/console/cases/{request_id}/attachments/{attachment_id}")
async def download(
    request_id: PathName,
    attachment_id: PathName,
    session: SessionDep,
    store: AttachmentStoreDep,
    user: OverseerUser,
) -> Response:
    """The evidence's content, as a download (never shown inline: it is whatever the requester sent); audited."""
    case = await reading.get_visible(session=session, principal=user.principal, request_id=request_id)
    found = await uploads.download_for_request(
        session=session, store=store, principal=user.principal, request=case, attachment_id=attachment_id
    )
    return streamed(found)
