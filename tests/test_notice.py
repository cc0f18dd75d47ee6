"""Decision notices over HTTP: the four forms, the person's own notice, who may read one, when there is none,
and the audit of each read."""

import tomllib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element
from zoneinfo import ZoneInfo

import html5lib
import httpx
import pytest
from fastapi import FastAPI

from app.errors import PROBLEM_MEDIA_TYPE, NotAcceptable
from app.main import create_app
from app.models.notice import NoticeFormat
from app.models.vocabulary import Role
from app.routers.notices import negotiate
from tests.conftest import fresh_start
from tests.factories import REFERRED, register_organisation, submit
from tests.rules.baseline import changed
from tests.support import Tokens, settings_for

ROOT = Path(__file__).resolve().parents[1]
FORMS = {
    "application/json": "application/json",
    "text/html": "text/html",
    "text/markdown": "text/markdown",
    "text/plain": "text/plain",
}
REFUSED = {"recipient.storage_region": "other"}  # CP6.international_transfer refuses it
# Two conditions from the rules: untrained staff, and a person not told of a use the privacy notice does not cover.
CONDITIONS = {
    "recipient.staff_trained": False,
    "transparency.privacy_notice_covers_use": False,
    "transparency.subject_informed": "no",
    "recipient.retention_days": 3000,
}
RATIONALE = "Onward sharing is limited to the named team; MARKER-RATIONALE-31 the address is not needed."
GUARDIAN_CONDITION = "Share onward only with the named safeguarding team, MARKER-GCOND-58."

# Distinctive text in every free-text field of a request: none of it may reach the person's own notice.
MARKERS = {
    "reference": "MARKER-REF-4711",
    "purpose.description": "Continuing care after discharge, MARKER-DESC-0815 from ward notes",
    "data_items": [
        {"category": "demographics", "form": "identifiable", "justification": "MARKER-JUST-1234 to identify"},
        {"category": "diagnoses", "form": "identifiable", "justification": "MARKER-JUST-5678 to plan care"},
    ],
    "legal_basis.reference": "MARKER-LEGAL-9001",
    "recipient.access_roles": ["MARKER-ROLE-2468 nurse"],
    "subjects.count": 2,
    "subjects.identifiers": ["9990000018", "MARKER-ID-1357"],
}
MARKER_TEXTS = [
    "MARKER-REF-4711",
    "MARKER-DESC-0815",
    "MARKER-JUST-1234",
    "MARKER-JUST-5678",
    "MARKER-LEGAL-9001",
    "MARKER-ROLE-2468",
]
# Shown to the requester, whose own words they are; never to the person.
REQUESTER_ONLY = ["MARKER-REF-4711", "MARKER-DESC-0815", "MARKER-JUST-1234", "MARKER-JUST-5678"]


