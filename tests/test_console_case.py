"""The case file in the console and the guardian's core actions on it, checked afterwards through the API; and the
API's new claim endpoints (renew, hand over)."""

import re
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col, select

from app.models.actions import RequestAction
from app.models.base import utcnow
from app.models.sharing_request import SharingRequest
from app.models.vocabulary import RequestStatus, Role
from app.models.webhook import OutboxEvent
from app.services.webhooks.outbox import event_type_for
from tests.factories import REFERRED, register_organisation, submit
from tests.rules.baseline import changed
from tests.support import Tokens, console_client, dev_sign_in
from tests.test_console import assert_strict_page

GRACE = "dev-grace-guardian"  # the development sign-in's subject for "Grace Guardian"
RATIONALE = "The onward sharing is to the named care team only; the public interest outweighs the duty."
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
VERSION = re.compile(r'name="version" value="([^"]+)"')


@pytest.fixture
async def console(app: FastAPI, client: httpx.AsyncClient) -> Any:
    async with console_client(app) as http:
        yield http


@pytest.fixture
async def case(client: httpx.AsyncClient, tokens: Tokens) -> dict[str, Any]:
    """A request the rules referred to a guardian (CP4.onward_sharing), made through the API."""
    await register_organisation(client, tokens, "RXT01")
    response = await submit(client, tokens, changed(REFERRED | {"reference": "CASE-FILE"}))
    assert response.status_code == 201 and response.json()["status"] == "awaiting_review", response.text
    return response.json()


def guardian(tokens: Tokens, sub: str = GRACE) -> dict[str, str]:
    return tokens.headers("CONTROLLER", Role.GUARDIAN, sub=sub)


def version(page: httpx.Response) -> str:
    found = VERSION.search(page.text)
    assert found, "the page has no form"
    return found[1].replace("&#34;", '"')


async def post(
    console: httpx.AsyncClient, path: str, token: str, page: httpx.Response, **fields: Any
) -> httpx.Response:
    """Post a form of the case page, as the page gave it (its token and the version of the case it showed)."""
    return await console.post(path, data={"csrf_token": token, "version": version(page), **fields})


