"""The console and the public register in a real browser: axe-core on every page, the CSP as Chromium enforces it,
a guardian's journey by keyboard alone, and the screenshots in docs/console/.

One `caldicott serve` (SQLite, the development sign-in on, seeded through its API) and one headless Chromium serve
the whole module. With CALDICOTT_SCREENSHOTS set to a folder (`CALDICOTT_SCREENSHOTS=docs/console`), every page
visited is also saved there as a PNG 1280 pixels wide; CI leaves it unset, so a run never rewrites the docs.
"""

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from selenium.common.exceptions import TimeoutException
from selenium.webdriver import Chrome
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.wait import WebDriverWait

from app.main import create_app
from app.models.vocabulary import Role
from app.platform.config import DEV_CONTROLLER_ORG
from tests.browser_support import (
    CONSOLE_GUARDIAN,
    MISSING,
    Seeded,
    Served,
    axe_script,
    axe_violations,
    chromium,
    console_errors,
    describe,
    focused,
    screenshot,
    seed,
    served,
)
from tests.support import PROCESS_GROUP, settings_for

pytestmark = PROCESS_GROUP
SCREENSHOTS = os.environ.get("CALDICOTT_SCREENSHOTS")
# Who signs in for each role (the name shows in the header, and in the screenshots).
NAMES = {
    Role.GUARDIAN: CONSOLE_GUARDIAN,
    Role.AUDITOR: "Arun Auditor",
    Role.ADMIN: "Ada Admin",
    Role.IG_MANAGER: "Ines Governance",
    Role.SAFEGUARDING_LEAD: "Sam Safeguarding",
}


@dataclass(frozen=True)
class Page:
    """A page of the console or the register: its route as the app declares it, who is signed in to see it, the
    values of any path parameters other than the seeded ids (`{request_id}`, `{attachment_id}`, `{replay_id}`), and
    whether `{request_id}` is the case the guardian signed in holds rather than the unclaimed referred case."""

    route: str
    role: Role | None  # None: nobody is signed in
    params: dict[str, str] = field(default_factory=dict)
    claimed: bool = False
    picture: str = ""  # the screenshot's own name, where another page of the list has the same route

    def path(self, seeded: Seeded) -> str:
        return self.route.format(**seeded.ids(claimed=self.claimed) | self.params)

    @property
    def screenshot_name(self) -> str:
        if self.picture:
            return self.picture
        named = self.route.format(**{name: name for name in Seeded.PATH_PARAMETERS} | self.params)
        return named.strip("/").replace("/", "-") + ("-claimed" if self.claimed else "") + ".png"


# Every page a browser can land on, each visited by the axe-core test: a new page is one line here, and
# test_every_page_is_checked fails until it is.
PAGES = (
    Page("/console/sign-in", None),
    Page("/console/", Role.GUARDIAN),
    Page("/console/sign-out", Role.GUARDIAN),
    Page("/console/signed-out", None),
    Page("/console/oidc/callback", None),  # without a sign-in started: the page of a failed sign-in
    Page("/register", None),
    Page("/console/cases/{request_id}/notices/{audience}", Role.GUARDIAN, {"audience": "requester"}),
    Page("/console/queue", Role.GUARDIAN),
    Page("/console/cases/{request_id}", Role.GUARDIAN),
    Page("/console/cases/{request_id}", Role.GUARDIAN, claimed=True),
    # The lead's read-only page of the claimed case, whose consultation asks their role.
    Page(
        "/console/cases/{request_id}",
        Role.SAFEGUARDING_LEAD,
        claimed=True,
        picture="console-cases-request_id-safeguarding-lead.png",
    ),
    Page("/console/dashboard", Role.GUARDIAN),
    Page("/console/policies", Role.ADMIN),
    Page("/console/policies/replays/{replay_id}", Role.AUDITOR),
    Page("/console/audit", Role.AUDITOR),
    Page("/console/consultations", Role.SAFEGUARDING_LEAD),  # the seeded claimed case asks the lead: its form too
    Page("/console/incidents", Role.GUARDIAN),
)
# Pages that are no route: the page every error of the console is shown on.
ERROR_PAGES = (Page("/console/no-such-page", Role.GUARDIAN),)
# GET routes under /console/ that are no page (a download, a redirect), with the reason.
NOT_PAGES = {
    "/register.csv": "the register as a CSV file",
    "/console/oidc/start": "a redirect to the identity provider",
    "/console/cases/{request_id}/attachments/{attachment_id}": "a piece of evidence, as a download",
}


