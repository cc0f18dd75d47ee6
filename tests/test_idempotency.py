"""Idempotency-Key on every POST that creates or changes something: a retry gets the answer first given, with the
ETag that went with it; the same key for another request is a 422; keys expire and are pruned."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, update
from sqlmodel import select

from app.models.idempotency import IdempotencyRecord
from app.models.sharing_request import RequestVersion
from app.models.vocabulary import Role
from app.services.operations import idempotency
from tests.factories import REFERRED, register_organisation, submit
from tests.rules.baseline import baseline_request, changed
from tests.support import Tokens

RATIONALE = "Who is the onward recipient, and under which agreement will they hold it?"
FIXED = {"request": changed({"recipient.onward_sharing": False}), "note": "No onward sharing after all."}


def guardian(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return headers | {"Idempotency-Key": key}


async def information_requested(client: httpx.AsyncClient, tokens: Tokens) -> str:
    """A referred request on which a guardian has asked for more information: the agency may amend it."""
    await register_organisation(client, tokens, "RXT01")
    request = (await submit(client, tokens, changed(REFERRED))).json()
    path = f"/v1/sharing-requests/{request['id']}"
    assert (await client.post(f"{path}/claim", headers=guardian(tokens))).status_code == 200
    asked = await client.post(
        f"{path}/review", json={"outcome": "request_information", "rationale": RATIONALE}, headers=guardian(tokens)
    )
    assert asked.status_code == 200, asked.text
    return request["id"]


async def test_a_retried_amendment_gets_the_first_answer_not_a_409(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    request_id = await information_requested(client, tokens)
    path = f"/v1/sharing-requests/{request_id}/amendments"
    headers = keyed(tokens.agency("RXT01"), "amend-1")
    first = await client.post(path, json=FIXED, headers=headers)
    assert first.status_code == 200, first.text
    again = await client.post(path, json=FIXED, headers=headers)
    assert again.status_code == 200, again.text  # without the key, a retry is a 409: the request is approved now
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert again.headers["etag"] == first.headers["etag"]
    assert "idempotent-replayed" not in first.headers
    async with app.state.wiring.sessionmaker() as session:
        versions = (await session.exec(select(func.count()).where(RequestVersion.request_id == request_id))).one()
    assert versions == 2  # amended once

    unkeyed = await client.post(path, json=FIXED, headers=tokens.agency("RXT01"))
    assert unkeyed.status_code == 409


async def test_the_same_key_for_another_request_is_a_422_naming_it(client: httpx.AsyncClient, tokens: Tokens) -> None:
    request_id = await information_requested(client, tokens)
    headers = keyed(tokens.agency("RXT01"), "key-1")
    path = f"/v1/sharing-requests/{request_id}/amendments"
    assert (await client.post(path, json=FIXED, headers=headers)).status_code == 200
    other_body = await client.post(path, json=FIXED | {"note": "Another note."}, headers=headers)
    other_path = await client.post(f"/v1/sharing-requests/{request_id}/withdraw", headers=headers)
    for refused in (other_body, other_path):
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0] == {
            "field": "Idempotency-Key",
            "location": "header",
            "message": refused.json()["errors"][0]["message"],
        }
    # The body is compared as JSON: another key order or spacing is the same request.
    reordered = dict(reversed(list(FIXED.items())))
    assert (await client.post(path, json=reordered, headers=headers)).headers["idempotent-replayed"] == "true"


async def test_a_replayed_submission_carries_the_etag_of_the_body_it_replays(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    first = await submit(client, tokens, changed(REFERRED), **{"Idempotency-Key": "case-1"})
    assert first.status_code == 201
    request_id = first.json()["id"]
    assert (await client.post(f"/v1/sharing-requests/{request_id}/claim", headers=guardian(tokens))).status_code == 200
    current = await client.get(f"/v1/sharing-requests/{request_id}", headers=tokens.agency("RXT01"))

    again = await submit(client, tokens, changed(REFERRED), **{"Idempotency-Key": "case-1"})
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    # The body first answered (awaiting review), and the ETag that named it then; not the current one, which names
    # the request in review.
    assert again.json() == first.json() and again.json()["status"] == "awaiting_review"
    assert again.headers["etag"] == first.headers["etag"] != current.headers["etag"]
    assert again.headers["location"] == first.headers["location"]
    stale = await client.post(
        f"/v1/sharing-requests/{request_id}/withdraw",
        headers=tokens.agency("RXT01") | {"If-Match": again.headers["etag"]},
    )
    assert stale.status_code == 412


async def test_every_post_that_changes_something_takes_a_key(client: httpx.AsyncClient, tokens: Tokens) -> None:
    organisation = {"code": "RXT09", "name": "Organisation", "type": "nhs_trust", "dspt_status": "standards_met"}
    headers = keyed(tokens.admin(), "register-rxt09")
    first = await client.post("/v1/organisations", json=organisation, headers=headers)
    again = await client.post("/v1/organisations", json=organisation, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)  # not a 409 for a code already registered
    assert again.headers["idempotent-replayed"] == "true" and again.headers["location"] == first.headers["location"]


def test_the_contract_documents_the_key_on_every_changing_post(app: FastAPI) -> None:
    operations = app.openapi()["paths"]
    keyed_posts = {
        path
        for path, methods in operations.items()
        if "post" in methods
        and any(parameter["name"] == "Idempotency-Key" for parameter in methods["post"].get("parameters", []))
    }
    posts = {path for path, methods in operations.items() if "post" in methods}
    unkeyed = posts - keyed_posts
    # Those that change nothing: a dry run, a check of the audit trail against witnesses, a report, a search.
    assert unkeyed == {
        "/v1/evaluate",
        "/v1/audit/verify",
        "/v1/reports/subject-disclosures",
        "/v1/review-queue/search",
    }


async def test_a_key_that_has_expired_is_free_and_pruned(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    first = await submit(client, tokens, baseline_request(), **{"Idempotency-Key": "case-2"})
    async with app.state.wiring.engine.begin() as connection:
        await connection.execute(update(IdempotencyRecord).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert await idempotency.prune_expired(sessionmaker=app.state.wiring.sessionmaker) == 1
    again = await submit(client, tokens, baseline_request(), **{"Idempotency-Key": "case-2"})
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    async with app.state.wiring.sessionmaker() as session:
        [record] = (await session.exec(select(IdempotencyRecord))).all()
    hours = app.state.wiring.settings.idempotency_key_hours
    assert (
        timedelta(hours=hours) - timedelta(minutes=1) < record.expires_at - datetime.now(UTC) <= timedelta(hours=hours)
    )


async def test_a_refused_request_keeps_no_answer(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    headers = keyed(tokens.agency("RXT01"), "case-3")
    refused = await client.post("/v1/sharing-requests", json=changed({"urgency": "soon"}), headers=headers)
    assert refused.status_code == 422
    accepted = await submit(client, tokens, baseline_request(), **{"Idempotency-Key": "case-3"})
    assert accepted.status_code == 201 and "idempotent-replayed" not in accepted.headers


async def test_two_requests_racing_with_one_key_record_one_change(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    answers: list[Any] = await asyncio.gather(
        *(submit(client, tokens, baseline_request(), **{"Idempotency-Key": "case-4"}) for _ in range(3))
    )
    fresh = [answer for answer in answers if answer.status_code == 201 and "idempotent-replayed" not in answer.headers]
    assert len(fresh) == 1
    for answer in answers:
        assert answer.status_code in (201, 409), answer.text
        if answer.status_code == 201:
            assert answer.json()["id"] == fresh[0].json()["id"]
    listed = (await client.get("/v1/sharing-requests", headers=tokens.agency("RXT01"))).json()["items"]
    assert len(listed) == 1


async def test_a_retried_upload_is_one_attachment_whatever_its_boundary(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    request = (await submit(client, tokens, changed(REFERRED))).json()
    url = f"/v1/sharing-requests/{request['id']}/attachments"
    note = ("note.txt", b"Telephone note of the call with the recipient team.\n", "text/plain")
    answers = [
        await client.post(
            url, data={"kind": "other"}, files={"file": note}, headers=keyed(tokens.agency("RXT01"), "up")
        )
        for _ in range(2)
    ]
    assert [answer.status_code for answer in answers] == [201, 201], answers[0].text
    assert answers[1].headers["idempotent-replayed"] == "true" and answers[1].json() == answers[0].json()
    listed = (await client.get(url, headers=tokens.agency("RXT01"))).json()["items"]
    assert len(listed) == 1
    other = ("note.txt", b"Another note entirely, sent under the same key.\n", "text/plain")
    refused = await client.post(
        url, data={"kind": "other"}, files={"file": other}, headers=keyed(tokens.agency("RXT01"), "up")
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "Idempotency-Key"
