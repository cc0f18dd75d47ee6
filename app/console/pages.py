"""Rendering a console page: the Jinja environment (our templates, then the NHS.UK frontend's components as macros
from the nhsuk-frontend-jinja package) and the security headers every page carries."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChainableUndefined, ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape

from app.models.vocabulary import Role

HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_PATH = "/console/static"

# No inline script or style, nothing from another site, no framing; forms post to the console only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # Pages hold confidential case details: never kept by a browser or a proxy.
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
# request.state: the signed-in person, set by app/console/auth.py, read by every page's layout.
CONSOLE_USER = "console_user"

environment = Environment(
    loader=ChoiceLoader([FileSystemLoader(HERE / "templates"), PackageLoader("nhsuk_frontend_jinja")]),
    undefined=ChainableUndefined,  # the NHS.UK macros read optional parameters through chains
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.globals["static"] = STATIC_PATH


@dataclass(frozen=True, slots=True)
class NavItem:
    """A link in the header: shown to a person holding any of `roles`."""

    text: str
    href: str
    roles: frozenset[Role]


# The header's links, in order, each for the roles of the API's own read.
NAVIGATION: list[NavItem] = [
    NavItem("Queue", "/console/queue", frozenset({Role.GUARDIAN})),  # app/console/queue.py
    # Oversight (app/console/dashboard.py, policy_pages.py, audit_pages.py): each for the roles of the API's read.
    NavItem("Dashboard", "/console/dashboard", frozenset({Role.GUARDIAN, Role.AUDITOR})),
    NavItem("Policies", "/console/policies", frozenset({Role.ADMIN, Role.GUARDIAN, Role.AUDITOR})),
    NavItem("Audit", "/console/audit", frozenset({Role.AUDITOR})),
    # What a guardian asked of the consulted person (app/console/consultations.py).
    NavItem(
        "Consultations",
        "/console/consultations",
        frozenset({Role.SAFEGUARDING_LEAD, Role.DPO, Role.SIRO, Role.IAO}),
    ),
]


def navigation(request: Request) -> list[dict[str, Any]]:
    """The header's links for the signed-in person, the current one marked."""
    user = getattr(request.state, CONSOLE_USER, None)
    if user is None:
        return []
    path = request.url.path
    return [
        {"text": item.text, "href": item.href, "current": path == item.href, "active": path.startswith(item.href)}
        for item in NAVIGATION
        if item.roles & user.principal.roles
    ]


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A console page, with the person signed in (if any), their form token and the header's links."""
    user = getattr(request.state, CONSOLE_USER, None)
    html = environment.get_template(template).render(
        request=request,
        user=user,
        csrf_token=user.csrf_token if user else None,
        navigation=navigation(request),
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
