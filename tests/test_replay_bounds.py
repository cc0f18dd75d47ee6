"""A replay is bounded (issue 30): a window is required and capped, rows are read a batch at a time with the same
result, one replay per organisation runs at a time, and old reports are pruned by the worker's housekeeping."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text, update

from app.main import create_app
from app.models.policy import PolicyReplay, PolicyReplayChange
from app.services.policies import replay
from app.services.webhooks import pruning
from tests.conftest import fresh_start
from tests.factories import register_organisation, submit
from tests.rules.baseline import changed
from tests.support import Tokens, replay_window, settings_for
from tests.test_policies import POLICE_DIRECT_CARE, POLICE_EXEMPTION_AS_REQUIREMENT

PATH = "/v1/policies/uk-caldicott-baseline/{version}/replay"


def guardian(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("CONTROLLER", "guardian")


async def corpus(client: httpx.AsyncClient, tokens: Tokens) -> None:
    """Three decisions under 2028.1, two of them (the police's) decided differently by 2026.1."""
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "POL01", type="police", dspt_status="not_published")
    for body, org in (
        (changed({}), "RXT01"),
        (POLICE_EXEMPTION_AS_REQUIREMENT, "POL01"),
        (POLICE_DIRECT_CARE, "POL01"),
    ):
        assert (await submit(client, tokens, body, org=org)).status_code == 201


async def replayed(
    client: httpx.AsyncClient, tokens: Tokens, version: str = "2026.1", **criteria: Any
) -> httpx.Response:
    return await client.post(PATH.format(version=version), json=criteria, headers=guardian(tokens))


def refused_naming(response: httpx.Response, status: int, field: str) -> str:
    """The problem's detail, after checking its status, its media type and the field it names."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == [field]
    return response.json()["detail"]


async def test_a_replay_needs_both_ends_of_a_window_no_wider_than_the_maximum(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await corpus(client, tokens)
    window = replay_window()
    refused_naming(await replayed(client, tokens), 422, "from")
    refused_naming(await replayed(client, tokens, to=window["to"]), 422, "from")
    refused_naming(await replayed(client, tokens, **{"from": window["from"]}), 422, "to")
    # 2024 is a leap year: its 366 days are the widest window allowed by default, and one day more is too wide.
    assert (await replayed(client, tokens, **{"from": "2024-01-01", "to": "2024-12-31"})).status_code == 201
    wide = await replayed(client, tokens, **{"from": "2024-01-01", "to": "2025-01-01"})
    assert "at most 366 days" in refused_naming(wide, 422, "to")
    listed = await client.get("/v1/policy-replays", headers=guardian(tokens))
    assert len(listed.json()["items"]) == 1  # the refusals stored nothing


@pytest.fixture
async def capped(database_url: str) -> AsyncIterator[FastAPI]:
    """The app with a cap of two decisions a replay."""
    application = create_app(settings_for(database_url, replay_max_decisions=2))
    await fresh_start(application)
    yield application
    await application.state.wiring.engine.dispose()


async def test_a_window_holding_more_decisions_than_the_cap_is_refused_and_a_narrower_one_runs(
    capped: FastAPI,
) -> None:
    tokens = Tokens(capped.state.wiring.settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=capped), base_url="http://testserver") as client:
        await corpus(client, tokens)
        detail = refused_naming(await replayed(client, tokens, **replay_window()), 422, "to")
        assert "holds 3 rules decisions, more than the 2" in detail
        assert (await client.get("/v1/policy-replays", headers=guardian(tokens))).json()["items"] == []
        # The refusal released the organisation's replay: the next one, within the cap, runs.
        narrower = await replayed(client, tokens, requester="POL01", **replay_window())
        assert narrower.status_code == 201, narrower.text
        assert narrower.json()["totals"]["examined"] == 2


async def test_the_result_is_the_same_whatever_the_batch(
    client: httpx.AsyncClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of one decision (every keyset step crossed), or stretches of two evaluated between the event loop's
    turns, find exactly what one batch of all of them finds."""
    await corpus(client, tokens)

    async def report() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        done = (await replayed(client, tokens, **replay_window())).json()
        changes = await client.get(f"/v1/policy-replays/{done['id']}/changes", headers=guardian(tokens))
        return done["totals"], changes.json()["items"]

    whole = await report()
    monkeypatch.setattr(replay, "STRETCH", 2)  # evaluated two at a time within a batch
    assert await report() == whole
    monkeypatch.setattr(replay, "BATCH", 1)
    assert await report() == whole
    assert whole[0]["examined"] == 3 and whole[0]["differing"] >= 1  # the corpus lists changes, in order
    assert [change["request_id"] for change in whole[1]] != []


