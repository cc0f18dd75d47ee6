"""The sign-in through the trust's OpenID provider: `/console/oidc/start` sends the person to the provider and
`/console/oidc/callback` signs them in when it sends them back (the client itself: app/console/oidc.py).

Between the two, a cookie carries the sign-in's flow (state, nonce, PKCE verifier, the page to return to): HttpOnly,
Secure, SameSite=Lax (the provider's redirect back is a top-level navigation from another site, which Lax lets carry
it), scoped to /console/oidc, ten minutes at most, and removed by the callback whatever its outcome, so a state is
used once. It is bound to this browser rather than signed: its values only ever have to match what the same browser
brings back (the state in the callback, the nonce in the ID token, the verifier the provider checks against the
challenge it was sent), and one forged or copied gains nothing a sign-in of one's own would not.
"""

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from app.http.dependencies import SettingsDep
from app.http.session import SessionDep

from .auth import ConsoleRefused, local_next, start_session
from .oidc import CALLBACK_PATH, FLOW_SECONDS, Flow, OidcClient, Person, ProviderUnavailable, SignInFailed
from .pages import render

router = APIRouter(include_in_schema=False)

FLOW_COOKIE = "caldicott_console_sign_in"
FLOW_COOKIE_PATH = "/console/oidc"
# The client keeps the provider's configuration and keys between sign-ins: one per application.
CLIENT_STATE = "console_oidc_client"
# What a provider may add to its redirect back (RFC 6749 4.1.2, RFC 9207's iss, OpenID session management): a value
# longer than this is no code or state of any provider's.
Param = Annotated[str | None, Query(max_length=4096)]

log = logging.getLogger("caldicott.auth")


async def oidc_client(request: Request, settings: SettingsDep) -> OidcClient:
    """The application's client of the trust's provider; a 404 page when no provider is configured."""
    if settings.oidc_issuer is None:
        raise ConsoleRefused(
            "Sign-in through an identity provider is not set up",
            "This installation has no identity provider (CALDICOTT_OIDC_ISSUER).",
            status_code=404,
        )
    client = getattr(request.app.state, CLIENT_STATE, None)
    if client is None:
        client = OidcClient(settings)
        setattr(request.app.state, CLIENT_STATE, client)
    return client


OidcClientDep = Annotated[OidcClient, Depends(oidc_client)]


@router.get("/console/oidc/start")
async def start(
    request: Request,
    client: OidcClientDep,
    next: Annotated[str, Query(max_length=2000)] = "/console/",  # noqa: A002
) -> Response:
    """Send the person to the provider, with a new flow in their cookie."""
    flow = Flow.begin(local_next(next))
    try:
        url = await client.authorization_url(flow)
    except ProviderUnavailable as error:
        return _failed(request, 503, "The sign-in service cannot be reached", str(error), flow.next_path)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        flow.encode(),
        max_age=FLOW_SECONDS,
        path=FLOW_COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="lax",
    )
    return response


@router.get(CALLBACK_PATH)
async def callback(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    client: OidcClientDep,
    state: Param = None,
    code: Param = None,
    iss: Param = None,
    error: Param = None,
    error_description: Param = None,
    error_uri: Param = None,  # declared, though unread, so that an answer carrying it is not refused as malformed
    session_state: Param = None,  # likewise (Keycloak and Entra ID send it)
) -> Response:
    """Complete the sign-in the person's flow started: the provider's answer checked, the person signed in."""
    flow = Flow.decode(request.cookies.get(FLOW_COOKIE))
    next_path = flow.next_path if flow else "/console/"
    try:
        person = await _person(
            client, flow, state=state, code=code, iss=iss, error=error, description=error_description
        )
    except SignInFailed as failure:
        return _failed(request, 400, "You could not be signed in", f"The sign-in failed: {failure}.", next_path)
    except ProviderUnavailable as failure:
        return _failed(request, 503, "The sign-in service cannot be reached", str(failure), next_path)
    if not person.principal.inside:
        log.warning(
            "console refused to %s of organisation %s: no inside role (refused %s)",
            person.principal.sub,
            person.principal.org,
            ",".join(sorted(person.principal.refused)) or "none",
            extra={"org": person.principal.org, "sub": person.principal.sub},
        )
        detail = (
            "You are signed in as a partner organisation's user, or your account has none of the console's roles. "
            "Partner organisations send and follow their requests from their own systems, through the API."
        )
        return _failed(request, 403, "The console is for the controller's own people", detail, next_path, retry=False)
    response = RedirectResponse(next_path, status_code=303)
    await start_session(
        db,
        response,
        principal=person.principal,
        name=person.name,
        email=person.email,
        method="oidc",
        hours=settings.console_session_hours,
    )
    _forget_flow(response)
    log.info(
        "console sign-in of %s of organisation %s through %s", person.principal.sub, person.principal.org, client.issuer
    )
    return response


async def _person(
    client: OidcClient,
    flow: Flow | None,
    *,
    state: str | None,
    code: str | None,
    iss: str | None,
    error: str | None,
    description: str | None,
) -> Person:
    """Who the provider signed in, once its answer is shown to belong to this browser's flow."""
    if flow is None:
        raise SignInFailed("this sign-in was not started here, has expired or was already used; start again")
    if state is None or not flow.matches(state):
        log.warning("console sign-in refused: the state sent back is not this browser's")
        raise SignInFailed("the answer from the sign-in service was not for this sign-in; start again")
    # RFC 9207: a provider that names itself must be ours (a mix-up attack sends another provider's code here).
    if iss is not None and iss.rstrip("/") != client.issuer:
        log.warning("console sign-in refused: the answer names issuer %r", iss[:200])
        raise SignInFailed("the answer came from another sign-in service")
    if error is not None:
        log.warning("the provider did not sign the person in: %s %s", error[:100], (description or "")[:300])
        raise SignInFailed(f"the sign-in service answered {error[:60]!r}")
    if not code:
        raise SignInFailed("the answer from the sign-in service held no code")
    return await client.complete(flow, code=code)


def _failed(
    request: Request, status_code: int, title: str, detail: str, next_path: str, *, retry: bool = True
) -> Response:
    """A page saying why the sign-in failed (never a token), with the flow's cookie removed: a state is used once."""
    page = render(
        request,
        "sign_in_failed.jinja",
        status_code=status_code,
        title=title,
        detail=detail,
        next=next_path,
        retry=retry,
    )
    _forget_flow(page)
    return page


def _forget_flow(response: Response) -> None:
    response.delete_cookie(FLOW_COOKIE, path=FLOW_COOKIE_PATH, secure=True, httponly=True, samesite="lax")
