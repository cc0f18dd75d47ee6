"""Guardian review: the queue, claims, decisions, amendments, withdrawal, reconsideration, history, metrics."""

from dataclasses import replace
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from app.errors import BODY_PROBLEMS, INVALID_INPUT, PROBLEM_RESPONSES, problem_doc
from app.http.dependencies import (
    PageCursor,
    PageLimit,
    PolicyDep,
    ReadableRequest,
    RegistryDep,
    SettingsDep,
)
from app.http.etags import ETAG_HEADER, STALE, RequestToChange, tagged
from app.http.idempotency import IdempotentRoute, changes_nothing
from app.http.locations import created, locate
from app.http.roles import AgencyPrincipal, CaseReader, GuardianOrAuditor, GuardianPrincipal
from app.http.session import SessionDep
from app.models.base import STORABLE_TEXT, CalendarDate
from app.models.organisation import ORGANISATION_CODE
from app.models.reconsideration import ReconsiderationDecided, ReconsiderationPublic
from app.models.report import ReviewMetrics, SubjectQuery
from app.models.review import (
    AmendmentBody,
    HandOverBody,
    History,
    QueuePage,
    ReconsiderationBody,
    ReconsiderationDecisionBody,
    RetrospectiveReviewBody,
    ReviewBody,
    ReviewKind,
)
from app.models.sharing_request import DecisionPublic, SharingRequestPublic
from app.models.vocabulary import PurposeCategory, RequestStatus, Urgency
from app.services.policies import editions
from app.services.review import claims, queue, reconsideration
from app.services.review import decisions as guardian_decisions
from app.services.review import metrics as review_metrics
from app.services.sharing_requests import amendments
from app.services.sharing_requests import history as transitions
from app.services.sharing_requests import reading as sharing_requests

router = APIRouter(responses=PROBLEM_RESPONSES)
router.route_class = IdempotentRoute  # every POST that changes something takes an Idempotency-Key

# A 422 when the id in the path could not be looked up at all (too long, or holding a NUL).
NOT_FOUND = INVALID_INPUT | {404: problem_doc("No such request, or it belongs to another agency")}
# A workflow move: If-Match, when sent, must name the request's current ETag; the answer carries its new one.
MOVED = {200: {"description": "Done; `ETag` is the request's new one", "headers": ETAG_HEADER}}
ON_A_REQUEST = (
    NOT_FOUND
    | STALE
    | {
        409: problem_doc(
            "The request's state does not allow this (`current_status` names it), or it changed at the same moment"
        )
    }
)
NOT_RECONSIDERABLE = {
    409: problem_doc(
        "The request is not a decided refusal or approval with conditions (`current_status` names its state), that "
        "decision was reconsidered, or the time to ask (CALDICOTT_RECONSIDERATION_WINDOW_DAYS after it) has passed"
    )
}


async def queue_filters(
    status: RequestStatus | None = None,
    urgency: Urgency | None = None,
    purpose: PurposeCategory | None = None,
    assignee: Annotated[
        str | None,
        Query(max_length=200, pattern=STORABLE_TEXT, description="The `sub` of the guardian holding the claim"),
    ] = None,
    overdue: bool | None = None,
    review: Annotated[
        ReviewKind | None,
        Query(
            description="Why the request is queued: a referral, a retrospective review, a reconsideration or a panel"
        ),
    ] = None,
    requester: Annotated[
        str | None,
        Query(max_length=32, pattern=ORGANISATION_CODE, description="The requesting organisation's code"),
    ] = None,
    reference: Annotated[
        str | None,
        Query(max_length=200, pattern=STORABLE_TEXT, description="The requester's own case reference, exactly"),
    ] = None,
) -> queue.QueueFilters:
    """The queue's filters from the query string, for the listing and the search by person alike."""
    return queue.QueueFilters(
        status=status,
        urgency=urgency,
        purpose=purpose,
        assignee=assignee,
        overdue=overdue,
        review=review,
        requester=requester,
        reference=reference,
    )


