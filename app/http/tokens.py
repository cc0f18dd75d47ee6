"""Bearer-token verification: the only module that touches python-jose. Which roles count: app/powers.py."""

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import httpx
from jose import jwk, jwt
from jose.exceptions import JOSEError

from app.errors import ServiceUnavailable, Unauthorized
from app.models.vocabulary import Role
from app.platform.config import Environment, Settings
from app.powers import Powers
from app.principal import Principal

MAX_TOKEN_BYTES = 8192
ASYMMETRIC_ALGORITHMS = {"RS256", "ES256"}
CLOCK_SKEW_SECONDS = 30
# How many verified tokens are remembered, and for how long at most (a key removed from the JWKS also ends it).
VERIFIED_TOKENS_KEPT = 4096
VERIFIED_TOKEN_SECONDS = 60
MAX_SUB_CHARS = 200
MAX_ORG_CHARS = 32
NUMERIC_DATE_CLAIMS = ("exp", "nbf", "iat")
TEXT_CLAIMS = ("sub", "org", "iss", "jti")
# The header `typ` values that say "a JWT" (RFC 7519 5.1, RFC 9068 2.1; RFC 7515 4.1.9 lets "application/" be left
# out), compared in lower case. A token typed as anything else (a logout token, say) was minted for another purpose.
JWT_TYPES = frozenset({"jwt", "application/jwt", "at+jwt", "application/at+jwt"})
JWKS_REFETCH_SECONDS = 60  # at most one fetch a minute, however many tokens name unknown keys
JWKS_MAX_AGE_SECONDS = 3600  # a key withdrawn from the set (revoked) stops working within the hour
JWKS_TIMEOUT_SECONDS = 5

log = logging.getLogger("caldicott.auth")

KeySet = dict[str, tuple[str, Any]]  # kid -> (algorithm, key)


