"""Partner agencies submit sharing requests and read their decisions; anyone may dry-run one."""

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import AfterValidator, AwareDatetime, BeforeValidator

from app.errors import BODY_PROBLEMS, INVALID_INPUT, PROBLEM_RESPONSES, problem_doc
from app.http.dependencies import (
    PageCursor,
    PageLimit,
    PolicyDep,
    ReadableRequest,
    RegistryDep,
    SettingsDep,
)
from app.http.etags import ETAG_HEADER, NOT_MODIFIED, IfNoneMatch, not_modified, tagged
from app.http.idempotency import REPLAYED_HEADER, IdempotentRoute, changes_nothing
from app.http.roles import AgencyPrincipal, CaseReader, ReaderPrincipal
from app.http.session import SessionDep
from app.models.base import STORABLE_TEXT
from app.models.request_body import SharingRequestBody
from app.models.sharing_request import EvaluationPublic, SharingRequestPage, SharingRequestPublic
from app.models.vocabulary import PurposeCategory, RequestStatus
from app.services.sharing_requests import adjudication
from app.services.sharing_requests import reading as sharing_requests


def _date_time_text(value: object) -> object:
    # Pydantic would also take a number as a Unix time; the contract says ISO 8601.
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ].+", value):
        raise ValueError("must be an ISO 8601 date and time with an offset, such as 2026-12-01T09:00:00Z")
    return value


def _in_utc(value: datetime) -> datetime:
    # Compared in UTC: a time that leaves the calendar there (year 1 at +01:00) is refused here, not in the driver.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the calendar once in UTC") from None


IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_date_time_text), AfterValidator(_in_utc)]

router = APIRouter(tags=["Sharing requests"], responses=PROBLEM_RESPONSES)
router.route_class = IdempotentRoute  # every POST that changes something takes an Idempotency-Key

# A 422 when the id in the path could not be looked up at all (too long, or holding a NUL).
NOT_FOUND = INVALID_INPUT | {404: problem_doc("No such request, or it belongs to another agency")}


@router.post(
    "/v1/sharing-requests",
    status_code=status.HTTP_201_CREATED,
    summary="Submit a sharing request; it is decided by the policy at once",
    responses=BODY_PROBLEMS
    | {
        201: {
            "description": "The request as recorded, with its decision",
            "headers": {
                "Location": {"description": "The request's own URL", "schema": {"type": "string"}},
                **ETAG_HEADER,
                **REPLAYED_HEADER,
            },
        },
        403: problem_doc("The caller's organisation is not registered or not active"),
    },
)
async def submit_sharing_request(
    body: SharingRequestBody,
    response: Response,
    session: SessionDep,
    policy: PolicyDep,
    settings: SettingsDep,
    principal: AgencyPrincipal,
) -> SharingRequestPublic:
    submission = await adjudication.submit(
        session=session,
        policy=policy,
        principal=principal,
        body=body,
        subject_keys=settings.subject_keyring,
        max_identifiers=settings.max_identifiers_per_request,
    )
    response.headers["Location"] = f"/v1/sharing-requests/{submission.request.id}"
    tagged(response, submission.request)
    return sharing_requests.as_written(
        request=submission.request,
        version=1,
        decision=submission.decision,
        findings=submission.findings,
        body=submission.body,
    )


@router.get("/v1/sharing-requests", summary="List sharing requests, newest first", responses=INVALID_INPUT)
async def list_sharing_requests(
    session: SessionDep,
    principal: ReaderPrincipal,
    status_: Annotated[RequestStatus | None, Query(alias="status")] = None,
    purpose: PurposeCategory | None = None,
    reference: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            pattern=STORABLE_TEXT,
            description="Only requests whose `reference` (the requesting agency's own case reference) is exactly this",
        ),
    ] = None,
    updated_since: Annotated[
        IsoDateTime | None,
        Query(
            description="Only requests changed at or after this time (ISO 8601 with an offset): each workflow move, "
            "amendment and decision changes `updated_at`; poll with the latest `updated_at` seen"
        ),
    ] = None,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
) -> SharingRequestPage:
    return await sharing_requests.list_page(
        session=session,
        principal=principal,
        status=status_,
        purpose=purpose,
        reference=reference,
        updated_since=updated_since,
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/v1/sharing-requests/{request_id}",
    summary="One sharing request with its current decision",
    description="`ETag` changes with every workflow move; send it in `If-Match` with a move so that it is refused "
    "(412) if the request moved since.",
    responses=NOT_FOUND | NOT_MODIFIED | {200: {"description": "The request", "headers": ETAG_HEADER}},
)
async def get_sharing_request(
    request: ReadableRequest,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: CaseReader,
    if_none_match: IfNoneMatch = None,
) -> SharingRequestPublic:
    # Read (and audited as read) even when the answer is a 304: the caller learns the request is as they last saw it.
    public = await sharing_requests.read(
        session=session, principal=principal, request=request, controller=settings.controller_org
    )
    if (unchanged := not_modified(request, if_none_match)) is not None:
        return unchanged  # type: ignore[return-value]
    tagged(response, request)
    return public


@router.post(
    "/v1/evaluate",
    summary="Dry run: how a request would be decided today; nothing is stored",
    responses=BODY_PROBLEMS
    | {
        403: problem_doc("The organisation is not registered or not active, or an agency asked as another"),
        404: problem_doc("No such policy"),
    },
)
@changes_nothing  # a dry run: nothing to answer twice
async def evaluate_sharing_request(
    body: SharingRequestBody,
    session: SessionDep,
    registry: RegistryDep,
    settings: SettingsDep,
    principal: ReaderPrincipal,
    policy_name: Annotated[
        str | None,
        Query(
            max_length=64, pattern=STORABLE_TEXT, description="Evaluate under this held policy; default: the active one"
        ),
    ] = None,
    policy_version: Annotated[
        str | None,
        Query(max_length=64, pattern=STORABLE_TEXT, description="With policy_name: the version to evaluate under"),
    ] = None,
    requester: Annotated[
        str | None,
        Query(
            max_length=32,
            pattern=STORABLE_TEXT,
            description="Evaluate as this organisation (guardians, auditors, admins); default: the caller's own",
        ),
    ] = None,
) -> EvaluationPublic:
    return await sharing_requests.dry_run(
        session=session,
        registry=registry,
        principal=principal,
        body=body,
        policy_name=policy_name,
        policy_version=policy_version,
        requester=requester,
        subject_keys=settings.subject_keyring,
        max_identifiers=settings.max_identifiers_per_request,
    )
