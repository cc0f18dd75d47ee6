"""The audit trail: every change and read chained by hash, append-only, listed, and verified."""

import asyncio
import hashlib
import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.models.actions import RequestAction
from app.models.audit import AuditTarget
from app.models.sharing_request import SharingRequest
from app.models.vocabulary import Role
from app.principal import Principal
from app.services.audit import chain as audit
from app.services.audit import events
from app.services.audit.chain import GENESIS_HASH
from tests.factories import patch_current, register_agreement, register_organisation, submit
from tests.rules.baseline import baseline_request, changed
from tests.support import Tokens, cli
from tests.test_operations import UNREACHABLE_POSTGRES

HASHED_FIELDS = (
    "seq",
    "occurred_at",
    "actor_sub",
    "actor_org",
    "actor_roles",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "correlation_id",
)


def auditor(tokens: Tokens) -> dict[str, str]:
    return tokens.headers(
        "CONTROLLER", Role.AUDITOR, sub="auditor-1"
    )  # the information governance team works for the controller


async def all_events(client: httpx.AsyncClient, tokens: Tokens, **filters: str) -> list[dict[str, Any]]:
    """Every event matching the filters, page by page."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 200, **filters}
    while True:
        response = await client.get("/v1/audit/events", params=params, headers=auditor(tokens))
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        params["cursor"] = page["next_cursor"]


async def verify(client: httpx.AsyncClient, tokens: Tokens) -> dict[str, Any]:
    response = await client.get("/v1/audit/verify", headers=auditor(tokens))
    assert response.status_code == 200, response.text
    return response.json()


async def tamper(app: FastAPI, statement: str, **params: Any) -> None:
    """Change the trail behind the service's back; on PostgreSQL as a superuser with its triggers off."""
    async with app.state.wiring.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
        await connection.execute(text(statement), params)


def expected_hash(event: dict[str, Any]) -> str:
    """The chain rule, written out independently of the service: SHA-256(prev_hash || canonical JSON)."""
    fields = {name: event[name] for name in HASHED_FIELDS}
    fields["occurred_at"] = datetime.fromisoformat(event["occurred_at"]).isoformat(timespec="microseconds")
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(event["prev_hash"].encode() + canonical).hexdigest()


