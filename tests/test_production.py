"""Production settings: what stops start-up, and tokens verified against a JWKS fetched from a URL.

The identity provider here is a real HTTP server on loopback serving the public halves of
RSA keys generated for the run; the service's clock for refetching is a fake one, moved by hand.
"""

import asyncio
import dataclasses
import json
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from app.http.tokens import JWKS_MAX_AGE_SECONDS, JWKS_REFETCH_SECONDS, TokenVerifier
from app.main import create_app
from app.platform.config import DEV_SUBJECT_KEY, SQLITE_DEFAULT_URL, Environment, Settings
from tests.factories import register_organisation
from tests.support import Tokens, settings_for
from tests.test_auth import b64, bearer, claims, sign
from tests.test_operations import run_cli
from tests.webhook_receiver import running

KEYS = {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("k1", "k2", "k3")}
PRODUCTION: dict[str, Any] = {
    "env": "production",
    "database_url": "postgresql+asyncpg://caldicott@db.internal/caldicott",
    "jwks_url": "https://idp.example/.well-known/jwks.json",
    "subject_key": "a-long-random-key-kept-by-the-operator",
    "controller_org": "RX1",
    "controller_name": "Riverside NHS Foundation Trust",
    "audit_signing_key_file": "/run/secrets/caldicott-audit/audit-signing-key.pem",
}
SECRET = "do-not-echo-this-secret-value"


def production(**changes: Any) -> Settings:
    return Settings(_env_file=None, **(PRODUCTION | changes))  # type: ignore[arg-type]


def test_production_starts_with_keys_a_subject_key_and_postgresql(tmp_path: Path) -> None:
    assert production().env is Environment.PRODUCTION
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [public_jwk("k1")]}))
    assert production(jwks_url=None, jwks_file=jwks).jwks_file == jwks


@pytest.mark.parametrize(
    ("unsafe", "named"),
    [
        ({"jwt_secret": "dev-secret"}, "CALDICOTT_JWT_SECRET"),
        ({"database_url": SQLITE_DEFAULT_URL}, "PostgreSQL"),
        ({"subject_key": None}, "CALDICOTT_SUBJECT_KEY"),
        ({"subject_key": DEV_SUBJECT_KEY}, "CALDICOTT_SUBJECT_KEY"),
        ({"subject_key": "   "}, "CALDICOTT_SUBJECT_KEY"),
        ({"jwks_url": None}, "CALDICOTT_JWKS_FILE or CALDICOTT_JWKS_URL"),
        ({"jwks_url": "http://idp.example/jwks.json"}, "https"),
        ({"jwks_file": "/etc/caldicott/jwks.json"}, "not both"),
        ({"subject_key": "k"}, "CALDICOTT_SUBJECT_KEY of at least 32 bytes"),
        ({"subject_key": "k" * 31}, "CALDICOTT_SUBJECT_KEY of at least 32 bytes"),
        ({"webhook_allow_private": True}, "CALDICOTT_WEBHOOK_ALLOW_PRIVATE is for development only"),
        ({"audit_signing_key_file": None}, "CALDICOTT_AUDIT_SIGNING_KEY_FILE"),
    ],
)
def test_production_refuses_development_shortcuts(unsafe: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        production(**unsafe)


@pytest.mark.parametrize("command", ["serve", "migrate", "worker"])
def test_commands_refuse_to_start_with_one_clear_line(command: str, tmp_path: Path) -> None:
    env = {
        "CALDICOTT_ENV": "production",
        "CALDICOTT_JWT_SECRET": SECRET,
        "CALDICOTT_SUBJECT_KEY": SECRET,
        "CALDICOTT_JWKS_URL": PRODUCTION["jwks_url"],
    }
    refused = run_cli(command, cwd=tmp_path, **env)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        f"caldicott {command}: CALDICOTT_JWT_SECRET (HS256) is for development only; "
        "use CALDICOTT_JWKS_FILE or CALDICOTT_JWKS_URL"
    )
    assert SECRET not in refused.stdout + refused.stderr
    assert not list(tmp_path.iterdir())  # no SQLite file was made on the way

    missing_key = {
        key: value for key, value in env.items() if key not in ("CALDICOTT_JWT_SECRET", "CALDICOTT_SUBJECT_KEY")
    }
    refused = run_cli(command, cwd=tmp_path, CALDICOTT_DATABASE_URL=PRODUCTION["database_url"], **missing_key)
    assert (refused.returncode, refused.stderr.strip()) == (
        2,
        f"caldicott {command}: production needs CALDICOTT_SUBJECT_KEY to hash subject identifiers",
    )


def test_a_subject_key_of_32_bytes_is_enough() -> None:
    assert production(subject_key="k" * 32).subject_keyring.keys == {1: b"k" * 32}
    assert production(subject_key="é" * 16).env is Environment.PRODUCTION  # bytes, not characters
    assert settings_for(
        SQLITE_DEFAULT_URL, subject_key="k", webhook_allow_private=True
    ).webhook_allow_private  # development may


