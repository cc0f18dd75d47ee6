"""Conformance: every case of every policy version in ../shared/scenarios, through the HTTP API, on both databases.

Each folder holds the cases of one version of the policy, and each case names its policy.
A case of the version a fresh installation decides under is submitted as it is. A case of a
replay-only version (an edition UK law has overtaken: brief section 7) is submitted on an
installation upgraded while that version was active, since the service no longer activates
one: its decision is the expected one, unless the case approves and the current edition would
not, in which case it is held for a guardian (outcome refer, the expected findings plus
EDITION.superseded). Every case is also dry-run under its version by name, which must give
exactly the expected answer.
"""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import active_before_upgrade
from tests.support import SHARED_SCENARIOS, Tokens

APPROVALS = {"approve", "approve_with_conditions"}
CURRENT_EDITION = "2028.1"

CASES = sorted(SHARED_SCENARIOS.glob("*/S*.json")) if SHARED_SCENARIOS.is_dir() else []


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def test_every_folder_holds_cases_of_its_own_version() -> None:
    if not CASES:
        pytest.skip(
            f"scenario corpus ABSENT at {SHARED_SCENARIOS}: "
            "conformance run skipped (the project's own rule tests still run)"
        )
    for path in CASES:
        assert load(path)["policy"]["version"] == path.parent.name, path


@pytest.mark.skipif(
    not CASES,
    reason=f"scenario corpus ABSENT at {SHARED_SCENARIOS}: "
    "conformance run skipped (the project's own rule tests still run)",
)
@pytest.mark.parametrize(
    "path", CASES or [None], ids=lambda path: f"{path.parent.name}/{path.stem}" if path else "absent"
)
async def test_scenario(path: Path, app: FastAPI, client: httpx.AsyncClient, tokens: Tokens) -> None:
    case = load(path)
    name, version = case["policy"]["name"], case["policy"]["version"]
    for organisation in case["setup"]["organisations"]:
        response = await client.post("/v1/organisations", json=organisation, headers=tokens.admin())
        assert response.status_code == 201, response.text
    for agreement in case["setup"]["agreements"]:
        response = await client.post("/v1/sharing-agreements", json=agreement, headers=tokens.admin())
        assert response.status_code == 201, response.text
    held = {
        (entry["name"], entry["version"]): entry
        for entry in (await client.get("/v1/policies", headers=tokens.admin())).json()["items"]
    }
    assert (name, version) in held, f"the service does not hold {name} {version}"
    replay_only = held[name, version]["replay_only"]
    assert replay_only == (version != CURRENT_EDITION)
    if replay_only:
        await active_before_upgrade(app, name, version)
    elif not held[name, version]["active"]:
        response = await client.post(f"/v1/policies/{name}/{version}/activate", headers=tokens.admin())
        assert response.status_code == 200, response.text

    expect = case["expect"]
    # A dry run under the version by name, whatever is active, answers exactly as the case expects.
    dry = await client.post(
        "/v1/evaluate",
        params={"policy_name": name, "policy_version": version},
        json=case["request"],
        headers=tokens.agency(case["requester"]),
    )
    assert dry.status_code == 200, dry.text
    assert (dry.json()["outcome"], fired(dry.json()), dry.json()["review_required"]) == (
        expect["outcome"],
        expect["findings"],
        expect["review_required"],
    ), case["title"]
    document = (await client.get(f"/v1/policies/{name}/{version}", headers=tokens.admin())).json()
    assert [finding["rule"] for finding in dry.json()["findings"]] == list(document["rules"]), (
        "every rule of the version runs, in its order"
    )

    response = await client.post("/v1/sharing-requests", json=case["request"], headers=tokens.agency(case["requester"]))
    assert response.status_code == 201, response.text
    decision = response.json()["decision"]
    assert (decision["policy"]["name"], decision["policy"]["version"]) == (name, version)
    current = await client.post(
        "/v1/evaluate",
        params={"policy_name": name, "policy_version": CURRENT_EDITION},
        json=case["request"],
        headers=tokens.agency(case["requester"]),
    )
    if replay_only and expect["outcome"] in APPROVALS and current.json()["outcome"] not in APPROVALS:
        # Held: the active edition's findings as expected, and the current edition's judgement for a guardian.
        assert (decision["outcome"], fired(decision), decision["review_required"]) == (
            "refer",
            expect["findings"] | {"EDITION.superseded": "refer"},
            False,
        )
        assert decision["findings"][:-1] == dry.json()["findings"]
        assert (
            f"under {CURRENT_EDITION} its outcome would be {current.json()['outcome']}"
            in decision["findings"][-1]["reason"]
        )
        assert response.json()["status"] == "awaiting_review"
    else:
        assert {key: dry.json()[key] for key in ("outcome", "findings", "conditions", "review_required", "policy")} == {
            key: decision[key] for key in ("outcome", "findings", "conditions", "review_required", "policy")
        }
        assert response.json()["review_required"] == expect["review_required"]

    # The stored decision reads back the same.
    stored = await client.get(f"/v1/sharing-requests/{response.json()['id']}", headers=tokens.agency(case["requester"]))
    assert stored.status_code == 200
    assert stored.json()["decision"] == decision


def fired(evaluation: dict[str, Any]) -> dict[str, str]:
    """Every finding that is not a pass, as {rule: result}."""
    return {finding["rule"]: finding["result"] for finding in evaluation["findings"] if finding["result"] != "pass"}
