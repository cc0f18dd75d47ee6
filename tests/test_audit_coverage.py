"""Every route that changes state leaves an audit event:
the routes come from the app's own table, so a new one cannot forget.

CALLS says, for each POST, PUT, PATCH and DELETE route, how to make it succeed (what to set up first, the
request, the role) and which action it must leave in the trail. A route the app serves that is missing from
CALLS fails the test until someone writes down how to call it; STORES_NOTHING holds the few that only read,
and for them the test checks that no table gained or lost a row.
"""

import base64
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Response
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import func, select, text
from sqlmodel import SQLModel

from app.console.auth import start_session
from app.main import create_app
from app.models.audit import CHECKPOINT_EXAMPLE
from app.models.vocabulary import Role
from app.principal import Principal
from app.services.policies.registry import derived_example
from tests.factories import COURT_ORDER, EMERGENCY, REFERRED, register_agreement, register_organisation, submit
from tests.factories import EPR_ASSET as INFORMATION_ASSET
from tests.rules.baseline import baseline_request, changed
from tests.support import Tokens, form_token, replay_window, settings_for
from tests.test_incidents import incident, made_disclosure

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RATIONALE = "Shared care plan agreed with the recipient; onward sharing limited to the named team."
GROUNDS = "The recipient now stores the record in the UK, which answers the reason for the refusal."
PUBLIC_HOOK = "https://93.184.215.14/hook"  # a public address literal: registrable without DNS
# Counts every call, whatever it does (the rate limiter's buckets on PostgreSQL): traffic, not state a caller changes.
TRAFFIC_TABLES = frozenset({"rate_limits"})


def state_changing_routes() -> list[tuple[str, str]]:
    """(method, path) of every route the app serves with POST, PUT, PATCH or DELETE."""
    served = create_app(settings_for("sqlite+aiosqlite:///:memory:"))
    found = set()
    # FastAPI keeps included routers as branches of app.routes; iter_route_contexts walks them with their prefixes.
    for context in iter_route_contexts(served.routes):
        if isinstance(context.original_route, APIRoute):
            found |= {(method, str(context.path)) for method in context.methods or () if method in STATE_CHANGING}
    return sorted(found)


ROUTES = state_changing_routes()


@dataclass(frozen=True)
class Request:
    """One HTTP request, after its setup has been made."""

    method: str
    url: str
    headers: dict[str, str]
    json: Any = None
    params: dict[str, str] = field(default_factory=dict)
    files: Any = None  # multipart/form-data, with `data` as its other fields
    data: Any = None


Setup = Callable[[httpx.AsyncClient, Tokens], Awaitable[Request]]


@dataclass(frozen=True)
class Call:
    """How to make a route succeed, the status it answers, and the action it must leave in the trail."""

    setup: Setup
    status: int
    action: str


