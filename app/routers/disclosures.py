"""Disclosures actually made: what an approved request's asset owners sent, how and when, or why nothing was."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from app.errors import BODY_PROBLEMS, INVALID_INPUT, PROBLEM_RESPONSES, problem_doc
from app.http.dependencies import PageCursor, PageLimit, PathName
from app.http.idempotency import IdempotentRoute
from app.http.roles import require_roles
from app.http.session import SessionDep
from app.models.disclosure import DisclosureList, DisclosurePublic, DisclosureRecordBody
from app.models.vocabulary import DisclosureStatus, Role
from app.principal import Principal
from app.services.disclosures import reading, recording

router = APIRouter(tags=["Controller's checks"], responses=PROBLEM_RESPONSES)
router.route_class = IdempotentRoute  # every POST that changes something takes an Idempotency-Key

# Who reads disclosures: the controller's readers (app/services/disclosures/reading.py WHOLE_READERS), its IAOs
# (their own assets'), and the requesting agency (its own request's, without the controller's internals).
DisclosureReader = Annotated[
    Principal,
    Depends(
        require_roles(
            Role.AGENCY, Role.GUARDIAN, Role.AUDITOR, Role.ADMIN, Role.IG_MANAGER, Role.SIRO, Role.DPO, Role.IAO
        )
    ),
]
# The controller's list: its people who read disclosures, not the agencies.
DisclosureOverseer = Annotated[
    Principal,
    Depends(require_roles(Role.GUARDIAN, Role.AUDITOR, Role.ADMIN, Role.IG_MANAGER, Role.SIRO, Role.DPO, Role.IAO)),
]
# Recording: an asset's owner or an IG manager. An agency passes here so that it is told 404, as for anything it
# may not see (the requesting agency itself: 403).
DisclosureRecorder = Annotated[Principal, Depends(require_roles(Role.IAO, Role.IG_MANAGER, Role.AGENCY))]
DisclosureId = Annotated[str, Path(max_length=36, pattern=r"^[0-9a-f-]{1,36}$", description="The disclosure's id")]


@router.get(
    "/v1/sharing-requests/{request_id}/disclosures",
    summary="The request's disclosures, one per information asset holding its approved items, oldest first",
    description="Opened when the approval is ready to disclose (none when no registered asset holds its items). The "
    "controller's guardians, auditors, admins, IG managers, SIRO and DPO read every one; an IAO those of the assets it "
    "owns; the requesting agency its own request's, without `asset_code`, `owner` and `recorded_by`.",
    responses=INVALID_INPUT | {404: problem_doc("No such request, or one the caller may not read")},
)
async def request_disclosures(
    request_id: PathName,
    session: SessionDep,
    principal: DisclosureReader,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
) -> DisclosureList:
    request = await reading.readable_request(session=session, principal=principal, request_id=request_id)
    return await reading.on_request(session=session, principal=principal, request=request, cursor=cursor, limit=limit)


@router.get(
    "/v1/disclosures",
    summary="The controller's disclosures, soonest due first: an IAO sees those of the assets it owns, the "
    "controller's other readers every one",
    responses=INVALID_INPUT,
)
async def list_disclosures(
    session: SessionDep,
    principal: DisclosureOverseer,
    status: Annotated[DisclosureStatus | None, Query(description="Only disclosures in this state")] = None,
    owner: Annotated[
        str | None, Query(max_length=200, pattern=r"^[\x21-\x7e]+$", description="Only those of this owner (`sub`)")
    ] = None,
    overdue: Annotated[
        bool | None, Query(description="true: only those pending past their due time; false: only the others")
    ] = None,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
) -> DisclosureList:
    return await reading.listed(
        session=session,
        principal=principal,
        status=status,
        owner=owner,
        overdue=overdue,
        cursor=cursor,
        limit=limit,
    )


@router.post(
    "/v1/disclosures/{disclosure_id}/record",
    summary="Record a pending disclosure as sent (what, by which channel, when) or as not sent and why, once (the "
    "asset's owner or an IG manager of the controller)",
    description="Audited. Recorded as sent, the requester's endpoints and the controller's are sent "
    "`sharing_request.disclosed` (the items, channel and time; never who sent it nor from which asset).",
    responses=BODY_PROBLEMS
    | {
        403: problem_doc("The requesting agency, or an IG role that may not record it"),
        404: problem_doc("No such disclosure, or one the caller may not see (another IAO's, another agency's)"),
        409: problem_doc("The disclosure is recorded or cancelled already (`current_status` names its state)"),
        422: problem_doc(
            "A field is missing or wrong for the outcome: `items` beyond the approval, `disclosed_at` in the future or "
            "before the disclosure opened (`errors` names the field)"
        ),
    },
)
async def record_disclosure(
    disclosure_id: DisclosureId, body: DisclosureRecordBody, session: SessionDep, principal: DisclosureRecorder
) -> DisclosurePublic:
    return await recording.record(session=session, principal=principal, disclosure_id=disclosure_id, body=body)
