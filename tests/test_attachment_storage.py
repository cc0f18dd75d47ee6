"""Attachment storage under failure and contention:
nothing half-stored, leftovers swept, one content however many send it at once."""

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from starlette.requests import Request
from starlette.types import Message

from app.http.multipart import MalformedForm, body_reader
from app.models.attachment import Attachment, AttachmentBlob, AttachmentChunk, MediaType
from app.models.base import utcnow
from app.models.sharing_request import SharingRequest
from app.models.vocabulary import Role
from app.principal import Principal
from app.services.attachments import quotas
from app.services.attachments import store as attachment_store
from app.services.attachments import uploads as attachments
from app.services.attachments.uploads import BodyReader
from tests.factories import register_agreement
from tests.support import Tokens
from tests.test_attachment_purge import purge
from tests.test_attachments import PDF, count, guardian, new_request, nothing_stored_since, stored_files, upload

GUARDIAN = Principal(sub="guardian-1", org="CONTROLLER", roles=frozenset({Role.GUARDIAN}))
CONTENT = PDF + bytes(range(256)) * 3000  # three chunks on PostgreSQL
BOUNDARY = "b0undary"


def body(content: bytes = CONTENT) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="kind"\r\n\r\ncourt_order\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="order.pdf"\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def http_request(app: FastAPI, messages: list[Message]) -> Request:
    """A Starlette request whose body arrives as these ASGI messages."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/sharing-requests/x/attachments",
        "headers": [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())],
        "app": app,
    }
    pending = list(messages)

    async def receive() -> Message:
        return pending.pop(0)

    return Request(scope, receive)


def in_pieces(data: bytes, size: int = 65536) -> list[Message]:
    return [
        {"type": "http.request", "body": data[start : start + size], "more_body": True}
        for start in range(0, len(data), size)
    ]


def body_of(app: FastAPI, messages: list[Message]) -> BodyReader:
    """The upload's body as the edge hands it to the service: read from these ASGI messages as multipart/form-data."""
    return body_reader(http_request(app, messages), max_file_bytes=app.state.wiring.settings.attachment_max_bytes)


