"""HTTP at the edge: HEAD on every GET, `Allow` on a 405, 400 for a body that is not JSON, 415 for one sent as
something else; each a problem document where it is an error."""

import json

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from app.errors import PROBLEM_MEDIA_TYPE
from tests.factories import register_organisation
from tests.rules.baseline import baseline_request
from tests.support import Tokens

ORGANISATION = {"code": "RXT02", "name": "Organisation", "type": "nhs_trust", "dspt_status": "standards_met"}


async def test_head_answers_as_get_without_a_body(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    path = "/v1/organisations/RXT01"
    got = await client.get(path, headers=tokens.admin())
    head = await client.head(path, headers=tokens.admin())
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == got.headers["etag"]
    assert head.headers["content-length"] == got.headers["content-length"]
    missing = await client.head("/v1/organisations/NOPE1", headers=tokens.admin())
    assert missing.status_code == 404 and missing.content == b""
    assert missing.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert (await client.head("/healthz")).status_code == 200


def test_every_get_route_is_a_head_route_too(app: FastAPI) -> None:
    # Through the middleware, not by declaring HEAD: the contract lists each GET once.
    paths = app.openapi()["paths"]
    gets = [
        context.path_format
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute) and "GET" in (context.methods or ())
    ]
    assert gets and all("head" not in paths.get(path, {}) for path in gets)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v1/sharing-requests", "GET, HEAD, POST"),  # two routes share the path
        ("PUT", "/healthz", "GET, HEAD"),
        ("GET", "/v1/evaluate", "POST"),
        ("HEAD", "/v1/evaluate", "POST"),
        ("POST", "/v1/organisations/RXT01", "GET, HEAD, PATCH"),
    ],
)
async def test_a_405_names_every_method_the_path_takes(
    client: httpx.AsyncClient, tokens: Tokens, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path, headers=tokens.admin())
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    if method != "HEAD":
        assert response.json()["type"] == "/problems/method-not-allowed"


async def test_malformed_json_is_a_400(client: httpx.AsyncClient, tokens: Tokens) -> None:
    for body in (b'{"code": "RXT02",', '{"code": "\xff"}'.encode("latin-1")):
        response = await client.post(
            "/v1/organisations",
            content=body,
            headers=tokens.admin() | {"Content-Type": "application/json"},
        )
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
        problem = response.json()
        assert problem["type"] == "/problems/bad-request" and problem["errors"][0]["field"] == "body"


async def test_a_wrong_content_type_is_a_415(client: httpx.AsyncClient, tokens: Tokens) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = tokens.admin() | ({"Content-Type": content_type} if content_type else {})
        response = await client.post("/v1/organisations", content=json.dumps(ORGANISATION), headers=headers)
        assert response.status_code == 415, (content_type, response.text)
        problem = response.json()
        assert problem["type"] == "/problems/unsupported-media-type"
        assert problem["errors"][0]["field"] == "Content-Type"
    vendor = await client.post(
        "/v1/organisations",
        content=json.dumps(ORGANISATION),
        headers=tokens.admin() | {"Content-Type": "application/vnd.council+json; charset=utf-8"},
    )
    assert vendor.status_code == 201, vendor.text


async def test_a_415_records_nothing(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    response = await client.post(
        "/v1/sharing-requests",
        content=json.dumps(baseline_request()),
        headers=tokens.agency("RXT01") | {"Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    listed = await client.get("/v1/sharing-requests", headers=tokens.agency("RXT01"))
    assert listed.json()["items"] == []