def guardian(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")


async def requester(client: httpx.AsyncClient, tokens: Tokens) -> dict[str, str]:
    await register_organisation(client, tokens, "RXT01")
    return tokens.agency("RXT01")


async def referred(client: httpx.AsyncClient, tokens: Tokens, changes: dict[str, Any] = REFERRED) -> str:
    await requester(client, tokens)
    response = await submit(client, tokens, changed(changes))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def claimed(client: httpx.AsyncClient, tokens: Tokens, changes: dict[str, Any] = REFERRED) -> str:
    request_id = await referred(client, tokens, changes)
    response = await client.post(f"/v1/sharing-requests/{request_id}/claim", headers=guardian(tokens))
    assert response.status_code == 200, response.text
    return request_id


async def endpoint(client: httpx.AsyncClient, tokens: Tokens) -> tuple[str, dict[str, str]]:
    agency = await requester(client, tokens)
    response = await client.post(
        "/v1/webhook-endpoints", json={"url": PUBLIC_HOOK, "event_types": ["sharing_request.decided"]}, headers=agency
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"]), agency


async def register_org(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    body = {"code": "RXT01", "name": "Royal Test Trust", "type": "nhs_trust", "dspt_status": "standards_met"}
    return Request("POST", "/v1/organisations", tokens.admin(), body)


async def change_org(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    await requester(client, tokens)
    current = (await client.get("/v1/organisations/RXT01", headers=tokens.admin())).headers["ETag"]
    return Request(
        "PATCH",
        "/v1/organisations/RXT01",
        tokens.admin() | {"If-Match": current},
        {"dspt_status": "standards_exceeded"},
    )


async def register_isa(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    await requester(client, tokens)
    body = {
        "code": "ISA-TEST",
        "title": "Test agreement",
        "parties": ["RXT01"],
        "purposes": ["direct_care"],
        "data_categories": ["demographics"],
        "valid_from": "2020-01-01",
        "valid_until": "2099-12-31",
        "status": "active",
    }
    return Request("POST", "/v1/sharing-agreements", tokens.admin(), body)


async def change_isa(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    await requester(client, tokens)
    await register_agreement(client, tokens)
    current = (await client.get("/v1/sharing-agreements/ISA-TEST", headers=tokens.admin())).headers["ETag"]
    return Request(
        "PATCH", "/v1/sharing-agreements/ISA-TEST", tokens.admin() | {"If-Match": current}, {"status": "suspended"}
    )


ASSET = INFORMATION_ASSET | {"data_categories": ["demographics"], "hosting": "On premises"}


async def register_asset(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    return Request("POST", "/v1/information-assets", tokens.headers("CONTROLLER", Role.IG_MANAGER), ASSET)


async def change_asset(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    response = await client.post("/v1/information-assets", json=ASSET, headers=tokens.admin())
    assert response.status_code == 201, response.text
    owner = tokens.headers("CONTROLLER", Role.IAO, sub="iao-1")
    current = response.headers["ETag"]
    return Request("PATCH", "/v1/information-assets/EPR", owner | {"If-Match": current}, {"hosting": "Cloud"})


INCIDENT_CLOSURE = {
    "outcome": "The practice destroyed the letter the same day and confirmed it in writing.",
    "lessons": "Check the practice code against the national directory before sending.",
}


def now_stamp() -> str:
    return datetime.now(UTC).isoformat()


async def an_incident(client: httpx.AsyncClient, tokens: Tokens, likelihood: int = 3) -> str:
    """An incident recorded by a guardian against a disclosure made (tests/test_incidents.py writes the disclosure)."""
    body = incident(await made_disclosure(client, tokens), likelihood=likelihood)
    recorded = await client.post("/v1/incidents", json=body, headers=guardian(tokens))
    assert recorded.status_code == 201, recorded.text
    return str(recorded.json()["id"])


async def record_incident(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    await register_organisation(client, tokens, "RXT01")
    body = incident(await made_disclosure(client, tokens))
    return Request("POST", "/v1/incidents", tokens.headers("CONTROLLER", Role.IAO, sub="iao-1"), body)


async def regrade_incident(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    await register_organisation(client, tokens, "RXT01")
    url = f"/v1/incidents/{await an_incident(client, tokens)}/grading"
    return Request("POST", url, tokens.headers("CONTROLLER", Role.SIRO), {"likelihood": 4, "severity": 3})


async def report_incident(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    await register_organisation(client, tokens, "RXT01")
    url = f"/v1/incidents/{await an_incident(client, tokens)}/report"
    body = {"reported_at": now_stamp(), "reference": "DSPT-1"}
    return Request("POST", url, tokens.headers("CONTROLLER", Role.DPO), body)


async def confirm_recall(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    await register_organisation(client, tokens, "RXT01")
    url = f"/v1/incidents/{await an_incident(client, tokens)}/recall-confirmation"
    return Request("POST", url, tokens.agency("RXT01"), {"outcome": "returned", "confirmed_at": now_stamp()})


async def close_incident(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    await register_organisation(client, tokens, "RXT01")
    url = f"/v1/incidents/{await an_incident(client, tokens, likelihood=1)}/closure"
    return Request("POST", url, tokens.headers("CONTROLLER", Role.IG_MANAGER), INCIDENT_CLOSURE)


async def upload_policy(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    return Request("POST", "/v1/policies", tokens.admin(), derived_example())


async def activate_policy(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    return Request("POST", "/v1/policies/uk-caldicott-baseline/2028.2/activate", tokens.admin())


async def replay_policy(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    await requester(client, tokens)
    await submit(client, tokens, baseline_request())
    return Request("POST", "/v1/policies/uk-caldicott-baseline/2026.1/replay", guardian(tokens), replay_window())


async def submit_request(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    return Request("POST", "/v1/sharing-requests", await requester(client, tokens), baseline_request())


async def evaluate(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    return Request("POST", "/v1/evaluate", await requester(client, tokens), baseline_request())


async def claim(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    return Request("POST", f"/v1/sharing-requests/{await referred(client, tokens)}/claim", guardian(tokens))


async def release(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    return Request("POST", f"/v1/sharing-requests/{await claimed(client, tokens)}/release", guardian(tokens))


async def renew_claim(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    return Request("POST", f"/v1/sharing-requests/{await claimed(client, tokens)}/claim/renew", guardian(tokens))


async def hand_over(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    body = {"to": "guardian-2", "note": "On leave from tomorrow; the answer on retention is due Friday."}
    return Request("POST", f"/v1/sharing-requests/{await claimed(client, tokens)}/hand-over", guardian(tokens), body)


async def search_queue(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    await referred(client, tokens)
    return Request("POST", "/v1/review-queue/search", guardian(tokens), {"identifier": "9990000018"})


async def review(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    body = {"outcome": "approve", "rationale": RATIONALE}
    return Request("POST", f"/v1/sharing-requests/{await claimed(client, tokens)}/review", guardian(tokens), body)


async def retrospective_review(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    share = await claimed(client, tokens, EMERGENCY)
    return Request(
        "POST",
        f"/v1/sharing-requests/{share}/retrospective-review",
        guardian(tokens),
        {"outcome": "upheld", "rationale": RATIONALE},
    )


async def amend(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    request_id = await claimed(client, tokens)
    asked = await client.post(
        f"/v1/sharing-requests/{request_id}/review",
        json={"outcome": "request_information", "rationale": RATIONALE},
        headers=guardian(tokens),
    )
    assert asked.status_code == 200, asked.text
    return Request(
        "POST",
        f"/v1/sharing-requests/{request_id}/amendments",
        tokens.agency("RXT01"),
        {"request": baseline_request(), "note": "revised"},
    )


async def withdraw(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    return Request("POST", f"/v1/sharing-requests/{await referred(client, tokens)}/withdraw", tokens.agency("RXT01"))


async def reconsideration(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    await requester(client, tokens)
    refused = await submit(client, tokens, changed({"recipient.storage_region": "other"}))
    assert refused.json()["status"] == "refused", refused.text
    return Request(
        "POST",
        f"/v1/sharing-requests/{refused.json()['id']}/reconsideration",
        tokens.agency("RXT01"),
        {"grounds": GROUNDS},
    )


async def decide_reconsideration(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    asked = await reconsideration(client, tokens)
    assert (await client.post(asked.url, json=asked.json, headers=asked.headers)).status_code == 201
    request_id = asked.url.split("/")[3]
    assert (await client.post(f"/v1/sharing-requests/{request_id}/claim", headers=guardian(tokens))).status_code == 200
    return Request(
        "POST",
        f"/v1/sharing-requests/{request_id}/reconsideration/decision",
        guardian(tokens),
        {"outcome": "upheld", "rationale": RATIONALE},
    )


async def record_check(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    await register_organisation(client, tokens, "POL01", type="police")
    shared = await submit(client, tokens, changed(COURT_ORDER), org="POL01")
    assert shared.json()["open_checks"] == ["CP6.court_order_verified"], shared.text
    body = {"outcome": "done", "checked": "Sealed order 2028/123 seen; it covers the diagnoses asked for."}
    path = f"/v1/sharing-requests/{shared.json()['id']}/controller-checks/CP6.court_order_verified"
    return Request("POST", path, tokens.headers("CONTROLLER", Role.IG_MANAGER, sub="ig-1"), body)


async def release_notice(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    await requester(client, tokens)
    shared = await submit(client, tokens, changed({"subjects.age_group": "mixed", "subjects.count": 3}))
    assert shared.status_code == 201, shared.text
    body = {
        "audience": "subject",
        "why": "The parents are not a party to any concern about the children.",
        "not_implicated": True,
    }
    return Request("POST", f"/v1/sharing-requests/{shared.json()['id']}/notice-releases", guardian(tokens), body)


QUESTION = {
    "proposed_outcome": "refuse",
    "question": "I propose to refuse the onward sharing as unnecessary. Do you agree?",
}
MEMBERS = [{"sub": "guardian-2", "org": "CONTROLLER"}, {"sub": "guardian-3", "org": "CONTROLLER"}]
PANEL = {"reason": "The onward sharing is unusual enough that three guardians should decide it.", "members": MEMBERS}


def other_guardian(tokens: Tokens, number: int = 2) -> dict[str, str]:
    return tokens.headers("CONTROLLER", Role.GUARDIAN, sub=f"guardian-{number}")


async def request_opinion(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    return Request(
        "POST", f"/v1/sharing-requests/{await claimed(client, tokens)}/opinions/requests", guardian(tokens), QUESTION
    )


CONSULTATION = {
    "role": "dpo",
    "question": "Does the onward sharing to the community team need a new entry in the record of processing?",
    "due_at": "2099-01-01T12:00:00Z",
}


async def ask_consultation(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    return Request(
        "POST", f"/v1/sharing-requests/{await claimed(client, tokens)}/consultations", guardian(tokens), CONSULTATION
    )


async def answer_consultation(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    request_id = await claimed(client, tokens)
    asked = await client.post(
        f"/v1/sharing-requests/{request_id}/consultations", json=CONSULTATION, headers=guardian(tokens)
    )
    assert asked.status_code == 201, asked.text
    return Request(
        "POST",
        f"/v1/sharing-requests/{request_id}/consultations/{asked.json()['id']}/answer",
        tokens.headers("CONTROLLER", Role.DPO, sub="dpo-1"),
        {"answer": "No new entry: the community team is already a recipient in the record of processing."},
    )


async def record_disclosure(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    await register_organisation(client, tokens, "RXT01")
    iao = tokens.headers("CONTROLLER", Role.IAO, sub="iao-1")
    asset = await client.post("/v1/information-assets", json=INFORMATION_ASSET, headers=tokens.admin())
    assert asset.status_code == 201, asset.text
    assert (await submit(client, tokens, baseline_request())).status_code == 201
    [pending] = (await client.get("/v1/disclosures", headers=iao)).json()["items"]
    body = {"outcome": "not_disclosed", "reason": "The record holds nothing for this person since 2019."}
    return Request("POST", f"/v1/disclosures/{pending['id']}/record", iao, body)


async def give_opinion(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    request_id = await claimed(client, tokens)
    assert (
        await client.post(
            f"/v1/sharing-requests/{request_id}/opinions/requests", json=QUESTION, headers=guardian(tokens)
        )
    ).status_code == 201
    return Request(
        "POST",
        f"/v1/sharing-requests/{request_id}/opinions",
        other_guardian(tokens),
        {"opinion": "agree", "rationale": RATIONALE},
    )


async def open_panel(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    return Request("POST", f"/v1/sharing-requests/{await claimed(client, tokens)}/panel", guardian(tokens), PANEL)


async def panel(client: httpx.AsyncClient, tokens: Tokens) -> str:
    opened = await open_panel(client, tokens)
    assert (await client.post(opened.url, json=opened.json, headers=opened.headers)).status_code == 201
    return opened.url


async def vote(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    return Request(
        "POST", f"{await panel(client, tokens)}/votes", guardian(tokens), {"vote": "approve", "rationale": RATIONALE}
    )


async def withdraw_vote(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    return Request("POST", f"{await panel(client, tokens)}/withdrawals", guardian(tokens), {"rationale": RATIONALE})


async def close_panel(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    url = await panel(client, tokens)
    for number in (1, 2, 3):  # every member, the chair included, votes before the deadline for the panel to close
        assert (
            await client.post(
                f"{url}/votes", json={"vote": "approve", "rationale": RATIONALE}, headers=other_guardian(tokens, number)
            )
        ).status_code == 201
    return Request("POST", f"{url}/decision", guardian(tokens), {"rationale": RATIONALE})


async def attach(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    files = {"file": ("order.pdf", b"%PDF-1.7\n%%EOF\n", "application/pdf")}
    request_id = await referred(client, tokens)
    return Request(
        "POST",
        f"/v1/sharing-requests/{request_id}/attachments",
        tokens.agency("RXT01"),
        files=files,
        data={"kind": "court_order"},
    )


async def verify_evidence(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    made = await attach(client, tokens)
    uploaded = await client.post(made.url, files=made.files, data=made.data, headers=made.headers)
    assert uploaded.status_code == 201, uploaded.text
    body = {"outcome": "rejected", "checked": "A typed page headed 'court order': no seal, no court, no number."}
    order = {"issued_by": "unknown", "issued_on": "2026-11-20", "number": "none", "sealed_or_signed": False}
    order |= {"in_date": False, "addressed_to_controller": False, "covers_information": False}
    return Request(
        "POST", f"{made.url}/{uploaded.json()['id']}/verifications", guardian(tokens), body | {"order": order}
    )


async def keep_signed_copy(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    await register_organisation(client, tokens, "RXT01")
    await register_agreement(client, tokens)
    files = {"file": ("signed.pdf", b"%PDF-1.7\n%%EOF\n", "application/pdf")}
    return Request(
        "POST", "/v1/sharing-agreements/ISA-TEST/attachments", tokens.admin(), files=files, data={"kind": "agreement"}
    )


async def search_disclosures(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    return Request("POST", "/v1/reports/subject-disclosures", guardian(tokens), {"identifier": "9990000018"})


async def verify_against_a_witness(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    auditor = tokens.headers("CONTROLLER", Role.AUDITOR, sub="auditor-1")
    return Request("POST", "/v1/audit/verify", auditor, {"checkpoints": [CHECKPOINT_EXAMPLE]})


async def register_hook(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    return Request(
        "POST",
        "/v1/webhook-endpoints",
        await requester(client, tokens),
        {"url": PUBLIC_HOOK, "event_types": ["sharing_request.decided"]},
    )


async def change_hook(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    endpoint_id, agency = await endpoint(client, tokens)
    return Request("PATCH", f"/v1/webhook-endpoints/{endpoint_id}", agency, {"enabled": False})


async def delete_hook(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    endpoint_id, agency = await endpoint(client, tokens)
    return Request("DELETE", f"/v1/webhook-endpoints/{endpoint_id}", agency)


async def rotate_hook_secret(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    endpoint_id, agency = await endpoint(client, tokens)
    return Request("POST", f"/v1/webhook-endpoints/{endpoint_id}/rotate-secret", agency)


async def redeliver(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    endpoint_id, agency = await endpoint(client, tokens)
    await submit(client, tokens, baseline_request())  # decided at once: one delivery to the endpoint
    listed = await client.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=agency)
    [delivery] = listed.json()["items"]
    return Request("POST", f"/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery['id']}/redeliver", agency)


async def redeliver_since(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    endpoint_id, agency = await endpoint(client, tokens)
    await submit(client, tokens, baseline_request())
    return Request(
        "POST", f"/v1/webhook-endpoints/{endpoint_id}/redeliveries", agency, json={"since": "2026-01-01T00:00:00Z"}
    )


async def send_test_hook(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    endpoint_id, agency = await endpoint(client, tokens)
    return Request("POST", f"/v1/webhook-endpoints/{endpoint_id}/test", agency)


WITHHOLDING_REASON = "Publishing it now would alert the subject of a live investigation."


async def withhold_register_entry(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    body = {"request_id": await referred(client, tokens), "reason": WITHHOLDING_REASON}
    return Request("POST", "/v1/register/withholdings", tokens.admin(), body)


async def restore_register_entry(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    body = {"request_id": await referred(client, tokens), "reason": WITHHOLDING_REASON}
    withheld = await client.post("/v1/register/withholdings", json=body, headers=tokens.admin())
    assert withheld.status_code == 201, withheld.text
    return Request("DELETE", f"/v1/register/withholdings/{body['request_id']}", tokens.admin())


# The console's forms: a person signed in through the development sign-in, its cookie sent as a header (the test
# client speaks plain http, where a Secure cookie would not be sent), and the form token its pages give.


def cookie_of(response: httpx.Response, name: str) -> str:
    (line,) = [line for line in response.headers.get_list("set-cookie") if line.startswith(f"{name}=")]
    return line.split(";", 1)[0]


async def console_person(client: httpx.AsyncClient, role: Role = Role.GUARDIAN, name: str = "Grace") -> Request:
    """A console POST's headers and form token for a person signed in with `role` (the URL is the caller's)."""
    sign_in = await console_sign_in(client, tokens=None)
    signed_in = await client.post(sign_in.url, headers=sign_in.headers, data=sign_in.data | {"role": role.value})
    assert signed_in.status_code == 303, signed_in.text
    headers = {"Cookie": cookie_of(signed_in, "caldicott_console")}
    page = await client.get("/console/sign-out", headers=headers)
    return Request("POST", "", headers, data={"csrf_token": form_token(page.text)})


async def console_sign_in(client: httpx.AsyncClient, tokens: Tokens | None) -> Request:
    page = await client.get("/console/sign-in")
    data = {"csrf_token": form_token(page.text), "name": "Grace Guardian", "role": "guardian"}
    return Request("POST", "/console/dev-sign-in", {"Cookie": cookie_of(page, "caldicott_console_form")}, data=data)


async def console_as(client: httpx.AsyncClient, bearer: dict[str, str]) -> dict[str, str]:
    """The headers of a console POST by the person a setup's bearer token names, signed in as the development sign-in
    would sign them in (their own sub, which that sign-in cannot choose), and their form token."""
    claims = json.loads(base64.urlsafe_b64decode(bearer["Authorization"].split(".")[1] + "=="))
    principal = Principal(sub=claims["sub"], org=claims["org"], roles=frozenset(map(Role, claims["roles"])))
    application = client._transport.app  # type: ignore[attr-defined]
    response = Response()
    async with application.state.wiring.sessionmaker() as db:
        row = await start_session(
            db, response, principal=principal, name=principal.sub, email="", method="development", hours=1
        )
        await db.commit()
    await application.state.wiring.chainer.settle()
    cookie = response.headers["set-cookie"].split(";", 1)[0]
    return {"Cookie": cookie, "csrf_token": row.csrf_token}


def lines(values: list[Any] | None) -> str:
    return "\n".join(str(value) for value in values or [])


def ticked(value: Any) -> str | None:
    return "yes" if value else None


def on_console(api_setup: Setup, path: str, form: Callable[[dict[str, Any]], dict[str, Any]]) -> Setup:
    """The console's form for what `api_setup` sets up: the same state, the same person, the API body as the form
    sends it, posted to `path` under the request's console page (its audit event is the API's own)."""

    async def setup(client: httpx.AsyncClient, tokens: Tokens) -> Request:
        api = await api_setup(client, tokens)
        request_id = api.url.split("/")[3]
        person = await console_as(client, api.headers)
        data = {key: value for key, value in form(api.json or {}).items() if value is not None}
        return Request(
            "POST",
            f"/console/cases/{request_id}{path}",
            {"Cookie": person["Cookie"]},
            data=data | {"csrf_token": person["csrf_token"]},
        )

    return setup


def same_fields(body: dict[str, Any]) -> dict[str, Any]:
    return body


def with_lines(*names: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The body with each of `names` (a list) as a text area of one entry per line."""
    return lambda body: body | {name: lines(body.get(name)) for name in names}


def opinion_request_form(body: dict[str, Any]) -> dict[str, Any]:
    guardian = body.get("guardian") or {}
    return {key: body.get(key) for key in ("proposed_outcome", "question")} | {
        "guardian": guardian.get("sub"),
        "guardian_org": guardian.get("org"),
    }


def panel_form(body: dict[str, Any]) -> dict[str, Any]:
    return {"reason": body.get("reason"), "members": lines([member["sub"] for member in body["members"]])}


def reconsideration_form(body: dict[str, Any]) -> dict[str, Any]:
    new = body.get("decision") or {}
    return {
        "outcome": body["outcome"],
        "rationale": body["rationale"],
        "decision": new.get("outcome"),
        "conditions": lines(new.get("conditions")),
        "approved_items": new.get("approved_items"),
    }


def notice_release_form(body: dict[str, Any]) -> dict[str, Any]:
    ticks = ("not_implicated", "access_to_health_records_checked")
    return body | {name: ticked(body.get(name)) for name in ticks}


def on_policies_page(api_setup: Setup, path: str, form: Callable[[list[str]], dict[str, str]]) -> Setup:
    """The policies page's form for what `api_setup` sets up (an activation or a replay of the policy in its URL),
    posted by the same person to `path`."""

    async def setup(client: httpx.AsyncClient, tokens: Tokens) -> Request:
        api = await api_setup(client, tokens)
        person = await console_as(client, api.headers)
        fields = form(api.url.split("/")[3:5])  # /v1/policies/{name}/{version}/...
        return Request("POST", path, {"Cookie": person["Cookie"]}, data=fields | {"csrf_token": person["csrf_token"]})

    return setup


async def console_activate_policy(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    """The page's activation form carries the activation it showed: the ETag of GET /v1/policies."""
    activation = (await client.get("/v1/policies", headers=tokens.admin())).headers["ETag"]
    setup = on_policies_page(
        activate_policy,
        "/console/policies/activate",
        lambda policy: {"name": policy[0], "version": policy[1], "activation": activation},
    )
    return await setup(client, tokens)


def verification_form(body: dict[str, Any]) -> dict[str, Any]:
    order = body.get("order") or {}
    checks = ("sealed_or_signed", "in_date", "addressed_to_controller", "covers_information")
    fields = {name: order.get(name) for name in ("issued_by", "issued_on", "number", "return_date", "produce_to")}
    return (
        {"outcome": body["outcome"], "checked": body["checked"], "order": "yes" if order else None}
        | fields
        | {name: ticked(order.get(name)) for name in checks}
    )


async def verify_on_console(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    api = await verify_evidence(client, tokens)
    attachment = api.url.split("/")[5]

    async def made(_client: httpx.AsyncClient, _tokens: Tokens) -> Request:
        return api

    return await on_console(made, f"/attachments/{attachment}/verify", verification_form)(client, tokens)


async def find_person_on_console(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    await referred(client, tokens)
    person = await console_as(client, guardian(tokens))
    data = {"nhs_number": "9990000018", "csrf_token": person["csrf_token"]}
    return Request("POST", "/console/queue/person", {"Cookie": person["Cookie"]}, data=data)


async def answer_on_console(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    """The consultations page's answer form, posted by the DPO the API's answer names."""
    api = await answer_consultation(client, tokens)
    consultation_id = api.url.split("/")[5]  # /v1/sharing-requests/{id}/consultations/{id}/answer
    person = await console_as(client, api.headers)
    data = (api.json or {}) | {"csrf_token": person["csrf_token"]}
    return Request("POST", f"/console/consultations/{consultation_id}/answer", {"Cookie": person["Cookie"]}, data=data)


async def console_sign_out(client: httpx.AsyncClient, tokens: Tokens) -> Request:
    person = await console_person(client)
    return Request("POST", "/console/sign-out", person.headers, data=person.data)


CALLS: dict[tuple[str, str], Call] = {
    ("POST", "/console/dev-sign-in"): Call(console_sign_in, 303, "console_signed_in"),
    ("POST", "/console/sign-out"): Call(console_sign_out, 303, "console_signed_out"),
    ("POST", "/console/cases/{request_id}/claim"): Call(on_console(claim, "/claim", same_fields), 303, "claimed"),
    ("POST", "/console/cases/{request_id}/release"): Call(
        on_console(release, "/release", same_fields), 303, "released"
    ),
    ("POST", "/console/cases/{request_id}/renew"): Call(
        on_console(renew_claim, "/renew", same_fields), 303, "claim_renewed"
    ),
    ("POST", "/console/cases/{request_id}/hand-over"): Call(
        on_console(hand_over, "/hand-over", same_fields), 303, "handed_over"
    ),
    ("POST", "/console/cases/{request_id}/decide"): Call(
        on_console(review, "/decide", with_lines("conditions")), 303, "reviewed"
    ),
    ("POST", "/console/cases/{request_id}/attachments/{attachment_id}/verify"): Call(
        verify_on_console, 303, "evidence_verified"
    ),
    ("POST", "/console/cases/{request_id}/deliberation/opinion-requests"): Call(
        on_console(request_opinion, "/deliberation/opinion-requests", opinion_request_form), 303, "opinion_requested"
    ),
    ("POST", "/console/cases/{request_id}/deliberation/opinions"): Call(
        on_console(give_opinion, "/deliberation/opinions", same_fields), 303, "opinion_given"
    ),
    ("POST", "/console/cases/{request_id}/deliberation/panel"): Call(
        on_console(open_panel, "/deliberation/panel", panel_form), 303, "panel_opened"
    ),
    ("POST", "/console/cases/{request_id}/deliberation/panel/votes"): Call(
        on_console(vote, "/deliberation/panel/votes", with_lines("conditions")), 303, "panel_voted"
    ),
    ("POST", "/console/cases/{request_id}/deliberation/panel/withdrawals"): Call(
        on_console(withdraw_vote, "/deliberation/panel/withdrawals", same_fields), 303, "panel_vote_withdrawn"
    ),
    ("POST", "/console/cases/{request_id}/deliberation/panel/decision"): Call(
        on_console(close_panel, "/deliberation/panel/decision", with_lines("conditions")), 303, "panel_decided"
    ),
    ("POST", "/console/cases/{request_id}/deliberation/reconsideration"): Call(
        on_console(decide_reconsideration, "/deliberation/reconsideration", reconsideration_form), 303, "reconsidered"
    ),
    ("POST", "/console/cases/{request_id}/deliberation/retrospective-review"): Call(
        on_console(retrospective_review, "/deliberation/retrospective-review", same_fields),
        303,
        "retrospective_reviewed",
    ),
    ("POST", "/console/cases/{request_id}/deliberation/notice-releases"): Call(
        on_console(release_notice, "/deliberation/notice-releases", notice_release_form), 303, "notice_released"
    ),
    ("POST", "/console/consultations/{consultation_id}/answer"): Call(answer_on_console, 303, "consultation_answered"),
    ("POST", "/console/policies/activate"): Call(console_activate_policy, 303, "policy_activated"),
    ("POST", "/console/policies/replay"): Call(
        on_policies_page(replay_policy, "/console/policies/replay", lambda policy: {"policy": "/".join(policy)}),
        303,
        "policy_replayed",
    ),
    ("POST", "/v1/organisations"): Call(register_org, 201, "organisation_registered"),
    ("PATCH", "/v1/organisations/{code}"): Call(change_org, 200, "organisation_changed"),
    ("POST", "/v1/sharing-agreements"): Call(register_isa, 201, "agreement_registered"),
    ("PATCH", "/v1/sharing-agreements/{code}"): Call(change_isa, 200, "agreement_changed"),
    ("POST", "/v1/information-assets"): Call(register_asset, 201, "information_asset_registered"),
    ("PATCH", "/v1/information-assets/{code}"): Call(change_asset, 200, "information_asset_changed"),
    ("POST", "/v1/incidents"): Call(record_incident, 201, "incident_recorded"),
    ("POST", "/v1/incidents/{incident_id}/grading"): Call(regrade_incident, 200, "incident_graded"),
    ("POST", "/v1/incidents/{incident_id}/report"): Call(report_incident, 200, "incident_reported"),
    ("POST", "/v1/incidents/{incident_id}/recall-confirmation"): Call(confirm_recall, 200, "recall_confirmed"),
    ("POST", "/v1/incidents/{incident_id}/closure"): Call(close_incident, 200, "incident_closed"),
    ("POST", "/v1/policies"): Call(upload_policy, 201, "policy_uploaded"),
    ("POST", "/v1/policies/{name}/{version}/activate"): Call(activate_policy, 200, "policy_activated"),
    ("POST", "/v1/policies/{name}/{version}/replay"): Call(replay_policy, 201, "policy_replayed"),
    ("POST", "/v1/sharing-requests"): Call(submit_request, 201, "submitted"),
    ("POST", "/v1/sharing-requests/{request_id}/claim"): Call(claim, 200, "claimed"),
    ("POST", "/v1/sharing-requests/{request_id}/release"): Call(release, 200, "released"),
    ("POST", "/v1/sharing-requests/{request_id}/claim/renew"): Call(renew_claim, 200, "claim_renewed"),
    ("POST", "/v1/sharing-requests/{request_id}/hand-over"): Call(hand_over, 200, "handed_over"),
    ("POST", "/v1/sharing-requests/{request_id}/review"): Call(review, 200, "reviewed"),
    ("POST", "/v1/sharing-requests/{request_id}/retrospective-review"): Call(
        retrospective_review, 200, "retrospective_reviewed"
    ),
    ("POST", "/v1/sharing-requests/{request_id}/amendments"): Call(amend, 200, "amended"),
    ("POST", "/v1/sharing-requests/{request_id}/withdraw"): Call(withdraw, 200, "withdrawn"),
    ("POST", "/v1/sharing-requests/{request_id}/reconsideration"): Call(
        reconsideration, 201, "reconsideration_requested"
    ),
    ("POST", "/v1/sharing-requests/{request_id}/reconsideration/decision"): Call(
        decide_reconsideration, 200, "reconsidered"
    ),
    ("POST", "/v1/sharing-requests/{request_id}/controller-checks/{check_name}"): Call(
        record_check, 200, "controller_check_recorded"
    ),
    ("POST", "/v1/sharing-requests/{request_id}/notice-releases"): Call(release_notice, 201, "notice_released"),
    ("POST", "/v1/sharing-requests/{request_id}/opinions/requests"): Call(request_opinion, 201, "opinion_requested"),
    ("POST", "/v1/sharing-requests/{request_id}/opinions"): Call(give_opinion, 201, "opinion_given"),
    ("POST", "/v1/sharing-requests/{request_id}/consultations"): Call(ask_consultation, 201, "consultation_requested"),
    ("POST", "/v1/disclosures/{disclosure_id}/record"): Call(record_disclosure, 200, "disclosure_recorded"),
    ("POST", "/v1/sharing-requests/{request_id}/consultations/{consultation_id}/answer"): Call(
        answer_consultation, 200, "consultation_answered"
    ),
    ("POST", "/v1/sharing-requests/{request_id}/panel"): Call(open_panel, 201, "panel_opened"),
    ("POST", "/v1/sharing-requests/{request_id}/panel/votes"): Call(vote, 201, "panel_voted"),
    ("POST", "/v1/sharing-requests/{request_id}/panel/withdrawals"): Call(withdraw_vote, 201, "panel_vote_withdrawn"),
    ("POST", "/v1/sharing-requests/{request_id}/panel/decision"): Call(close_panel, 200, "panel_decided"),
    ("POST", "/v1/sharing-requests/{request_id}/attachments"): Call(attach, 201, "attachment_added"),
    ("POST", "/v1/sharing-requests/{request_id}/attachments/{attachment_id}/verifications"): Call(
        verify_evidence, 201, "evidence_verified"
    ),
    ("POST", "/v1/sharing-agreements/{code}/attachments"): Call(keep_signed_copy, 201, "agreement_document_added"),
    ("POST", "/v1/reports/subject-disclosures"): Call(search_disclosures, 200, "subject_disclosures_searched"),
    ("POST", "/v1/audit/verify"): Call(verify_against_a_witness, 200, "audit_verified"),
    ("POST", "/v1/webhook-endpoints"): Call(register_hook, 201, "webhook_endpoint_registered"),
    ("PATCH", "/v1/webhook-endpoints/{endpoint_id}"): Call(change_hook, 200, "webhook_endpoint_changed"),
    ("DELETE", "/v1/webhook-endpoints/{endpoint_id}"): Call(delete_hook, 204, "webhook_endpoint_deleted"),
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): Call(
        rotate_hook_secret, 200, "webhook_secret_rotated"
    ),
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/redeliver"): Call(
        redeliver, 202, "webhook_redelivery_requested"
    ),
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/redeliveries"): Call(
        redeliver_since, 202, "webhook_redeliveries_requested"
    ),
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/test"): Call(send_test_hook, 202, "webhook_test_sent"),
    ("POST", "/v1/register/withholdings"): Call(withhold_register_entry, 201, "register_entry_withheld"),
    ("DELETE", "/v1/register/withholdings/{request_id}"): Call(restore_register_entry, 204, "register_entry_restored"),
}
# POST routes that only compute an answer: checked to leave every table as it was, the trail included.
STORES_NOTHING: dict[tuple[str, str], Call] = {
    ("POST", "/v1/evaluate"): Call(evaluate, 200, ""),
    ("POST", "/v1/review-queue/search"): Call(search_queue, 200, ""),
    ("POST", "/console/queue/person"): Call(find_person_on_console, 303, ""),
}


def matches(template: str, url: str) -> bool:
    """True when the concrete URL is one the route's path template serves."""
    pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
    return re.fullmatch(pattern, url.split("?")[0]) is not None


async def audit_head(app: FastAPI) -> int:
    async with app.state.wiring.engine.connect() as connection:
        return int((await connection.execute(text("SELECT COALESCE(MAX(seq), 0) FROM audit_events"))).scalar_one())


async def actions_after(app: FastAPI, seq: int) -> list[str]:
    async with app.state.wiring.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT action FROM audit_events WHERE seq > :seq ORDER BY seq"), {"seq": seq}
        )
        return [str(row.action) for row in rows]


async def row_counts(app: FastAPI) -> dict[str, int]:
    async with app.state.wiring.engine.connect() as connection:
        tables = [table for table in SQLModel.metadata.sorted_tables if table.name not in TRAFFIC_TABLES]
        return {
            table.name: int((await connection.execute(select(func.count()).select_from(table))).scalar_one())
            for table in tables
        }


def test_the_route_table_is_read() -> None:
    # A guard on the discovery itself: were it to find nothing, every other test here would pass vacuously.
    assert ("POST", "/v1/sharing-requests") in ROUTES
    assert ("DELETE", "/v1/webhook-endpoints/{endpoint_id}") in ROUTES
    assert len(ROUTES) >= 20


def test_every_entry_of_the_tables_is_a_route_the_app_serves() -> None:
    stale = (CALLS.keys() | STORES_NOTHING.keys()) - set(ROUTES)
    assert not stale, f"these entries name routes the app no longer serves: {sorted(stale)}"
    assert not CALLS.keys() & STORES_NOTHING.keys()


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{method} {path}" for method, path in ROUTES])
async def test_every_change_of_state_leaves_an_audit_event(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, method: str, path: str
) -> None:
    call = CALLS.get((method, path)) or STORES_NOTHING.get((method, path))
    assert call is not None, (
        f"{method} {path} changes state but tests/test_audit_coverage.py does not say how to call it: add it to CALLS"
    )
    request = await call.setup(client, tokens)
    assert (request.method, matches(path, request.url)) == (method, True), (
        f"the setup for {method} {path} calls {request.method} {request.url}"
    )
    head, tables = await audit_head(app), await row_counts(app)

    response = await client.request(
        request.method,
        request.url,
        json=request.json,
        params=request.params,
        headers=request.headers,
        files=request.files,
        data=request.data,
    )

    assert response.status_code == call.status, response.text
    recorded = await actions_after(app, head)
    if (method, path) in STORES_NOTHING:
        assert (recorded, await row_counts(app)) == ([], tables)
    else:
        assert call.action in recorded, f"{method} {path} left {recorded or 'no audit event'}"
