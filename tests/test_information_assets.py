"""The information asset register (/v1/information-assets): who may read and change it, its ETags and audit events,
and the assets an approval names in its stored facts."""

from typing import Any

import httpx
from fastapi import FastAPI
from sqlmodel import col, select

from app.models.sharing_request import Decision
from app.models.vocabulary import Role
from tests.factories import EPR_ASSET as EPR
from tests.factories import PHARMACY_ASSET as PHARMACY
from tests.factories import REFERRED, register_organisation, submit
from tests.rules.baseline import baseline_request, changed
from tests.support import Tokens

ASSETS = "/v1/information-assets"
SOCIAL = EPR | {
    "code": "SOCIAL",
    "name": "Social care record",
    "owner": "iao-2",
    "data_categories": ["contact_details"],
}
RATIONALE = "Shared care plan agreed with the recipient; onward sharing limited to the named team."


def inside(tokens: Tokens, role: Role, sub: str | None = None) -> dict[str, str]:
    return tokens.headers("CONTROLLER", role, sub=sub or f"{role}-1")


def ig_manager(tokens: Tokens) -> dict[str, str]:
    return inside(tokens, Role.IG_MANAGER)


async def registered(client: httpx.AsyncClient, tokens: Tokens, *bodies: dict[str, Any]) -> None:
    for body in bodies:
        response = await client.post(ASSETS, json=body, headers=ig_manager(tokens))
        assert response.status_code == 201, response.text


