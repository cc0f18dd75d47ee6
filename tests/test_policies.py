"""Policy versions over HTTP: the held policies, derived uploads, activation, the dry run by version, and what-if replay."""

import hashlib
import json
from typing import Any

import httpx
import pytest
import yaml

from app.models.vocabulary import Role
from app.rules.policy_documents import shipped_path
from tests.factories import patch_current, register_agreement, register_organisation, submit
from tests.rules.baseline import changed, item
from tests.support import Tokens

BASELINE = "uk-caldicott-baseline"
DERIVED = ("northshire-trust", "2028.1-local.1")
YAML = {"Content-Type": "application/yaml"}

# Requests whose outcome 2027.1 changes from 2026.1's, worked out from the brief (sections 4 and 4a).
POLICE_EXEMPTION_AS_REQUIREMENT = changed(
    {
        "purpose.category": "crime_prevention",
        "data_items": [item("demographics"), item("contact_details")],
        "legal_basis.article_9": None,
        "legal_basis.confidentiality": "legal_requirement",
        "legal_basis.reference": "DPA 2018 Sch. 2 para. 2 form 26/4411",
        "legal_basis.provision": "dpa_2018_sch2_para2",
        "transparency.subject_informed": "would_prejudice_purpose",
    }
)  # 2026.1 approve (a "legal requirement" overrides all); 2027.1 refuse (an exemption requires nothing)
POLICE_DIRECT_CARE = changed({})  # 2026.1 approve; 2027.1 refuse (police give no care; no implied consent; no 9(2)(h))
EMERGENCY_OVER_A_REFUSAL = changed(
    {
        "urgency": "emergency",
        "legal_basis.article_6": "vital_interests",
        "legal_basis.confidentiality": "overriding_public_interest",
        "consent.status": "refused",
    }
)  # 2026.1 approve_with_conditions (emergency share); 2027.1 refer (a capable person's refusal is not waivable)


def policy_document(version: str = "2028.1") -> dict[str, Any]:
    return yaml.safe_load(shipped_path(version).read_bytes())


def derived(name: str = DERIVED[0], version: str = DERIVED[1], **thresholds: int) -> dict[str, Any]:
    """A policy derived from 2028.1 with its own name and version, and some thresholds tuned."""
    document = policy_document()
    document.update(name=name, version=version, derived_from={"name": BASELINE, "version": "2028.1"})
    document["thresholds"].update(thresholds)
    return document


def as_yaml(document: dict[str, Any]) -> bytes:
    return yaml.safe_dump(document, sort_keys=False).encode()


async def held(client: httpx.AsyncClient, tokens: Tokens) -> dict[tuple[str, str], dict[str, Any]]:
    response = await client.get("/v1/policies", headers=tokens.headers("CONTROLLER", Role.GUARDIAN))
    assert response.status_code == 200, response.text
    return {(entry["name"], entry["version"]): entry for entry in response.json()["items"]}


async def activate(client: httpx.AsyncClient, tokens: Tokens, name: str, version: str) -> dict[str, Any]:
    response = await client.post(f"/v1/policies/{name}/{version}/activate", headers=tokens.admin())
    assert response.status_code == 200, response.text
    return response.json()


async def replay(client: httpx.AsyncClient, tokens: Tokens, version: str, headers: dict[str, str] | None = None, **criteria: Any) -> dict[str, Any]:
    response = await client.post(f"/v1/policies/{BASELINE}/{version}/replay", json=criteria, headers=headers or tokens.headers("CONTROLLER", "guardian"))
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/v1/policy-replays/{response.json()['id']}"
    return response.json()


