"""The console in the application: its static files, its routers, and errors on its pages shown as pages."""

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import ProblemError

from . import (
    audit_pages,
    case,
    case_actions,
    consultations,
    dashboard,
    deliberation,
    oidc_sign_in,
    policy_pages,
    queue,
    register_page,
    sign_in,
)
from .auth import ConsoleRefused, SignInRequired, sign_in_url
from .pages import STATIC, STATIC_PATH, render

# Every router of the console's pages.
ROUTERS = [
    sign_in,
    oidc_sign_in,
    register_page,
    queue,
    case,
    case_actions,
    deliberation,
    consultations,
    dashboard,
    policy_pages,
    audit_pages,
]

# Paths whose errors are pages, not problem documents: a person reads them.
PAGE_PREFIXES = ("/console/", "/register")

Handler = Callable[[Request, Any], Awaitable[Response]]


def is_page(request: Request) -> bool:
    return request.url.path.startswith(PAGE_PREFIXES) or request.url.path == "/console"


def problem_page(request: Request, status_code: int, title: str, detail: str) -> Response:
    return render(request, "problem.jinja", status_code=status_code, title=title, detail=detail)


async def refused(request: Request, exc: ConsoleRefused) -> Response:
    return problem_page(request, exc.status_code, exc.title, exc.detail)


async def must_sign_in(request: Request, exc: SignInRequired) -> Response:
    return RedirectResponse(sign_in_url(exc.next_path), status_code=303)


def pages_first(api_handler: Handler) -> Handler:
    """The API's handler for an error, except on the console's pages, which show it as a page."""

    async def handle(request: Request, exc: Exception) -> Response:
        if not is_page(request):
            return await api_handler(request, exc)
        if isinstance(exc, ProblemError):
            return problem_page(request, exc.status_code, exc.title, exc.detail or "")
        if isinstance(exc, RequestValidationError):
            fields = ", ".join(".".join(str(part) for part in error.get("loc", ())[1:]) for error in exc.errors())
            return problem_page(request, 400, "Something in the address or form is not right", f"Check: {fields}.")
        status = getattr(exc, "status_code", 500)
        title = {404: "Page not found", 405: "That cannot be done here"}.get(status, "Something went wrong")
        return problem_page(request, status, title, "Check the address, or go back to the console's home page.")

    return handle


def install(app: FastAPI) -> None:
    """Mount the console: its files (the vendored NHS.UK frontend among them), its pages and its error pages."""
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC), name="console-static")
    for module in ROUTERS:
        app.include_router(module.router)
    app.add_exception_handler(ConsoleRefused, refused)
    app.add_exception_handler(SignInRequired, must_sign_in)
    for kind in (ProblemError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(kind, pages_first(app.exception_handlers[kind]))
