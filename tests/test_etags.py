"""ETags, If-Match and If-None-Match, and Location on every 201:
in the published contract, and over HTTP on both databases."""

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.errors import PreconditionFailed
from app.http import etags as concurrency
from tests.factories import register_agreement, register_organisation, submit
from tests.rules.baseline import changed
from tests.support import Tokens
from tests.test_panels import MEMBERS, REASON, claimed, guardian, member, post, vote

CONTRACT = json.loads((Path(__file__).parent.parent / "openapi" / "openapi.json").read_text())
# The resources that can change, by the path of their GET; every state-changing operation on or under them.
CHANGEABLE = (
    "/v1/organisations/{code}",
    "/v1/sharing-agreements/{code}",
    "/v1/webhook-endpoints/{endpoint_id}",
    "/v1/sharing-requests/{request_id}",
)
REQUIRED = {("patch", "/v1/organisations/{code}"), ("patch", "/v1/sharing-agreements/{code}")}
# Under a request but not a move of it: attachments are records of their own and leave the request's row as it is.
NOT_A_MOVE = {
    "/v1/sharing-requests/{request_id}/attachments",
    # The person consulted answers the consultation; the request itself does not move.
    "/v1/sharing-requests/{request_id}/consultations/{consultation_id}/answer",
    # Deliveries of an endpoint, not the endpoint itself: nothing an If-Match on the endpoint would protect.
    "/v1/webhook-endpoints/{endpoint_id}/redeliveries",
    "/v1/webhook-endpoints/{endpoint_id}/test",
}


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    """Every (method, path, operation) of the published contract."""
    return [(method, path, operation) for path, item in CONTRACT["paths"].items() for method, operation in item.items()]


def changes() -> list[tuple[str, str, dict[str, Any]]]:
    """The state-changing operations of the changeable resources:
    PATCH and DELETE of one, and the workflow POSTs under a request."""
    whole = [
        (method, path, op)
        for method, path, op in operations()
        if path in CHANGEABLE and method in ("patch", "delete", "put")
    ]
    under = [
        (method, path, op)
        for method, path, op in operations()
        if method == "post"
        and path.startswith(CHANGEABLE[2:])
        and path not in CHANGEABLE
        and path not in NOT_A_MOVE
        and "/deliveries/" not in path
    ]
    return whole + under


def test_every_201_documents_location() -> None:
    missing = [
        f"{method} {path}"
        for method, path, op in operations()
        if "201" in op["responses"] and "Location" not in op["responses"]["201"].get("headers", {})
    ]
    assert missing == []


def test_changeable_resources_document_etag_304_412_and_the_two_patches_428() -> None:
    for path in CHANGEABLE:
        responses = CONTRACT["paths"][path]["get"]["responses"]
        assert "ETag" in responses["200"].get("headers", {}) and "304" in responses, path
    moves = changes()
    assert len(moves) >= 18, [
        f"{m} {p}" for m, p, _ in moves
    ]  # PATCH/DELETE of three resources, rotate-secret and every workflow move
    assert [f"{m} {p}" for m, p, op in moves if "412" not in op["responses"]] == []
    assert {(m, p) for m, p, op in moves if "428" in op["responses"]} == REQUIRED
    for method, path in REQUIRED:
        header = [
            p for p in CONTRACT["paths"][path][method]["parameters"] if p["in"] == "header" and p["name"] == "If-Match"
        ]
        assert header and "Required" in header[0]["description"], path


@pytest.fixture
async def requester(client: httpx.AsyncClient, tokens: Tokens) -> str:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "LA-NSH", type="local_authority")
    return "RXT01"


