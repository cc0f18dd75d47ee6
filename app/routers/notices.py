"""Decision notices: the latest final decision on a request as a letter, in HTML, Markdown, plain text or JSON."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response

from app.errors import BODY_PROBLEMS, INVALID_INPUT, PROBLEM_RESPONSES, NotAcceptable, problem_doc
from app.http.dependencies import CurrentRequest, NoticeContextDep
from app.http.etags import ETAG_HEADER, STALE, RequestToChange, tagged
from app.http.idempotency import IdempotentRoute
from app.http.negotiation import choose
from app.http.roles import GuardianPrincipal, ReaderPrincipal
from app.http.session import SessionDep
from app.models.notice import (
    ConditionSource,
    DecisionNotice,
    NoticeAudience,
    NoticeBasis,
    NoticeCondition,
    NoticeDecider,
    NoticeFinding,
    NoticeFormat,
    NoticeItem,
    NoticeOrganisation,
    NoticePrinciple,
    NoticePurpose,
    NoticeRecipient,
    ReconsiderationOffer,
)
from app.models.notice_release import NoticeReleaseBody, NoticeReleasePublic
from app.models.vocabulary import (
    DataCategory,
    DataForm,
    DecisionKind,
    DecisionOutcome,
    PurposeCategory,
    StorageRegion,
    Urgency,
)
from app.services.notices import notice
from app.services.notices import withholding as notice_withholding

router = APIRouter(responses=PROBLEM_RESPONSES)
router.route_class = IdempotentRoute  # every POST that changes something takes an Idempotency-Key

# Every form carries these; HTML also a policy that lets the page load nothing but its own inline styles.
COMMON_HEADERS = {"Vary": "Accept", "Content-Language": "en-GB", "Cache-Control": "no-store"}
HTML_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def negotiate(accept: str | None) -> NoticeFormat:
    """The form the Accept header likes best (q-values, the most specific range deciding);
    JSON when it says nothing; 406 when none will do."""
    chosen = choose(accept, notice.OFFERED)
    if chosen is None:
        raise NotAcceptable(
            f"a notice is given as {', '.join(format.value for format in notice.OFFERED)}; "
            "the Accept header allows none of them"
        )
    return chosen


async def notice_format(accept: Annotated[str | None, Header(include_in_schema=False)] = None) -> NoticeFormat:
    """The form the caller's Accept header asks for (406 when none of the four will do)."""
    return negotiate(accept)


