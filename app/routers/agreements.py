"""Admin API for information sharing agreements."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.auth import AdminPrincipal, OverseerPrincipal
from app.db import SessionDep
from app.dependencies import PathName
from app.errors import BODY_PROBLEMS, INVALID_INPUT, PROBLEM_RESPONSES, problem_doc
from app.models.agreement import SharingAgreementCreate, SharingAgreementPage, SharingAgreementPublic, SharingAgreementUpdate
from app.models.base import STORABLE_TEXT
from app.services import agreements

router = APIRouter(prefix="/v1/sharing-agreements", tags=["sharing agreements"], responses=PROBLEM_RESPONSES)

# `after` is deprecated and goes in the next release; `cursor` replaces it.
AFTER = "Deprecated, and removed in the next release: return codes after this one. Use `cursor` (the `next_cursor` of the previous page)."
DeprecatedAfter = Annotated[str | None, Query(max_length=64, pattern=STORABLE_TEXT, deprecated=True, description=AFTER)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register a sharing agreement",
    responses=BODY_PROBLEMS | {409: problem_doc("The code is already registered")},
)
async def register_agreement(data: SharingAgreementCreate, session: SessionDep, admin: AdminPrincipal) -> SharingAgreementPublic:
    agreement = await agreements.register(session=session, actor=admin, data=data)
    return SharingAgreementPublic.model_validate(agreement, from_attributes=True)


@router.get("", summary="List agreements, ordered by code", responses=INVALID_INPUT)
async def list_agreements(
    session: SessionDep,
    _: OverseerPrincipal,
    cursor: Annotated[str | None, Query(max_length=500, description="next_cursor from the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: DeprecatedAfter = None,
) -> SharingAgreementPage:
    return await agreements.list_page(session=session, cursor=cursor, after=after, limit=limit)


@router.get("/{code}", summary="One sharing agreement", responses=INVALID_INPUT | {404: problem_doc("No such agreement")})
async def get_agreement(code: PathName, session: SessionDep, _: OverseerPrincipal) -> SharingAgreementPublic:
    return SharingAgreementPublic.model_validate(await agreements.get(session=session, code=code), from_attributes=True)


@router.patch(
    "/{code}", summary="Change a sharing agreement: parties, scope, period, or suspend", responses=BODY_PROBLEMS | {404: problem_doc("No such agreement")}
)
async def update_agreement(code: PathName, changes: SharingAgreementUpdate, session: SessionDep, admin: AdminPrincipal) -> SharingAgreementPublic:
    agreement = await agreements.update(session=session, actor=admin, code=code, changes=changes)
    return SharingAgreementPublic.model_validate(agreement, from_attributes=True)