def parse_jwks(document: Any) -> tuple[KeySet, list[str]]:
    """The signing keys of a JWKS document that we may use, and why each other key was left out."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("a JWKS document is an object with a list of keys")
    keys: KeySet = {}
    refused: list[str] = []
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("use") == "enc":
            continue
        if not all(isinstance(entry.get(name, ""), str) for name in ("kid", "kty", "alg")):
            refused.append(f"JWKS key {entry.get('kid')!r}: kid, kty and alg must be strings")
            continue
        algorithm = entry.get("alg") or {"RSA": "RS256", "EC": "ES256"}.get(entry.get("kty", ""), "")
        if algorithm not in ASYMMETRIC_ALGORITHMS:
            refused.append(f"JWKS key {entry.get('kid')!r}: algorithm {algorithm!r} is not allowed")
            continue
        try:
            keys[entry.get("kid", "")] = (algorithm, jwk.construct(entry, algorithm=algorithm))
        except (JOSEError, ValueError, TypeError):
            refused.append(f"JWKS key {entry.get('kid')!r}: not a valid {algorithm} public key")
    return keys, refused


class TokenVerifier:
    """Checks signature, algorithm allow-list, issuer, audience, expiry and our claims."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic):
        self._issuer = settings.jwt_issuer
        self._powers = Powers.of(settings)
        self._audience = settings.jwt_audience
        self._max_lifetime = settings.token_max_lifetime_seconds
        self._secret = (
            settings.jwt_secret.get_secret_value()
            if settings.jwt_secret and settings.env is Environment.DEVELOPMENT
            else None
        )
        self._keys: KeySet = {}
        self._jwks_url = str(settings.jwks_url) if settings.jwks_url is not None else None
        self._clock = clock
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._last_fetch_failed = False
        self._fetching = asyncio.Lock()
        # Tokens verified lately, by their exact text: a client sends the same token with every request until it
        # expires, and checking its signature again each time cost more than some whole requests do.
        self._verified: dict[
            str, tuple[Principal, float, float]
        ] = {}  # token: principal, its exp (wall clock), remembered until (self._clock)
        if settings.jwks_file is not None:
            # The operator's own file: a key we may not use is a mistake, and stops start-up.
            self._keys, refused = parse_jwks(json.loads(settings.jwks_file.read_text()))
            if refused:
                raise ValueError(f"{settings.jwks_file}: {refused[0]}")

    async def refresh_keys(self, token: str) -> None:
        """With CALDICOTT_JWKS_URL: fetch the key set when we have none, ours is old,
        or the token names a key we lack."""
        if self._jwks_url is None or len(token) > MAX_TOKEN_BYTES:
            return
        try:
            header = _checked_header(token)
        except Unauthorized:
            return  # verify() rejects it
        if header["alg"] not in ASYMMETRIC_ALGORITHMS or self._usable(header):
            return
        async with self._fetching:
            if self._usable(header):  # another request fetched it meanwhile
                return
            now = self._clock()
            if self._attempted_at is None or now - self._attempted_at >= JWKS_REFETCH_SECONDS:
                self._attempted_at = now
                await self._fetch()
            if self._find(header) is None and self._last_fetch_failed:
                # The token may be good; it is our side that cannot check it.
                wait = math.ceil(JWKS_REFETCH_SECONDS - (self._clock() - self._attempted_at))
                raise ServiceUnavailable(
                    "the keys that verify tokens cannot be fetched; retry shortly",
                    headers={"Retry-After": str(max(wait, 1))},
                )

    def _usable(self, header: dict[str, Any]) -> bool:
        fresh = self._fetched_at is not None and self._clock() - self._fetched_at < JWKS_MAX_AGE_SECONDS
        return fresh and self._find(header) is not None

    async def _fetch(self) -> None:
        assert self._jwks_url is not None
        try:
            async with httpx.AsyncClient(timeout=JWKS_TIMEOUT_SECONDS) as client:
                response = await client.get(self._jwks_url, headers={"Accept": "application/json"})
                response.raise_for_status()
                keys, refused = parse_jwks(response.json())
        except (httpx.HTTPError, ValueError) as error:
            # Keys fetched before stay in use: a short outage of the identity provider does not lock everyone out.
            self._last_fetch_failed = True
            log.warning("cannot fetch the JWKS from %s: %s: %s", self._jwks_url, type(error).__name__, error)
            return
        for reason in refused:
            log.warning("JWKS from %s: %s; left out", self._jwks_url, reason)
        self._keys, self._fetched_at, self._last_fetch_failed = keys, self._clock(), False
        self._verified.clear()  # a key that left the set verifies nothing more
        log.info("JWKS fetched from %s: %d signing keys", self._jwks_url, len(keys))

    def verify(self, token: str) -> Principal:
        """Return the principal of a valid token, or raise Unauthorized."""
        if len(token) > MAX_TOKEN_BYTES:
            raise Unauthorized("token is too large")
        remembered = self._remembered(token)
        if remembered is not None:
            return remembered
        algorithm, key = self._key_for(_checked_header(token))
        try:
            _check_claim_types(jwt.get_unverified_claims(token))
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require_exp": True,
                    "require_iss": True,
                    "require_aud": True,
                    "require_sub": True,
                    "leeway": CLOCK_SKEW_SECONDS,
                },
            )
        except JOSEError as error:
            raise Unauthorized(f"token rejected: {error}") from None
        _check_lifetime(claims, now=time.time(), max_lifetime=self._max_lifetime)
        principal = principal_from(claims, self._powers)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            del self._verified[next(iter(self._verified))]  # the oldest
        # Trusted until it expires (as the check above counts expiry) and for a minute at most.
        self._verified[token] = (principal, claims["exp"] + CLOCK_SKEW_SECONDS, self._clock() + VERIFIED_TOKEN_SECONDS)
        return principal

    def _remembered(self, token: str) -> Principal | None:
        """The principal of a token verified within the last minute that has not expired since, or None."""
        entry = self._verified.get(token)
        if entry is None:
            return None
        principal, expires, until = entry
        if time.time() >= expires or self._clock() >= until:
            del self._verified[token]
            return None
        return principal

    def _key_for(self, header: dict[str, Any]) -> tuple[str, Any]:
        # The header only routes to one of our keys; the allowed algorithm is the key's own.
        if header["alg"] == "HS256" and self._secret is not None:
            return "HS256", self._secret
        if header["alg"] in ASYMMETRIC_ALGORITHMS and (self._keys or self._jwks_url):
            found = self._find(header)
            if found is not None:
                return found
            raise Unauthorized("token signed by an unknown key")
        raise Unauthorized("token algorithm is not allowed")

    def _find(self, header: dict[str, Any]) -> tuple[str, Any] | None:
        found = self._keys.get(header.get("kid", ""))
        if found is None and len(self._keys) == 1 and "kid" not in header:
            found = next(iter(self._keys.values()))
        return found


