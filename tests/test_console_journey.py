"""The issue's first "Done when", end to end in a real browser: a guardian signs in through the real OpenID provider
(tests/oidc/provider.mjs), finds a referred case in the queue by its reference, verifies its evidence and approves it
with a condition; the API then reports the decision and its audit events, and the agency's receiver has the decision's
signed webhook. An agency's person is refused the console, and a form posted without its CSRF token changes nothing.

One provider, one `caldicott serve` (SQLite, its webhook worker in the same process, the development sign-in off) and
one headless Chromium serve the module. With CALDICOTT_SCREENSHOTS set to a folder, the pages of the journey are saved
there as PNGs, as tests/test_console_browser.py saves its own.
"""

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.wait import WebDriverWait
from standardwebhooks import Webhook

from app.models.actions import AuditAction
from app.models.vocabulary import Role
from app.models.webhook import WebhookEventType
from app.platform.config import DEV_CONTROLLER_ORG
from tests.browser_support import MISSING, PDF, Served, chromium, console_errors, free_port, screenshot, served
from tests.factories import REFERRED
from tests.oidc_support import OidcProvider, running_provider
from tests.rules.baseline import changed
from tests.support import PROCESS_GROUP
from tests.webhook_receiver import Received, Receiver, running

pytestmark = PROCESS_GROUP
SCREENSHOTS = os.environ.get("CALDICOTT_SCREENSHOTS")
PROVIDER_NAME = "Northshire NHS account"
REQUESTER = "RXT01"
DECIDED_REFERENCE, KEPT_REFERENCE = "JOURNEY-DECIDED-1", "JOURNEY-KEPT-1"
CHECKED = "Read the impact assessment: it covers the onward sharing this request asks for."
REASONS = "Onward sharing is limited to the community team the sharing agreement names."
CONDITION = "Share onward with the named community team only"
WAIT_SECONDS = 30
GUARDIAN = ("guardian", "guardian")  # a guardian's decision, made by the provider's `guardian` account (its `sub`)


@dataclass(frozen=True)
class Seeded:
    """The cases the journey finds, seeded through the API: one to decide (with a PDF), one a refused form must leave
    as it was; and the agency's webhook endpoint."""

    decided_id: str
    attachment_id: str
    kept_id: str
    endpoint_secret: str


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if MISSING:
        pytest.skip(f"no browser here (.ci/run installs it): {', '.join(MISSING)} missing")
    return tmp_path_factory.mktemp("journey")


@pytest.fixture(scope="module")
def port() -> int:
    """The served console's port, chosen before the provider starts: the provider sends people back there alone."""
    return free_port()


@pytest.fixture(scope="module")
def provider(folder: Path, port: int) -> Iterator[OidcProvider]:
    with running_provider(folder, redirect_uri=f"http://127.0.0.1:{port}/console/oidc/callback") as started:
        yield started


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running(Receiver()) as started:
        yield started


@pytest.fixture(scope="module")
def server(folder: Path, port: int, provider: OidcProvider) -> Iterator[Served]:
    env = {
        "CALDICOTT_OIDC_ISSUER": provider.issuer,
        "CALDICOTT_OIDC_CLIENT_ID": provider.client_id,
        "CALDICOTT_OIDC_CLIENT_SECRET": provider.client_secret,
        "CALDICOTT_OIDC_PROVIDER_NAME": PROVIDER_NAME,
        "CALDICOTT_CONSOLE_URL": f"http://127.0.0.1:{port}",  # the callback the provider is told of
        "CALDICOTT_CONSOLE_DEV_SIGN_IN": "false",  # the provider is the only way in
        # The webhook worker inside serve, polling often, free to deliver to the receiver on loopback.
        "CALDICOTT_WEBHOOK_WORKER_IN_SERVE": "true",
        "CALDICOTT_WEBHOOK_ALLOW_PRIVATE": "true",
        "CALDICOTT_WEBHOOK_POLL_SECONDS": "0.1",
    }
    with served(folder, port=port, extra_env=env) as running_app:
        yield running_app


