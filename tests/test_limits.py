"""Resource limits: bodies over 256 KiB are 413, every list is paginated with a capped page, over-long text is 422."""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.http.limits import MAX_BODY_BYTES
from app.main import create_app
from app.models.vocabulary import Role
from tests.factories import register_organisation, submit
from tests.rules.baseline import baseline_request, changed
from tests.support import Tokens, settings_for

PAGE_CAP = 200
CONTRACT = create_app(settings_for("sqlite+aiosqlite:///:memory:")).openapi()


def padded(body: dict[str, Any], size: int) -> bytes:
    """The body as JSON followed by spaces (still valid JSON), exactly `size` bytes long."""
    encoded = json.dumps(body).encode()
    return encoded + b" " * (size - len(encoded))


def json_headers(headers: dict[str, str]) -> dict[str, str]:
    return headers | {"Content-Type": "application/json"}


async def test_a_body_of_exactly_256_kib_is_read(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    response = await client.post(
        "/v1/sharing-requests",
        content=padded(baseline_request(), MAX_BODY_BYTES),
        headers=json_headers(tokens.agency("RXT01")),
    )
    assert response.status_code == 201, response.text


async def test_a_body_over_256_kib_is_413_and_nothing_is_stored(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    response = await client.post(
        "/v1/sharing-requests", content=padded(baseline_request(), MAX_BODY_BYTES + 1), headers=json_headers(agency)
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() | {"detail": None} == {
        "type": "/problems/too-large",
        "title": "Request body too large",
        "status": 413,
        "detail": None,
        "instance": "/v1/sharing-requests",
    }
    assert response.headers["connection"] == "close"
    assert response.headers["x-request-id"]
    assert (await client.get("/v1/sharing-requests", headers=agency)).json()["items"] == []


async def test_a_streamed_body_without_content_length_is_counted(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    chunk = b" " * 65536

    async def endless_whitespace() -> AsyncIterator[bytes]:
        yield json.dumps(baseline_request()).encode()
        for _ in range(5):  # 320 KiB more, in chunks, with no Content-Length to go by
            yield chunk

    request = client.build_request(
        "POST", "/v1/sharing-requests", content=endless_whitespace(), headers=json_headers(tokens.agency("RXT01"))
    )
    assert "content-length" not in request.headers
    response = await client.send(request)
    assert response.status_code == 413
    assert response.json()["status"] == 413


async def test_a_declared_length_over_the_limit_is_refused_before_reading(app: FastAPI) -> None:
    received: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        received.append({"type": "http.request"})
        return {"type": "http.request", "body": b"{}", "more_body": False}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/evaluate",
        "raw_path": b"/v1/evaluate",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-length", str(MAX_BODY_BYTES + 1).encode()), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    assert received == []
    assert sent[0]["status"] == 413


async def test_bad_utf8_in_a_body_is_400_naming_the_body(client: httpx.AsyncClient, tokens: Tokens) -> None:
    # Found by fuzzing: FastAPI answered an undecodable body with an undocumented 400; now a documented problem.
    response = await client.post(
        "/v1/organisations", content=b'{"code": "\xff\xfe"}', headers=json_headers(tokens.admin())
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == ["body"]


def list_operations() -> list[tuple[str, str]]:
    """Every operation whose answer is a list: an array, or an object with an `items` array."""
    schemas = CONTRACT["components"]["schemas"]
    found = []
    for path, operations in CONTRACT["paths"].items():
        for method, operation in operations.items():
            answer = next(response for status, response in operation["responses"].items() if status.startswith("2"))
            schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
            if "$ref" in schema:
                schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
            if schema.get("type") == "array" or schema.get("properties", {}).get("items", {}).get("type") == "array":
                found.append((method.upper(), path))
    return found


def test_the_contract_lists_the_expected_collections() -> None:
    assert sorted(list_operations()) == [
        ("GET", "/v1/audit/checkpoints"),
        ("GET", "/v1/audit/events"),
        ("GET", "/v1/consultations"),
        ("GET", "/v1/disclosures"),
        ("GET", "/v1/events"),
        ("GET", "/v1/incidents"),
        ("GET", "/v1/information-assets"),
        ("GET", "/v1/organisations"),
        ("GET", "/v1/policies"),
        ("GET", "/v1/policy-replays"),
        ("GET", "/v1/policy-replays/{replay_id}/changes"),
        ("GET", "/v1/register"),
        ("GET", "/v1/register/withholdings"),
        ("GET", "/v1/reports/agreements"),
        ("GET", "/v1/reports/decision-log"),
        ("GET", "/v1/review-queue"),
        ("GET", "/v1/sharing-agreements"),
        ("GET", "/v1/sharing-agreements/{code}/attachments"),
        ("GET", "/v1/sharing-agreements/{code}/versions"),
        ("GET", "/v1/sharing-requests"),
        ("GET", "/v1/sharing-requests/{request_id}/attachments"),
        ("GET", "/v1/sharing-requests/{request_id}/consultations"),
        ("GET", "/v1/sharing-requests/{request_id}/disclosures"),
        ("GET", "/v1/sharing-requests/{request_id}/history"),
        ("GET", "/v1/webhook-endpoints"),
        ("GET", "/v1/webhook-endpoints/{endpoint_id}/deliveries"),
        ("POST", "/v1/reports/subject-disclosures"),
        ("POST", "/v1/review-queue/search"),
    ]


@pytest.mark.parametrize(("method", "path"), list_operations(), ids=lambda value: str(value))
def test_every_list_takes_a_page_size_of_at_most_200(method: str, path: str) -> None:
    parameters = {
        parameter["name"]: parameter for parameter in CONTRACT["paths"][path][method.lower()].get("parameters", [])
    }
    assert parameters["limit"]["schema"]["maximum"] == PAGE_CAP
    assert parameters["limit"]["schema"]["minimum"] == 1
    assert "cursor" in parameters
    assert "after" not in parameters or parameters["after"].get("deprecated") is True


LISTS_OVER_HTTP = [
    ("GET", "/v1/sharing-requests", Role.AGENCY),
    ("GET", "/v1/organisations", Role.ADMIN),
    ("GET", "/v1/sharing-agreements", Role.ADMIN),
    ("GET", "/v1/review-queue", Role.GUARDIAN),
    ("GET", "/v1/consultations", Role.SAFEGUARDING_LEAD),
    ("GET", "/v1/audit/events", Role.AUDITOR),
    ("GET", "/v1/audit/checkpoints", Role.AUDITOR),
    ("GET", "/v1/webhook-endpoints", Role.AGENCY),
    ("GET", "/v1/reports/decision-log", Role.GUARDIAN),
    ("POST", "/v1/reports/subject-disclosures", Role.GUARDIAN),
]


@pytest.mark.parametrize(
    ("method", "path", "role"), LISTS_OVER_HTTP, ids=[f"{method} {path}" for method, path, _ in LISTS_OVER_HTTP]
)
async def test_a_page_larger_than_200_is_422_naming_limit(
    client: httpx.AsyncClient, tokens: Tokens, method: str, path: str, role: Role
) -> None:
    await register_organisation(client, tokens, "RXT01")
    headers = tokens.headers("RXT01" if role is Role.AGENCY else "CONTROLLER", role)
    body = {"identifier": "9990000018"} if method == "POST" else None
    too_many = await client.request(method, path, params={"limit": PAGE_CAP + 1}, json=body, headers=headers)
    assert too_many.status_code == 422, too_many.text
    assert [error["field"] for error in too_many.json()["errors"]] == ["limit"]
    assert (
        await client.request(method, path, params={"limit": PAGE_CAP}, json=body, headers=headers)
    ).status_code == 200


async def test_webhook_endpoints_come_in_pages(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    created = []
    for number in range(3):
        body = {"url": f"https://93.184.215.14/hook/{number}", "event_types": ["sharing_request.decided"]}
        response = await client.post("/v1/webhook-endpoints", json=body, headers=agency)
        assert response.status_code == 201, response.text
        created.append(response.json()["id"])

    first = (await client.get("/v1/webhook-endpoints", params={"limit": 2}, headers=agency)).json()
    second = (
        await client.get("/v1/webhook-endpoints", params={"limit": 2, "cursor": first["next_cursor"]}, headers=agency)
    ).json()

    assert [endpoint["id"] for endpoint in first["items"] + second["items"]] == created
    assert second["next_cursor"] is None


async def test_the_decision_log_comes_in_pages_and_its_csv_links_the_next(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    ids = [(await submit(client, tokens, changed({"reference": f"CASE-{number}"}))).json()["id"] for number in range(3)]
    guardian = tokens.headers("CONTROLLER", Role.GUARDIAN)

    first = (await client.get("/v1/reports/decision-log", params={"limit": 2}, headers=guardian)).json()
    second = (
        await client.get(
            "/v1/reports/decision-log", params={"limit": 2, "cursor": first["next_cursor"]}, headers=guardian
        )
    ).json()
    assert [row["request_id"] for row in first["items"] + second["items"]] == ids
    assert second["next_cursor"] is None

    csv_page = await client.get("/v1/reports/decision-log", params={"limit": 2, "format": "csv"}, headers=guardian)
    assert (
        csv_page.headers["link"]
        == f'</v1/reports/decision-log?limit=2&format=csv&cursor={first["next_cursor"]}>; rel="next"'
    )
    following = await client.get(csv_page.headers["link"][1:].split(">")[0], headers=guardian)
    assert ids[2] in following.text and ids[0] not in following.text
    assert "link" not in following.headers


async def test_subject_disclosures_come_in_pages_with_the_total(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    ids = [
        (
            await submit(client, tokens, changed({"subjects.identifiers": ["9990000018"], "reference": f"CASE-{n}"}))
        ).json()["id"]
        for n in range(3)
    ]
    guardian = tokens.headers("CONTROLLER", Role.GUARDIAN)
    query = {"identifier": "9990000018"}

    first = (
        await client.post("/v1/reports/subject-disclosures", params={"limit": 2}, json=query, headers=guardian)
    ).json()
    second = (
        await client.post(
            "/v1/reports/subject-disclosures",
            params={"limit": 2, "cursor": first["next_cursor"]},
            json=query,
            headers=guardian,
        )
    ).json()

    assert [row["request_id"] for row in first["items"] + second["items"]] == ids
    assert (first["matches"], second["matches"], second["next_cursor"]) == (3, 3, None)


def unbounded_text() -> list[tuple[str, str]]:
    """Every free-text string a request can carry (path, query, header,
    body) with no maximum length, as (where, name)."""
    found: list[tuple[str, str]] = []
    for path, operations in CONTRACT["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                found += unbounded_strings(f"{label} {parameter['in']}", parameter["name"], parameter["schema"])
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body is not None:
                found += unbounded_strings(f"{label} body", "", body)
    return found


def unbounded_strings(
    where: str, name: str, schema: dict[str, Any], seen: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """The strings with no maximum length in `schema`, named from `name`; each schema it refers to is followed once."""
    if "$ref" in schema:
        model = schema["$ref"].rsplit("/", 1)[1]
        return (
            []
            if model in seen
            else unbounded_strings(where, name, CONTRACT["components"]["schemas"][model], seen | {model})
        )
    found = [
        hit
        for alternative in schema.get("anyOf", []) + schema.get("allOf", [])
        for hit in unbounded_strings(where, name, alternative, seen)
    ]
    if schema.get("type") == "object":
        for field, field_schema in schema.get("properties", {}).items():
            found += unbounded_strings(where, f"{name}.{field}" if name else field, field_schema, seen)
    if schema.get("type") == "array":
        found += unbounded_strings(where, f"{name}[]", schema["items"], seen)
    if schema.get("type") == "string" and not {"maxLength", "enum", "format"} & schema.keys():
        found.append((where, name))
    return found


def test_every_free_text_field_of_a_request_has_a_maximum_length() -> None:
    assert unbounded_text() == []


OVER_LONG = [
    ("purpose.description", {"purpose.description": "x" * 4001}),
    ("reference", {"reference": "x" * 201}),
    (
        "data_items[0].justification",
        {"data_items": [{"category": "demographics", "form": "identifiable", "justification": "x" * 2001}]},
    ),
    ("legal_basis.reference", {"legal_basis.reference": "x" * 501}),
    ("recipient.access_roles[0]", {"recipient.access_roles": ["x" * 201]}),
    ("subjects.identifiers[0]", {"subjects.identifiers": ["9" * 65]}),
    ("sharing_agreement", {"sharing_agreement": "X" * 65}),
]


@pytest.mark.parametrize(("field", "changes"), OVER_LONG, ids=[field for field, _ in OVER_LONG])
async def test_over_long_text_in_a_request_is_422_naming_the_field(
    client: httpx.AsyncClient, tokens: Tokens, field: str, changes: dict[str, Any]
) -> None:
    await register_organisation(client, tokens, "RXT01")
    response = await submit(client, tokens, changed(changes))
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [field]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/v1/organisations",
            {"code": "NSP01", "name": "x" * 201, "type": "police", "dspt_status": "not_published"},
            "name",
        ),
        (
            "/v1/webhook-endpoints",
            {"url": "https://93.184.215.14/" + "x" * 2049, "event_types": ["sharing_request.decided"]},
            "url",
        ),
        (
            "/v1/webhook-endpoints",
            {"url": "https://93.184.215.14/hook", "event_types": ["sharing_request.decided"], "description": "x" * 501},
            "description",
        ),
    ],
)
async def test_over_long_text_for_admin_and_webhooks_is_422(
    client: httpx.AsyncClient, tokens: Tokens, path: str, body: dict[str, Any], field: str
) -> None:
    response = await client.post(path, json=body, headers=tokens.admin())
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [field]


@pytest.mark.parametrize(("org", "sub"), [("RXT01", "x" * 201), ("R" * 33, "user-1")], ids=["sub", "org"])
async def test_an_over_long_identity_in_a_token_is_401_not_a_failed_write(
    client: httpx.AsyncClient, tokens: Tokens, org: str, sub: str
) -> None:
    # Who acted is written to columns of 200 (sub) and 32 (org) characters;
    # PostgreSQL refused the longer ones with a 500.
    await register_organisation(client, tokens, "RXT01")
    request_id = (await submit(client, tokens, baseline_request())).json()["id"]
    response = await client.get(
        f"/v1/sharing-requests/{request_id}", headers=tokens.headers(org, Role.GUARDIAN, sub=sub)
    )  # a read is audited
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