QueueFiltersDep = Annotated[queue.QueueFilters, Depends(queue_filters)]


@router.get(
    "/v1/review-queue",
    tags=["Guardian review"],
    summary="Requests awaiting a guardian: emergency first, then by due time",
    description="A request whose claim has lapsed is listed as unclaimed (its status and `assignee` as they will be "
    "once claimed again); listing changes nothing. To find the requests naming a person, post their identifier to "
    "`POST /v1/review-queue/search`.",
    responses=INVALID_INPUT,
)
async def review_queue(
    session: SessionDep,
    policy: PolicyDep,
    _: GuardianPrincipal,
    filters: QueueFiltersDep,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
) -> QueuePage:
    page = await queue.queue(session=session, filters=filters, cursor=cursor, limit=limit)
    page.warning = editions.warning(policy)
    return page


@router.post(
    "/v1/review-queue/search",
    tags=["Guardian review"],
    summary="The queued requests that name a person (the identifier goes in the body, never in an address)",
    description="The queue as `GET /v1/review-queue` lists it, with the same filters in the query string, narrowed to "
    "the requests that named the person in any version: matched by the identifier's keyed hash under every "
    "configured subject key, and neither stored nor logged. The next page is asked for with the same body and the "
    "`cursor` of this one.",
    responses=INVALID_INPUT | BODY_PROBLEMS,
)
@changes_nothing  # a search: nothing to answer twice
async def search_review_queue(
    body: SubjectQuery,
    session: SessionDep,
    policy: PolicyDep,
    settings: SettingsDep,
    _: GuardianPrincipal,
    filters: QueueFiltersDep,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
) -> QueuePage:
    person = settings.subject_keyring.every_hash(body.identifier)
    page = await queue.queue(session=session, filters=replace(filters, person=person), cursor=cursor, limit=limit)
    page.warning = editions.warning(policy)
    return page


@router.post(
    "/v1/sharing-requests/{request_id}/claim",
    tags=["Guardian review"],
    summary="Take a request from the queue",
    responses=ON_A_REQUEST
    | MOVED
    | {
        409: problem_doc(
            "The request's state does not allow a claim (`current_status` names it): when another guardian holds "
            "it, `held_by` names them and `held_until` says when their claim lapses; or it changed at the same moment"
        )
    },
)
async def claim(
    request: RequestToChange,
    response: Response,
    session: SessionDep,
    policy: PolicyDep,
    settings: SettingsDep,
    principal: GuardianPrincipal,
) -> SharingRequestPublic:
    await claims.claim(session=session, policy=policy, principal=principal, request=request)
    tagged(response, request)
    return await sharing_requests.details(
        session=session, request=request, reader=principal, controller=settings.controller_org
    )


@router.post(
    "/v1/sharing-requests/{request_id}/release",
    tags=["Guardian review"],
    summary="Give a claimed request back to the queue",
    responses=ON_A_REQUEST | MOVED,
)
async def release(
    request: RequestToChange,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: GuardianPrincipal,
) -> SharingRequestPublic:
    await claims.release(session=session, principal=principal, request=request)
    tagged(response, request)
    return await sharing_requests.details(
        session=session, request=request, reader=principal, controller=settings.controller_org
    )


@router.post(
    "/v1/sharing-requests/{request_id}/claim/renew",
    tags=["Guardian review"],
    summary="Hold a claim for another whole lease from now",
    description="Only the guardian holding the claim, before it lapses; a lapsed claim is returned to the queue "
    "instead and must be claimed again.",
    responses=ON_A_REQUEST | MOVED,
)
async def renew_claim(
    request: RequestToChange,
    response: Response,
    session: SessionDep,
    policy: PolicyDep,
    settings: SettingsDep,
    principal: GuardianPrincipal,
) -> SharingRequestPublic:
    await claims.renew(session=session, policy=policy, principal=principal, request=request)
    tagged(response, request)
    return await sharing_requests.details(
        session=session, request=request, reader=principal, controller=settings.controller_org
    )


