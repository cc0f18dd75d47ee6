"""Token checks: signature, algorithm allow-list, issuer, audience, expiry, claims, roles, organisations.

Tokens here are built by hand with `cryptography` and `hmac`, independently of the
service's own JWT library, so that the verifier is checked against the standard.
"""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from fastapi import FastAPI

from app.http.tokens import parse_jwks
from app.main import create_app
from tests.factories import patch_current, register_organisation, submit
from tests.rules.baseline import baseline_request
from tests.support import TEST_SECRET, Tokens, settings_for

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values = {
        "sub": "user-1",
        "org": "RXT01",
        "roles": ["agency"],
        "iss": "caldicott-dev",
        "aud": "caldicott-api",
        "iat": now,
        "exp": now + 600,
    }
    values.update(overrides)
    return {key: value for key, value in values.items() if value is not None}


def sign(payload: dict[str, Any], alg: str, *, key: Any = TEST_SECRET, kid: str | None = None) -> str:
    header = {"alg": alg, "typ": "JWT"} | ({"kid": kid} if kid else {})
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}".encode()
    if alg == "none":
        signature = b""
    elif alg == "HS256":
        secret = key.encode() if isinstance(key, str) else key
        signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    elif alg == "RS256":
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        raise ValueError(alg)
    return f"{signing_input.decode()}.{b64(signature)}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def jwks() -> dict[str, Any]:
    rsa_numbers = RSA_KEY.public_key().public_numbers()
    ec_numbers = EC_KEY.public_key().public_numbers()
    return {
        "keys": [
            {
                "kty": "RSA",
                "kid": "rsa-1",
                "alg": "RS256",
                "use": "sig",
                "n": b64(rsa_numbers.n.to_bytes(256, "big")),
                "e": b64(rsa_numbers.e.to_bytes(3, "big")),
            },
            {
                "kty": "EC",
                "kid": "ec-1",
                "alg": "ES256",
                "use": "sig",
                "crv": "P-256",
                "x": b64(ec_numbers.x.to_bytes(32, "big")),
                "y": b64(ec_numbers.y.to_bytes(32, "big")),
            },
        ]
    }


