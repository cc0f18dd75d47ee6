"""Conformance: every case of every policy version in ../shared/scenarios, through the HTTP API, on both databases.

Each folder holds the cases of one version of the policy, and each case names its policy.
A case of the version a fresh installation decides under is submitted as it is; a case of
another version is submitted after an admin activates that version. Every case is also
dry-run under its version by name, which must give the same answer.
"""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import SHARED_SCENARIOS, Tokens

CASES = sorted(SHARED_SCENARIOS.glob("*/S*.json")) if SHARED_SCENARIOS.is_dir() else []


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def test_every_folder_holds_cases_of_its_own_version() -> None:
    if not CASES:
        pytest.skip(f"scenario corpus ABSENT at {SHARED_SCENARIOS}: conformance run skipped (the project's own rule tests still run)")
    for path in CASES:
        assert load(path)["policy"]["version"] == path.parent.name, path


@pytest.mark.skipif(not CASES, reason=f"scenario corpus ABSENT at {SHARED_SCENARIOS}: conformance run skipped (the project's own rule tests still run)")
@pytest.mark.parametrize("path", CASES or [None], ids=lambda path: f"{path.parent.name}/{path.stem}" if path else "absent")
async def test_scenario(path: Path, client: httpx.AsyncClient, tokens: Tokens) -> None:
    case = load(path)
    name, version = case["policy"]["name"], case["policy"]["version"]
    for organisation in case["setup"]["organisations"]:
        response = await client.post("/v1/organisations", json=organisation, headers=tokens.admin())
        assert response.status_code == 201, response.text
    for agreement in case["setup"]["agreements"]:
        response = await client.post("/v1/sharing-agreements", json=agreement, headers=tokens.admin())
        assert response.status_code == 201, response.text
    held = {(entry["name"], entry["version"]): entry for entry in (await client.get("/v1/policies", headers=tokens.admin())).json()["items"]}
    assert (name, version) in held, f"the service does not hold {name} {version}"
    if not held[name, version]["active"]:
        response = await client.post(f"/v1/policies/{name}/{version}/activate", headers=tokens.admin())
        assert response.status_code == 200, response.text

    response = await client.post("/v1/sharing-requests", json=case["request"], headers=tokens.agency(case["requester"]))
    assert response.status_code == 201, response.text
    decision = response.json()["decision"]
    fired = {finding["rule"]: finding["result"] for finding in decision["findings"] if finding["result"] != "pass"}

    expect = case["expect"]
    assert (decision["outcome"], fired, decision["review_required"]) == (expect["outcome"], expect["findings"], expect["review_required"]), case["title"]
    assert response.json()["review_required"] == expect["review_required"]
    assert (decision["policy"]["name"], decision["policy"]["version"]) == (name, version)
    document = (await client.get(f"/v1/policies/{name}/{version}", headers=tokens.admin())).json()
    assert [finding["rule"] for finding in decision["findings"]] == list(document["rules"]), "every rule of the version runs, in its order"

    # The stored decision reads back the same.
    stored = await client.get(f"/v1/sharing-requests/{response.json()['id']}", headers=tokens.agency(case["requester"]))
    assert stored.status_code == 200
    assert stored.json()["decision"] == decision

    # A dry run under the version by name, whatever is active, answers the same.
    dry = await client.post(
        "/v1/evaluate", params={"policy_name": name, "policy_version": version}, json=case["request"], headers=tokens.agency(case["requester"])
    )
    assert dry.status_code == 200, dry.text
    assert {key: dry.json()[key] for key in ("outcome", "findings", "conditions", "review_required", "policy")} == {
        key: decision[key] for key in ("outcome", "findings", "conditions", "review_required", "policy")
    }
