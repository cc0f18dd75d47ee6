"""Signed checkpoints: a trail cut short, rewritten with every later hash recomputed,
or given a new checkpoint table is found, at the right seq.

Each tampering is found three ways: by `GET /v1/audit/verify`, by `caldicott audit verify`, and by
`caldicott audit verify --export` over an export of the tampered trail, with no database.
"""

import asyncio
import json
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, text

from app.models.audit import CheckpointPublic
from app.services.audit import chain as audit
from app.services.audit import checkpoints
from app.services.audit import proof as audit_proof
from app.services.audit import signing as audit_signing
from app.services.webhooks import worker as delivery
from tests.factories import register_organisation, submit
from tests.rules.baseline import changed
from tests.support import TEST_AUDIT_KEY, Tokens, cli
from tests.test_audit import all_events, auditor, tamper
from tests.test_observability import scrape, value


async def sign(app: FastAPI) -> CheckpointPublic:
    """A checkpoint as the worker makes it."""
    checkpoint = await checkpoints.make(
        app.state.wiring.sessionmaker, keys=app.state.wiring.settings.audit_keys(sign=True), log_name="CONTROLLER"
    )
    assert checkpoint is not None
    return checkpoint


async def submissions(client: httpx.AsyncClient, tokens: Tokens, count: int) -> None:
    for number in range(count):
        assert (await submit(client, tokens, changed({"reference": f"CASE-{number}"}))).status_code == 201


async def signed_trail(client: httpx.AsyncClient, tokens: Tokens, app: FastAPI) -> list[CheckpointPublic]:
    """Nine events: checkpoint 1 at seq 4, checkpoint 2 at seq 7, then two events not signed yet."""
    await register_organisation(client, tokens, "RXT01")
    await submissions(client, tokens, 3)
    first = await sign(app)
    await submissions(client, tokens, 3)
    second = await sign(app)
    await submissions(client, tokens, 2)
    assert (first.seq, second.seq, second.previous) == (4, 7, audit_proof.digest(first))
    return [first, second]


def as_datetime(value: datetime | str) -> datetime:
    """occurred_at as read by a plain SELECT: SQLite's is text."""
    return datetime.fromisoformat(audit.utc_isoformat(value))


async def events(app: FastAPI) -> list[Any]:
    async with app.state.wiring.engine.connect() as connection:
        return list((await connection.execute(text("SELECT * FROM audit_events ORDER BY seq"))).all())


async def rewrite_from(app: FastAPI, seq: int, outcome: str) -> None:
    """Change one event's outcome and recompute its hash and every later one,
    as someone with write access to the database could."""
    rows = await events(app)
    prev_hash = rows[seq - 2].hash if seq > 1 else audit.GENESIS_HASH
    for row in rows[seq - 1 :]:
        roles = json.loads(row.actor_roles) if isinstance(row.actor_roles, str) else row.actor_roles
        fields = audit.canonical_fields(
            SimpleNamespace(**(row._asdict() | {"occurred_at": as_datetime(row.occurred_at), "actor_roles": roles}))
        )
        fields["outcome"] = outcome if row.seq == seq else row.outcome
        new_hash = audit.chain_hash(prev_hash, fields)
        await tamper(
            app,
            "UPDATE audit_events SET outcome = :outcome, prev_hash = :prev, hash = :hash WHERE seq = :seq",
            outcome=fields["outcome"],
            prev=prev_hash,
            hash=new_hash,
            seq=row.seq,
        )
        prev_hash = new_hash


async def replace_checkpoints(app: FastAPI, key_file: Path) -> None:
    """Delete every checkpoint and sign new ones, over the chain as it now stands, with a key of the intruder's own."""
    intruder = audit_signing.generate(key_file)
    rows = {row.seq: row.hash for row in await events(app)}
    await tamper(app, "DELETE FROM audit_checkpoints")
    previous = None
    for number, seq in ((1, 4), (2, 7)):
        forged = CheckpointPublic(
            number=number,
            log="CONTROLLER",
            seq=seq,
            hash=rows[seq],
            time="2026-11-28T09:00:00.000000Z",
            previous=previous,
            kid=intruder.kid,
            signature="",
        )
        forged.signature = intruder.sign(audit_proof.signed_bytes(forged))
        async with app.state.wiring.engine.begin() as connection:  # an INSERT: the append-only trigger lets it through
            await connection.execute(
                insert(audit.CHECKPOINTS).values(
                    **(forged.model_dump() | {"time": datetime.fromisoformat(forged.time)})
                )
            )
        previous = audit_proof.digest(forged)