@pytest.fixture(scope="module")
def jwks_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The public keys, as a file the app is configured with."""
    path = tmp_path_factory.mktemp("keys") / "jwks.json"
    path.write_text(json.dumps(jwks()))
    return path


@pytest.fixture(scope="module")
async def jwks_app(database_url: str, jwks_file: Path) -> AsyncIterator[FastAPI]:
    """The app as production verifies tokens: public keys only, no HS256 secret."""
    application = create_app(settings_for(database_url, jwt_secret=None, jwks_file=jwks_file))
    yield application
    await application.state.wiring.engine.dispose()


@pytest.fixture
async def jwks_client(client: httpx.AsyncClient, jwks_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=jwks_app), base_url="http://testserver") as http:
        yield http


async def test_hs256_dev_tokens_are_checked(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    ok = await submit(client, tokens, baseline_request())
    assert ok.status_code == 201

    rejected = {
        "no token": {},
        "not bearer": {"Authorization": "Basic dXNlcjpwYXNz"},
        "garbage": bearer("not.a.token"),
        "expired": bearer(sign(claims(exp=int(time.time()) - 3600), "HS256")),
        "wrong issuer": bearer(sign(claims(iss="someone-else"), "HS256")),
        "wrong audience": bearer(sign(claims(aud="another-api"), "HS256")),
        "no exp": bearer(sign(claims(exp=None), "HS256")),
        "no iss": bearer(sign(claims(iss=None), "HS256")),
        "no aud": bearer(sign(claims(aud=None), "HS256")),
        "no sub": bearer(sign(claims(sub=None), "HS256")),
        "no org": bearer(sign(claims(org=None), "HS256")),
        "roles not a list": bearer(sign(claims(roles="agency"), "HS256")),
        "alg none": bearer(sign(claims(), "none")),
        "wrong secret": bearer(sign(claims(), "HS256", key="guessed-secret")),
        "tampered": bearer(tamper(sign(claims(), "HS256"))),
        "oversized": bearer(sign(claims(padding="x" * 10_000), "HS256")),
        "RS256 with no keys configured": bearer(sign(claims(), "RS256", key=RSA_KEY)),
    }
    for name, headers in rejected.items():
        response = await client.post("/v1/sharing-requests", json=baseline_request(), headers=headers)
        assert response.status_code == 401, name
        assert response.headers["content-type"] == "application/problem+json", name
        assert response.headers["www-authenticate"].startswith("Bearer"), name


def tamper(token: str) -> str:
    """Change the payload (org) but keep the original signature."""
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["org"] = "LA-NSH"
    return f"{header}.{b64(json.dumps(body).encode())}.{signature}"


async def test_wrong_role_is_forbidden_not_unauthorised(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    no_roles = bearer(sign(claims(roles=[]), "HS256"))
    unknown_role = bearer(sign(claims(roles=["superuser"]), "HS256"))
    for headers in (no_roles, unknown_role, tokens.agency("RXT01")):
        response = await client.post(
            "/v1/organisations",
            json={"code": "X", "name": "X", "type": "other", "dspt_status": "standards_met"},
            headers=headers,
        )
        assert response.status_code == 403
    assert (await client.get("/v1/sharing-requests", headers=no_roles)).status_code == 403


async def test_asymmetric_tokens_verify_against_the_jwks(
    client: httpx.AsyncClient, tokens: Tokens, jwks_client: httpx.AsyncClient
) -> None:
    await register_organisation(client, tokens, "RXT01")
    for token in (sign(claims(), "RS256", key=RSA_KEY, kid="rsa-1"), sign(claims(), "ES256", key=EC_KEY, kid="ec-1")):
        response = await jwks_client.post("/v1/sharing-requests", json=baseline_request(), headers=bearer(token))
        assert response.status_code == 201, response.text

    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rejected = {
        "HS256 signed with the public key text": sign(claims(), "HS256", key=public_pem, kid="rsa-1"),
        "HS256 with the dev secret in production mode": sign(claims(), "HS256"),
        "alg none": sign(claims(), "none", kid="rsa-1"),
        "unknown kid": sign(claims(), "RS256", key=RSA_KEY, kid="rsa-9"),
        "signed by another key": sign(claims(), "RS256", key=other_key, kid="rsa-1"),
        "RS256 token under the EC key id": sign(claims(), "RS256", key=RSA_KEY, kid="ec-1"),
        "expired": sign(claims(exp=int(time.time()) - 3600), "RS256", key=RSA_KEY, kid="rsa-1"),
        "wrong audience": sign(claims(aud="elsewhere"), "ES256", key=EC_KEY, kid="ec-1"),
        "wrong issuer": sign(claims(iss="elsewhere"), "ES256", key=EC_KEY, kid="ec-1"),
        "tampered": tamper(sign(claims(), "RS256", key=RSA_KEY, kid="rsa-1")),
    }
    for name, token in rejected.items():
        response = await jwks_client.post("/v1/sharing-requests", json=baseline_request(), headers=bearer(token))
        assert response.status_code == 401, name


async def test_unregistered_and_deactivated_organisations_may_not_submit(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    token = bearer(sign(claims(org="GHOST"), "HS256"))
    assert (await client.post("/v1/sharing-requests", json=baseline_request(), headers=token)).status_code == 403

    await register_organisation(client, tokens, "GHOST")
    assert (await client.post("/v1/sharing-requests", json=baseline_request(), headers=token)).status_code == 201
    await patch_current(client, "/v1/organisations/GHOST", json={"active": False}, headers=tokens.admin())
    assert (await client.post("/v1/sharing-requests", json=baseline_request(), headers=token)).status_code == 403
    assert (await client.post("/v1/evaluate", json=baseline_request(), headers=token)).status_code == 403


async def test_a_crafted_token_header_is_a_401_problem_not_a_500(
    client: httpx.AsyncClient, jwks_client: httpx.AsyncClient
) -> None:
    # Both were TypeErrors in the verifier: 500 and a stack trace per request, before any authentication.
    crafted = {
        "alg as a list (development)": (client, "eyJhbGciOiBbIkhTMjU2Il19.eyJzdWIiOiAieCJ9.AAAA", "alg"),
        "kid as a list (production)": (
            jwks_client,
            f"{b64(json.dumps({'alg': 'RS256', 'kid': ['k1']}).encode())}.{b64(b'{}')}.AAAA",
            "kid",
        ),
    }
    for name, (http, token, reason) in crafted.items():
        response = await http.get("/v1/sharing-requests", headers=bearer(token))
        assert response.status_code == 401, (name, response.text)
        assert response.headers["content-type"] == "application/problem+json", name
        assert response.headers["www-authenticate"].startswith("Bearer"), name
        assert reason in response.json()["detail"], name


def test_jwks_keys_whose_id_type_or_algorithm_is_not_a_string_are_left_out() -> None:
    # A fetched key set is read on a request's path: a list as a kid was a TypeError there, not a key left out.
    rsa_key = jwks()["keys"][0]
    document = {
        "keys": [
            *jwks()["keys"],
            rsa_key | {"kid": ["rsa-2"]},
            rsa_key | {"kid": "rsa-3", "alg": ["RS256"]},
            rsa_key | {"kid": "rsa-4", "kty": {}},
        ]
    }
    keys, refused = parse_jwks(document)
    assert set(keys) == {"rsa-1", "ec-1"}
    assert len(refused) == 3 and all("must be strings" in reason for reason in refused)