# A rules decision with conditions, as the published examples of each form.
_DECIDED = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
EXAMPLE = DecisionNotice(
    audience=NoticeAudience.REQUESTER,
    request_id="6f1c2a9e-3b7d-4e21-9a55-0c8d2f4b7e10",
    decision_id="b2e4d6f8-1a3c-4e5f-8a7b-9c0d1e2f3a4b",
    reference="CASE-0001",
    requester=NoticeOrganisation(code="RXT01", name="Northshire Community Health NHS Trust"),
    controller=NoticeOrganisation(code="CONTROLLER", name="Northshire Hospitals NHS Foundation Trust"),
    issued_at=_DECIDED,
    decided_at=_DECIDED,
    outcome=DecisionOutcome.APPROVE_WITH_CONDITIONS,
    outcome_label="approved with conditions",
    partial=False,
    emergency_share=False,
    purpose=NoticePurpose(
        category=PurposeCategory.DIRECT_CARE,
        label="the person's own health or social care",
        description="Referral to the community mental health team for continuing treatment after discharge",
    ),
    urgency=Urgency.ROUTINE,
    urgency_label="routine",
    subject_count=1,
    information=[
        NoticeItem(
            category=DataCategory.DEMOGRAPHICS,
            label="basic details such as name, date of birth and NHS number",
            form=DataForm.IDENTIFIABLE,
            form_label="in a form that identifies the person",
            justification="to identify the patient correctly",
            may_be_shared=True,
        ),
        NoticeItem(
            category=DataCategory.DIAGNOSES,
            label="diagnoses",
            form=DataForm.IDENTIFIABLE,
            form_label="in a form that identifies the person",
            justification="clinical context needed to plan care",
            may_be_shared=True,
        ),
    ],
    conditions=[
        NoticeCondition(
            source=ConditionSource.POLICY,
            rule="CP5.staff_trained",
            text="Make sure everyone who will see the information has completed current data protection "
            "training before they are given access.",
            explanation="Everyone who sees the information must be trained in looking after it.",
        )
    ],
    recipient=NoticeRecipient(
        retention_days=730, onward_sharing=False, storage_region=StorageRegion.UK, storage_label="in the United Kingdom"
    ),
    decided_by=NoticeDecider(
        kind=DecisionKind.RULES,
        statement="the rules of policy uk-caldicott-baseline 2027.1",
        organisation=None,
        policy_name="uk-caldicott-baseline",
        policy_version="2027.1",
    ),
    rationale=None,
    principles=[
        NoticePrinciple(
            principle=5,
            title="Everyone with access to confidential information should be aware of their responsibilities.",
            plain="Everyone who sees the information must know how to look after it.",
            findings=[
                NoticeFinding(
                    rule="CP5.staff_trained",
                    result="condition",
                    reason="Make sure everyone who will see the information has completed current data protection "
                    "training before they are given access.",
                )
            ],
        )
    ],
    addressed_to_label="Northshire Community Health NHS Trust",
    basis=NoticeBasis(
        article_6="UK GDPR Article 6(1)(e): a task in the public interest or in the exercise of official authority",
        article_9="UK GDPR Article 9(2)(h): health or social care",
        article_10=None,
        confidentiality="The duty of confidence is met by implied consent, "
        "because the sharing is for the person's own care.",
        provision=None,
    ),
    reconsideration=ReconsiderationOffer(
        deadline=datetime(2026, 12, 24, 14, 5, tzinfo=UTC),
        window_days=28,
        path="/v1/sharing-requests/6f1c2a9e-3b7d-4e21-9a55-0c8d2f4b7e10/reconsideration",
    ),
)


def _content() -> dict[str, Any]:
    """The four media types of a notice, each with the example rendered as the service renders it."""
    content: dict[str, Any] = {"application/json": {"example": EXAMPLE.model_dump(mode="json")}}
    for fmt in (NoticeFormat.HTML, NoticeFormat.MARKDOWN, NoticeFormat.PLAIN):
        content[fmt.value] = {"schema": {"type": "string"}, "example": notice.render(EXAMPLE, fmt)}
    return content


