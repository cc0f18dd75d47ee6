"""Policy versions over HTTP: the held policies, derived uploads, activation,
the dry run by version, and what-if replay."""

import hashlib
import json
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from app.models.policy import PolicyActivation
from app.models.vocabulary import Role
from app.rules.policy_documents import shipped_path
from app.services.policies import registry as policy_service
from tests.conftest import active_before_upgrade
from tests.factories import patch_current, register_agreement, register_organisation, submit
from tests.rules.baseline import changed, item
from tests.support import Tokens, replay_window

BASELINE = "uk-caldicott-baseline"
DERIVED = ("northshire-trust", "2028.1-local.1")
YAML = {"Content-Type": "application/yaml"}

# Requests whose outcome 2027.1 (and 2028.1) changes from 2026.1's, worked out from the brief (sections 4, 4a and 4b).
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


async def upload(client: httpx.AsyncClient, tokens: Tokens, document: dict[str, Any]) -> httpx.Response:
    return await client.post("/v1/policies", content=as_yaml(document), headers=YAML | tokens.admin())


async def replay(
    client: httpx.AsyncClient, tokens: Tokens, version: str, headers: dict[str, str] | None = None, **criteria: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/policies/{BASELINE}/{version}/replay",
        json=replay_window() | criteria,
        headers=headers or tokens.headers("CONTROLLER", "guardian"),
    )
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/v1/policy-replays/{response.json()['id']}"
    return response.json()


