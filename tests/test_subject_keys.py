"""Rotating the subject key: the settings, a rotation over HTTP on both databases, re-keying, and retiring a key."""

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import text

from app.main import create_app
from app.models.vocabulary import Role
from app.platform.config import DEV_SUBJECT_KEY, Settings
from app.services.audit.chain import SYSTEM_ACTOR
from app.services.sharing_requests.subject_keys import SubjectKeyMissing, rekey
from tests.factories import register_organisation, submit
from tests.rules.baseline import changed
from tests.support import Tokens, cli, settings_for

FIRST = "test-subject-key"  # the tests' CALDICOTT_SUBJECT_KEY (tests/support.py): version 1
SECOND = "a-second-subject-key-made-for-the-rotation"
LONG = "k" * 32
PRODUCTION: dict[str, Any] = {
    "env": "production",
    "database_url": "postgresql+asyncpg://db/caldicott",
    "jwks_url": "https://idp.example/jwks.json",
    "controller_org": "RX1",
    "controller_name": "Riverside NHS Foundation Trust",
    "audit_public_keys_file": "/etc/caldicott/audit-keys.json",
}


def production(**changes: Any) -> Settings:
    return Settings(_env_file=None, **(PRODUCTION | changes))  # type: ignore[arg-type]


# The settings


def test_the_subject_key_is_version_1_and_later_versions_come_as_pairs() -> None:
    assert settings_for("sqlite://").subject_keyring.keys == {1: FIRST.encode()}
    rotated = settings_for("sqlite://", subject_keys=f" 2:{SECOND} , 3:with:colons ").subject_keyring
    assert (rotated.keys, rotated.current) == ({1: FIRST.encode(), 2: SECOND.encode(), 3: b"with:colons"}, 3)
    assert settings_for("sqlite://", subject_keys=f"2:{SECOND}", subject_key_current=1).subject_keyring.current == 1
    assert settings_for("sqlite://", subject_key=None).subject_keyring.keys == {1: DEV_SUBJECT_KEY.encode()}
    retired = settings_for("sqlite://", subject_key=None, subject_keys=f"2:{SECOND}").subject_keyring
    assert (retired.keys, retired.current) == ({2: SECOND.encode()}, 2)
    assert SECOND not in repr(rotated) and FIRST not in repr(rotated)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"subject_keys": f"1:{SECOND}"}, "names version 1, which is CALDICOTT_SUBJECT_KEY"),
        ({"subject_keys": SECOND}, "pair 1 is not `version:key`"),
        ({"subject_keys": f"2:{SECOND},{SECOND}"}, "pair 2 is not `version:key`"),
        ({"subject_keys": f"0:{SECOND}"}, "pair 1 is not `version:key` with a version from 1"),
        ({"subject_keys": "2:   "}, "pair 1 is not `version:key`"),
        ({"subject_keys": f"2:{SECOND},2:{SECOND}"}, "names version 2 twice"),
        ({"subject_keys": f"2:{SECOND}", "subject_key_current": 3}, "CALDICOTT_SUBJECT_KEY_CURRENT is 3, a version"),
    ],
)
def test_a_malformed_subject_key_setting_is_refused_without_showing_a_key(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError) as refused:
        settings_for("sqlite://", **changes)
    messages = " ".join(str(error["msg"]) for error in refused.value.errors())
    assert reason in messages
    assert SECOND not in messages


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"subject_key": None}, "production needs CALDICOTT_SUBJECT_KEY to hash subject identifiers"),
        ({"subject_keys": "2:short"}, "every key of CALDICOTT_SUBJECT_KEYS to be at least 32 bytes"),
        ({"subject_keys": f"2:{DEV_SUBJECT_KEY}"}, r"not the development key \(version 2 is not\)"),
        ({"subject_key": "k" * 31, "subject_keys": f"2:{LONG}"}, "CALDICOTT_SUBJECT_KEY of at least 32 bytes"),
    ],
)
def test_production_refuses_a_missing_or_short_key_of_any_version(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        production(**({"subject_key": LONG} | changes))


def test_production_may_retire_version_1_once_later_keys_are_given() -> None:
    assert production(subject_keys=f"2:{'m' * 32},3:{'n' * 32}").subject_keyring.keys == {
        2: b"m" * 32,
        3: b"n" * 32,
    }


def test_a_command_names_a_bad_subject_key_setting_in_one_line(tmp_path: Path) -> None:
    refused = cli("migrate", cwd=tmp_path, CALDICOTT_SUBJECT_KEYS=f"2:{SECOND},{SECOND}")
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "caldicott migrate: CALDICOTT_SUBJECT_KEYS: pair 2 is not `version:key` with a version from 1 "
        "(pairs are separated by commas; a key may not hold one)"
    )
    assert SECOND not in refused.stdout + refused.stderr
    assert not list(tmp_path.iterdir())


# A rotation on both databases


