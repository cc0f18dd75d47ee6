"""A real OpenID provider for the console's sign-in tests: tests/oidc/provider.mjs (the `oidc-provider` package, pinned
in tests/oidc/package-lock.json) run by node on a loopback port of the kernel's choosing, and a browser's walk
through its login form.

A module starts it once, from a module-scoped fixture: `with running_provider(folder) as provider: yield provider`."""

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import httpx

from tests.support import npm_ci

OIDC_DIR = Path(__file__).parent / "oidc"
CLIENT_ID = "caldicott-console"
CLIENT_SECRET = "console-client-secret-for-the-tests"
OTHER_CLIENT_ID = "another-service"  # a second client of the same provider: its tokens are for another audience
PUBLIC_CLIENT_ID = "caldicott-console-public"  # a public client: no secret, PKCE alone
CONSOLE_URL = "https://testserver"  # the console's address in the tests (httpx's ASGI transport)
REDIRECT_URI = CONSOLE_URL + "/console/oidc/callback"
START_SECONDS = 90  # node loads oidc-provider slowly on a busy two-core machine


@dataclass(frozen=True, slots=True)
class OidcProvider:
    """The running provider: its issuer and the clients registered there."""

    issuer: str
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    other_client_id: str = OTHER_CLIENT_ID
    public_client_id: str = PUBLIC_CLIENT_ID


def install() -> None:
    """`npm ci` in tests/oidc when its packages are not installed yet (a fresh checkout), from the lock file alone."""
    npm_ci(OIDC_DIR)


@contextmanager
def running_provider(folder: Path, *, redirect_uri: str = REDIRECT_URI) -> Iterator[OidcProvider]:
    """The provider, started (its packages installed first if need be) and stopped after; its log in `folder`.
    Its clients may send people back to `redirect_uri` alone (a browser test's console has an address of its own)."""
    install()
    node = shutil.which("node")
    assert node, "node is needed to run the tests' OpenID provider"
    env = os.environ | {
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_OTHER_CLIENT_ID": OTHER_CLIENT_ID,
        "OIDC_PUBLIC_CLIENT_ID": PUBLIC_CLIENT_ID,
        "OIDC_REDIRECT_URI": redirect_uri,
        "NODE_ENV": "test",
    }
    out, log = folder / "provider.out", folder / "provider.log"
    with out.open("wb") as printed, log.open("wb") as errors:
        process = subprocess.Popen([node, "provider.mjs"], cwd=OIDC_DIR, env=env, stdout=printed, stderr=errors)
        try:
            yield OidcProvider(issuer=_ready(process, out, log))
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _ready(process: subprocess.Popen[bytes], out: Path, log: Path) -> str:
    """The issuer the provider prints once it listens, read from the file its output goes to (a pipe read line by
    line behind select() can hold a line in Python's buffer unseen); a failure to start says how node ended and what
    it wrote."""
    deadline = time.monotonic() + START_SECONDS
    while True:
        ended = process.poll()
        for line in out.read_text().splitlines():
            if line.startswith("ready "):
                return line.removeprefix("ready ")
        if ended is not None or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    how = f"node ended with status {ended}" if ended is not None else f"node still silent after {START_SECONDS} s"
    raise AssertionError(f"the OpenID provider did not start ({how}): {out.read_text()}{log.read_text()}")


class FormReader(HTMLParser):
    """The first form of a page (its action and fields) and every link, as a browser would find them."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.links: list[str] = []
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action, self._in_form = attributes.get("action", ""), True
        elif tag == "input" and self._in_form and "name" in attributes:
            self.fields[attributes["name"]] = attributes.get("value", "")
        elif tag == "a" and "href" in attributes:
            self.links.append(attributes["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


async def walk_provider(browser: httpx.AsyncClient, url: str, *, login: str | None, abort: bool = False) -> str:
    """Follow the provider's pages from `url` as a browser would: sign in as `login` (any password), consent, and
    return the address the provider sends the browser back to (the console's callback). With `abort`, cancel at
    the login form instead."""
    response = await browser.get(url)
    for _ in range(10):
        if response.is_redirect:
            location = urljoin(str(response.url), response.headers["location"])
            if location.startswith(CONSOLE_URL):
                return location
            response = await browser.get(location)
            continue
        assert response.status_code == 200, response.text
        page = FormReader()
        page.feed(response.text)
        assert page.action is not None, f"no form on the provider's page: {response.text}"
        if abort:
            (cancel,) = [link for link in page.links if "/abort" in link]
            response = await browser.get(urljoin(str(response.url), cancel))
            continue
        fields = page.fields | ({"login": login, "password": "any password"} if "login" in page.fields else {})
        response = await browser.post(urljoin(str(response.url), page.action), data=fields)
    raise AssertionError("the provider never sent the browser back")
