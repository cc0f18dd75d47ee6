"""A 10 MiB upload is streamed: the service never holds the file, nor much of it, in memory.

The body is generated lazily, so the client allocates nothing big: the multipart preamble,
then one 64 KiB block sent again and again, then the closing boundary. tracemalloc counts
every allocation Python's allocators make (the database driver's buffers included) between
the baseline and the upload's answer.
"""

import hashlib
import tracemalloc
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from app.main import create_app
from app.models.vocabulary import Role
from app.services.attachments.store import CHUNK_BYTES
from tests.support import Tokens, settings_for
from tests.test_attachments import PDF, new_request, upload

MIB = 1024 * 1024
BLOCK = bytes(range(256)) * 256  # 64 KiB, no CRLF in it, so never a boundary
HEAD = b"%PDF-1.7\n"


def ten_mib_pdf() -> tuple[int, bytes, str]:
    """How many whole blocks follow the head, the last partial block, and the SHA-256 of the whole 10 MiB."""
    blocks, rest = divmod(10 * MIB - len(HEAD), len(BLOCK))
    tail = BLOCK[:rest]
    digest = hashlib.sha256(HEAD)
    for _ in range(blocks):
        digest.update(BLOCK)
    digest.update(tail)
    return blocks, tail, digest.hexdigest()


async def lazy_body(boundary: str, blocks: int, tail: bytes) -> AsyncIterator[bytes]:
    """The multipart body a piece at a time: every block sent is the same object."""
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\ncourt_order\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="order.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode() + HEAD
    for _ in range(blocks):
        yield BLOCK
    yield tail
    yield f"\r\n--{boundary}--\r\n".encode()


@pytest.fixture
async def fresh(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client on an app of its own, so that its few pooled connections are the ones the warm-up uploads prepared."""
    application = create_app(settings_for(database_url))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as http:
        yield http
    await application.state.wiring.engine.dispose()


async def test_a_10_mib_pdf_is_stored_without_holding_it_in_memory(
    client: httpx.AsyncClient, fresh: httpx.AsyncClient, tokens: Tokens, database_kind: str
) -> None:
    request_id = await new_request(client, tokens)
    guardian = tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")
    blocks, tail, sha256 = ten_mib_pdf()
    for number in range(3):  # warm: compiled statements, and statements prepared on each pooled connection
        assert (await upload(fresh, guardian, request_id, PDF + bytes([number]) * 300_000)).status_code == 201
    boundary = uuid.uuid4().hex
    headers = guardian | {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    url = f"/v1/sharing-requests/{request_id}/attachments"

    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        response = await fresh.post(url, content=lazy_body(boundary, blocks, tail), headers=headers)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert response.status_code == 201, response.text
    assert (response.json()["size"], response.json()["sha256"]) == (10 * MIB, sha256)
    above = peak - baseline
    print(
        f"\n{database_kind}: peak {above / 1024:.0f} KiB above the baseline while uploading 10 MiB "
        f"(chunk {CHUNK_BYTES // 1024} KiB)"
    )
    assert above < 3 * CHUNK_BYTES, (
        f"{database_kind}: the upload raised the peak by {above} bytes, more than three chunks ({3 * CHUNK_BYTES})"
    )
    download = await fresh.get(response.json()["download"], headers=guardian)
    assert hashlib.sha256(download.content).hexdigest() == sha256