@asynccontextmanager
async def serving(database_url: str, *, lifespan: bool = False, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client on another app over the same database, configured with these settings (and started, with
    `lifespan`, as `caldicott serve` starts it)."""
    application = create_app(settings_for(database_url, **changes))
    try:
        async with application.router.lifespan_context(application) if lifespan else _nothing():
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                yield http
    finally:
        await application.state.wiring.engine.dispose()


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield


async def named(http: httpx.AsyncClient, tokens: Tokens, identifier: str) -> list[str]:
    """The ids of the requests a guardian's disclosure search finds for this identifier."""
    headers = tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")
    response = await http.post("/v1/reports/subject-disclosures", json={"identifier": identifier}, headers=headers)
    assert response.status_code == 200, response.text
    return [item["request_id"] for item in response.json()["items"]]


async def rows(app: FastAPI, query: str) -> list[tuple[Any, ...]]:
    async with app.state.wiring.engine.connect() as connection:
        return [tuple(row) for row in (await connection.execute(text(query))).all()]


LOOKUP = "SELECT request_id, key_version, COUNT(*) FROM sharing_request_subjects GROUP BY request_id, key_version"
# What decisions and replay rest on: never rewritten by a rotation.
RECORDED = (
    "SELECT v.request_id, v.version, v.body, v.request_hash, v.subject_key_version, d.id, d.request_hash, d.facts "
    "FROM sharing_request_versions v JOIN decisions d ON d.request_id = v.request_id AND d.version = v.version "
    "ORDER BY v.request_id, v.version"
)


async def test_a_rotation_keeps_every_request_findable_and_rekeying_lets_the_old_key_go(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, database_url: str, tmp_path: Path
) -> None:
    await register_organisation(client, tokens, "RXT01")
    both = changed({"subjects.count": 2, "subjects.identifiers": ["9990000018", "9990000026"]})
    first = await submit(client, tokens, both, **{"Idempotency-Key": "first"})  # written under key 1 alone
    assert first.status_code == 201, first.text
    first_id = first.json()["id"]

    rotation = {"subject_keys": f"2:{SECOND}"}  # key 2 added, and current as the highest
    async with serving(database_url, **rotation) as rotated:
        retried = await submit(rotated, tokens, both, **{"Idempotency-Key": "first"})
        # Compared under the key that stored the first body, so it is the same request, not a 422.
        assert (retried.headers.get("Idempotent-Replayed"), retried.json()["id"]) == ("true", first_id)
        second = await submit(rotated, tokens, changed({"subjects.identifiers": ["999 000 0018"]}))
        assert second.status_code == 201, second.text
        second_id = second.json()["id"]
        assert await named(rotated, tokens, "9990000018") == [first_id, second_id]
        assert await named(rotated, tokens, "9990000026") == [first_id]
    assert sorted(await rows(app, LOOKUP)) == sorted([(first_id, 1, 2), (second_id, 2, 1)])
    versions = "SELECT request_id, subject_key_version FROM sharing_request_versions"
    assert sorted(await rows(app, versions)) == sorted([(first_id, 1), (second_id, 2)])
    assert await named(client, tokens, "9990000018") == [first_id]  # a process that lacks key 2 misses the new one
    recorded = await rows(app, RECORDED)

    env = {
        "CALDICOTT_DATABASE_URL": database_url,
        "CALDICOTT_SUBJECT_KEY": FIRST,
        "CALDICOTT_SUBJECT_KEYS": f"2:{SECOND}",
    }
    one = tmp_path / "one.txt"
    one.write_text("999 000 0018\n\n")
    for moved in ("1 lookup rows to version 2 (1 from version 1) in 1", "0 lookup rows to version 2 (none) in 0"):
        rekeyed = cli("subjects", "rekey", "--identifiers", str(one), cwd=tmp_path, **env)
        assert rekeyed.returncode == 0, rekeyed.stderr
        assert rekeyed.stdout.splitlines() == [
            f"read 1 identifiers; re-keyed {moved} request audits",
            "version 1: 1 rows",
            "version 2: 2 rows",
        ]
    assert cli("subjects", "versions", cwd=tmp_path, **env).stdout.splitlines() == [
        "version 1: 1 rows, configured",
        "version 2: 2 rows, current",
    ]
    # One row is still under key 1, whose identifier was not given: a process without key 1 refuses to start.
    with pytest.raises(SubjectKeyMissing, match="stored subject hashes use key version 1, which is not configured"):
        async with serving(database_url, lifespan=True, subject_key=None, **rotation):
            pass

    every = tmp_path / "every.txt"
    every.write_text("9990000034\n9990000018\n9990000026\n")
    rekeyed = cli("subjects", "rekey", "--identifiers", str(every), "--batch-size", "1", cwd=tmp_path, **env)
    assert rekeyed.stdout.splitlines() == [
        "read 3 identifiers; re-keyed 1 lookup rows to version 2 (1 from version 1) in 1 request audits",
        "version 2: 3 rows",
    ]
    async with serving(database_url, lifespan=True, subject_key=None, **rotation) as retired:
        assert await named(retired, tokens, "9990000018") == [first_id, second_id]
        assert await named(retired, tokens, "9990000026") == [first_id]
        # The first body's identifiers were hashed with key 1, now retired: a retry cannot be compared with it.
        late = await submit(retired, tokens, both, **{"Idempotency-Key": "first"})
        assert late.status_code == 422, late.text

    assert await rows(app, RECORDED) == recorded  # bodies, their hashes and the decisions are as they were
    trail = "SELECT actor_sub, action, target_id, outcome FROM audit_events WHERE action = 'subject_hashes_rekeyed'"
    assert (
        await rows(app, trail)
        == [
            (SYSTEM_ACTOR, "subject_hashes_rekeyed", first_id, "1 subject hashes re-keyed to key version 2"),
        ]
        * 2
    )
    verified = cli("audit", "verify", cwd=tmp_path, CALDICOTT_DATABASE_URL=database_url)
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["valid"] is True


async def test_rekeying_with_only_the_current_key_moves_nothing(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, database_url: str, tmp_path: Path
) -> None:
    await register_organisation(client, tokens, "RXT01")
    assert (await submit(client, tokens, changed({"subjects.identifiers": ["9990000018"]}))).status_code == 201
    identifiers = tmp_path / "identifiers.txt"
    identifiers.write_text("9990000018\n")
    env = {"CALDICOTT_DATABASE_URL": database_url, "CALDICOTT_SUBJECT_KEY": FIRST}
    rekeyed = cli("subjects", "rekey", "--identifiers", str(identifiers), cwd=tmp_path, **env)
    assert (rekeyed.returncode, rekeyed.stdout.splitlines()) == (
        0,
        ["read 1 identifiers; re-keyed 0 lookup rows to version 1 (none) in 0 request audits", "version 1: 1 rows"],
    )
    assert "9990000018" not in rekeyed.stdout + rekeyed.stderr
    missing = cli("subjects", "rekey", "--identifiers", str(tmp_path / "absent.txt"), cwd=tmp_path, **env)
    assert missing.returncode == 2
    assert "absent.txt" in missing.stderr
    for size in ("0", "10001", "many"):
        refused = cli("subjects", "rekey", "--identifiers", str(identifiers), "--batch-size", size, cwd=tmp_path, **env)
        assert refused.returncode == 2
        assert "is not a number of identifiers from 1 to 10000" in refused.stderr


async def test_two_rekeying_runs_at_once_move_and_audit_each_row_once(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, database_url: str, database_kind: str
) -> None:
    if database_kind == "sqlite":
        pytest.skip("SQLite takes one writer at a time: two runs at once are PostgreSQL's case")
    await register_organisation(client, tokens, "RXT01")
    identifiers = [f"99900000{index:02d}" for index in range(40)]
    body = changed({"subjects.count": len(identifiers), "subjects.identifiers": identifiers})
    for _ in range(3):
        assert (await submit(client, tokens, body)).status_code == 201
    keys = settings_for(database_url, subject_keys=f"2:{SECOND}").subject_keyring
    sessionmaker = app.state.wiring.sessionmaker
    reports = await asyncio.gather(
        *(rekey(sessionmaker=sessionmaker, keys=keys, identifiers=identifiers, batch_size=7) for _ in range(2))
    )
    assert sum(sum(report.moved.values()) for report in reports) == 3 * 40
    assert {report.remaining[2] for report in reports} == {3 * 40}
    audited = "SELECT outcome FROM audit_events WHERE action = 'subject_hashes_rekeyed'"
    assert sum(int(outcome.split()[0]) for (outcome,) in await rows(app, audited)) == 3 * 40


async def test_an_interrupted_rekeying_keeps_its_committed_batches_and_a_second_run_finishes(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, database_url: str
) -> None:
    await register_organisation(client, tokens, "RXT01")
    identifiers = [f"99900000{index:02d}" for index in range(6)]
    for identifier in identifiers:
        assert (await submit(client, tokens, changed({"subjects.identifiers": [identifier]}))).status_code == 201
    keys = settings_for(database_url, subject_keys=f"2:{SECOND}").subject_keyring

    def cut_off(after: int) -> Iterator[str]:
        yield from identifiers[:after]
        raise OSError("the identifier extract was cut off")

    with pytest.raises(OSError, match="cut off"):
        await rekey(sessionmaker=app.state.wiring.sessionmaker, keys=keys, identifiers=cut_off(5), batch_size=2)
    by_version = "SELECT key_version, COUNT(*) FROM sharing_request_subjects GROUP BY key_version ORDER BY key_version"
    assert await rows(app, by_version) == [(1, 2), (2, 4)]  # two whole batches; the third was never committed
    finished = await rekey(sessionmaker=app.state.wiring.sessionmaker, keys=keys, identifiers=identifiers)
    assert (finished.moved, finished.remaining) == ({1: 2}, {2: 6})
