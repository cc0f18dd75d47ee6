"""A token's lifetime, its issue time and its header `typ`: how long a stolen token is useful, and whether it was
minted as an access token at all.

Tokens are signed for real (HS256 with the test secret, RS256 with the test RSA key of tests/test_auth.py) and built
by hand, so that claims no JWT library would write (an `exp` of 10**400) reach the verifier.
"""

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.errors import Unauthorized
from app.http.tokens import TokenVerifier, mint_dev_token
from app.models.vocabulary import Role
from tests.support import TEST_SECRET, cli, settings_for
from tests.test_auth import claims, jwks
from tests.test_token_headers import token_of

NO_DATABASE = "sqlite+aiosqlite:///unused.db"  # the verifier never opens it
DAY = 86400


@pytest.fixture(scope="module")
def hs_verifier() -> TokenVerifier:
    return TokenVerifier(settings_for(NO_DATABASE))


@pytest.fixture(scope="module")
def rs_verifier(tmp_path_factory: pytest.TempPathFactory) -> TokenVerifier:
    """Production's way: public keys from a JWKS file, no secret."""
    path = tmp_path_factory.mktemp("keys") / "jwks.json"
    path.write_text(json.dumps(jwks()))
    return TokenVerifier(settings_for(NO_DATABASE, jwt_secret=None, jwks_file=path))


def hs256(header: dict[str, Any] | None = None, **changed: Any) -> str:
    return token_of({"alg": "HS256"} | (header or {}), claims(**changed), "HS256")


def test_a_token_of_a_day_at_most_is_accepted(hs_verifier: TokenVerifier) -> None:
    now = int(time.time())
    assert hs_verifier.verify(hs256(iat=now, exp=now + DAY)).org == "RXT01"
    # Without iat the lifetime left is what counts.
    assert hs_verifier.verify(hs256(iat=None, exp=now + DAY - 5)).org == "RXT01"
    # An old iat whose token has not expired yet is no lifetime beyond the maximum.
    assert hs_verifier.verify(hs256(iat=now - DAY + 600, exp=now + 600)).org == "RXT01"


LONG_LIVED = {
    "exp 10**400 (issued now)": lambda now: {"iat": now, "exp": 10**400},
    "exp 10**400 without iat": lambda now: {"iat": None, "exp": 10**400},
    "exp 10**400 with a float iat": lambda now: {"iat": now + 0.5, "exp": 10**400},
    "a day and a second": lambda now: {"iat": now, "exp": now + DAY + 1},
    "a year without iat": lambda now: {"iat": None, "exp": now + 365 * DAY},
    "issued long ago, valid for years": lambda now: {"iat": now - 10 * DAY, "exp": now + 3 * 365 * DAY},
    "iat -10**400": lambda now: {"iat": -(10**400), "exp": now + 600},
}


@pytest.mark.parametrize("changed", LONG_LIVED.values(), ids=LONG_LIVED.keys())
def test_a_token_meant_to_live_longer_than_the_maximum_is_refused(
    hs_verifier: TokenVerifier, rs_verifier: TokenVerifier, changed: Any
) -> None:
    payload = claims(**changed(int(time.time())))
    with pytest.raises(Unauthorized, match="lifetime exceeds the 86400 seconds"):
        hs_verifier.verify(token_of({"alg": "HS256", "typ": "JWT"}, payload, "HS256"))
    with pytest.raises(Unauthorized, match="lifetime exceeds the 86400 seconds"):
        rs_verifier.verify(token_of({"alg": "RS256", "kid": "rsa-1"}, payload, "RS256"))


def test_the_maximum_is_the_configured_one() -> None:
    verifier = TokenVerifier(settings_for(NO_DATABASE, token_max_lifetime_seconds=600))
    now = int(time.time())
    assert verifier.verify(hs256(iat=now, exp=now + 600)).org == "RXT01"
    with pytest.raises(Unauthorized, match="lifetime exceeds the 600 seconds"):
        verifier.verify(hs256(iat=now, exp=now + 601))