async def receive_and_record(
    app: FastAPI, request_id: str, messages: list[Message], then: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Receive an upload through the service and record it on the request;
    `then` runs inside the block, after the rows are written."""
    async with app.state.wiring.sessionmaker() as session:
        sharing_request = await session.get(SharingRequest, request_id)
        assert sharing_request is not None
        async with attachments.receive(
            body_of(app, messages), session=session, store=app.state.wiring.attachment_store
        ) as received:
            await attachments.record_for_request(
                session=session,
                principal=GUARDIAN,
                request=sharing_request,
                received=received,
                limits=quotas.limits_from(app.state.wiring.settings),
            )
            if then is not None:
                await then()


async def test_an_error_after_the_rows_are_written_leaves_nothing_stored(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    request_id = await new_request(client, tokens)
    before = stored_files(app)

    async def fail() -> None:
        raise RuntimeError("after the content was placed under its hash")

    with pytest.raises(RuntimeError):
        await receive_and_record(
            app, request_id, [*in_pieces(body()), {"type": "http.request", "body": b"", "more_body": False}], then=fail
        )

    await nothing_stored_since(app, before)
    # The same body, recorded to the end, is stored.
    await receive_and_record(
        app, request_id, [*in_pieces(body()), {"type": "http.request", "body": b"", "more_body": False}]
    )
    assert (await count(app, Attachment), await count(app, AttachmentBlob)) == (1, 1)


async def test_a_client_that_goes_away_mid_upload_leaves_nothing_stored(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    request_id = await new_request(client, tokens)
    before = stored_files(app)
    half = in_pieces(body())[: len(in_pieces(body())) // 2]

    with pytest.raises(MalformedForm):
        await receive_and_record(app, request_id, [*half, {"type": "http.disconnect"}])

    await nothing_stored_since(app, before)


async def test_the_same_content_sent_at_once_is_stored_once(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    request_id = await new_request(client, tokens)
    responses = await asyncio.gather(
        *(upload(client, guardian(tokens), request_id, CONTENT, kind=kind) for kind in ("court_order", "dpia", "other"))
    )
    assert [response.status_code for response in responses] == [201, 201, 201], [
        response.text for response in responses
    ]
    assert (await count(app, Attachment), await count(app, AttachmentBlob)) == (3, 1)
    for response in responses:
        assert (
            hashlib.sha256(
                (await client.get(response.json()["download"], headers=guardian(tokens))).content
            ).hexdigest()
            == response.json()["sha256"]
        )
    assert [name for name in stored_files(app) if name.startswith(".")] == []


async def test_leftovers_of_interrupted_uploads_are_swept_after_a_day(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    request_id = await new_request(client, tokens)
    kept = (await upload(client, guardian(tokens), request_id, PDF + b"% kept\n")).json()["sha256"]
    store = app.state.wiring.attachment_store
    old, fresh = utcnow() - timedelta(days=2), utcnow()
    if isinstance(store, attachment_store.ChunkStore):
        rows = [
            {"blob_key": f"staging:{name}", "seq": 0, "content": b"x", "created_at": when}
            for name, when in (("old", old), ("fresh", fresh))
        ]
        async with app.state.wiring.engine.begin() as connection:
            await connection.execute(insert(AttachmentChunk), rows)
        expected_left = ["staging:fresh"]
    else:
        assert isinstance(store, attachment_store.FolderStore)
        names = {".upload-old.part": old, "ab" * 32: old, ".upload-fresh.part": fresh, kept: old}
        for name, when in names.items():
            path = store.folder / name
            if name != kept:
                path.write_bytes(b"x")
            os.utime(path, (when.timestamp(), when.timestamp()))
        expected_left = [".upload-fresh.part"]

    report = await purge(app, dry_run=False)

    assert report.leftovers_removed == (1 if isinstance(store, attachment_store.ChunkStore) else 2)
    if isinstance(store, attachment_store.ChunkStore):
        async with app.state.wiring.sessionmaker() as session:
            keys = (await session.exec(select(AttachmentChunk.blob_key))).all()
        assert sorted(key for key in keys if key.startswith("staging:")) == expected_left
    else:
        left = stored_files(app)
        assert (
            [name for name in left if name.startswith(".")] == expected_left and kept in left and "ab" * 32 not in left
        )
        (store.folder / ".upload-fresh.part").unlink()
    assert (await client.get(f"/v1/sharing-requests/{request_id}/attachments", headers=guardian(tokens))).json()[
        "items"
    ][0]["sha256"] == kept


async def test_an_attachment_belongs_to_a_request_or_an_agreement_never_both_nor_neither(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    request_id = await new_request(client, tokens)
    await register_agreement(client, tokens)
    row: dict[str, Any] = {
        "kind": "agreement",
        "media_type": MediaType.PDF,
        "size": 1,
        "sha256": "0" * 64,
        "uploaded_by": "admin-1",
        "uploaded_by_org": "CONTROLLER",
        "uploaded_at": utcnow(),
    }
    for number, owners in enumerate(({"request_id": request_id, "agreement_code": "ISA-TEST"}, {})):
        with pytest.raises(IntegrityError):
            async with app.state.wiring.engine.begin() as connection:
                await connection.execute(insert(Attachment), [row | owners | {"id": f"both-or-neither-{number}"}])
    # The agreement's signed copy is recorded with the same function the lead's agreement route will call.
    messages = [*in_pieces(body()), {"type": "http.request", "body": b"", "more_body": False}]
    async with (
        app.state.wiring.sessionmaker() as session,
        attachments.receive(
            body_of(app, messages), session=session, store=app.state.wiring.attachment_store
        ) as received,
    ):
        copy = await attachments.record(
            session=session, principal=GUARDIAN, received=received, agreement_code="ISA-TEST"
        )
    assert (copy.request_id, copy.agreement_code, copy.sha256) == (
        None,
        "ISA-TEST",
        hashlib.sha256(CONTENT).hexdigest(),
    )
    async with app.state.wiring.sessionmaker() as session:
        assert (await session.exec(select(Attachment).where(Attachment.request_id == request_id))).all() == []
