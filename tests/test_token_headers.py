"""Crafted token headers and claims: the verifier answers 401 (Unauthorized) to every one, never another error.

Tokens are built by hand from arbitrary JSON, so that headers and claims of every type reach the verifier:
unsigned or with a garbage signature, and properly signed (HS256 with the test secret, RS256 with the test
RSA key of tests/test_auth.py), which carries them past the signature check into the claim checks.
"""

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import Unauthorized
from app.http.tokens import TokenVerifier
from app.principal import Principal
from tests.support import TEST_SECRET, settings_for
from tests.test_auth import RSA_KEY, b64, claims, jwks

PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
NO_DATABASE = "sqlite+aiosqlite:///unused.db"  # the verifier never opens it

# Any JSON value, NaN and infinities included (Python's json reads and writes them).
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)


def token_of(header: Any, payload: Any, signer: str = "garbage") -> str:
    """A compact JWS of any JSON header and payload, signed with the test secret or key, or not at all."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}".encode()
    if signer == "HS256":
        signature = hmac.new(TEST_SECRET.encode(), signing_input, hashlib.sha256).digest()
    elif signer == "RS256":
        signature = RSA_KEY.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = b"\x00" * 8
    return f"{signing_input.decode()}.{b64(signature)}"


def refused_or_accepted(verifier: TokenVerifier, token: str) -> Principal | None:
    """The principal of an accepted token, None for a 401; any other exception fails the test."""
    try:
        return verifier.verify(token)
    except Unauthorized:
        return None


@pytest.fixture(scope="module")
def hs_verifier() -> TokenVerifier:
    """Development mode: the HS256 test secret."""
    return TokenVerifier(settings_for(NO_DATABASE))


@pytest.fixture(scope="module")
def rs_verifier(tmp_path_factory: pytest.TempPathFactory) -> TokenVerifier:
    """Production's way: public keys from a JWKS file, no secret."""
    path = tmp_path_factory.mktemp("keys") / "jwks.json"
    path.write_text(json.dumps(jwks()))
    return TokenVerifier(settings_for(NO_DATABASE, jwt_secret=None, jwks_file=path))


def headers_with(alg: str, kid: str | None) -> st.SearchStrategy[Any]:
    """Headers near a real one (each field real, arbitrary or absent,
    crit sometimes) and now and then any JSON at all."""
    known = st.fixed_dictionaries(
        {},
        optional={
            "alg": st.just(alg) | st.sampled_from(["HS256", "RS256", "ES256", "none", "HS512"]) | json_values,
            "kid": st.sampled_from([kid, "rsa-1", "ec-1"]) | json_values,
            "typ": st.just("JWT") | json_values,
            "crit": json_values,
        },
    )
    return known | json_values


def claims_near_valid() -> st.SearchStrategy[Any]:
    """Payloads whose every claim is valid, arbitrary or absent, plus arbitrary extra claims; now and then any JSON."""
    now = int(time.time())
    valid = claims()
    fields = {name: st.just(value) | json_values for name, value in valid.items()}
    fields |= {"nbf": st.just(now - 10) | json_values, "jti": st.just("token-1") | json_values}
    near = st.fixed_dictionaries({}, optional=fields)
    return near | json_values


@PROPERTY_SETTINGS
@given(header=headers_with("HS256", None), payload=claims_near_valid(), signature=st.binary(max_size=64))
def test_unsigned_or_garbage_signed_tokens_are_only_ever_refused(
    hs_verifier: TokenVerifier, header: Any, payload: Any, signature: bytes
) -> None:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    assert refused_or_accepted(hs_verifier, f"{signing_input}.{b64(signature)}") is None


@PROPERTY_SETTINGS
@given(header=headers_with("RS256", "rsa-1"), payload=claims_near_valid(), signature=st.binary(max_size=64))
def test_unsigned_tokens_are_only_ever_refused_in_jwks_mode(
    rs_verifier: TokenVerifier, header: Any, payload: Any, signature: bytes
) -> None:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    assert refused_or_accepted(rs_verifier, f"{signing_input}.{b64(signature)}") is None


@PROPERTY_SETTINGS
@given(header=headers_with("HS256", None), payload=claims_near_valid())
def test_hs256_signed_tokens_with_any_header_and_claims_are_accepted_or_refused(
    hs_verifier: TokenVerifier, header: Any, payload: Any
) -> None:
    refused_or_accepted(hs_verifier, token_of(header, payload, "HS256"))


@PROPERTY_SETTINGS
@given(header=headers_with("RS256", "rsa-1"), payload=claims_near_valid())
def test_rs256_signed_tokens_with_any_header_and_claims_are_accepted_or_refused(
    rs_verifier: TokenVerifier, header: Any, payload: Any
) -> None:
    refused_or_accepted(rs_verifier, token_of(header, payload, "RS256"))


@PROPERTY_SETTINGS
@given(token=st.text(max_size=300) | st.lists(st.text(max_size=60), max_size=5).map(".".join))
def test_any_text_as_a_token_is_refused(hs_verifier: TokenVerifier, rs_verifier: TokenVerifier, token: str) -> None:
    assert refused_or_accepted(hs_verifier, token) is None
    assert refused_or_accepted(rs_verifier, token) is None