async def changes(client: httpx.AsyncClient, tokens: Tokens, replay_id: str, limit: int = 200) -> list[dict[str, Any]]:
    """Every listed change of a replay, following the cursor."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await client.get(
            f"/v1/policy-replays/{replay_id}/changes", params=params, headers=tokens.headers("CONTROLLER", "auditor")
        )
        assert response.status_code == 200, response.text
        found += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return found


SHIPPED = {(BASELINE, version) for version in ("2026.1", "2027.1", "2027.2", "2028.1", "2028.2")}
REPLAY_ONLY = {"2026.1", "2027.1", "2027.2"}


async def test_a_fresh_installation_holds_every_shipped_policy_and_decides_under_2028_1(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    policies = await held(client, tokens)

    assert set(policies) == SHIPPED
    assert [version for (_, version), entry in policies.items() if entry["active"]] == ["2028.1"]
    assert all(entry["shipped"] for entry in policies.values())
    assert {version for (_, version), entry in policies.items() if entry["replay_only"]} == REPLAY_ONLY
    assert [policies[BASELINE, version]["derived_from"] for version in ("2026.1", "2027.1", "2028.1")] == [
        None,
        None,
        None,
    ]
    # 2027.2 and 2028.2 are shipped beside their baselines as derived policies:
    # each runs its baseline's rules and waits to be activated.
    for derived_version, edition in (("2027.2", "2027.1"), ("2028.2", "2028.1")):
        assert policies[BASELINE, derived_version]["derived_from"] == {"name": BASELINE, "version": edition}
        assert policies[BASELINE, derived_version]["edition"] == edition
    for version in sorted(v for _, v in SHIPPED):
        response = await client.get(
            f"/v1/policies/{BASELINE}/{version}", headers={"Accept": "application/yaml"} | tokens.agency("RXT01")
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/yaml")
        assert response.content == shipped_path(version).read_bytes()
        assert (
            hashlib.sha256(response.content).hexdigest()
            == policies[BASELINE, version]["content_hash"]
            == response.headers["ETag"].strip('"')
        )
        as_json = await client.get(f"/v1/policies/{BASELINE}/{version}", headers=tokens.agency("RXT01"))
        assert as_json.headers["content-type"].startswith("application/json")
        assert as_json.json()["version"] == version
    decided = (await submit(client, tokens, changed({}))).json()["decision"]["policy"]
    assert (decided["name"], decided["version"], decided["hash"]) == (
        BASELINE,
        "2028.1",
        policies[BASELINE, "2028.1"]["content_hash"],
    )
    assert (await client.get("/v1/policies")).status_code == 401
    assert (await client.get(f"/v1/policies/{BASELINE}/2099.1", headers=tokens.admin())).status_code == 404


async def test_a_derived_policy_is_stored_as_given_and_never_changes(client: httpx.AsyncClient, tokens: Tokens) -> None:
    content = as_yaml(derived(bulk_subjects=10))
    created = await client.post("/v1/policies", content=content, headers=YAML | tokens.admin())
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == f"/v1/policies/{DERIVED[0]}/{DERIVED[1]}"
    entry = created.json()
    assert (entry["shipped"], entry["active"], entry["edition"], entry["derived_from"]) == (
        False,
        False,
        "2028.1",
        {"name": BASELINE, "version": "2028.1"},
    )
    assert entry["replay_only"] is False
    assert entry["content_hash"] == hashlib.sha256(content).hexdigest()
    assert entry["created_by"] == "admin-1"

    again = await client.post("/v1/policies", content=content, headers=YAML | tokens.admin())
    assert (again.status_code, again.json()["content_hash"]) == (200, entry["content_hash"])
    other = await upload(client, tokens, derived(bulk_subjects=11))
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    shipped = await upload(client, tokens, derived(name=BASELINE, version="2028.1"))
    assert shipped.status_code == 409

    read = await client.get(
        f"/v1/policies/{DERIVED[0]}/{DERIVED[1]}", headers={"Accept": "application/yaml"} | tokens.admin()
    )
    assert read.content == content
    as_json = json.dumps(derived(version="2028.1-local.2"), default=str).encode()
    posted = await client.post(
        "/v1/policies", content=as_json, headers={"Content-Type": "application/json"} | tokens.admin()
    )
    assert posted.status_code == 201, posted.text
    back = await client.get(f"/v1/policies/{DERIVED[0]}/2028.1-local.2", headers=tokens.admin())
    assert back.content == as_json
    assert set(await held(client, tokens)) == {*SHIPPED, DERIVED, (DERIVED[0], "2028.1-local.2")}

    pages, cursor = [], None
    while True:
        page = (
            await client.get(
                "/v1/policies", params={"limit": 1} | ({"cursor": cursor} if cursor else {}), headers=tokens.admin()
            )
        ).json()
        pages += [(entry["name"], entry["version"]) for entry in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert pages == sorted([*SHIPPED, DERIVED, (DERIVED[0], "2028.1-local.2")])


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


def _provision(code: str, **fields: Any) -> Any:
    def change(document: dict[str, Any]) -> None:
        (entry,) = [entry for entry in document["provisions"] if entry["code"] == code]
        entry.update(fields)

    return change


def _without(section: str, group: str, value: str) -> Any:
    def change(document: dict[str, Any]) -> None:
        document[section][group].remove(value)

    return change


def _set(section: str, key: str, value: Any) -> Any:
    def change(document: dict[str, Any]) -> None:
        document[section][key] = value

    return change


def _reason(rule: str, result: str, text: str, variant: str | None = None) -> Any:
    def change(document: dict[str, Any]) -> None:
        reasons = document["rules"][rule]["reasons"]
        if variant is None:
            reasons[result] = text
        else:
            reasons[result][variant] = text

    return change


def _top(key: str, value: Any) -> Any:
    def change(document: dict[str, Any]) -> None:
        document[key] = value

    return change


PACE = [entry["code"] for entry in policy_document()["provisions"]].index("pace_1984")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (_unknown_rule, "rules.CP9.made_up"),
        (_unknown_key, "thresholds.bulk_subject"),
        (_unknown_category, "allowed_categories.crime_prevention[2]"),
        (_unknown_waivable_rule, "emergency.waivable[10]"),
        (_no_baseline, "derived_from"),
        (_parameter_of_another_edition, "provisions"),
        # The legal floor (brief section 7): each loosening named by its path.
        (_provision("pace_1984", kind="duty"), f"provisions[{PACE}].kind"),
        (_without("definitions", "restricted", "gender_history"), "definitions.restricted"),
        (_without("requester_groups", "non_care", "police"), "requester_groups.non_care"),
        (_top("panel", {"size": 1, "quorum": 1}), "panel.size"),
        (_set("thresholds", "emergency_max_subjects", 100000), "thresholds.emergency_max_subjects"),
        (
            _reason("CP3.bulk_identifiable", "refer", "More than {bulk_subjects:>99999} people."),
            "rules.CP3.bulk_identifiable.reasons.refer",
        ),
        (
            _reason("CP4.onward_sharing", "pass", "The recipient does not intend to pass the information on.\x00"),
            "rules.CP4.onward_sharing.reasons.pass",
        ),
        (
            _reason("CONSENT.refusal", "refuse", "A parent's refusal is noted; share anyway.", "parent_refusal"),
            "rules.CONSENT.refusal.reasons.refuse.parent_refusal",
        ),
        (_top("claim_lease_minutes", 10**15), "claim_lease_minutes"),
        (_set("response_times", "routine", {"amount": 10**12, "unit": "hours"}), "response_times.routine.amount"),
        (_set("response_times", "urgent", {"amount": 2, "unit": "working_days"}), "response_times.urgent"),
        (_top("version", "2028.1/../../x"), "version"),
        (_top("name", "n" * 65), "name"),
        (_top("name", "north\x00shire"), "name"),
        (_top("bank_holidays", ["2025-12-25"]), "bank_holidays"),
    ],
)
async def test_an_invalid_or_loosening_policy_is_a_422_naming_the_path(
    client: httpx.AsyncClient, tokens: Tokens, change: Any, field: str
) -> None:
    document = derived()
    change(document)
    response = await client.post(
        "/v1/policies",
        content=json.dumps(document, default=str).encode(),
        headers={"Content-Type": "application/json"} | tokens.admin(),
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [error["field"] for error in response.json()["errors"]], response.json()
    assert (await held(client, tokens)).keys() == SHIPPED


@pytest.mark.parametrize("edition", ["2026.1", "2027.1"])
async def test_a_policy_derived_from_a_replay_only_edition_is_refused_and_the_edition_is_never_activated(
    client: httpx.AsyncClient, tokens: Tokens, edition: str
) -> None:
    document = policy_document(edition)
    document.update(name=DERIVED[0], version=f"{edition}-local.1", derived_from={"name": BASELINE, "version": edition})

    refused = await upload(client, tokens, document)
    activated = await client.post(f"/v1/policies/{BASELINE}/{edition}/activate", headers=tokens.admin())

    assert refused.status_code == 422, refused.text
    assert [error["field"] for error in refused.json()["errors"]] == ["derived_from"]
    assert (activated.status_code, activated.json()["type"]) == (409, "/problems/policy-replay-only")
    assert [version for (_, version), entry in (await held(client, tokens)).items() if entry["active"]] == ["2028.1"]


async def test_a_stricter_derived_policy_is_accepted_and_decides_once_activated(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    document = derived(bulk_subjects=10)
    document["definitions"]["restricted"].append("genetic")
    guidance = " Call the IG team on extension 4410."
    document["rules"]["STAT.restricted_category"]["reasons"]["refer"] += guidance
    document["response_times"] = {
        "emergency": {"amount": 1, "unit": "hours"},
        "urgent": {"amount": 8, "unit": "hours"},
        "routine": {"amount": 3, "unit": "working_days"},
    }
    # Scotland's bank holidays (mygov.scot) to the end of 2028.
    document["bank_holidays"] = [
        *(
            "2026-01-01",
            "2026-01-02",
            "2026-04-03",
            "2026-05-04",
            "2026-05-25",
            "2026-08-03",
            "2026-11-30",
            "2026-12-25",
            "2026-12-28",
        ),
        *(
            "2027-01-01",
            "2027-01-04",
            "2027-03-26",
            "2027-05-03",
            "2027-05-31",
            "2027-08-02",
            "2027-11-30",
            "2027-12-27",
            "2027-12-28",
        ),
        *(
            "2028-01-03",
            "2028-01-04",
            "2028-04-14",
            "2028-05-01",
            "2028-05-29",
            "2028-08-07",
            "2028-11-30",
            "2028-12-25",
            "2028-12-26",
        ),
    ]

    assert (await upload(client, tokens, document)).status_code == 201
    await activate(client, tokens, *DERIVED)
    genetic = (await submit(client, tokens, changed({"data_items": [item("demographics"), item("genetic")]}))).json()[
        "decision"
    ]

    assert (genetic["policy"]["name"], genetic["policy"]["version"]) == DERIVED
    restricted = {finding["rule"]: finding for finding in genetic["findings"]}["STAT.restricted_category"]
    assert restricted["result"] == "refer"
    assert restricted["reason"].endswith(guidance)
    eleven = (await submit(client, tokens, changed({"subjects.count": 11}))).json()["decision"]
    assert {finding["rule"]: finding["result"] for finding in eleven["findings"]}["CP3.bulk_identifiable"] == "refer"


@pytest.mark.parametrize(
    "content",
    [
        b"? [a, b]\n: 1\nname: x\n",
        b"definitions:\n  special: [[diagnoses], genetic]\n",
        b"a: " + b"[" * 200 + b"]" * 200 + b"\n",
        b"\n".join(
            [b"a: &a [x, x, x, x, x, x, x, x, x, x]"]
            + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]".encode() for i in range(9)]
        ),
        b"1: one\n",
    ],
    ids=["list-as-key", "unhashable-set-item", "deep-nesting", "alias-bomb", "number-as-key"],
)
async def test_a_hostile_yaml_policy_is_a_422(client: httpx.AsyncClient, tokens: Tokens, content: bytes) -> None:
    response = await client.post("/v1/policies", content=content, headers=YAML | tokens.admin())

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_deeply_nested_json_policy_is_a_422(client: httpx.AsyncClient, tokens: Tokens) -> None:
    for content in (b"[" * 50_000 + b"]" * 50_000, b'{"a": ' * 40 + b"1" + b"}" * 40):
        response = await client.post(
            "/v1/policies", content=content, headers={"Content-Type": "application/json"} | tokens.admin()
        )
        assert (response.status_code, response.json()["errors"][0]["field"]) == (422, "body"), response.text


@pytest.mark.parametrize("role", ["agency", "guardian", "auditor"])
async def test_only_an_admin_uploads_and_activates(client: httpx.AsyncClient, tokens: Tokens, role: str) -> None:
    headers = tokens.headers("RXT01", role)
    assert (await client.post("/v1/policies", content=as_yaml(derived()), headers=YAML | headers)).status_code == 403
    assert (await client.post(f"/v1/policies/{BASELINE}/2028.2/activate", headers=headers)).status_code == 403
    assert (await held(client, tokens))[BASELINE, "2028.1"]["active"]


async def test_activation_changes_how_new_requests_are_decided(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    eleven = changed({"subjects.count": 11})
    assert (await submit(client, tokens, eleven)).json()["decision"][
        "outcome"
    ] == "approve_with_conditions"  # bulk is over 100 in 2028.1
    assert (await upload(client, tokens, derived(bulk_subjects=10))).status_code == 201

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
    await activate(client, tokens, BASELINE, "2028.1")
    back = (await submit(client, tokens, eleven)).json()["decision"]
    assert (back["policy"]["version"], back["outcome"]) == ("2028.1", "approve_with_conditions")
    refused = await client.post(f"/v1/policies/{BASELINE}/2026.1/activate", headers=tokens.admin())
    assert (refused.status_code, refused.json()["type"]) == (409, "/problems/policy-replay-only")
    assert (await client.post(f"/v1/policies/{BASELINE}/2099.1/activate", headers=tokens.admin())).status_code == 404


async def test_activation_takes_if_match_on_the_current_activation(client: httpx.AsyncClient, tokens: Tokens) -> None:
    listed = await client.get("/v1/policies", headers=tokens.admin())
    etag = listed.headers["ETag"]

    first = await client.post(f"/v1/policies/{BASELINE}/2028.2/activate", headers=tokens.admin() | {"If-Match": etag})
    assert first.status_code == 200, first.text
    assert first.headers["ETag"] != etag
    assert (await client.get("/v1/policies", headers=tokens.admin())).headers["ETag"] == first.headers["ETag"]

    stale = await client.post(f"/v1/policies/{BASELINE}/2028.1/activate", headers=tokens.admin() | {"If-Match": etag})
    assert stale.status_code == 412, stale.text
    assert stale.json()["current_etag"] == stale.headers["ETag"] == first.headers["ETag"]
    assert (await held(client, tokens))[BASELINE, "2028.2"]["active"]  # nothing changed

    current = await client.post(
        f"/v1/policies/{BASELINE}/2028.1/activate", headers=tokens.admin() | {"If-Match": first.headers["ETag"]}
    )
    assert current.status_code == 200, current.text
    anyway = await client.post(f"/v1/policies/{BASELINE}/2028.2/activate", headers=tokens.admin() | {"If-Match": "*"})
    assert anyway.status_code == 200
    without = await client.post(f"/v1/policies/{BASELINE}/2028.1/activate", headers=tokens.admin())
    assert without.status_code == 200  # If-Match is optional: the race below is what keeps two activations apart


async def test_of_two_activations_made_at_once_the_loser_gets_a_409(
    app: FastAPI, client: httpx.AsyncClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    await activate(client, tokens, BASELINE, "2028.2")
    stale_id = int(
        (await client.get("/v1/policies", headers=tokens.admin())).headers["ETag"].strip('"').rpartition("-")[2]
    )
    await activate(
        client, tokens, BASELINE, "2028.1"
    )  # the winner, which read activation `stale_id` and was recorded first

    async def as_read_before(*, session: Any) -> Any:
        """The loser read the same activation as the winner,
        before the winner's was recorded: as two made at once do."""
        return await session.get(PolicyActivation, stale_id)

    monkeypatch.setattr(policy_service, "latest_activation", as_read_before)
    loser = await client.post(f"/v1/policies/{BASELINE}/2028.2/activate", headers=tokens.admin())

    assert loser.status_code == 409, loser.text
    assert loser.json()["type"] == "/problems/conflict"
    monkeypatch.undo()
    policies = await held(client, tokens)
    assert [version for (_, version), entry in policies.items() if entry["active"]] == ["2028.1"]