@pytest.mark.parametrize(
    ("unsafe", "line"),
    [
        (
            {"CALDICOTT_WEBHOOK_ALLOW_PRIVATE": "true"},
            "CALDICOTT_WEBHOOK_ALLOW_PRIVATE is for development only; "
            "production sends webhooks to public addresses only",
        ),
        (
            {"CALDICOTT_SUBJECT_KEY": "short-key"},
            "production needs a CALDICOTT_SUBJECT_KEY of at least 32 bytes; "
            "a short key lets identifiers be guessed from their hashes",
        ),
    ],
)
@pytest.mark.parametrize("command", ["serve", "worker"])
def test_production_refuses_the_ssrf_guard_off_and_a_short_subject_key_in_one_line(
    command: str, unsafe: dict[str, str], line: str, tmp_path: Path
) -> None:
    env = {
        "CALDICOTT_ENV": "production",
        "CALDICOTT_DATABASE_URL": PRODUCTION["database_url"],
        "CALDICOTT_JWKS_URL": PRODUCTION["jwks_url"],
        "CALDICOTT_SUBJECT_KEY": PRODUCTION["subject_key"],
        "CALDICOTT_CONTROLLER_ORG": PRODUCTION["controller_org"],
        "CALDICOTT_CONTROLLER_NAME": PRODUCTION["controller_name"],
    }
    refused = run_cli(command, cwd=tmp_path, **(env | unsafe))
    assert (refused.returncode, refused.stderr.strip()) == (2, f"caldicott {command}: {line}")
    assert "short-key" not in refused.stdout + refused.stderr


def test_a_bad_setting_or_an_absent_database_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    bad_enum = run_cli("serve", cwd=tmp_path, CALDICOTT_ENV="staging")
    assert (bad_enum.returncode, bad_enum.stderr.strip()) == (
        2,
        "caldicott serve: CALDICOTT_ENV: Input should be 'development' or 'production'",
    )

    missing_file = run_cli("serve", cwd=tmp_path, CALDICOTT_JWKS_FILE=str(tmp_path / "absent.json"))
    assert missing_file.returncode == 2 and missing_file.stderr.startswith("caldicott serve: FileNotFoundError")

    no_database = run_cli(
        "migrate", cwd=tmp_path, CALDICOTT_DATABASE_URL="postgresql+asyncpg://nobody@127.0.0.1:9/none"
    )
    assert no_database.returncode == 2 and no_database.stderr.startswith("caldicott migrate: ConnectionRefusedError")
    for done in (bad_enum, missing_file, no_database):
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


# The identity provider.


def public_jwk(kid: str) -> dict[str, Any]:
    numbers = KEYS[kid].public_key().public_numbers()
    return {
        "kty": "RSA",
        "kid": kid,
        "alg": "RS256",
        "use": "sig",
        "n": b64(numbers.n.to_bytes(256, "big")),
        "e": b64(numbers.e.to_bytes(3, "big")),
    }


def token(kid: str, *, signed_by: str | None = None) -> dict[str, str]:
    """Bearer header of an agency token naming `kid`, signed by that key (or by another, to forge)."""
    return bearer(sign(claims(), "RS256", key=KEYS[signed_by or kid], kid=kid))


