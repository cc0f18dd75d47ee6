"""Replay-only editions (brief section 7): 2026.1, 2027.1 and what derives from them are kept for replay, never
activated; an installation upgraded while one was active keeps deciding under it,
but what 2028.1 would not approve is held for a guardian."""

import httpx
import pytest
import sqlalchemy as sa
import yaml
from fastapi import FastAPI

from alembic import command
from app.cli import alembic_config
from app.models.vocabulary import Role
from app.rules.policy_documents import shipped_path
from tests.conftest import active_before_upgrade, on_database
from tests.factories import register_organisation, submit
from tests.rules.baseline import baseline_request, changed
from tests.support import Tokens, replay_window

BASELINE = "uk-caldicott-baseline"
# Direct care that 2027.1 approves and 2028.1 refuses: identifiable care records are not "not confidential".
RELABELLED = changed({"legal_basis.confidentiality": "not_confidential"})


def guardian(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")


@pytest.mark.parametrize("version", ["2026.1", "2027.1", "2027.2"])
async def test_a_replay_only_policy_is_never_activated(client: httpx.AsyncClient, tokens: Tokens, version: str) -> None:
    response = await client.post(f"/v1/policies/{BASELINE}/{version}/activate", headers=tokens.admin())
    assert response.status_code == 409 and response.json()["type"] == "/problems/policy-replay-only", response.text
    assert response.headers["content-type"] == "application/problem+json"
    listed = {
        entry["version"]: entry for entry in (await client.get("/v1/policies", headers=tokens.admin())).json()["items"]
    }
    assert listed[version]["replay_only"] and not listed[version]["active"]
    assert (listed["2028.1"]["replay_only"], listed["2028.1"]["active"], listed["2028.2"]["replay_only"]) == (
        False,
        True,
        False,
    )
    # Still held for dry runs by name.
    await register_organisation(client, tokens)
    dry = await client.post(
        "/v1/evaluate",
        params={"policy_name": BASELINE, "policy_version": version},
        json=RELABELLED,
        headers=tokens.agency("RXT01"),
    )
    assert dry.status_code == 200 and dry.json()["outcome"] == "approve", dry.text


async def test_a_policy_derived_from_a_replay_only_edition_is_refused_naming_derived_from(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    document = yaml.safe_load(shipped_path("2027.1").read_bytes())
    document.update(
        name="northshire-trust", version="2027.1-nt.1", derived_from={"name": BASELINE, "version": "2027.1"}
    )
    response = await client.post(
        "/v1/policies", content=yaml.safe_dump(document), headers=tokens.admin() | {"Content-Type": "application/yaml"}
    )
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == ["derived_from"]


async def test_a_fresh_installation_decides_under_2028_1_with_no_warning(
    app: FastAPI, client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens)
    decided = await submit(client, tokens, RELABELLED)
    assert (decided.json()["decision"]["policy"]["version"], decided.json()["decision"]["outcome"]) == (
        "2028.1",
        "refuse",
    )
    assert (await client.get("/readyz")).json()["warning"] is None
    assert (await client.get("/v1/policies", headers=tokens.admin())).json()["warning"] is None
    assert (await client.get("/v1/review-queue", headers=guardian(tokens))).json()["warning"] is None


async def test_an_upgraded_installation_on_2027_1_holds_what_2028_1_would_not_approve(
    app: FastAPI, client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens)
    await active_before_upgrade(app, BASELINE, "2027.1")

    held = await submit(client, tokens, RELABELLED)
    assert held.status_code == 201, held.text
    decision = held.json()["decision"]
    assert (held.json()["status"], decision["outcome"], decision["review_required"], decision["policy"]["version"]) == (
        "awaiting_review",
        "refer",
        False,
        "2027.1",
    )
    superseded = decision["findings"][-1]
    assert (superseded["rule"], superseded["result"], superseded["principle"]) == ("EDITION.superseded", "refer", 6)
    assert superseded["reason"] == (
        "Decided under uk-caldicott-baseline 2027.1, a replay-only edition that UK law has overtaken; under 2028.1 its "
        "outcome would be refuse (CP6.not_confidential_scope=refuse). A Caldicott Guardian decides it."
    )
    assert decision["facts"]["current_edition"]["outcome"] == "refuse"
    assert decision["facts"]["current_edition"]["findings"] == {"CP6.not_confidential_scope": "refuse"}
    # What both editions approve stands as the active policy decides it.
    assert (await submit(client, tokens, baseline_request())).json()["decision"]["outcome"] == "approve"
    # A dry run of the active policy answers as a submission would; by name, as the policy alone.
    as_submitted = await client.post("/v1/evaluate", json=RELABELLED, headers=tokens.agency("RXT01"))
    assert as_submitted.json()["outcome"] == "refer"
    by_name = await client.post(
        "/v1/evaluate",
        params={"policy_name": BASELINE, "policy_version": "2027.1"},
        json=RELABELLED,
        headers=tokens.agency("RXT01"),
    )
    assert by_name.json()["outcome"] == "approve"

    # Guardians, operators and admins are told; the queue shows what 2028.1 would decide.
    queue = (await client.get("/v1/review-queue", headers=guardian(tokens))).json()
    assert (
        "replay-only edition that UK law has overtaken" in queue["warning"]
        and "activate uk-caldicott-baseline 2028.1" in queue["warning"]
    )
    assert [(entry["id"], entry["current_edition_outcome"]) for entry in queue["items"]] == [
        (held.json()["id"], "refuse")
    ]
    assert "replay-only" in (await client.get("/readyz")).json()["warning"]
    assert "replay-only" in (await client.get("/v1/policies", headers=tokens.admin())).json()["warning"]

    # The held decision replays exactly under its own policy, and 2028.1 would refuse it.
    same = await client.post(f"/v1/policies/{BASELINE}/2027.1/replay", json=replay_window(), headers=tokens.admin())
    assert same.status_code == 201, same.text
    assert (same.json()["totals"]["replayed"], same.json()["totals"]["differing"]) == (2, 0)
    current = await client.post(f"/v1/policies/{BASELINE}/2028.1/replay", json=replay_window(), headers=tokens.admin())
    assert current.json()["totals"]["outcomes"] == [
        {"old": "approve", "new": "approve", "count": 1},
        {"old": "refer", "new": "refuse", "count": 1},
    ]

    # A guardian decides it as any referred request.
    request_id = held.json()["id"]
    assert (await client.post(f"/v1/sharing-requests/{request_id}/claim", headers=guardian(tokens))).status_code == 200
    reviewed = await client.post(
        f"/v1/sharing-requests/{request_id}/review",
        json={
            "outcome": "refuse",
            "rationale": "Identifiable care records are confidential; the requester must rely on a basis.",
        },
        headers=guardian(tokens),
    )
    assert reviewed.status_code == 200, reviewed.text

    # Activating 2028.1 ends the warning.
    assert (await client.post(f"/v1/policies/{BASELINE}/2028.1/activate", headers=tokens.admin())).status_code == 200
    assert (await client.get("/readyz")).json()["warning"] is None
    assert (await submit(client, tokens, RELABELLED)).json()["decision"]["outcome"] == "refuse"


def test_an_upgrade_keeps_an_existing_installation_on_its_active_policy(blank_database: str) -> None:
    config = alembic_config(blank_database)
    command.upgrade(config, "0016_audit_checkpoints")
    on_database(
        blank_database,
        lambda connection: connection.execute(
            sa.text(
                "INSERT INTO organisations (code, name, type, dspt_status, active, created_at, updated_at, version) "
                "VALUES ('RXT01', 'A trust', 'nhs_trust', 'standards_met', true, "
                "'2026-11-30 10:00:00', '2026-11-30 10:00:00', 1)"
            )
        ),
    )
    command.upgrade(config, "head")
    latest = on_database(
        blank_database,
        lambda connection: (
            connection.execute(sa.text("SELECT version FROM policy_activations ORDER BY id DESC")).scalars().all()
        ),
    )
    assert latest == ["2027.1"]