async def test_every_change_and_read_is_recorded_in_one_chain(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_agreement(client, tokens)
    assert (
        await patch_current(
            client, "/v1/organisations/RXT01", json={"dspt_status": "standards_exceeded"}, headers=tokens.admin()
        )
    ).status_code == 200
    assert (
        await patch_current(
            client, "/v1/sharing-agreements/ISA-TEST", json={"status": "suspended"}, headers=tokens.admin()
        )
    ).status_code == 200
    created = (await submit(client, tokens, changed({"recipient.onward_sharing": True}))).json()
    assert (
        await client.get(f"/v1/sharing-requests/{created['id']}", headers=tokens.agency("RXT01"))
    ).status_code == 200

    trail = await all_events(client, tokens)

    assert [(event["action"], event["target_type"], event["target_id"], event["outcome"]) for event in trail] == [
        ("organisation_registered", "organisation", "RXT01", "applied"),
        ("agreement_registered", "sharing_agreement", "ISA-TEST", "applied"),
        ("organisation_changed", "organisation", "RXT01", "applied"),
        ("agreement_changed", "sharing_agreement", "ISA-TEST", "applied"),
        ("submitted", "sharing_request", created["id"], "awaiting_review, decision refer"),
        ("read", "sharing_request", created["id"], "read"),
    ]
    assert [event["seq"] for event in trail] == [1, 2, 3, 4, 5, 6]
    assert (trail[0]["actor_sub"], trail[0]["actor_org"], trail[0]["actor_roles"]) == (
        "admin-1",
        "CONTROLLER",
        ["admin"],
    )
    assert (trail[4]["actor_sub"], trail[4]["actor_org"], trail[4]["actor_roles"]) == (
        "user-rxt01",
        "RXT01",
        ["agency"],
    )
    assert trail[0]["prev_hash"] == GENESIS_HASH == "0" * 64
    for previous, event in zip(trail, trail[1:], strict=False):
        assert event["prev_hash"] == previous["hash"]
    assert all(event["hash"] == expected_hash(event) for event in trail)
    assert all(event["correlation_id"] for event in trail)
    result = await verify(client, tokens)
    (listed, *_) = await all_events(client, tokens, action="audit_events_listed")  # the first listing above is event 7
    assert result == {
        "valid": True,
        "events": 7,
        "pending": 0,
        "head_seq": 7,
        "head_hash": listed["hash"],
        "first_broken_seq": None,
        "checkpoints": 0,
        "witnessed": 0,
        "last_checkpoint_seq": None,
        "findings": [],
        "rejected_witnesses": [],
    }


async def test_the_service_itself_is_the_system_actor(client: httpx.AsyncClient, tokens: Tokens, app: FastAPI) -> None:
    await register_organisation(client, tokens, "RXT01")
    created = (await submit(client, tokens, baseline_request())).json()
    async with app.state.wiring.sessionmaker() as session:
        request = await session.get(SharingRequest, created["id"])
        await events.request_changed(session=session, actor=None, request=request, action=RequestAction.CLAIM_EXPIRED)
        await session.commit()
    await audit.chain_pending(app.state.wiring.sessionmaker)  # outside a request nothing chains it on its own

    (expired,) = await all_events(client, tokens, action="claim_expired")
    assert (expired["actor_sub"], expired["actor_org"], expired["actor_roles"], expired["correlation_id"]) == (
        "system",
        None,
        [],
        None,
    )
    assert (await verify(client, tokens))["valid"] is True


async def test_reads_are_audited_and_a_refused_read_is_not(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "RXT02")
    created = (await submit(client, tokens, baseline_request())).json()
    guardian = tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")

    assert (
        await client.get(f"/v1/sharing-requests/{created['id']}", headers=tokens.agency("RXT01"))
    ).status_code == 200
    assert (await client.get(f"/v1/sharing-requests/{created['id']}", headers=guardian)).status_code == 200
    assert (
        await client.get(f"/v1/sharing-requests/{created['id']}", headers=tokens.agency("RXT02"))
    ).status_code == 404

    reads = await all_events(client, tokens, request_id=created["id"], action="read")
    assert [(event["actor_sub"], event["actor_org"], event["actor_roles"]) for event in reads] == [
        ("user-rxt01", "RXT01", ["agency"]),
        ("guardian-1", "CONTROLLER", ["guardian"]),
    ]


async def test_the_correlation_id_is_taken_when_sane_and_echoed(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    given = await submit(client, tokens, baseline_request(), **{"X-Request-ID": "case-42.retry_1"})
    assert given.headers["x-request-id"] == "case-42.retry_1"
    unsafe = await submit(client, tokens, baseline_request(), **{"X-Request-ID": "bad id; DROP TABLE"})
    too_long = await submit(client, tokens, baseline_request(), **{"X-Request-ID": "a" * 129})
    missing = await submit(client, tokens, baseline_request())

    generated = [response.headers["x-request-id"] for response in (unsafe, too_long, missing)]
    assert all(len(value) == 36 and value.count("-") == 4 for value in generated)
    assert len(set(generated)) == 3
    submitted = await all_events(client, tokens, action="submitted")
    assert [event["correlation_id"] for event in submitted] == ["case-42.retry_1", *generated]
    assert (await client.get("/healthz", headers={"X-Request-ID": "probe-1"})).headers["x-request-id"] == "probe-1"


async def test_no_subject_identifier_or_free_text_reaches_the_trail_or_the_logs(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the service runs at INFO; drivers log SQL parameters at DEBUG
    await register_organisation(client, tokens, "RXT01")
    body = changed(
        {
            "reference": "REF-Zebedee-7781",
            "purpose.description": "Zebedee Quillfeather needs continuing care from the community team",
            "subjects.count": 2,
            "subjects.identifiers": ["9990000018", "999 000 0026"],
        }
    )
    created = (await submit(client, tokens, body)).json()
    assert (
        await client.get(f"/v1/sharing-requests/{created['id']}", headers=tokens.agency("RXT01"))
    ).status_code == 200

    async with app.state.wiring.engine.connect() as connection:
        rows = repr((await connection.execute(text("SELECT * FROM audit_events"))).all())
    assert created["id"] in rows
    secrets = [
        "9990000018",
        "0000026",
        "Zebedee",
        "Quillfeather",
        "REF-Zebedee-7781",
        *created["request"]["subjects"]["identifier_hashes"],
    ]
    for secret in secrets:
        assert secret not in rows
        assert secret not in caplog.text


async def test_events_are_filtered_and_paginated_in_a_stable_order(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "RXT02")
    first = (await submit(client, tokens, baseline_request())).json()
    second = (await submit(client, tokens, baseline_request(), org="RXT02")).json()
    await client.get(f"/v1/sharing-requests/{first['id']}", headers=tokens.agency("RXT01"))

    pages, params = [], {"limit": 2}
    while True:
        page = (await client.get("/v1/audit/events", params=params, headers=auditor(tokens))).json()
        pages.append(page["items"])
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    seqs = [event["seq"] for page in pages for event in page]
    assert seqs == list(range(1, len(seqs) + 1))
    assert all(len(page) == 2 for page in pages[:-1])

    def actions(trail: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(event["action"], event["target_id"]) for event in trail]

    assert actions(await all_events(client, tokens, request_id=first["id"])) == [
        ("submitted", first["id"]),
        ("read", first["id"]),
    ]
    assert actions(await all_events(client, tokens, actor="user-rxt02")) == [("submitted", second["id"])]
    assert actions(await all_events(client, tokens, organisation="RXT02")) == [("submitted", second["id"])]
    assert actions(await all_events(client, tokens, action="organisation_registered")) == [
        ("organisation_registered", "RXT01"),
        ("organisation_registered", "RXT02"),
    ]

    trail = await all_events(client, tokens)
    third = trail[2]
    assert [event["seq"] for event in await all_events(client, tokens, to=third["occurred_at"])] == [1, 2, 3]
    assert [event["seq"] for event in await all_events(client, tokens, **{"from": third["occurred_at"]})][:3] == [
        3,
        4,
        5,
    ]
    tomorrow = (datetime.now(ZoneInfo("Europe/London")) + timedelta(days=1)).date().isoformat()
    assert await all_events(client, tokens, **{"from": tomorrow}) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"action": "deleted_everything"}, "action"),
        ({"from": "2026-02-30"}, "from"),
        ({"from": "2026-11-26T09:00:00"}, "from"),
        ({"from": "2026-11-26", "to": "2026-11-25"}, "to"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": 0}, "limit"),
    ],
)
async def test_bad_filters_are_422_naming_the_field(
    client: httpx.AsyncClient, tokens: Tokens, params: dict[str, Any], field: str
) -> None:
    response = await client.get("/v1/audit/events", params=params, headers=auditor(tokens))
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_only_auditors_read_the_trail(client: httpx.AsyncClient, tokens: Tokens) -> None:
    others = [tokens.agency("RXT01"), tokens.headers("CONTROLLER", Role.GUARDIAN), tokens.admin()]
    for path in ("/v1/audit/events", "/v1/audit/verify"):
        assert (await client.get(path)).status_code == 401
        for headers in others:
            assert (await client.get(path, headers=headers)).status_code == 403
        assert (await client.get(path, headers=auditor(tokens))).status_code == 200


