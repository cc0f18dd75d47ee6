"""An agreement's documents: its signed copy and DPIA, uploaded by an admin, read by overseers,
each upload and download audited."""

import hashlib

import httpx
import pytest

from app.models.vocabulary import Role
from tests.factories import patch_current, register_agreement, register_organisation
from tests.support import Tokens

# Larger than the 256 KiB body limit of other routes: the upload route streams and limits its own body.
SIGNED = b"%PDF-1.7\n" + b"0" * (300 * 1024) + b"\n%%EOF\n"


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    code: str = "ISA-TEST",
    kind: str = "agreement",
    content: bytes = SIGNED,
) -> httpx.Response:
    return await client.post(
        f"/v1/sharing-agreements/{code}/attachments",
        data={"kind": kind},
        files={"file": ("signed agreement.pdf", content, "application/pdf")},
        headers=headers,
    )


async def audit_outcomes(client: httpx.AsyncClient, tokens: Tokens, action: str) -> list[str]:
    """The outcomes of the audit trail's events of one action, once every event is chained."""
    for _ in range(100):
        if (await client.get("/v1/audit/verify", headers=tokens.headers("CONTROLLER", Role.AUDITOR))).json().get(
            "pending", 0
        ) == 0:
            break
    events = (
        await client.get("/v1/audit/events", params={"limit": 200}, headers=tokens.headers("CONTROLLER", Role.AUDITOR))
    ).json()["items"]
    return [event["outcome"] for event in events if event["action"] == action]


async def test_an_admin_keeps_the_signed_copy_and_overseers_read_it(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_agreement(client, tokens)

    uploaded = await upload(client, tokens.admin())

    assert uploaded.status_code == 201, uploaded.text
    document = uploaded.json()
    digest = hashlib.sha256(SIGNED).hexdigest()
    assert (document["kind"], document["sha256"], document["size"], document["media_type"]) == (
        "agreement",
        digest,
        len(SIGNED),
        "application/pdf",
    )
    assert (
        uploaded.headers["Location"]
        == document["download"]
        == f"/v1/sharing-agreements/ISA-TEST/attachments/{document['id']}"
    )
    for role in (Role.ADMIN, Role.GUARDIAN, Role.AUDITOR):
        headers = tokens.headers("CONTROLLER", role)
        listed = await client.get("/v1/sharing-agreements/ISA-TEST/attachments", headers=headers)
        assert [item["id"] for item in listed.json()["items"]] == [document["id"]]
        read = await client.get(document["download"], headers=headers)
        assert read.status_code == 200 and read.content == SIGNED
        assert read.headers["ETag"] == f'"{digest}"' and read.headers["X-Content-Type-Options"] == "nosniff"
    assert await audit_outcomes(client, tokens, "agreement_document_added") == [f"sha256:{digest}"]
    assert await audit_outcomes(client, tokens, "agreement_document_read") == [f"sha256:{digest}"] * 3
    named = await patch_current(
        client, "/v1/sharing-agreements/ISA-TEST", json={"signed_attachment": document["id"]}, headers=tokens.admin()
    )
    assert named.status_code == 200 and named.json()["signed_attachment"] == document["id"]


@pytest.mark.parametrize("role", [Role.AGENCY, Role.GUARDIAN, Role.AUDITOR])
async def test_only_an_admin_uploads_and_agencies_do_not_read(
    client: httpx.AsyncClient, tokens: Tokens, role: Role
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_agreement(client, tokens)
    document = (await upload(client, tokens.admin())).json()
    headers = tokens.agency("RXT01") if role == Role.AGENCY else tokens.headers("CONTROLLER", role)

    assert (await upload(client, headers)).status_code == 403
    if role == Role.AGENCY:
        assert (await client.get("/v1/sharing-agreements/ISA-TEST/attachments", headers=headers)).status_code == 403
        assert (await client.get(document["download"], headers=headers)).status_code == 403


async def test_evidence_of_a_request_is_not_an_agreement_document_and_nothing_is_kept(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_agreement(client, tokens)

    refused = await upload(client, tokens.admin(), kind="court_order")
    executable = await upload(client, tokens.admin(), content=b"MZ\x90\x00" + b"\x00" * 100)

    assert refused.status_code == 422 and [error["field"] for error in refused.json()["errors"]] == ["kind"]
    assert executable.status_code == 415 and [error["field"] for error in executable.json()["errors"]] == ["file"]
    assert (await client.get("/v1/sharing-agreements/ISA-TEST/attachments", headers=tokens.admin())).json()[
        "items"
    ] == []


async def test_another_agreements_document_and_an_unknown_agreement_are_404(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_agreement(client, tokens, code="ISA-A")
    await register_agreement(client, tokens, code="ISA-B")
    of_a = (await upload(client, tokens.admin(), code="ISA-A")).json()

    assert (
        await client.get(f"/v1/sharing-agreements/ISA-B/attachments/{of_a['id']}", headers=tokens.admin())
    ).status_code == 404
    assert (await upload(client, tokens.admin(), code="ISA-NONE")).status_code == 404
    assert (await client.get("/v1/sharing-agreements/ISA-NONE/attachments", headers=tokens.admin())).status_code == 404
