"""The browser assets vendored by scripts/vendor-frontend (app/console/static/nhsuk/ and swagger-ui/): the NHS.UK
frontend's release matches the installed nhsuk-frontend-jinja, each copy carries its licence, nothing in them loads
from another site, they ship as package data, and the app serves them with their types."""

import importlib.machinery
import importlib.util
import json
import re
import tomllib
from collections.abc import AsyncIterator
from importlib import metadata
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from app.main import create_app
from tests.support import settings_for

REPO = Path(__file__).resolve().parents[1]
STATIC = REPO / "app" / "console" / "static"
NHSUK, SWAGGER_UI = STATIC / "nhsuk", STATIC / "swagger-ui"
FRONTEND = REPO / "frontend"
# The types a browser needs to use each kind of file under `X-Content-Type-Options: nosniff`.
TYPES = {
    ".css": {"text/css"},
    ".js": {"text/javascript", "application/javascript"},
    ".svg": {"image/svg+xml"},
    ".png": {"image/png"},
    ".ico": {"image/vnd.microsoft.icon", "image/x-icon"},
    ".json": {"application/json", "application/manifest+json"},
}


def vendor_script() -> ModuleType:
    """scripts/vendor-frontend as a module (it has no .py suffix), for its table of matching releases."""
    loader = importlib.machinery.SourceFileLoader("vendor_frontend", str(REPO / "scripts" / "vendor-frontend"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def locked(package: str) -> str:
    """The version frontend/package-lock.json installs."""
    return json.loads((FRONTEND / "package-lock.json").read_text())["packages"][f"node_modules/{package}"]["version"]


def css_urls(css: str) -> list[str]:
    """Every url(...) of a style sheet, read token by token (a quoted URL may hold escaped quotes and parentheses,
    as SVG data URIs do)."""
    urls, at = [], 0
    while (at := css.find("url(", at)) != -1:
        at += 4
        while css[at].isspace():
            at += 1
        if css[at] in "\"'":
            quote, start = css[at], at + 1
            at = start
            while css[at] != quote:
                at += 2 if css[at] == "\\" else 1
            urls.append(css[start:at])
        else:
            start = at
            at = css.index(")", at)
            urls.append(css[start:at].strip())
    return urls


def vendored(*suffixes: str) -> list[Path]:
    return sorted(path for path in STATIC.rglob("*") if path.is_file() and path.suffix in suffixes)


def test_the_nhsuk_frontend_is_the_release_the_installed_jinja_macros_were_made_for() -> None:
    """The macros' markup and the CSS must be of one release: the script's table pairs them, and the VERSION file,
    frontend/package.json and its lock all name that release."""
    expected = vendor_script().FRONTEND_FOR_JINJA[metadata.version("nhsuk-frontend-jinja")]
    assert (NHSUK / "VERSION").read_text().strip() == expected
    assert json.loads((FRONTEND / "package.json").read_text())["dependencies"]["nhsuk-frontend"] == expected
    assert locked("nhsuk-frontend") == expected


def test_the_script_refuses_a_jinja_release_it_has_no_pair_for() -> None:
    script = vendor_script()
    with pytest.raises(script.Refused, match="FRONTEND_FOR_JINJA"):
        script.expected_frontend("0.0.1")


def test_the_script_drops_the_off_site_font_and_makes_image_urls_relative() -> None:
    """What scripts/vendor-frontend does to the compiled CSS, on a sample of its shape; a font of our own would stay."""
    compiled = (
        "html{font-family:Frutiger W01,arial,sans-serif}"
        '@font-face{font-family:Frutiger W01;src:url(https://assets.nhs.uk/fonts/F.woff2) format("woff2")}'
        "@font-face{font-family:Ours;src:url(/assets/fonts/ours.woff2)}"
        '.x{background:url(/assets/images/nhsuk-icon-cross.svg)}.y{background:url("data:image/svg+xml,<svg/>")}'
        "\n/*# sourceMappingURL=nhsuk-frontend.min.css.map */"
    )
    css, referred = vendor_script().nhsuk_css(compiled)
    assert "assets.nhs.uk" not in css and "Frutiger W01,arial" in css and "sourceMappingURL" not in css
    assert "src:url(assets/fonts/ours.woff2)" in css and "url(assets/images/nhsuk-icon-cross.svg)" in css
    assert referred == ["assets/fonts/ours.woff2", "assets/images/nhsuk-icon-cross.svg"]


def test_the_script_refuses_a_copy_that_still_loads_from_another_site(tmp_path: Path) -> None:
    script = vendor_script()
    (tmp_path / "nhsuk-frontend.min.css").write_text(".a{background:url(//cdn.example/x.png)}")
    with pytest.raises(script.Refused, match="cdn.example"):
        script.check_on_site(tmp_path)
    (tmp_path / "nhsuk-frontend.min.css").write_text(".a{background:url(x.png)}")
    (tmp_path / "nhsuk-frontend.min.js").write_text('fetch("https://cdn.example/x.json")')
    with pytest.raises(script.Refused, match="cdn.example"):
        script.check_on_site(tmp_path)


def test_swagger_ui_is_the_pinned_release() -> None:
    pinned = json.loads((FRONTEND / "package.json").read_text())["dependencies"]["swagger-ui-dist"]
    assert re.fullmatch(r"5\.\d+\.\d+", pinned), "an exact 5.x pin"
    assert (SWAGGER_UI / "VERSION").read_text().strip() == pinned == locked("swagger-ui-dist")


def test_every_vendored_copy_carries_its_licence() -> None:
    assert "MIT License" in (NHSUK / "LICENSE").read_text()
    assert "NHS" in (NHSUK / "LICENSE").read_text()
    assert "Apache License" in (SWAGGER_UI / "LICENSE").read_text()
    assert (SWAGGER_UI / "NOTICE").read_text().strip()
    # The bundle names the licences of the code it holds in this file.
    assert "swagger-ui-bundle.js.LICENSE.txt" in (SWAGGER_UI / "swagger-ui-bundle.js").read_text()[:2000]
    assert "MIT" in (SWAGGER_UI / "swagger-ui-bundle.js.LICENSE.txt").read_text()


def test_no_style_sheet_loads_anything_from_another_site() -> None:
    """Every url(...) is inline data or a path on this site that the vendored copy holds; the Frutiger webfont of
    assets.nhs.uk is gone (the text falls back to Arial, as the NHS.UK font stack says)."""
    sheets = vendored(".css")  # the console's own among them
    assert {NHSUK / "nhsuk-frontend.min.css", SWAGGER_UI / "swagger-ui.css"} <= set(sheets)
    for sheet in sheets:
        css = sheet.read_text()
        urls = css_urls(css)
        assert urls or sheet.parent == STATIC, f"{sheet.name}: the reader found no url(...) in a vendored sheet"
        for url in urls:
            if url.startswith("data:"):
                continue
            assert not re.match(r"^([a-z][a-z0-9+.-]*:|/)", url, re.IGNORECASE), f"{sheet.name}: {url}"
            assert (sheet.parent / url).resolve().is_file(), f"{sheet.name} refers to {url}, which is not vendored"
        assert "assets.nhs.uk" not in css
        assert "sourceMappingURL" not in css  # the maps are not shipped
    nhsuk_css = (NHSUK / "nhsuk-frontend.min.css").read_text()
    assert "@font-face" not in nhsuk_css
    assert "font-family:Frutiger W01,arial,sans-serif" in nhsuk_css


def test_the_test_reads_a_url_wherever_a_style_sheet_puts_it() -> None:
    """The reader above finds a URL in each form CSS allows, so an off-site one cannot slip past it."""
    css = "a{b:url(https://x.test/f.woff)} c{d:url( \"//x.test/g.svg\" )} e{f:url('data:x,\\'(')} g{h:url(i.png)}"
    assert css_urls(css) == ["https://x.test/f.woff", "//x.test/g.svg", "data:x,\\'(", "i.png"]


def test_the_nhsuk_javascript_names_no_url_and_swagger_ui_loads_none_by_default() -> None:
    """The NHS.UK script, and our own scripts, name no absolute URL at all. Swagger UI's bundle is started only by our
    api-docs.js, which gives it the contract's local address and turns off its one default call elsewhere (the
    validator badge); the starter that ships with swagger-ui-dist (the Petstore example) is not vendored."""
    nhsuk_js = (NHSUK / "nhsuk-frontend.min.js").read_text()
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", nhsuk_js, re.IGNORECASE)
    assert "sourceMappingURL" not in nhsuk_js
    ours = [path for path in vendored(".js") if path.parent == STATIC]  # api-docs.js, the console's own scripts
    assert STATIC / "api-docs.js" in ours
    for script in ours:
        assert not re.search(r"https?://", script.read_text()), script.name
    assert [path.name for path in vendored(".js") if path.parent == SWAGGER_UI] == ["swagger-ui-bundle.js"]
    assert "https://validator.swagger.io/validator" in (SWAGGER_UI / "swagger-ui-bundle.js").read_text()
    starter = (STATIC / "api-docs.js").read_text()
    assert "validatorUrl: null" in starter
    assert 'url: root.getAttribute("data-openapi-url")' in starter


def test_the_vendored_files_and_templates_ship_in_the_package() -> None:
    """Every file under app/console/static/ and app/console/templates/ is package data (setuptools' globs, `**`
    recursive), so the wheel and the container image, which installs the wheel, carry them."""
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["app"]
    app = REPO / "app"
    packaged = {found.relative_to(app) for pattern in package_data for found in app.glob(pattern)}
    shipped = [path for folder in ("static", "templates") for path in (app / "console" / folder).rglob("*")]
    files = [path.relative_to(app) for path in shipped if path.is_file() and "__pycache__" not in path.parts]
    assert Path("console/static/nhsuk/nhsuk-frontend.min.css") in files
    assert not [path for path in files if path not in packaged]
    lines = (REPO / ".dockerignore").read_text().splitlines()
    dockerignore = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert not [line for line in dockerignore if line.startswith("app") or line in {"*.css", "*.js"}]
    assert "frontend" in dockerignore  # npm's packages: what ships of them is in app/console/static/ already
    assert "COPY app ./app" in (REPO / "Dockerfile").read_text()


@pytest.fixture(scope="module")
async def served() -> AsyncIterator[httpx.AsyncClient]:
    """The app, for static files only: no database is touched."""
    application = create_app(settings_for("sqlite+aiosqlite:///:memory:"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="https://testserver") as http:
        yield http


@pytest.mark.parametrize("path", [path.relative_to(STATIC).as_posix() for path in vendored(*TYPES)])
async def test_the_files_are_served_with_their_types(served: httpx.AsyncClient, path: str) -> None:
    response = await served.get(f"/console/static/{path}")
    assert response.status_code == 200, path
    assert response.headers["content-type"].split(";")[0] in TYPES[Path(path).suffix], path
    assert response.content == (STATIC / path).read_bytes()