@pytest.fixture(scope="module")
def seeded(server: Served, receiver: Receiver) -> Seeded:
    """The requester organisation, its webhook endpoint (at the receiver, which checks each signature with the
    endpoint's secret), and two referred cases with a PDF each, all through the API."""
    tokens = server.tokens
    agency = tokens.agency(REQUESTER)
    with httpx.Client(base_url=server.base_url, timeout=30) as client:

        def created(path: str, **sent: Any) -> dict[str, Any]:
            response = client.post(path, **sent)
            assert response.status_code == 201, response.text
            return dict(response.json())

        organisation = {"code": REQUESTER, "name": "Northshire Research Unit", "type": "nhs_trust"}
        created("/v1/organisations", json=organisation | {"dspt_status": "standards_met"}, headers=tokens.admin())
        events = [WebhookEventType.EVIDENCE_VERIFIED, WebhookEventType.REVIEWED]
        endpoint = created("/v1/webhook-endpoints", json={"url": receiver.url(), "event_types": events}, headers=agency)
        receiver.secrets["/hook"] = endpoint["secret"]

        def referred(reference: str) -> tuple[str, str]:
            case = created("/v1/sharing-requests", json=changed(REFERRED | {"reference": reference}), headers=agency)
            assert case["status"] == "awaiting_review", case
            evidence = created(
                f"/v1/sharing-requests/{case['id']}/attachments",
                data={"kind": "dpia"},
                files={"file": ("impact-assessment.pdf", PDF, "application/pdf")},
                headers=agency,
            )
            return case["id"], evidence["id"]

        decided_id, attachment_id = referred(DECIDED_REFERENCE)
        kept_id, _ = referred(KEPT_REFERENCE)
    return Seeded(decided_id, attachment_id, kept_id, endpoint["secret"])


@pytest.fixture(scope="module")
def browser() -> Iterator[Chrome]:
    with chromium() as driver:
        yield driver


