"""The attacks of issue 12 (and issue 25's on panels),
replayed over real HTTP against the service as it runs; one line each, PASS or FAIL.

Every service is `caldicott serve` in its own process, on a database of the throwaway PostgreSQL
cluster bench/pg.sh starts, run from an empty folder so that no `.env` in the project changes it:

* main: development tokens (HS256 with the bench secret); the webhook worker inside `serve`, with a
  short retry schedule; private destinations allowed, so that a receiver on loopback can play both
  the attacker's endpoint and a fair agency's; RXT01, DEAC1 and GHOST1 as guardian organisations (issue 25:
  every other organisation's guardian, and every organisation's auditor and admin but the controller's, is refused);
* strict: private destinations refused (the SSRF guard as production has it), a reads quota of 5 a
  minute, and 2 s for a request head;
* jwks: tokens verified against a JWKS file only, no shared secret, as production does (main's database);
* `caldicott serve` with CALDICOTT_ENV=production, which must refuse unsafe settings in one line.

Prints `PASS  <what was tried> — <what happened>` (or FAIL) per attack and a summary line; exit status
0 only if every attack was held.

    bench/pg.sh .venv/bin/python -m bench.security   (make security)
"""

import asyncio
import base64
import csv
import hashlib
import hmac
import io
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from app.models.vocabulary import Role
from app.rules.policy_documents import shipped_path
from app.services.audit import signing as audit_signing
from bench.common import (
    JWT_SECRET,
    VENV_BIN,
    Process,
    create_database,
    exit_on_sigterm,
    free_port,
    log_dir,
    migrate_argv,
    run_checked,
    serve_argv,
    service_env,
    token,
    wait_until_up,
)
from tests.factories import COURT_ORDER
from tests.rules.baseline import baseline_request, changed, item
from tests.rules.test_policy_2027_2 import court_order_request
from tests.webhook_receiver import Answer, Receiver, running

LOGS = log_dir("security")
CLEAN = LOGS / "cwd"  # where every service runs: an empty folder, so no .env is read
PROBLEM = "application/problem+json"
CONTROLLER = "CONTROLLER"
RETRY_SCHEDULE = [0, 3, 10]  # seconds before each attempt on main: a receiver's Retry-After is capped at 10
HEAD_TIMEOUT = 2  # strict: seconds a client has for a request head
READS_QUOTA, READS_WINDOW = 5, 60  # strict: five reads at once, one more every 12 s
FAIR_WITHIN = 5.0  # seconds in which a fair agency's delivery must arrive while another's receiver misbehaves
REFERRED = {"recipient.onward_sharing": True}  # the rules refer this to a guardian
RATIONALE = "Shared care plan agreed with the recipient; onward sharing limited to the named team."
WHEN = "2026-11-26T09:00:00+00:00"
ROW_ID = "0192f6a4-0000-7000-8000-000000000000"
FORMULA = '=HYPERLINK("http://evil.example/x","Open the referral")'
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# main's guardian organisations besides the controller: RXT01 (so that its guardian meets the own-organisation rule, not
# a refused role), DEAC1 and GHOST1 (so that theirs meet the deactivation and registration checks).
GUARDIAN_ORGS = ["RXT01", "DEAC1", "GHOST1"]
VERIFIED_ORDER = {
    "issued_by": "Family Court at Leeds",
    "issued_on": "2026-11-20",
    "number": "ZW26C00123",
    "sealed_or_signed": True,
    "in_date": True,
    "addressed_to_controller": True,
    "covers_information": True,
}


# --- Bookkeeping ----------------------------------------------------------------------------------


@dataclass
class Ledger:
    """Every attack's line, printed as it is decided; every HTTP answer the run received, counted."""

    lines: list[bool] = field(default_factory=list)
    answers: int = 0
    server_errors: list[str] = field(default_factory=list)

    def record(self, tried: str, problems: list[str], happened: str) -> None:
        """One line: PASS with what happened, or FAIL with what went wrong."""
        self.lines.append(not problems)
        verdict = "PASS" if not problems else "FAIL"
        print(f"{verdict}  {tried} — {happened if not problems else '; '.join(problems)}", flush=True)

    async def note(self, response: httpx.Response) -> None:
        self.answers += 1
        if response.status_code >= 500:
            self.server_errors.append(f"{response.request.method} {response.request.url.path} answered {response.status_code}")


LEDGER = Ledger()


class Service(Process):
    """A `caldicott` process started from an empty folder:
    a developer's .env in the project must not change what is attacked."""

    def start(self) -> "Service":
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(self.argv, env=self.env, cwd=CLEAN, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        STARTED.append(self)
        return self


STARTED: list[Service] = []


@dataclass
class Server:
    """One `caldicott serve` on a free loopback port."""

    name: str
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: Service | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = Service(self.name, serve_argv(self.port), env=self.env, log_dir=LOGS).start()
        wait_until_up(f"{self.url}/healthz", process=self.process, timeout=90)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=60, event_hooks={"response": [LEDGER.note]})


def auth(org: str, role: Role, sub: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(org=org, role=role, sub=sub)}"}


def admin() -> dict[str, str]:
    return auth(CONTROLLER, Role.ADMIN)


def is_problem(response: httpx.Response, status: int) -> bool:
    return response.status_code == status and response.headers.get("content-type") == PROBLEM


def detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail"))
    except ValueError:
        return response.text[:120]


def answered(response: httpx.Response) -> str:
    """How an answer looked, in a few words."""
    kind = "problem" if response.headers.get("content-type") == PROBLEM else response.headers.get("content-type", "no content type")
    return f"{response.status_code} {kind}"


def error_fields(response: httpx.Response) -> list[str]:
    return [error["field"] for error in response.json().get("errors", [])]


async def register(api: httpx.AsyncClient, code: str, kind: str = "nhs_trust") -> None:
    body = {"code": code, "name": f"Security check {code}", "type": kind, "dspt_status": "standards_met"}
    response = await api.post("/v1/organisations", json=body, headers=admin())
    if response.status_code != 201:
        raise RuntimeError(f"registering {code}: {response.status_code} {response.text}")


