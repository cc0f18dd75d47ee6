"""Signing in and out of the console, the development sign-in, and the home page."""

import re
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from app.http.dependencies import SettingsDep
from app.http.session import SessionDep
from app.models.vocabulary import Role
from app.platform.config import Environment
from app.principal import Principal

from .auth import CheckedForm, ConsoleRefused, SignedInUser, check_form_token, end_session, local_next, start_session
from .pages import render

router = APIRouter(include_in_schema=False)

# The development sign-in's own form token, before anyone is signed in (a cookie and the same value in the form).
SIGN_IN_FORM_COOKIE = "caldicott_console_form"
# The consulted roles too: their consultations page (app/console/consultations.py) is tried without a trust's provider.
DEV_ROLES = (
    Role.GUARDIAN,
    Role.AUDITOR,
    Role.ADMIN,
    Role.IG_MANAGER,
    Role.SAFEGUARDING_LEAD,
    Role.DPO,
    Role.SIRO,
    Role.IAO,
)
NOT_A_NAME_CHARACTER = re.compile(r"[^a-z0-9]+")


@router.get("/console/")
async def home(request: Request, user: SignedInUser) -> Response:
    return render(request, "home.jinja")


@router.get("/console/sign-in")
async def sign_in(request: Request, settings: SettingsDep, next: Annotated[str, Query(max_length=2000)] = "/console/"):  # noqa: A002
    form_token = secrets.token_urlsafe(32)
    page = render(
        request,
        "sign_in.jinja",
        next=local_next(next),
        dev_sign_in=settings.console_dev_sign_in,
        oidc_name=settings.oidc_provider_name if settings.oidc_issuer else None,
        dev_roles=DEV_ROLES,
        form_token=form_token,
    )
    page.set_cookie(
        SIGN_IN_FORM_COOKIE, form_token, max_age=3600, path="/console", secure=True, httponly=True, samesite="strict"
    )
    return page


@router.post("/console/dev-sign-in")
async def dev_sign_in(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    csrf_token: Annotated[str, Form(max_length=100)],
    name: Annotated[str, Form(min_length=1, max_length=100)],
    role: Annotated[Role, Form()],
    next: Annotated[str, Form(max_length=2000)] = "/console/",  # noqa: A002
) -> Response:
    """The clearly marked development sign-in: anyone may pick a role, so production never offers it."""
    if not settings.console_dev_sign_in or settings.env is Environment.PRODUCTION:
        raise ConsoleRefused("Development sign-in is off", "Sign in through your organisation's account.")
    check_form_token(csrf_token, request.cookies.get(SIGN_IN_FORM_COOKIE, ""))
    if role not in DEV_ROLES:
        raise ConsoleRefused("That role cannot use the console", "Pick one of the controller's own roles.")
    slug = NOT_A_NAME_CHARACTER.sub("-", name.strip().lower()).strip("-") or "person"
    principal = Principal(sub=f"dev-{slug}", org=settings.controller_org, roles=frozenset({role}))
    response = RedirectResponse(local_next(next), status_code=303)
    await start_session(
        db,
        response,
        principal=principal,
        name=name.strip(),
        email=f"{slug}@localhost",
        method="development",
        hours=settings.console_session_hours,
    )
    response.delete_cookie(SIGN_IN_FORM_COOKIE, path="/console", secure=True, httponly=True, samesite="strict")
    return response


@router.get("/console/sign-out")
async def sign_out_page(request: Request, user: SignedInUser) -> Response:
    return render(request, "sign_out.jinja")


@router.post("/console/sign-out")
async def sign_out(db: SessionDep, user: SignedInUser, form: CheckedForm) -> Response:
    response = RedirectResponse("/console/signed-out", status_code=303)
    await end_session(db, response, user)
    return response


@router.get("/console/signed-out")
async def signed_out(request: Request) -> Response:
    return render(request, "signed_out.jinja")
