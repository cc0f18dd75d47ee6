"""The API's /docs (app/http/api_docs.py): Swagger UI from the vendored copy, no inline script, a strict Content
Security Policy; no /redoc; off in production unless CALDICOTT_API_DOCS turns it on."""

from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from app.errors import PROBLEM_MEDIA_TYPE
from app.main import create_app
from app.platform.config import Settings
from app.services.audit import signing
from tests.support import production_settings, settings_for

SQLITE = "sqlite+aiosqlite:///:memory:"


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside each <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.script_text.append(data)


def elements(page: str) -> Elements:
    parsed = Elements()
    parsed.feed(page)
    return parsed


async def get(settings: Settings, path: str, **transport: str) -> httpx.Response:
    application = create_app(settings)
    asgi = httpx.ASGITransport(app=application, **transport)
    async with httpx.AsyncClient(transport=asgi, base_url="https://testserver") as http:
        return await http.get(path)


@pytest.fixture
def production(tmp_path: Path) -> Path:
    """A folder for production_settings with the published audit key set it names, so the app can be made."""
    key = signing.generate(tmp_path / "audit-signing.pem")
    signing.write_key_set(tmp_path / "audit-keys.json", {key.kid: key.jwk})
    return tmp_path


@pytest.fixture(scope="module")
async def docs() -> AsyncIterator[httpx.AsyncClient]:
    """The app in development settings; nothing here touches the database."""
    application = create_app(settings_for(SQLITE))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="https://testserver") as http:
        yield http


async def test_docs_load_only_the_vendored_swagger_ui_under_a_strict_policy(docs: httpx.AsyncClient) -> None:
    response = await docs.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = dict(
        (directive.split(" ", 1) + [""])[:2] for directive in response.headers["content-security-policy"].split("; ")
    )
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'" and policy["connect-src"] == "'self'"
    assert response.headers["x-content-type-options"] == "nosniff"

    page = elements(response.text)
    assert not page.script_text, "no inline script"
    links = [attributes.get("src") or attributes.get("href") for _, attributes in page.tags]
    loaded = [link for link in links if link]
    assert loaded and all(link.startswith("/") and not link.startswith("//") for link in loaded), loaded
    scripts = [attributes["src"] for tag, attributes in page.tags if tag == "script"]
    assert scripts == ["/console/static/swagger-ui/swagger-ui-bundle.js", "/console/static/api-docs.js"]
    for tag, attributes in page.tags:
        assert "style" not in attributes and not any(name.startswith("on") for name in attributes), (tag, attributes)
    [root] = [attributes for _, attributes in page.tags if attributes.get("id") == "swagger-ui"]
    assert root["data-openapi-url"] == "/openapi.json"

    for asset in [link for link in loaded if link.startswith("/console/static/")]:
        assert (await docs.get(asset)).status_code == 200, asset
    assert (await docs.get("/openapi.json")).status_code == 200


async def test_fastapi_s_own_cdn_pages_are_gone(docs: httpx.AsyncClient) -> None:
    for path in ("/redoc", "/docs/oauth2-redirect"):
        response = await docs.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert "/docs" not in (await docs.get("/openapi.json")).json()["paths"]


async def test_behind_a_path_prefix_the_page_links_carry_it() -> None:
    response = await get(settings_for(SQLITE), "/docs", root_path="/caldicott")
    page = elements(response.text)
    links = [attributes.get("src") or attributes.get("href") for _, attributes in page.tags]
    assert [link for link in links if link] and all(link.startswith("/caldicott/") for link in links if link)
    [root] = [attributes for _, attributes in page.tags if attributes.get("id") == "swagger-ui"]
    assert root["data-openapi-url"] == "/caldicott/openapi.json"


async def test_production_serves_no_docs_but_the_contract(production: Path) -> None:
    settings = production_settings(production)
    assert settings.api_docs is None and not settings.api_docs_served
    response = await get(settings, "/docs")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert (await get(settings, "/openapi.json")).status_code == 200


async def test_the_setting_decides_either_way(production: Path) -> None:
    opened = production_settings(production, api_docs=True)
    assert (await get(opened, "/docs")).status_code == 200
    assert (await get(settings_for(SQLITE, api_docs=False), "/docs")).status_code == 404
