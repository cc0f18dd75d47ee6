"""Bearer-token verification and role checks; the only module that touches python-jose."""

import json
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jose import jwk, jwt
from jose.exceptions import JOSEError

from app.config import Environment, Settings
from app.errors import Forbidden, Unauthorized
from app.models.vocabulary import Role

MAX_TOKEN_BYTES = 8192
ASYMMETRIC_ALGORITHMS = {"RS256", "ES256"}
CLOCK_SKEW_SECONDS = 30


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a person or system of an organisation, with its roles."""

    sub: str
    org: str
    roles: frozenset[Role]

    def has(self, role: Role) -> bool:
        return role in self.roles


class TokenVerifier:
    """Checks signature, algorithm allow-list, issuer, audience, expiry and our claims."""

    def __init__(self, settings: Settings):
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret and settings.env is Environment.DEVELOPMENT else None
        self._keys: dict[str, tuple[str, Any]] = {}  # kid -> (algorithm, key)
        if settings.jwks_file is not None:
            for entry in json.loads(settings.jwks_file.read_text())["keys"]:
                algorithm = entry.get("alg") or {"RSA": "RS256", "EC": "ES256"}.get(entry.get("kty", ""), "")
                if algorithm not in ASYMMETRIC_ALGORITHMS:
                    raise ValueError(f"JWKS key {entry.get('kid')!r}: algorithm {algorithm!r} is not allowed")
                self._keys[entry.get("kid", "")] = (algorithm, jwk.construct(entry, algorithm=algorithm))

    def verify(self, token: str) -> Principal:
        """Return the principal of a valid token, or raise Unauthorized."""
        if len(token) > MAX_TOKEN_BYTES:
            raise Unauthorized("token is too large")
        try:
            header = jwt.get_unverified_header(token)
        except JOSEError:
            raise Unauthorized("token is malformed") from None
        algorithm, key = self._key_for(header)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={"require_exp": True, "require_iss": True, "require_aud": True, "require_sub": True, "leeway": CLOCK_SKEW_SECONDS},
            )
        except JOSEError as error:
            raise Unauthorized(f"token rejected: {error}") from None
        return _principal_from(claims)

    def _key_for(self, header: dict[str, Any]) -> tuple[str, Any]:
        # The header only routes to one of our keys; the allowed algorithm is the key's own.
        if header.get("alg") == "HS256" and self._secret is not None:
            return "HS256", self._secret
        if header.get("alg") in ASYMMETRIC_ALGORITHMS and self._keys:
            found = self._keys.get(header.get("kid", ""))
            if found is None and len(self._keys) == 1 and "kid" not in header:
                found = next(iter(self._keys.values()))
            if found is not None:
                return found
            raise Unauthorized("token signed by an unknown key")
        raise Unauthorized("token algorithm is not allowed")


def _principal_from(claims: dict[str, Any]) -> Principal:
    sub, org, roles = claims.get("sub"), claims.get("org"), claims.get("roles")
    if not isinstance(sub, str) or not sub.strip():
        raise Unauthorized("token has no subject")
    if not isinstance(org, str) or not org.strip():
        raise Unauthorized("token has no org claim")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise Unauthorized("token roles claim must be a list of strings")
    known = frozenset(Role(role) for role in roles if role in Role.__members__.values())
    return Principal(sub=sub, org=org, roles=known)


def mint_dev_token(settings: Settings, *, org: str, roles: list[Role], sub: str, ttl_seconds: int = 3600) -> str:
    """Sign a development token with the dev secret; refused when there is none."""
    if settings.jwt_secret is None or settings.env is not Environment.DEVELOPMENT:
        raise RuntimeError("no development secret: set CALDICOTT_JWT_SECRET (development only)")
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


_bearer = HTTPBearer(auto_error=False, description="JWT with claims sub, org, roles, iss, aud, exp")


async def authenticate(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    """Dependency: the verified caller, or 401."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer token is required")
    verifier: TokenVerifier = request.app.state.verifier
    return verifier.verify(credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require_roles(*roles: Role) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    """Dependency factory: the caller must hold one of these roles, else 403."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.roles.intersection(roles):
            raise Forbidden(f"this needs one of the roles: {', '.join(roles)}")
        return principal

    return check


AgencyPrincipal = Annotated[Principal, Depends(require_roles(Role.AGENCY))]
AdminPrincipal = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
ReaderPrincipal = Annotated[Principal, Depends(require_roles(Role.AGENCY, Role.GUARDIAN, Role.AUDITOR, Role.ADMIN))]
OverseerPrincipal = Annotated[Principal, Depends(require_roles(Role.GUARDIAN, Role.AUDITOR, Role.ADMIN))]
