"""Signing in to the console through a real OpenID provider (tests/oidc/provider.mjs, the `oidc-provider` package):
authorization code with PKCE, state and nonce, the ID token verified, its claims made a Principal as the API makes one
of a token's. The console runs in-process (httpx over ASGI at https://testserver); a second httpx client is the
browser at the provider, posting its login form."""

import logging
from collections.abc import AsyncIterator, Iterator
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import select

from app.console.auth import COOKIE
from app.console.oidc import Flow, OidcClient, SignInFailed
from app.console.oidc_sign_in import FLOW_COOKIE
from app.main import create_app
from app.models.actions import SignInAction
from app.models.audit import AuditEvent, AuditPending
from app.models.console import ConsoleSession
from app.models.vocabulary import Role
from app.platform.config import Settings
from tests.browser_support import free_port
from tests.conftest import fresh_start
from tests.oidc_support import (
    CONSOLE_URL,
    REDIRECT_URI,
    OidcProvider,
    running_provider,
    walk_provider,
)
from tests.support import PROCESS_GROUP, console_client, production_settings, settings_for
from tests.test_console import assert_strict_page

pytestmark = PROCESS_GROUP  # the provider is a process of its own
NO_DATABASE = "sqlite+aiosqlite:///unused.db"  # for the client alone, which never opens it


def sign_in_settings(database_url: str, provider: OidcProvider, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "oidc_issuer": provider.issuer,
        "oidc_client_id": provider.client_id,
        "oidc_client_secret": provider.client_secret,
        "oidc_provider_name": "Test Trust account",
        "console_url": CONSOLE_URL,
        "console_dev_sign_in": False,
    }
    return settings_for(database_url, **(values | overrides))


@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """One provider process for the module's tests."""
    with running_provider(tmp_path_factory.mktemp("oidc")) as provider:
        yield provider


@pytest.fixture
async def signing_in(database_url: str, oidc_provider: OidcProvider) -> AsyncIterator[FastAPI]:
    application = create_app(sign_in_settings(database_url, oidc_provider))
    await fresh_start(application)
    yield application
    await application.state.wiring.engine.dispose()


