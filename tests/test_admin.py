"""Admin API: organisations and sharing agreements."""

import base64

import httpx

from app.models.vocabulary import Role
from tests.factories import patch_current, register_agreement, register_organisation
from tests.support import Tokens

ORGANISATION = {"code": "POL-NSH", "name": "Northshire Police", "type": "police", "dspt_status": "not_published"}


async def test_organisation_lifecycle(client: httpx.AsyncClient, tokens: Tokens) -> None:
    admin = tokens.admin()
    created = await client.post("/v1/organisations", json=ORGANISATION, headers=admin)
    assert created.status_code == 201
    assert created.json() | {"created_at": None, "updated_at": None} == ORGANISATION | {
        "active": True,
        "created_at": None,
        "updated_at": None,
    }

    duplicate = await client.post("/v1/organisations", json=ORGANISATION | {"name": "Again"}, headers=admin)
    assert duplicate.status_code == 409 and duplicate.headers["content-type"] == "application/problem+json"

    changed = await patch_current(
        client,
        "/v1/organisations/POL-NSH",
        json={"dspt_status": "standards_met", "name": "Northshire Constabulary"},
        headers=admin,
    )
    assert changed.status_code == 200
    assert (changed.json()["dspt_status"], changed.json()["name"], changed.json()["type"]) == (
        "standards_met",
        "Northshire Constabulary",
        "police",
    )
    assert changed.json()["updated_at"] >= created.json()["updated_at"]

    deactivated = await patch_current(client, "/v1/organisations/POL-NSH", json={"active": False}, headers=admin)
    assert deactivated.json()["active"] is False
    read = await client.get("/v1/organisations/POL-NSH", headers=admin)
    assert read.json() == deactivated.json()

    assert (await client.get("/v1/organisations/NOPE", headers=admin)).status_code == 404
    assert (
        await patch_current(client, "/v1/organisations/NOPE", json={"active": False}, headers=admin)
    ).status_code == 404


async def test_organisation_validation_names_the_field(client: httpx.AsyncClient, tokens: Tokens) -> None:
    cases = {
        "type": ORGANISATION | {"type": "gang"},
        "dspt_status": ORGANISATION | {"dspt_status": "fine"},
        "code": ORGANISATION | {"code": "has spaces"},
        "name": {key: value for key, value in ORGANISATION.items() if key != "name"},
        "colour": ORGANISATION | {"colour": "blue"},
    }
    for field, body in cases.items():
        response = await client.post("/v1/organisations", json=body, headers=tokens.admin())
        assert response.status_code == 422, field
        assert [error["field"] for error in response.json()["errors"]] == [field]
    await register_organisation(
        client, tokens, "POL-NSH", type="police"
    )  # so that the PATCH reaches its body (an unknown code is a 404 first)
    patch = await patch_current(client, "/v1/organisations/POL-NSH", json={"active": "no"}, headers=tokens.admin())
    assert patch.status_code == 422 and patch.json()["errors"][0]["field"] == "active"


async def test_organisation_list_is_ordered_and_paged(client: httpx.AsyncClient, tokens: Tokens) -> None:
    for code in ("C3", "A1", "B2"):
        await register_organisation(client, tokens, code)
    first = (await client.get("/v1/organisations", params={"limit": 2}, headers=tokens.admin())).json()
    assert [row["code"] for row in first["items"]] == ["A1", "B2"]
    rest = (await client.get("/v1/organisations", params={"after": "B2"}, headers=tokens.admin())).json()
    assert [row["code"] for row in rest["items"]] == ["C3", "CONTROLLER"]  # the controller is registered at start


async def test_organisations_page_by_cursor_to_the_end(client: httpx.AsyncClient, tokens: Tokens) -> None:
    for code in ("C3", "A1", "D4", "B2"):
        await register_organisation(client, tokens, code)
    seen, cursors, params = [], [], {"limit": 1}
    while True:
        response = await client.get("/v1/organisations", params=params, headers=tokens.admin())
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_cursor"} and len(page["items"]) == 1
        seen += [row["code"] for row in page["items"]]
        if page["next_cursor"] is None:
            break
        cursors.append(page["next_cursor"])
        params = {"limit": 1, "cursor": page["next_cursor"]}
    assert seen == ["A1", "B2", "C3", "CONTROLLER", "D4"]  # the controller is registered at start
    assert len(cursors) == 4 and not any(code in cursor for cursor in cursors for code in seen)  # opaque


async def test_organisations_still_accept_the_deprecated_after(client: httpx.AsyncClient, tokens: Tokens) -> None:
    for code in ("C3", "A1", "B2"):
        await register_organisation(client, tokens, code)
    page = (await client.get("/v1/organisations", params={"after": "A1", "limit": 1}, headers=tokens.admin())).json()
    assert [row["code"] for row in page["items"]] == ["B2"]
    rest = (
        await client.get(
            "/v1/organisations",
            params={"after": "A1", "limit": 2, "cursor": page["next_cursor"]},
            headers=tokens.admin(),
        )
    ).json()
    assert [row["code"] for row in rest["items"]] == ["C3", "CONTROLLER"] and rest[
        "next_cursor"
    ] is None  # the controller is registered at start