async def test_looking_at_the_trail_is_itself_recorded(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await verify(client, tokens)
    await all_events(client, tokens, action="submitted")

    trail = await all_events(client, tokens)
    assert [
        (event["action"], event["target_type"], event["target_id"], event["outcome"], event["actor_sub"])
        for event in trail
    ] == [
        ("audit_verified", "report", "audit_trail", "valid, 0 events, 0 checkpoints", "auditor-1"),
        ("audit_events_listed", "report", "audit_events", "0 events", "auditor-1"),
    ]


async def test_an_empty_trail_is_valid_at_the_genesis_hash(client: httpx.AsyncClient, app: FastAPI) -> None:
    async with app.state.wiring.sessionmaker() as session:
        result = await audit.verify(session=session, keys=app.state.wiring.audit_keys.published)
    assert result.model_dump() == {
        "valid": True,
        "events": 0,
        "pending": 0,
        "head_seq": 0,
        "head_hash": GENESIS_HASH,
        "first_broken_seq": None,
        "checkpoints": 0,
        "witnessed": 0,
        "last_checkpoint_seq": None,
        "findings": [],
        "rejected_witnesses": [],
    }


async def record_tail(app: FastAPI, name: str, count: int) -> None:
    """Commit events outside any request and chain nothing,
    as a writer killed between its commit and its chaining leaves them."""
    async with app.state.wiring.sessionmaker() as session:
        for number in range(count):
            await audit.record(
                session=session,
                actor=None,
                action="read",
                target_type=AuditTarget.REPORT,
                target_id=f"{name}-{number}",
                outcome="read",
            )
        await session.commit()


async def test_a_tail_not_chained_yet_is_pending_not_broken(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, database_url: str, tmp_path: Path
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await record_tail(app, "first", 2)

    command = cli("audit", "verify", cwd=tmp_path, CALDICOTT_DATABASE_URL=database_url)
    assert command.returncode == 0, command.stderr
    assert json.loads(command.stdout) | {"head_hash": None} == {
        "valid": True,
        "events": 1,
        "pending": 2,
        "head_seq": 1,
        "head_hash": None,
        "first_broken_seq": None,
        "checkpoints": 0,
        "witnessed": 0,
        "last_checkpoint_seq": None,
        "findings": [],
        "rejected_witnesses": [],
    }
    assert "2 events recorded and not chained yet" in command.stderr
    assert [event["target_id"] for event in await all_events(client, tokens)] == [
        "RXT01"
    ]  # the listing shows chained events only
    await record_tail(app, "second", 3)

    found = await verify(client, tokens)  # the listing's pass chained the first tail and the listing itself

    assert (found["valid"], found["events"], found["pending"], found["head_seq"], found["first_broken_seq"]) == (
        True,
        4,
        3,
        4,
        None,
    )
    trail = await all_events(client, tokens)
    assert [event["target_id"] for event in trail] == [
        "RXT01",
        "first-0",
        "first-1",
        "audit_events",
        "second-0",
        "second-1",
        "second-2",
        "audit_trail",
    ]
    assert all(event["hash"] == expected_hash(event) for event in trail)
    settled = await verify(client, tokens)
    assert (settled["valid"], settled["events"], settled["pending"]) == (True, 9, 0)


FLIP_FIRST_HEX_DIGIT = "CASE WHEN substr({column}, 1, 1) = '0' THEN '1' ELSE '0' END || substr({column}, 2)"
TAMPERINGS = {
    "actor": "UPDATE audit_events SET actor_sub = 'user-rxt02' WHERE seq = :seq",
    "outcome": "UPDATE audit_events SET outcome = 'approved, decision approve' WHERE seq = :seq",
    "roles": "UPDATE audit_events SET actor_roles = (SELECT actor_roles FROM audit_events "
    "WHERE seq = 1) WHERE seq = :seq",
    "hash": f"UPDATE audit_events SET hash = {FLIP_FIRST_HEX_DIGIT.format(column='hash')} WHERE seq = :seq",
    "prev_hash": "UPDATE audit_events SET prev_hash = "
    f"{FLIP_FIRST_HEX_DIGIT.format(column='prev_hash')} WHERE seq = :seq",
    "deleted": "DELETE FROM audit_events WHERE seq = :seq",
}


@pytest.mark.parametrize("change", TAMPERINGS)
async def test_a_tampered_event_is_found_at_its_seq_by_the_endpoint_and_the_command(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, database_url: str, tmp_path: Path, change: str
) -> None:
    await register_organisation(client, tokens, "RXT01")
    for _ in range(5):
        assert (await submit(client, tokens, changed({"recipient.staff_trained": False}))).status_code == 201
    clean = cli("audit", "verify", cwd=tmp_path, CALDICOTT_DATABASE_URL=database_url)
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout) | {"head_hash": None} == {
        "valid": True,
        "events": 6,
        "pending": 0,
        "head_seq": 6,
        "head_hash": None,
        "first_broken_seq": None,
        "checkpoints": 0,
        "witnessed": 0,
        "last_checkpoint_seq": None,
        "findings": [],
        "rejected_witnesses": [],
    }

    await tamper(app, TAMPERINGS[change], seq=4)

    found = await verify(client, tokens)
    assert (found["valid"], found["first_broken_seq"]) == (False, 4)
    assert found["events"] == (5 if change == "deleted" else 6)
    command = cli("audit", "verify", cwd=tmp_path, CALDICOTT_DATABASE_URL=database_url)
    assert command.returncode == 1
    assert json.loads(command.stdout)["first_broken_seq"] == 4
    assert "broken at seq 4" in command.stderr


async def test_verification_streams_in_batches_and_finds_a_break_in_a_later_batch(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    for _ in range(8):
        await submit(client, tokens, baseline_request())
    async with app.state.wiring.sessionmaker() as session:
        whole = await audit.verify(session=session, keys=app.state.wiring.audit_keys.published)
        batched = [
            await audit.verify(session=session, keys=app.state.wiring.audit_keys.published, batch_size=size)
            for size in (1, 2, 3, 9, 10)
        ]
    assert whole.valid and whole.events == 9
    assert all(result == whole for result in batched)

    await tamper(app, "UPDATE audit_events SET target_id = 'another-request' WHERE seq = :seq", seq=8)
    async with app.state.wiring.sessionmaker() as session:
        results = [
            await audit.verify(session=session, keys=app.state.wiring.audit_keys.published, batch_size=size)
            for size in (2, 3, 5000)
        ]
    assert [(result.valid, result.first_broken_seq, result.events, result.head_seq) for result in results] == [
        (False, 8, 9, 9)
    ] * 3


async def test_concurrent_submissions_leave_one_linear_chain(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    count = 50

    responses = await asyncio.gather(
        *(submit(client, tokens, changed({"reference": f"CASE-{n}"})) for n in range(count))
    )

    assert [response.status_code for response in responses] == [201] * count
    trail = await all_events(client, tokens)
    assert [event["seq"] for event in trail] == list(range(1, count + 2))
    assert sorted(event["target_id"] for event in trail if event["action"] == "submitted") == sorted(
        response.json()["id"] for response in responses
    )
    assert len({event["prev_hash"] for event in trail}) == len(trail)  # no forks
    result = await verify(client, tokens)
    assert (result["valid"], result["head_seq"], result["first_broken_seq"]) == (True, count + 2, None)


async def test_postgres_refuses_to_update_delete_or_truncate_the_trail(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, database_kind: str
) -> None:
    if database_kind != "postgres":
        pytest.skip("the append-only triggers are PostgreSQL's; SQLite has none")
    await register_organisation(client, tokens, "RXT01")
    for statement in (
        "UPDATE audit_events SET outcome = 'changed'",
        "DELETE FROM audit_events",
        "DELETE FROM audit_events WHERE seq = 999",
        "TRUNCATE audit_events",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with app.state.wiring.engine.begin() as connection:
                await connection.execute(text(statement))
    assert (await verify(client, tokens))["events"] == 1


def test_the_command_says_when_it_cannot_read_the_trail(tmp_path: Path) -> None:
    done = cli("audit", "verify", cwd=tmp_path, CALDICOTT_DATABASE_URL=UNREACHABLE_POSTGRES)
    assert done.returncode == 2
    assert "cannot read the audit trail" in done.stderr and done.stdout == ""


async def test_webhook_endpoint_changes_are_audited_and_never_their_secret(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    # A controller-wide endpoint receives every agency's events: adding one must not go unrecorded.
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "RXT02")
    agency = tokens.agency("RXT01")
    hook = {
        "url": "https://93.184.215.14/hook-Zebedee",
        "event_types": ["sharing_request.decided"],
        "description": "Quillfeather's case system",
    }
    mine = (await client.post("/v1/webhook-endpoints", json=hook, headers=agency)).json()
    controllers = (await client.post("/v1/webhook-endpoints", json=hook, headers=tokens.admin())).json()
    await submit(client, tokens, baseline_request())
    [delivery] = (await client.get(f"/v1/webhook-endpoints/{mine['id']}/deliveries", headers=agency)).json()["items"]
    assert (
        await client.post(f"/v1/webhook-endpoints/{mine['id']}/deliveries/{delivery['id']}/redeliver", headers=agency)
    ).status_code == 202
    rotated = (await client.post(f"/v1/webhook-endpoints/{mine['id']}/rotate-secret", headers=agency)).json()
    assert (
        await client.patch(
            f"/v1/webhook-endpoints/{mine['id']}", json={"enabled": False, "description": None}, headers=agency
        )
    ).status_code == 200
    assert (
        await client.patch(
            f"/v1/webhook-endpoints/{mine['id']}", json={"enabled": True}, headers=tokens.agency("RXT02")
        )
    ).status_code == 404
    assert (await client.delete(f"/v1/webhook-endpoints/{mine['id']}", headers=agency)).status_code == 204

    trail = [event for event in await all_events(client, tokens) if event["target_type"] == "webhook_endpoint"]
    assert [(event["action"], event["target_id"], event["outcome"], event["actor_sub"]) for event in trail] == [
        ("webhook_endpoint_registered", mine["id"], "scope organisation", "user-rxt01"),
        ("webhook_endpoint_registered", controllers["id"], "scope controller", "admin-1"),
        ("webhook_redelivery_requested", mine["id"], f"delivery {delivery['id']} was pending", "user-rxt01"),
        ("webhook_secret_rotated", mine["id"], "the previous secret also signs for 24 hours", "user-rxt01"),
        ("webhook_endpoint_changed", mine["id"], "changed enabled=false, description", "user-rxt01"),
        ("webhook_endpoint_deleted", mine["id"], "deleted with 1 delivery", "user-rxt01"),
    ]
    assert [event["target_id"] for event in await all_events(client, tokens, action="webhook_endpoint_registered")] == [
        mine["id"],
        controllers["id"],
    ]
    assert (await verify(client, tokens))["valid"] is True
    async with app.state.wiring.engine.connect() as connection:
        rows = repr((await connection.execute(text("SELECT * FROM audit_events"))).all())
    for secret in (mine["secret"], controllers["secret"], rotated["secret"], "whsec_", "Zebedee", "Quillfeather"):
        assert secret not in rows


AWKWARD_TEXT = [
    "caf\u00e9 \u00abrefer\u00bb",
    'quote " backslash \\ slash /',
    "tab\tnewline\ncontrol\x01\x1f del\x7f",
    "\u2028\u2029 \U0001f600 \ufeff",
    "",
]


async def test_events_of_any_text_verify_and_a_change_to_one_is_found(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    """Unicode, escapes and control characters hash as the standard library's canonical JSON, written and verified."""
    actor = Principal(sub="user-\u00e9\u00e8", org="RXT01", roles=frozenset({Role.GUARDIAN, Role.AUDITOR, Role.AGENCY}))
    async with app.state.wiring.sessionmaker() as session:
        for number, outcome in enumerate(AWKWARD_TEXT):
            await audit.record(
                session=session,
                actor=actor if number % 2 else None,
                action="read",
                target_type=AuditTarget.REPORT,
                target_id=f"r\u00e9port-{number}",
                outcome=outcome,
            )
        await session.commit()
    assert await audit.chain_pending(app.state.wiring.sessionmaker) == len(AWKWARD_TEXT)

    trail = await all_events(client, tokens)
    assert [event["outcome"] for event in trail] == AWKWARD_TEXT
    assert trail[1]["actor_roles"] == ["agency", "auditor", "guardian"]
    assert all(event["hash"] == expected_hash(event) for event in trail)
    async with app.state.wiring.sessionmaker() as session:
        assert [
            (await audit.verify(session=session, keys=app.state.wiring.audit_keys.published, batch_size=size)).valid
            for size in (1, 2, 5000)
        ] == [True] * 3

    await tamper(
        app, "UPDATE audit_events SET outcome = :outcome WHERE seq = 3", outcome=AWKWARD_TEXT[2].replace("\x01", "\x02")
    )
    async with app.state.wiring.sessionmaker() as session:
        results = [
            await audit.verify(session=session, keys=app.state.wiring.audit_keys.published, batch_size=size)
            for size in (1, 2, 5000)
        ]
    assert [(result.valid, result.first_broken_seq, result.events, result.head_seq) for result in results] == [
        (False, 3, 6, 6)
    ] * 3


@pytest.mark.parametrize(
    ("statement", "broken"),
    [
        (f"UPDATE audit_events SET prev_hash = {FLIP_FIRST_HEX_DIGIT.format(column='prev_hash')} WHERE seq = 4", 4),
        (f"UPDATE audit_events SET hash = {FLIP_FIRST_HEX_DIGIT.format(column='hash')} WHERE seq = 3", 3),
        ("DELETE FROM audit_events WHERE seq = 3", 3),
        ("DELETE FROM audit_events WHERE seq = 1", 1),
        ("DELETE FROM audit_events WHERE seq IN (4, 5, 6)", 4),
    ],
)
async def test_a_break_at_a_batch_boundary_is_found_at_its_seq(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, statement: str, broken: int
) -> None:
    """Each row is checked against the row before it, including the last row of the batch before."""
    await register_organisation(client, tokens, "RXT01")
    for _ in range(8):
        await submit(client, tokens, baseline_request())
    await tamper(app, statement)
    async with app.state.wiring.sessionmaker() as session:
        results = [
            await audit.verify(session=session, keys=app.state.wiring.audit_keys.published, batch_size=size)
            for size in (1, 3, 5000)
        ]
    assert {(result.valid, result.first_broken_seq, result.head_seq) for result in results} == {(False, broken, 9)}
    assert len({result.events for result in results}) == 1