async def test_the_dry_run_takes_any_held_version(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "POL01", type="police", dspt_status="not_published")
    police = tokens.agency("POL01")

    async def dry_run(**params: str) -> httpx.Response:
        return await client.post("/v1/evaluate", params=params, json=POLICE_EXEMPTION_AS_REQUIREMENT, headers=police)

    # Replay-only editions stay available by name: 2026.1 took a cited exemption for a legal requirement.
    assert (await dry_run(policy_name=BASELINE, policy_version="2026.1")).json()["outcome"] == "approve"
    assert (await dry_run(policy_name=BASELINE, policy_version="2027.1")).json()["outcome"] == "refuse"
    default = (await dry_run()).json()
    assert (default["policy"]["version"], default["outcome"]) == ("2028.1", "refuse")
    with_form = (await dry_run(policy_name=BASELINE, policy_version="2028.2")).json()
    assert {finding["rule"]: finding["result"] for finding in with_form["findings"]}[
        "CP6.police_request_form"
    ] == "condition"
    assert (await dry_run(policy_name=BASELINE, policy_version="2099.1")).status_code == 404
    lone = await dry_run(policy_name=BASELINE)
    assert (lone.status_code, lone.json()["errors"][0]["field"]) == (422, "policy_version")


async def test_upload_activation_and_replay_are_audited_and_the_chain_verifies(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
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
    assert (
        "policy_replayed",
        "report",
        f"policy_replay/{done['id']}",
        f"{BASELINE}/2026.1: 0 replayed, 0 differ",
    ) in recorded
    verification = (await client.get("/v1/audit/verify", headers=auditor)).json()
    assert verification["valid"] is True


async def test_replaying_a_candidate_over_2028_1_decisions_lists_exactly_the_changed_requests(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "POL01", type="police", dspt_status="not_published")
    await register_agreement(client, tokens)
    unchanged = (await submit(client, tokens, changed({}))).json()
    under_agreement = (await submit(client, tokens, changed({"sharing_agreement": "ISA-TEST"}))).json()
    exemption = (await submit(client, tokens, POLICE_EXEMPTION_AS_REQUIREMENT, org="POL01")).json()
    eleven = (await submit(client, tokens, changed({"subjects.count": 11}))).json()
    fifty = (await submit(client, tokens, changed({"subjects.count": 50}))).json()
    submitted = [unchanged, under_agreement, exemption, eleven, fifty]
    assert [request["decision"]["outcome"] for request in submitted] == [
        "approve",
        "approve",
        "refuse",
        "approve_with_conditions",
        "approve_with_conditions",
    ]
    before = [
        (await client.get(f"/v1/sharing-requests/{request['id']}/history", headers=tokens.admin())).json()
        for request in submitted
    ]
    assert (await upload(client, tokens, derived(bulk_subjects=10))).status_code == 201

    # A lower bulk threshold: the two requests about more than 10 people, and nothing else.
    done = await client.post(
        f"/v1/policies/{DERIVED[0]}/{DERIVED[1]}/replay",
        json=replay_window(),
        headers=tokens.headers("CONTROLLER", "guardian"),
    )
    assert done.status_code == 201, done.text
    lower = done.json()
    listed = await changes(client, tokens, lower["id"], limit=1)
    assert {change["request_id"]: (change["old_outcome"], change["new_outcome"]) for change in listed} == {
        eleven["id"]: ("approve_with_conditions", "refer"),
        fifty["id"]: ("approve_with_conditions", "refer"),
    }
    assert all(
        change["rules"] == [{"rule": "CP3.bulk_identifiable", "old": "pass", "new": "refer"}] for change in listed
    ), listed
    totals = lower["totals"]
    assert (
        totals["examined"],
        totals["replayed"],
        totals["unrecoverable"],
        totals["differing"],
        totals["outcome_changed"],
    ) == (5, 5, 0, 2, 2)
    assert {(entry["old"], entry["new"]): entry["count"] for entry in totals["outcomes"]} == {
        ("approve", "approve"): 2,
        ("refuse", "refuse"): 1,
        ("approve_with_conditions", "refer"): 2,
    }

    # 2028.2 weighs evidence: the police request relying on a crime exemption now also waits
    # for the signed form; its outcome stands.
    evidence = await replay(client, tokens, "2028.2")
    (form,) = await changes(client, tokens, evidence["id"])
    assert (form["request_id"], form["old_outcome"], form["new_outcome"]) == (exemption["id"], "refuse", "refuse")
    assert {rule["rule"]: (rule["old"], rule["new"]) for rule in form["rules"]} == {
        "CP6.police_request_form": (None, "condition")
    }
    assert (evidence["totals"]["differing"], evidence["totals"]["outcome_changed"]) == (1, 0)

    # Nothing stored changed, and the replay can be read back.
    after = [
        (await client.get(f"/v1/sharing-requests/{request['id']}/history", headers=tokens.admin())).json()
        for request in submitted
    ]
    assert after == before
    assert (await client.get(f"/v1/policy-replays/{lower['id']}", headers=tokens.admin())).json() == lower
    assert (await held(client, tokens))[BASELINE, "2028.1"]["active"]


async def test_replaying_2027_1_over_decisions_made_under_2026_1_before_the_upgrade(
    app: FastAPI, client: httpx.AsyncClient, tokens: Tokens
) -> None:
    """Replay-only editions still replay:
    what 2027.1 changed from 2026.1, on requests 2028.1 approves too (so none was held)."""
    await register_organisation(client, tokens, "RXT01")
    await register_agreement(client, tokens)
    await active_before_upgrade(app, BASELINE, "2026.1")
    unchanged = (await submit(client, tokens, changed({}))).json()
    under_agreement = (await submit(client, tokens, changed({"sharing_agreement": "ISA-TEST"}))).json()
    assert [request["decision"]["outcome"] for request in (unchanged, under_agreement)] == ["approve", "approve"]
    assert {request["decision"]["policy"]["version"] for request in (unchanged, under_agreement)} == {"2026.1"}

    done = await replay(client, tokens, "2027.1")

    assert (done["totals"]["examined"], done["totals"]["replayed"], done["totals"]["unrecoverable"]) == (2, 2, 0)
    assert {(entry["old"], entry["new"]): entry["count"] for entry in done["totals"]["outcomes"]} == {
        ("approve", "approve"): 2
    }
    assert all(change["new_outcome"] == "approve" for change in await changes(client, tokens, done["id"]))


async def test_a_decision_replays_exactly_after_the_facts_it_saw_have_changed(
    app: FastAPI, client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_agreement(client, tokens)
    await active_before_upgrade(app, BASELINE, "2026.1")
    body = changed({"sharing_agreement": "ISA-TEST"})
    assert (await submit(client, tokens, body)).json()["decision"]["outcome"] == "approve"

    assert (
        await patch_current(client, "/v1/organisations/RXT01", json={"dspt_status": "not_met"}, headers=tokens.admin())
    ).status_code == 200
    assert (
        await patch_current(
            client, "/v1/sharing-agreements/ISA-TEST", json={"status": "suspended"}, headers=tokens.admin()
        )
    ).status_code == 200
    today = await client.post(
        "/v1/evaluate",
        params={"policy_name": BASELINE, "policy_version": "2026.1"},
        json=body,
        headers=tokens.agency("RXT01"),
    )
    assert {
        finding["rule"]: finding["result"] for finding in today.json()["findings"] if finding["result"] != "pass"
    } == {
        "CP5.dspt": "refer",
        "AGR.in_force": "condition",
    }

    done = await replay(client, tokens, "2026.1")
    assert (done["totals"]["replayed"], done["totals"]["differing"]) == (1, 0)
    assert await changes(client, tokens, done["id"]) == []


async def test_replay_filters_and_window(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "POL01", type="police", dspt_status="not_published")
    await submit(client, tokens, changed({}))
    await submit(client, tokens, POLICE_EXEMPTION_AS_REQUIREMENT, org="POL01")
    await submit(client, tokens, POLICE_DIRECT_CARE, org="POL01")

    async def examined(**criteria: Any) -> int:
        return (await replay(client, tokens, "2028.2", **criteria))["totals"]["examined"]

    assert await examined() == 3
    assert await examined(requester="POL01") == 2
    assert await examined(purpose="crime_prevention") == 1
    assert await examined(outcome="approve", requester="RXT01") == 1
    assert await examined(outcome="refuse") == 2  # 2028.1 refuses both police requests
    assert await examined(outcome="refer") == 0
    assert await examined(**{"from": "2099-01-01", "to": "2099-12-31"}) == 0
    bad = await client.post(f"/v1/policies/{BASELINE}/2028.2/replay", json={"to": "yesterday"}, headers=tokens.admin())
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "to")
    unknown = await client.post(f"/v1/policies/{BASELINE}/2028.2/replay", json={"owner": "x"}, headers=tokens.admin())
    assert unknown.status_code == 422
    assert (
        await client.post(f"/v1/policies/{BASELINE}/2028.2/replay", json={}, headers=tokens.agency("RXT01"))
    ).status_code == 403
    assert (await client.get("/v1/policy-replays/no-such-replay", headers=tokens.admin())).status_code == 404
    assert (await client.get("/v1/policy-replays/no-such-replay/changes", headers=tokens.admin())).status_code == 404