async def flip_signature(app: FastAPI, _: Path) -> None:
    [row] = [row for row in await checkpoint_rows(app) if row.number == 2]
    flipped = ("A" if row.signature[0] != "A" else "B") + row.signature[1:]
    await tamper(app, "UPDATE audit_checkpoints SET signature = :signature WHERE number = 2", signature=flipped)


async def checkpoint_rows(app: FastAPI) -> list[Any]:
    async with app.state.wiring.engine.connect() as connection:
        return list(await audit.checkpoint_rows(connection))


async def delete_tail(app: FastAPI, _: Path) -> None:
    await tamper(app, "DELETE FROM audit_events WHERE seq >= 6")


async def rewrite_middle(app: FastAPI, _: Path) -> None:
    await rewrite_from(app, 6, "approved")


async def rewrite_and_replace_checkpoints(app: FastAPI, key_file: Path) -> None:
    await rewrite_from(app, 3, "approved")
    await replace_checkpoints(app, key_file)


# The tampering, the first seq at which the evidence disagrees with the trail, and what the finding says.
TAMPERINGS = {
    "newest events deleted": (delete_tail, 6, "the chain ends at seq 5"),
    "middle rewritten, later hashes recomputed": (
        rewrite_middle,
        7,
        "an event after seq 4 and at or before seq 7 was changed",
    ),
    "checkpoint table replaced": (rewrite_and_replace_checkpoints, 4, "which is not published"),
    "a checkpoint's signature altered": (flip_signature, 7, "its signature does not verify"),
}


def cli_env(database_url: str) -> dict[str, str]:
    return {"CALDICOTT_DATABASE_URL": database_url, "CALDICOTT_AUDIT_SIGNING_KEY_FILE": str(TEST_AUDIT_KEY)}


async def test_an_untouched_signed_trail_verifies_everywhere(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, database_url: str, tmp_path: Path
) -> None:
    await signed_trail(client, tokens, app)
    command = cli("audit", "verify", cwd=tmp_path, **cli_env(database_url))
    assert command.returncode == 0, command.stderr
    assert {
        key: json.loads(command.stdout)[key]
        for key in ("valid", "events", "checkpoints", "last_checkpoint_seq", "findings")
    } == {
        "valid": True,
        "events": 9,
        "checkpoints": 2,
        "last_checkpoint_seq": 7,
        "findings": [],
    }
    export = tmp_path / "trail.jsonl"
    assert cli("audit", "export", "--out", str(export), cwd=tmp_path, **cli_env(database_url)).returncode == 0
    offline = cli("audit", "verify", "--export", str(export), cwd=tmp_path)  # no database, no settings
    assert offline.returncode == 0, offline.stderr
    assert "keys in the export itself" in offline.stderr
    assert (json.loads(offline.stdout)["events"], json.loads(offline.stdout)["checkpoints"]) == (9, 2)
    found = (await client.get("/v1/audit/verify", headers=auditor(tokens))).json()
    assert (found["valid"], found["checkpoints"], found["head_seq"]) == (True, 2, 9)


@pytest.mark.parametrize("tampering", TAMPERINGS)
async def test_tampering_is_found_at_the_right_seq_by_the_command_the_export_and_the_endpoint(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, database_url: str, tmp_path: Path, tampering: str
) -> None:
    change, first_seq, words = TAMPERINGS[tampering]
    await signed_trail(client, tokens, app)
    keys = tmp_path / "keys.json"
    keys.write_text((await client.get("/v1/audit/keys")).text)  # what a witness or an archivist keeps
    await change(app, tmp_path / "intruder.pem")

    command = cli("audit", "verify", cwd=tmp_path, **cli_env(database_url))
    assert command.returncode == 1, command.stderr
    assert json.loads(command.stdout)["first_broken_seq"] == first_seq
    assert f"broken at seq {first_seq}" in command.stderr and words in command.stderr

    export = tmp_path / "tampered.jsonl"
    assert cli("audit", "export", "--out", str(export), cwd=tmp_path, **cli_env(database_url)).returncode == 0
    offline = cli("audit", "verify", "--export", str(export), "--keys", str(keys), cwd=tmp_path)
    assert offline.returncode == 1, offline.stderr
    assert json.loads(offline.stdout)["first_broken_seq"] == first_seq

    found = (await client.get("/v1/audit/verify", headers=auditor(tokens))).json()  # last: the check is itself an event
    assert (found["valid"], found["first_broken_seq"]) == (False, first_seq)
    assert words in found["findings"][0]["problem"]


