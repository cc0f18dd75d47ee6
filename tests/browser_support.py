"""A real browser for the console's tests: headless Chromium under Selenium, axe-core, and the served app it visits.

The browser and the server are real processes (Debian's `chromium` and `chromium-driver`, `caldicott serve` under
uvicorn on a free loopback port), started once per test module by its fixtures. axe-core is pinned in
tests/browser/package-lock.json and installed there with `npm ci` the first time it is needed.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from app.console.sign_in import NOT_A_NAME_CHARACTER
from app.models.vocabulary import Role
from app.platform.config import DEV_CONTROLLER_ORG
from tests.factories import REFERRED
from tests.rules.baseline import changed
from tests.support import TEST_SECRET, Tokens, npm_ci, replay_window, settings_for

REPO = Path(__file__).resolve().parents[1]
AXE_PACKAGE = REPO / "tests" / "browser"
AXE_SCRIPT = AXE_PACKAGE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# What a browser needs that a machine may lack (.ci/run installs them): the tests skip, naming it, without them.
MISSING = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()] + (
    [] if shutil.which("npm") else ["npm"]
)
# WCAG 2.2 A and AA, as axe-core tags them (2.0, 2.1 and 2.2's additions at each level).
WCAG_22_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")
# Headless as root on a machine with no outside network: without the background-networking flags Chromium's own
# calls home are refused and it stalls; the profile is a new empty folder each time.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",  # screenshots of the page alone
)
WIDTH = 1280
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
# A research request the rules refer to a guardian, who approves it: an entry of the public register.
RESEARCH = REFERRED | {
    "reference": "CONSOLE-RESEARCH-1",
    "purpose.category": "research",
    "purpose.description": "Cohort study of outcomes after discharge",
    "data_items": [
        {"category": "demographics", "form": "pseudonymised", "justification": "Needed to link the records"},
        {"category": "diagnoses", "form": "pseudonymised", "justification": "The outcome studied"},
    ],
    "legal_basis.article_9": "research",
    "legal_basis.confidentiality": "not_confidential",
    "national_data_opt_out_applied": True,
    "subjects.count": 40,
}
# The seeded decisions are replayed under this earlier edition of the shipped policy.
POLICY_NAME, REPLAYED_EDITION = "uk-caldicott-baseline", "2027.1"
# The guardian the tests sign in as: the seeded claimed case is theirs.
CONSOLE_GUARDIAN = "Grace Guardian"
CONSULTATION_QUESTION = "Is this adult known to the safeguarding team, and does the risk meet your threshold?"
RATIONALE = "Approved: ethics approval seen and the dataset limited to what the study protocol needs."


def axe_script() -> str:
    """axe-core's browser bundle at the version package-lock.json pins, installed by `npm ci` when it is not yet."""
    npm_ci(AXE_PACKAGE)
    return AXE_SCRIPT.read_text()


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a new profile, 1280 pixels wide, keeping its console log for the tests to read."""
    profile = tempfile.mkdtemp(prefix="caldicott-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={WIDTH},1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@dataclass(frozen=True)
class Served:
    """`caldicott serve` running for a module's tests: where it answers, and tokens its API accepts."""

    base_url: str
    tokens: Tokens

    def url(self, path: str) -> str:
        return self.base_url + path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(folder: Path, *, port: int | None = None, extra_env: Mapping[str, str] | None = None) -> Iterator[Served]:
    """`caldicott serve` on a loopback port (`port`, or a free one), its SQLite database in `folder`, the development
    sign-in on; `extra_env` adds settings or overrides these (a test's own identity provider, its webhook worker).

    127.0.0.1 is a secure context to Chromium, so the console's Secure cookie is kept over plain http.
    """
    port = port or free_port()
    database_url = f"sqlite+aiosqlite:///{folder / 'caldicott.db'}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CALDICOTT_")} | {
        "PYTHONPATH": str(REPO),
        "CALDICOTT_DATABASE_URL": database_url,
        "CALDICOTT_JWT_SECRET": TEST_SECRET,
        "CALDICOTT_SUBJECT_KEY": "test-subject-key",
        "CALDICOTT_AUDIT_SIGNING_KEY_FILE": str(folder / "audit-signing-key.pem"),
        "CALDICOTT_AUDIT_CHAIN_DELAY_SECONDS": "0",
        "CALDICOTT_CONSOLE_DEV_SIGN_IN": "true",
        # An identity provider that is never reached: the sign-in page offers it, and its failure page can be seen.
        "CALDICOTT_OIDC_ISSUER": f"http://127.0.0.1:{free_port()}/",
        "CALDICOTT_OIDC_CLIENT_ID": "caldicott-console",
        "CALDICOTT_OIDC_PROVIDER_NAME": "Northshire NHS account",
    }
    env |= extra_env or {}
    argv = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = (folder / "serve.log").open("wb")
    process = subprocess.Popen(argv, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError(f"caldicott serve stopped: {(folder / 'serve.log').read_text()}")
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("caldicott serve did not come up")
        yield Served(base_url, Tokens(settings_for(database_url)))
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@dataclass(frozen=True)
class Seeded:
    """What the browser tests find in the served app: a referred case with an attachment, a referred case the
    console's guardian (CONSOLE_GUARDIAN, once signed in) holds, a decided approval (an entry of the register), a
    replay of the decisions under an earlier edition of the policy, and a referred case with an attachment for the
    keyboard journey to decide (the pages checked keep theirs as seeded)."""

    referred_id: str
    referred_reference: str
    attachment_id: str
    claimed_id: str
    approved_id: str
    replay_id: str
    journey_id: str
    journey_reference: str

    PATH_PARAMETERS: ClassVar[tuple[str, ...]] = ("request_id", "attachment_id", "replay_id")

    def ids(self, *, claimed: bool = False) -> dict[str, str]:
        """The values of the console's path parameters: the referred case's, or the claimed one's."""
        request_id = self.claimed_id if claimed else self.referred_id
        return dict(zip(self.PATH_PARAMETERS, (request_id, self.attachment_id, self.replay_id), strict=True))


def guardian_headers(tokens: Tokens, sub: str = "guardian-seed") -> dict[str, str]:
    return tokens.headers(DEV_CONTROLLER_ORG, Role.GUARDIAN, sub=sub)


def dev_subject(name: str) -> str:
    """The subject the development sign-in gives a person of this name (app/console/sign_in.py)."""
    return "dev-" + (NOT_A_NAME_CHARACTER.sub("-", name.strip().lower()).strip("-") or "person")


def seed(app: Served) -> Seeded:
    """Set the served app up through its API, as an admin, an agency and a guardian would."""
    tokens = app.tokens
    agency, guardian = tokens.agency("RXT01"), guardian_headers(tokens)
    with httpx.Client(base_url=app.base_url, timeout=30) as client:

        def created(path: str, **sent: Any) -> dict[str, Any]:
            response = client.post(path, **sent)
            assert response.status_code == 201, response.text
            return dict(response.json())

        organisation = {"code": "RXT01", "name": "Northshire Research Unit", "type": "nhs_trust"}
        created("/v1/organisations", json=organisation | {"dspt_status": "standards_met"}, headers=tokens.admin())

        def referred_with_evidence(reference: str) -> tuple[dict[str, Any], dict[str, Any]]:
            case = created("/v1/sharing-requests", json=changed(REFERRED | {"reference": reference}), headers=agency)
            assert case["status"] == "awaiting_review", case
            evidence = created(
                f"/v1/sharing-requests/{case['id']}/attachments",
                data={"kind": "dpia"},
                files={"file": ("impact-assessment.pdf", PDF, "application/pdf")},
                headers=agency,
            )
            return case, evidence

        reference = "CONSOLE-REFERRED-1"
        referred, attachment = referred_with_evidence(reference)
        journey_reference = "CONSOLE-JOURNEY-1"
        journey, _ = referred_with_evidence(journey_reference)
        claimed = created(
            "/v1/sharing-requests", json=changed(REFERRED | {"reference": "CONSOLE-CLAIMED-1"}), headers=agency
        )
        held = client.post(
            f"/v1/sharing-requests/{claimed['id']}/claim",
            headers=guardian_headers(tokens, dev_subject(CONSOLE_GUARDIAN)),
        )
        assert held.status_code == 200, held.text
        consultation = {
            "role": "safeguarding_lead",
            "question": CONSULTATION_QUESTION,
            "due_at": "2099-01-01T12:00:00Z",
        }
        created(
            f"/v1/sharing-requests/{claimed['id']}/consultations",
            json=consultation,
            headers=guardian_headers(tokens, dev_subject(CONSOLE_GUARDIAN)),
        )  # for the safeguarding lead's consultations page
        approved = created("/v1/sharing-requests", json=changed(RESEARCH), headers=agency)
        path = f"/v1/sharing-requests/{approved['id']}"
        claim = client.post(f"{path}/claim", headers=guardian)
        assert claim.status_code == 200, claim.text
        decision = client.post(f"{path}/review", json={"outcome": "approve", "rationale": RATIONALE}, headers=guardian)
        assert decision.status_code == 200, decision.text
        replay = created(
            f"/v1/policies/{POLICY_NAME}/{REPLAYED_EDITION}/replay", json=replay_window(), headers=guardian
        )
    return Seeded(
        referred["id"],
        reference,
        attachment["id"],
        claimed["id"],
        approved["id"],
        replay["id"],
        journey["id"],
        journey_reference,
    )


def axe_violations(driver: WebDriver, script: str) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.2 A/AA violations on the page the browser shows (injected, as the page's CSP allows no other
    script: WebDriver's own scripts are not the page's)."""
    driver.execute_script(script)
    return list(
        driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})"
            ".then(results => done(results.violations), error => done([{id: 'axe-error', impact: 'critical',"
            " help: String(error), nodes: []}]));",
            list(WCAG_22_AA),
        )
    )


def describe(violations: list[dict[str, Any]]) -> str:
    """Each violation's id, impact, help and the elements it was found on, one to a line."""
    return "\n".join(
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(json.dumps(node["target"]) for node in violation["nodes"])
        for violation in violations
    )


def console_errors(driver: WebDriver) -> list[str]:
    """The browser's errors since it was last asked: a CSP refusal, a script error, a file that failed to load.

    Chromium words a CSP refusal as "Refused to ..." or "... violates the following Content Security Policy
    directive ..." depending on its version; both are SEVERE entries, as any other error is.
    """
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


# How the focused element is drawn, focused and not: the parts of its style a focus indicator changes.
FOCUS_LOOK = """
const element = document.activeElement;
const box = element.getBoundingClientRect();
const seen = {tag: element.tagName.toLowerCase(), text: (element.innerText || element.value || '').trim(),
              href: element.getAttribute('href') || '', name: element.getAttribute('name') || '',
              value: element.getAttribute('value') || '', tabbable: element.tabIndex >= 0 && element !== document.body,
              shown: box.width > 0 && box.height > 0 && getComputedStyle(element).visibility !== 'hidden'};
if (!seen.tabbable) return seen;  // focused by a script (a skip link's target): not a stop of the tab order
const look = () => {
  const style = getComputedStyle(element);
  return [style.outlineStyle, style.outlineWidth, style.outlineColor, style.boxShadow, style.backgroundColor,
          style.color, style.textDecorationLine, style.borderColor].join(' | ');
};
seen.focused = look();
element.blur();
seen.unfocused = look();
element.focus({preventScroll: true});
return seen;
"""


def focused(driver: WebDriver) -> dict[str, Any]:
    """The focused element: what it is, whether it is shown and, for a stop of the tab order, its look focused and not
    (blurred for a moment and focused again, which Chromium still counts as keyboard focus: :focus-visible applies)."""
    return dict(driver.execute_script(FOCUS_LOOK))


def screenshot(driver: webdriver.Chrome, path: Path) -> None:
    """The whole page, 1280 pixels wide and as tall as its content, as a PNG."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    metrics = {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(path))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