def guardian(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")


def auditor(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("CONTROLLER", Role.AUDITOR, sub="auditor-1")


async def notice(
    client: httpx.AsyncClient,
    request_id: str,
    headers: dict[str, str],
    accept: str | None = "application/json",
    **params: str,
) -> httpx.Response:
    extra = {"Accept": accept} if accept is not None else {}
    return await client.get(f"/v1/sharing-requests/{request_id}/notice", params=params, headers=headers | extra)


async def decided(client: httpx.AsyncClient, tokens: Tokens, changes: dict[str, Any], status: str) -> dict[str, Any]:
    response = await submit(client, tokens, changed(changes))
    assert response.status_code == 201 and response.json()["status"] == status, response.text
    return response.json()


async def guardian_decided(client: httpx.AsyncClient, tokens: Tokens, **changes: Any) -> dict[str, Any]:
    """A referred request that a guardian approves in part, with a condition of their own."""
    request = await decided(client, tokens, REFERRED | changes, "awaiting_review")
    claim = await client.post(f"/v1/sharing-requests/{request['id']}/claim", headers=guardian(tokens))
    assert claim.status_code == 200, claim.text
    body = {
        "outcome": "approve_with_conditions",
        "rationale": RATIONALE,
        "conditions": [GUARDIAN_CONDITION],
        "approved_items": ["demographics"],
    }
    review = await client.post(f"/v1/sharing-requests/{request['id']}/review", json=body, headers=guardian(tokens))
    assert review.status_code == 200, review.text
    return request | {"decision": review.json()}


def parse_html(text: str) -> Element:
    """The page as html5lib reads it; strict, so any parse error fails the test."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(text)


def words(text: str) -> str:
    return " ".join(text.split())


def page_text(document: Element) -> str:
    body = document.find("body")
    assert body is not None
    return words(" ".join(body.itertext()))


def uk_time(moment: datetime) -> str:
    local = moment.astimezone(ZoneInfo("Europe/London"))
    return f"{local:%H:%M} on {local.day} {local:%B %Y}"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def every_form(
    client: httpx.AsyncClient, request_id: str, headers: dict[str, str], **params: str
) -> dict[str, str]:
    """The notice in its three written forms, as readers would see them (Markdown's escapes taken out);
    the JSON form is checked to be the same notice."""
    texts = {}
    for accept, media_type in FORMS.items():
        response = await notice(client, request_id, headers, accept, **params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith(media_type)
        assert response.headers["vary"] == "Accept" and response.headers["cache-control"] == "no-store"
        text = response.text
        if accept == "application/json":
            structured = response.json()
            assert structured["request_id"] == request_id and structured["audience"] == params.get(
                "audience", "requester"
            )
            continue
        if accept == "text/html":
            check_page(text)
            text = page_text(parse_html(text))
        elif accept == "text/markdown":
            text = text.replace("\\", "")
        texts[accept] = words(text)
    return texts


def check_page(text: str) -> None:
    """A printable, accessible page with no scripts."""
    document = parse_html(text)
    assert text.startswith("<!DOCTYPE html>")
    assert '<html lang="en-GB">' in text and document.get("lang") == "en-GB"
    assert document.find("head/title") is not None and document.find("head/title").text
    assert len(document.findall(".//h1")) == 1 and document.findall(".//h2")
    assert "<script" not in text.lower() and not document.findall(".//script")
    assert [style for style in document.findall("head/style") if style.get("media") == "print"]
    for table in document.findall(".//table"):
        assert table.find("caption") is not None and table.findall(".//th[@scope='col']")


async def test_a_refusal_is_noticed_in_every_form_with_the_reconsideration_deadline(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01", name="Northshire Community Trust")
    request = await decided(client, tokens, REFUSED, "refused")
    headers = tokens.agency("RXT01")

    structured = (await notice(client, request["id"], headers)).json()
    assert (structured["outcome"], structured["audience"], structured["decision_id"]) == (
        "refuse",
        "requester",
        request["decision"]["id"],
    )
    assert structured["decided_by"]["kind"] == "rules" and structured["decided_by"]["statement"].startswith(
        "the rules of policy uk-caldicott-baseline"
    )
    assert not any(entry["may_be_shared"] for entry in structured["information"]) and structured["conditions"] == []
    deadline = at(request["decision"]["decided_at"]) + timedelta(days=28)
    assert at(structured["reconsideration"]["deadline"]) == deadline
    assert structured["reconsideration"]["path"] == f"/v1/sharing-requests/{request['id']}/reconsideration"
    refusing = {
        finding["rule"]
        for principle in structured["principles"]
        for finding in principle["findings"]
        if finding["result"] == "refuse"
    }
    fired = {finding["rule"] for finding in request["decision"]["findings"] if finding["result"] == "refuse"}
    assert refusing == fired and fired

    for form, text in (await every_form(client, request["id"], headers)).items():
        assert "refused" in text and "Nothing may be shared" in text, form
        assert uk_time(deadline) in text, form
        assert f"POST /v1/sharing-requests/{request['id']}/reconsideration" in text, form
        assert "Northshire Community Trust" in text and "730 days" in text, form


async def test_conditions_set_by_the_rules_are_obligations_in_every_form(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    request = await decided(client, tokens, CONDITIONS, "approved_with_conditions")
    conditions = request["decision"]["conditions"]
    assert len(conditions) == 2

    structured = (await notice(client, request["id"], tokens.agency("RXT01"))).json()
    assert [condition["text"] for condition in structured["conditions"]] == conditions
    assert {condition["rule"] for condition in structured["conditions"]} == {"CP5.staff_trained", "CP8.transparency"}
    assert all(condition["explanation"] for condition in structured["conditions"])
    assert all(entry["may_be_shared"] for entry in structured["information"]) and structured["partial"] is False
    assert structured["recipient"]["retention_days"] == 3000
    deadline = at(request["decision"]["decided_at"]) + timedelta(days=28)

    for form, text in (await every_form(client, request["id"], tokens.agency("RXT01"))).items():
        assert "approved with conditions" in text, form
        for condition in conditions:
            assert words(condition) in text, (form, condition)
        assert uk_time(deadline) in text and "3000 days" in text, form


async def test_an_approval_without_conditions_has_no_reconsideration(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    request = await decided(client, tokens, {}, "approved")
    structured = (await notice(client, request["id"], tokens.agency("RXT01"))).json()
    assert structured["reconsideration"] is None and structured["principles"] == []
    page = (await notice(client, request["id"], tokens.agency("RXT01"), "text/html")).text
    assert "reconsider" not in page_text(parse_html(page))


async def test_a_guardians_decision_names_the_guardians_organisation_not_the_guardian(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    request = await guardian_decided(client, tokens)
    decision = request["decision"]

    structured = (await notice(client, request["id"], tokens.agency("RXT01"))).json()
    assert structured["decision_id"] == decision["id"] and structured["outcome"] == "approve_with_conditions"
    assert structured["decided_by"] | {"policy_name": None, "policy_version": None} == {
        "kind": "guardian",
        "statement": "a Caldicott Guardian of CONTROLLER (the controller)",
        "organisation": {"code": "CONTROLLER", "name": "CONTROLLER (the controller)"},
        "policy_name": None,
        "policy_version": None,
    }
    assert structured["partial"] is True
    assert {entry["category"]: entry["may_be_shared"] for entry in structured["information"]} == {
        "demographics": True,
        "diagnoses": False,
    }
    assert [condition["source"] for condition in structured["conditions"]] == ["guardian"]
    assert structured["rationale"] == RATIONALE
    deadline = at(decision["decided_at"]) + timedelta(days=28)

    for form, text in (await every_form(client, request["id"], tokens.agency("RXT01"))).items():
        assert "a Caldicott Guardian of CONTROLLER (the controller)" in text, form
        assert GUARDIAN_CONDITION in text and "MARKER-RATIONALE-31" in text, form
        assert "Only part of what was asked for may be shared" in text, form
        assert uk_time(deadline) in text, form
        assert "guardian-1" not in text, form  # the controller's internal identifier of its guardian

    for form, text in (await every_form(client, request["id"], tokens.agency("RXT01"), audience="subject")).items():
        assert "guardian-1" not in text and "MARKER-RATIONALE-31" not in text and "MARKER-GCOND-58" not in text, form
        assert "The Caldicott Guardian set 1 condition on the recipient" in text, form


async def test_the_persons_notice_holds_no_free_text_identifiers_or_staff(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01", name="Northshire Community Trust")
    request = await decided(client, tokens, MARKERS | CONDITIONS, "approved_with_conditions")
    hashes = request["request"]["subjects"]["identifier_hashes"]
    assert len(hashes) == 2

    for reader in (tokens.agency("RXT01"), guardian(tokens), auditor(tokens)):
        for form, text in (await every_form(client, request["id"], reader, audience="subject")).items():
            for secret in [
                *MARKER_TEXTS,
                "MARKER-ID-1357",
                "9990000018",
                *hashes,
                "user-rxt01",
                "auditor-1",
                "guardian-1",
            ]:
                assert secret not in text, (form, secret)
            # What the person is told: who asked, what for, what may be shared, and the obligations on the recipient.
            assert "Northshire Community Trust" in text and "information about you" in text, form
            for condition in request["decision"]["conditions"]:
                assert words(condition) in text, (form, condition)
            assert "reconsider" not in text and "your rights" in text.lower(), form
    structured = (await notice(client, request["id"], tokens.agency("RXT01"), audience="subject")).json()
    assert (
        structured["reference"] is None
        and structured["purpose"]["description"] is None
        and structured["rationale"] is None
    )
    assert structured["reconsideration"] is None and all(
        entry["justification"] is None for entry in structured["information"]
    )

    # The same markers reach the requester's own notice, so their absence above is the subject variant's doing.
    for form, text in (await every_form(client, request["id"], tokens.agency("RXT01"))).items():
        for marker in REQUESTER_ONLY:
            assert marker in text, (form, marker)
        for secret in ["MARKER-ID-1357", "9990000018", *hashes]:
            assert secret not in text, (form, secret)


async def test_another_agency_gets_404_and_oversight_sees_every_notice(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "LA-NSH", type="local_authority")
    request = await decided(client, tokens, REFUSED, "refused")

    unknown_id = "00000000-0000-0000-0000-000000000000"
    for accept in ("application/json", "text/html"):
        response = await notice(client, request["id"], tokens.agency("LA-NSH"), accept)
        assert response.status_code == 404 and response.headers["content-type"] == PROBLEM_MEDIA_TYPE, accept
        assert "RXT01" not in response.text
        assert (await notice(client, unknown_id, tokens.agency("RXT01"), accept)).status_code == 404
    # The Accept header is weighed before the request is looked up, so a 406 says nothing about whether it exists.
    theirs = await notice(client, request["id"], tokens.agency("LA-NSH"), "image/png")
    unknown = await notice(client, unknown_id, tokens.agency("LA-NSH"), "image/png")
    assert theirs.status_code == unknown.status_code == 406
    assert theirs.json() | {"instance": None} == unknown.json() | {"instance": None}
    for role in (Role.GUARDIAN, Role.AUDITOR, Role.ADMIN):
        assert (await notice(client, request["id"], tokens.headers("CONTROLLER", role))).status_code == 200, role
    assert (await client.get(f"/v1/sharing-requests/{request['id']}/notice")).status_code == 401


async def test_a_request_without_a_final_decision_has_no_notice(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    request = await decided(client, tokens, REFERRED, "awaiting_review")

    for accept in ("application/json", "text/html"):
        response = await notice(client, request["id"], tokens.agency("RXT01"), accept)
        assert response.status_code == 409 and response.headers["content-type"] == PROBLEM_MEDIA_TYPE, accept
        assert (
            response.json()["current_status"] == "awaiting_review" and "no final decision" in response.json()["detail"]
        )
    await client.post(f"/v1/sharing-requests/{request['id']}/claim", headers=guardian(tokens))
    in_review = await notice(client, request["id"], guardian(tokens))
    assert in_review.status_code == 409 and in_review.json()["current_status"] == "in_review"


async def test_an_accept_header_no_form_satisfies_is_406(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    request = await decided(client, tokens, REFUSED, "refused")
    headers = tokens.agency("RXT01")

    for accept in (
        "image/png",
        "application/xml, text/csv",
        "text/html;q=0, application/json;q=0",
        "application/pdf;q=1, */*;q=0",
    ):
        response = await notice(client, request["id"], headers, accept)
        assert response.status_code == 406 and response.headers["content-type"] == PROBLEM_MEDIA_TYPE, accept
        assert response.json()["title"] == "Not acceptable"
    chosen = {
        None: "application/json",
        "*/*": "application/json",
        "text/*": "text/html",
        "text/html;q=0.5, text/plain": "text/plain",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8": "text/html",
        "text/*;q=0.3, text/markdown;q=0.9, application/json;q=0.1": "text/markdown",
    }
    for accept, media_type in chosen.items():
        response = await notice(client, request["id"], headers, accept)
        assert response.status_code == 200 and response.headers["content-type"].startswith(media_type), accept


def test_negotiation_by_q_values_and_specificity() -> None:
    assert negotiate(None) is negotiate("") is NoticeFormat.JSON
    assert (
        negotiate("text/plain;q=0.2, text/*;q=0.9") is NoticeFormat.HTML
    )  # the most specific range sets text/plain's q
    assert negotiate("TEXT/Markdown; charset=utf-8") is NoticeFormat.MARKDOWN
    assert (
        negotiate("application/json;q=0.5, text/plain;q=0.5") is NoticeFormat.JSON
    )  # a tie goes to the structured form
    assert negotiate("text/plain;q=bad, text/markdown") is NoticeFormat.MARKDOWN  # a malformed range is left out
    for accept in ("*/*;q=0", "text/html;q=2", "application/*;q=0, text/*;q=0"):
        with pytest.raises(NotAcceptable):
            negotiate(accept)


async def test_each_notice_read_is_audited_and_the_chain_still_verifies(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    request = await decided(client, tokens, CONDITIONS, "approved_with_conditions")
    await notice(client, request["id"], tokens.agency("RXT01"), "text/html")
    await notice(client, request["id"], auditor(tokens), "text/plain", audience="subject")
    refused = await notice(client, request["id"], tokens.agency("RXT01"), "image/png")
    assert refused.status_code == 406

    response = await client.get(
        "/v1/audit/events", params={"request_id": request["id"], "action": "notice_read"}, headers=auditor(tokens)
    )
    assert response.status_code == 200, response.text
    reads = response.json()["items"]
    assert [(event["actor_sub"], event["actor_org"], event["target_id"]) for event in reads] == [
        ("user-rxt01", "RXT01", request["id"]),
        ("auditor-1", "CONTROLLER", request["id"]),
    ]
    verification = (await client.get("/v1/audit/verify", headers=auditor(tokens))).json()
    assert verification["valid"] is True and verification["events"] >= 3


def test_the_templates_are_packaged() -> None:
    """Every file of the notice templates is package data, so an installed service
    (and its container image) finds them."""
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["app"]
    shipped = sorted(path.relative_to(ROOT / "app") for path in (ROOT / "app" / "templates" / "notice").iterdir())
    assert {"notice.html", "notice.md", "notice.txt", "texts.yaml"} <= {path.name for path in shipped}
    for path in shipped:
        assert any(path.match(pattern) for pattern in package_data), path


async def test_a_decision_put_up_for_reconsideration_stands_in_the_notice_and_is_not_offered_again(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    request = await decided(client, tokens, REFUSED, "refused")
    headers = tokens.agency("RXT01")
    grounds = "The recipient now stores the record in the UK, which answers the reason given for the refusal."
    # Sent with a revision that the rules approve meanwhile: the refusal still stands until a guardian answers.
    revision = changed({"reference": "CASE-1 revised"})
    asked = await client.post(
        f"/v1/sharing-requests/{request['id']}/reconsideration",
        json={"grounds": grounds, "request": revision},
        headers=headers,
    )
    assert asked.status_code == 201, asked.text

    waiting = (await notice(client, request["id"], headers)).json()
    assert (waiting["decision_id"], waiting["outcome"], waiting["reconsidered"]) == (
        request["decision"]["id"],
        "refuse",
        "requested",
    )
    assert waiting["reconsideration"] is None
    text = words((await notice(client, request["id"], headers, "text/plain")).text)
    assert "You asked for this decision to be reconsidered" in text and "send POST" not in text

    other = tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-2")
    assert (await client.post(f"/v1/sharing-requests/{request['id']}/claim", headers=other)).status_code == 200
    body = {
        "outcome": "upheld",
        "rationale": "The recipient's storage outside the UK regime is unchanged by the grounds given.",
    }
    upheld = await client.post(
        f"/v1/sharing-requests/{request['id']}/reconsideration/decision", json=body, headers=other
    )
    assert upheld.status_code == 200, upheld.text

    settled = (await notice(client, request["id"], headers)).json()
    assert (settled["decision_id"], settled["outcome"], settled["reconsidered"], settled["reconsideration"]) == (
        request["decision"]["id"],
        "refuse",
        "upheld",
        None,
    )
    assert at(settled["reconsidered_at"]) == at(upheld.json()["decided_at"])


async def test_a_refusal_overturned_on_reconsideration_is_noticed_with_its_conditions_as_reconsidered(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    request = await decided(client, tokens, REFUSED, "refused")
    headers = tokens.agency("RXT01")
    grounds = {
        "grounds": "The recipient now stores the record in the UK, which answers the reason given for the refusal."
    }
    assert (
        await client.post(f"/v1/sharing-requests/{request['id']}/reconsideration", json=grounds, headers=headers)
    ).status_code == 201
    other = tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-2")
    assert (await client.post(f"/v1/sharing-requests/{request['id']}/claim", headers=other)).status_code == 200
    conditions = ["Keep the record on UK servers only, MARKER-RECON-77", "Delete the record when the referral closes"]
    body = {
        "outcome": "overturned",
        "rationale": "The storage now meets UK standards, so the reason for the refusal is gone.",
        "decision": {"outcome": "approve_with_conditions", "conditions": conditions},
    }
    overturned = await client.post(
        f"/v1/sharing-requests/{request['id']}/reconsideration/decision", json=body, headers=other
    )
    assert overturned.status_code == 200, overturned.text

    structured = (await notice(client, request["id"], headers)).json()
    assert (structured["decision_id"], structured["outcome"]) == (
        overturned.json()["decision"]["id"],
        "approve_with_conditions",
    )
    assert (
        structured["decided_by"]["kind"],
        structured["decided_by"]["statement"].endswith(", on reconsideration"),
    ) == ("reconsideration", True)
    assert [condition["text"] for condition in structured["conditions"]] == conditions
    for form, text in (await every_form(client, request["id"], headers)).items():
        assert all(condition in text for condition in conditions), form
        assert "on reconsideration" in text, form
    verified = await client.get("/v1/audit/verify", headers=auditor(tokens))
    assert verified.json()["valid"] is True, verified.text


CONTROLLER_NAME = "Westmoor Teaching Hospitals NHS Foundation Trust"


@pytest.fixture(scope="module")
async def named_app(database_url: str) -> AsyncIterator[FastAPI]:
    """The app of an installation that names its controller (CALDICOTT_CONTROLLER_NAME)."""
    application = create_app(settings_for(database_url, controller_name=CONTROLLER_NAME))
    yield application
    await application.state.wiring.engine.dispose()


async def test_the_notice_comes_from_the_controller_by_its_configured_name(named_app: FastAPI, tokens: Tokens) -> None:
    await fresh_start(named_app)  # the controller's organisation registered at start, under the configured name
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=named_app), base_url="http://testserver") as client:
        registered = await client.get("/v1/organisations/CONTROLLER", headers=tokens.admin())
        assert registered.json()["name"] == CONTROLLER_NAME
        await register_organisation(client, tokens, "RXT01")
        request = await guardian_decided(client, tokens)
        structured = (await notice(client, request["id"], tokens.agency("RXT01"))).json()
        assert structured["controller"] == {"code": "CONTROLLER", "name": CONTROLLER_NAME}
        assert structured["decided_by"]["statement"] == f"a Caldicott Guardian of {CONTROLLER_NAME}"
        forms = await every_form(client, request["id"], tokens.agency("RXT01"))
        assert f"From: {CONTROLLER_NAME}" in forms["text/plain"]
        assert f"**From:** {CONTROLLER_NAME}" in forms["text/markdown"]
        assert f"From {CONTROLLER_NAME}" in forms["text/html"]  # a <dt>From</dt><dd>...</dd> pair, read as text
        for form, text in forms.items():
            assert "(the controller)" not in text, form