def _checked_header(token: str) -> dict[str, Any]:
    """The token's header, refused (401) unless alg and kid are strings and no critical extension is named."""
    try:
        header = jwt.get_unverified_header(token)
    except JOSEError:
        raise Unauthorized("token is malformed") from None
    if not isinstance(header.get("alg"), str):
        raise Unauthorized("token header alg must be a string")
    if not isinstance(header.get("kid", ""), str):
        raise Unauthorized("token header kid must be a string")
    if "crit" in header:
        # RFC 7515 4.1.11: a token whose critical extensions are not understood must be refused, and we understand none.
        raise Unauthorized("token header crit names extensions this service does not understand")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in JWT_TYPES):
        # Optional (RFC 7519 5.1), so an absent typ passes; a present one must not say the token is something else.
        raise Unauthorized("token header typ must be JWT, at+jwt or application/at+jwt when present")
    return header


def _check_lifetime(claims: dict[str, Any], *, now: float, max_lifetime: int) -> None:
    """Refuse (401) a token issued in the future or meant to live longer than the configured maximum."""
    # Compared, never subtracted: int and float compare exactly in Python, and exp = 10**400 minus a float overflows.
    issued = claims.get("iat")
    if issued is not None and issued > now + CLOCK_SKEW_SECONDS:
        raise Unauthorized(f"token claim iat is in the future by more than {CLOCK_SKEW_SECONDS} seconds")
    start = now if issued is None else issued
    if claims["exp"] > start + max_lifetime:
        raise Unauthorized(f"token lifetime exceeds the {max_lifetime} seconds this service accepts")


def _check_claim_types(claims: dict[str, Any]) -> None:
    """Refuse (401) a claim of the wrong type before any check uses it: some made the JWT library raise TypeError."""
    for name in NUMERIC_DATE_CLAIMS:
        value = claims.get(name, 0)
        # JSON true is a number to Python, and a string or infinity is no time (RFC 7519 NumericDate).
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (isinstance(value, float) and not math.isfinite(value))
        ):
            raise Unauthorized(f"token claim {name} must be a number of seconds")
    for name in TEXT_CLAIMS:
        if not isinstance(claims.get(name, ""), str):
            raise Unauthorized(f"token claim {name} must be a string")
    audience = claims.get("aud", "")
    if not isinstance(audience, str) and not _strings(audience):
        raise Unauthorized("token claim aud must be a string or a list of strings")
    if not _strings(claims.get("roles", [])):
        raise Unauthorized("token roles claim must be a list of strings")


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _storable(text: str) -> bool:
    """PostgreSQL text holds no NUL, and a lone surrogate has no UTF-8 form:
    a claim with either could not be audited."""
    return "\x00" not in text and not any("\ud800" <= char <= "\udfff" for char in text)


def principal_from(claims: dict[str, Any], powers: Powers) -> Principal:
    """The Principal of verified claims (`sub`, `org`, `roles`), or Unauthorized; the console's sign-in uses it too."""
    sub, org, roles = claims.get("sub"), claims.get("org"), claims.get("roles")
    if not isinstance(sub, str) or not sub.strip():
        raise Unauthorized("token has no subject")
    if not isinstance(org, str) or not org.strip():
        raise Unauthorized("token has no org claim")
    # Who acted is recorded in columns of these widths: a longer claim could not be stored.
    if len(sub) > MAX_SUB_CHARS or len(org) > MAX_ORG_CHARS:
        raise Unauthorized(f"token sub is limited to {MAX_SUB_CHARS} characters and org to {MAX_ORG_CHARS}")
    if not _storable(sub) or not _storable(org):
        raise Unauthorized("token sub and org must not hold NUL or lone surrogate characters")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise Unauthorized("token roles claim must be a list of strings")
    known = frozenset(Role(role) for role in roles if role in Role.__members__.values())
    # Decided here, once per token, so that no endpoint or service can honour an
    # inside role another organisation claims.
    honoured, refused = powers.split(org, known)
    return Principal(sub=sub, org=org, roles=honoured, refused=refused)


def mint_dev_token(settings: Settings, *, org: str, roles: list[Role], sub: str, ttl_seconds: int = 3600) -> str:
    """Sign a development token with the dev secret; refused when there is none or it would live too long."""
    if settings.jwt_secret is None or settings.env is not Environment.DEVELOPMENT:
        raise RuntimeError("no development secret: set CALDICOTT_JWT_SECRET (development only)")
    if not 0 < ttl_seconds <= settings.token_max_lifetime_seconds:
        # The verifier would refuse it: say so now rather than at the first request.
        raise RuntimeError(
            f"a token lives 1 to {settings.token_max_lifetime_seconds} seconds (CALDICOTT_TOKEN_MAX_LIFETIME_SECONDS)"
        )
    now = int(time.time())
    claims = {
        "sub": sub,
        "org": org,
        "roles": [str(role) for role in roles],
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")