def test_the_property_tokens_can_be_accepted(hs_verifier: TokenVerifier, rs_verifier: TokenVerifier) -> None:
    # The properties above reach the claim checks only if a well-formed token passes.
    assert refused_or_accepted(hs_verifier, token_of({"alg": "HS256", "typ": "JWT"}, claims(), "HS256")) is not None
    assert refused_or_accepted(rs_verifier, token_of({"alg": "RS256", "kid": "rsa-1"}, claims(), "RS256")) is not None


CRAFTED_HEADERS = {
    "alg a list": ({"alg": ["HS256"]}, "alg"),
    "alg an object": ({"alg": {"HS256": True}}, "alg"),
    "alg a number": ({"alg": 256}, "alg"),
    "kid a list": ({"alg": "HS256", "kid": ["k1"]}, "kid"),
    "kid an object": ({"alg": "HS256", "kid": {"k": 1}}, "kid"),
    "crit": ({"alg": "HS256", "crit": ["exp"]}, "crit"),
    "crit empty": ({"alg": "HS256", "crit": []}, "crit"),
}


@pytest.mark.parametrize("header, reason", CRAFTED_HEADERS.values(), ids=CRAFTED_HEADERS.keys())
@pytest.mark.parametrize("signer", ["garbage", "HS256"])
def test_crafted_headers_are_refused_with_the_reason(
    hs_verifier: TokenVerifier, header: dict[str, Any], reason: str, signer: str
) -> None:
    with pytest.raises(Unauthorized, match=reason):
        hs_verifier.verify(token_of(header, claims(), signer))


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "RS256", "kid": ["k1"]},
        {"alg": ["RS256"], "kid": "rsa-1"},
        {"alg": "RS256", "kid": "rsa-1", "crit": ["b64"]},
    ],
)
@pytest.mark.parametrize("signer", ["garbage", "RS256"])
def test_crafted_headers_are_refused_in_jwks_mode(
    rs_verifier: TokenVerifier, header: dict[str, Any], signer: str
) -> None:
    with pytest.raises(Unauthorized):
        rs_verifier.verify(token_of(header, claims(), signer))


CRAFTED_CLAIMS = {
    "exp a list": ({"exp": [1]}, "exp"),
    "exp an object": ({"exp": {}}, "exp"),
    "exp a numeric string": ({"exp": str(int(time.time()) + 600)}, "exp"),
    "exp true": ({"exp": True}, "exp"),
    "exp infinite": ({"exp": float("inf")}, "exp"),
    "exp NaN": ({"exp": float("nan")}, "exp"),
    "nbf a list": ({"nbf": [0]}, "nbf"),
    "nbf a string": ({"nbf": "0"}, "nbf"),
    "iat an object": ({"iat": {"at": 0}}, "iat"),
    "iat false": ({"iat": False}, "iat"),
    "sub a number": ({"sub": 7}, "sub"),
    "sub a list": ({"sub": ["user-1"]}, "sub"),
    "sub a lone surrogate": ({"sub": "user-\ud800"}, "sub"),
    "org a list": ({"org": ["RXT01"]}, "org"),
    "org with a NUL": ({"org": "RXT\x0001"}, "org"),
    "iss a list": ({"iss": ["caldicott-dev"]}, "iss"),
    "aud an object": ({"aud": {"caldicott-api": 1}}, "aud"),
    "aud a list with a number": ({"aud": ["caldicott-api", 1]}, "aud"),
    "roles an object": ({"roles": {"agency": True}}, "roles"),
    "roles a list of lists": ({"roles": [["agency"]]}, "roles"),
}


@pytest.mark.parametrize("changed, reason", CRAFTED_CLAIMS.values(), ids=CRAFTED_CLAIMS.keys())
def test_signed_tokens_with_claims_of_the_wrong_type_are_refused_with_the_reason(
    hs_verifier: TokenVerifier, changed: dict[str, Any], reason: str
) -> None:
    with pytest.raises(Unauthorized, match=reason):
        hs_verifier.verify(token_of({"alg": "HS256", "typ": "JWT"}, claims(**changed), "HS256"))


async def test_a_crafted_header_does_not_make_the_key_set_fetch_fail() -> None:
    # With CALDICOTT_JWKS_URL a token naming an unknown key makes us fetch the set;
    # a list as the kid made that a TypeError.
    verifier = TokenVerifier(settings_for(NO_DATABASE, jwt_secret=None, jwks_url="https://127.0.0.1:9/jwks.json"))
    for header in ({"alg": "RS256", "kid": ["k1"]}, {"alg": ["RS256"]}, {"alg": {"RS256": 1}, "kid": "k1"}):
        token = token_of(header, claims(), "RS256")
        await verifier.refresh_keys(token)  # nothing to fetch for a token that cannot be ours
        with pytest.raises(Unauthorized):
            verifier.verify(token)
