"""Annotated dependencies: the app's settings, its policies and the active one, and load-or-404 of a request."""

from typing import Annotated

from fastapi import Depends, Path, Request

from app.http.auth import ReaderPrincipal
from app.models.base import STORABLE_TEXT
from app.models.sharing_request import SharingRequest
from app.platform.config import Settings
from app.platform.db import SessionDep
from app.rules import Policy
from app.services.policies.registry import PolicyRegistry
from app.services.sharing_requests import reading as sharing_requests


# async, though they never wait: FastAPI runs a plain def dependency in a worker thread, a hop per request.
async def get_registry(request: Request) -> PolicyRegistry:
    return request.app.state.policies


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


RegistryDep = Annotated[PolicyRegistry, Depends(get_registry)]


async def get_active_policy(request: Request, session: SessionDep) -> Policy:
    """The policy that decides new submissions and amendments now: read each time, as another process may have activated one."""
    registry: PolicyRegistry = request.app.state.policies  # not RegistryDep: a dependency fewer to solve on every submission
    return await registry.active(session=session)


# A code or id in the path: an unknown one is a 404, one that could not be looked up at all a 422.
PathName = Annotated[str, Path(max_length=64, pattern=STORABLE_TEXT)]
PolicyDep = Annotated[Policy, Depends(get_active_policy)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_current_request(request_id: PathName, session: SessionDep, principal: ReaderPrincipal) -> SharingRequest:
    """The sharing request named in the path, if the caller may see it; otherwise 404."""
    return await sharing_requests.get_visible(session=session, principal=principal, request_id=request_id)


CurrentRequest = Annotated[SharingRequest, Depends(get_current_request)]