def page_routes() -> set[str]:
    """The GET routes of the console and the register the app serves as pages, read from the app itself."""
    app = create_app(settings_for("sqlite+aiosqlite:///:memory:"))
    # FastAPI keeps included routers as branches of app.routes; iter_route_contexts walks them with their prefixes.
    return {
        context.path_format
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        and "GET" in (context.methods or ())
        and context.path_format.startswith(("/console/", "/register"))
    }


def test_every_page_is_checked() -> None:
    routes = page_routes()
    listed = {page.route for page in PAGES}
    assert routes - listed - NOT_PAGES.keys() == set(), "add these pages to PAGES in tests/test_console_browser.py"
    assert listed - routes == set(), "PAGES names routes the app no longer has"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if MISSING:  # the list of pages above is checked all the same
        pytest.skip(f"no browser here (.ci/run installs it): {', '.join(MISSING)} missing")
    with served(tmp_path_factory.mktemp("console")) as running:
        yield running


@pytest.fixture(scope="module")
def seeded(server: Served) -> Seeded:
    return seed(server)


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_script()


@pytest.fixture(scope="module")
def browser() -> Iterator[Chrome]:
    with chromium() as driver:
        yield driver


class Console:
    """The browser on the served app, signed in as one role at a time (through the development sign-in)."""

    def __init__(self, driver: Chrome, server: Served):
        self.driver, self.server = driver, server
        self.role: Role | None = None

    def sign_in(self, role: Role | None) -> None:
        if role == self.role:
            return
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})  # every path's, not only the current page's
        self.role = None
        if role is not None:
            self.driver.get(self.server.url("/console/sign-in"))
            form = self.driver.find_element(By.CSS_SELECTOR, "form[action='/console/dev-sign-in']")
            form.find_element(By.NAME, "name").send_keys(NAMES[role])
            form.find_element(By.CSS_SELECTOR, f"input[name=role][value={role.value}]").click()
            form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            self.wait_for("/console/")
            self.role = role
        console_errors(self.driver)  # read, so that the next page's errors are that page's

    def visit(self, page: Page, seeded: Seeded) -> None:
        self.sign_in(page.role)
        self.driver.get(self.server.url(page.path(seeded)))
        assert self.path() == page.path(seeded), f"{page.route} sent the browser to {self.driver.current_url}"

    def path(self) -> str:
        return urlsplit(self.driver.current_url).path

    def wait_for(self, path: str) -> None:
        """Wait for the page a form or a link leads to (a click returns before the browser has it)."""
        try:
            WebDriverWait(self.driver, 10).until(lambda _: self.path() == path)
        except TimeoutException:
            raise AssertionError(f"{path} never came: {self.driver.current_url}\n{self.driver.page_source}") from None


@pytest.fixture(scope="module")
def console(server: Served, browser: Chrome) -> Console:
    return Console(browser, server)


@pytest.mark.parametrize(
    "page",
    PAGES + ERROR_PAGES,
    ids=lambda page: f"{page.route}{' claimed' if page.claimed else ''} as {page.role or 'nobody'}",
)
def test_axe_finds_no_wcag_22_aa_violation_and_the_browser_no_error(
    console: Console, seeded: Seeded, axe: str, page: Page
) -> None:
    console.visit(page, seeded)
    # Before axe runs (its doings are not the page's); an error page's own status is not an error of the page.
    errors = [
        error for error in console_errors(console.driver) if not error.startswith(console.driver.current_url + " ")
    ]
    enhanced = console.driver.execute_script("return document.body.classList.contains('js-enabled')")
    violations = axe_violations(console.driver, axe)
    if SCREENSHOTS:
        screenshot(console.driver, Path(SCREENSHOTS) / page.screenshot_name)
    assert not violations, f"axe-core on {page.route}:\n{describe(violations)}"
    assert not errors, f"the browser's errors on {page.route} (a CSP refusal among them?):\n" + "\n".join(errors)
    assert enhanced, f"the console's script did not run on {page.route}"


