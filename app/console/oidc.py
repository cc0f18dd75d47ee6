"""Signing in through the trust's OpenID provider: the only module that imports Authlib (and joserfc, Authlib's own JOSE
library, which it installs).

Authorization code with PKCE (S256), `state` and `nonce`. The provider is found by discovery from
CALDICOTT_OIDC_ISSUER and its answer kept an hour; the ID token's signature is checked with the provider's JWKS, then
its issuer, audience (our client id), expiry and nonce by Authlib's `CodeIDToken`. Its claims become a Principal as a
bearer token's do (app/http/tokens.py `principal_from`, the roles honoured through app/powers.py), with the organisation
and roles read from the claims CALDICOTT_OIDC_ORG_CLAIM and CALDICOTT_OIDC_ROLES_CLAIM name.

Nothing here knows the web framework: app/console/oidc_sign_in.py holds the routes and the cookie that carries a
`Flow` from the start of a sign-in to its callback.
"""

import base64
import binascii
import hmac
import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from app.errors import Unauthorized
from app.http.tokens import principal_from
from app.platform.config import Settings
from app.powers import Powers
from app.principal import Principal

DISCOVERY_PATH = "/.well-known/openid-configuration"
CALLBACK_PATH = "/console/oidc/callback"
SCOPE = "openid profile email"
# Signatures a trust's provider uses (Entra ID and Keycloak sign with RS256); never `none`, never a shared secret.
ID_TOKEN_ALGORITHMS = ("RS256", "PS256", "ES256")
METADATA_SECONDS = 3600  # discovery and keys are kept an hour: a provider's rotation is seen within it
JWKS_REFETCH_SECONDS = 60  # an unknown key id fetches the keys again, at most once a minute
HTTP_TIMEOUT_SECONDS = 10
CLOCK_SKEW_SECONDS = 60
FLOW_SECONDS = 600  # a sign-in not completed within ten minutes must start again
MAX_NAME_CHARS = 200

log = logging.getLogger("caldicott.auth")


class ProviderUnavailable(Exception):
    """The provider could not be reached, or answered discovery with something that is not its configuration."""


class SignInFailed(Exception):
    """This sign-in cannot complete: the reason is safe to show the person (it never holds a token)."""


@dataclass(frozen=True, slots=True)
class Flow:
    """One sign-in in progress: what the callback must find again (the values sent in the authorization request)."""

    state: str
    nonce: str
    verifier: str
    next_path: str
    started: int

    @classmethod
    def begin(cls, next_path: str) -> "Flow":
        # 48 characters of 62 (about 285 bits) each; the verifier within RFC 7636's 43 to 128.
        return cls(generate_token(48), generate_token(48), generate_token(64), next_path, int(time.time()))

    def encode(self) -> str:
        """The flow as a cookie's value: base64url JSON, unpadded (cookie values are best without `=`)."""
        return base64.urlsafe_b64encode(json.dumps(asdict(self)).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str | None) -> "Flow | None":
        """The flow a cookie holds, or None when it holds none or one that has timed out."""
        if not value:
            return None
        try:
            fields = json.loads(base64.urlsafe_b64decode(value.encode() + b"=" * (-len(value) % 4)))
            flow = cls(**fields)
        except (binascii.Error, UnicodeError, ValueError, TypeError):
            return None
        if not all(isinstance(getattr(flow, name), str) for name in ("state", "nonce", "verifier", "next_path")):
            return None
        if not isinstance(flow.started, int) or not 0 <= time.time() - flow.started <= FLOW_SECONDS:
            return None
        return flow

    def matches(self, state: str) -> bool:
        return hmac.compare_digest(self.state.encode(), state.encode())


@dataclass(frozen=True, slots=True)
class Person:
    """Who the provider signed in: the Principal the API would make of their claims, and how to address them."""

    principal: Principal
    name: str
    email: str