async def test_a_second_replay_for_the_organisation_while_one_runs_is_a_409_naming_it(
    app: FastAPI, client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await corpus(client, tokens)
    running = "replay 0f5e of uk-caldicott-baseline 2028.1 (started 2026-12-07T22:00:00Z)"
    async with (
        app.state.wiring.sessionmaker() as session,
        session.begin(),
        replay.one_at_a_time(session=session, org="CONTROLLER", running=running),
    ):
        second = await replayed(client, tokens, **replay_window())
        assert second.status_code == 409, second.text
        assert second.headers["content-type"] == "application/problem+json"
        assert second.json()["type"] == "/problems/replay-running"
        assert running in second.json()["detail"]
    # Held until then, and released when the running replay ends.
    after = await replayed(client, tokens, **replay_window())
    assert after.status_code == 201, after.text


async def test_the_one_replay_holds_across_processes_on_postgresql(
    app: FastAPI, client: httpx.AsyncClient, tokens: Tokens, database_kind: str
) -> None:
    """Another process's replay is its transaction's advisory lock: taken here on a connection of its own."""
    if database_kind != "postgres":
        pytest.skip("SQLite is one process: the process's own record holds it (the test above)")
    await corpus(client, tokens)
    async with app.state.wiring.engine.connect() as other, other.begin():
        await other.execute(select(func.pg_advisory_xact_lock(replay.lock_key("CONTROLLER"))))
        held = await replayed(client, tokens, **replay_window())
        assert (held.status_code, held.json()["type"]) == (409, "/problems/replay-running")
    assert (await replayed(client, tokens, **replay_window())).status_code == 201


async def test_the_worker_prunes_reports_older_than_the_keep_days_with_their_changes(
    app: FastAPI, client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await corpus(client, tokens)
    old, new = [(await replayed(client, tokens, **replay_window())).json()["id"] for _ in range(2)]
    keep_days = app.state.wiring.settings.replay_keep_days
    async with app.state.wiring.engine.begin() as connection:
        before = datetime.now(UTC) - timedelta(days=keep_days, hours=1)
        await connection.execute(update(PolicyReplay).where(PolicyReplay.id == old).values(created_at=before))
    counted = text("SELECT count(*) FROM policy_replay_changes WHERE replay_id = :id")
    async with app.state.wiring.engine.connect() as connection:
        assert (await connection.execute(counted, {"id": old})).scalar_one() >= 1

    pruner = pruning.Pruner(sessionmaker=app.state.wiring.sessionmaker, settings=app.state.wiring.settings)
    pruner.poke()
    assert pruner.task is not None
    await pruner.task

    assert (await client.get(f"/v1/policy-replays/{old}", headers=guardian(tokens))).status_code == 404
    assert (await client.get(f"/v1/policy-replays/{new}", headers=guardian(tokens))).status_code == 200
    async with app.state.wiring.engine.connect() as connection:
        assert (await connection.execute(counted, {"id": old})).scalar_one() == 0
        left = await connection.execute(select(func.count()).select_from(PolicyReplayChange))
        assert left.scalar_one() >= 1  # the new report's changes stay
