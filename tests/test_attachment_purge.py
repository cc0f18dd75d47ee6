"""Retention: an attachment's content is removed once its retention has ended, never before;
its row, its hash and the trail stay."""

import asyncio
import hashlib
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import col, update

from app import cli
from app.models.attachment import Attachment, AttachmentBlob, AttachmentChunk
from app.models.base import utcnow
from app.models.sharing_request import SharingRequest
from app.services.attachments import retention as attachment_retention
from app.services.attachments import store as attachment_store
from app.services.attachments.retention import PurgeReport
from tests.support import Tokens
from tests.test_attachments import PDF, TEXT, audit_events, auditor, count, guardian, new_request, stored_files, upload

YEARS_AGO = utcnow() - timedelta(days=7 * 365)
OLD_ONLY = PDF + b"% evidence only the old request has\n"
SHARED = PDF + b"% evidence both requests have\n"


async def backdate(app: FastAPI, request_id: str, when: datetime, *, attachments_too: bool = True) -> None:
    """Make the request's last change (and its uploads) `when`."""
    async with app.state.wiring.sessionmaker() as session:
        await session.exec(update(SharingRequest).where(col(SharingRequest.id) == request_id).values(updated_at=when))  # type: ignore[call-overload]
        if attachments_too:
            await session.exec(
                update(Attachment).where(col(Attachment.request_id) == request_id).values(uploaded_at=when)
            )  # type: ignore[call-overload]
        await session.commit()


async def purge(app: FastAPI, *, dry_run: bool, now: datetime | None = None) -> PurgeReport:
    return await attachment_retention.purge(
        sessionmaker=app.state.wiring.sessionmaker,
        store=app.state.wiring.attachment_store,
        retention_days=app.state.wiring.settings.attachment_retention_days,
        now=now or utcnow(),
        dry_run=dry_run,
    )


async def content_held(app: FastAPI, sha256: str) -> bool:
    """Whether the store still holds the content (a registered blob, and its chunks or its file)."""
    registered = await count(app, AttachmentBlob, col(AttachmentBlob.sha256) == sha256) == 1
    if isinstance(app.state.wiring.attachment_store, attachment_store.ChunkStore):
        return registered and await count(app, AttachmentChunk, col(AttachmentChunk.blob_key) == sha256) > 0
    return registered and sha256 in stored_files(app)


async def two_requests(client: httpx.AsyncClient, tokens: Tokens, app: FastAPI) -> dict[str, Any]:
    """An old request (retention ended) with two attachments, one sharing its content with a current request's."""
    old, current = await new_request(client, tokens), await new_request(client, tokens)
    agency = tokens.agency("RXT01")
    made = {
        "old": old,
        "current": current,
        "old_only": (await upload(client, agency, old, OLD_ONLY, kind="court_order")).json(),
        "old_shared": (await upload(client, agency, old, SHARED, kind="dpia")).json(),
        "current_shared": (await upload(client, guardian(tokens), current, SHARED, kind="dpia")).json(),
        "current_text": (await upload(client, agency, current, TEXT, kind="consent_form")).json(),
    }
    await backdate(app, old, YEARS_AGO)
    return made