class OidcClient:
    """This service as a client of the trust's provider: one per application, keeping discovery and keys."""

    def __init__(self, settings: Settings):
        assert settings.oidc_issuer is not None and settings.oidc_client_id is not None
        self.issuer = str(settings.oidc_issuer).rstrip("/")
        self.client_id = settings.oidc_client_id
        secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else ""
        self._secret = secret or None  # set but empty (a blank line in an env file): a public client
        self.redirect_uri = settings.console_address + CALLBACK_PATH
        self._org_claim, self._roles_claim = settings.oidc_org_claim, settings.oidc_roles_claim
        self._powers = Powers.of(settings)
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    async def authorization_url(self, flow: Flow) -> str:
        """Where to send the person's browser to sign in."""
        metadata = await self._discover()
        return prepare_grant_uri(
            metadata["authorization_endpoint"],
            self.client_id,
            "code",
            redirect_uri=self.redirect_uri,
            scope=SCOPE,
            state=flow.state,
            nonce=flow.nonce,
            code_challenge=create_s256_code_challenge(flow.verifier),
            code_challenge_method="S256",
        )

    async def complete(self, flow: Flow, *, code: str) -> Person:
        """Exchange the code (with the PKCE verifier) for an ID token, verify it, and say who signed in."""
        metadata = await self._discover()
        answer = await self._post_token(metadata["token_endpoint"], code=code, verifier=flow.verifier)
        claims = await self.verify_id_token(
            answer.get("id_token"), nonce=flow.nonce, access_token=answer.get("access_token")
        )
        return self.person(claims)

    async def verify_id_token(self, id_token: object, *, nonce: str, access_token: object = None) -> dict[str, Any]:
        """The claims of an ID token signed by the provider's key, for our client, unexpired, with our nonce."""
        if not isinstance(id_token, str):
            raise SignInFailed("the provider's answer held no ID token")
        metadata = await self._discover()
        # OpenID Connect Discovery: RS256 when the provider does not list the algorithms it signs with.
        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        allowed = [name for name in ID_TOKEN_ALGORITHMS if name in offered]
        if not allowed:
            raise SignInFailed(f"the provider signs ID tokens with none of {', '.join(ID_TOKEN_ALGORITHMS)}")
        try:
            try:
                token = jwt.decode(id_token, await self._key_set(), algorithms=allowed)
            except InvalidKeyIdError:  # the provider may have rotated its keys since we fetched them
                token = jwt.decode(id_token, await self._key_set(refetch=True), algorithms=allowed)
            claims = CodeIDToken(
                token.claims,
                token.header,
                {
                    "iss": {"essential": True, "value": metadata["issuer"]},
                    "aud": {"essential": True, "value": self.client_id},
                    "nonce": {"essential": True, "value": nonce},
                },
                {"nonce": nonce, "client_id": self.client_id, "access_token": access_token},
            )
            claims.validate(leeway=CLOCK_SKEW_SECONDS)
        except JoseError as error:
            log.warning("ID token from %s refused: %s", self.issuer, error)
            raise SignInFailed(f"the ID token was refused ({error.error}: {error.description})") from None
        return dict(claims)

    def person(self, claims: dict[str, Any]) -> Person:
        """The Principal of verified claims, exactly as the API makes one of a token's, and the person's name."""
        mapped = {
            "sub": claims.get("sub"),
            "org": _claim(claims, self._org_claim),
            "roles": _claim(claims, self._roles_claim),
        }
        if mapped["roles"] is None:
            mapped["roles"] = []  # a person with no roles at all is a person with no inside role
        try:
            principal = principal_from(mapped, self._powers)
        except Unauthorized as error:
            log.warning("ID token claims from %s refused: %s", self.issuer, error.detail)
            raise SignInFailed(f"the ID token's claims were refused: {error.detail}") from None
        name, email = claims.get("name"), claims.get("email")
        name = name if isinstance(name, str) and name.strip() else principal.sub
        return Person(
            principal=principal, name=name.strip()[:MAX_NAME_CHARS], email=email if isinstance(email, str) else ""
        )

    async def _discover(self) -> dict[str, Any]:
        if self._metadata is not None and time.monotonic() - self._metadata_at < METADATA_SECONDS:
            return self._metadata
        document = await self._get_json(self.issuer + DISCOVERY_PATH)
        # OpenID Connect Discovery 4.3: the document must name the issuer it was fetched for. Its own spelling (a
        # trailing slash or not, which the setting's URL may have gained or lost) is the `iss` its ID tokens carry.
        issuer = document.get("issuer")
        if not isinstance(issuer, str) or issuer.rstrip("/") != self.issuer:
            log.error("discovery at %s names issuer %r", self.issuer, issuer)
            raise ProviderUnavailable("the provider's configuration names another issuer")
        for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(endpoint), str):
                raise ProviderUnavailable(f"the provider's configuration has no {endpoint}")
        self._metadata, self._metadata_at = document, time.monotonic()
        return document

    async def _key_set(self, *, refetch: bool = False) -> KeySet:
        age = time.monotonic() - self._keys_at
        if self._keys is not None and age < METADATA_SECONDS and (not refetch or age < JWKS_REFETCH_SECONDS):
            return self._keys
        metadata = await self._discover()
        try:
            keys = KeySet.import_key_set(await self._get_json(metadata["jwks_uri"]))
        except (JoseError, ValueError, TypeError, KeyError) as error:
            log.error("the key set at %s cannot be read: %s", metadata["jwks_uri"], error)
            raise ProviderUnavailable("the provider's key set cannot be read") from None
        self._keys, self._keys_at = keys, time.monotonic()
        return keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS) as client:
                response = await client.get(url, headers={"Accept": "application/json"})
                response.raise_for_status()
                document = response.json()
        except (httpx.HTTPError, ValueError) as error:
            log.error("cannot fetch %s: %s: %s", url, type(error).__name__, error)
            raise ProviderUnavailable("the sign-in service cannot be reached") from None
        if not isinstance(document, dict):
            raise ProviderUnavailable(f"{url} did not answer with a JSON object")
        return document

    async def _post_token(self, url: str, *, code: str, verifier: str) -> dict[str, Any]:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        form |= {"code_verifier": verifier, "client_id": self.client_id}
        # client_secret_basic (RFC 6749 2.3.1: each part form-encoded first); a public client sends none.
        auth = httpx.BasicAuth(quote(self.client_id, safe=""), quote(self._secret, safe="")) if self._secret else None
        try:
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS) as client:
                response = await client.post(url, data=form, auth=auth, headers={"Accept": "application/json"})
                answer = response.json()
        except (httpx.HTTPError, ValueError) as error:
            log.error("the token endpoint %s failed: %s: %s", url, type(error).__name__, error)
            raise ProviderUnavailable("the sign-in service cannot be reached") from None
        if not isinstance(answer, dict):
            raise SignInFailed("the provider's answer was not a token response")
        if response.status_code != 200 or "error" in answer:
            # The error code and its description only: never the code or any token.
            log.warning("the provider refused the code: %s %s", answer.get("error"), answer.get("error_description"))
            raise SignInFailed(f"the provider refused to complete the sign-in ({_short(answer.get('error'))})")
        return answer


def _claim(claims: dict[str, Any], name: str) -> Any:
    """A claim by its name, or by a dotted path into nested objects (Keycloak's `realm_access.roles`)."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _short(value: object) -> str:
    """An error code from the provider, fit to show and log: printable ASCII, 60 characters at most."""
    text = value if isinstance(value, str) else "no reason given"
    return "".join(char for char in text if " " <= char <= "~")[:60] or "no reason given"
