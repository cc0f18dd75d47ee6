"""What a guardian does from the case file: claim, release, renew the claim, hand it to a colleague, decide, and
verify or reject evidence; and the evidence's download.

Each action is a form of the case page posted with its token, acted on as every form of the page is
(app/console/acting.py): the same service function as the API's route, in the request's one transaction; the case
page again with a banner, or with the refusal and the form as sent. The case page's forms send the version of the
case it showed, so a case that changed meanwhile is not acted on unseen. An unclaimed case can be claimed and decided
in one post: both moves in the one act, so a refused decision leaves it unclaimed.
"""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.datastructures import FormData

from app.http.dependencies import AttachmentStoreDep, PathName, PolicyDep, RegistryDep
from app.http.session import SessionDep
from app.models.review import HandOverBody, ReviewBody
from app.models.sharing_request import claim_lapsed
from app.models.verification import VerificationBody
from app.routers.attachments import streamed
from app.services.attachments import uploads, verifications
from app.services.review import claims, decisions

from .acting import ActingOn, act, body_of, case_of, lines_of
from .auth import OverseerUser
from .case import ACTIONS, Done

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


@router.post("/console/cases/{request_id}/claim")
async def claim(acting: ActingOn, policy: PolicyDep) -> Response:
    async def work() -> None:
        await claims.claim(session=acting.db, policy=policy, principal=acting.user.principal, request=acting.case)

    return await act(acting, form_id=ACTIONS, done=Done.CLAIMED, work=work, fields=FIELDS)


@router.post("/console/cases/{request_id}/release")
async def release(acting: ActingOn) -> Response:
    async def work() -> None:
        await claims.release(session=acting.db, principal=acting.user.principal, request=acting.case)

    return await act(acting, form_id=ACTIONS, done=Done.RELEASED, work=work, fields=FIELDS)


@router.post("/console/cases/{request_id}/renew")
async def renew(acting: ActingOn, policy: PolicyDep) -> Response:
    async def work() -> None:
        await claims.renew(session=acting.db, policy=policy, principal=acting.user.principal, request=acting.case)

    return await act(acting, form_id=ACTIONS, done=Done.RENEWED, work=work, fields=FIELDS)


@router.post("/console/cases/{request_id}/hand-over")
async def hand_over(acting: ActingOn, policy: PolicyDep) -> Response:
    async def work() -> None:
        form = acting.form
        body = body_of(HandOverBody, {"to": str(form.get("to") or "").strip(), "note": form.get("note") or ""})
        await claims.hand_over(
            session=acting.db,
            policy=policy,
            principal=acting.user.principal,
            request=acting.case,
            to=body.to,
            note=body.note,
        )

    return await act(acting, form_id=ACTIONS, done=Done.HANDED_OVER, work=work, fields=FIELDS)


def review_body(form: FormData) -> ReviewBody:
    """The API's ReviewBody from the decision form: conditions one a line, approved items ticked (none: every item)."""
    conditions = lines_of(form, "conditions")
    items = [str(item) for item in form.getlist("approved_items")]
    values: dict[str, Any] = {
        "outcome": form.get("outcome") or "",
        "rationale": form.get("rationale") or "",
        "conditions": conditions,
        "approved_items": items or None,
    }
    return body_of(ReviewBody, values)


@router.post("/console/cases/{request_id}/decide")
async def decide(acting: ActingOn, policy: PolicyDep, registry: RegistryDep) -> Response:
    """Decide the case; an unclaimed one is claimed first, in the same act."""

    async def work() -> None:
        body = review_body(acting.form)
        case, principal = acting.case, acting.user.principal
        if case.assignee_sub is None or claim_lapsed(case):
            await claims.claim(session=acting.db, policy=policy, principal=principal, request=case)
        await decisions.review(
            session=acting.db,
            registry=registry,
            principal=principal,
            request=case,
            body=body,
            controller_org=acting.controller,
        )

    return await act(acting, form_id=ACTIONS, done=Done.DECIDED, work=work, fields=FIELDS)


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
async def verify(acting: ActingOn, attachment_id: PathName) -> Response:
    """Verify or reject one piece of evidence, with what was checked."""

    async def work() -> None:
        form = acting.form
        values = {"outcome": form.get("outcome") or "", "checked": form.get("checked") or ""}
        if form.get("order") == "yes":
            values["order"] = order_of(form)
        body = body_of(VerificationBody, values)
        await verifications.verify(
            session=acting.db,
            principal=acting.user.principal,
            request=acting.case,
            attachment_id=attachment_id,
            body=body,
        )

    return await act(acting, form_id=ACTIONS, done=Done.VERIFIED, work=work, fields=FIELDS)


@router.get("/console/cases/{request_id}/attachments/{attachment_id}")
async def download(
    request_id: PathName,
    attachment_id: PathName,
    session: SessionDep,
    store: AttachmentStoreDep,
    user: OverseerUser,
) -> Response:
    """The evidence's content, as a download (never shown inline: it is whatever the requester sent); audited."""
    case = await case_of(session, user, request_id)
    found = await uploads.download_for_request(
        session=session, store=store, principal=user.principal, request=case, attachment_id=attachment_id
    )
    return streamed(found)