async def test_a_forged_list_cursor_is_422_naming_cursor(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "A1")
    await register_agreement(
        client, tokens, code="ISA-A", parties=["A1"], purposes=["safeguarding_child"], data_categories=["demographics"]
    )
    forged = [
        "not-base64!",
        base64.urlsafe_b64encode(b'"A1"').decode(),  # not a list
        base64.urlsafe_b64encode(b'["A1", "B2"]').decode(),  # the wrong shape
        base64.urlsafe_b64encode(b"[1]").decode(),  # the wrong type
        base64.urlsafe_b64encode(rb'["A\u0000"]').decode(),  # a value we never issue
    ]
    for path in ("/v1/organisations", "/v1/sharing-agreements"):
        for cursor in forged:
            response = await client.get(path, params={"cursor": cursor}, headers=tokens.admin())
            assert response.status_code == 422, (path, cursor, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert [(error["field"], error["location"]) for error in response.json()["errors"]] == [("cursor", "query")]


async def test_only_admins_change_and_overseers_read(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    for role in (Role.AGENCY, Role.GUARDIAN, Role.AUDITOR):
        headers = tokens.headers("RXT01", role)
        assert (await client.post("/v1/organisations", json=ORGANISATION, headers=headers)).status_code == 403
        assert (
            await patch_current(client, "/v1/organisations/RXT01", json={"active": False}, headers=headers)
        ).status_code == 403
        assert (await client.post("/v1/sharing-agreements", json={}, headers=headers)).status_code == 403
    for role in (Role.GUARDIAN, Role.AUDITOR):
        assert (
            await client.get("/v1/organisations/RXT01", headers=tokens.headers("CONTROLLER", role))
        ).status_code == 200
    assert (await client.get("/v1/organisations", headers=tokens.agency("RXT01"))).status_code == 403
    assert (await client.get("/v1/organisations")).status_code == 401


async def test_agreement_lifecycle(client: httpx.AsyncClient, tokens: Tokens) -> None:
    admin = tokens.admin()
    created = await register_agreement(
        client,
        tokens,
        code="ISA-MASH",
        parties=["LA-NSH", "POL-NSH"],
        purposes=["safeguarding_child"],
        data_categories=["demographics", "safeguarding_history"],
    )
    assert created["parties"] == ["LA-NSH", "POL-NSH"] and created["status"] == "active"

    duplicate = await client.post(
        "/v1/sharing-agreements",
        json={
            key: created[key]
            for key in ("code", "title", "parties", "purposes", "data_categories", "valid_from", "valid_until")
        },
        headers=admin,
    )
    assert duplicate.status_code == 409

    suspended = await patch_current(
        client,
        "/v1/sharing-agreements/ISA-MASH",
        json={"status": "suspended", "valid_until": "2027-03-31"},
        headers=admin,
    )
    assert suspended.status_code == 200
    assert (suspended.json()["status"], suspended.json()["valid_until"]) == ("suspended", "2027-03-31")
    assert (await client.get("/v1/sharing-agreements/ISA-MASH", headers=admin)).json() == suspended.json()
    listed = (await client.get("/v1/sharing-agreements", headers=admin)).json()
    assert [row["code"] for row in listed["items"]] == ["ISA-MASH"] and listed["next_cursor"] is None
    assert (await client.get("/v1/sharing-agreements/ISA-NONE", headers=admin)).status_code == 404


async def test_agreement_validation_names_the_field(client: httpx.AsyncClient, tokens: Tokens) -> None:
    valid = {
        "code": "ISA-X",
        "title": "X",
        "parties": ["A"],
        "purposes": ["research"],
        "data_categories": ["genetic"],
        "valid_from": "2026-01-01",
        "valid_until": "2026-12-31",
    }
    cases = {
        "purposes[0]": valid | {"purposes": ["gossip"]},
        "data_categories[0]": valid | {"data_categories": ["everything"]},
        "parties": valid | {"parties": []},
        "valid_from": valid | {"valid_from": "first of May"},
        "status": valid | {"status": "lapsed"},
    }
    for field, body in cases.items():
        response = await client.post("/v1/sharing-agreements", json=body, headers=tokens.admin())
        assert response.status_code == 422, field
        assert field in [error["field"] for error in response.json()["errors"]], (field, response.json())

    backwards = await client.post(
        "/v1/sharing-agreements", json=valid | {"valid_until": "2025-01-01"}, headers=tokens.admin()
    )
    assert backwards.status_code == 422 and "valid_until" in backwards.json()["detail"]
    await register_agreement(client, tokens, code="ISA-X", valid_from="2026-01-01", valid_until="2026-12-31")
    patch = await patch_current(
        client, "/v1/sharing-agreements/ISA-X", json={"valid_from": "2027-06-01"}, headers=tokens.admin()
    )
    assert patch.status_code == 422 and patch.json()["errors"][0]["field"] == "valid_until"
