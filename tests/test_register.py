"""The public data uses register (GET /v1/register) and the controller's withholdings of entries from it."""

import csv
import io
from typing import Any

import httpx

from app.main import create_app
from app.models.vocabulary import Role
from tests.factories import REFERRED, register_organisation, submit
from tests.rules.baseline import changed
from tests.support import Tokens, settings_for

RATIONALE = "Approved: ethics approval seen and the dataset limited to what the study protocol needs."
# A referred research request: every value a test submits that must never reach the register is distinct text.
RESEARCH = REFERRED | {
    "purpose.category": "research",
    "purpose.description": "Cohort study of outcomes after discharge zqxv-description",
    "reference": "REF-zqxv-reference",
    "data_items": [
        {"category": "demographics", "form": "pseudonymised", "justification": "Needed to link zqxv-justification"},
        {"category": "diagnoses", "form": "pseudonymised", "justification": "The outcome studied zqxv-justification"},
    ],
    "legal_basis.article_9": "research",
    "legal_basis.confidentiality": "not_confidential",
    "national_data_opt_out_applied": True,
    "subjects.count": 2,
    "subjects.identifiers": ["9990000018", "9990000026"],
}
SECRETS = ("zqxv", "9990000018", "9990000026", RATIONALE)


def guardian(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")


async def decided(
    client: httpx.AsyncClient, tokens: Tokens, changes: dict[str, Any], outcome: str = "approve"
) -> dict[str, Any]:
    """A request submitted and, when the rules refer it, decided by a guardian."""
    response = await submit(client, tokens, changed(changes))
    assert response.status_code == 201, response.text
    request = response.json()
    if request["status"] == "awaiting_review" and outcome != "refer":
        path = f"/v1/sharing-requests/{request['id']}"
        decision: dict[str, Any] = {"outcome": outcome, "rationale": RATIONALE}
        if outcome == "approve_with_conditions":
            decision["conditions"] = ["Only the named study team may see it zqxv-condition"]
        assert (await client.post(f"{path}/claim", headers=guardian(tokens))).status_code == 200
        review = await client.post(f"{path}/review", json=decision, headers=guardian(tokens))
        assert review.status_code == 200, review.text
        request = (await client.get(path, headers=guardian(tokens))).json()
    return request


async def register_json(client: httpx.AsyncClient, **params: Any) -> httpx.Response:
    response = await client.get("/v1/register", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json" and response.headers["vary"] == "Accept"
    return response


async def register_csv(client: httpx.AsyncClient, **params: Any) -> httpx.Response:
    response = await client.get("/v1/register", params=params, headers={"Accept": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return response


def csv_rows(response: httpx.Response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.text)))


def as_csv_row(entry: dict[str, Any]) -> dict[str, str]:
    """A JSON entry as the CSV writes it."""
    people = entry["people"]
    return {
        "decided_on": entry["decided_on"],
        "organisation_code": entry["organisation"]["code"],
        "organisation_name": entry["organisation"]["name"],
        "purpose": entry["purpose"],
        "article_6": entry["legal_basis"]["article_6"],
        "article_9": entry["legal_basis"]["article_9"] or "",
        "confidentiality": entry["legal_basis"]["confidentiality"],
        "data": "; ".join(f"{item['category']}:{item['form']}" for item in entry["data"]),
        "people": str(people["count"]) if people["count"] is not None else people["band"],
        "agreement": entry["agreement"] or "",
        "outcome": entry["outcome"],
    }


async def test_only_approved_disclosures_not_for_direct_care_are_published_without_identifying_anything(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01", name="Northshire Research Unit")
    research = await decided(client, tokens, RESEARCH)
    assert research["status"] == "approved"
    large = await decided(
        client, tokens, RESEARCH | {"subjects.identifiers": [], "subjects.count": 120}, "approve_with_conditions"
    )
    assert large["status"] == "approved_with_conditions"
    care = await decided(client, tokens, {})  # the baseline: direct care, approved by the rules
    assert care["status"] == "approved"
    refused = await decided(client, tokens, RESEARCH, "refuse")
    assert refused["status"] == "refused"
    referred = await decided(client, tokens, RESEARCH, "refer")
    assert referred["status"] == "awaiting_review"

    json_page, csv_page = await register_json(client), await register_csv(client)
    entries = json_page.json()["items"]
    assert len(entries) == 2 and json_page.json()["next_cursor"] is None
    small, big = entries
    assert small["people"] == {"count": None, "band": "<10"} and big["people"] == {"count": 120, "band": None}
    assert small == {
        "decided_on": small["decided_on"],
        "organisation": {"code": "RXT01", "name": "Northshire Research Unit"},
        "purpose": "research",
        "legal_basis": {
            "article_6": "public_task",
            "article_9": "research",
            "confidentiality": "not_confidential",
        },
        "data": [
            {"category": "demographics", "form": "pseudonymised"},
            {"category": "diagnoses", "form": "pseudonymised"},
        ],
        "people": {"count": None, "band": "<10"},
        "agreement": None,
        "outcome": "approved",
    }
    assert big["outcome"] == "approved_with_conditions"
    assert csv_rows(csv_page) == [as_csv_row(entry) for entry in entries]
    # Nothing that names a request, a person or a hash, and no free text, anywhere in either form.
    for body in (json_page.text, csv_page.text):
        for request in (research, large, care, refused, referred):
            assert request["id"] not in body
            assert request["decision"]["id"] not in body if request.get("decision") else True
        for secret in SECRETS:
            assert secret not in body
        assert "CASE-1" not in body and "sha256" not in body and "user-rxt01" not in body


async def test_the_register_pages_in_both_forms(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    for _ in range(3):
        await decided(client, tokens, RESEARCH)
    first = (await register_json(client, limit=2)).json()
    assert len(first["items"]) == 2 and first["next_cursor"] is not None
    second = (await register_json(client, limit=2, cursor=first["next_cursor"])).json()
    assert len(second["items"]) == 1 and second["next_cursor"] is None

    first_csv = await register_csv(client, limit=2)
    assert len(csv_rows(first_csv)) == 2
    link = first_csv.headers["Link"]
    assert link.endswith('>; rel="next"') and link.startswith("</v1/register?")
    following = await client.get(link[1 : link.index(">")], headers={"Accept": "text/csv"})
    assert following.status_code == 200 and "Link" not in following.headers
    assert csv_rows(following) == [as_csv_row(entry) for entry in second["items"]]
    bad = await client.get("/v1/register", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    refused = await client.get("/v1/register", headers={"Accept": "application/xml"})
    assert refused.status_code == 406


async def test_a_withheld_entry_leaves_the_register_until_it_is_restored(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    request = await decided(client, tokens, RESEARCH)
    assert len((await register_json(client)).json()["items"]) == 1
    body = {"request_id": request["id"], "reason": "Publishing this now would prejudice a live investigation."}
    auditor = tokens.headers("CONTROLLER", Role.AUDITOR, sub="auditor-1")

    # Only the controller's admins and guardians may withhold; an agency, or a guardian role claimed by another
    # organisation, is refused.
    for headers in (tokens.agency("RXT01"), auditor, tokens.headers("RXT01", Role.GUARDIAN), {}):
        refused = await client.post("/v1/register/withholdings", json=body, headers=headers)
        assert refused.status_code in (401, 403), refused.text
    short = await client.post("/v1/register/withholdings", json=body | {"reason": "no"}, headers=guardian(tokens))
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "reason"
    unknown = await client.post(
        "/v1/register/withholdings", json=body | {"request_id": "no-such-request"}, headers=guardian(tokens)
    )
    assert unknown.status_code == 404

    withheld = await client.post("/v1/register/withholdings", json=body, headers=guardian(tokens))
    assert withheld.status_code == 201, withheld.text
    assert withheld.json()["request_id"] == request["id"] and withheld.json()["withheld_by"] == "guardian-1"
    assert withheld.headers["Location"] == f"/v1/register/withholdings/{request['id']}"
    read = await client.get(withheld.headers["Location"], headers=auditor)
    assert (read.status_code, read.json()) == (200, withheld.json())
    again = await client.post("/v1/register/withholdings", json=body, headers=tokens.admin())
    assert again.status_code == 409
    assert (await register_json(client)).json()["items"] == []
    assert csv_rows(await register_csv(client)) == []

    listed = await client.get("/v1/register/withholdings", headers=auditor)
    assert listed.status_code == 200 and [item["request_id"] for item in listed.json()["items"]] == [request["id"]]
    assert listed.json()["items"][0]["reason"] == body["reason"]
    assert (await client.get("/v1/register/withholdings", headers=tokens.agency("RXT01"))).status_code == 403

    assert (await client.delete(f"/v1/register/withholdings/{request['id']}", headers=auditor)).status_code == 403
    restored = await client.delete(f"/v1/register/withholdings/{request['id']}", headers=tokens.admin())
    assert restored.status_code == 204
    assert len((await register_json(client)).json()["items"]) == 1
    gone = await client.delete(f"/v1/register/withholdings/{request['id']}", headers=tokens.admin())
    assert gone.status_code == 404
    unread = await client.get(f"/v1/register/withholdings/{request['id']}", headers=auditor)
    assert (unread.status_code, unread.headers["content-type"]) == (404, "application/problem+json")

    events = await client.get("/v1/audit/events", params={"request_id": request["id"]}, headers=auditor)
    actions = [(event["action"], event["actor_sub"]) for event in events.json()["items"]]
    assert ("register_entry_withheld", "guardian-1") in actions and ("register_entry_restored", "admin-1") in actions


async def test_the_threshold_under_which_a_count_is_a_band_is_configured(
    client: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await decided(client, tokens, RESEARCH | {"subjects.identifiers": [], "subjects.count": 120})
    assert [entry["people"] for entry in (await register_json(client)).json()["items"]] == [
        {"count": 120, "band": None}
    ]
    stricter = create_app(settings_for(database_url, register_min_count=500))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stricter), base_url="http://testserver") as http:
            [entry] = (await register_json(http)).json()["items"]
            [row] = csv_rows(await register_csv(http))
    finally:
        await stricter.state.wiring.engine.dispose()
    assert entry["people"] == {"count": None, "band": "<500"} and row["people"] == "<500"