async def submitted(api: httpx.AsyncClient, org: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post("/v1/sharing-requests", json=body, headers=auth(org, Role.AGENCY))
    if response.status_code != 201:
        raise RuntimeError(f"submitting as {org}: {response.status_code} {response.text}")
    return dict(response.json())


async def endpoint(api: httpx.AsyncClient, headers: dict[str, str], url: str, event_types: list[str]) -> dict[str, Any]:
    response = await api.post("/v1/webhook-endpoints", json={"url": url, "event_types": event_types}, headers=headers)
    if response.status_code != 201:
        raise RuntimeError(f"registering the endpoint {url}: {response.status_code} {response.text}")
    return dict(response.json())


async def deliveries(api: httpx.AsyncClient, headers: dict[str, str], endpoint_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", params={"limit": 200}, headers=headers)
    response.raise_for_status()
    return list(response.json()["items"])


async def until(condition: Callable[[], Awaitable[bool]], *, within: float, every: float = 0.1) -> bool:
    """Poll until the condition holds; False if it never did in time."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(every)
    return await condition()


def at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


# --- Tokens made by hand, independently of the service's JWT library ---------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values = {"sub": "attacker", "org": "RXT01", "roles": ["agency"], "iss": "caldicott-dev", "aud": "caldicott-api", "iat": now, "exp": now + 600}
    return values | overrides


def signed(header: dict[str, Any], payload: dict[str, Any], *, secret: bytes | None = None, key: rsa.RSAPrivateKey | None = None) -> str:
    """A compact JWS: HMAC-SHA256 with `secret`, RSA-SHA256 with `key`, or an empty signature."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}".encode()
    if secret is not None:
        signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    elif key is not None:
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = b""
    return f"{signing_input.decode()}.{b64(signature)}"


def jwks_of(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    return {
        "keys": [{"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig", "n": b64(numbers.n.to_bytes(256, "big")), "e": b64(numbers.e.to_bytes(3, "big"))}]
    }


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def refused_401(response: httpx.Response) -> list[str]:
    problems = []
    if not is_problem(response, 401):
        problems.append(f"answered {answered(response)}: {response.text[:160]}")
    elif not response.headers.get("www-authenticate", "").startswith("Bearer"):
        problems.append("401 without WWW-Authenticate: Bearer")
    return problems


# --- 1. A receiver whose Retry-After stalled every agency's webhooks -------------------------------


async def poisoned_receiver(main: Server, receiver: Receiver) -> None:
    """An agency's receiver answers 503 with Retry-After values that broke the worker;
    a fair agency's deliveries still arrive."""
    poisons = {"/poison-big": "99999999999999999999", "/poison-sup": "²"}
    events = ["sharing_request.decided", "sharing_request.referred"]
    async with main.client() as api:
        await register(api, "POISON")
        await register(api, "FAIR", "local_authority")
        poisoner, fair = auth("POISON", Role.AGENCY), auth("FAIR", Role.AGENCY)
        hooks = {path: await endpoint(api, poisoner, receiver.url(path), events) for path in poisons}
        for path, value in poisons.items():
            receiver.always(path, Answer(503, {"Retry-After": value}))
        fair_hook = await endpoint(api, fair, receiver.url("/fair"), events)
        receiver.secrets["/fair"] = fair_hook["secret"]
        submissions = 30  # sixty deliveries, one claimed at a time: the stalled worker took 0.2 s over each
        for index in range(submissions):
            await submitted(api, "POISON", changed({"reference": f"POISON-{index}"}))

        fair_waits: list[float | None] = []

        async def fair_delivery() -> None:
            before = len(receiver.at("/fair"))
            await submitted(api, "FAIR", changed({"reference": f"FAIR-{len(fair_waits)}"}))
            sent = time.monotonic()

            async def arrived() -> bool:
                return len(receiver.at("/fair")) > before

            fair_waits.append(round(time.monotonic() - sent, 2) if await until(arrived, within=FAIR_WITHIN * 3, every=0.05) else None)

        async def history(path: str) -> list[dict[str, Any]]:
            return await deliveries(api, poisoner, hooks[path]["id"])

        async def attempted(path: str, times: int) -> bool:
            rows = await history(path)
            return len(rows) == submissions and all(len(row["attempts"]) >= times for row in rows)

        await fair_delivery()  # right behind thirty poisoned submissions, sixty deliveries
        await until(lambda: attempted("/poison-sup", 2), within=15, every=0.25)
        await fair_delivery()  # while the first retries fail
        await until(lambda: attempted("/poison-big", 2), within=25, every=0.25)
        await fair_delivery()  # while the capped retries fail
        histories = {path: await history(path) for path in poisons}

    longest = max(RETRY_SCHEDULE)
    expected_gap = {"/poison-big": (longest - 0.1, longest * 1.1 + 2), "/poison-sup": (RETRY_SCHEDULE[1] * 0.9 - 0.1, RETRY_SCHEDULE[1] * 1.1 + 2)}
    for path, value in poisons.items():
        problems, first_gaps = [], []
        rows = histories[path]
        if len(rows) != submissions:
            problems.append(f"{len(rows)} deliveries, want {submissions}")
        for row in rows:
            attempts = row["attempts"]
            if len(attempts) < 2:
                problems.append(
                    f"delivery {row['id']} has {len(attempts)} attempts recorded "
                    f"(status {row['status']}), want at least 2"
                )
                continue
            if any((attempt["response_status"], attempt["error"]) != (503, None) for attempt in attempts):
                problems.append(
                    f"delivery {row['id']}: attempts recorded as "
                    f"{[(a['response_status'], a['error']) for a in attempts]}"
                )
            gap = (at(attempts[1]["attempted_at"]) - at(attempts[0]["attempted_at"])).total_seconds()
            first_gaps.append(gap)
            low, high = expected_gap[path]
            if not low <= gap <= high:
                problems.append(f"delivery {row['id']}: second attempt {gap:.1f} s after the first, want {low:g}-{high:g} s")
            if row["status"] == "pending" and row["next_attempt_at"] is None:
                problems.append(f"delivery {row['id']} is pending with no next attempt")
        meaning = f"capped at the schedule's longest, {longest} s" if path == "/poison-big" else f"header ignored: the schedule's {RETRY_SCHEDULE[1]} s"
        spread = f"{min(first_gaps):.1f}-{max(first_gaps):.1f} s" if first_gaps else "n/a"
        LEDGER.record(
            f"a receiver answering 503 with Retry-After: {value} ({submissions} deliveries)",
            problems[:3],
            f"every attempt recorded as a failed 503, rescheduled and retried {spread} later ({meaning}), "
            "failing again; none left unrecorded",
        )
    problems = []
    if len(fair_waits) != 3 or any(wait is None or wait > FAIR_WITHIN for wait in fair_waits):
        problems.append(f"its deliveries took {fair_waits} s (want each within {FAIR_WITHIN:g} s)")
    if not all(delivery.verified for delivery in receiver.at("/fair")):
        problems.append("a delivery's signature did not verify")
    LEDGER.record(
        "another agency's endpoint while the poisoned ones keep failing",
        problems,
        f"its 3 deliveries arrived {', '.join(f'{wait:.2f}' for wait in fair_waits if wait is not None)} s after "
        "submission, signatures verified",
    )


# --- 2. Crafted token headers and claims ---------------------------------------------------------------


async def crafted_tokens(main: Server, jwks: Server) -> None:
    """Tokens whose header or claims have the wrong types are 401 problems, never a 500."""
    secret = JWT_SECRET.encode()
    cases = [
        ("unsigned token with alg as a list (eyJhbGciOiBbIkhTMjU2Il19.eyJzdWIiOiAieCJ9.AAAA)", main, "eyJhbGciOiBbIkhTMjU2Il19.eyJzdWIiOiAieCJ9.AAAA"),
        ('token header {"alg":"HS256","kid":["k1"]}, garbage signature', main, signed({"alg": "HS256", "kid": ["k1"]}, claims()) + "AAAA"),
        ('token header {"alg":"HS256","kid":["k1"]}, signed with the real secret', main, signed({"alg": "HS256", "kid": ["k1"]}, claims(), secret=secret)),
        ('token header {"alg":"RS256","kid":["k1"]} against the JWKS-only instance', jwks, signed({"alg": "RS256", "kid": ["k1"]}, claims()) + "AAAA"),
        (
            'token header with "crit": ["exp"], signed with the real secret',
            main,
            signed({"alg": "HS256", "typ": "JWT", "crit": ["exp"]}, claims(), secret=secret),
        ),
        (
            "token whose exp is a numeric string, signed with the real secret",
            main,
            signed({"alg": "HS256", "typ": "JWT"}, claims(exp=str(int(time.time()) + 600)), secret=secret),
        ),
    ]
    async with main.client() as api:
        control = await api.get("/v1/sharing-requests", headers=bearer(signed({"alg": "HS256", "typ": "JWT"}, claims(), secret=secret)))
    for tried, server, crafted in cases:
        async with server.client() as api:
            response = await api.get("/v1/sharing-requests", headers=bearer(crafted))
        problems = refused_401(response)
        if "real secret" in tried and control.status_code != 200:
            problems.append(f"the same token without the crafted part answered {control.status_code}, so this proves nothing")
        LEDGER.record(tried, problems, f"401 problem: {detail(response)}" + (" (the same token made properly: 200)" if "real secret" in tried else ""))


# --- 3. Crafted cursors ------------------------------------------------------------------------------


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


async def crafted_cursors(main: Server) -> None:
    """Cursors holding keys the service never issues are 422 naming `cursor` on every list that had a 500."""
    lists = {
        "/v1/sharing-requests": (auth("RXT01", Role.AGENCY), [WHEN, ROW_ID], 0),
        "/v1/review-queue": (auth(CONTROLLER, Role.GUARDIAN), [1, WHEN, ROW_ID], 1),
        "/v1/reports/decision-log": (auth(CONTROLLER, Role.GUARDIAN), [WHEN, ROW_ID], 0),
    }
    async with main.client() as api:
        for path, (headers, key, when) in lists.items():

            def with_value(index: int, value: Any, key: list[Any] = key) -> list[Any]:
                return [value if position == index else old for position, old in enumerate(key)]

            forged = {
                "time offset +99:00": with_value(when, "2026-11-26T09:00:00+99:00"),
                "0001-01-01 at +01:00 (before year 1 in UTC)": with_value(when, "0001-01-01T00:00:00+01:00"),
                "a lone surrogate": with_value(len(key) - 1, "\ud800"),
                "2^40": with_value(0, 2**40),
            }
            problems = []
            well_formed = await api.get(path, params={"cursor": cursor_of(key)}, headers=headers)
            if well_formed.status_code != 200:
                problems.append(f"a well-formed cursor answered {well_formed.status_code}: {well_formed.text[:120]}")
            for name, value in forged.items():
                response = await api.get(path, params={"cursor": cursor_of(value)}, headers=headers)
                if not is_problem(response, 422) or error_fields(response) != ["cursor"]:
                    problems.append(f"{name}: {answered(response)} {response.text[:120]}")
            LEDGER.record(f"forged cursors on GET {path} ({', '.join(forged)})", problems, "each 422 problem naming cursor; a well-formed cursor 200")


# --- 4. Deactivation -----------------------------------------------------------------------------------


async def deactivation(main: Server) -> None:
    """Every role's token of a deactivated or unregistered organisation is refused 403 wherever it goes."""
    async with main.client() as api:
        await register(api, "DEAC1", "local_authority")
        first = (await submitted(api, "RXT01", changed(REFERRED | {"reference": "DEAC-1"})))["id"]
        second = (await submitted(api, "RXT01", changed(REFERRED | {"reference": "DEAC-2"})))["id"]
        review = {"outcome": "approve", "rationale": RATIONALE}

        def calls(org: str) -> dict[Role, list[tuple[str, str, str, Any]]]:
            return {
                Role.AGENCY: [("list requests", "GET", "/v1/sharing-requests", None), ("submit", "POST", "/v1/sharing-requests", baseline_request())],
                Role.GUARDIAN: [
                    ("review queue", "GET", "/v1/review-queue", None),
                    ("claim", "POST", f"/v1/sharing-requests/{second}/claim", None),
                    ("approve", "POST", f"/v1/sharing-requests/{first}/review", review),
                    ("decision log", "GET", "/v1/reports/decision-log", None),
                ],
                Role.AUDITOR: [
                    ("audit events", "GET", "/v1/audit/events", None),
                    ("audit verify", "GET", "/v1/audit/verify", None),
                    ("decision log", "GET", "/v1/reports/decision-log", None),
                    ("read a request", "GET", f"/v1/sharing-requests/{first}", None),
                ],
                Role.ADMIN: [
                    ("list organisations", "GET", "/v1/organisations", None),
                    (
                        "register an organisation",
                        "POST",
                        "/v1/organisations",
                        {"code": f"EVIL-{org}", "name": "Not allowed", "type": "other", "dspt_status": "standards_met"},
                    ),
                    ("change an organisation", "PATCH", "/v1/organisations/RXT02", {"dspt_status": "standards_met"}),
                ],
            }

        # While DEAC1 (a guardian organisation of main: GUARDIAN_ORGS) is in good standing its people work; its guardian
        # claims the first request. Its auditor and admin never did: those roles are the controller's alone (issue 25).
        control = {
            Role.AGENCY: await api.get("/v1/sharing-requests", headers=auth("DEAC1", Role.AGENCY)),
            Role.GUARDIAN: await api.post(f"/v1/sharing-requests/{first}/claim", headers=auth("DEAC1", Role.GUARDIAN)),
        }
        not_ok = {str(role): response.status_code for role, response in control.items() if response.status_code != 200}
        LEDGER.record(
            "the same organisation's tokens while it is active (control)",
            [f"answered {not_ok}"] if not_ok else [],
            "agency list, guardian claim: each 200",
        )
        current = (await api.get("/v1/organisations/DEAC1", headers=admin())).headers["ETag"]  # an admin PATCH must name the version it changes
        deactivated = await api.patch("/v1/organisations/DEAC1", json={"active": False}, headers=admin() | {"If-Match": current})
        if deactivated.status_code != 200:
            raise RuntimeError(f"deactivating DEAC1: {deactivated.status_code} {deactivated.text}")

        for org, state in (("DEAC1", "deactivated"), ("GHOST1", "not registered")):
            for role, role_calls in calls(org).items():
                # An auditor's or admin's token of any organisation but the controller
                # is refused before its standing is read.
                why = f"organisation {org!r} is {state}" if role in (Role.AGENCY, Role.GUARDIAN) else not_honoured(role, org)
                problems = []
                for name, method, path, body in role_calls:
                    response = await api.request(method, path, json=body, headers=auth(org, role))
                    if not is_problem(response, 403) or detail(response) != why:
                        problems.append(f"{name}: {answered(response)} {detail(response)}")
                LEDGER.record(
                    f"{role} token of {'deactivated' if state == 'deactivated' else 'unregistered'} {org}: "
                    f"{', '.join(call[0] for call in role_calls)}",
                    problems,
                    f'each 403 problem "{why}"',
                )
        still = (await api.get(f"/v1/sharing-requests/{first}", headers=auth(CONTROLLER, Role.GUARDIAN))).json()
        evil = await api.get("/v1/organisations/EVIL-DEAC1", headers=admin())
        LEDGER.record(
            "what the refused calls would have changed",
            ([] if still["status"] != "approved" else ["the request was approved"]) + ([] if evil.status_code == 404 else ["EVIL-DEAC1 was registered"]),
            f"the request DEAC1's guardian held is still {still['status']}; no organisation was registered",
        )


def not_honoured(role: Role, org: str) -> str:
    """The detail of the 403 for a controller's role claimed by another organisation's token (app/powers.py)."""
    holders = "the controller organisation or a configured guardian organisation" if role is Role.GUARDIAN else "the controller organisation"
    return f"role {role} is honoured only for {holders}, not for {org!r}"


def held_as_not_honoured(name: str, response: httpx.Response, role: Role, org: str) -> list[str]:
    if is_problem(response, 403) and response.json().get("type") == "/problems/role-not-honoured" and detail(response) == not_honoured(role, org):
        return []
    return [f"{name}: {answered(response)} {detail(response)}"]


def logged_refusal(main: Server, *, role: Role, sub: str, org: str) -> list[str]:
    """The warning the refusal leaves in main's log: the organisation, the sub and the role, never the token."""
    assert main.process is not None
    lines = [line for line in main.process.log_path.read_text(errors="replace").splitlines() if "refused role" in line]
    if not any(f"refused role {role} claimed by sub {sub} of organisation {org}" in line for line in lines):
        return [f"no warning logged for {org}'s {role} {sub}"]
    return ["a token was logged"] if any("eyJ" in line for line in lines) else []  # every JWT's header starts so


# --- 4b. Powers belong to the controller (issue 25) ----------------------------------------------------


async def police_admin_sets_policy(main: Server) -> None:
    """A police token with role admin uploads its own policy and activates one: both refused, nothing changes."""
    async with main.client() as api:
        await register(api, "POL1", "police")
        before = (await api.get("/v1/policies", headers=admin())).json()
        police = auth("POL1", Role.ADMIN, "pol1-admin")
        document = yaml.safe_load(shipped_path("2027.1").read_bytes())
        document.update(name="pol1-own", version="1", derived_from={"name": "uk-caldicott-baseline", "version": "2027.1"})
        document["thresholds"]["bulk_subjects"] = 100000  # what such a policy would be for
        upload = await api.post("/v1/policies", content=yaml.safe_dump(document).encode(), headers={"Content-Type": "application/yaml"} | police)
        activate = await api.post("/v1/policies/uk-caldicott-baseline/2026.1/activate", headers=police)
        body = {"code": "EVIL-POL1", "name": "Not allowed", "type": "other", "dspt_status": "standards_met"}
        registered = await api.post("/v1/organisations", json=body, headers=police)
        after = (await api.get("/v1/policies", headers=admin())).json()
        evil = await api.get("/v1/organisations/EVIL-POL1", headers=admin())
    problems = [
        *held_as_not_honoured("upload", upload, Role.ADMIN, "POL1"),
        *held_as_not_honoured("activate 2026.1", activate, Role.ADMIN, "POL1"),
        *held_as_not_honoured("register an organisation", registered, Role.ADMIN, "POL1"),
        *([] if after == before else ["the policies held or the active one changed"]),
        *([] if evil.status_code == 404 else ["EVIL-POL1 was registered"]),
        *logged_refusal(main, role=Role.ADMIN, sub="pol1-admin", org="POL1"),
    ]
    LEDGER.record(
        "a police admin token uploading its own policy, activating 2026.1, registering an organisation",
        problems,
        "each 403 problem role-not-honoured, logged with organisation, sub and role; "
        "the policies and organisations are as they were",
    )


async def police_guardian_approves(main: Server) -> None:
    """A police token with role guardian claims and approves another agency's referred request."""
    async with main.client() as api:
        referred = (await submitted(api, "RXT01", changed(REFERRED | {"reference": "POWERS-1"})))["id"]
        police, controller = auth("POL1", Role.GUARDIAN, "pol1-guardian"), auth(CONTROLLER, Role.GUARDIAN)
        queue = await api.get("/v1/review-queue", headers=police)
        claim = await api.post(f"/v1/sharing-requests/{referred}/claim", headers=police)
        # Claimed by the controller's guardian, the request is where a review may be made:
        # only the role stands in the way.
        held = await api.post(f"/v1/sharing-requests/{referred}/claim", headers=controller)
        review = await api.post(f"/v1/sharing-requests/{referred}/review", json={"outcome": "approve", "rationale": RATIONALE}, headers=police)
        after = (await api.get(f"/v1/sharing-requests/{referred}", headers=controller)).json()
    problems = [
        *held_as_not_honoured("review queue", queue, Role.GUARDIAN, "POL1"),
        *held_as_not_honoured("claim", claim, Role.GUARDIAN, "POL1"),
        *held_as_not_honoured("approve", review, Role.GUARDIAN, "POL1"),
        *([] if held.status_code == 200 else [f"the controller's guardian could not claim it ({held.status_code})"]),
        *([] if after["decision"]["decided_by"] == "rules" else [f"the request is now {after['status']}, decided by {after['decision']['decided_by']}"]),
    ]
    LEDGER.record(
        "a police guardian token reading the queue, claiming RXT01's request, "
        "approving it while the controller's guardian holds it",
        problems,
        f"each 403 problem: {detail(review)}; the rules' referral still stands",
    )


async def trust_auditor_reads_the_trail(main: Server) -> None:
    """An NHS trust's token with role auditor reads the audit trail and searches disclosures by NHS number."""
    async with main.client() as api:
        trust = auth("RXT01", Role.AUDITOR, "rxt01-auditor")
        events = await api.get("/v1/audit/events", params={"limit": 200}, headers=trust)
        verify = await api.get("/v1/audit/verify", headers=trust)
        search = await api.post("/v1/reports/subject-disclosures", json={"identifier": "9990000018"}, headers=trust)
    problems = [
        *held_as_not_honoured("audit events", events, Role.AUDITOR, "RXT01"),
        *held_as_not_honoured("audit verify", verify, Role.AUDITOR, "RXT01"),
        *held_as_not_honoured("disclosures by NHS number", search, Role.AUDITOR, "RXT01"),
        *([] if "items" not in events.text and "actor_sub" not in events.text else ["something of the trail showed"]),
    ]
    LEDGER.record(
        "an NHS trust's auditor token reading the audit trail, verifying it, searching disclosures by NHS number",
        problems,
        "each 403 problem role-not-honoured; nothing of the trail showed",
    )


# --- 5. Webhook endpoint changes are audited ---------------------------------------------------------


async def chained(api: httpx.AsyncClient, auditor: dict[str, str], *, within: float = 5.0) -> None:
    """Wait until no audit event is pending: events join the listed chain a bounded moment after their commit
    (CALDICOTT_AUDIT_CHAIN_DELAY_SECONDS)."""
    for _ in range(int(within / 0.05)):
        if not (await api.get("/v1/audit/verify", headers=auditor)).json().get("pending", 0):
            return
        await asyncio.sleep(0.05)


async def endpoint_audit(main: Server, receiver: Receiver) -> None:
    """Register, change, re-key and delete an endpoint (an agency's, and a controller-wide one);
    each is in the audit trail."""
    auditor = auth(CONTROLLER, Role.AUDITOR)
    async with main.client() as api:
        await register(api, "AUDIT1")
        for org, headers in (("AUDIT1", auth("AUDIT1", Role.AGENCY)), (CONTROLLER, admin())):
            since = datetime.now(UTC).isoformat()
            hook = await endpoint(api, headers, receiver.url(f"/audit-{org.lower()}"), ["sharing_request.withdrawn"])
            secrets_shown = [hook["secret"]]
            steps = {
                "webhook_endpoint_registered": 201,
                "webhook_endpoint_changed": (await api.patch(f"/v1/webhook-endpoints/{hook['id']}", json={"enabled": False}, headers=headers)).status_code,
            }
            rotated = await api.post(f"/v1/webhook-endpoints/{hook['id']}/rotate-secret", headers=headers)
            steps["webhook_secret_rotated"] = rotated.status_code
            secrets_shown += [rotated.json().get("secret", "")] if rotated.status_code == 200 else []
            steps["webhook_endpoint_deleted"] = (await api.delete(f"/v1/webhook-endpoints/{hook['id']}", headers=headers)).status_code
            await chained(api, auditor)
            trail = await api.get("/v1/audit/events", params={"organisation": org, "from": since, "limit": 200}, headers=auditor)
            actions = [event["action"] for event in trail.json()["items"] if event["target_id"] == hook["id"]] if trail.status_code == 200 else []
            problems = []
            if not all(status in (200, 201, 204) for status in steps.values()):
                problems.append(f"the changes answered {steps}")
            missing = [action for action in steps if action not in actions]
            if missing:
                problems.append(f"no audit event {missing} (found {actions}, audit list answered {trail.status_code})")
            if any(secret and secret in trail.text for secret in secrets_shown):
                problems.append("a signing secret is in the audit trail")
            scope = "an agency's endpoint" if org != CONTROLLER else "a controller-wide endpoint (receives every agency's events)"
            LEDGER.record(
                f"register, patch, rotate and delete {scope}",
                problems,
                "GET /v1/audit/events as the controller's auditor shows "
                f"{', '.join(sorted(set(actions)))}; no secret in the trail",
            )


# --- 6. Large submissions ------------------------------------------------------------------------------


def identifiers(count: int) -> list[str]:
    return [f"{9990000000 + number}" for number in range(count)]


async def large_submissions(main: Server) -> None:
    """Submissions too large are refused at once with a small answer; the largest allowed is still accepted."""
    async with main.client() as api:
        await register(api, "BULK")
        agency = auth("BULK", Role.AGENCY)
        huge = changed({"subjects.count": 10_000, "subjects.identifiers": identifiers(10_000)})
        refused = await api.post("/v1/sharing-requests", json=huge, headers=agency)
        problems = []
        if not is_problem(refused, 422) or error_fields(refused) != ["subjects.identifiers"]:
            problems.append(
                f"answered {answered(refused)} with fields "
                f"{error_fields(refused) if refused.status_code == 422 else refused.text[:120]}"
            )
        LEDGER.record(
            "a submission listing 10,000 identifiers",
            problems,
            "one 422 error naming subjects.identifiers "
            f"({refused.json()['errors'][0]['message'] if not problems else ''}), {len(refused.content)} bytes",
        )

        async def timed_read() -> float:
            started = time.monotonic()
            (await api.get("/v1/sharing-requests", params={"limit": 1}, headers=auth("RXT02", Role.AGENCY))).raise_for_status()
            return time.monotonic() - started

        together = await asyncio.gather(*(api.post("/v1/sharing-requests", json=huge, headers=agency) for _ in range(6)), timed_read())
        statuses, read = [response.status_code for response in together[:-1]], together[-1]
        LEDGER.record(
            "six 10,000-identifier submissions at once, and another agency reading meanwhile",
            [] if statuses == [422] * 6 and read < 2 else [f"answers {statuses}, the read took {read:.2f} s (want under 2 s)"],
            f"each 422; the read was answered in {read * 1000:.0f} ms",
        )

        invalid = baseline_request() | {f"unknown_{number}": 0 for number in range(10_000)}
        response = await api.post("/v1/sharing-requests", json=invalid, headers=agency)
        problem = response.json() if response.headers.get("content-type") == PROBLEM else {}
        problems = []
        if not is_problem(response, 422) or len(problem.get("errors", [])) != 50 or problem.get("error_count") != 10_000:
            problems.append(
                f"answered {answered(response)}, {len(problem.get('errors', []))} errors listed, "
                f"error_count {problem.get('error_count')}"
            )
        if len(response.content) >= 10_000:
            problems.append(f"the problem document is {len(response.content)} bytes")
        LEDGER.record(
            "a body with 10,000 unknown fields (10,000 validation errors)",
            problems,
            f"422 listing the first 50 errors, error_count 10000, {len(response.content)} bytes",
        )

        most = changed({"reference": "BULK-1000", "subjects.count": 1000, "subjects.identifiers": identifiers(1000)})
        accepted = await api.post("/v1/sharing-requests", json=most, headers=agency)
        hashes_kept = len(accepted.json()["request"]["subjects"]["identifier_hashes"]) if accepted.status_code == 201 else 0
        LEDGER.record(
            "a submission listing 1,000 identifiers (the limit)",
            [] if (accepted.status_code, hashes_kept) == (201, 1000) else [f"answered {answered(accepted)}, {hashes_kept} hashes: {accepted.text[:160]}"],
            f"201 {accepted.json().get('status') if accepted.status_code == 201 else ''}, 1000 identifier hashes kept",
        )


# --- 7. Production refuses unsafe settings -------------------------------------------------------------


async def production_refusals(database_url: str, jwks_file: Path) -> None:
    """`caldicott serve` in production stops at once, in one line, on the SSRF guard off or a short subject key."""
    keys_folder = Path(tempfile.mkdtemp(prefix="caldicott-security-"))
    audit_keys = keys_folder / "audit-keys.json"  # the API publishes the checkpoint keys; the signing key is the worker's
    signer = audit_signing.generate(keys_folder / "audit-signing-key.pem")
    audit_signing.write_key_set(audit_keys, {signer.kid: signer.jwk})
    safe = {key: value for key, value in os.environ.items() if not key.startswith("CALDICOTT_")} | {
        "CALDICOTT_ENV": "production",
        "CALDICOTT_DATABASE_URL": database_url,
        "CALDICOTT_JWKS_FILE": str(jwks_file),
        "CALDICOTT_SUBJECT_KEY": secrets.token_urlsafe(48),
        "CALDICOTT_CONTROLLER_ORG": "NHSPROD",
        "CALDICOTT_AUDIT_PUBLIC_KEYS_FILE": str(audit_keys),
    }
    unsafe = {
        "CALDICOTT_WEBHOOK_ALLOW_PRIVATE=true": ({"CALDICOTT_WEBHOOK_ALLOW_PRIVATE": "true"}, "CALDICOTT_WEBHOOK_ALLOW_PRIVATE"),
        "a one-character CALDICOTT_SUBJECT_KEY": ({"CALDICOTT_SUBJECT_KEY": "k"}, "CALDICOTT_SUBJECT_KEY of at least 32 bytes"),
    }
    argv = [str(VENV_BIN / "caldicott"), "serve", "--host", "127.0.0.1", "--port", str(free_port())]
    for tried, (change, named) in unsafe.items():

        def attempt(change: dict[str, str] = change) -> subprocess.CompletedProcess[str]:
            return subprocess.run(argv, env=safe | change, cwd=CLEAN, capture_output=True, text=True, timeout=60)

        try:
            done = await asyncio.to_thread(attempt)
        except subprocess.TimeoutExpired:
            LEDGER.record(f"caldicott serve in production with {tried}", ["it started and was still serving after 60 s"], "")
            continue
        said = done.stderr.strip().splitlines()
        problems = []
        if done.returncode == 0:
            problems.append("exit status 0")
        if len(said) != 1 or named not in said[0]:
            problems.append(f"said {said!r} (want one line naming {named})")
        LEDGER.record(f"caldicott serve in production with {tried}", problems, f"exit status {done.returncode}: {said[0] if said else ''}")

    control = Server("production", safe)
    try:
        await asyncio.to_thread(control.start)
        started = ""
    except RuntimeError as error:
        started = str(error)
    finally:
        if control.process is not None:
            control.process.stop()
    LEDGER.record("caldicott serve in production with the same settings made safe (control)", [started] if started else [], "starts and answers /healthz")


# --- 8. Fair use: endpoints per agency, requests per client, half-sent requests ------------------------


async def endpoint_limit(main: Server, receiver: Receiver) -> None:
    """An agency's 11th webhook endpoint is a 409."""
    async with main.client() as api:
        await register(api, "HOOKS")
        agency = auth("HOOKS", Role.AGENCY)
        body = {"event_types": ["sharing_request.withdrawn"]}
        created = [(await api.post("/v1/webhook-endpoints", json=body | {"url": receiver.url(f"/limit-{n}")}, headers=agency)).status_code for n in range(10)]
        eleventh = await api.post("/v1/webhook-endpoints", json=body | {"url": receiver.url("/limit-10")}, headers=agency)
    LEDGER.record(
        "an agency registering its 11th webhook endpoint",
        [] if created == [201] * 10 and is_problem(eleventh, 409) else [f"the first ten answered {created}, the 11th {answered(eleventh)}"],
        f"the first ten 201, the 11th 409 problem: {detail(eleventh)}",
    )


async def rate_limit(strict: Server) -> None:
    """A client past its organisation's quota gets 429 with Retry-After and the draft's RateLimit fields;
    another organisation does not."""
    async with strict.client() as api:
        agency = auth("RXT01", Role.AGENCY)
        first = [await api.get("/v1/sharing-requests", headers=agency) for _ in range(READS_QUOTA)]
        refused = await api.get("/v1/sharing-requests", headers=agency)
        other = await api.get("/v1/sharing-requests", headers=auth("RXT02", Role.AGENCY))
    problems = []
    if [response.status_code for response in first] != [200] * READS_QUOTA or not all("RateLimit" in response.headers for response in first):
        problems.append(f"the first {READS_QUOTA} answered {[answered(response) for response in first]}")
    retry_after = refused.headers.get("Retry-After", "")
    if not is_problem(refused, 429) or not retry_after.isdigit() or int(retry_after) < 1:
        problems.append(f"read {READS_QUOTA + 1} answered {answered(refused)} with Retry-After {retry_after!r}")
    policy, remaining = refused.headers.get("RateLimit-Policy"), refused.headers.get("RateLimit", "")
    if policy != f'"reads";q={READS_QUOTA};w={READS_WINDOW}' or not remaining.startswith('"reads";r=0;t='):
        problems.append(f"RateLimit-Policy {policy!r}, RateLimit {remaining!r}")
    if other.status_code != 200:
        problems.append(f"another organisation was refused too ({other.status_code})")
    LEDGER.record(
        f"{READS_QUOTA + 1} reads in a row by one organisation (reads quota {READS_QUOTA} per {READS_WINDOW} s)",
        problems,
        f"the last is 429 problem, Retry-After: {retry_after}, RateLimit-Policy: {policy}, RateLimit: {remaining}; "
        "another organisation still 200",
    )


async def attachment_quota(main: Server, attempts: int = 100, size: int = 1024 * 1024) -> None:
    """One agency sending 100 attachments of 1 MiB as fast as it can (issue 30: once all kept, in 4 s): the uploads
    rate class and the request's limit of 20 hold, every refusal is a problem, and the request keeps 20 at most."""
    async with main.client() as api:
        await register(api, "GREEDY1")
        request_id = (await submitted(api, "GREEDY1", changed({"reference": "GREEDY-1"})))["id"]
        agency = auth("GREEDY1", Role.AGENCY)
        path = f"/v1/sharing-requests/{request_id}/attachments"
        started = time.monotonic()
        answers = [
            await api.post(
                path,
                data={"kind": "other"},
                files={"file": (f"scan-{number}.pdf", b"%PDF-1.7\n" + os.urandom(size), "application/pdf")},
                headers=agency,
            )
            for number in range(attempts)
        ]
        took = time.monotonic() - started
        listed = await api.get(path, params={"limit": 100}, headers=agency)
    statuses = [answer.status_code for answer in answers]
    kept = len(listed.json().get("items", [])) if listed.status_code == 200 else -1
    problems = []
    if statuses.count(201) > 20 or kept != statuses.count(201):
        problems.append(f"{statuses.count(201)} accepted and {kept} kept")
    if any(answer.status_code != 201 and not (is_problem(answer, 429) or is_problem(answer, 409)) for answer in answers):
        problems.append(f"refused otherwise than with a 409 or 429 problem: {sorted(set(statuses))}")
    LEDGER.record(
        f"one agency sending {attempts} attachments of {size // 1024} KiB in a row",
        problems,
        f"{statuses.count(201)} kept, {statuses.count(429)} 429 and {statuses.count(409)} 409 problems, in {took:.1f} s",
    )


async def half_sent_requests(strict: Server, count: int = 200) -> None:
    """Connections that never finish a request head are dropped within the header timeout;
    a normal client is served meanwhile."""

    async def half_sent() -> float | None:
        opened = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", strict.port)
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: caldicott\r\nX-Slow: ")
            await writer.drain()
            async with asyncio.timeout(HEAD_TIMEOUT + 15):
                while await reader.read(65536):
                    pass
            return time.monotonic() - opened
        except ConnectionResetError:
            return time.monotonic() - opened
        except TimeoutError:
            return None
        finally:
            writer.close()

    async def normal() -> tuple[int, float]:
        await asyncio.sleep(HEAD_TIMEOUT / 2)  # once every slow connection is open
        started = time.monotonic()
        async with strict.client() as api:
            response = await api.get("/healthz")
        return response.status_code, time.monotonic() - started

    *held, (status, took) = await asyncio.gather(*(half_sent() for _ in range(count)), normal())
    kept = [seconds for seconds in held if seconds is None]
    slowest = max((seconds for seconds in held if seconds is not None), default=0.0)
    problems = []
    if kept or slowest > HEAD_TIMEOUT + 1.5:
        problems.append(
            f"{len(kept)} of {count} connections still open after {HEAD_TIMEOUT + 15} s; "
            f"the slowest one dropped took {slowest:.1f} s"
        )
    if status != 200 or took > 2:
        problems.append(f"the normal client got {status} in {took:.2f} s")
    LEDGER.record(
        f"{count} connections each sending part of a request head and no more (header timeout {HEAD_TIMEOUT} s)",
        problems,
        f"all {count} closed by the server within {slowest:.1f} s of connecting; "
        f"a normal client meanwhile got 200 in {took * 1000:.0f} ms",
    )


# --- 9. Panels that mean a panel (issue 25) ------------------------------------------------------------


def panel_guardian(name: str) -> dict[str, str]:
    return auth(CONTROLLER, Role.GUARDIAN, sub=f"panel-{name}")


async def panel_opened(api: httpx.AsyncClient, reference: str, prefix: str) -> str:
    """A referred request, claimed by `prefix`-chair, before a panel of three of the controller's guardians; its id."""
    request_id = (await submitted(api, "RXT01", changed(REFERRED | {"reference": reference})))["id"]
    chair = panel_guardian(f"{prefix}-chair")
    claim = await api.post(f"/v1/sharing-requests/{request_id}/claim", headers=chair)
    members = [{"sub": f"panel-{prefix}-2", "org": CONTROLLER}, {"sub": f"panel-{prefix}-3", "org": CONTROLLER}]
    reason = "The onward sharing is unusual enough that three guardians should decide it."
    opened = await api.post(f"/v1/sharing-requests/{request_id}/panel", json={"reason": reason, "members": members}, headers=chair)
    if (claim.status_code, opened.status_code) != (200, 201):
        raise RuntimeError(f"opening the panel: claim {claim.status_code}, panel {opened.status_code} {opened.text[:160]}")
    return str(request_id)


async def panel_vote(api: httpx.AsyncClient, request_id: str, who: str, choice: str) -> None:
    voted = await api.post(f"/v1/sharing-requests/{request_id}/panel/votes", json={"vote": choice, "rationale": RATIONALE}, headers=panel_guardian(who))
    if voted.status_code != 201:
        raise RuntimeError(f"{who} voting {choice}: {voted.status_code} {voted.text[:160]}")


async def chair_and_abstention(main: Server) -> None:
    """A panel of three is not decided by its chair and one abstention before the third
    member has voted, casting vote or not."""
    async with main.client() as api:
        request_id = await panel_opened(api, "PANEL-ABSTAIN-1", "abstain")
        await panel_vote(api, request_id, "abstain-chair", "approve")
        await panel_vote(api, request_id, "abstain-2", "abstain")
        url, chair = f"/v1/sharing-requests/{request_id}/panel/decision", panel_guardian("abstain-chair")
        plain = await api.post(url, json={"rationale": RATIONALE}, headers=chair)
        casting = await api.post(url, json={"rationale": RATIONALE, "casting_vote": "approve"}, headers=chair)
        after = (await api.get(f"/v1/sharing-requests/{request_id}", headers=chair)).json()
    problems = [] if is_problem(plain, 409) and is_problem(casting, 409) else [f"close {answered(plain)}, with a casting vote {answered(casting)}"]
    if after["status"] != "in_panel" or after["decision"]["kind"] != "rules":
        problems.append(f"the request is now {after['status']}, decided by a {after['decision']['kind']} decision")
    LEDGER.record(
        "a panel chair voting approve, one member abstaining, and the chair closing "
        "(with and without a casting vote) before the third votes",
        problems,
        f"each 409 problem: {detail(plain)}; the panel still sits",
    )


async def panel_voter_reconsiders(main: Server) -> None:
    """Neither the chair nor any member of the panel that refused a request may claim its
    reconsideration; another guardian may."""
    async with main.client() as api:
        request_id = await panel_opened(api, "PANEL-RECONSIDER-1", "voter")
        for who in ("voter-chair", "voter-2", "voter-3"):
            await panel_vote(api, request_id, who, "refuse")
        closed = await api.post(f"/v1/sharing-requests/{request_id}/panel/decision", json={"rationale": RATIONALE}, headers=panel_guardian("voter-chair"))
        grounds = {"grounds": "The recipient now limits onward sharing to the named team, answering the reason given."}
        asked = await api.post(f"/v1/sharing-requests/{request_id}/reconsideration", json=grounds, headers=auth("RXT01", Role.AGENCY))
        if (closed.status_code, asked.status_code) != (200, 201):
            raise RuntimeError(
                f"the panel's refusal: close {closed.status_code}, "
                f"reconsideration asked {asked.status_code} {asked.text[:160]}"
            )
        tried = {who: await api.post(f"/v1/sharing-requests/{request_id}/claim", headers=panel_guardian(who)) for who in ("voter-2", "voter-3", "voter-chair")}
        independent = await api.post(f"/v1/sharing-requests/{request_id}/claim", headers=panel_guardian("independent"))
    problems = [f"{who} claiming: {answered(response)}" for who, response in tried.items() if not is_problem(response, 403)]
    if independent.status_code != 200:
        problems.append(f"a guardian who took no part could not claim it ({independent.status_code}), so this proves nothing")
    LEDGER.record(
        "members of the panel that refused a request (two who voted, and its chair) claiming its reconsideration",
        problems,
        f"each 403 problem: {detail(tried['voter-2'])}; a guardian who took no part claimed it",
    )


# --- What already held ---------------------------------------------------------------------------------


# Issue 25: a requester choosing words rather than meeting tests. Each is (what was tried, requester, its type, the
# request's changes, the outcomes that hold it): under 2027.1 each was approved, or lifted a protection it should not.
WORDS_MH = [item("contact_details"), item("mental_health")]
WORD_ATTACKS = [
    (
        "police call a suspect's address and mental-health record not_confidential",
        "POL09",
        "police",
        {
            "purpose.category": "crime_prevention",
            "data_items": WORDS_MH,
            "legal_basis.confidentiality": "not_confidential",
            "legal_basis.article_9": "substantial_public_interest",
            "legal_basis.schedule1_paragraph": 10,
        },
        {"refuse"},
    ),
    (
        "a research body labels 20,000 identifiable records not_confidential public health",
        "RES09",
        "research",
        {
            "purpose.category": "public_health",
            "subjects.count": 20000,
            "data_items": [item("diagnoses")],
            "legal_basis.confidentiality": "not_confidential",
            "legal_basis.article_9": "public_health",
        },
        {"refuse"},
    ),
    (
        "the purpose court_order with no order cited lifts a capable person's refusal and gender history",
        "POL09",
        "police",
        {
            "purpose.category": "court_order",
            "data_items": [item("gender_history")],
            "consent.status": "refused",
            "legal_basis.confidentiality": "overriding_public_interest",
            "legal_basis.article_9": "legal_claims",
            "legal_basis.reference": "Crown Court case 2028/77",
        },
        {"refer", "refuse"},
    ),
    (
        "police cite HSCA 2012 s.259 to trace an adult who refused",
        "POL09",
        "police",
        {
            "purpose.category": "crime_prevention",
            "data_items": [item("contact_details")],
            "consent.status": "refused",
            "legal_basis.article_9": None,
            "legal_basis.confidentiality": "legal_requirement",
            "legal_basis.provision": "hsca_2012_s259",
            "legal_basis.reference": "HSCA 2012 s.259",
        },
        {"refer", "refuse"},
    ),
    (
        "police cite Children Act 2004 s.16H to trace an adult who refused",
        "POL09",
        "police",
        {
            "purpose.category": "safeguarding_adult",
            "data_items": [item("contact_details")],
            "consent.status": "refused",
            "legal_basis.article_9": None,
            "legal_basis.confidentiality": "legal_requirement",
            "legal_basis.provision": "children_act_2004_s16h",
            "legal_basis.reference": "Children Act 2004 s.16H",
        },
        {"refer", "refuse"},
    ),
    (
        "a council's s.47 duty used for a research extract",
        "LA09",
        "local_authority",
        {
            "purpose.category": "research",
            "subjects.count": 500,
            "data_items": [item("diagnoses")],
            "legal_basis.article_9": "research",
            "legal_basis.confidentiality": "legal_requirement",
            "legal_basis.provision": "children_act_1989_s47",
            "legal_basis.reference": "Children Act 1989 s.47",
            "national_data_opt_out_applied": True,
        },
        {"refer", "refuse"},
    ),
    (
        "a parent's refusal for a child who is not competent, ignored for a research extract",
        "NHS09",
        "nhs_trust",
        {
            "purpose.category": "research",
            "subjects.age_group": "child",
            "consent.status": "refused",
            "consent.given_by": "parent",
            "consent.capacity": "not_assessed",
            "data_items": [item("diagnoses", "pseudonymised")],
            "legal_basis.article_9": "research",
            "legal_basis.confidentiality": "s251_support",
            "legal_basis.reference": "CAG 26/CAG/0101",
            "national_data_opt_out_applied": True,
        },
        {"refer", "refuse"},
    ),
]


async def words_over_tests(main: Server) -> None:
    """Each disclosure 2027.1 let a requester obtain by its choice of words is
    refused or held for a guardian by 2028.1."""
    problems, outcomes = [], []
    async with main.client() as api:
        for code, kind in {(org, kind) for _, org, kind, _, _ in WORD_ATTACKS}:
            await register(api, code, kind)
        for tried, org, _, changes, holding in WORD_ATTACKS:
            decided = await submitted(api, org, changed(changes | {"reference": f"WORDS-{len(outcomes)}"}))
            outcome, version = decided["decision"]["outcome"], decided["decision"]["policy"]["version"]
            outcomes.append(outcome)
            if outcome not in holding or version != "2028.1":
                problems.append(f"{tried}: {outcome} under {version}")
    LEDGER.record(
        f"{len(WORD_ATTACKS)} requests that choose words over tests (not_confidential, a court_order label, a duty "
        "outside its purpose, a parent's refusal)",
        problems,
        f"each refused or referred under 2028.1 ({', '.join(outcomes)})",
    )


async def cross_agency_read(main: Server) -> None:
    """Another agency's request is 404, exactly as an id that does not exist."""
    async with main.client() as api:
        theirs = await submitted(api, "RXT01", changed({"reference": "CROSS-1"}))
        other = auth("RXT02", Role.AGENCY)
        read = await api.get(f"/v1/sharing-requests/{theirs['id']}", headers=other)
        history = await api.get(f"/v1/sharing-requests/{theirs['id']}/history", headers=other)
        unknown = await api.get("/v1/sharing-requests/00000000-0000-0000-0000-000000000000", headers=other)
        listed = [row["id"] for row in (await api.get("/v1/sharing-requests", params={"limit": 200}, headers=other)).json()["items"]]
    problems = []
    if not (is_problem(read, 404) and is_problem(history, 404)):
        problems.append(f"read {answered(read)}, history {answered(history)}")
    elif {key: value for key, value in read.json().items() if key not in ("detail", "instance")} != {
        key: value for key, value in unknown.json().items() if key not in ("detail", "instance")
    }:
        problems.append("the 404 differs from an unknown id's")
    if "RXT01" in read.text or theirs["id"] in listed:
        problems.append("something of the other agency's request showed")
    LEDGER.record(
        "an agency reading another agency's request, its history, and its list", problems, "404 problem, as for an id that does not exist; not listed"
    )


async def own_organisation_guardian(main: Server) -> None:
    """A guardian of the requesting organisation may neither claim its request nor decide it,
    even while another guardian holds it."""
    async with main.client() as api:
        referred = (await submitted(api, "RXT01", changed(REFERRED | {"reference": "OWN-1"})))["id"]
        guardian, controller = auth("RXT01", Role.GUARDIAN), auth(CONTROLLER, Role.GUARDIAN)
        claim = await api.post(f"/v1/sharing-requests/{referred}/claim", headers=guardian)
        # Claimed by the controller's guardian, the request is where a review may be made:
        # only the own-organisation rule stands in the way.
        held = await api.post(f"/v1/sharing-requests/{referred}/claim", headers=controller)
        review = await api.post(f"/v1/sharing-requests/{referred}/review", json={"outcome": "approve", "rationale": RATIONALE}, headers=guardian)
        after = (await api.get(f"/v1/sharing-requests/{referred}", headers=controller)).json()
    problems = [] if is_problem(claim, 403) and is_problem(review, 403) else [f"claim {answered(claim)}, approve {answered(review)}"]
    if held.status_code != 200:
        problems.append(f"the controller's guardian could not claim it ({held.status_code})")
    if after["status"] == "approved" or after["decision"]["decided_by"] != "rules":
        problems.append(f"the request is now {after['status']}, decided by {after['decision']['decided_by']}")
    LEDGER.record(
        "a guardian of the requesting organisation claiming its request, "
        "then approving it while the controller's guardian holds it",
        problems,
        f"each 403 problem: {detail(review)}; the rules' referral still stands",
    )


async def checks_before_disclosure(main: Server) -> None:
    """A court-order approval is not ready to disclose until the controller records its check;
    no agency, nor another organisation's roles, can."""
    async with main.client() as api:
        await register(api, "POL01", "police")
        shared = await submitted(api, "POL01", changed(COURT_ORDER | {"reference": "CHECK-1"}))
        path = f"/v1/sharing-requests/{shared['id']}/controller-checks/CP6.court_order_verified"
        body = {"outcome": "done", "checked": "I am the requester and I say the order is fine."}
        tries = [auth("POL01", Role.AGENCY), auth("POL01", Role.IG_MANAGER), auth("POL01", Role.GUARDIAN), auth("RXT01", Role.GUARDIAN)]
        answers = [await api.post(path, json=body, headers=headers) for headers in tries]
        after = (await api.get(f"/v1/sharing-requests/{shared['id']}", headers=auth("POL01", Role.AGENCY))).json()
    problems = []
    if (shared["status"], shared["ready_to_disclose"], shared["open_checks"]) != ("approved_with_conditions", False, ["CP6.court_order_verified"]):
        problems.append(
            f"submitted: {shared['status']}, "
            f"ready_to_disclose {shared['ready_to_disclose']}, open {shared['open_checks']}"
        )
    if not all(is_problem(answer, 403) for answer in answers):
        problems.append(f"recording answered {', '.join(answered(answer) for answer in answers)}")
    if after["ready_to_disclose"] or after["open_checks"] != ["CP6.court_order_verified"]:
        problems.append(f"after the attempts: ready_to_disclose {after['ready_to_disclose']}, open {after['open_checks']}")
    LEDGER.record(
        "a court-order approval disclosed before its check is recorded: the agency, and another organisation's IG "
        "manager or guardian, recording it",
        problems,
        "ready_to_disclose false; each attempt 403 problem; the check still open",
    )


async def withheld_notice(main: Server) -> None:
    """The person's notice of a request whose telling would prejudice its purpose is withheld: the agency, and a
    guardian of its own organisation, cannot read or release it."""
    async with main.client() as api:
        referred = await submitted(api, "RXT01", changed(REFERRED | {"reference": "WITHHELD-1", "transparency.subject_informed": "would_prejudice_purpose"}))
        controller = auth(CONTROLLER, Role.GUARDIAN)
        await api.post(f"/v1/sharing-requests/{referred['id']}/claim", headers=controller)
        await api.post(f"/v1/sharing-requests/{referred['id']}/review", json={"outcome": "approve", "rationale": RATIONALE}, headers=controller)
        path = f"/v1/sharing-requests/{referred['id']}/notice"
        agency, own_guardian = auth("RXT01", Role.AGENCY), auth("RXT01", Role.GUARDIAN)
        reads = [
            await api.get(path, params={"audience": "subject"}, headers=agency),
            await api.get(path, params={"audience": "subject", "preview": "true"}, headers=agency),
            await api.get(path, params={"audience": "subject", "preview": "true"}, headers=own_guardian),
        ]
        release = {"audience": "subject", "why": "I am the requester and I say the person may be told."}
        releases = [await api.post(f"{path}-releases", json=release, headers=headers) for headers in (agency, own_guardian)]
        after = await api.get(path, params={"audience": "subject"}, headers=agency)
    problems = []
    if not (is_problem(reads[0], 409) and is_problem(reads[1], 403) and is_problem(reads[2], 403)):
        problems.append(f"reads answered {', '.join(answered(read) for read in reads)}")
    if not all(is_problem(answer, 403) for answer in releases):
        problems.append(f"releases answered {', '.join(answered(answer) for answer in releases)}")
    if not is_problem(after, 409):
        problems.append(f"after the attempts the notice answered {answered(after)}")
    LEDGER.record(
        "a withheld notice to the person read, previewed or released by the agency or a guardian "
        "of the requesting organisation",
        problems,
        "409 subject-notice-withheld to read; 403 to preview or release; still withheld",
    )


async def alg_none(main: Server, jwks: Server) -> None:
    """An unsigned token (alg none) is 401 in development and in JWKS mode."""
    for server, where in ((main, "the development instance"), (jwks, "the JWKS-only instance")):
        async with server.client() as api:
            response = await api.get("/v1/sharing-requests", headers=bearer(signed({"alg": "none", "typ": "JWT"}, claims())))
        LEDGER.record(f"an alg none token with valid claims against {where}", refused_401(response), f"401 problem: {detail(response)}")


async def algorithm_confusion(jwks: Server, key: rsa.RSAPrivateKey) -> None:
    """A token signed HS256 with the RSA public key as the secret is refused by an instance that trusts that key."""
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    async with jwks.client() as api:
        genuine = await api.get("/v1/sharing-requests", headers=bearer(signed({"alg": "RS256", "kid": "rsa-1"}, claims(), key=key)))
        confused = await api.get("/v1/sharing-requests", headers=bearer(signed({"alg": "HS256", "kid": "rsa-1"}, claims(), secret=public_pem)))
        dev = await api.get("/v1/sharing-requests", headers=bearer(signed({"alg": "HS256", "typ": "JWT"}, claims(), secret=JWT_SECRET.encode())))
    problems = refused_401(confused) + [f"the dev-secret token: {problem}" for problem in refused_401(dev)]
    if genuine.status_code != 200:
        problems.append(f"the genuine RS256 token answered {genuine.status_code} (control)")
    LEDGER.record(
        "HS256 signed with the RSA public key (PEM) as the secret, against the JWKS-only instance",
        problems,
        f"401 problem: {detail(confused)}; an HS256 dev-secret token 401 too; the genuine RS256 token 200",
    )


SSRF_URLS = [
    "http://127.0.0.1/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://2130706433/hook",
    "http://0x7f.1/hook",
    "http://10.0.0.1/hook",
    "http://192.168.1.1/hook",
]


async def ssrf(strict: Server) -> None:
    """Webhook URLs naming loopback, private or link-local addresses, however written,
    are refused where private destinations are not allowed."""
    async with strict.client() as api:
        agency = auth("RXT01", Role.AGENCY)
        for url in SSRF_URLS:
            response = await api.post("/v1/webhook-endpoints", json={"url": url, "event_types": ["sharing_request.decided"]}, headers=agency)
            refusal = response.json()["errors"][0] if response.status_code == 422 else {}
            LEDGER.record(
                f"registering a webhook endpoint at {url} (SSRF)",
                [] if is_problem(response, 422) and refusal.get("field") == "url" else [f"answered {answered(response)}: {response.text[:160]}"],
                f"422 naming url: {refusal.get('message')}",
            )
        public = await api.post("/v1/webhook-endpoints", json={"url": "https://93.184.215.14/hook", "event_types": ["sharing_request.decided"]}, headers=agency)
        moved = (
            await api.patch(f"/v1/webhook-endpoints/{public.json()['id']}", json={"url": "http://127.0.0.1/hook"}, headers=agency)
            if public.status_code == 201
            else public
        )
    LEDGER.record(
        "a public address (control), then moving it to http://127.0.0.1 by PATCH",
        [] if public.status_code == 201 and is_problem(moved, 422) else [f"registration {answered(public)}, PATCH {answered(moved)}"],
        f"201, then 422 ({', '.join(error_fields(moved))}: not a field an owner may change)",
    )


async def redirect_not_followed(main: Server, receiver: Receiver) -> None:
    """A receiver answering 307 to another address is recorded as a failed attempt; the redirect is not followed."""
    async with main.client() as api:
        await register(api, "LA001", "local_authority")
        agency = auth("LA001", Role.AGENCY)
        hook = await endpoint(api, agency, receiver.url("/redirect"), ["sharing_request.decided"])
        receiver.always("/redirect", Answer(307, {"Location": receiver.url("/elsewhere")}))
        await submitted(api, "LA001", changed({"reference": "REDIRECT-1"}))

        async def attempted() -> bool:
            rows = await deliveries(api, agency, hook["id"])
            return bool(rows and rows[0]["attempts"])

        await until(attempted, within=10)
        [row] = await deliveries(api, agency, hook["id"])
    statuses = [attempt["response_status"] for attempt in row["attempts"]]
    problems = (
        []
        if statuses and set(statuses) == {307} and not receiver.at("/elsewhere")
        else [f"attempts {statuses}, /elsewhere got {len(receiver.at('/elsewhere'))}"]
    )
    LEDGER.record(
        "a webhook receiver answering 307 Location: another address",
        problems,
        f"attempt recorded as a failed 307, delivery {row['status']}; nothing reached the redirect's target",
    )


async def mass_assignment(main: Server) -> None:
    """Fields the service sets itself are refused when a caller sends them."""
    async with main.client() as api:
        await register(api, "MASS")
        agency = auth("MASS", Role.AGENCY)
        body = baseline_request() | {"status": "approved", "id": "00000000-0000-0000-0000-000000000001", "decision": {"outcome": "approve"}}
        submission = await api.post("/v1/sharing-requests", json=body, headers=agency)
        stored = (await api.get("/v1/sharing-requests", headers=agency)).json()["items"]
        organisation = {"code": "MASS2", "name": "Mass assignment", "type": "other", "dspt_status": "standards_met", "created_at": "2000-01-01T00:00:00Z"}
        registration = await api.post("/v1/organisations", json=organisation, headers=admin())
        registered = await api.get("/v1/organisations/MASS2", headers=admin())
        hook = {"url": "http://127.0.0.1:9/hook", "event_types": ["sharing_request.decided"], "secret": "whsec_" + "A" * 44, "owner_org": "RXT01"}
        webhook = await api.post("/v1/webhook-endpoints", json=hook, headers=agency)
    cases = [
        ("a submission with status, id and decision set", submission, {"status", "id", "decision"}, not stored),
        ("an organisation registered with created_at", registration, {"created_at"}, registered.status_code == 404),
        ("a webhook endpoint registered with its own secret and owner_org", webhook, {"secret", "owner_org"}, True),
    ]
    for tried, response, fields, nothing_stored in cases:
        named = set(error_fields(response)) if response.status_code == 422 else set()
        problems = [] if is_problem(response, 422) and fields <= named else [f"answered {answered(response)} naming {sorted(named)}"]
        if not nothing_stored:
            problems.append("it was stored all the same")
        LEDGER.record(f"mass assignment: {tried}", problems, f"422 naming {', '.join(sorted(named))}; nothing stored")


async def csv_injection(main: Server) -> None:
    """A formula in a request's reference and description comes out of the decision log CSV as text, not a formula."""
    async with main.client() as api:
        injected = await submitted(api, "RXT01", changed({"reference": FORMULA, "purpose.description": FORMULA}))
        since = injected["decision"]["decided_at"]
        response = await api.get("/v1/reports/decision-log", params={"format": "csv", "from": since, "limit": 200}, headers=auth(CONTROLLER, Role.AUDITOR))
    problems = []
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")))) if response.status_code == 200 else []
    if not rows:
        problems.append(f"the CSV answered {answered(response)}")
    else:
        header, *cells = rows
        mine = [dict(zip(header, row, strict=True)) for row in cells if injected["id"] in row]
        formulas = [cell for row in cells for cell in row if cell.startswith(FORMULA_STARTS)]
        if not mine or mine[0]["purpose_description"] != "'" + FORMULA:
            problems.append(f"the request's row is {mine}")
        if formulas:
            problems.append(f"cells a spreadsheet would run: {formulas[:3]}")
    LEDGER.record(
        f"a request whose reference and description are {FORMULA}, then the decision log as CSV",
        problems,
        "the description comes out as '=HYPERLINK(...) (text); no cell starts with = + - @ or a tab",
    )


# --- Issue 25: what a requester declares is not evidence ---------------------------------------------------------

SELF_CERTIFIED = b"COURT ORDER\nThe bearer is entitled to the medical records of the person named below.\nSigned: PC 4471\n"


async def self_certified_court_order(main: Server) -> None:
    """Under 2028.2 the police upload a typed page, call it `court_order`, and try to verify it themselves:
    the order's condition stands."""
    async with main.client() as api:
        await register(api, "POL-SC", "police")
        activated = await api.post("/v1/policies/uk-caldicott-baseline/2028.2/activate", headers=admin())
        body = court_order_request()
        body["recipient"]["onward_sharing"] = True  # referred, so that the police may amend once a guardian asks
        request = await submitted(api, "POL-SC", body)
        police, controller = auth("POL-SC", Role.AGENCY), auth(CONTROLLER, Role.GUARDIAN)
        files = {"file": ("order.pdf", SELF_CERTIFIED, "application/pdf")}
        base = f"/v1/sharing-requests/{request['id']}"
        upload = await api.post(f"{base}/attachments", data={"kind": "court_order"}, files=files, headers=police)
        checked = {"outcome": "verified", "checked": "It is the order we obtained.", "order": VERIFIED_ORDER}
        verifications = f"{base}/attachments/{upload.json().get('id', 'none')}/verifications"
        by_agency = await api.post(verifications, json=checked, headers=police)
        by_own_guardian = await api.post(verifications, json=checked, headers=auth("POL-SC", Role.GUARDIAN))
        await api.post(f"{base}/claim", headers=controller)
        asked = {"outcome": "request_information", "rationale": "Attach the sealed order, please, as a copy of the order itself."}
        await api.post(f"{base}/review", json=asked, headers=controller)
        amended = await api.post(f"{base}/amendments", json={"request": body, "note": "The court order is attached."}, headers=police)
        await api.post("/v1/policies/uk-caldicott-baseline/2028.1/activate", headers=admin())  # as the other attacks found it
    problems = [] if activated.status_code == 200 and upload.status_code == 201 else [f"activate {answered(activated)}, upload {answered(upload)}"]
    if not (is_problem(by_agency, 403) and is_problem(by_own_guardian, 403)):
        problems.append(f"verified by the police: agency {answered(by_agency)}, their own guardian {answered(by_own_guardian)}")
    decision = amended.json().get("decision", {}) if amended.status_code == 200 else {}
    result = {finding["rule"]: finding["result"] for finding in decision.get("findings", [])}.get("CP6.court_order_verified")
    if result != "condition" or decision.get("facts", {}).get("evidence") != []:
        problems.append(
            f"the amendment answered {answered(amended)}; CP6.court_order_verified {result}, evidence "
            f"{decision.get('facts', {}).get('evidence')}"
        )
    LEDGER.record(
        "under 2028.2, a police upload of a typed page as kind court_order, verified by the police agency and by a "
        "police guardian, then an amendment",
        problems,
        f"each verification 403 problem ({detail(by_own_guardian)}); the amendment still has "
        "CP6.court_order_verified's condition, no evidence weighed",
    )


def local_policy(version: str = "2028.1", **changes: Any) -> dict[str, Any]:
    """A shipped policy's document under a name and version of its own, derived from it."""
    document = yaml.safe_load(shipped_path(version).read_bytes())
    document.update(name="attacker-trust", version=f"{version}-loose.1", derived_from={"name": document["name"], "version": version})
    document.update(changes)
    return document


async def loosening_policies(main: Server) -> None:
    """Local policies that would loosen the baseline's reading of the law, and activating a replay-only edition:
    all refused, nothing changes."""
    pace_duty = local_policy()
    pace = [entry["code"] for entry in pace_duty["provisions"]].index("pace_1984")
    pace_duty["provisions"][pace]["kind"] = "duty"
    no_gender_history = local_policy()
    no_gender_history["definitions"]["restricted"].remove("gender_history")
    uploads = [
        ("a local policy making PACE 1984 a duty (medical records are excluded material)", pace_duty, f"provisions[{pace}].kind"),
        ("a local policy dropping gender_history from RESTRICTED (GRA 2004 s.22)", no_gender_history, "definitions.restricted"),
        ("a local policy derived from the replay-only 2027.1", local_policy("2027.1"), "derived_from"),
    ]
    async with main.client() as api:
        before = (await api.get("/v1/policies", params={"limit": 200}, headers=admin())).json()["items"]
        for tried, document, path in uploads:
            body = json.dumps(document, default=str).encode()
            response = await api.post("/v1/policies", content=body, headers=admin() | {"Content-Type": "application/json"})
            named = error_fields(response) if response.status_code == 422 else []
            problems = [] if is_problem(response, 422) and path in named else [f"answered {answered(response)} naming {named}"]
            LEDGER.record(f"upload of {tried}", problems, f"422 naming {path}")
        activation = await api.post("/v1/policies/uk-caldicott-baseline/2027.1/activate", headers=admin())
        refused = is_problem(activation, 409) and activation.json().get("type") == "/problems/policy-replay-only"
        LEDGER.record("activating the replay-only 2027.1", [] if refused else [f"answered {answered(activation)}"], "409 policy-replay-only")
        after = (await api.get("/v1/policies", params={"limit": 200}, headers=admin())).json()["items"]
    LEDGER.record(
        "the policies held and the active one after those attempts",
        [] if after == before else ["the list of policies changed"],
        f"unchanged; active: {', '.join(entry['version'] for entry in after if entry['active'])}",
    )


# ---------------------------------------------------------------------------------------------------------


def logged_exceptions(servers: list[Server]) -> list[str]:
    """Exceptions the services logged (a JSON line with an `exception`): a 500 or a worker failure would show here."""
    found = []
    for server in servers:
        assert server.process is not None
        for line in server.process.log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and "exception" in entry:
                found.append(f"{server.name}: {entry.get('message')} ({entry['exception']})")
    return found


async def run() -> bool:
    """Start the services, replay every attack, print the summary; True if every attack was held."""
    started = time.monotonic()
    CLEAN.mkdir(parents=True, exist_ok=True)
    for stale in LOGS.glob("*.log"):
        stale.unlink()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks_file = LOGS / "jwks.json"
    jwks_file.write_text(json.dumps(jwks_of(key)))

    main_db, strict_db = await asyncio.gather(create_database("security_main"), create_database("security_strict"))
    await asyncio.gather(*(asyncio.to_thread(run_checked, migrate_argv(), env=service_env(url)) for url in (main_db, strict_db)))
    main = Server(
        "main",
        service_env(
            main_db,
            CALDICOTT_WEBHOOK_WORKER_IN_SERVE="true",
            CALDICOTT_WEBHOOK_RETRY_SCHEDULE=json.dumps(RETRY_SCHEDULE),
            CALDICOTT_WEBHOOK_POLL_SECONDS="0.2",
            CALDICOTT_WEBHOOK_BATCH_SIZE="1",
            CALDICOTT_WEBHOOK_TIMEOUT_SECONDS="5",
            CALDICOTT_GUARDIAN_ORGS=json.dumps(GUARDIAN_ORGS),
        ),
    )
    strict = Server(
        "strict",
        service_env(
            strict_db,
            CALDICOTT_WEBHOOK_ALLOW_PRIVATE="false",
            CALDICOTT_RATE_LIMIT_READS_QUOTA=str(READS_QUOTA),
            CALDICOTT_RATE_LIMIT_READS_WINDOW_SECONDS=str(READS_WINDOW),
            CALDICOTT_HTTP_HEADER_TIMEOUT_SECONDS=str(HEAD_TIMEOUT),
        ),
    )
    jwks_env = {name: value for name, value in service_env(main_db, CALDICOTT_JWKS_FILE=str(jwks_file)).items() if name != "CALDICOTT_JWT_SECRET"}
    jwks = Server("jwks", jwks_env)
    servers = [main, strict, jwks]
    try:
        await asyncio.gather(*(asyncio.to_thread(server.start) for server in servers))
        print(f"security: services up in {time.monotonic() - started:.0f} s (logs in {LOGS})", file=sys.stderr, flush=True)
        async with main.client() as api:
            for code in ("RXT01", "RXT02"):
                await register(api, code)
            await submitted(api, "RXT01", baseline_request())
            await submitted(api, "RXT01", changed(REFERRED | {"reference": "QUEUED-1"}))
        async with strict.client() as api:
            for code in ("RXT01", "RXT02"):
                await register(api, code)

        with running(Receiver()) as receiver:
            attacks: list[tuple[str, Callable[[], Awaitable[None]]]] = [
                ("1. poisoned receiver", lambda: poisoned_receiver(main, receiver)),
                ("2. crafted tokens", lambda: crafted_tokens(main, jwks)),
                ("3. crafted cursors", lambda: crafted_cursors(main)),
                ("4. deactivation", lambda: deactivation(main)),
                ("4b. police admin sets policy", lambda: police_admin_sets_policy(main)),
                ("4b. police guardian approves", lambda: police_guardian_approves(main)),
                ("4b. trust auditor reads the trail", lambda: trust_auditor_reads_the_trail(main)),
                ("5. endpoint audit", lambda: endpoint_audit(main, receiver)),
                ("6. large submissions", lambda: large_submissions(main)),
                ("7. production refusals", lambda: production_refusals(main_db, jwks_file)),
                ("8. endpoint limit", lambda: endpoint_limit(main, receiver)),
                ("8. rate limit", lambda: rate_limit(strict)),
                ("8. attachment quota", lambda: attachment_quota(main)),
                ("8. half-sent requests", lambda: half_sent_requests(strict)),
                ("9. panel chair and an abstention", lambda: chair_and_abstention(main)),
                ("9. panel voter reconsidering", lambda: panel_voter_reconsiders(main)),
                ("words over tests", lambda: words_over_tests(main)),
                ("cross-agency read", lambda: cross_agency_read(main)),
                ("guardian of the requesting organisation", lambda: own_organisation_guardian(main)),
                ("checks before disclosure", lambda: checks_before_disclosure(main)),
                ("withheld notice", lambda: withheld_notice(main)),
                ("alg none", lambda: alg_none(main, jwks)),
                ("HS/RS confusion", lambda: algorithm_confusion(jwks, key)),
                ("SSRF", lambda: ssrf(strict)),
                ("redirects", lambda: redirect_not_followed(main, receiver)),
                ("mass assignment", lambda: mass_assignment(main)),
                ("CSV injection", lambda: csv_injection(main)),
                ("self-certified court order", lambda: self_certified_court_order(main)),  # last: it activates 2028.2 for a while
                ("loosening policies", lambda: loosening_policies(main)),
            ]
            for name, attack in attacks:
                try:
                    await attack()
                except Exception as error:  # one attack's surprise is its FAIL, not the end of the run
                    LEDGER.record(name, [f"the attack could not be made: {type(error).__name__}: {error}"], "")
        for server in servers:
            alive = server.process is not None and server.process.alive()
            LEDGER.record(f"the {server.name} server process after every attack", [] if alive else ["it died"], "still running")
        LEDGER.record(
            f"every HTTP answer of the run ({LEDGER.answers})",
            LEDGER.server_errors[:5],
            "none was a 5xx",
        )
        exceptions = logged_exceptions(servers)
        LEDGER.record("the services' logs", exceptions[:5], "no exception logged")
    finally:
        for service in reversed(STARTED):
            service.stop()
    held = sum(LEDGER.lines)
    verdict = "PASS" if held == len(LEDGER.lines) else "FAIL"
    print(f"\nsecurity: {verdict} ({held} of {len(LEDGER.lines)} checks held, {time.monotonic() - started:.0f} s)", flush=True)
    return verdict == "PASS"


def main() -> None:
    exit_on_sigterm()
    sys.exit(0 if asyncio.run(run()) else 1)


if __name__ == "__main__":
    main()
