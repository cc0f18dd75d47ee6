"""Annotated dependencies: the app's parts (one alias each), the active policy, and load-or-404 of a request."""

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from app.http.roles import CaseReader, ReaderPrincipal
from app.http.session import SessionDep
from app.models.base import STORABLE_TEXT
from app.models.sharing_request import SharingRequest
from app.platform.config import Settings
from app.rules import Policy
from app.services.attachments.store import Store
from app.services.audit.signing import AuditKeys
from app.services.consultations import reading as consultations
from app.services.notices.notice import NoticeContext
from app.services.policies.registry import PolicyRegistry
from app.services.sharing_requests import reading as sharing_requests
from app.wiring import Wiring, wiring_of


# async, though they never wait: FastAPI runs a plain def dependency in a worker thread, a hop per request.
async def get_wiring(request: Request) -> Wiring:
    return wiring_of(request.app)


async def get_registry(request: Request) -> PolicyRegistry:
    return wiring_of(request.app).policies


async def get_app_settings(request: Request) -> Settings:
    return wiring_of(request.app).settings


async def get_audit_keys(request: Request) -> AuditKeys:
    return wiring_of(request.app).audit_keys


async def get_attachment_store(request: Request) -> Store:
    return wiring_of(request.app).attachment_store


WiringDep = Annotated[Wiring, Depends(get_wiring)]
RegistryDep = Annotated[PolicyRegistry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
AuditKeysDep = Annotated[AuditKeys, Depends(get_audit_keys)]
AttachmentStoreDep = Annotated[Store, Depends(get_attachment_store)]


async def get_active_policy(request: Request, session: SessionDep) -> Policy:
    """The policy that decides new submissions and amendments now:
    read each time, as another process may have activated one."""
    registry = wiring_of(request.app).policies  # not RegistryDep: a dependency fewer to solve on every submission
    return await registry.active(session=session)


# A code or id in the path: an unknown one is a 404, one that could not be looked up at all a 422.
PathName = Annotated[str, Path(max_length=64, pattern=STORABLE_TEXT)]
PolicyDep = Annotated[Policy, Depends(get_active_policy)]


async def get_notice_context(settings: SettingsDep, registry: RegistryDep) -> NoticeContext:
    """What a decision notice needs from the configuration, for the API's notices and the console's alike."""
    return NoticeContext(
        controller_org=settings.controller_org,
        controller_name=settings.controller_name,
        window_days=settings.reconsideration_window_days,
        registry=registry,
        dpo_contact=settings.dpo_contact,
        ico_contact=settings.ico_contact,
    )


NoticeContextDep = Annotated[NoticeContext, Depends(get_notice_context)]
# Every list is a keyset page: the cursor the previous page gave, and how many items at most.
PageCursor = Annotated[str | None, Query(max_length=500, description="next_cursor from the previous page")]
PageLimit = Annotated[int, Query(ge=1, le=200)]


async def get_current_request(request_id: PathName, session: SessionDep, principal: ReaderPrincipal) -> SharingRequest:
    """The sharing request named in the path, if the caller may see it; otherwise 404."""
    return await sharing_requests.get_visible(session=session, principal=principal, request_id=request_id)


CurrentRequest = Annotated[SharingRequest, Depends(get_current_request)]


async def get_readable_request(request_id: PathName, session: SessionDep, principal: CaseReader) -> SharingRequest:
    """As CurrentRequest, for the reads a safeguarding lead or a person consulted also makes (the request, its history,
    its consultations): a lead reads the safeguarding requests, anyone consulted the request they are asked about."""
    return await consultations.readable(session=session, principal=principal, request_id=request_id)


ReadableRequest = Annotated[SharingRequest, Depends(get_readable_request)]