@dataclass
class IdentityProvider:
    """Serves a JWKS document, or a scripted failure, and counts the fetches."""

    kids: list[str] = field(default_factory=lambda: ["k1"])
    status: int = 200
    body: bytes | None = None  # served instead of the key set when set
    fetches: int = 0
    base_url: str = ""

    @property
    def url(self) -> str:
        return self.base_url + "/.well-known/jwks.json"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.fetches += 1
        body = (
            self.body
            if self.body is not None
            else json.dumps({"keys": [public_jwk(kid) for kid in self.kids]}).encode()
        )
        await send(
            {"type": "http.response.start", "status": self.status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": body})


@dataclass
class Clock:
    now: float = 10_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Service:
    http: httpx.AsyncClient
    clock: Clock

    async def status_for(self, headers: dict[str, str]) -> int:
        return (await self.http.get("/v1/sharing-requests", headers=headers)).status_code


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    with running(IdentityProvider()) as serving:  # type: ignore[arg-type]
        yield serving  # type: ignore[misc]


async def service_at(database_url: str, jwks_url: str) -> tuple[Service, Any]:
    application = create_app(settings_for(database_url, jwt_secret=None, jwks_url=jwks_url))
    clock = Clock()
    application.state.wiring = dataclasses.replace(
        application.state.wiring, verifier=TokenVerifier(application.state.wiring.settings, clock=clock)
    )
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver")
    return Service(http, clock), application


@pytest.fixture
async def service(
    database_url: str, idp: IdentityProvider, client: httpx.AsyncClient, tokens: Tokens
) -> AsyncIterator[Service]:
    """The app verifying tokens against the identity provider's JWKS URL, and no HS256 secret.

    The agency its tokens name is registered first, through the development app on the same (emptied) database,
    so that these tests do not depend on what an earlier test left there.
    """
    await register_organisation(client, tokens, claims()["org"])
    built, application = await service_at(database_url, idp.url)
    yield built
    await built.http.aclose()
    await application.state.wiring.engine.dispose()


async def test_tokens_verify_against_keys_fetched_once_from_the_url(service: Service, idp: IdentityProvider) -> None:
    assert idp.fetches == 0  # nothing is fetched until a token needs it
    statuses = await asyncio.gather(*(service.status_for(token("k1")) for _ in range(5)))
    assert statuses == [200] * 5 and idp.fetches == 1  # concurrent first requests share one fetch

    service.clock.advance(JWKS_MAX_AGE_SECONDS - 1)
    assert await service.status_for(token("k1")) == 200
    assert await service.status_for(token("k1", signed_by="k2")) == 401  # forged under a known kid: no refetch
    assert idp.fetches == 1


async def test_a_rotated_key_is_fetched_when_a_token_first_names_it(service: Service, idp: IdentityProvider) -> None:
    assert await service.status_for(token("k1")) == 200
    idp.kids = ["k1", "k2"]
    service.clock.advance(JWKS_REFETCH_SECONDS)
    assert await service.status_for(token("k2")) == 200
    assert await service.status_for(token("k1")) == 200
    assert idp.fetches == 2


async def test_unknown_keys_are_fetched_for_at_most_once_a_minute(service: Service, idp: IdentityProvider) -> None:
    assert await service.status_for(token("k1")) == 200
    service.clock.advance(JWKS_REFETCH_SECONDS)
    assert await service.status_for(token("k3")) == 401
    assert idp.fetches == 2

    idp.kids = ["k1", "k3"]  # the provider rotates just after our fetch
    service.clock.advance(JWKS_REFETCH_SECONDS - 1)
    assert await asyncio.gather(*(service.status_for(token("k3")) for _ in range(5))) == [401] * 5
    assert idp.fetches == 2  # a flood of unknown kids does not become a flood of fetches

    service.clock.advance(1)
    assert await service.status_for(token("k3")) == 200
    assert idp.fetches == 3


async def test_a_withdrawn_key_stops_working_within_the_hour(service: Service, idp: IdentityProvider) -> None:
    idp.kids = ["k1", "k2"]
    assert await service.status_for(token("k2")) == 200
    idp.kids = ["k1"]
    service.clock.advance(JWKS_MAX_AGE_SECONDS - 1)
    assert await service.status_for(token("k2")) == 200  # still cached
    service.clock.advance(1)
    assert await service.status_for(token("k2")) == 401
    assert await service.status_for(token("k1")) == 200
    assert idp.fetches == 2


async def test_a_failing_identity_provider_is_503_not_401_or_500(service: Service, idp: IdentityProvider) -> None:
    for failure in (
        {"status": 500},
        {"status": 200, "body": b"<html>maintenance</html>"},
        {"status": 200, "body": b'{"keys": "none"}'},
    ):
        idp.status, idp.body = failure["status"], failure.get("body")
        response = await service.http.get("/v1/sharing-requests", headers=token("k1"))
        assert response.status_code == 503, failure
        assert response.headers["content-type"] == "application/problem+json"
        assert 1 <= int(response.headers["retry-after"]) <= JWKS_REFETCH_SECONDS
        fetched = idp.fetches
        assert await service.status_for(token("k1")) == 503 and idp.fetches == fetched  # no refetch within the minute
        service.clock.advance(JWKS_REFETCH_SECONDS)

    idp.status, idp.body = 200, None
    assert await service.status_for(token("k1")) == 200

    # Once fetched, keys outlive an outage; a kid we have never seen cannot be checked meanwhile.
    idp.status = 503
    service.clock.advance(JWKS_MAX_AGE_SECONDS)
    assert await service.status_for(token("k1")) == 200
    service.clock.advance(JWKS_REFETCH_SECONDS)
    assert await service.status_for(token("k2")) == 503


async def test_an_unreachable_jwks_url_is_503(database_url: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    unreachable, application = await service_at(database_url, f"http://127.0.0.1:{closed_port}/jwks.json")
    try:
        response = await unreachable.http.get("/v1/sharing-requests", headers=token("k1"))
    finally:
        await unreachable.http.aclose()
        await application.state.wiring.engine.dispose()
    assert (
        response.status_code == 503
        and response.json()["detail"] == "the keys that verify tokens cannot be fetched; retry shortly"
    )
