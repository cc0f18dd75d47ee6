"""Annotated dependencies: the app's settings and policy, and load-or-404 of a request."""

from typing import Annotated

from fastapi import Depends, Request

from app.auth import ReaderPrincipal
from app.config import Settings
from app.db import SessionDep
from app.models.sharing_request import SharingRequest
from app.rules import Policy
from app.services import sharing_requests


def get_policy(request: Request) -> Policy:
    return request.app.state.policy


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


PolicyDep = Annotated[Policy, Depends(get_policy)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_current_request(request_id: str, session: SessionDep, principal: ReaderPrincipal) -> SharingRequest:
    """The sharing request named in the path, if the caller may see it; otherwise 404."""
    return await sharing_requests.get_visible(session=session, principal=principal, request_id=request_id)


CurrentRequest = Annotated[SharingRequest, Depends(get_current_request)]