@router.post(
    "/v1/sharing-requests/{request_id}/hand-over",
    tags=["Guardian review"],
    summary="Hand a claim to a named colleague, with a note",
    description="Only the guardian holding the claim; the colleague, a guardian of the same organisation, holds it "
    "for a whole lease from now. For a reconsideration the colleague must have taken no part in the decision "
    "reconsidered (403 otherwise). The history's `handed_over` change names the colleague and keeps the note.",
    responses=ON_A_REQUEST | BODY_PROBLEMS | MOVED,
)
async def hand_over(
    request: RequestToChange,
    response: Response,
    body: HandOverBody,
    session: SessionDep,
    policy: PolicyDep,
    settings: SettingsDep,
    principal: GuardianPrincipal,
) -> SharingRequestPublic:
    await claims.hand_over(
        session=session, policy=policy, principal=principal, request=request, to=body.to, note=body.note
    )
    tagged(response, request)
    return await sharing_requests.details(
        session=session, request=request, reader=principal, controller=settings.controller_org
    )


@router.post(
    "/v1/sharing-requests/{request_id}/review",
    tags=["Guardian review"],
    summary="Decide a claimed request, with a written rationale "
    "(approving a case the policy leaves to a panel is a 409)",
    description=(
        "An approval opens the controller's checks among the rules' findings; a guardian of the controller "
        "organisation may record them done with the decision (`checks`; 403 for a guardian of another organisation)."
    ),
    responses=ON_A_REQUEST | BODY_PROBLEMS | MOVED,
)
async def decide(
    request: RequestToChange,
    response: Response,
    body: ReviewBody,
    session: SessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
    principal: GuardianPrincipal,
) -> DecisionPublic:
    decision = await guardian_decisions.review(
        session=session,
        registry=registry,
        principal=principal,
        request=request,
        body=body,
        controller_org=settings.controller_org,
    )
    tagged(response, request)
    return DecisionPublic.of(decision)


@router.post(
    "/v1/sharing-requests/{request_id}/retrospective-review",
    tags=["Guardian review"],
    summary="Uphold or not an emergency share",
    responses=ON_A_REQUEST | BODY_PROBLEMS | MOVED,
)
async def retrospective_review(
    request: RequestToChange,
    response: Response,
    body: RetrospectiveReviewBody,
    session: SessionDep,
    principal: GuardianPrincipal,
) -> DecisionPublic:
    decision = await guardian_decisions.retrospective_review(
        session=session, principal=principal, request=request, body=body
    )
    tagged(response, request)
    return DecisionPublic.of(decision)


@router.post(
    "/v1/sharing-requests/{request_id}/amendments",
    tags=["Sharing requests"],
    summary="Answer a request for information with a revised request",
    responses=ON_A_REQUEST | BODY_PROBLEMS | MOVED,
)
async def amend(
    request: RequestToChange,
    response: Response,
    body: AmendmentBody,
    session: SessionDep,
    policy: PolicyDep,
    settings: SettingsDep,
    principal: AgencyPrincipal,
) -> SharingRequestPublic:
    amended = await amendments.amend(
        session=session,
        policy=policy,
        principal=principal,
        request=request,
        body=body,
        subject_keys=settings.subject_keyring,
        max_identifiers=settings.max_identifiers_per_request,
    )
    tagged(response, request)
    return amended