async def read(client: httpx.AsyncClient, tokens: Tokens, request_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/sharing-requests/{request_id}", headers=guardian(tokens, "guardian-9"))
    assert response.status_code == 200, response.text
    return response.json()


async def queued(client: httpx.AsyncClient, tokens: Tokens, request_id: str) -> dict[str, Any]:
    entries = (await client.get("/v1/review-queue", headers=guardian(tokens, "guardian-9"))).json()["items"]
    return next(entry for entry in entries if entry["id"] == request_id)


async def trail(client: httpx.AsyncClient, tokens: Tokens, request_id: str) -> list[dict[str, Any]]:
    auditor = tokens.headers("CONTROLLER", Role.AUDITOR)
    response = await client.get("/v1/audit/events", params={"request_id": request_id, "limit": 200}, headers=auditor)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def events(app: FastAPI, request_id: str) -> list[str]:
    """The webhook events written for the request, in order."""
    async with app.state.wiring.sessionmaker() as session:
        query = select(OutboxEvent.type).where(OutboxEvent.request_id == request_id).order_by(col(OutboxEvent.sequence))
        return [str(kind) for kind in (await session.exec(query)).all()]


async def claim_lapses(app: FastAPI, request_id: str, *, at: datetime) -> None:
    """Move the claim's end, as time passing would."""
    async with app.state.wiring.sessionmaker() as session:
        ended = update(SharingRequest).where(col(SharingRequest.id) == request_id).values(claim_expires_at=at)
        await session.exec(ended)  # type: ignore[call-overload]
        await session.commit()


async def history(client: httpx.AsyncClient, tokens: Tokens, request_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/sharing-requests/{request_id}/history", headers=guardian(tokens, "guardian-9"))
    return response.json()["items"]


async def test_the_case_file_shows_what_did_not_pass_and_folds_the_passes(
    console: httpx.AsyncClient, case: dict[str, Any]
) -> None:
    await dev_sign_in(console)
    page = await console.get(f"/console/cases/{case['id']}")
    assert page.status_code == 200, page.text
    assert_strict_page(page)
    text = page.text
    folded = text.index("<details")
    assert text.index("CP4.onward_sharing") < folded  # what did not pass, before the fold
    assert "Principle 4" in text[: text.index("CP4.onward_sharing")]
    assert text.index("CP1.purpose_recognised") > folded  # the passes, folded away
    assert "Organisation RXT01" in text and "Standards met" in text  # the requester and its toolkit status
    assert "Direct care" in text and "Demographics, identifiable" in text  # the request in plain words
    assert "Submitted by" in text and "Nobody holds it" in text
    assert 'name="csrf_token"' in text and "Claim and record the decision" in text
    assert (await console.get("/console/cases/no-such-case")).status_code == 404


async def test_claim_renew_and_release_through_the_page(
    console: httpx.AsyncClient, client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, case: dict[str, Any]
) -> None:
    token = await dev_sign_in(console)
    url = f"/console/cases/{case['id']}"
    claimed = await post(console, f"{url}/claim", token, await console.get(url))
    assert claimed.status_code == 303 and claimed.headers["location"] == f"{url}?done=claimed"
    page = await console.get(claimed.headers["location"])
    assert "You claimed this case" in page.text and "You hold it until" in page.text
    assert (await queued(client, tokens, case["id"]))["assignee"] == GRACE
    # The lease nearly run out, the holder renews it for a whole lease from now.
    async with app.state.wiring.sessionmaker() as session:
        soon = utcnow() + timedelta(minutes=1)
        await session.exec(
            update(SharingRequest).where(col(SharingRequest.id) == case["id"]).values(claim_expires_at=soon)
        )
        await session.commit()
    renewed = await post(console, f"{url}/renew", token, await console.get(url))
    assert renewed.status_code == 303
    until = (await queued(client, tokens, case["id"]))["claim_expires_at"]
    assert until > (utcnow() + timedelta(minutes=30)).isoformat()
    released = await post(console, f"{url}/release", token, await console.get(url))
    assert released.status_code == 303 and released.headers["location"].endswith("done=released")
    assert (await queued(client, tokens, case["id"]))["assignee"] is None
    actions = [event["action"] for event in await trail(client, tokens, case["id"])]
    assert {"claimed", "claim_renewed", "released"} <= set(actions)
    assert [entry["action"] for entry in await history(client, tokens, case["id"]) if entry["type"] == "state_change"][
        -3:
    ] == ["claimed", "claim_renewed", "released"]
    assert await events(app, case["id"]) == ["sharing_request.referred"]  # claims are told to no receiver


async def test_hand_over_through_the_page_to_a_colleague_who_then_decides(
    console: httpx.AsyncClient, client: httpx.AsyncClient, tokens: Tokens, case: dict[str, Any]
) -> None:
    token = await dev_sign_in(console)
    url = f"/console/cases/{case['id']}"
    await post(console, f"{url}/claim", token, await console.get(url))
    page = await console.get(url)
    refused = await post(console, f"{url}/hand-over", token, page, to=GRACE, note="To myself")
    assert refused.status_code == 422 and "nhsuk-error-summary" in refused.text and 'href="#to"' in refused.text
    note = "On leave from tomorrow; the answer on retention is due Friday."
    handed = await post(console, f"{url}/hand-over", token, await console.get(url), to="guardian-2", note=note)
    assert handed.status_code == 303 and handed.headers["location"].endswith("done=handed_over")
    after = await console.get(handed.headers["location"])
    assert "You handed this case to your colleague" in after.text and "guardian-2 holds it" in after.text
    assert note in after.text  # in the history
    [change] = [entry for entry in await history(client, tokens, case["id"]) if entry.get("action") == "handed_over"]
    assert (change["actor"], change["handed_to"], change["note"]) == (GRACE, "guardian-2", note)
    decided = await client.post(
        f"/v1/sharing-requests/{case['id']}/review",
        json={"outcome": "approve", "rationale": RATIONALE},
        headers=guardian(tokens, "guardian-2"),
    )
    assert decided.status_code == 200, decided.text


@pytest.mark.parametrize(
    ("outcome", "fields", "status", "event"),
    [
        ("approve", {}, "approved", "sharing_request.reviewed"),
        (
            "approve_with_conditions",
            {"conditions": "Use only for this care episode\nDelete after 90 days", "approved_items": "demographics"},
            "approved_with_conditions",
            "sharing_request.reviewed",
        ),
        ("refuse", {}, "refused", "sharing_request.reviewed"),
        ("request_information", {}, "information_requested", "sharing_request.information_requested"),
    ],
)
async def test_each_decision_through_the_page_in_three_page_views(
    console: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tokens: Tokens,
    app: FastAPI,
    case: dict[str, Any],
    outcome: str,
    fields: dict[str, str],
    status: str,
    event: str,
) -> None:
    token = await dev_sign_in(console)
    views = 0

    async def view(path: str) -> httpx.Response:
        nonlocal views
        views += 1
        page = await console.get(path)
        assert page.status_code == 200, page.text
        return page

    queue = await view("/console/queue")  # 1: the queue
    [link] = re.findall(r'href="(/console/cases/[^"]+)"', queue.text)
    page = await view(link)  # 2: the case, with the decision form on it
    decided = await post(console, f"{link}/decide", token, page, outcome=outcome, rationale=RATIONALE, **fields)
    assert decided.status_code == 303, decided.text
    after = await view(decided.headers["location"])  # 3: the decided case
    assert views == 3 and "Your decision is recorded" in after.text
    request = await read(client, tokens, case["id"])
    assert request["status"] == status
    assert (request["decision"]["kind"], request["decision"]["decided_by"]) == ("guardian", GRACE)
    if outcome == "approve_with_conditions":
        assert {"Use only for this care episode", "Delete after 90 days"} <= set(request["decision"]["conditions"])
        assert request["decision"]["approved_items"] == ["demographics"]
    actions = [entry["action"] for entry in await trail(client, tokens, case["id"])]
    assert "claimed" in actions  # claimed and decided in the one post
    assert ("information_requested" if outcome == "request_information" else "reviewed") in actions
    assert (await events(app, case["id"]))[-1] == event


async def test_a_refused_decision_is_an_error_summary_and_leaves_the_case_unclaimed(
    console: httpx.AsyncClient, client: httpx.AsyncClient, tokens: Tokens, case: dict[str, Any]
) -> None:
    token = await dev_sign_in(console)
    url = f"/console/cases/{case['id']}"
    page = await console.get(url)
    refused = await post(console, f"{url}/decide", token, page, outcome="approve", rationale="Too short")
    assert refused.status_code == 422
    assert_strict_page(refused)
    assert "There is a problem" in refused.text and 'href="#rationale"' in refused.text
    assert ">Too short</textarea>" in refused.text  # the form as sent
    assert (await queued(client, tokens, case["id"]))["assignee"] is None  # the claim went with the decision
    missing = await post(console, f"{url}/decide", token, page, outcome="approve_with_conditions", rationale=RATIONALE)
    assert missing.status_code == 422 and "condition" in missing.text
    assert (await read(client, tokens, case["id"]))["status"] == "awaiting_review"


async def test_a_form_without_its_token_or_for_a_changed_case_changes_nothing(
    console: httpx.AsyncClient, client: httpx.AsyncClient, tokens: Tokens, case: dict[str, Any]
) -> None:
    token = await dev_sign_in(console)
    url = f"/console/cases/{case['id']}"
    page = await console.get(url)
    for action, fields in (("claim", {}), ("decide", {"outcome": "approve", "rationale": RATIONALE})):
        forged = await console.post(f"{url}/{action}", data={"version": version(page), **fields})
        assert forged.status_code == 403 and "This form has expired" in forged.text
    assert (await read(client, tokens, case["id"]))["status"] == "awaiting_review"
    # Another guardian claims it meanwhile: the page's form is for a case that has changed.
    assert (
        await client.post(f"/v1/sharing-requests/{case['id']}/claim", headers=guardian(tokens, "guardian-2"))
    ).status_code == 200
    stale = await post(console, f"{url}/decide", token, page, outcome="approve", rationale=RATIONALE)
    assert stale.status_code == 412 and "There is a problem" in stale.text
    assert (await queued(client, tokens, case["id"]))["assignee"] == "guardian-2"


async def test_an_auditor_reads_the_case_but_is_refused_the_actions(
    console: httpx.AsyncClient, client: httpx.AsyncClient, tokens: Tokens, case: dict[str, Any]
) -> None:
    token = await dev_sign_in(console, Role.AUDITOR, name="Ada Auditor")
    url = f"/console/cases/{case['id']}"
    page = await console.get(url)
    assert page.status_code == 200 and "CP4.onward_sharing" in page.text
    assert "/claim" not in page.text and "Record the decision" not in page.text
    for action in ("claim", "decide", "release", "renew", "hand-over"):
        refused = await console.post(f"{url}/{action}", data={"csrf_token": token, "version": "x"})
        assert refused.status_code == 403, action
    assert (await read(client, tokens, case["id"]))["status"] == "awaiting_review"


async def test_evidence_is_downloaded_and_verified_through_the_page(
    console: httpx.AsyncClient, client: httpx.AsyncClient, tokens: Tokens, case: dict[str, Any]
) -> None:
    uploaded = await client.post(
        f"/v1/sharing-requests/{case['id']}/attachments",
        data={"kind": "consent_form"},
        files={"file": ("consent.pdf", PDF, "application/pdf")},
        headers=tokens.agency("RXT01"),
    )
    assert uploaded.status_code == 201, uploaded.text
    attachment = uploaded.json()["id"]
    token = await dev_sign_in(console)
    url = f"/console/cases/{case['id']}"
    page = await console.get(url)
    assert "Not verified yet" in page.text
    downloaded = await console.get(f"{url}/attachments/{attachment}")
    assert downloaded.status_code == 200 and downloaded.content == PDF
    assert downloaded.headers["content-disposition"].startswith("attachment")
    verified = await post(
        console,
        f"{url}/attachments/{attachment}/verify",
        token,
        page,
        outcome="verified",
        checked="Called the person's GP surgery, which confirmed the signed consent form.",
        attachment=attachment,
    )
    assert verified.status_code == 303, verified.text
    listed = await client.get(f"/v1/sharing-requests/{case['id']}/attachments", headers=guardian(tokens, "guardian-9"))
    [shown] = listed.json()["items"]
    assert (shown["verification"]["outcome"], shown["verification"]["verified_by"]) == ("verified", GRACE)
    actions = {event["action"] for event in await trail(client, tokens, case["id"])}
    assert {"attachment_read", "evidence_verified"} <= actions


# The API's new claim endpoints.


async def test_renewing_a_claim_through_the_api(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, case: dict[str, Any]
) -> None:
    await register_organisation(client, tokens, "RXT02")  # another agency, which may not know of the request
    path = f"/v1/sharing-requests/{case['id']}"
    holder = guardian(tokens, "guardian-1")
    claimed = await client.post(f"{path}/claim", headers=guardian(tokens, "guardian-1"))
    tag = claimed.headers["etag"]
    assert (await client.post(f"{path}/claim/renew", headers=guardian(tokens, "guardian-2"))).status_code == 403
    stale = await client.post(f"{path}/claim/renew", headers=holder | {"If-Match": '"x"'})
    assert stale.status_code == 412
    renewed = await client.post(f"{path}/claim/renew", headers=holder | {"If-Match": tag})
    assert renewed.status_code == 200, renewed.text
    assert renewed.headers["etag"] != tag
    assert (await client.post(f"{path}/claim/renew", headers=tokens.agency("RXT02"))).status_code == 404
    assert (await client.post(f"{path}/claim/renew", headers=tokens.agency("RXT01"))).status_code == 403
    renewals = [event for event in await trail(client, tokens, case["id"]) if event["action"] == "claim_renewed"]
    assert [event["actor_sub"] for event in renewals] == ["guardian-1"]
    assert await events(app, case["id"]) == ["sharing_request.referred"]  # like a claim, told to no receiver
    # A lapsed claim is returned, not renewed.
    async with app.state.wiring.sessionmaker() as session:
        past = utcnow() - timedelta(seconds=1)
        await session.exec(
            update(SharingRequest).where(col(SharingRequest.id) == case["id"]).values(claim_expires_at=past)
        )
        await session.commit()
    lapsed = await client.post(f"{path}/claim/renew", headers=guardian(tokens, "guardian-1"))
    assert lapsed.status_code == 409 and lapsed.json()["current_status"] == "awaiting_review"


async def test_handing_a_claim_over_through_the_api(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, case: dict[str, Any]
) -> None:
    await register_organisation(client, tokens, "RXT02")
    path = f"/v1/sharing-requests/{case['id']}"
    body = {"to": "guardian-2", "note": "On leave from tomorrow."}
    holder = guardian(tokens, "guardian-1")
    unclaimed = await client.post(f"{path}/hand-over", json=body, headers=guardian(tokens, "guardian-1"))
    assert unclaimed.status_code == 409
    tag = (await client.post(f"{path}/claim", headers=guardian(tokens, "guardian-1"))).headers["etag"]
    assert (await client.post(f"{path}/hand-over", json=body, headers=tokens.agency("RXT02"))).status_code == 404
    not_holder = await client.post(f"{path}/hand-over", json=body, headers=guardian(tokens, "guardian-3"))
    assert not_holder.status_code == 403
    to_self = await client.post(f"{path}/hand-over", json=body | {"to": "guardian-1"}, headers=holder)
    assert to_self.status_code == 422 and to_self.json()["errors"][0]["field"] == "to"
    no_note = await client.post(f"{path}/hand-over", json={"to": "guardian-2"}, headers=holder)
    assert no_note.status_code == 422
    stale = await client.post(f"{path}/hand-over", json=body, headers=holder | {"If-Match": '"x"'})
    assert stale.status_code == 412
    handed = await client.post(f"{path}/hand-over", json=body, headers=holder | {"If-Match": tag})
    assert handed.status_code == 200, handed.text
    assert handed.headers["etag"] != tag
    assert (await queued(client, tokens, case["id"]))["assignee"] == "guardian-2"
    again = await client.post(f"{path}/hand-over", json=body, headers=guardian(tokens, "guardian-1"))
    assert again.status_code == 403  # guardian-1 holds it no longer
    [event] = [event for event in await trail(client, tokens, case["id"]) if event["action"] == "handed_over"]
    assert event["actor_sub"] == "guardian-1"
    assert await events(app, case["id"]) == ["sharing_request.referred"]
    assert all(
        event_type_for(action, RequestStatus.IN_REVIEW) is None
        for action in (RequestAction.CLAIM_RENEWED, RequestAction.HANDED_OVER)
    )
    # An agency reads the history with the guardians unnamed.
    seen = await client.get(f"{path}/history", headers=tokens.agency("RXT01"))
    [change] = [entry for entry in seen.json()["items"] if entry.get("action") == "handed_over"]
    assert change["handed_to"].startswith("a Caldicott Guardian of") and change["actor"].startswith("a Caldicott")


async def test_a_reconsideration_is_handed_only_to_a_guardian_who_took_no_part(
    client: httpx.AsyncClient, tokens: Tokens, case: dict[str, Any]
) -> None:
    path = f"/v1/sharing-requests/{case['id']}"
    assert (await client.post(f"{path}/claim", headers=guardian(tokens, "guardian-1"))).status_code == 200
    refused = await client.post(
        f"{path}/review",
        json={"outcome": "refuse", "rationale": RATIONALE, "conditions": []},
        headers=guardian(tokens, "guardian-1"),
    )
    assert refused.status_code == 200, refused.text
    asked = await client.post(
        f"{path}/reconsideration",
        json={"grounds": "The onward sharing is to the named care team only, as the care plan shows."},
        headers=tokens.agency("RXT01"),
    )
    assert asked.status_code == 201, asked.text
    assert (await client.post(f"{path}/claim", headers=guardian(tokens, "guardian-2"))).status_code == 200
    body = {"to": "guardian-1", "note": "You know this case."}
    back = await client.post(f"{path}/hand-over", json=body, headers=guardian(tokens, "guardian-2"))
    assert back.status_code == 403 and "other than the one who made it" in back.json()["detail"]
    handed = await client.post(
        f"{path}/hand-over", json=body | {"to": "guardian-3"}, headers=guardian(tokens, "guardian-2")
    )
    assert handed.status_code == 200, handed.text


async def test_an_order_of_a_court_is_verified_with_its_details(
    console: httpx.AsyncClient, client: httpx.AsyncClient, tokens: Tokens, case: dict[str, Any]
) -> None:
    uploaded = await client.post(
        f"/v1/sharing-requests/{case['id']}/attachments",
        data={"kind": "court_order"},
        files={"file": ("order.pdf", PDF, "application/pdf")},
        headers=tokens.agency("RXT01"),
    )
    assert uploaded.status_code == 201, uploaded.text
    attachment = uploaded.json()["id"]
    token = await dev_sign_in(console)
    url = f"/console/cases/{case['id']}"
    checked = "Read the sealed order against the court's listing and called the court office."
    order = {"order": "yes", "issued_by": "Family Court at Leeds", "issued_on": "2026-11-20", "number": "ZW26C00123"}
    verify = f"{url}/attachments/{attachment}/verify"
    unsealed = await post(console, verify, token, await console.get(url), outcome="verified", checked=checked, **order)
    assert unsealed.status_code == 422 and "sealed" in unsealed.text  # the service's own check of an order
    found = dict.fromkeys(("sealed_or_signed", "in_date", "addressed_to_controller", "covers_information"), "yes")
    verified = await post(
        console, verify, token, await console.get(url), outcome="verified", checked=checked, **order, **found
    )
    assert verified.status_code == 303, verified.text
    listed = await client.get(f"/v1/sharing-requests/{case['id']}/attachments", headers=guardian(tokens, "guardian-9"))
    [shown] = listed.json()["items"]
    assert shown["verification"]["outcome"] == "verified"
    assert shown["verification"]["order"]["number"] == "ZW26C00123"