async def test_a_witness_copy_finds_a_trail_cut_back_together_with_its_checkpoints(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, database_url: str, tmp_path: Path
) -> None:
    # Events and checkpoints both removed back to checkpoint 1:
    # what is left agrees with itself. Only a copy kept elsewhere can tell.
    first, second = await signed_trail(client, tokens, app)
    await tamper(app, "DELETE FROM audit_events WHERE seq > 4")
    await tamper(app, "DELETE FROM audit_checkpoints WHERE number = 2")
    assert cli("audit", "verify", cwd=tmp_path, **cli_env(database_url)).returncode == 0  # consistent, on its own

    kept = tmp_path / "witness.json"
    kept.write_text(
        json.dumps(
            {"type": "audit.checkpoint", "timestamp": "2026-11-28T09:00:00.000000Z", "data": second.model_dump()}
        )
    )
    command = cli("audit", "verify", "--checkpoint", str(kept), cwd=tmp_path, **cli_env(database_url))
    assert command.returncode == 1
    assert json.loads(command.stdout)["first_broken_seq"] == 5 and "the chain ends at seq 4" in command.stderr

    found = await client.post(
        "/v1/audit/verify", json={"checkpoints": [first.model_dump(), second.model_dump()]}, headers=auditor(tokens)
    )
    assert found.status_code == 200, found.text
    assert (found.json()["valid"], found.json()["witnessed"], found.json()["first_broken_seq"]) == (False, 2, 5)
    problems = {finding["problem"] for finding in found.json()["findings"] if finding["checkpoint"] == 2}
    assert "no stored checkpoint has this number: it was removed" in problems


def forged_witnesses(genuine: CheckpointPublic, key_file: Path) -> list[CheckpointPublic]:
    """Two copies no witness received, both naming seq 1 with another hash: one under the service's key id with a
    signature that does not verify, one signed with a key of the forger's own."""
    bad_signature = genuine.model_copy(
        update={"number": 1, "seq": 1, "hash": "0" * 64, "previous": None, "signature": "A" * 86}
    )
    forger = audit_signing.generate(key_file)
    own_key = genuine.model_copy(update={"number": 1, "seq": 1, "hash": "1" * 64, "previous": None, "kid": forger.kid})
    own_key.signature = forger.sign(audit_proof.signed_bytes(own_key))
    return [bad_signature, own_key]


async def test_a_forged_witness_copy_is_rejected_and_breaks_nothing_while_a_genuine_one_still_counts(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, database_url: str, tmp_path: Path
) -> None:
    # A forged copy used to set first_broken_seq to whatever seq it named, and the trail recorded a break there.
    first, second = await signed_trail(client, tokens, app)
    forged = forged_witnesses(first, tmp_path / "forger.pem")
    given = [checkpoint.model_dump() for checkpoint in (*forged, first, second)]
    found = await client.post("/v1/audit/verify", json={"checkpoints": given}, headers=auditor(tokens))
    assert found.status_code == 200, found.text
    result = found.json()
    assert (result["valid"], result["first_broken_seq"], result["findings"], result["witnessed"]) == (True, None, [], 2)
    assert [(rejected["number"], rejected["seq"], rejected["kid"]) for rejected in result["rejected_witnesses"]] == [
        (1, 1, first.kid),
        (1, 1, forged[1].kid),
    ]
    assert "does not verify" in result["rejected_witnesses"][0]["problem"]
    assert "not published" in result["rejected_witnesses"][1]["problem"]
    [recorded] = await all_events(client, tokens, action="audit_verified")
    assert recorded["outcome"].startswith("valid,") and recorded["outcome"].endswith("2 witnessed, 2 rejected")

    # The command judges by the same rule.
    kept = tmp_path / "witness.json"
    kept.write_text(json.dumps([checkpoint.model_dump() for checkpoint in forged]))
    command = cli("audit", "verify", "--checkpoint", str(kept), cwd=tmp_path, **cli_env(database_url))
    assert command.returncode == 0, command.stderr
    assert (json.loads(command.stdout)["valid"], len(json.loads(command.stdout)["rejected_witnesses"])) == (True, 2)

    # Beside forged copies, a genuine copy still finds a trail cut back together with its checkpoints.
    await tamper(app, "DELETE FROM audit_events WHERE seq > 4")
    await tamper(app, "DELETE FROM audit_checkpoints WHERE number = 2")
    found = await client.post(
        "/v1/audit/verify",
        json={"checkpoints": [checkpoint.model_dump() for checkpoint in (*forged, second)]},
        headers=auditor(tokens),
    )
    result = found.json()
    assert (result["valid"], result["first_broken_seq"], result["witnessed"]) == (False, 5, 1)
    assert len(result["rejected_witnesses"]) == 2
    assert {finding["source"] for finding in result["findings"]} == {"witness"}