def test_the_guardian_signed_in_holds_the_claimed_case(console: Console, seeded: Seeded) -> None:
    """The claimed case's pages show the claim holder's forms, so axe-core checks them too."""
    console.visit(Page("/console/cases/{request_id}", Role.GUARDIAN, claimed=True), seeded)
    buttons = [button.text for button in console.driver.find_elements(By.CSS_SELECTOR, "main form button")]
    assert "Record the decision" in buttons and "Ask for an opinion" in buttons, buttons


def test_the_csp_refuses_an_inline_script_and_the_test_sees_the_refusal(console: Console, seeded: Seeded) -> None:
    """The check above can fail: a script and a style put in the page inline are refused, and the log says so."""
    console.visit(PAGES[0], seeded)
    title = console.driver.title
    console.driver.execute_script(
        "const script = document.createElement('script');"
        "script.textContent = 'document.title = \"ran inline\"';"
        "document.body.appendChild(script);"
        "const style = document.createElement('style');"
        "style.textContent = 'body { display: none }';"
        "document.head.appendChild(style);"
    )
    assert console.driver.title == title
    assert console.driver.find_element(By.TAG_NAME, "body").is_displayed()
    refusals = console_errors(console.driver)
    assert len(refusals) == 2 and all("Content Security Policy" in refusal for refusal in refusals), refusals


def test_with_javascript_off_a_guardian_signs_in_and_out(console: Console) -> None:
    driver = console.driver
    console.sign_in(None)  # so that the sign-in below is made with scripts off
    driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        console.sign_in(Role.GUARDIAN)
        assert "Signed in as Grace Guardian" in driver.find_element(By.TAG_NAME, "main").text
        assert "js-enabled" not in (driver.find_element(By.TAG_NAME, "body").get_attribute("class") or "")
        driver.find_element(By.LINK_TEXT, "Sign out").click()
        console.wait_for("/console/sign-out")
        driver.find_element(By.CSS_SELECTOR, "main form button").click()
        console.wait_for("/console/signed-out")
        console.role = None
        driver.get(console.server.url("/console/"))
        assert console.path() == "/console/sign-in"
    finally:
        driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})


class Keyboard:
    """Tab, Shift+Tab, Enter and Space, and nothing else; each element focused on the way must show its focus."""

    def __init__(self, driver: WebDriver):
        self.driver = driver

    def press(self, key: str, *, shift: bool = False) -> dict[str, Any]:
        actions = ActionChains(self.driver)
        if shift:
            actions.key_down(Keys.SHIFT).send_keys(key).key_up(Keys.SHIFT)
        else:
            actions.send_keys(key)
        actions.perform()
        return self.focus_shown()

    def focus_shown(self) -> dict[str, Any]:
        element = focused(self.driver)
        if element["tabbable"]:
            assert element["shown"], f"focus is on an element that is not shown: {element}"
            assert element["focused"] != element["unfocused"], f"focus does not show on {element}"
        return element

    def tab_to(self, wanted: Callable[[dict[str, Any]], bool], *, backwards: bool = False, limit: int = 150) -> None:
        """Tab (or Shift+Tab) until the focused element is the one wanted."""
        passed = []
        for _ in range(limit):
            element = self.press(Keys.TAB, shift=backwards)
            if wanted(element):
                return
            passed.append(f"{element['tag']} {element['text'] or element['href'] or element['name']}")
        raise AssertionError(f"not reached in {limit} presses; focus went through: {passed}")

    def submit(self, console: "Console", path: str) -> None:
        """Press Enter on the focused link or button and wait for the page it leads to (perhaps the same path again)."""
        page = self.driver.find_element(By.TAG_NAME, "html")
        self.press(Keys.ENTER)
        WebDriverWait(self.driver, 10).until(staleness_of(page))
        console.wait_for(path)

    def follow(self, console: "Console", href: str) -> None:
        """Tab to the link to `href` and follow it."""
        self.tab_to(lambda element: element["href"] == href)
        self.submit(console, urlsplit(href).path)