async def changes(client: httpx.AsyncClient, tokens: Tokens, replay_id: str, limit: int = 200) -> list[dict[str, Any]]:
    """Every listed change of a replay, following the cursor."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await client.get(f"/v1/policy-replays/{replay_id}/changes", params=params, headers=tokens.headers("CONTROLLER", "auditor"))
        assert response.status_code == 200, response.text
        found += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return found


SHIPPED = {(BASELINE, "2026.1"), (BASELINE, "2027.1"), (BASELINE, "2027.2")}


async def test_a_fresh_installation_holds_both_baselines_and_2027_2_and_decides_under_2027_1(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    policies = await held(client, tokens)

    assert set(policies) == SHIPPED
    assert [policies[BASELINE, version]["active"] for version in ("2026.1", "2027.1", "2027.2")] == [False, True, False]
    assert all(entry["shipped"] for entry in policies.values())
    assert [policies[BASELINE, version]["derived_from"] for version in ("2026.1", "2027.1")] == [None, None]
    # 2027.2 is shipped beside its baseline as a derived policy (issue 15): it runs the 2027.1 rules and waits to be activated.
    assert policies[BASELINE, "2027.2"]["derived_from"] == {"name": BASELINE, "version": "2027.1"}
    assert policies[BASELINE, "2027.2"]["edition"] == "2027.1"
    for version in ("2026.1", "2027.1", "2027.2"):
        response = await client.get(f"/v1/policies/{BASELINE}/{version}", headers={"Accept": "application/yaml"} | tokens.agency("RXT01"))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/yaml")
        assert response.content == shipped_path(version).read_bytes()
        assert hashlib.sha256(response.content).hexdigest() == policies[BASELINE, version]["content_hash"] == response.headers["ETag"].strip('"')
        as_json = await client.get(f"/v1/policies/{BASELINE}/{version}", headers=tokens.agency("RXT01"))
        assert as_json.headers["content-type"].startswith("application/json")
        assert as_json.json()["version"] == version
    decided = (await submit(client, tokens, changed({}))).json()["decision"]["policy"]
    assert (decided["name"], decided["version"], decided["hash"]) == (BASELINE, "2027.1", policies[BASELINE, "2027.1"]["content_hash"])
    assert (await client.get("/v1/policies")).status_code == 401
    assert (await client.get(f"/v1/policies/{BASELINE}/2099.1", headers=tokens.admin())).status_code == 404


async def test_a_derived_policy_is_stored_as_given_and_never_changes(client: httpx.AsyncClient, tokens: Tokens) -> None:
    content = as_yaml(derived(bulk_subjects=10))
    created = await client.post("/v1/policies", content=content, headers=YAML | tokens.admin())
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == f"/v1/policies/{DERIVED[0]}/{DERIVED[1]}"
    entry = created.json()
    assert (entry["shipped"], entry["active"], entry["edition"], entry["derived_from"]) == (False, False, "2027.1", {"name": BASELINE, "version": "2027.1"})
    assert entry["content_hash"] == hashlib.sha256(content).hexdigest()
    assert entry["created_by"] == "admin-1"

    again = await client.post("/v1/policies", content=content, headers=YAML | tokens.admin())
    assert (again.status_code, again.json()["content_hash"]) == (200, entry["content_hash"])
    other = await client.post("/v1/policies", content=as_yaml(derived(bulk_subjects=11)), headers=YAML | tokens.admin())
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    shipped = await client.post("/v1/policies", content=as_yaml(derived(name=BASELINE, version="2027.1")), headers=YAML | tokens.admin())
    assert shipped.status_code == 409

    read = await client.get(f"/v1/policies/{DERIVED[0]}/{DERIVED[1]}", headers={"Accept": "application/yaml"} | tokens.admin())
    assert read.content == content
    as_json = json.dumps(derived(version="2027.1-local.2"), default=str).encode()
    posted = await client.post("/v1/policies", content=as_json, headers={"Content-Type": "application/json"} | tokens.admin())
    assert posted.status_code == 201, posted.text
    back = await client.get(f"/v1/policies/{DERIVED[0]}/2027.1-local.2", headers=tokens.admin())
    assert back.content == as_json
    assert set(await held(client, tokens)) == {*SHIPPED, DERIVED, (DERIVED[0], "2027.1-local.2")}

    pages, cursor = [], None
    while True:
        page = (await client.get("/v1/policies", params={"limit": 1} | ({"cursor": cursor} if cursor else {}), headers=tokens.admin())).json()
        pages += [(entry["name"], entry["version"]) for entry in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert pages == sorted([*SHIPPED, DERIVED, (DERIVED[0], "2027.1-local.2")])


def _unknown_rule(document: dict[str, Any]) -> None:
    document["rules"]["CP9.made_up"] = {"principle": 1, "reasons": {"pass": "Fine.", "refer": "Ask."}}


def _unknown_key(document: dict[str, Any]) -> None:
    document["thresholds"]["bulk_subject"] = 5


def _unknown_category(document: dict[str, Any]) -> None:
    document["allowed_categories"]["crime_prevention"].append("tattoos")


def _unknown_waivable_rule(document: dict[str, Any]) -> None:
    document["emergency"]["waivable"].append("CP9.made_up")


def _no_baseline(document: dict[str, Any]) -> None:
    del document["derived_from"]


def _parameter_of_another_edition(document: dict[str, Any]) -> None:
    document["derived_from"]["version"] = "2026.1"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (_unknown_rule, "rules.CP9.made_up"),
        (_unknown_key, "thresholds.bulk_subject"),
        (_unknown_category, "allowed_categories.crime_prevention[2]"),
        (_unknown_waivable_rule, "emergency.waivable[10]"),
        (_no_baseline, "derived_from"),
        (_parameter_of_another_edition, "provisions"),
    ],
)
async def test_an_invalid_policy_is_a_422_naming_the_path(client: httpx.AsyncClient, tokens: Tokens, change: Any, field: str) -> None:
    document = derived()
    change(document)
    response = await client.post("/v1/policies", content=as_yaml(document), headers=YAML | tokens.admin())

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [error["field"] for error in response.json()["errors"]], response.json()
    assert (await held(client, tokens)).keys() == SHIPPED


@pytest.mark.parametrize(
    ("content", "headers", "field"),
    [
        (b"name: [unclosed\n", YAML, "body"),
        (b"- a list\n", YAML, "body"),
        (b"{}", {"Content-Type": "text/plain"}, "Content-Type"),
        (b"\xff\xfe", YAML, "body"),
    ],
)
async def test_an_unreadable_policy_is_a_422(client: httpx.AsyncClient, tokens: Tokens, content: bytes, headers: dict[str, str], field: str) -> None:
    response = await client.post("/v1/policies", content=content, headers=headers | tokens.admin())

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.parametrize("role", ["agency", "guardian", "auditor"])
async def test_only_an_admin_uploads_and_activates(client: httpx.AsyncClient, tokens: Tokens, role: str) -> None:
    headers = tokens.headers("RXT01", role)
    assert (await client.post("/v1/policies", content=as_yaml(derived()), headers=YAML | headers)).status_code == 403
    assert (await client.post(f"/v1/policies/{BASELINE}/2026.1/activate", headers=headers)).status_code == 403
    assert (await held(client, tokens))[BASELINE, "2027.1"]["active"]


async def test_activation_changes_how_new_requests_are_decided(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    eleven = changed({"subjects.count": 11})
    assert (await submit(client, tokens, eleven)).json()["decision"]["outcome"] == "approve_with_conditions"  # bulk is over 100 in 2027.1
    assert (await client.post("/v1/policies", content=as_yaml(derived(bulk_subjects=10)), headers=YAML | tokens.admin())).status_code == 201

    active = await activate(client, tokens, *DERIVED)
    assert (active["active"], active["activated_by"]) == (True, "admin-1")
    decision = (await submit(client, tokens, eleven)).json()["decision"]
    assert decision["outcome"] == "refer"
    assert {finding["rule"]: finding["result"] for finding in decision["findings"]}["CP3.bulk_identifiable"] == "refer"
    assert (decision["policy"]["name"], decision["policy"]["version"]) == DERIVED
    policies = await held(client, tokens)
    assert [entry["active"] for entry in policies.values()].count(True) == 1
    assert policies[DERIVED]["activated_at"] is not None

    again = await activate(client, tokens, *DERIVED)
    assert again["activated_at"] == active["activated_at"]  # activating the active policy changes nothing
    await activate(client, tokens, BASELINE, "2026.1")
    assert (await submit(client, tokens, POLICE_EXEMPTION_AS_REQUIREMENT)).json()["decision"]["policy"]["version"] == "2026.1"
    assert (await client.post(f"/v1/policies/{BASELINE}/2099.1/activate", headers=tokens.admin())).status_code == 404


async def test_the_dry_run_takes_any_held_version(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "POL01", type="police", dspt_status="not_published")
    police = tokens.agency("POL01")

    async def dry_run(**params: str) -> httpx.Response:
        return await client.post("/v1/evaluate", params=params, json=POLICE_EXEMPTION_AS_REQUIREMENT, headers=police)

    assert (await dry_run(policy_name=BASELINE, policy_version="2026.1")).json()["outcome"] == "approve"
    assert (await dry_run(policy_name=BASELINE, policy_version="2027.1")).json()["outcome"] == "refuse"
    assert (await dry_run()).json()["policy"]["version"] == "2027.1"
    assert (await dry_run(policy_name=BASELINE, policy_version="2099.1")).status_code == 404
    lone = await dry_run(policy_name=BASELINE)
    assert (lone.status_code, lone.json()["errors"][0]["field"]) == (422, "policy_version")


async def test_upload_activation_and_replay_are_audited_and_the_chain_verifies(client: httpx.AsyncClient, tokens: Tokens) -> None:
    content = as_yaml(derived())
    assert (await client.post("/v1/policies", content=content, headers=YAML | tokens.admin())).status_code == 201
    await activate(client, tokens, *DERIVED)
    done = await replay(client, tokens, "2026.1")

    auditor = tokens.headers("CONTROLLER", "auditor")
    trail = (await client.get("/v1/audit/events", params={"limit": 200}, headers=auditor)).json()["items"]
    recorded = {(event["action"], event["target_type"], event["target_id"], event["outcome"]) for event in trail}
    digest = hashlib.sha256(content).hexdigest()
    assert ("policy_uploaded", "policy", f"{DERIVED[0]}/{DERIVED[1]}", f"sha256 {digest}") in recorded
    assert ("policy_activated", "policy", f"{DERIVED[0]}/{DERIVED[1]}", f"sha256 {digest}") in recorded
    assert ("policy_replayed", "report", f"policy_replay/{done['id']}", f"{BASELINE}/2026.1: 0 replayed, 0 differ") in recorded
    verification = (await client.get("/v1/audit/verify", headers=auditor)).json()
    assert verification["valid"] is True


async def test_replaying_2027_over_2026_decisions_lists_exactly_the_changed_requests(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "POL01", type="police", dspt_status="not_published")
    await register_agreement(client, tokens)
    await activate(client, tokens, BASELINE, "2026.1")
    unchanged = (await submit(client, tokens, changed({}))).json()
    under_agreement = (await submit(client, tokens, changed({"sharing_agreement": "ISA-TEST"}))).json()
    exemption = (await submit(client, tokens, POLICE_EXEMPTION_AS_REQUIREMENT, org="POL01")).json()
    police_care = (await submit(client, tokens, POLICE_DIRECT_CARE, org="POL01")).json()
    emergency = (await submit(client, tokens, EMERGENCY_OVER_A_REFUSAL)).json()
    submitted = [unchanged, under_agreement, exemption, police_care, emergency]
    assert [request["decision"]["outcome"] for request in submitted] == ["approve", "approve", "approve", "approve", "approve_with_conditions"]
    before = [(await client.get(f"/v1/sharing-requests/{request['id']}/history", headers=tokens.admin())).json() for request in submitted]

    done = await replay(client, tokens, "2027.1")
    listed = await changes(client, tokens, done["id"], limit=2)

    assert {change["request_id"]: (change["old_outcome"], change["new_outcome"]) for change in listed} == {
        exemption["id"]: ("approve", "refuse"),
        police_care["id"]: ("approve", "refuse"),
        emergency["id"]: ("approve_with_conditions", "refer"),
    }
    rules = {change["request_id"]: {rule["rule"]: (rule["old"], rule["new"]) for rule in change["rules"]} for change in listed}
    assert rules[exemption["id"]] == {"CP6.legal_requirement_verified": (None, "refuse"), "CP8.transparency": ("pass", "condition")}
    assert rules[emergency["id"]] == {"CP7.emergency_share": ("condition", "pass")}
    totals = done["totals"]
    assert (totals["examined"], totals["replayed"], totals["unrecoverable"], totals["differing"], totals["outcome_changed"]) == (5, 5, 0, 3, 3)
    assert {(entry["old"], entry["new"]): entry["count"] for entry in totals["outcomes"]} == {
        ("approve", "approve"): 2,
        ("approve", "refuse"): 2,
        ("approve_with_conditions", "refer"): 1,
    }
    assert {entry["rule"]: entry["count"] for entry in totals["rules"]}["CP6.implied_consent_scope"] == 1

    # Nothing stored changed, and the replay can be read back.
    after = [(await client.get(f"/v1/sharing-requests/{request['id']}/history", headers=tokens.admin())).json() for request in submitted]
    assert after == before
    assert (await client.get(f"/v1/policy-replays/{done['id']}", headers=tokens.admin())).json() == done
    assert (await held(client, tokens))[BASELINE, "2026.1"]["active"]


async def test_a_decision_replays_exactly_after_the_facts_it_saw_have_changed(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_agreement(client, tokens)
    await activate(client, tokens, BASELINE, "2026.1")
    body = changed({"sharing_agreement": "ISA-TEST"})
    assert (await submit(client, tokens, body)).json()["decision"]["outcome"] == "approve"

    assert (await patch_current(client, "/v1/organisations/RXT01", json={"dspt_status": "not_met"}, headers=tokens.admin())).status_code == 200
    assert (await patch_current(client, "/v1/sharing-agreements/ISA-TEST", json={"status": "suspended"}, headers=tokens.admin())).status_code == 200
    today = await client.post("/v1/evaluate", params={"policy_name": BASELINE, "policy_version": "2026.1"}, json=body, headers=tokens.agency("RXT01"))
    assert {finding["rule"]: finding["result"] for finding in today.json()["findings"] if finding["result"] != "pass"} == {
        "CP5.dspt": "refer",
        "AGR.in_force": "condition",
    }

    done = await replay(client, tokens, "2026.1")
    assert (done["totals"]["replayed"], done["totals"]["differing"]) == (1, 0)
    assert await changes(client, tokens, done["id"]) == []


async def test_replay_filters_and_window(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "POL01", type="police", dspt_status="not_published")
    await activate(client, tokens, BASELINE, "2026.1")
    await submit(client, tokens, changed({}))
    await submit(client, tokens, POLICE_EXEMPTION_AS_REQUIREMENT, org="POL01")
    await submit(client, tokens, POLICE_DIRECT_CARE, org="POL01")

    async def examined(**criteria: Any) -> int:
        return (await replay(client, tokens, "2027.1", **criteria))["totals"]["examined"]

    assert await examined() == 3
    assert await examined(requester="POL01") == 2
    assert await examined(purpose="crime_prevention") == 1
    assert await examined(outcome="approve", requester="RXT01") == 1
    assert await examined(outcome="refuse") == 0
    assert await examined(**{"from": "2020-01-01", "to": "2099-12-31"}) == 3
    assert await examined(**{"from": "2099-01-01"}) == 0
    bad = await client.post(f"/v1/policies/{BASELINE}/2027.1/replay", json={"to": "yesterday"}, headers=tokens.admin())
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "to")
    unknown = await client.post(f"/v1/policies/{BASELINE}/2027.1/replay", json={"owner": "x"}, headers=tokens.admin())
    assert unknown.status_code == 422
    assert (await client.post(f"/v1/policies/{BASELINE}/2027.1/replay", json={}, headers=tokens.agency("RXT01"))).status_code == 403
    assert (await client.get("/v1/policy-replays/no-such-replay", headers=tokens.admin())).status_code == 404
    assert (await client.get("/v1/policy-replays/no-such-replay/changes", headers=tokens.admin())).status_code == 404