async def test_the_service_refuses_to_sign_over_a_rewritten_chain(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await signed_trail(client, tokens, app)
    await rewrite_from(app, 5, "approved")
    await submissions(client, tokens, 1)
    with pytest.raises(checkpoints.CannotSign, match="event at seq 7 is not the one checkpoint 2 signed"):
        await sign(app)
    await delete_tail(app, Path())  # back to seq 5, then one event more: the chain has no seq 7 at all now
    await submissions(client, tokens, 1)
    with pytest.raises(checkpoints.CannotSign, match="event at seq 7 is not the one checkpoint 2 signed"):
        await sign(app)
    await flip_signature(app, Path())
    with pytest.raises(checkpoints.CannotSign, match="not what this service signed"):
        await sign(app)
    assert len(await checkpoint_rows(app)) == 2


async def test_nothing_new_is_not_signed_again_and_checkpoints_are_listed(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    first, second = await signed_trail(client, tokens, app)
    third = await sign(app)
    assert (third.number, third.seq) == (3, 9)
    assert (
        await checkpoints.make(
            app.state.wiring.sessionmaker, keys=app.state.wiring.settings.audit_keys(sign=True), log_name="CONTROLLER"
        )
        is None
    )
    listed = await client.get("/v1/audit/checkpoints", params={"limit": 2}, headers=auditor(tokens))
    assert [item["number"] for item in listed.json()["items"]] == [1, 2]
    rest = await client.get(
        "/v1/audit/checkpoints", params={"cursor": listed.json()["next_cursor"]}, headers=auditor(tokens)
    )
    assert [CheckpointPublic(**item) for item in rest.json()["items"]] == [third]
    assert (await client.get("/v1/audit/checkpoints/2", headers=auditor(tokens))).json() == second.model_dump()
    assert (await client.get("/v1/audit/checkpoints/9", headers=auditor(tokens))).status_code == 404
    assert (await client.get("/v1/audit/checkpoints", headers=tokens.agency("RXT01"))).status_code == 403
    assert first.previous is None


async def test_the_worker_signs_the_head_as_it_starts_and_again_once_it_has_moved(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    settings = app.state.wiring.settings.model_copy(
        update={"webhook_poll_seconds": 0.05, "audit_checkpoint_seconds": 0.2}
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(
        delivery.run(
            sessionmaker=app.state.wiring.sessionmaker, settings=settings, keys=app.state.wiring.audit_keys, stop=stop
        )
    )
    try:
        for _ in range(100):
            if len(await checkpoint_rows(app)) == 1:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # several intervals with nothing new: nothing more is signed
        assert [row.seq for row in await checkpoint_rows(app)] == [1]
        await submissions(client, tokens, 2)
        for _ in range(100):
            if len(await checkpoint_rows(app)) == 2:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await worker
    assert [(row.number, row.seq) for row in await checkpoint_rows(app)] == [(1, 1), (2, 3)]


async def test_the_scrape_shows_how_far_the_signed_trail_is_behind(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await submissions(client, tokens, 2)
    unsigned = await scrape(client)
    assert (
        value(unsigned, "caldicott_audit_unsigned_events"),
        value(unsigned, "caldicott_audit_checkpoint_age_seconds"),
    ) == (3, None)
    await sign(app)
    await submissions(client, tokens, 1)
    behind = await scrape(client)
    age = value(behind, "caldicott_audit_checkpoint_age_seconds")
    assert value(behind, "caldicott_audit_unsigned_events") == 1 and age is not None and 0 <= age < 60