@router.get(
    "/v1/sharing-requests/{request_id}/notice",
    tags=["Sharing requests"],
    summary="The latest final decision as a plain-English letter, "
    "for the requester or the person the information is about",
    description=(
        "Choose the form with `Accept`: `application/json` (the default: the same content, structured), `text/html` (a "
        "printable page), `text/markdown` or `text/plain`; q-values are honoured. `audience=subject` gives the notice "
        "for the person the information is about (Caldicott principle 8): it quotes none of the requester's own words, "
        "no identifiers and no names of staff; it states the legal basis, and to a living person their rights. For a "
        "`mixed` group `subject` is the children's notice (to a person with parental responsibility) and "
        "`subject_adults` the adults' and young people's; `subject_proxy` is the notice to a health-and-welfare "
        "attorney or deputy who gave or refused consent for a person who lacks capacity (404 where the request has no "
        "such notice). The person's notice is **withheld** (409, problem type `subject-notice-withheld`, whose "
        "`errors` name each reason: location `withheld`, field the reason) until a guardian releases it "
        "(`POST .../notice-releases`) and while a controller's check is open; a guardian who is not of the requesting "
        'organisation may read it with `preview=true`, headed "Withheld: do not send". The requester\'s own notice is '
        "never withheld. Each read is audited."
    ),
    response_model=DecisionNotice,
    responses=INVALID_INPUT
    | {
        200: {"description": "The notice, in the form the Accept header asked for", "content": _content()},
        403: problem_doc("`preview=true` from anyone but a guardian who is not of the requesting organisation"),
        404: problem_doc("No such request, or it belongs to another agency, or it has no notice for this audience"),
        406: problem_doc("The Accept header allows none of application/json, text/html, text/markdown and text/plain"),
        409: problem_doc(
            "The request has no final decision yet (it awaits or is in review, waits for information, or was "
            "withdrawn), or the person's notice is withheld (problem type `subject-notice-withheld`, "
            "naming each reason in `errors`)"
        ),
    },
)
async def get_notice(
    principal: ReaderPrincipal,
    fmt: Annotated[NoticeFormat, Depends(notice_format)],
    request: CurrentRequest,
    session: SessionDep,
    context: NoticeContextDep,
    audience: Annotated[
        NoticeAudience,
        Query(
            description="`requester` (the default); `subject`: the person the information is about (for a mixed group, "
            "the children); `subject_adults`: a mixed group's adults and young people; `subject_proxy`: the person's "
            "health-and-welfare attorney or deputy"
        ),
    ] = NoticeAudience.REQUESTER,
    preview: Annotated[
        bool,
        Query(
            description="A guardian who is not of the requesting organisation reads a withheld notice, "
            'headed "Withheld: do not send"'
        ),
    ] = False,
) -> Response:
    decided = await notice.read(
        session=session, principal=principal, request=request, audience=audience, context=context, preview=preview
    )
    headers = COMMON_HEADERS | ({"Content-Security-Policy": HTML_POLICY} if fmt == NoticeFormat.HTML else {})
    return Response(notice.render(decided, fmt), media_type=notice.MEDIA_TYPES[fmt], headers=headers)


@router.post(
    "/v1/sharing-requests/{request_id}/notice-releases",
    tags=["Guardian review"],
    status_code=201,
    summary="Release a withheld notice to the person (or to their parent, attorney, deputy or personal representative)",
    description=(
        "A Caldicott Guardian who is not of the requesting organisation releases the notice for one `audience` "
        "(`subject`, `subject_adults` or `subject_proxy`), saying why. For a notice to a person with parental "
        "responsibility, or to an attorney or deputy, `not_implicated` must be true; for a person who has died, "
        "`personal_representative` names who it goes to and `access_to_health_records_checked` must be true (the "
        "notice tells them nothing the Access to Health Records Act 1990 ss.4(3) and 5 would withhold). The service "
        "records who and when. The release changes no decision and holds for the request's later decisions until the "
        "request is amended; it never clears `controller_checks_open`, which ends when the last controller's check is "
        "recorded done (`still_withheld`). Audited as `notice_released`."
    ),
    response_model=NoticeReleasePublic,
    responses=BODY_PROBLEMS
    | STALE
    | {
        201: {
            "description": "Released (the request's `ETag` in `ETag`: If-Match, when sent, must name it, so that a "
            "release is made on the request as the guardian read it)",
            "headers": ETAG_HEADER
            | {"Location": {"description": "The notice this release is for", "schema": {"type": "string"}}},
        },
        403: problem_doc("Only a guardian who is not of the requesting organisation releases a notice"),
        404: problem_doc("No such request, or it belongs to another agency, or it has no notice for this audience"),
        409: problem_doc("The notice for this audience is withheld for no reason a release clears"),
    },
)
async def release_notice(
    principal: GuardianPrincipal,
    request: RequestToChange,
    body: NoticeReleaseBody,
    session: SessionDep,
    response: Response,
) -> NoticeReleasePublic:
    released = await notice_withholding.release(session=session, principal=principal, request=request, body=body)
    tagged(response, request)
    response.headers["Location"] = f"/v1/sharing-requests/{request.id}/notice?audience={body.audience.value}"
    return released