async def test_a_dry_run_says_what_would_go_and_changes_nothing(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    made = await two_requests(client, tokens, app)
    files = stored_files(app)

    report = await purge(app, dry_run=True)

    assert {(p.attachment_id, p.content_removed) for p in report.purged} == {
        (made["old_only"]["id"], True),
        (made["old_shared"]["id"], False),
    }
    assert "would purge 2 attachments whose retention has ended; 1 contents removed" in report.lines(dry_run=True)
    assert await count(app, Attachment, col(Attachment.purged_at).is_not(None)) == 0
    assert await count(app, AttachmentBlob) == 3
    assert stored_files(app) == files
    assert await audit_events(client, tokens, made["old"], "attachment_purged") == []
    assert (await client.get(made["old_only"]["download"], headers=guardian(tokens))).content == OLD_ONLY


async def test_purge_removes_content_past_retention_and_keeps_the_row_and_hash(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    made = await two_requests(client, tokens, app)
    old_only, shared = made["old_only"]["sha256"], made["old_shared"]["sha256"]

    report = await purge(app, dry_run=False)

    assert {(p.attachment_id, p.sha256, p.content_removed) for p in report.purged} == {
        (made["old_only"]["id"], old_only, True),
        (made["old_shared"]["id"], shared, False),
    }
    assert not await content_held(app, old_only)
    assert await content_held(app, shared)
    gone = await client.get(made["old_only"]["download"], headers=guardian(tokens))
    assert (gone.status_code, gone.headers["content-type"]) == (410, "application/problem+json"), gone.text
    assert (await client.get(made["old_shared"]["download"], headers=guardian(tokens))).status_code == 410
    listed = (await client.get(f"/v1/sharing-requests/{made['old']}/attachments", headers=auditor(tokens))).json()[
        "items"
    ]
    assert sorted((item["id"], item["sha256"], item["kind"], item["size"]) for item in listed) == sorted(
        (made[key]["id"], made[key]["sha256"], made[key]["kind"], made[key]["size"])
        for key in ("old_only", "old_shared")
    )
    assert all(item["purged_at"] is not None for item in listed)
    # The current request's evidence, the shared content included, is untouched.
    for key, content in (("current_shared", SHARED), ("current_text", TEXT)):
        response = await client.get(made[key]["download"], headers=guardian(tokens))
        assert (response.status_code, response.content) == (200, content)
        assert hashlib.sha256(response.content).hexdigest() == made[key]["sha256"]
    purged = await audit_events(client, tokens, made["old"], "attachment_purged")
    assert sorted((event["actor_sub"], event["outcome"]) for event in purged) == sorted(
        [("system", f"purged sha256:{old_only}"), ("system", f"purged sha256:{shared}")]
    )
    assert f"sha256:{old_only}" in [
        event["outcome"] for event in await audit_events(client, tokens, made["old"], "attachment_added")
    ]
    assert (await client.get("/v1/audit/verify", headers=auditor(tokens))).json()["valid"] is True
    assert (await purge(app, dry_run=False)).purged == []  # nothing twice


async def test_the_last_attachment_naming_a_content_takes_it_with_it(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    made = await two_requests(client, tokens, app)
    await purge(app, dry_run=False)
    await backdate(app, made["current"], YEARS_AGO)

    report = await purge(app, dry_run=False)

    assert {(p.attachment_id, p.content_removed) for p in report.purged} == {
        (made["current_shared"]["id"], True),
        (made["current_text"]["id"], True),
    }
    assert await count(app, AttachmentBlob) == 0
    assert await count(app, AttachmentChunk) == 0
    assert await count(app, Attachment) == 4


@pytest.mark.parametrize(
    ("request_days", "upload_days", "purged"),
    [(2193, 2193, True), (2191, 2193, False), (2193, 2191, False), (10, 4000, False)],
    ids=["both-ended", "request-changed-since", "uploaded-since", "request-recent"],
)
async def test_retention_runs_from_the_later_of_the_last_change_and_the_upload(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, request_days: int, upload_days: int, purged: bool
) -> None:
    assert app.state.wiring.settings.attachment_retention_days == 2192
    request_id = await new_request(client, tokens)
    created = (await upload(client, guardian(tokens), request_id, PDF + b"% retention\n")).json()
    now = utcnow()
    await backdate(app, request_id, now - timedelta(days=request_days), attachments_too=False)
    async with app.state.wiring.sessionmaker() as session:
        await session.exec(
            update(Attachment)
            .where(col(Attachment.id) == created["id"])
            .values(uploaded_at=now - timedelta(days=upload_days))
        )  # type: ignore[call-overload]
        await session.commit()

    report = await purge(app, dry_run=False, now=now)

    assert [p.attachment_id for p in report.purged] == ([created["id"]] if purged else [])
    assert await content_held(app, created["sha256"]) is not purged


async def test_the_command_prints_what_it_did(
    client: httpx.AsyncClient,
    tokens: Tokens,
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    made = await two_requests(client, tokens, app)
    monkeypatch.setattr(cli, "get_settings", lambda: app.state.wiring.settings)

    assert await asyncio.to_thread(cli.main, ["attachments", "purge", "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert f"would purge attachment {made['old_only']['id']} of request {made['old']} (court_order" in dry
    assert await count(app, Attachment, col(Attachment.purged_at).is_not(None)) == 0

    assert await asyncio.to_thread(cli.main, ["attachments", "purge"]) == 0
    done = capsys.readouterr().out
    assert (
        f"purged attachment {made['old_only']['id']}" in done
        and f"sha256:{made['old_only']['sha256']}): content removed" in done
    )
    assert "purged 2 attachments whose retention has ended; 1 contents removed" in done
    assert await count(app, Attachment, col(Attachment.purged_at).is_not(None)) == 2