def test_the_guardians_journey_by_keyboard_alone(console: Console, seeded: Seeded) -> None:
    """Sign in, find the case in the queue, verify its evidence, claim and approve it, sign out: with Tab, Shift+Tab,
    Enter and Space (and typing words into fields), each element focused on the way showing its focus."""
    driver, keys = console.driver, Keyboard(console.driver)
    console.sign_in(None)
    driver.get(console.server.url("/console/"))
    assert console.path() == "/console/sign-in"
    keys.tab_to(lambda element: element["href"] == "#maincontent")  # the skip link comes first
    assert keys.press(Keys.ENTER)["tag"] == "main"
    keys.tab_to(lambda element: element["name"] == "name")
    ActionChains(driver).send_keys("Kay Board").perform()
    keys.tab_to(lambda element: element["tag"] == "button" and element["text"] == "Sign in for development")
    # Back to the role, which Tab passed: the checked radio of the group holds its place in the tab order.
    keys.tab_to(lambda element: element["name"] == "role", backwards=True)
    assert focused(driver)["value"] == "guardian"
    keys.press(Keys.SPACE)
    assert driver.find_element(By.CSS_SELECTOR, "input[name=role][value=guardian]").is_selected()
    keys.tab_to(lambda element: element["tag"] == "button")
    keys.submit(console, "/console/")
    assert "Signed in as Kay Board" in driver.find_element(By.TAG_NAME, "main").text

    keys.follow(console, "/console/queue")
    case = f"/console/cases/{seeded.journey_id}"
    keys.tab_to(lambda element: element["href"] == case and element["text"] == seeded.journey_reference)
    keys.submit(console, case)

    # The evidence: open its form (a details element), find it verified, say what was checked, record the finding.
    keys.tab_to(lambda element: element["text"] == "Verify or reject this evidence")
    keys.press(Keys.ENTER)
    keys.tab_to(lambda element: element["name"] == "outcome" and element["value"] == "verified")
    keys.press(Keys.SPACE)
    keys.tab_to(lambda element: element["name"] == "checked")
    ActionChains(driver).send_keys("Read the impact assessment; it covers this onward sharing.").perform()
    keys.tab_to(lambda element: element["text"] == "Record the finding")
    keys.submit(console, case)
    assert "Verified by dev-kay-board" in driver.find_element(By.ID, "evidence").find_element(By.XPATH, "..").text

    # The decision: Approve is the group's first choice, so Tab reaches it; the case is claimed and decided at once.
    keys.tab_to(lambda element: element["name"] == "outcome" and element["value"] == "approve")
    keys.press(Keys.SPACE)
    keys.tab_to(lambda element: element["name"] == "rationale")
    ActionChains(driver).send_keys("Onward sharing is limited to the community team named in the agreement.").perform()
    keys.tab_to(lambda element: element["text"] == "Claim and record the decision")
    keys.submit(console, case)
    decided = httpx.get(
        console.server.url(f"/v1/sharing-requests/{seeded.journey_id}"),
        headers=console.server.tokens.headers(DEV_CONTROLLER_ORG, Role.AUDITOR, sub="auditor-1"),
    )
    assert decided.json()["status"] == "approved", decided.text

    keys.follow(console, "/console/sign-out")
    keys.tab_to(lambda element: element["tag"] == "button" and element["text"] == "Sign out")
    keys.submit(console, "/console/signed-out")
    assert not console_errors(driver), "the browser's errors on the way (a CSP refusal among them?)"


def test_an_element_whose_focus_does_not_show_fails_the_keyboard_test(console: Console, seeded: Seeded) -> None:
    console.visit(PAGES[0], seeded)
    # The same look, focused or not, whatever the style sheet says (a script's CSSOM changes are not inline style).
    console.driver.execute_script(
        "const button = document.querySelector('main button');"
        "for (const [name, value] of [['outline', 'none'], ['box-shadow', 'none'], ['background-color', 'green'],"
        " ['color', 'white'], ['text-decoration', 'none'], ['border-color', 'green']])"
        "  button.style.setProperty(name, value, 'important');"
    )
    with pytest.raises(AssertionError, match="focus does not show"):
        Keyboard(console.driver).tab_to(lambda element: element["tag"] == "button")


def test_axe_reports_a_violation_with_what_to_fix(console: Console, seeded: Seeded, axe: str) -> None:
    console.visit(PAGES[0], seeded)
    console.driver.execute_script(
        "const image = document.createElement('img'); image.src = '/console/static/nhsuk/assets/images/favicon.svg';"
        "document.querySelector('main').appendChild(image);"
    )
    violations = axe_violations(console.driver, axe)
    assert [violation["id"] for violation in violations] == ["image-alt"]
    assert describe(violations) == 'image-alt (critical): Images must have alternative text at ["img"]'
