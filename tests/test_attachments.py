"""Evidence attached to sharing requests over HTTP: who may attach, list and download it, what is accepted,
what is stored, what is audited."""

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text

from app.models.attachment import Attachment, AttachmentBlob, AttachmentChunk
from app.models.vocabulary import AttachmentKind, Role
from app.models.webhook import OutboxEvent
from app.services.attachments import store as attachment_store
from app.services.attachments import verifications as attachment_verifications
from tests.factories import register_organisation, submit
from tests.rules.baseline import baseline_request
from tests.support import Tokens

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(17)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(20) + b"\xff\xd9"
TEXT = "Consent given by the patient in clinic on 24 November 2026.\r\n\tWitnessed: Dr Ní Bhriain.\n".encode()
VERIFIED_ORDER = {
    "outcome": "verified",
    "checked": "Read the sealed order; the family court office confirmed the case number by telephone.",
    "order": {
        "issued_by": "Family Court at Leeds",
        "issued_on": "2026-11-20",
        "number": "ZW26C00123",
        "sealed_or_signed": True,
        "in_date": True,
        "addressed_to_controller": True,
        "covers_information": True,
    },
}
EXECUTABLE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + bytes(48)
    + b"This program cannot be run in DOS mode."
)


def guardian(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")


def auditor(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("CONTROLLER", Role.AUDITOR, sub="auditor-1")


async def new_request(client: httpx.AsyncClient, tokens: Tokens, org: str = "RXT01") -> str:
    """A request submitted by `org` (registered first, if it is not yet)."""
    body = {"code": org, "name": f"Organisation {org}", "type": "nhs_trust", "dspt_status": "standards_met"}
    registered = await client.post("/v1/organisations", json=body, headers=tokens.admin())
    assert registered.status_code in (201, 409), registered.text
    response = await submit(client, tokens, baseline_request(), org=org)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    request_id: str,
    content: bytes = PDF,
    *,
    kind: str | None = "court_order",
    filename: str = "order.pdf",
    declared: str = "application/pdf",
    fields: dict[str, str] | None = None,
) -> httpx.Response:
    """POST one file as multipart/form-data; the client's declared Content-Type is whatever the test says."""
    data = ({"kind": kind} if kind is not None else {}) | (fields or {})
    return await client.post(
        f"/v1/sharing-requests/{request_id}/attachments",
        data=data,
        files={"file": (filename, content, declared)},
        headers=headers,
    )


def problem_fields(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return [error["field"] for error in response.json().get("errors", [])]


async def count(app: FastAPI, model: type, *where: Any) -> int:
    async with app.state.wiring.sessionmaker() as session:
        return int((await session.exec(select(func.count()).select_from(model).where(*where))).scalar_one())  # type: ignore[call-overload]


def stored_files(app: FastAPI) -> list[str]:
    """Names in the SQLite store's folder (none on PostgreSQL, which keeps content in the database)."""
    store = app.state.wiring.attachment_store
    if not isinstance(store, attachment_store.FolderStore) or not store.folder.is_dir():
        return []
    return sorted(path.name for path in Path(store.folder).iterdir())


async def nothing_stored_since(app: FastAPI, files: list[str]) -> None:
    """No attachment row, no content registered, no chunk and no new or temporary file."""
    assert await count(app, Attachment) == 0
    assert await count(app, AttachmentBlob) == 0
    assert await count(app, AttachmentChunk) == 0
    assert stored_files(app) == files


async def audit_events(client: httpx.AsyncClient, tokens: Tokens, request_id: str, action: str) -> list[dict[str, Any]]:
    response = await client.get(
        "/v1/audit/events", params={"request_id": request_id, "action": action}, headers=auditor(tokens)
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_an_agency_attaches_a_court_order_found_to_be_a_pdf_by_its_bytes(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    request_id = await new_request(client, tokens)
    agency = tokens.agency("RXT01")

    response = await upload(
        client, agency, request_id, PDF, filename="C:\\scans\\order.bin", declared="application/octet-stream"
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert (
        response.headers["location"]
        == f"/v1/sharing-requests/{request_id}/attachments/{body['id']}"
        == body["download"]
    )
    assert body | {"id": None, "uploaded_at": None} == {
        "id": None,
        "request_id": request_id,
        "agreement_code": None,
        "kind": "court_order",
        "filename": "order.bin",
        "description": None,
        "media_type": "application/pdf",
        "size": len(PDF),
        "sha256": hashlib.sha256(PDF).hexdigest(),
        "uploaded_by": "user-rxt01",
        "uploaded_by_org": "RXT01",
        "uploaded_at": None,
        "purged_at": None,
        "download": body["download"],
        "verification": None,
    }
    listed = await client.get(f"/v1/sharing-requests/{request_id}/attachments", headers=agency)
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"items": [body], "next_cursor": None}


async def test_the_download_is_the_content_with_its_hash_and_safe_headers(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    request_id = await new_request(client, tokens)
    # Sent raw, as some clients do: a folder, a quoted quote and a control character in the name
    # (httpx would percent-encode them).
    disposition = 'form-data; name="file"; filename="..\\\\scans/na\u00efve \\"consent\\"\x07.txt"'.encode()
    body = (
        b"--XYZ\r\nContent-Disposition: form-data; name=kind\r\n\r\nconsent_form\r\n--XYZ\r\nContent-Disposition: "
        + disposition
    )
    body += b"\r\nContent-Type: application/pdf\r\n\r\n" + TEXT + b"\r\n--XYZ--\r\n"
    headers = tokens.agency("RXT01") | {"Content-Type": "multipart/form-data; boundary=XYZ"}
    created = await client.post(f"/v1/sharing-requests/{request_id}/attachments", content=body, headers=headers)
    assert created.status_code == 201, created.text
    assert (created.json()["filename"], created.json()["media_type"]) == ('naïve "consent".txt', "text/plain")

    response = await client.get(created.json()["download"], headers=guardian(tokens))

    assert response.status_code == 200, response.text
    assert response.content == TEXT
    assert hashlib.sha256(response.content).hexdigest() == created.json()["sha256"]
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == str(len(TEXT))
    assert response.headers["etag"] == f'"{created.json()["sha256"]}"'
    assert response.headers["x-content-type-options"] == "nosniff"
    assert (
        response.headers["content-disposition"]
        == "attachment; filename=\"na_ve _consent_.txt\"; filename*=UTF-8''na%C3%AFve%20%22consent%22.txt"
    )


@pytest.mark.parametrize(
    ("content", "media_type"),
    [(PDF, "application/pdf"), (PNG, "image/png"), (JPEG, "image/jpeg"), (TEXT, "text/plain")],
)
async def test_each_accepted_kind_of_content_is_recognised(
    client: httpx.AsyncClient, tokens: Tokens, content: bytes, media_type: str
) -> None:
    request_id = await new_request(client, tokens)
    response = await upload(client, guardian(tokens), request_id, content, kind="other", declared="text/html")
    assert (response.status_code, response.json()["media_type"]) == (201, media_type), response.text
    assert (await client.get(response.json()["download"], headers=auditor(tokens))).content == content


async def test_who_may_attach_list_and_download(client: httpx.AsyncClient, tokens: Tokens) -> None:
    request_id = await new_request(client, tokens)
    await register_organisation(client, tokens, "RXT02")
    other = tokens.agency("RXT02")
    by_guardian = await upload(client, guardian(tokens), request_id, PDF, kind="police_request_form")
    assert by_guardian.status_code == 201, by_guardian.text
    download = by_guardian.json()["download"]

    assert (await upload(client, other, request_id, PDF)).status_code == 404
    assert (await upload(client, auditor(tokens), request_id, PDF)).status_code == 403
    assert (await upload(client, tokens.admin(), request_id, PDF)).status_code == 403
    for path in (f"/v1/sharing-requests/{request_id}/attachments", download):
        refused = await client.get(path, headers=other)
        assert (refused.status_code, refused.headers["content-type"]) == (404, "application/problem+json"), refused.text
        for allowed in (tokens.agency("RXT01"), guardian(tokens), auditor(tokens)):
            assert (await client.get(path, headers=allowed)).status_code == 200
    # An attachment is found only under its own request.
    elsewhere = await new_request(client, tokens, "RXT02")
    assert (
        await client.get(
            f"/v1/sharing-requests/{elsewhere}/attachments/{by_guardian.json()['id']}", headers=guardian(tokens)
        )
    ).status_code == 404
    assert await count(app_of(client), Attachment) == 1


def app_of(client: httpx.AsyncClient) -> FastAPI:
    return client._transport.app  # type: ignore[attr-defined,no-any-return]


async def test_the_upload_and_each_download_are_in_the_audit_chain(client: httpx.AsyncClient, tokens: Tokens) -> None:
    request_id = await new_request(client, tokens)
    created = await upload(client, tokens.agency("RXT01"), request_id, PDF, kind="dpia")
    sha256 = created.json()["sha256"]

    for headers in (guardian(tokens), auditor(tokens)):
        assert (await client.get(created.json()["download"], headers=headers)).status_code == 200

    [added] = await audit_events(client, tokens, request_id, "attachment_added")
    assert (added["outcome"], added["actor_sub"], added["target_id"]) == (f"sha256:{sha256}", "user-rxt01", request_id)
    reads = await audit_events(client, tokens, request_id, "attachment_read")
    assert [(read["actor_sub"], read["outcome"]) for read in reads] == [
        ("guardian-1", f"sha256:{sha256}"),
        ("auditor-1", f"sha256:{sha256}"),
    ]
    # Listing is not a read of the evidence itself; a refused download leaves nothing.
    await client.get(f"/v1/sharing-requests/{request_id}/attachments", headers=guardian(tokens))
    await client.get(f"/v1/sharing-requests/{request_id}/attachments/no-such-id", headers=guardian(tokens))
    assert len(await audit_events(client, tokens, request_id, "attachment_read")) == 2
    verified = await client.get("/v1/audit/verify", headers=auditor(tokens))
    assert verified.json()["valid"] is True, verified.text


async def test_subscribers_hear_of_the_upload(client: httpx.AsyncClient, tokens: Tokens) -> None:
    request_id = await new_request(client, tokens)
    assert (await upload(client, guardian(tokens), request_id, PDF)).status_code == 201
    async with app_of(client).state.wiring.sessionmaker() as session:
        [event] = (
            (await session.exec(select(OutboxEvent).where(OutboxEvent.type == "sharing_request.attachment_added")))
            .scalars()
            .all()
        )  # type: ignore[call-overload]
    assert event.request_id == request_id
    assert set(event.payload["data"]) == {
        "id",
        "reference",
        "sequence",
        "status",
        "outcome",
        "verdict",
        "conditions",
        "ready_to_disclose",
        "open_checks",
        "link",
    }


async def test_identical_content_is_stored_once(client: httpx.AsyncClient, tokens: Tokens, app: FastAPI) -> None:
    first_request = await new_request(client, tokens)
    second_request = await new_request(client, tokens, "RXT02")
    content = PDF + bytes(range(256)) * 2048  # three chunks on PostgreSQL
    sha256 = hashlib.sha256(content).hexdigest()

    for request_id, org in ((first_request, "RXT01"), (second_request, "RXT02"), (first_request, "RXT01")):
        response = await upload(client, tokens.agency(org), request_id, content, kind="consent_form")
        assert (response.status_code, response.json()["sha256"]) == (201, sha256), response.text

    assert await count(app, Attachment) == 3
    assert await count(app, AttachmentBlob) == 1
    if isinstance(app.state.wiring.attachment_store, attachment_store.ChunkStore):
        assert await count(app, AttachmentChunk) == 3
        assert await count(app, AttachmentChunk, AttachmentChunk.blob_key == sha256) == 3
    else:
        assert await count(app, AttachmentChunk) == 0
        assert [name for name in stored_files(app) if name.startswith(".")] == []
        assert sha256 in stored_files(app)
        store = app.state.wiring.attachment_store
        assert isinstance(store, attachment_store.FolderStore)
        assert ((store.folder / sha256).stat().st_mode & 0o777, store.folder.stat().st_mode & 0o777) == (
            0o600,
            0o700,
        )  # confidential: the owner's only
    downloads = [
        (await client.get(f"/v1/sharing-requests/{first_request}/attachments", headers=guardian(tokens))).json()[
            "items"
        ]
    ]
    for item in downloads[0]:
        assert (await client.get(item["download"], headers=guardian(tokens))).content == content


async def test_an_executable_named_pdf_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    request_id = await new_request(client, tokens)
    before = stored_files(app)
    for content in (EXECUTABLE, b"\x7fELF\x02\x01\x01\x00" + bytes(56), EXECUTABLE + bytes(600_000)):
        response = await upload(
            client, tokens.agency("RXT01"), request_id, content, filename="order.pdf", declared="application/pdf"
        )
        assert response.status_code == 415, response.text
        assert problem_fields(response) == ["file"]
        assert "executable" in response.json()["detail"]
    await nothing_stored_since(app, before)


@pytest.mark.parametrize(
    "content",
    [b"notes\x00more notes", "caf\u00e9 \x1b[31m".encode(), b"\xc3\x28 not UTF-8", b"A" * 700_000 + b"\x00"],
    ids=["nul", "escape", "bad-utf8", "nul-after-chunks"],
)
async def test_text_that_is_not_clean_utf8_is_refused(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, content: bytes
) -> None:
    request_id = await new_request(client, tokens)
    before = stored_files(app)
    response = await upload(
        client, tokens.agency("RXT01"), request_id, content, filename="notes.txt", declared="text/plain"
    )
    assert response.status_code == 415, response.text
    assert problem_fields(response) == ["file"]
    await nothing_stored_since(app, before)


async def test_a_file_over_the_limit_is_413_and_nothing_is_stored(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    request_id = await new_request(client, tokens)
    before = stored_files(app)
    limit = app.state.wiring.settings.attachment_max_bytes
    assert limit == 10 * 1024 * 1024

    response = await upload(client, tokens.agency("RXT01"), request_id, b"%PDF-1.7\n" + bytes(11 * 1024 * 1024))

    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert str(limit) in response.json()["detail"]
    assert response.headers["connection"] == "close"
    await nothing_stored_since(app, before)
    exactly = await upload(client, tokens.agency("RXT01"), request_id, b"%PDF-1.7\n" + bytes(limit - 9))
    assert (exactly.status_code, exactly.json()["size"]) == (201, limit), exactly.text


@pytest.mark.parametrize(
    ("fields", "kind", "status", "field"),
    [
        ({}, "warrant", 422, "kind"),
        ({}, None, 422, "kind"),
        ({"reference": "CASE-1"}, "dpia", 422, "reference"),
        ({"description": "x" * 1001}, "dpia", 422, "description"),
    ],
    ids=["unknown-kind", "missing-kind", "unknown-field", "long-description"],
)
async def test_bad_fields_are_422_naming_the_field(
    client: httpx.AsyncClient,
    tokens: Tokens,
    app: FastAPI,
    fields: dict[str, str],
    kind: str | None,
    status: int,
    field: str,
) -> None:
    request_id = await new_request(client, tokens)
    before = stored_files(app)
    response = await upload(client, tokens.agency("RXT01"), request_id, PDF, kind=kind, fields=fields)
    assert response.status_code == status, response.text
    assert problem_fields(response) == [field]
    await nothing_stored_since(app, before)


async def test_a_missing_or_empty_file_is_422_naming_file(client: httpx.AsyncClient, tokens: Tokens) -> None:
    request_id = await new_request(client, tokens)
    url, agency = f"/v1/sharing-requests/{request_id}/attachments", tokens.agency("RXT01")
    no_file = await client.post(url, files={"kind": (None, "dpia")}, headers=agency)
    assert (no_file.status_code, problem_fields(no_file)) == (422, ["file"]), no_file.text
    empty = await upload(client, agency, request_id, b"")
    assert (empty.status_code, problem_fields(empty)) == (422, ["file"]), empty.text


async def test_a_body_that_is_not_well_formed_multipart_is_refused(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    request_id = await new_request(client, tokens)
    before = stored_files(app)
    url, agency = f"/v1/sharing-requests/{request_id}/attachments", tokens.agency("RXT01")
    part = b'--XYZ\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n' + PDF
    cases = [
        ({"Content-Type": "application/json"}, b'{"kind": "dpia"}', 415),
        ({"Content-Type": "multipart/form-data"}, part, 400),  # no boundary
        ({"Content-Type": "multipart/form-data; boundary=XYZ"}, part, 400),  # never closed
        (
            {"Content-Type": "multipart/form-data; boundary=XYZ"},
            b"--XYZ\r\nno header separator\r\n\r\n--XYZ--\r\n",
            400,
        ),
    ]
    for headers, body, status in cases:
        response = await client.post(url, content=body, headers=agency | headers)
        assert response.status_code == status, response.text
        assert problem_fields(response) == ["body"]
    await nothing_stored_since(app, before)


async def test_the_evidence_that_counts_on_each_request_is_what_a_guardian_verified(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    first, second = await new_request(client, tokens), await new_request(client, tokens)
    ids = [
        (await upload(client, guardian(tokens), first, PDF + kind.encode(), kind=kind)).json()["id"]
        for kind in ("court_order", "dpia", "court_order")
    ]
    assert (await upload(client, guardian(tokens), second, PDF, kind="dpia")).status_code == 201
    base = f"/v1/sharing-requests/{first}/attachments"
    verified = await client.post(f"{base}/{ids[0]}/verifications", json=VERIFIED_ORDER, headers=guardian(tokens))
    rejected = await client.post(
        f"{base}/{ids[1]}/verifications",
        json={"outcome": "rejected", "checked": "A blank page."},
        headers=guardian(tokens),
    )
    assert (verified.status_code, rejected.status_code) == (201, 201), (verified.text, rejected.text)

    async with app.state.wiring.sessionmaker() as session:
        found = await attachment_verifications.verified_by_request(session, [first, second, "no-such-request"])
    [counted] = found[first]
    assert (counted.attachment_id, counted.kind, counted.verified_by) == (
        ids[0],
        AttachmentKind.COURT_ORDER,
        "guardian-1",
    )
    assert counted.verification_id == verified.json()["verification"]["id"]
    assert (found[second], found["no-such-request"]) == ((), ())


async def test_the_list_is_paged_oldest_first(client: httpx.AsyncClient, tokens: Tokens) -> None:
    request_id = await new_request(client, tokens)
    ids = [
        (await upload(client, guardian(tokens), request_id, PDF + str(number).encode())).json()["id"]
        for number in range(3)
    ]
    url = f"/v1/sharing-requests/{request_id}/attachments"
    first = (await client.get(url, params={"limit": 2}, headers=guardian(tokens))).json()
    second = (
        await client.get(url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=guardian(tokens))
    ).json()
    assert [item["id"] for item in first["items"] + second["items"]] == ids
    assert second["next_cursor"] is None
    forged = await client.get(url, params={"cursor": "bm90LWEtY3Vyc29y"}, headers=guardian(tokens))
    assert (forged.status_code, problem_fields(forged)) == (422, ["cursor"])


async def test_uploads_are_exempt_from_the_body_limit_and_nothing_else_is(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    from app.http.limits import streams_its_own_body

    def scope(method: str, path: str) -> dict[str, Any]:
        return {"type": "http", "method": method, "path": path}

    assert streams_its_own_body(scope("POST", "/v1/sharing-requests/abc/attachments"))
    for method, path in [
        ("GET", "/v1/sharing-requests/abc/attachments"),
        ("POST", "/v1/sharing-requests"),
        ("POST", "/v1/sharing-requests/abc/attachments/def"),
        ("POST", "/v1/sharing-requests/abc/review/attachments"),
        ("POST", "/v1/sharing-requests/abc/amendments"),
    ]:
        assert not streams_its_own_body(scope(method, path)), (method, path)


async def test_the_database_holds_content_in_bounded_chunks(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, database_kind: str
) -> None:
    if database_kind != "postgres":
        pytest.skip("SQLite keeps content in files")
    request_id = await new_request(client, tokens)
    content = PDF + bytes(range(256)) * 4000  # 1 MB: four chunks
    created = await upload(client, guardian(tokens), request_id, content)
    async with app.state.wiring.engine.connect() as connection:
        sizes = (
            await connection.execute(text("SELECT seq, length(content) FROM attachment_chunks ORDER BY seq"))
        ).all()
    chunk = attachment_store.CHUNK_BYTES
    assert [size for _, size in sizes] == [chunk] * (len(content) // chunk) + [len(content) % chunk]
    assert [seq for seq, _ in sizes] == list(range(len(sizes)))
    assert (await client.get(created.json()["download"], headers=guardian(tokens))).content == content
