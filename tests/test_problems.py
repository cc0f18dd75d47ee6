"""Every problem type the service emits resolves to a page of its own:
`/problems/{name}`, HTML, no token, no rate limit."""

import importlib
import pkgutil
from collections.abc import AsyncIterator
from urllib.parse import urljoin
from xml.etree.ElementTree import Element

import html5lib
import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

import app as application_package
from app.errors import PROBLEM_MEDIA_TYPE, ProblemError, handle_http
from app.http.request_shape import check_request_shape
from app.main import create_app
from app.routers import problems
from app.routers.notices import HTML_POLICY
from tests.factories import register_organisation
from tests.support import Tokens, settings_for


def every_problem_class() -> list[type[ProblemError]]:
    """Every problem class of the service:
    every module of `app` imported first, so none is missed for not being loaded yet."""
    for module in pkgutil.walk_packages(application_package.__path__, "app."):
        importlib.import_module(module.name)
    return problems.problem_classes()


CLASSES = every_problem_class()
SLUGS = sorted({problem.slug for problem in CLASSES})


def parse_html(text: str) -> Element:
    """The page as html5lib reads it; strict, so any parse error fails the test."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(text)


def words(element: Element | None) -> str:
    """The element's text as a reader sees it, whitespace collapsed."""
    assert element is not None
    return " ".join("".join(element.itertext()).split())


@pytest.fixture(scope="module")
async def pages() -> AsyncIterator[httpx.AsyncClient]:
    """A client on an app whose database is never opened: the pages read nothing from it."""
    application = create_app(settings_for("sqlite+aiosqlite:///:memory:"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as http:
        yield http
    await application.state.wiring.engine.dispose()


def test_the_service_has_the_problem_classes_it_is_known_to_have() -> None:
    # The enumeration finds classes in errors.py, in services and subclasses of subclasses;
    # an empty walk would prove nothing.
    names = {problem.__name__ for problem in CLASSES}
    assert {
        "ProblemError",
        "NotFound",
        "InvalidInput",
        "TooManyRequests",
        "Gone",
        "InvalidPolicy",
        "MalformedForm",
    } <= names
    assert len(SLUGS) >= 15


@pytest.mark.parametrize("problem", CLASSES, ids=lambda problem: problem.__name__)
async def test_every_problem_class_has_a_page(pages: httpx.AsyncClient, problem: type[ProblemError]) -> None:
    response = await pages.get(f"/problems/{problem.slug}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert (
        response.headers["content-security-policy"] == HTML_POLICY and response.headers["content-language"] == "en-GB"
    )
    text = response.text
    document = parse_html(text)
    assert text.startswith("<!DOCTYPE html>") and document.get("lang") == "en-GB"
    assert "<script" not in text.lower() and not document.findall(".//script")
    assert words(document.find("head/title")).startswith(problem.title)
    assert [words(heading) for heading in document.findall(".//h1")] == [problem.title]
    assert [words(heading) for heading in document.findall(".//h2")] == ["What it means", "What to do"]
    page = words(document.find("body"))
    assert f"/problems/{problem.slug}" in page and f"{problem.status_code} " in page
    # Its own texts, not the fallback every unwritten class gets.
    meaning, advice = problems.TEXTS[problem.slug]
    paragraphs = [words(paragraph) for paragraph in document.findall(".//p")]
    assert meaning.replace("`", "") in paragraphs and advice.replace("`", "") in paragraphs


def test_a_type_means_one_thing() -> None:
    # Two classes may share a type (an empty upload is a validation problem) only if they agree on what it is.
    for slug in SLUGS:
        assert len({(problem.status_code, problem.title) for problem in CLASSES if problem.slug == slug}) == 1, slug


def test_no_text_is_left_over_from_a_type_that_is_gone() -> None:
    assert set(problems.TEXTS) == set(SLUGS)


@pytest.mark.parametrize("name", ["unknown", "Not-Found", "not-found.html", "http"])
async def test_a_name_the_service_does_not_emit_is_not_found(pages: httpx.AsyncClient, name: str) -> None:
    response = await pages.get(f"/problems/{name}")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["type"] == "/problems/not-found"


async def test_a_page_is_text_escaped_and_the_code_in_it_marked_up(pages: httpx.AsyncClient) -> None:
    text = (await pages.get("/problems/rate-limited")).text
    assert "<code>Retry-After</code>" in text and "`" not in text
    assert str(problems.with_code("a <b> & `c<d>`")) == "a &lt;b&gt; &amp; <code>c&lt;d&gt;</code>"


async def test_the_type_of_a_real_problem_resolves_to_its_page(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    answers = [
        await client.get("/v1/sharing-requests"),  # no token
        await client.get("/v1/sharing-requests/no-such-request", headers=tokens.agency("RXT01")),
        await client.get("/v1/sharing-requests", params={"status": "pondering"}, headers=tokens.agency("RXT01")),
        await client.delete("/healthz"),
    ]
    assert [answer.status_code for answer in answers] == [401, 404, 422, 405]
    for answer in answers:
        problem = answer.json()
        assert problem["type"].startswith("/problems/"), problem
        page = await client.get(urljoin(str(answer.url), problem["type"]))
        assert page.status_code == 200
        assert [words(heading) for heading in parse_html(page.text).findall(".//h1")] == [problem["title"]]
        assert "ratelimit" not in page.headers


def test_the_pages_need_no_token_and_are_not_rate_limited() -> None:
    application = create_app(settings_for("sqlite+aiosqlite:///:memory:"))
    [page] = [
        context for context in iter_route_contexts(application.routes) if context.path_format == "/problems/{name}"
    ]
    assert isinstance(page.original_route, APIRoute)
    # Only the app's check of the request's shape (app/http/request_shape.py), which every route has.
    assert [depends.dependency for depends in page.dependencies] == [check_request_shape]
    assert not page.original_route.dependant.dependencies
    assert not page.include_in_schema  # a page for people, not an operation for clients


async def test_a_status_without_a_type_of_ours_is_about_blank() -> None:
    request = Request({"type": "http", "method": "GET", "path": "/v1/x", "headers": [], "query_string": b""})
    response = await handle_http(request, StarletteHTTPException(418, "short and stout"))
    assert (response.status_code, response.body) == (
        418,
        b'{"type":"about:blank","title":"I\'m a Teapot","status":418,"detail":"short and stout","instance":"/v1/x"}',
    )