@pytest.fixture
async def console(signing_in: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with console_client(signing_in) as http:
        yield http


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    """The person's browser at the provider: its cookies are the provider's session."""
    async with httpx.AsyncClient(timeout=10) as http:
        yield http


async def callback_for(
    console: httpx.AsyncClient, browser: httpx.AsyncClient, login: str, *, next_page: str = "/console/"
) -> str:
    """Start a sign-in at the console and sign in as `login` at the provider: the callback address it sends back."""
    start = await console.get("/console/oidc/start", params={"next": next_page})
    assert start.status_code == 303, start.text
    return await walk_provider(browser, start.headers["location"], login=login)


async def sign_ins_audited(application: FastAPI) -> list[tuple[str, str]]:
    """(who, how) of every console sign-in in the trail, chained or still pending."""
    async with application.state.wiring.sessionmaker() as db:
        found = []
        for table in (AuditEvent, AuditPending):
            rows = await db.exec(select(table).where(table.action == SignInAction.SIGNED_IN))
            found += [(row.actor_sub, row.outcome) for row in rows]
    return found


def on_console(url: str) -> str:
    """The path and query of a console address, as the in-process client takes it."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == CONSOLE_URL
    return f"{parts.path}?{parts.query}"


async def test_the_sign_in_page_offers_the_provider_as_a_link(console: httpx.AsyncClient) -> None:
    page = await console.get("/console/sign-in", params={"next": "/console/sign-out"})
    assert page.status_code == 200
    assert "Sign in with Test Trust account" in page.text
    assert 'href="/console/oidc/start?next=/console/sign-out"' in page.text
    assert "Development sign-in" not in page.text


async def test_the_start_asks_the_provider_for_a_code_with_pkce_state_and_nonce(
    console: httpx.AsyncClient, oidc_provider: OidcProvider
) -> None:
    start = await console.get("/console/oidc/start")
    assert start.status_code == 303
    location = urlsplit(start.headers["location"])
    assert location.geturl().startswith(oidc_provider.issuer + "/auth?")
    query = {name: values[0] for name, values in parse_qs(location.query).items()}
    assert query["response_type"] == "code" and query["client_id"] == oidc_provider.client_id
    assert query["redirect_uri"] == REDIRECT_URI and query["scope"] == "openid profile email"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    (sent,) = [line for line in start.headers.get_list("set-cookie") if line.startswith(f"{FLOW_COOKIE}=")]
    cookie = SimpleCookie(sent)[FLOW_COOKIE]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "lax" and cookie["path"] == "/console/oidc"
    flow = Flow.decode(cookie.value)
    assert flow is not None and flow.state == query["state"] and flow.nonce == query["nonce"]
    assert flow.verifier not in start.headers["location"]  # only its S256 challenge leaves


async def test_a_guardian_signs_in_through_the_provider_and_sees_the_console(
    signing_in: FastAPI, console: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    callback = await callback_for(console, browser, "guardian", next_page="/console/sign-out")
    signed_in = await console.get(on_console(callback))
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"] == "/console/sign-out"
    (sent,) = [line for line in signed_in.headers.get_list("set-cookie") if line.startswith(f"{COOKIE}=")]
    cookie = SimpleCookie(sent)[COOKIE]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "lax" and cookie["path"] == "/console"
    assert FLOW_COOKIE not in console.cookies  # the flow is used once
    home = await console.get("/console/")
    assert home.status_code == 200 and "Grace Guardian" in home.text
    async with signing_in.state.wiring.sessionmaker() as db:
        (row,) = (await db.exec(select(ConsoleSession))).all()
    assert (row.sub, row.org, row.roles, row.method) == ("guardian", "CONTROLLER", "guardian", "oidc")
    assert row.email == "grace.guardian@example.nhs.uk"
    assert await sign_ins_audited(signing_in) == [("guardian", "oidc")]


async def test_an_agency_user_is_refused_the_console_and_not_signed_in(
    signing_in: FastAPI, console: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    callback = await callback_for(console, browser, "agency")
    refused = await console.get(on_console(callback))
    # Their token also claims `guardian`, a role their organisation may not hold: it is not honoured (app/powers.py).
    assert refused.status_code == 403 and "for the controller&#39;s own people" in refused.text
    assert COOKIE not in console.cookies
    assert (await console.get("/console/")).status_code == 303
    async with signing_in.state.wiring.sessionmaker() as db:
        assert (await db.exec(select(ConsoleSession))).all() == []
    assert await sign_ins_audited(signing_in) == []


async def test_a_callback_with_another_state_is_refused(console: httpx.AsyncClient, browser: httpx.AsyncClient) -> None:
    callback = urlsplit(await callback_for(console, browser, "guardian"))
    query = parse_qs(callback.query)
    forged = await console.get("/console/oidc/callback", params={"code": query["code"][0], "state": "x" * 48})
    assert forged.status_code == 400 and "not for this sign-in" in forged.text
    assert COOKIE not in console.cookies
    # The refusal ended the flow: the right state no longer signs anyone in either.
    late = await console.get("/console/oidc/callback", params={"code": query["code"][0], "state": query["state"][0]})
    assert late.status_code == 400 and COOKIE not in console.cookies


async def test_a_callback_is_used_once(
    console: httpx.AsyncClient, browser: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="caldicott")
    start = await console.get("/console/oidc/start")
    kept = console.cookies[FLOW_COOKIE]
    callback = on_console(await walk_provider(browser, start.headers["location"], login="guardian"))
    assert (await console.get(callback)).status_code == 303
    console.cookies.clear()
    again = await console.get(callback)
    assert again.status_code == 400 and "already used" in again.text
    # A copy of the flow's cookie kept and sent again: the provider will not exchange the same code twice.
    console.cookies.set(FLOW_COOKIE, kept, domain="testserver.local", path="/console/oidc")
    replayed = await console.get(callback)
    assert replayed.status_code == 400 and "refused to complete the sign-in (invalid_grant)" in replayed.text
    assert COOKIE not in console.cookies
    # The refusal and the sign-in before it are logged, without the code or the flow's secrets.
    assert (
        "the provider refused the code: invalid_grant" in caplog.text and "console sign-in of guardian" in caplog.text
    )
    flow = Flow.decode(kept)
    assert flow is not None
    code = parse_qs(urlsplit(callback).query)["code"][0]
    assert not any(secret in caplog.text for secret in (code, flow.state, flow.nonce, flow.verifier, kept))


async def test_the_code_is_exchanged_only_with_the_flow_s_own_verifier(
    console: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    """PKCE: a code the provider issued for one challenge is refused with any other verifier."""
    callback = await callback_for(console, browser, "guardian")
    flow = Flow.decode(console.cookies[FLOW_COOKIE])
    assert flow is not None
    other = Flow(flow.state, flow.nonce, "v" * 64, flow.next_path, flow.started)
    console.cookies.set(FLOW_COOKIE, other.encode(), domain="testserver.local", path="/console/oidc")
    refused = await console.get(on_console(callback))
    assert refused.status_code == 400 and "(invalid_grant)" in refused.text
    assert COOKIE not in console.cookies


async def test_a_public_client_signs_in_with_pkce_alone(
    database_url: str, oidc_provider: OidcProvider, browser: httpx.AsyncClient
) -> None:
    public = {"oidc_client_id": oidc_provider.public_client_id, "oidc_client_secret": None}
    application = create_app(sign_in_settings(database_url, oidc_provider, **public))
    await fresh_start(application)
    async with console_client(application) as console:
        callback = await callback_for(console, browser, "admin")
        assert (await console.get(on_console(callback))).status_code == 303
        home = await console.get("/console/")
        assert home.status_code == 200 and "Ada Admin" in home.text
    await application.state.wiring.engine.dispose()


@pytest.mark.parametrize("target", ["https://elsewhere.example/", "//elsewhere.example/console/", "/v1/register"])
async def test_a_next_page_off_the_console_is_ignored(
    console: httpx.AsyncClient, browser: httpx.AsyncClient, target: str
) -> None:
    callback = await callback_for(console, browser, "auditor", next_page=target)
    signed_in = await console.get(on_console(callback))
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console/"


async def test_the_provider_s_refusal_is_shown_as_a_page(
    console: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    start = await console.get("/console/oidc/start")
    callback = await walk_provider(browser, start.headers["location"], login=None, abort=True)
    assert "error=access_denied" in callback
    refused = await console.get(on_console(callback))
    assert refused.status_code == 400 and "access_denied" in refused.text and "Try signing in again" in refused.text
    assert_strict_page(refused)
    assert COOKIE not in console.cookies


async def test_an_answer_naming_another_issuer_is_refused(
    console: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    callback = urlsplit(await callback_for(console, browser, "guardian"))
    query = {name: values[0] for name, values in parse_qs(callback.query).items()}
    mixed_up = await console.get("/console/oidc/callback?" + urlencode(query | {"iss": "https://other.example"}))
    assert mixed_up.status_code == 400 and "another sign-in service" in mixed_up.text


async def test_an_id_token_for_another_client_is_refused(
    oidc_provider: OidcProvider, browser: httpx.AsyncClient
) -> None:
    """A real ID token of the same provider, signed by its key, but issued to another client (its audience)."""
    client = OidcClient(sign_in_settings(NO_DATABASE, oidc_provider))
    flow = Flow.begin("/console/")
    ours = await client.authorization_url(flow)
    theirs = ours.replace(f"client_id={oidc_provider.client_id}", f"client_id={oidc_provider.other_client_id}")
    assert theirs != ours
    code = parse_qs(urlsplit(await walk_provider(browser, theirs, login="guardian")).query)["code"][0]
    answer = await browser.post(
        f"{oidc_provider.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": flow.verifier,
        },
        auth=(oidc_provider.other_client_id, oidc_provider.client_secret),
    )
    assert answer.status_code == 200, answer.text
    id_token = answer.json()["id_token"]
    with pytest.raises(SignInFailed, match="aud"):
        await client.verify_id_token(id_token, nonce=flow.nonce)
    # The same token passes for the client it was issued to: what refused it above was its audience.
    other = OidcClient(sign_in_settings(NO_DATABASE, oidc_provider, oidc_client_id=oidc_provider.other_client_id))
    claims = await other.verify_id_token(id_token, nonce=flow.nonce)
    assert claims["sub"] == "guardian" and claims["roles"] == [Role.GUARDIAN.value]
    with pytest.raises(SignInFailed, match="nonce"):
        await other.verify_id_token(id_token, nonce="another nonce")


async def test_a_provider_that_cannot_be_reached_is_a_page_not_a_500(database_url: str) -> None:
    down = OidcProvider(issuer=f"http://127.0.0.1:{free_port()}")
    application = create_app(sign_in_settings(database_url, down))
    async with console_client(application) as console:
        start = await console.get("/console/oidc/start")
        assert start.status_code == 503 and "cannot be reached" in start.text
        assert FLOW_COOKIE not in console.cookies
    await application.state.wiring.engine.dispose()


async def test_without_a_provider_the_sign_in_offers_none(database_url: str) -> None:
    application = create_app(settings_for(database_url, console_dev_sign_in=False))
    async with console_client(application) as console:
        assert "Sign in with" not in (await console.get("/console/sign-in")).text
        assert (await console.get("/console/oidc/start")).status_code == 404
    await application.state.wiring.engine.dispose()


def test_settings_of_the_sign_in(tmp_path) -> None:
    with pytest.raises(ValueError, match="CALDICOTT_OIDC_CLIENT_ID"):
        Settings(_env_file=None, oidc_issuer="http://127.0.0.1:1")  # type: ignore[call-arg]
    https = {"oidc_issuer": "https://login.example/tenant/v2.0", "oidc_client_id": "console"}
    with pytest.raises(ValueError, match="https CALDICOTT_OIDC_ISSUER"):
        production_settings(tmp_path, **(https | {"oidc_issuer": "http://login.example"}), console_url=CONSOLE_URL)
    with pytest.raises(ValueError, match="CALDICOTT_CONSOLE_URL"):
        production_settings(tmp_path, **https)
    assert production_settings(tmp_path, **https, console_url=CONSOLE_URL).oidc_client_id == "console"
