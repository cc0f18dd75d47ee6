"""The console's foundation: signing in and out, the session's cookie and idle timeout, form tokens, the security
headers of every page, and errors shown as pages."""

import re
from datetime import timedelta
from http.cookies import SimpleCookie

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from app.console.auth import COOKIE
from app.main import create_app
from app.models.base import utcnow
from app.models.console import ConsoleSession
from app.models.vocabulary import Role
from app.platform.config import Environment
from tests.conftest import fresh_start
from tests.support import console_client, dev_sign_in, form_token, production_settings, settings_for

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+=", re.IGNORECASE)


@pytest.fixture
async def console(app: FastAPI):
    await fresh_start(app)
    async with console_client(app) as http:
        yield http


def assert_strict_page(response: httpx.Response) -> None:
    """A console page: HTML under the strict CSP, never cached, and no inline script, handler or style."""
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy and "unsafe" not in policy
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert not INLINE_SCRIPT.search(response.text), INLINE_SCRIPT.search(response.text)
    assert not INLINE_HANDLER.search(response.text)
    assert " style=" not in response.text


async def test_a_page_without_a_sign_in_sends_the_person_to_sign_in_and_back(console: httpx.AsyncClient) -> None:
    response = await console.get("/console/", params={"x": "1"})
    assert response.status_code == 400  # only its own query parameters, like every route
    response = await console.get("/console/")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in?next=/console/"
    page = await console.get("/console/sign-in")
    assert_strict_page(page)
    assert "Development sign-in" in page.text


async def test_the_development_sign_in_gives_a_secure_cookie_and_the_console(console: httpx.AsyncClient) -> None:
    page = await console.get("/console/sign-in", params={"next": "/console/sign-out"})
    signed_in = await console.post(
        "/console/dev-sign-in",
        data={
            "csrf_token": form_token(page.text),
            "name": "Grace Guardian",
            "role": "guardian",
            "next": "/console/sign-out",
        },
    )
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console/sign-out"
    (sent,) = [line for line in signed_in.headers.get_list("set-cookie") if line.startswith(f"{COOKIE}=")]
    cookie = SimpleCookie(sent)[COOKIE]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "lax" and cookie["path"] == "/console"
    home = await console.get("/console/")
    assert home.status_code == 200
    assert_strict_page(home)
    assert "Grace Guardian" in home.text and "Development sign-in: not for real cases" in home.text


@pytest.mark.parametrize(
    "target", ["https://elsewhere.example/", "//elsewhere.example/console/", "/console//x", "/v1/x"]
)
async def test_after_sign_in_only_a_console_page_is_a_destination(console: httpx.AsyncClient, target: str) -> None:
    page = await console.get("/console/sign-in", params={"next": target})
    signed_in = await console.post(
        "/console/dev-sign-in",
        data={"csrf_token": form_token(page.text), "name": "Grace", "role": "guardian", "next": target},
    )
    assert signed_in.headers["location"] == "/console/"


async def test_the_sign_in_form_needs_its_own_token(console: httpx.AsyncClient) -> None:
    await console.get("/console/sign-in")
    forged = await console.post("/console/dev-sign-in", data={"csrf_token": "x" * 43, "name": "Eve", "role": "admin"})
    assert forged.status_code == 403 and "This form has expired" in forged.text
    assert_strict_page(forged)
    assert COOKIE not in console.cookies


async def test_signing_out_needs_the_form_token_and_ends_the_session_for_good(console: httpx.AsyncClient) -> None:
    token = await dev_sign_in(console)
    kept = console.cookies[COOKIE]
    refused = await console.post("/console/sign-out", data={})
    assert refused.status_code == 403
    assert (await console.get("/console/")).status_code == 200  # still signed in
    out = await console.post("/console/sign-out", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/console/signed-out"
    console.cookies.set(COOKIE, kept, domain="testserver.local", path="/console")  # a copy kept by an attacker
    assert (await console.get("/console/")).status_code == 303


async def test_an_idle_session_has_ended(app: FastAPI, console: httpx.AsyncClient) -> None:
    await dev_sign_in(console)
    idle = timedelta(minutes=app.state.wiring.settings.console_idle_minutes, seconds=1)
    async with app.state.wiring.sessionmaker() as db:
        rows = await db.exec(update(ConsoleSession).values(last_seen_at=utcnow() - idle))
        assert rows.rowcount == 1
        await db.commit()
    assert (await console.get("/console/")).status_code == 303


async def test_a_form_token_is_the_sign_in_s_own(console: httpx.AsyncClient, app: FastAPI) -> None:
    await dev_sign_in(console, name="Ann")
    async with console_client(app) as other:
        theirs = await dev_sign_in(other, name="Bob")
    assert (await console.post("/console/sign-out", data={"csrf_token": theirs})).status_code == 403


async def test_the_development_sign_in_is_refused_when_off(database_url: str) -> None:
    application = create_app(settings_for(database_url, console_dev_sign_in=False))
    async with console_client(application) as console:
        page = await console.get("/console/sign-in")
        assert "Development sign-in" not in page.text
        refused = await console.post(
            "/console/dev-sign-in", data={"csrf_token": "t", "name": "Eve", "role": Role.ADMIN.value}
        )
        assert refused.status_code == 403 and "Development sign-in is off" in refused.text
    await application.state.wiring.engine.dispose()


def test_production_refuses_the_development_sign_in_and_a_plain_http_console(tmp_path) -> None:
    with pytest.raises(ValueError, match="CALDICOTT_CONSOLE_DEV_SIGN_IN"):
        production_settings(tmp_path, console_dev_sign_in=True)
    with pytest.raises(ValueError, match="CALDICOTT_CONSOLE_URL"):
        production_settings(tmp_path, console_url="http://console.example")
    assert production_settings(tmp_path, console_url="https://console.example").env is Environment.PRODUCTION


async def test_errors_on_console_pages_are_pages(console: httpx.AsyncClient) -> None:
    await dev_sign_in(console)
    missing = await console.get("/console/no-such-page")
    assert missing.status_code == 404 and "Page not found" in missing.text
    assert_strict_page(missing)
    wrong = await console.post("/console/dev-sign-in", data={"name": "x"})
    assert wrong.status_code == 400 and "csrf_token" in wrong.text
    assert (await console.get("/v1/no-such-thing")).headers["content-type"] == "application/problem+json"
