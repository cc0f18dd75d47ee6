"""Submitting, reading, listing and dry-running sharing requests over HTTP."""

import httpx
from sqlalchemy import text

from app.models.vocabulary import Role
from tests.factories import patch_current, register_agreement, register_organisation, submit
from tests.rules.baseline import baseline_request, changed, item
from tests.support import Tokens


async def test_submission_is_decided_recorded_and_read_back(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    response = await submit(client, tokens, baseline_request())

    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/v1/sharing-requests/{created['id']}"
    assert created["status"] == "approved"
    assert created["review_required"] is False
    assert created["requester"] == "RXT01"
    decision = created["decision"]
    assert decision["outcome"] == "approve"
    assert decision["decided_by"] == "rules"
    assert decision["policy"]["name"] == "uk-caldicott-baseline"
    assert len(decision["policy"]["hash"]) == 64
    assert len(decision["request_hash"]) == 64
    rules = {finding["rule"] for finding in decision["findings"]}
    assert {"CP1.purpose_recognised", "CP8.transparency", "CONSENT.refusal", "AGR.systematic"} <= rules
    assert all(finding["principle_title"] and finding["reason"] for finding in decision["findings"])

    read = await client.get(f"/v1/sharing-requests/{created['id']}", headers=tokens.agency("RXT01"))
    assert read.status_code == 200
    assert read.json() == created


async def test_each_outcome_sets_its_status(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    cases = {
        "approved": baseline_request(),
        "approved_with_conditions": changed({"recipient.staff_trained": False}),
        "awaiting_review": changed({"recipient.onward_sharing": True}),
        "refused": changed({"recipient.storage_region": "other"}),
    }
    for status, body in cases.items():
        response = await submit(client, tokens, body)
        assert response.status_code == 201
        assert response.json()["status"] == status
    conditions = (await submit(client, tokens, changed({"recipient.staff_trained": False}))).json()["decision"][
        "conditions"
    ]
    assert len(conditions) == 1 and conditions[0]


async def test_emergency_share_is_approved_and_flagged_for_retrospective_review(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    body = changed(
        {
            "urgency": "emergency",
            "purpose.category": "safeguarding_adult",
            "legal_basis.article_6": "vital_interests",
            "legal_basis.article_9": "substantial_public_interest",
            "legal_basis.schedule1_paragraph": 18,
            "legal_basis.confidentiality": "overriding_public_interest",
        }
    )
    response = await submit(client, tokens, body)
    assert response.status_code == 201
    assert (response.json()["status"], response.json()["review_required"]) == ("approved_with_conditions", True)
    fired = {f["rule"]: f["result"] for f in response.json()["decision"]["findings"] if f["result"] != "pass"}
    assert fired == {
        "CP6.schedule1_paragraph": "refer",
        "CONSENT.public_interest": "refer",
        "CP7.emergency_share": "condition",
    }


async def test_subject_identifiers_are_stored_only_as_keyed_hashes(
    client: httpx.AsyncClient, tokens: Tokens, app
) -> None:  # type: ignore[no-untyped-def]
    await register_organisation(client, tokens, "RXT01")
    body = changed({"subjects.count": 2, "subjects.identifiers": ["9990000018", "999 000 0026"]})
    created = (await submit(client, tokens, body)).json()

    hashes = created["request"]["subjects"]["identifier_hashes"]
    assert len(hashes) == 2 and all(len(value) == 64 for value in hashes)
    assert "identifiers" not in created["request"]["subjects"]
    async with app.state.wiring.engine.connect() as connection:
        for table in ("sharing_request_versions", "sharing_request_subjects", "decisions", "sharing_requests"):
            rows = (await connection.execute(text(f"SELECT * FROM {table}"))).all()
            assert rows, table
            assert "9990000018" not in repr(rows) and "0000026" not in repr(rows), table


async def test_identifiers_never_change_the_decision(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    without = (await submit(client, tokens, changed({"reference": "A"}))).json()["decision"]
    with_ids = (
        await submit(client, tokens, changed({"reference": "A", "subjects.identifiers": ["9990000018"]}))
    ).json()["decision"]
    assert without["findings"] == with_ids["findings"]
    assert without["request_hash"] != with_ids["request_hash"]


async def test_agency_never_sees_another_agencys_request(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "LA-NSH", type="local_authority")
    mine = (await submit(client, tokens, baseline_request(), org="RXT01")).json()
    theirs = (await submit(client, tokens, baseline_request(), org="LA-NSH")).json()

    response = await client.get(f"/v1/sharing-requests/{theirs['id']}", headers=tokens.agency("RXT01"))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "LA-NSH" not in response.text
    listed = (await client.get("/v1/sharing-requests", headers=tokens.agency("RXT01"))).json()
    assert [row["id"] for row in listed["items"]] == [mine["id"]]
    unknown = await client.get(
        "/v1/sharing-requests/00000000-0000-0000-0000-000000000000", headers=tokens.agency("RXT01")
    )
    # Indistinguishable from an id that does not exist.
    assert unknown.json() == response.json() | {
        "detail": unknown.json()["detail"],
        "instance": unknown.json()["instance"],
    }

    for role in (Role.GUARDIAN, Role.AUDITOR, Role.ADMIN):
        overseer = tokens.headers("CONTROLLER", role)
        assert (await client.get(f"/v1/sharing-requests/{theirs['id']}", headers=overseer)).status_code == 200
        assert len((await client.get("/v1/sharing-requests", headers=overseer)).json()["items"]) == 2


async def test_list_filters_and_paginates(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    created = []
    for index in range(5):
        body = (
            changed({"reference": f"R{index}"})
            if index % 2
            else changed({"reference": f"R{index}", "recipient.onward_sharing": True})
        )
        created.append((await submit(client, tokens, body)).json())
    headers = tokens.agency("RXT01")

    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/sharing-requests", params=params, headers=headers)).json()
        seen += [row["id"] for row in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [row["id"] for row in reversed(created)]

    referred = (await client.get("/v1/sharing-requests", params={"status": "awaiting_review"}, headers=headers)).json()[
        "items"
    ]
    assert {row["reference"] for row in referred} == {"R0", "R2", "R4"}
    care = (await client.get("/v1/sharing-requests", params={"purpose": "direct_care"}, headers=headers)).json()[
        "items"
    ]
    assert len(care) == 5
    research = (await client.get("/v1/sharing-requests", params={"purpose": "research"}, headers=headers)).json()[
        "items"
    ]
    assert research == []

    bad = await client.get("/v1/sharing-requests", params={"cursor": "not-a-cursor"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
    too_many = await client.get("/v1/sharing-requests", params={"limit": 1000}, headers=headers)
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "limit"
    unknown_status = await client.get("/v1/sharing-requests", params={"status": "lost"}, headers=headers)
    assert unknown_status.status_code == 422 and unknown_status.json()["errors"][0]["field"] == "status"


async def test_idempotency_key_replays_the_original_answer(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "LA-NSH", type="local_authority")
    first = await submit(client, tokens, baseline_request(), **{"Idempotency-Key": "case-42"})
    again = await submit(client, tokens, baseline_request(), **{"Idempotency-Key": "case-42"})

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    listed = (await client.get("/v1/sharing-requests", headers=tokens.agency("RXT01"))).json()["items"]
    assert len(listed) == 1

    different = await submit(client, tokens, changed({"reference": "other"}), **{"Idempotency-Key": "case-42"})
    assert different.status_code == 422
    assert different.json()["errors"][0]["field"] == "Idempotency-Key"

    # Keys belong to an organisation: another agency's same key is a new request.
    other = await submit(client, tokens, baseline_request(), org="LA-NSH", **{"Idempotency-Key": "case-42"})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


async def test_bad_bodies_get_a_problem_naming_the_field(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    cases = {
        "purpose.category": changed({"purpose.category": "curiosity"}),
        "purpose.description": changed({"purpose.description": "too short"}),
        "subjects.count": changed({"subjects.count": 0}),
        "subjects.identifiers": changed({"subjects.count": 1, "subjects.identifiers": ["1", "2"]}),
        "data_items": changed({"data_items": []}),
        "data_items[1].form": changed({"data_items": [item("demographics"), item("diagnoses", "scrambled")]}),
        "data_items[0].justification": changed(
            {"data_items": [{"category": "demographics", "form": "identifiable", "justification": "short"}]}
        ),
        "legal_basis.article_6": changed({"legal_basis.article_6": "because"}),
        "recipient.retention_days": changed({"recipient.retention_days": 36501}),
        "recipient.staff_trained": changed({"recipient.staff_trained": "yes"}),
        "transparency.subject_informed": changed({"transparency.subject_informed": "maybe"}),
        "consent": {key: value for key, value in baseline_request().items() if key != "consent"},
        "requester": changed({"requester": "SOMEONE-ELSE"}),
    }
    for field, body in cases.items():
        response = await submit(client, tokens, body)
        assert response.status_code == 422, field
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == 422 and problem["type"].endswith("/validation")
        assert field in [error["field"] for error in problem["errors"]], (field, problem)

    not_json = await client.post(
        "/v1/sharing-requests",
        content=b"{not json",
        headers=tokens.agency("RXT01") | {"content-type": "application/json"},
    )
    assert not_json.status_code == 400 and not_json.json()["errors"][0]["field"] == "body"
    # Nothing half-accepted: no request was recorded by any of these.
    assert (await client.get("/v1/sharing-requests", headers=tokens.agency("RXT01"))).json()["items"] == []


async def test_requester_must_be_registered_and_active(client: httpx.AsyncClient, tokens: Tokens) -> None:
    unregistered = await submit(client, tokens, baseline_request(), org="NOBODY")
    assert unregistered.status_code == 403

    await register_organisation(client, tokens, "RXT01")
    deactivated = await patch_current(client, "/v1/organisations/RXT01", json={"active": False}, headers=tokens.admin())
    assert deactivated.status_code == 200 and deactivated.json()["active"] is False
    refused = await submit(client, tokens, baseline_request())
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"


async def test_only_agencies_submit(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    for role in (Role.GUARDIAN, Role.AUDITOR, Role.ADMIN):
        response = await client.post(
            "/v1/sharing-requests", json=baseline_request(), headers=tokens.headers("RXT01", role)
        )
        assert response.status_code == 403, role


async def test_current_dspt_status_is_used(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    before = (await submit(client, tokens, baseline_request())).json()
    await patch_current(client, "/v1/organisations/RXT01", json={"dspt_status": "not_met"}, headers=tokens.admin())
    after = (await submit(client, tokens, baseline_request())).json()
    assert before["status"] == "approved"
    # 2027.1: direct care does not wait on the toolkit; the recipient confirms its security arrangements.
    assert after["status"] == "approved_with_conditions"
    assert {f["rule"]: f["result"] for f in after["decision"]["findings"]}["CP5.dspt"] == "condition"
    assert (
        after["decision"]["facts"]["requester"]["dspt_status"],
        before["decision"]["facts"]["requester"]["dspt_status"],
    ) == ("not_met", "standards_met")


async def test_registered_agreement_is_looked_up(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_agreement(client, tokens, code="ISA-CARE")
    body = changed({"sharing_agreement": "ISA-CARE", "subjects.count": 3})
    within = (await submit(client, tokens, body)).json()
    assert within["status"] == "approved"

    await patch_current(client, "/v1/sharing-agreements/ISA-CARE", json={"status": "suspended"}, headers=tokens.admin())
    suspended = (await submit(client, tokens, body)).json()
    fired = {f["rule"]: f["result"] for f in suspended["decision"]["findings"] if f["result"] != "pass"}
    assert fired == {"AGR.in_force": "condition"}

    unknown = (await submit(client, tokens, changed({"sharing_agreement": "ISA-NONE", "subjects.count": 3}))).json()
    fired = {f["rule"]: f["result"] for f in unknown["decision"]["findings"] if f["result"] != "pass"}
    assert fired == {"AGR.registered": "refer"}


async def test_evaluate_is_a_dry_run(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "POL-NSH", type="police")
    body = changed({"recipient.onward_sharing": True})

    response = await client.post("/v1/evaluate", json=body, headers=tokens.agency("RXT01"))
    assert response.status_code == 200
    dry = response.json()
    assert (dry["outcome"], dry["status"]) == ("refer", "awaiting_review")
    assert (await client.get("/v1/sharing-requests", headers=tokens.agency("RXT01"))).json()["items"] == []

    stored = (await submit(client, tokens, body)).json()["decision"]
    assert dry["findings"] == stored["findings"] and dry["request_hash"] == stored["request_hash"]

    as_police = await client.post(
        "/v1/evaluate",
        params={"requester": "POL-NSH"},
        json=baseline_request(),
        headers=tokens.headers("CONTROLLER", Role.GUARDIAN),
    )
    assert as_police.status_code == 200
    # Evaluated as the police force: in 2027.1 police give no direct care.
    assert as_police.json()["outcome"] == "refuse"
    assert {f["rule"]: f["result"] for f in as_police.json()["findings"]}["CP1.direct_care_recipient"] == "refer"
    spoof = await client.post(
        "/v1/evaluate", params={"requester": "POL-NSH"}, json=baseline_request(), headers=tokens.agency("RXT01")
    )
    assert spoof.status_code == 403
    bad = await client.post("/v1/evaluate", json=changed({"urgency": "soon"}), headers=tokens.agency("RXT01"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "urgency"


async def test_the_list_filters_by_the_requesters_own_reference(client: httpx.AsyncClient, tokens: Tokens) -> None:
    for org in ("RXT01", "RXT02"):
        await register_organisation(client, tokens, org)
    mine = (await submit(client, tokens, changed({"reference": "CASE-7"}))).json()
    await submit(client, tokens, changed({"reference": "CASE-8"}))
    theirs = (await submit(client, tokens, changed({"reference": "CASE-7"}), org="RXT02")).json()

    async def listed(headers: dict[str, str], **params: str) -> list[str]:
        response = await client.get("/v1/sharing-requests", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    # Once silently ignored, so every request came back; now only the one with that reference, and only one's own.
    assert await listed(tokens.agency("RXT01"), reference="CASE-7") == [mine["id"]]
    assert await listed(tokens.agency("RXT02"), reference="CASE-7") == [theirs["id"]]
    assert await listed(tokens.agency("RXT01"), reference="CASE-9") == []
    assert await listed(tokens.agency("RXT01"), reference="case-7") == []  # exactly, as the agency wrote it
    guardian = tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")
    assert set(await listed(guardian, reference="CASE-7")) == {mine["id"], theirs["id"]}


async def test_the_list_filters_by_updated_since(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    first = (await submit(client, tokens, changed({"recipient.onward_sharing": True}))).json()
    second = (await submit(client, tokens, baseline_request())).json()

    async def since(moment: str) -> list[str]:
        response = await client.get("/v1/sharing-requests", params={"updated_since": moment}, headers=agency)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await since(second["updated_at"]) == [second["id"]]  # at or after: inclusive
    assert await since(first["updated_at"]) == [second["id"], first["id"]]
    withdrawn = await client.post(f"/v1/sharing-requests/{first['id']}/withdraw", headers=agency)
    assert withdrawn.status_code == 200, withdrawn.text
    assert await since(withdrawn.json()["updated_at"]) == [first["id"]]  # a move changes updated_at
    for refused in ("2026-01-01T00:00:00", "1764000000", "2.78e-33", "0001-01-01T00:00:00+01:00"):
        # Naive, a Unix time (which pydantic would take), or off the calendar in UTC.
        answer = await client.get("/v1/sharing-requests", params={"updated_since": refused}, headers=agency)
        assert answer.status_code == 422, (refused, answer.text)
        assert answer.json()["errors"][0]["field"] == "updated_since"
