"""Conformance: every case in ../shared/scenarios through the HTTP API, on both databases."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import SHARED_SCENARIOS, Tokens

CASES = sorted(SHARED_SCENARIOS.glob("S*.json")) if SHARED_SCENARIOS.is_dir() else []


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


@pytest.mark.skipif(not CASES, reason=f"scenario corpus ABSENT at {SHARED_SCENARIOS}: conformance run skipped (the project's own rule tests still run)")
@pytest.mark.parametrize("path", CASES or [None], ids=lambda path: path.stem if path else "absent")
async def test_scenario(path: Path, client: httpx.AsyncClient, tokens: Tokens) -> None:
    case = load(path)
    for organisation in case["setup"]["organisations"]:
        response = await client.post("/v1/organisations", json=organisation, headers=tokens.admin())
        assert response.status_code == 201, response.text
    for agreement in case["setup"]["agreements"]:
        response = await client.post("/v1/sharing-agreements", json=agreement, headers=tokens.admin())
        assert response.status_code == 201, response.text

    response = await client.post("/v1/sharing-requests", json=case["request"], headers=tokens.agency(case["requester"]))
    assert response.status_code == 201, response.text
    decision = response.json()["decision"]
    fired = {finding["rule"]: finding["result"] for finding in decision["findings"] if finding["result"] != "pass"}

    expect = case["expect"]
    assert (decision["outcome"], fired, decision["review_required"]) == (expect["outcome"], expect["findings"], expect["review_required"]), case["title"]
    assert response.json()["review_required"] == expect["review_required"]

    # The stored decision reads back the same.
    stored = await client.get(f"/v1/sharing-requests/{response.json()['id']}", headers=tokens.agency(case["requester"]))
    assert stored.status_code == 200
    assert stored.json()["decision"] == decision