async def test_organisation_patch_needs_the_current_etag_and_a_stale_one_changes_nothing(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    admin = tokens.admin()
    created = await client.post(
        "/v1/organisations",
        json={"code": "POL", "name": "Police", "type": "police", "dspt_status": "not_met"},
        headers=admin,
    )
    assert created.status_code == 201 and created.headers["Location"] == "/v1/organisations/POL"
    read = await client.get(created.headers["Location"], headers=admin)
    assert read.status_code == 200 and read.headers["ETag"] == created.headers["ETag"] == '"organisation-POL-v1"'
    missing = await client.patch("/v1/organisations/POL", json={"name": "Changed"}, headers=admin)
    assert (missing.status_code, missing.headers["content-type"], missing.json()["type"]) == (
        428,
        "application/problem+json",
        "/problems/precondition-required",
    )
    assert "If-Match" in missing.json()["detail"]
    first = await client.patch(
        "/v1/organisations/POL", json={"name": "Northshire Police"}, headers=admin | {"If-Match": read.headers["ETag"]}
    )
    assert (first.status_code, first.headers["ETag"], first.json()["name"]) == (
        200,
        '"organisation-POL-v2"',
        "Northshire Police",
    )
    stale = await client.patch(
        "/v1/organisations/POL", json={"name": "Lost"}, headers=admin | {"If-Match": read.headers["ETag"]}
    )
    assert (stale.status_code, stale.json()["type"], stale.json()["current_etag"]) == (
        412,
        "/problems/precondition-failed",
        '"organisation-POL-v2"',
    )
    assert "If-Match" in stale.json()["detail"]
    weak = await client.patch(
        "/v1/organisations/POL", json={"name": "Lost"}, headers=admin | {"If-Match": 'W/"organisation-POL-v2"'}
    )
    assert weak.status_code == 412  # If-Match compares strongly
    after = await client.get("/v1/organisations/POL", headers=admin)
    assert (after.json()["name"], after.headers["ETag"]) == ("Northshire Police", '"organisation-POL-v2"')
    anything = await client.patch("/v1/organisations/POL", json={"active": False}, headers=admin | {"If-Match": "*"})
    assert (anything.status_code, anything.headers["ETag"], anything.json()["active"]) == (
        200,
        '"organisation-POL-v3"',
        False,
    )
    assert (
        await client.patch("/v1/organisations/NOPE", json={"active": False}, headers=admin | {"If-Match": "*"})
    ).status_code == 404


async def test_if_none_match_answers_304_without_a_body_until_the_resource_changes(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    admin = tokens.admin()
    await register_organisation(client, tokens, "RXT01")
    registered = await client.post(
        "/v1/sharing-agreements",
        json={
            "code": "ISA-E",
            "title": "Etag",
            "parties": ["RXT01"],
            "purposes": ["direct_care"],
            "data_categories": ["demographics"],
            "valid_from": "2020-01-01",
            "valid_until": "2099-12-31",
            "status": "active",
        },
        headers=admin,
    )
    assert (registered.status_code, registered.headers["Location"]) == (201, "/v1/sharing-agreements/ISA-E")
    for path in ("/v1/organisations/RXT01", registered.headers["Location"]):
        tag = (await client.get(path, headers=admin)).headers["ETag"]
        unchanged = await client.get(path, headers=admin | {"If-None-Match": f'"other", {tag}'})
        assert (unchanged.status_code, unchanged.content, unchanged.headers["ETag"]) == (304, b"", tag), path
        assert (await client.get(path, headers=admin | {"If-None-Match": '"other"'})).status_code == 200
    agreement = "/v1/sharing-agreements/ISA-E"
    tag = (await client.get(agreement, headers=admin)).headers["ETag"]
    assert tag == '"agreement-ISA-E-v1"'
    missing = await client.patch(agreement, json={"title": "Changed"}, headers=admin)
    assert missing.status_code == 428
    changed_ = await client.patch(agreement, json={"title": "Changed"}, headers=admin | {"If-Match": tag})
    assert (changed_.status_code, changed_.headers["ETag"], changed_.json()["version"]) == (
        200,
        '"agreement-ISA-E-v2"',
        2,
    )
    assert (await client.get(agreement, headers=admin | {"If-None-Match": tag})).status_code == 200


@pytest.mark.parametrize("path", ["/v1/organisations/RXT01", "/v1/sharing-agreements/ISA-TEST"])
async def test_two_patches_at_once_with_the_same_etag_one_wins_and_the_other_is_412(
    client: httpx.AsyncClient, tokens: Tokens, path: str
) -> None:
    admin = tokens.admin()
    await register_organisation(client, tokens, "RXT01")
    await register_agreement(client, tokens)
    tag = (await client.get(path, headers=admin)).headers["ETag"]
    names = ("First", "Second")
    field = "name" if "organisations" in path else "title"
    answers = await asyncio.gather(
        *(client.patch(path, json={field: name}, headers=admin | {"If-Match": tag}) for name in names)
    )
    assert sorted(answer.status_code for answer in answers) == [200, 412], [answer.text for answer in answers]
    winner = next(answer for answer in answers if answer.status_code == 200)
    now = await client.get(path, headers=admin)
    assert (now.json()[field], now.headers["ETag"]) == (winner.json()[field], winner.headers["ETag"])
    assert now.headers["ETag"].endswith('-v2"')  # one change made, not two


async def test_a_workflow_move_with_a_stale_if_match_is_412_and_moves_nothing(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    submitted = await submit(
        client,
        tokens,
        changed({"legal_basis.confidentiality": "overriding_public_interest", "consent.status": "refused"}),
    )
    assert submitted.status_code == 201, submitted.text
    location, tag = submitted.headers["Location"], submitted.headers["ETag"]
    read = await client.get(location, headers=guardian(tokens))
    assert (
        read.headers["ETag"] == tag
        and (await client.get(location, headers=guardian(tokens) | {"If-None-Match": tag})).status_code == 304
    )
    request_id = submitted.json()["id"]
    claim = await client.post(f"{location}/claim", headers=guardian(tokens) | {"If-Match": tag})
    assert claim.status_code == 200, claim.text
    moved = claim.headers["ETag"]
    assert moved != tag and (await client.get(location, headers=guardian(tokens))).headers["ETag"] == moved
    stale = await client.post(f"{location}/release", headers=guardian(tokens) | {"If-Match": tag})
    assert (stale.status_code, stale.json()["type"], stale.json()["current_etag"]) == (
        412,
        "/problems/precondition-failed",
        moved,
    )
    after = await client.get(location, headers=guardian(tokens))
    assert (after.json()["status"], after.headers["ETag"]) == ("in_review", moved)  # still claimed
    review = await post(
        client, request_id, "review", guardian(tokens) | {"If-Match": tag}, {"outcome": "refuse", "rationale": "x" * 40}
    )
    assert review.status_code == 412
    released = await client.post(f"{location}/release", headers=guardian(tokens))  # If-Match is honoured, not required
    assert released.status_code == 200 and released.headers["ETag"] not in (tag, moved)


async def test_each_201_under_a_request_has_a_location_that_reads(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request_id = await claimed(client, tokens)
    asked = await post(
        client,
        request_id,
        "opinions/requests",
        guardian(tokens),
        {"proposed_outcome": "refuse", "question": "Is refusal right here?"},
    )
    assert asked.status_code == 201, asked.text
    opened = await post(client, request_id, "panel", guardian(tokens), {"reason": REASON, "members": MEMBERS})
    assert opened.status_code == 201, opened.text
    voted = await vote(client, tokens, request_id, 2, "refuse")
    assert voted.status_code == 201, voted.text
    left = await post(
        client,
        request_id,
        "panel/withdrawals",
        member(tokens, 3),
        {"rationale": "I advised the requesting social worker on this case last year."},
    )
    assert left.status_code == 201, left.text
    for answer, where in ((asked, "history"), (opened, "panel"), (voted, "panel"), (left, "panel")):
        assert answer.headers["Location"] == f"/v1/sharing-requests/{request_id}/{where}"
        assert (await client.get(answer.headers["Location"], headers=guardian(tokens))).status_code == 200
    current = (await client.get(f"/v1/sharing-requests/{request_id}", headers=guardian(tokens))).headers["ETag"]
    assert current == left.headers["ETag"]


async def test_the_check_reads_the_row_under_a_lock_so_a_change_in_between_is_seen(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    tag = '"organisation-RXT01-v1"'
    async with app.state.wiring.sessionmaker() as first, app.state.wiring.sessionmaker() as second:
        held = await concurrency.organisation_to_change("RXT01", first, tag)
        late = asyncio.create_task(concurrency.organisation_to_change("RXT01", second, tag))
        await asyncio.sleep(0.3)  # the second waits for the first's lock (SQLite: for its write transaction)
        held.name, held.version = "Changed", held.version + 1
        await first.commit()
        with pytest.raises(PreconditionFailed):
            await late
        await second.rollback()


async def test_a_webhook_endpoint_carries_an_etag_and_a_stale_if_match_changes_nothing(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    created = await client.post(
        "/v1/webhook-endpoints",
        json={"url": "https://93.184.215.14/hook", "event_types": ["sharing_request.decided"]},
        headers=agency,
    )
    assert created.status_code == 201, created.text
    path = f"/v1/webhook-endpoints/{created.json()['id']}"
    first = (await client.get(path, headers=agency)).headers["ETag"]
    assert created.headers["ETag"] == first

    assert (await client.get(path, headers=agency | {"If-None-Match": first})).status_code == 304
    changed_once = await client.patch(path, json={"enabled": False}, headers=agency | {"If-Match": first})
    assert changed_once.status_code == 200, changed_once.text
    second = changed_once.headers["ETag"]
    assert second != first
    stale = await client.patch(path, json={"enabled": True}, headers=agency | {"If-Match": first})
    assert stale.status_code == 412 and stale.headers["content-type"] == "application/problem+json"
    assert stale.json()["current_etag"] == second
    assert (await client.get(path, headers=agency)).json()["enabled"] is False
    assert (await client.delete(path, headers=agency | {"If-Match": first})).status_code == 412
    assert (await client.delete(path, headers=agency | {"If-Match": second})).status_code == 204