async def change(
    client: httpx.AsyncClient, code: str, changes: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    """PATCH with If-Match the ETag an IG manager's GET answers now."""
    current = (await client.get(f"{ASSETS}/{code}", headers=headers)).headers.get("ETag")
    return await client.patch(f"{ASSETS}/{code}", json=changes, headers=headers | {"If-Match": current or '"none"'})


async def test_register_read_list_and_change_with_etags(client: httpx.AsyncClient, tokens: Tokens) -> None:
    created = await client.post(ASSETS, json=EPR, headers=ig_manager(tokens))
    assert created.status_code == 201, created.text
    assert created.headers["Location"].endswith(f"{ASSETS}/EPR")
    assert created.headers["ETag"] == '"information-asset-EPR-v1"'
    assert created.json() | {"created_at": None, "updated_at": None} == EPR | {"created_at": None, "updated_at": None}
    again = await client.post(ASSETS, json=EPR, headers=tokens.admin())
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"

    read = await client.get(f"{ASSETS}/EPR", headers=inside(tokens, Role.SIRO))
    assert read.status_code == 200 and read.json() == created.json()
    unchanged = await client.get(f"{ASSETS}/EPR", headers=ig_manager(tokens) | {"If-None-Match": read.headers["ETag"]})
    assert unchanged.status_code == 304

    path, admin = f"{ASSETS}/EPR", tokens.admin()
    missing = await client.patch(path, json={"hosting": "On premises"}, headers=admin)
    assert missing.status_code == 428 and missing.headers["content-type"] == "application/problem+json"
    changed_ = await client.patch(
        path, json={"hosting": "On premises"}, headers=admin | {"If-Match": read.headers["ETag"]}
    )
    assert changed_.status_code == 200, changed_.text
    assert changed_.json()["hosting"] == "On premises" and changed_.json()["name"] == EPR["name"]
    assert changed_.headers["ETag"] == '"information-asset-EPR-v2"'
    stale = await client.patch(path, json={"hosting": "Cloud"}, headers=admin | {"If-Match": read.headers["ETag"]})
    assert stale.status_code == 412 and stale.json()["current_etag"] == '"information-asset-EPR-v2"'
    assert (await client.get(path, headers=admin)).json()["hosting"] == "On premises"

    await registered(client, tokens, PHARMACY)
    first = await client.get(ASSETS, params={"limit": 1}, headers=inside(tokens, Role.DPO))
    assert [item["code"] for item in first.json()["items"]] == ["EPR"]
    rest = await client.get(ASSETS, params={"cursor": first.json()["next_cursor"]}, headers=inside(tokens, Role.DPO))
    assert [item["code"] for item in rest.json()["items"]] == ["PHARM"] and rest.json()["next_cursor"] is None
    assert (await client.get(f"{ASSETS}/NOPE", headers=admin)).status_code == 404


async def test_bad_input_names_the_field(client: httpx.AsyncClient, tokens: Tokens) -> None:
    cases = {
        "data_categories": EPR | {"data_categories": ["gossip"]},
        "last_risk_review": EPR | {"last_risk_review": "last Tuesday"},
        "code": EPR | {"code": "has spaces"},
        "owner": {key: value for key, value in EPR.items() if key != "owner"},
        "colour": EPR | {"colour": "blue"},
    }
    for field, body in cases.items():
        response = await client.post(ASSETS, json=body, headers=ig_manager(tokens))
        assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
        assert field in response.text, (field, response.text)
    empty = await client.post(ASSETS, json=EPR | {"data_categories": []}, headers=ig_manager(tokens))
    assert empty.status_code == 422 and "data_categories" in empty.text


async def test_an_iao_changes_its_own_assets_and_no_others(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await registered(client, tokens, EPR, PHARMACY)
    owner, other = inside(tokens, Role.IAO, "iao-1"), inside(tokens, Role.IAO, "iao-2")
    own = await change(client, "EPR", {"last_risk_review": "2026-12-01"}, owner)
    assert own.status_code == 200 and own.json()["last_risk_review"] == "2026-12-01"
    theirs = await change(client, "EPR", {"last_risk_review": "2026-12-02"}, other)
    assert theirs.status_code == 403 and theirs.headers["content-type"] == "application/problem+json"
    # Refused before its preconditions: another's asset is 403 whatever If-Match says.
    assert (await client.patch(f"{ASSETS}/EPR", json={"hosting": "x"}, headers=other)).status_code == 403
    assert (await client.get(f"{ASSETS}/EPR", headers=other)).json()["last_risk_review"] == "2026-12-01"
    assert (await client.post(ASSETS, json=SOCIAL, headers=owner)).status_code == 403  # an IAO registers nothing
    handed_on = await change(client, "EPR", {"owner": "iao-2"}, owner)
    assert handed_on.status_code == 200 and handed_on.json()["owner"] == "iao-2"
    assert (await change(client, "EPR", {"hosting": "Cloud"}, owner)).status_code == 403
    assert (await change(client, "EPR", {"hosting": "Cloud"}, other)).status_code == 200


async def test_who_may_read_and_change(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await registered(client, tokens, EPR)
    readers = (Role.GUARDIAN, Role.AUDITOR, Role.ADMIN, Role.IG_MANAGER, Role.SIRO, Role.DPO, Role.IAO)
    for role in Role:
        headers = inside(tokens, role, "someone")
        expected = 200 if role in readers else 403
        for path in (ASSETS, f"{ASSETS}/EPR"):
            response = await client.get(path, headers=headers)
            assert response.status_code == expected, (role, path, response.text)
        may_register = role in (Role.ADMIN, Role.IG_MANAGER)
        body = EPR | {"code": f"A-{role}"}
        assert (await client.post(ASSETS, json=body, headers=headers)).status_code == (201 if may_register else 403)
        # Only the stewards change an asset they do not own; everyone else is refused.
        assert (await change(client, "EPR", {"hosting": role}, headers)).status_code == (
            200 if may_register else 403
        ), role
    agency = tokens.agency("RXT01")
    for response in (
        await client.get(ASSETS, headers=agency),
        await client.get(f"{ASSETS}/EPR", headers=agency),
        await client.post(ASSETS, json=SOCIAL, headers=agency),
    ):
        assert response.status_code == 403 and response.headers["content-type"] == "application/problem+json"


async def test_a_partners_iao_token_is_refused(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await registered(client, tokens, EPR)
    partner = tokens.headers("RXT01", Role.IAO, sub="iao-1")  # the owner's sub, but the partner's organisation
    for response in (
        await client.get(ASSETS, headers=partner),
        await client.patch(f"{ASSETS}/EPR", json={"hosting": "x"}, headers=partner | {"If-Match": "*"}),
    ):
        assert response.status_code == 403, response.text
        assert response.json()["type"] == "/problems/role-not-honoured"
    assert (await client.get(f"{ASSETS}/EPR", headers=tokens.admin())).json()["hosting"] == EPR["hosting"]


async def test_every_change_is_audited_and_the_chain_verifies(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await registered(client, tokens, EPR)
    assert (await change(client, "EPR", {"hosting": "Cloud"}, inside(tokens, Role.IAO, "iao-1"))).status_code == 200
    auditor = inside(tokens, Role.AUDITOR)
    trail = []
    for action in ("information_asset_registered", "information_asset_changed"):
        listed = await client.get("/v1/audit/events", params={"action": action}, headers=auditor)
        assert listed.status_code == 200, listed.text
        trail += [(event["action"], event["target_id"], event["actor_sub"]) for event in listed.json()["items"]]
        assert {event["target_type"] for event in listed.json()["items"]} == {"information_asset"}
    assert trail == [
        ("information_asset_registered", "EPR", "ig_manager-1"),
        ("information_asset_changed", "EPR", "iao-1"),
    ]
    verified = await client.get("/v1/audit/verify", headers=auditor)
    assert verified.status_code == 200 and verified.json()["valid"] is True, verified.text


async def test_an_approval_names_the_assets_holding_its_items(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await registered(client, tokens, EPR, PHARMACY, SOCIAL)
    # The baseline request asks for demographics and diagnoses: the EPR holds them, the others hold neither.
    approved = (await submit(client, tokens, baseline_request())).json()
    assert approved["decision"]["outcome"] == "approve"
    assert approved["decision"]["facts"]["information_assets"] == ["EPR"]
    stored = await client.get(f"/v1/sharing-requests/{approved['id']}", headers=tokens.agency("RXT01"))
    assert stored.json()["decision"]["facts"] == approved["decision"]["facts"]

    # Referred, the rules name none; the guardian's approval of part of it names the assets of that part.
    referred = (await submit(client, tokens, changed(REFERRED))).json()
    assert referred["decision"]["outcome"] == "refer" and referred["decision"]["facts"]["information_assets"] == []
    guardian = inside(tokens, Role.GUARDIAN)
    path = f"/v1/sharing-requests/{referred['id']}"
    assert (await client.post(f"{path}/claim", headers=guardian)).status_code == 200
    body = {"outcome": "approve", "rationale": RATIONALE, "approved_items": ["demographics"]}
    review = await client.post(f"{path}/review", json=body, headers=guardian)
    assert review.status_code == 200, review.text
    decision = (await client.get(path, headers=guardian)).json()["decision"]
    assert (decision["kind"], decision["facts"]["information_assets"]) == ("guardian", ["EPR"])


async def test_a_refusal_names_no_assets_and_no_asset_changes_an_outcome(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    without = (await submit(client, tokens, baseline_request(), **{"Idempotency-Key": "before"})).json()
    await registered(client, tokens, EPR)
    with_assets = (await submit(client, tokens, baseline_request())).json()
    # An approval no asset touches keeps the record it had before the register existed; the API reads it as none.
    assert "information_assets" not in await stored_facts(app, without["id"])
    assert without["decision"]["facts"]["information_assets"] == []
    assert (await stored_facts(app, with_assets["id"]))["information_assets"] == ["EPR"]
    assert [finding["result"] for finding in with_assets["decision"]["findings"]] == [
        finding["result"] for finding in without["decision"]["findings"]
    ]
    assert with_assets["decision"]["outcome"] == without["decision"]["outcome"]

    referred = (await submit(client, tokens, changed(REFERRED))).json()
    guardian = inside(tokens, Role.GUARDIAN)
    path = f"/v1/sharing-requests/{referred['id']}"
    await client.post(f"{path}/claim", headers=guardian)
    refused = await client.post(f"{path}/review", json={"outcome": "refuse", "rationale": RATIONALE}, headers=guardian)
    assert refused.status_code == 200, refused.text
    assert (await client.get(path, headers=guardian)).json()["decision"]["facts"]["information_assets"] == []


async def stored_facts(app: FastAPI, request_id: str) -> dict[str, Any]:
    """The facts record of the request's latest decision, as stored."""
    async with app.state.wiring.sessionmaker() as session:
        query = (
            select(Decision.facts).where(Decision.request_id == request_id).order_by(col(Decision.decided_at).desc())
        )
        return dict((await session.exec(query)).first() or {})