@router.post(
    "/v1/sharing-requests/{request_id}/withdraw",
    tags=["Sharing requests"],
    summary="Withdraw a request that has no final decision, or an approval no longer needed before anything is "
    "disclosed under it",
    description="Withdrawing an approval closes its pending disclosures as `cancelled` "
    "(`GET /v1/sharing-requests/{id}/disclosures`); once any is recorded `disclosed` it is a 409, as for a refusal.",
    responses=ON_A_REQUEST | MOVED,
)
async def withdraw(
    request: RequestToChange, response: Response, session: SessionDep, settings: SettingsDep, principal: AgencyPrincipal
) -> SharingRequestPublic:
    await amendments.withdraw(session=session, principal=principal, request=request)
    tagged(response, request)
    return await sharing_requests.details(
        session=session, request=request, reader=principal, controller=settings.controller_org
    )


@router.post(
    "/v1/sharing-requests/{request_id}/reconsideration",
    tags=["Sharing requests"],
    status_code=201,
    summary="Ask, once per decision, that a refusal or an approval's conditions be reconsidered by another guardian",
    responses=NOT_FOUND
    | STALE
    | BODY_PROBLEMS
    | NOT_RECONSIDERABLE
    | created(
        "The reconsideration asked for; `ETag` is the request's new one",
        "The request's history, which shows the reconsideration",
    ),
)
async def request_reconsideration(
    request: RequestToChange,
    response: Response,
    body: ReconsiderationBody,
    session: SessionDep,
    policy: PolicyDep,
    settings: SettingsDep,
    principal: AgencyPrincipal,
) -> ReconsiderationPublic:
    asked = await reconsideration.request_reconsideration(
        session=session,
        policy=policy,
        principal=principal,
        request=request,
        body=body,
        subject_keys=settings.subject_keyring,
        max_identifiers=settings.max_identifiers_per_request,
        window=timedelta(days=settings.reconsideration_window_days),
    )
    locate(response, f"/v1/sharing-requests/{request.id}/history")
    tagged(response, request)
    return asked


@router.post(
    "/v1/sharing-requests/{request_id}/reconsideration/decision",
    tags=["Guardian review"],
    summary="Uphold or overturn a claimed reconsideration, with a written rationale (not by a guardian who made the "
    "decision, sat on the panel that made it, or gave a second opinion it weighed)",
    responses=ON_A_REQUEST | BODY_PROBLEMS | MOVED,
)
async def decide_reconsideration(
    request: RequestToChange,
    response: Response,
    body: ReconsiderationDecisionBody,
    session: SessionDep,
    registry: RegistryDep,
    principal: GuardianPrincipal,
) -> ReconsiderationDecided:
    decided = await reconsideration.decide(
        session=session, registry=registry, principal=principal, request=request, body=body
    )
    tagged(response, request)
    return decided


@router.get(
    "/v1/sharing-requests/{request_id}/history",
    tags=["Sharing requests"],
    summary="Every version, decision and state change, in order",
    description="Paged like every list (`cursor`, `limit`), oldest first. "
    'An agency reads each guardian who acted as "a Caldicott Guardian of" the controller; guardians, '
    "auditors and admins read the token subject.",
    responses=NOT_FOUND,
)
async def history(
    request: ReadableRequest,
    session: SessionDep,
    settings: SettingsDep,
    principal: CaseReader,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
) -> History:
    return await transitions.history(
        session=session,
        principal=principal,
        request=request,
        controller=settings.controller_org,
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/v1/reports/review-metrics",
    tags=["Reports"],
    summary="Guardian decisions, response times, overdue cases, overturn and reconsideration rates",
    responses=INVALID_INPUT,
)
async def metrics(
    session: SessionDep,
    _: GuardianOrAuditor,
    from_: Annotated[
        CalendarDate | None,
        Query(
            alias="from",
            description=f"First London date, inclusive, from {review_metrics.EARLIEST}; default 30 days ago",
        ),
    ] = None,
    to: Annotated[
        CalendarDate | None,
        Query(description=f"Last London date, inclusive, until {review_metrics.LATEST}; default today"),
    ] = None,
) -> ReviewMetrics:
    return await review_metrics.review_metrics(session=session, period_from=from_, period_to=to)
