"""Sharing agreements have an owner, a DPIA reference, a review date and a signed copy,
and every change is a version kept for good."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.models.vocabulary import Role
from tests.factories import patch_current, register_agreement, register_organisation
from tests.support import Tokens

NEW_FIELDS = {"owner", "dpia_reference", "review_date", "signed_attachment", "version"}
PERIOD = {"valid_from": "2026-04-01", "valid_until": "2029-03-31"}


def overseers(tokens: Tokens) -> list[dict[str, str]]:
    return [tokens.admin(), *(tokens.headers("CONTROLLER", role) for role in (Role.GUARDIAN, Role.AUDITOR))]


async def versions(
    client: httpx.AsyncClient, headers: dict[str, str], code: str = "ISA-TEST", **params: Any
) -> dict[str, Any]:
    response = await client.get(f"/v1/sharing-agreements/{code}/versions", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def signed_copy(client: httpx.AsyncClient, tokens: Tokens, code: str, kind: str = "agreement") -> str:
    """Upload an agreement's signed copy (or its DPIA) as an admin; its attachment id."""
    response = await client.post(
        f"/v1/sharing-agreements/{code}/attachments",
        data={"kind": kind},
        files={"file": ("signed.pdf", b"%PDF-1.7\n" + code.encode() + b"\n%%EOF\n", "application/pdf")},
        headers=tokens.admin(),
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def problem_fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [error["field"] for error in response.json()["errors"]]


async def test_an_agreement_registered_without_the_new_fields_shows_them_empty_as_version_1(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    created = await register_agreement(client, tokens)
    assert created.keys() >= NEW_FIELDS
    assert {field: created[field] for field in NEW_FIELDS} == {
        "owner": None,
        "dpia_reference": None,
        "review_date": None,
        "signed_attachment": None,
        "version": 1,
    }
    [first] = (await versions(client, tokens.admin()))["items"]
    assert (first["code"], first["version"], first["changed_by"], first["agreement"]) == (
        "ISA-TEST",
        1,
        "admin-1",
        created,
    )


async def test_every_change_is_a_new_version_and_the_old_ones_stay_as_they_were(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    admin = tokens.admin()
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "NSC01", type="local_authority")
    created = await register_agreement(
        client, tokens, owner="RXT01", dpia_reference="DPIA-2026-014", review_date="2027-09-30", **PERIOD
    )
    assert (created["owner"], created["dpia_reference"], created["review_date"], created["signed_attachment"]) == (
        "RXT01",
        "DPIA-2026-014",
        "2027-09-30",
        None,
    )
    signed = await signed_copy(client, tokens, "ISA-TEST")
    second = await patch_current(
        client,
        "/v1/sharing-agreements/ISA-TEST",
        json={
            "owner": "NSC01",
            "review_date": "2028-03-31",
            "parties": ["RXT01", "NSC01"],
            "signed_attachment": signed,
        },
        headers=admin,
    )
    assert second.status_code == 200, second.text
    assert (
        second.json()["version"],
        second.json()["owner"],
        second.json()["review_date"],
        second.json()["signed_attachment"],
    ) == (
        2,
        "NSC01",
        "2028-03-31",
        signed,
    )
    # A null clears the optional fields, and leaves the others as they were.
    third = await patch_current(
        client,
        "/v1/sharing-agreements/ISA-TEST",
        json={"dpia_reference": None, "signed_attachment": None, "title": None},
        headers=admin,
    )
    assert third.status_code == 200, third.text
    assert (
        third.json()["version"],
        third.json()["dpia_reference"],
        third.json()["signed_attachment"],
        third.json()["title"],
    ) == (
        3,
        None,
        None,
        "Test agreement",
    )
    assert (third.json()["owner"], third.json()["review_date"]) == ("NSC01", "2028-03-31")
    assert (await client.get("/v1/sharing-agreements/ISA-TEST", headers=admin)).json() == third.json()

    for headers in overseers(tokens):
        listed = await versions(client, headers)
        assert [row["version"] for row in listed["items"]] == [1, 2, 3] and listed["next_cursor"] is None
        assert [row["agreement"] for row in listed["items"]] == [created, second.json(), third.json()]
        for row in listed["items"]:
            single = await client.get(f"/v1/sharing-agreements/ISA-TEST/versions/{row['version']}", headers=headers)
            assert single.status_code == 200 and single.json() == row
    first = (await client.get("/v1/sharing-agreements/ISA-TEST/versions/1", headers=admin)).json()
    assert (first["agreement"]["owner"], first["agreement"]["parties"], first["agreement"]["dpia_reference"]) == (
        "RXT01",
        ["RXT01"],
        "DPIA-2026-014",
    )
    assert (
        first["agreement"]["signed_attachment"] is None
        and listed["items"][1]["agreement"]["signed_attachment"] == signed
    )
    assert first["changed_at"] == created["updated_at"]


async def test_versions_come_in_pages(client: httpx.AsyncClient, tokens: Tokens) -> None:
    admin = tokens.admin()
    await register_agreement(client, tokens)
    for title in ("Second", "Third", "Fourth", "Fifth"):
        assert (
            await patch_current(client, "/v1/sharing-agreements/ISA-TEST", json={"title": title}, headers=admin)
        ).status_code == 200
    seen, cursor = [], None
    while True:
        page = await versions(client, admin, limit=2, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= 2
        seen += [(row["version"], row["agreement"]["title"]) for row in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [(1, "Test agreement"), (2, "Second"), (3, "Third"), (4, "Fourth"), (5, "Fifth")]
    assert problem_fields(
        await client.get("/v1/sharing-agreements/ISA-TEST/versions", params={"limit": 201}, headers=admin)
    ) == ["limit"]
    assert problem_fields(
        await client.get("/v1/sharing-agreements/ISA-TEST/versions", params={"cursor": "forged"}, headers=admin)
    ) == ["cursor"]


async def test_versions_of_what_does_not_exist_are_404_and_agencies_may_not_read_them(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    admin = tokens.admin()
    await register_organisation(client, tokens, "RXT01")
    await register_agreement(client, tokens)
    assert (await client.get("/v1/sharing-agreements/ISA-NONE/versions", headers=admin)).status_code == 404
    assert (await client.get("/v1/sharing-agreements/ISA-NONE/versions/1", headers=admin)).status_code == 404
    assert (await client.get("/v1/sharing-agreements/ISA-TEST/versions/2", headers=admin)).status_code == 404
    for number in ("0", "-1", "one", str(2**31)):
        assert problem_fields(
            await client.get(f"/v1/sharing-agreements/ISA-TEST/versions/{number}", headers=admin)
        ) == ["version"]
    agency = tokens.agency("RXT01")
    for path in ("/v1/sharing-agreements/ISA-TEST/versions", "/v1/sharing-agreements/ISA-TEST/versions/1"):
        assert (await client.get(path, headers=agency)).status_code == 403
        assert (await client.get(path)).status_code == 401


async def test_the_owner_must_be_a_registered_organisation(client: httpx.AsyncClient, tokens: Tokens) -> None:
    admin = tokens.admin()
    registered = {
        "code": "ISA-X",
        "title": "X",
        "parties": ["RXT01"],
        "purposes": ["direct_care"],
        "data_categories": ["demographics"],
    } | PERIOD
    assert problem_fields(
        await client.post("/v1/sharing-agreements", json=registered | {"owner": "NOBODY"}, headers=admin)
    ) == ["owner"]
    assert problem_fields(
        await client.post("/v1/sharing-agreements", json=registered | {"owner": "not a code!"}, headers=admin)
    ) == ["owner"]
    assert (await client.get("/v1/sharing-agreements/ISA-X", headers=admin)).status_code == 404  # nothing was stored

    await register_organisation(client, tokens, "RXT01")
    await register_agreement(client, tokens, code="ISA-X", owner="RXT01")
    changed = await patch_current(client, "/v1/sharing-agreements/ISA-X", json={"owner": "NOBODY"}, headers=admin)
    assert problem_fields(changed) == ["owner"] and "NOBODY" in changed.json()["detail"]
    stored = (await client.get("/v1/sharing-agreements/ISA-X", headers=admin)).json()
    assert (stored["owner"], stored["version"]) == ("RXT01", 1)
    assert [row["version"] for row in (await versions(client, admin, "ISA-X"))["items"]] == [1]


async def test_the_signed_copy_must_be_an_attachment_of_the_agreement(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    admin = tokens.admin()
    await register_agreement(client, tokens, code="ISA-A")
    await register_agreement(client, tokens, code="ISA-B")
    of_a, of_b = await signed_copy(client, tokens, "ISA-A"), await signed_copy(client, tokens, "ISA-B")
    dpia_of_a = await signed_copy(client, tokens, "ISA-A", kind="dpia")
    for attachment in (of_b, "no-such-attachment", dpia_of_a):
        refused = await patch_current(
            client, "/v1/sharing-agreements/ISA-A", json={"signed_attachment": attachment}, headers=admin
        )
        assert problem_fields(refused) == ["signed_attachment"] and attachment in refused.json()["detail"]
    # A new agreement has no attachments yet: its signed copy is named by a change once uploaded.
    body = {
        "code": "ISA-C",
        "title": "C",
        "parties": ["RXT01"],
        "purposes": ["direct_care"],
        "data_categories": ["demographics"],
    } | PERIOD
    assert problem_fields(
        await client.post("/v1/sharing-agreements", json=body | {"signed_attachment": of_a}, headers=admin)
    ) == ["signed_attachment"]
    named = await patch_current(client, "/v1/sharing-agreements/ISA-A", json={"signed_attachment": of_a}, headers=admin)
    assert named.status_code == 200 and (named.json()["signed_attachment"], named.json()["version"]) == (of_a, 2)


@pytest.mark.parametrize("review_date", ["2026-03-31", "2029-04-01", "2031-01-01"])
async def test_a_review_date_outside_the_period_is_422_naming_it(
    client: httpx.AsyncClient, tokens: Tokens, review_date: str
) -> None:
    admin = tokens.admin()
    body = {
        "code": "ISA-X",
        "title": "X",
        "parties": ["RXT01"],
        "purposes": ["direct_care"],
        "data_categories": ["demographics"],
    } | PERIOD
    assert problem_fields(
        await client.post("/v1/sharing-agreements", json=body | {"review_date": review_date}, headers=admin)
    ) == ["review_date"]
    await register_agreement(client, tokens, code="ISA-X", review_date="2027-09-30", **PERIOD)
    assert problem_fields(
        await patch_current(client, "/v1/sharing-agreements/ISA-X", json={"review_date": review_date}, headers=admin)
    ) == ["review_date"]
    assert (await client.get("/v1/sharing-agreements/ISA-X", headers=admin)).json()["review_date"] == "2027-09-30"


async def test_the_review_date_may_fall_on_either_end_of_the_period_and_must_stay_inside_it(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    admin = tokens.admin()
    await register_agreement(client, tokens, code="ISA-A", review_date="2026-04-01", **PERIOD)
    await register_agreement(client, tokens, code="ISA-B", review_date="2029-03-31", **PERIOD)
    # Moving the period so that the stored review date falls outside it names the review date.
    shortened = await patch_current(
        client, "/v1/sharing-agreements/ISA-B", json={"valid_until": "2029-03-30"}, headers=admin
    )
    assert problem_fields(shortened) == ["review_date"]
    moved = await patch_current(
        client,
        "/v1/sharing-agreements/ISA-B",
        json={"valid_until": "2028-03-31", "review_date": "2028-01-31"},
        headers=admin,
    )
    assert moved.status_code == 200 and (
        moved.json()["valid_until"],
        moved.json()["review_date"],
        moved.json()["version"],
    ) == ("2028-03-31", "2028-01-31", 2)
    cleared = await patch_current(
        client, "/v1/sharing-agreements/ISA-B", json={"review_date": None, "valid_until": "2027-01-01"}, headers=admin
    )
    assert cleared.status_code == 200 and cleared.json()["review_date"] is None


async def test_an_agreement_registered_without_the_new_fields_still_decides_requests(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    # The scenario corpus and existing clients register agreements as before (tests/test_scenarios.py runs them all).
    body = {
        "code": "ISA-OLD",
        "title": "Old",
        "parties": ["RXT01"],
        "purposes": ["direct_care"],
        "data_categories": ["demographics"],
    } | PERIOD
    response = await client.post("/v1/sharing-agreements", json=body, headers=tokens.admin())
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dpia_reference", "x" * 201),
        ("dpia_reference", ""),
        ("signed_attachment", "../etc/passwd"),
        ("review_date", "next spring"),
        ("version", 7),
    ],
)
async def test_bad_new_fields_are_422_naming_them(
    client: httpx.AsyncClient, tokens: Tokens, field: str, value: Any
) -> None:
    await register_agreement(client, tokens)
    response = await patch_current(
        client, "/v1/sharing-agreements/ISA-TEST", json={field: value}, headers=tokens.admin()
    )
    assert problem_fields(response) == [field]