class Journey:
    """The browser on the served console, and what a person does there."""

    def __init__(self, driver: Chrome, server: Served):
        self.driver, self.server = driver, server

    def path(self) -> str:
        return urlsplit(self.driver.current_url).path

    def on_console(self) -> bool:
        return self.driver.current_url.startswith(self.server.base_url + "/")

    def main_text(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "main").text

    def wait_for(self, path: str) -> None:
        """Wait for the page a form or a link leads to (a click returns before the browser has it)."""
        try:
            WebDriverWait(self.driver, 10).until(lambda _: self.on_console() and self.path() == path)
        except Exception:
            raise AssertionError(f"{path} never came: {self.driver.current_url}\n{self.driver.page_source}") from None

    def press(self, button: WebElement) -> None:
        """Click a button that submits a form or follows a link, and wait until the page it led from is gone."""
        page = self.driver.find_element(By.TAG_NAME, "html")
        button.click()
        WebDriverWait(self.driver, 10).until(staleness_of(page))

    def choose(self, form: WebElement, name: str, value: str) -> None:
        """Tick a radio of an NHS.UK radios group by its label, as a person does."""
        radio = form.find_element(By.CSS_SELECTOR, f"input[name={name}][value={value}]")
        form.find_element(By.CSS_SELECTOR, f"label[for='{radio.get_attribute('id')}']").click()
        assert radio.is_selected()

    def sign_in(self, login: str) -> None:
        """Sign in afresh through the provider as its account `login`: every cookie cleared first (the console's and
        the provider's), so the provider asks for the login again; ends where the console's callback sent the browser.
        """
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        self.driver.get(self.server.url("/console/"))
        assert self.path() == "/console/sign-in", self.driver.current_url
        self.press(self.driver.find_element(By.LINK_TEXT, f"Sign in with {PROVIDER_NAME}"))
        for _ in range(5):  # the login form, perhaps a consent, then back to the console
            if self.on_console():
                break
            form = self.driver.find_element(By.TAG_NAME, "form")
            fields = {element.get_attribute("name"): element for element in form.find_elements(By.TAG_NAME, "input")}
            if "login" in fields:
                fields["login"].send_keys(login)
                fields["password"].send_keys("any password")
            self.press(form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        assert self.on_console(), f"the provider never sent the browser back: {self.driver.current_url}"

    def form(self, action: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, f"form[action='{action}']")

    def save(self, name: str) -> None:
        if SCREENSHOTS:
            screenshot(self.driver, Path(SCREENSHOTS) / f"journey-{name}.png")


@pytest.fixture(scope="module")
def journey(browser: Chrome, server: Served) -> Journey:
    return Journey(browser, server)


def api(server: Served, path: str, **params: Any) -> dict[str, Any]:
    """GET from the served API as the controller's auditor, who may read every request and the audit trail."""
    auditor = server.tokens.headers(DEV_CONTROLLER_ORG, Role.AUDITOR, sub="auditor-1")
    response = httpx.get(server.url(path), params=params, headers=auditor, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def trail(server: Served, request_id: str) -> list[tuple[str, str]]:
    """(action, who) of each audit event about the request, in chain order."""
    events = api(server, "/v1/audit/events", request_id=request_id, limit=200)["items"]
    return [(event["action"], event["actor_sub"]) for event in events]


def delivered(receiver: Receiver, request_id: str, event_type: WebhookEventType) -> Received:
    """The receiver's verified delivery of this event about the request, waited for: the worker delivers it after
    the decision's transaction commits, moments after the page has answered."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = [
            delivery
            for delivery in list(receiver.processed.values())
            if delivery.payload["type"] == event_type and delivery.payload["data"]["id"] == request_id
        ]
        if found:
            (delivery,) = found
            return delivery
        time.sleep(0.1)
    raise AssertionError(f"no verified {event_type} webhook came: {receiver.received}")


def test_a_guardian_signed_in_through_the_provider_finds_verifies_and_approves_a_case_with_a_condition(
    journey: Journey, seeded: Seeded, receiver: Receiver
) -> None:
    driver, case = journey.driver, f"/console/cases/{seeded.decided_id}"
    journey.sign_in("guardian")
    assert journey.path() == "/console/", journey.driver.current_url
    assert "Grace Guardian" in journey.main_text()
    console_errors(driver)  # read, so that those below are the console's (the provider's pages fetch web fonts)
    journey.save("signed-in")

    # The queue, filtered by the reference: the case alone, and its link opens it.
    journey.press(driver.find_element(By.CSS_SELECTOR, "header a[href='/console/queue']"))
    queue = journey.form("/console/queue")
    queue.find_element(By.NAME, "reference").send_keys(DECIDED_REFERENCE)
    journey.press(queue.find_element(By.CSS_SELECTOR, "button"))
    assert journey.path() == "/console/queue" and f"reference={DECIDED_REFERENCE}" in driver.current_url
    assert KEPT_REFERENCE not in journey.main_text()
    journey.save("queue-filtered")
    journey.press(driver.find_element(By.CSS_SELECTOR, f"main a[href='{case}']"))
    journey.wait_for(case)
    assert DECIDED_REFERENCE in journey.main_text() and "Not verified yet." in journey.main_text()

    # The evidence: its form folded in a details element, opened; found verified, what was checked said.
    driver.find_element(By.XPATH, "//summary[contains(., 'Verify or reject this evidence')]").click()
    evidence = journey.form(f"{case}/attachments/{seeded.attachment_id}/verify")
    journey.choose(evidence, "outcome", "verified")
    evidence.find_element(By.NAME, "checked").send_keys(CHECKED)
    journey.press(evidence.find_element(By.CSS_SELECTOR, "button"))
    journey.wait_for(case)
    assert "Verified by guardian on" in journey.main_text()

    # The decision: approved with a condition, the case claimed in the same post.
    decide = journey.form(f"{case}/decide")
    journey.choose(decide, "outcome", "approve_with_conditions")
    decide.find_element(By.NAME, "rationale").send_keys(REASONS)
    decide.find_element(By.NAME, "conditions").send_keys(CONDITION)
    journey.press(decide.find_element(By.XPATH, ".//button[normalize-space() = 'Claim and record the decision']"))
    journey.wait_for(case)
    page = journey.main_text()
    journey.save("decided")
    assert "Approved with conditions" in page and f"Conditions: {CONDITION}." in page, page
    assert not driver.find_elements(By.CSS_SELECTOR, f"form[action='{case}/decide']"), "the case can still be decided"
    assert not console_errors(driver), "the browser's errors on the way (a CSP refusal among them?)"

    # The API reports the decision, by the guardian's subject at the provider, with the condition.
    request = api(journey.server, f"/v1/sharing-requests/{seeded.decided_id}")
    decision = request["decision"]
    assert (request["status"], decision["kind"], decision["decided_by"]) == ("approved_with_conditions", *GUARDIAN)
    assert (decision["outcome"], decision["rationale"]) == ("approve_with_conditions", REASONS), decision
    assert CONDITION in decision["conditions"], decision
    events = trail(journey.server, seeded.decided_id)
    assert (AuditAction.EVIDENCE_VERIFIED, "guardian") in events and (AuditAction.REVIEWED, "guardian") in events
    assert events.index((AuditAction.EVIDENCE_VERIFIED, "guardian")) < events.index((AuditAction.REVIEWED, "guardian"))

    # The agency's system hears of both, signed with its endpoint's secret.
    delivered(receiver, seeded.decided_id, WebhookEventType.EVIDENCE_VERIFIED)
    reviewed = delivered(receiver, seeded.decided_id, WebhookEventType.REVIEWED)
    Webhook(seeded.endpoint_secret).verify(reviewed.body, reviewed.headers)  # the independent check, in the open
    assert reviewed.payload["data"]["status"] == "approved_with_conditions", reviewed.payload


def test_an_agency_user_signed_in_through_the_provider_is_refused_the_console(journey: Journey) -> None:
    journey.sign_in("agency")
    assert journey.path() == "/console/oidc/callback"
    assert "The console is for the controller's own people" in journey.driver.find_element(By.TAG_NAME, "h1").text
    errors = console_errors(journey.driver)
    assert any("status of 403" in error for error in errors), errors
    journey.save("agency-refused")
    assert not [cookie for cookie in journey.driver.get_cookies() if cookie["name"] == "caldicott_console"]
    journey.driver.get(journey.server.url("/console/queue"))
    assert journey.path() == "/console/sign-in", "no session was started"


def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(journey: Journey, seeded: Seeded) -> None:
    case, request = f"/console/cases/{seeded.kept_id}", f"/v1/sharing-requests/{seeded.kept_id}"
    before, trail_before = api(journey.server, request), trail(journey.server, seeded.kept_id)
    journey.sign_in("guardian")
    journey.driver.get(journey.server.url(case))
    console_errors(journey.driver)  # read, so that the refusal below is the only one
    decide = journey.form(f"{case}/decide")
    journey.choose(decide, "outcome", "approve")
    decide.find_element(By.NAME, "rationale").send_keys(REASONS)
    journey.driver.execute_script("arguments[0].querySelector('input[name=csrf_token]').remove()", decide)
    assert not decide.find_elements(By.NAME, "csrf_token")
    journey.press(decide.find_element(By.CSS_SELECTOR, "button"))

    assert journey.path() == f"{case}/decide"
    assert journey.driver.find_element(By.TAG_NAME, "h1").text == "This form has expired"
    errors = console_errors(journey.driver)
    assert any("status of 403" in error for error in errors), errors
    journey.save("form-refused")
    # Neither claimed nor decided: the request as it was, and the trail has only the reads of it since.
    assert api(journey.server, request) == before and before["status"] == "awaiting_review"
    added = trail(journey.server, seeded.kept_id)[len(trail_before) :]
    assert {action for action, _ in added} == {AuditAction.READ, AuditAction.HISTORY_READ}, added