def test_a_token_issued_in_the_future_beyond_the_leeway_is_refused(hs_verifier: TokenVerifier) -> None:
    now = int(time.time())
    assert hs_verifier.verify(hs256(iat=now + 20, exp=now + 600)).org == "RXT01"  # within the 30 s of clock skew
    for issued in (now + 120, now + 3600, 10**400):
        with pytest.raises(Unauthorized, match="iat is in the future"):
            hs_verifier.verify(hs256(iat=issued, exp=now + 600))


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt", "application/jwt", None])
def test_a_jwt_typ_or_none_is_accepted(hs_verifier: TokenVerifier, rs_verifier: TokenVerifier, typ: str | None) -> None:
    header = {} if typ is None else {"typ": typ}
    assert hs_verifier.verify(hs256(header)).org == "RXT01"
    assert rs_verifier.verify(token_of({"alg": "RS256", "kid": "rsa-1"} | header, claims(), "RS256")).org == "RXT01"


@pytest.mark.parametrize(
    "typ", ["logout+jwt", "JWE", "secevent+jwt", "dpop+jwt", "", " JWT", "application/json", 1, ["JWT"], {"t": 1}]
)
def test_a_typ_that_is_not_a_jwt_is_refused(hs_verifier: TokenVerifier, rs_verifier: TokenVerifier, typ: Any) -> None:
    with pytest.raises(Unauthorized, match="typ"):
        hs_verifier.verify(hs256({"typ": typ}))
    with pytest.raises(Unauthorized, match="typ"):
        rs_verifier.verify(token_of({"alg": "RS256", "kid": "rsa-1", "typ": typ}, claims(), "RS256"))


async def test_over_http_each_is_a_401_problem_never_a_500(client: httpx.AsyncClient) -> None:
    now = int(time.time())
    refused = {
        "exp 10**400": (hs256(exp=10**400), "lifetime"),
        "a week": (hs256(iat=now, exp=now + 7 * DAY), "lifetime"),
        "iat an hour ahead": (hs256(iat=now + 3600), "iat"),
        "typ logout+jwt": (hs256({"typ": "logout+jwt"}), "typ"),
    }
    for name, (token, reason) in refused.items():
        response = await client.get("/v1/sharing-requests", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (name, response.text)
        assert response.headers["content-type"] == "application/problem+json", name
        assert response.headers["www-authenticate"].startswith("Bearer"), name
        assert reason in response.json()["detail"], name
    # The same token within the limits is let through to the role check (403: RXT01 is not registered here).
    within = await client.get("/v1/sharing-requests", headers={"Authorization": f"Bearer {hs256(exp=now + DAY)}"})
    assert within.status_code != 401, within.text


def test_development_tokens_stay_within_the_maximum(hs_verifier: TokenVerifier, tmp_path: Path) -> None:
    settings = settings_for(NO_DATABASE)
    # The tests' and the command's default (an hour), and a full day, verify.
    assert hs_verifier.verify(mint_dev_token(settings, org="RXT01", roles=[Role.AGENCY], sub="u")).sub == "u"
    assert hs_verifier.verify(mint_dev_token(settings, org="RXT01", roles=[Role.AGENCY], sub="u", ttl_seconds=DAY))
    with pytest.raises(RuntimeError, match="CALDICOTT_TOKEN_MAX_LIFETIME_SECONDS"):
        mint_dev_token(settings, org="RXT01", roles=[Role.AGENCY], sub="u", ttl_seconds=DAY + 1)
    refused = cli(
        "token", "--org", "RXT01", "--role", "agency", "--ttl", "90000", cwd=tmp_path, CALDICOTT_JWT_SECRET=TEST_SECRET
    )
    assert refused.returncode == 2 and "CALDICOTT_TOKEN_MAX_LIFETIME_SECONDS" in refused.stderr
    assert refused.stdout == ""
