"""One Settings object, read from CALDICOTT_* environment variables."""

import json
import re
from enum import StrEnum
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import (
    AliasChoices,
    Field,
    HttpUrl,
    IPvAnyNetwork,
    NonNegativeFloat,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

from app.canonical import SubjectKeys
from app.services.audit.signing import AuditKeys, load_keys

SQLITE_DEFAULT_URL = "sqlite+aiosqlite:///./caldicott.db"
DEV_SUBJECT_KEY = "development-subject-key-not-for-production"
# Where development keeps the key that signs audit checkpoints when
# CALDICOTT_AUDIT_SIGNING_KEY_FILE is not set (made on first use).
DEV_AUDIT_SIGNING_KEY_FILE = Path("caldicott-audit-key.pem")
MIN_SUBJECT_KEY_BYTES = 32  # as long as the HMAC-SHA256 output it keys

# The controller organisation of a development installation, as the examples and development tokens name it.
DEV_CONTROLLER_ORG = "CONTROLLER"
# An address as people write it to a mail server: one @, no spaces, commas or angle brackets.
EMAIL_ADDRESS = r"^[^@\s,<>]+@[^@\s,<>]+$"
OrganisationCode = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[^\x00]*$")]


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    AUTO = "auto"  # console on a terminal, JSON otherwise
    JSON = "json"
    CONSOLE = "console"


class Settings(BaseSettings):
    """Service configuration; refuses development shortcuts in production."""

    model_config = SettingsConfigDict(env_prefix="CALDICOTT_", env_file=".env", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    database_url: str = SQLITE_DEFAULT_URL
    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "caldicott-dev"
    jwt_audience: str = "caldicott-api"
    # The longest a bearer token may live (exp - iat, or exp - now without iat): a stolen token is useful this long.
    token_max_lifetime_seconds: int = Field(default=86400, ge=60, le=31 * 86400)
    jwks_file: Path | None = None
    # Fetched with httpx, cached, and fetched again (at most once a minute) when a token names an unknown key.
    jwks_url: HttpUrl | None = None
    # The HMAC keys of subject identifiers by version (docs/operators/keys.md#the-subject-keys): CALDICOTT_SUBJECT_KEY
    # is version 1, as every installation had it before rotation; CALDICOTT_SUBJECT_KEYS adds others as `version:key`
    # pairs separated by commas; new hashes use CALDICOTT_SUBJECT_KEY_CURRENT, by default the highest version.
    subject_key: SecretStr | None = None
    subject_keys: SecretStr | None = None
    subject_key_current: int | None = Field(default=None, ge=1)
    # No longer read (policies are uploaded and activated through the API);
    # set, it stops start-up rather than be ignored.
    policy_file: Path | None = None
    # The organisation that runs the service (the controller): registered at start if missing, so its admins can work.
    controller_org: OrganisationCode = DEV_CONTROLLER_ORG
    # The controller's name as people read it: decision notices say "From: <this>", and the controller's organisation
    # is registered under it at first start. Unset, notices use the name registered for the controller's organisation
    # (at first start "<code> (the controller)"; an admin may change it).
    controller_name: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[^\x00]*\S[^\x00]*$")
    # Organisations besides the controller whose guardians sit in its review (a JSON list of codes): a token's
    # `guardian` role is honoured for these and the controller only, `admin` and `auditor` for the controller alone
    # (app/powers.py, applied in app/http/tokens.py).
    guardian_orgs: list[OrganisationCode] = []
    # The console's sign-in through the trust's OpenID provider (app/console/oidc.py; docs/operators/sign-in.md): its
    # issuer (discovery at <issuer>/.well-known/openid-configuration), this service's client there (a confidential
    # client has a secret; a public one relies on PKCE alone), the name on the sign-in button, and which ID token claims
    # hold the organisation code and the list of roles, read as the API reads a token's `org` and `roles`.
    oidc_issuer: HttpUrl | None = None
    oidc_client_id: str | None = Field(default=None, min_length=1, max_length=200)
    oidc_client_secret: SecretStr | None = None
    oidc_provider_name: str = Field(default="your organisation's account", min_length=1, max_length=100)
    oidc_org_claim: str = Field(default="org", min_length=1, max_length=100)
    oidc_roles_claim: str = Field(default="roles", min_length=1, max_length=100)
    # Webhooks: where deliveries may go (app/services/webhooks/egress.py; docs/operators/configuration.md#webhooks).
    # Private addresses and any port: tests and local development only (SSRF).
    webhook_allow_private: bool = False
    # Private networks receivers may be on besides public addresses (HSCN, PSN, a council's own), as CIDRs separated by
    # commas; production never opens loopback, link-local (the metadata service), multicast or broadcast.
    webhook_allowed_networks: Annotated[list[IPvAnyNetwork], NoDecode] = []
    # Ports receivers may listen on besides 443, separated by commas.
    webhook_allowed_ports: Annotated[list[Annotated[int, Field(ge=1, le=65535)]], NoDecode] = []
    # An http(s) URL of the egress proxy every delivery goes through (never one from the environment); the guard
    # still checks every address the receiver's host resolves to before anything is sent.
    webhook_proxy: HttpUrl | None = None
    # GET /v1/events serves the events of this many days, so a receiver back from a long outage catches up.
    events_retention_days: int = Field(default=30, ge=1, le=36500)
    webhook_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    # Seconds before each attempt, jittered: the first at once (always 0), the last some 27 hours after the event.
    webhook_retry_schedule: list[NonNegativeFloat] = Field(
        default=[0, 5, 300, 1800, 7200, 18000, 36000, 36000], min_length=1
    )
    webhook_worker_in_serve: bool = False
    webhook_poll_seconds: float = Field(default=1.0, gt=0)
    webhook_batch_size: int = Field(default=20, ge=1, le=500)
    # Sends one worker process has in flight at once, in all and to any one endpoint (so a slow receiver holds
    # at most this many of its slots); several processes multiply the endpoint's share (docs/operators/deployment.md).
    webhook_concurrency: int = Field(default=64, ge=1, le=1000)
    webhook_endpoint_concurrency: int = Field(default=8, ge=1, le=1000)
    # Delivered webhook deliveries (with their attempts) and outbox events left with no delivery are pruned by the
    # worker this many days after delivery (app/services/webhooks/pruning.py); failed and pending ones are kept.
    webhook_retention_days: int = Field(default=90, ge=1, le=36500)
    # An Idempotency-Key is answered again for this many hours after its first use, then pruned by the worker's
    # housekeeping and free to be used again (app/http/idempotency.py, app/services/operations/idempotency.py).
    idempotency_key_hours: int = Field(default=24, ge=1, le=8760)
    # How long an audit event may wait after its commit before a chaining pass takes it (app/services/audit/chain.py);
    # under load one pass then chains many requests' events. Tests set 0, so every request's events are chained at once.
    audit_chain_delay_seconds: float = Field(default=0.05, ge=0, le=5)
    # Signed checkpoints of the chain's head (app/services/audit/checkpoints.py): the Ed25519 key that signs them (a PEM
    # file, never in the database; development makes one on first use), the JWK set of every public key that ever signed
    # (rotation adds to it; by default the signing key's own),
    # and how often the worker signs the head when it has moved.
    audit_signing_key_file: Path | None = None
    audit_public_keys_file: Path | None = None
    audit_checkpoint_seconds: float = Field(default=300.0, gt=0, le=86400)
    # How long a process keeps the active policy before reading it again: another process's activation takes
    # effect here within this time (an activation in this process, at once). 0 reads it on every submission.
    policy_cache_seconds: float = Field(default=1.0, ge=0, le=60)
    # A what-if replay must name a window (`from` and `to`) no wider than this many days, and is refused when the
    # window holds more rules decisions than the cap, so one replay's time is bounded (app/services/policies/replay.py).
    replay_max_days: int = Field(default=366, ge=1, le=36500)
    replay_max_decisions: int = Field(default=200_000, ge=1, le=10_000_000)
    # Replay reports (with their listed changes) are pruned by the worker's housekeeping this many days after the run.
    replay_keep_days: int = Field(default=90, ge=1, le=36500)
    # Fair use: each endpoint is another outbound POST for every event; each identifier another row written.
    max_webhook_endpoints_per_org: int = Field(default=10, ge=1, le=1000)
    # The request schema's ceiling (1000, MAX_IDENTIFIERS) may be lowered here, not raised:
    # a bulk request names a count instead.
    max_identifiers_per_request: int = Field(default=1000, ge=1, le=1000)
    # How often the webhook worker looks for agreements whose review date or end is near (and once as it starts).
    agreement_check_seconds: float = Field(default=3600.0, gt=0, le=86400)
    # A decision notice tells the requester it may ask for reconsideration within this many days of the decision.
    reconsideration_window_days: int = Field(default=28, ge=1, le=365)
    # Working days (of the deciding policy's bank-holiday calendar) an asset's owner has to record a disclosure.
    disclosure_due_working_days: int = Field(default=5, ge=1, le=60)
    # The person's decision notice says how to reach the controller's Data Protection
    # Officer and the ICO (brief section 6, rule 3).
    dpo_contact: str = Field(
        default="The Data Protection Officer, CONTROLLER (development: set CALDICOTT_DPO_CONTACT)",
        min_length=1,
        max_length=500,
    )
    ico_contact: str = Field(
        default="Information Commissioner's Office, ico.org.uk/make-a-complaint, 0303 123 1113",
        min_length=1,
        max_length=500,
    )
    # Rate limits per organisation and class of route (docs/integrators/rate-limits.md): a token bucket holding `quota`
    # requests, refilled evenly over `window_seconds`; the defaults are several times what the benchmarks send.
    rate_limit_enabled: bool = True
    rate_limit_writes_quota: int = Field(default=2000, ge=1)
    rate_limit_writes_window_seconds: int = Field(default=10, ge=1, le=86400)
    rate_limit_reads_quota: int = Field(default=5000, ge=1)
    rate_limit_reads_window_seconds: int = Field(default=10, ge=1, le=86400)
    rate_limit_reports_quota: int = Field(default=1000, ge=1)
    rate_limit_reports_window_seconds: int = Field(default=10, ge=1, le=86400)
    # Uploads of attachments are a class of their own, far smaller than writes: each may carry megabytes.
    rate_limit_uploads_quota: int = Field(default=20, ge=1)
    rate_limit_uploads_window_seconds: int = Field(default=60, ge=1, le=86400)
    # The public data uses register (GET /v1/register) shows a number of people under this as a band ("<10").
    register_min_count: int = Field(default=10, ge=1, le=1000)
    # The console (app/console/): its public address, for the links in emails and the sign-in's redirect URI; how long a
    # signed-in person may be idle, and how long a sign-in lasts at most; and the development sign-in (pick a role),
    # for a laptop only.
    console_url: HttpUrl | None = None
    console_idle_minutes: int = Field(default=30, ge=1, le=720)
    console_session_hours: int = Field(default=10, ge=1, le=24)
    console_dev_sign_in: bool = False
    # The API's interactive documentation, /docs (app/http/api_docs.py): unset, served in development and not in
    # production (a 404); true or false decides either way.
    api_docs: bool | None = None
    # When set, GET /metrics needs `Authorization: Bearer <this token>`.
    metrics_token: SecretStr | None = None
    # The commit the image was built from, stamped by its build: the `commit` of caldicott_build_info.
    build_commit: str = Field(default="unknown", min_length=1, max_length=64)
    # The HTTP server (`caldicott serve`):
    # how long a slow or idle client may hold a connection, and how much it may send.
    http_header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    http_keep_alive_seconds: int = Field(default=5, ge=1, le=300)
    http_max_header_bytes: int = Field(default=16384, ge=4096, le=1048576)
    http_limit_concurrency: int = Field(default=1000, ge=1)
    http_graceful_shutdown_seconds: int = Field(default=10, ge=0, le=3600)
    # Evidence attached to sharing requests (app/services/attachments/uploads.py): the most file content one upload may
    # carry, read as a stream (the 256 KiB body limit does not apply to that route), and where SQLite keeps the content
    # (PostgreSQL keeps it in the database): by default an `attachments/` folder beside the database file.
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1, le=1024 * 1024 * 1024)
    attachment_dir: Path | None = None
    # Kept this many days after the request last changed (or the upload, if later), then `caldicott attachments purge`
    # removes the content: six years (2192 days, leap days included), the Limitation Act 1980 period for claims in
    # contract and tort (ss. 2 and 5), within which the basis of a disclosure may have to be shown.
    attachment_retention_days: int = Field(default=2192, ge=1, le=36500)
    # What one caller may pile onto the service (docs/guardians/evidence.md#how-much-evidence): the attachments one
    # request may hold and their bytes in all (409 beyond), and the bytes of evidence one organisation may attach in a
    # day, midnight to midnight in London (429 with Retry-After beyond).
    attachments_per_request: int = Field(default=20, ge=1, le=10000)
    attachment_bytes_per_request: int = Field(default=50 * 1024 * 1024, ge=1)
    attachment_bytes_per_org_per_day: int = Field(default=500 * 1024 * 1024, ge=1)
    # Email to people (app/services/notifications/; docs/operators/configuration.md#email-notifications): off while
    # no SMTP host is set. The worker sends from CALDICOTT_NOTIFY_FROM, over STARTTLS unless told otherwise, signing in
    # when a user is set; the guardians on duty are the addresses told of emergency and overdue cases (comma-separated,
    # e.g. the trust's Caldicott mailbox); a guardian holding a claim is warned this many minutes before it lapses.
    smtp_host: str | None = Field(default=None, min_length=1, max_length=253)
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = Field(default=None, min_length=1, max_length=320)
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    notify_from: str | None = Field(default=None, pattern=EMAIL_ADDRESS)
    notify_duty_addresses: Annotated[list[Annotated[str, StringConstraints(pattern=EMAIL_ADDRESS)]], NoDecode] = []
    notify_claim_warning_minutes: int = Field(default=30, ge=1, le=1440)
    # Told of every incident with a disclosure besides the guardians on duty: the SIRO's and the DPO's addresses, or
    # the IG team's mailbox (comma-separated; app/services/incidents/).
    notify_incident_addresses: Annotated[list[Annotated[str, StringConstraints(pattern=EMAIL_ADDRESS)]], NoDecode] = []
    # Log lines (app/platform/logs.py): one JSON object each, or one readable line each for people at a terminal.
    log_format: LogFormat = LogFormat.AUTO
    # Tracing (app/platform/tracing.py) is on when the standard OpenTelemetry variable names a collector (OTLP over
    # HTTP); the exporter reads the other OTEL_EXPORTER_OTLP_* variables (headers, timeout) itself.
    otlp_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    )

    @model_validator(mode="after")
    def refuse_unsafe_production(self) -> "Settings":
        if self.jwks_file is not None and self.jwks_url is not None:
            raise ValueError("set one of CALDICOTT_JWKS_FILE and CALDICOTT_JWKS_URL, not both")
        if self.env is Environment.PRODUCTION:
            if self.jwt_secret is not None:
                raise ValueError(
                    "CALDICOTT_JWT_SECRET (HS256) is for development only; "
                    "use CALDICOTT_JWKS_FILE or CALDICOTT_JWKS_URL"
                )
            if self.jwks_file is None and self.jwks_url is None:
                raise ValueError("production needs CALDICOTT_JWKS_FILE or CALDICOTT_JWKS_URL to verify tokens")
            if self.jwks_url is not None and self.jwks_url.scheme != "https":
                raise ValueError("production fetches CALDICOTT_JWKS_URL over https only")
            self._refuse_unsafe_subject_keys()
            self._refuse_unsafe_console()
            if self.webhook_allow_private:
                raise ValueError(
                    "CALDICOTT_WEBHOOK_ALLOW_PRIVATE is for development only; "
                    "production sends webhooks to public addresses only"
                )
            if self.uses_sqlite:
                raise ValueError("production needs CALDICOTT_DATABASE_URL pointing at PostgreSQL")
            if self.audit_signing_key_file is None and self.audit_public_keys_file is None:
                raise ValueError(
                    "production needs CALDICOTT_AUDIT_SIGNING_KEY_FILE (the worker signs audit checkpoints with it) "
                    "or, where nothing signs, CALDICOTT_AUDIT_PUBLIC_KEYS_FILE"
                )
            if self.controller_org == DEV_CONTROLLER_ORG:
                raise ValueError(
                    "production needs CALDICOTT_CONTROLLER_ORG: the code of the organisation that runs the service"
                )
            if self.controller_name is None:
                raise ValueError(
                    "production needs CALDICOTT_CONTROLLER_NAME: the controller's name as its notices show it to people"
                )
        return self

    @model_validator(mode="after")
    def sign_in_complete(self) -> "Settings":
        """The trust's provider needs our client id; production reaches it, and is reached back, over https only."""
        if self.oidc_issuer is None:
            return self
        if self.oidc_client_id is None:
            raise ValueError(
                "CALDICOTT_OIDC_ISSUER needs CALDICOTT_OIDC_CLIENT_ID: this service's client at the provider"
            )
        if self.env is Environment.PRODUCTION:
            if self.oidc_issuer.scheme != "https":
                raise ValueError("production signs people in through an https CALDICOTT_OIDC_ISSUER only")
            if self.console_url is None:
                raise ValueError(
                    "CALDICOTT_OIDC_ISSUER needs CALDICOTT_CONSOLE_URL in production: "
                    "the provider sends people back to it"
                )
        return self

    def _refuse_unsafe_subject_keys(self) -> None:
        """Production: a subject key of each version given, none the development one, none under 32 bytes."""
        first = self.subject_key.get_secret_value() if self.subject_key is not None else None
        if (first is None and not self._later_subject_keys()) or (
            first is not None and first.strip() in ("", DEV_SUBJECT_KEY)
        ):
            raise ValueError("production needs CALDICOTT_SUBJECT_KEY to hash subject identifiers")
        if first is not None and len(first.encode()) < MIN_SUBJECT_KEY_BYTES:
            raise ValueError(
                f"production needs a CALDICOTT_SUBJECT_KEY of at least {MIN_SUBJECT_KEY_BYTES} bytes; a short key "
                "lets identifiers be guessed from their hashes"
            )
        for version, key in self._later_subject_keys().items():
            if key.strip() == DEV_SUBJECT_KEY or len(key.encode()) < MIN_SUBJECT_KEY_BYTES:
                raise ValueError(
                    f"production needs every key of CALDICOTT_SUBJECT_KEYS to be at least {MIN_SUBJECT_KEY_BYTES} "
                    f"bytes and not the development key (version {version} is not); a short key lets identifiers be "
                    "guessed from their hashes"
                )

    def _later_subject_keys(self) -> dict[int, str]:
        """CALDICOTT_SUBJECT_KEYS read: {version: key}; unset or blank, none."""
        text = self.subject_keys.get_secret_value() if self.subject_keys is not None else ""
        return parse_subject_keys(text) if text.strip() else {}

    @cached_property
    def subject_keyring(self) -> SubjectKeys:
        """Every configured subject key by version, and the one new hashes use.

        With no key set at all (development), version 1 is the development key; production refuses that."""
        keys = self._later_subject_keys()
        if self.subject_key is not None:
            if 1 in keys:
                raise ValueError(
                    "CALDICOTT_SUBJECT_KEYS names version 1, which is CALDICOTT_SUBJECT_KEY: give it in one of them"
                )
            keys[1] = self.subject_key.get_secret_value()
        if not keys:
            keys[1] = DEV_SUBJECT_KEY
        current = self.subject_key_current or max(keys)
        if current not in keys:
            raise ValueError(
                f"CALDICOTT_SUBJECT_KEY_CURRENT is {current}, a version with no key "
                f"(configured: {', '.join(map(str, sorted(keys)))})"
            )
        return SubjectKeys(keys={version: key.encode() for version, key in sorted(keys.items())}, current=current)

    @model_validator(mode="after")
    def subject_keys_make_a_keyring(self) -> "Settings":
        self.subject_keyring  # noqa: B018 (read here so that a malformed setting stops start-up, not a request)
        return self

    @model_validator(mode="after")
    def refuse_never_allowed_networks(self) -> "Settings":
        """Production never opens loopback, link-local, multicast or broadcast; development may open loopback."""
        if self.env is Environment.PRODUCTION and (
            opened := [str(network) for network in self.webhook_allowed_networks if _never_allowed(network)]
        ):
            raise ValueError(
                f"CALDICOTT_WEBHOOK_ALLOWED_NETWORKS may not open {opened[0]}: production never sends webhooks to "
                "loopback, link-local (the metadata service), multicast or broadcast addresses"
            )
        return self

    @model_validator(mode="after")
    def email_needs_a_sender(self) -> "Settings":
        """Mail is sent only from a configured address, and a password never crosses the network in clear."""
        if self.smtp_host is not None and self.notify_from is None:
            raise ValueError("CALDICOTT_SMTP_HOST is set: set CALDICOTT_NOTIFY_FROM, the address mail comes from")
        if self.env is Environment.PRODUCTION and self.smtp_host is not None:
            if self.console_url is None:
                raise ValueError("CALDICOTT_SMTP_HOST is set: set CALDICOTT_CONSOLE_URL, which notifications link to")
            if self.smtp_password is not None and not self.smtp_starttls:
                raise ValueError("production sends CALDICOTT_SMTP_PASSWORD only over STARTTLS: CALDICOTT_SMTP_STARTTLS")
        return self

    @field_validator(
        "webhook_allowed_networks",
        "webhook_allowed_ports",
        "notify_duty_addresses",
        "notify_incident_addresses",
        mode="before",
    )
    @classmethod
    def comma_separated(cls, value: object) -> object:
        """`10.20.0.0/16,192.168.7.0/24` or `8443,9443` as operators write them; a JSON list is read too."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    @field_validator("webhook_proxy")
    @classmethod
    def proxy_scheme(cls, proxy: HttpUrl | None) -> HttpUrl | None:
        if proxy is not None and proxy.scheme not in ("http", "https"):
            raise ValueError("the proxy is an http:// or https:// URL")
        return proxy

    @field_validator("webhook_retry_schedule")
    @classmethod
    def first_attempt_at_once(cls, schedule: list[float]) -> list[float]:
        # Events are written with the change that causes them, where no settings are at hand.
        if schedule[0] != 0:
            raise ValueError("the first attempt is made at once: the schedule must start with 0")
        return schedule

    @property
    def webhook_lease_seconds(self) -> float:
        """How long a worker holds a claimed delivery: one whole attempt and the time to record it."""
        return self.webhook_timeout_seconds + 60

    @property
    def api_docs_served(self) -> bool:
        """Whether /docs is served: CALDICOTT_API_DOCS, else everywhere but production."""
        return self.api_docs if self.api_docs is not None else self.env is not Environment.PRODUCTION

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def attachment_folder(self) -> Path | None:
        """Where SQLite keeps attachment content:
        CALDICOTT_ATTACHMENT_DIR, else `attachments/` beside the database file; None on PostgreSQL."""
        if not self.uses_sqlite:
            return None
        if self.attachment_dir is not None:
            return self.attachment_dir
        database = make_url(self.database_url).database
        if not database or database == ":memory:" or database.startswith("file:"):
            raise ValueError("an in-memory SQLite database has no folder beside it: set CALDICOTT_ATTACHMENT_DIR")
        return Path(database).parent / "attachments"

    def _refuse_unsafe_console(self) -> None:
        if self.console_dev_sign_in:
            raise ValueError("CALDICOTT_CONSOLE_DEV_SIGN_IN lets anyone pick a role: it is for development only")
        if self.console_url is not None and self.console_url.scheme != "https":
            raise ValueError("production serves the console at an https CALDICOTT_CONSOLE_URL only")

    @property
    def console_address(self) -> str:
        """The console's public base URL, without a trailing slash: CALDICOTT_CONSOLE_URL, or on a laptop the address
        `scripts/run-dev` serves."""
        return str(self.console_url or "http://localhost:8000").rstrip("/")

    def audit_keys(self, *, sign: bool) -> AuditKeys:
        """The keys of audit checkpoints this process needs (the signer too when `sign`);
        see app/services/audit/signing.py."""
        production = self.env is Environment.PRODUCTION
        signing_key_file = self.audit_signing_key_file or (None if production else DEV_AUDIT_SIGNING_KEY_FILE)
        return load_keys(
            signing_key_file=signing_key_file,
            public_keys_file=self.audit_public_keys_file,
            sign=sign,
            production=production,
        )


SUBJECT_KEY_PAIR = re.compile(r"([1-9][0-9]{0,8}):(.+)", re.DOTALL)


def parse_subject_keys(text: str) -> dict[int, str]:
    """CALDICOTT_SUBJECT_KEYS (`2:key,3:key`) as {version: key}; an error names the pair or version, never a key."""
    keys: dict[int, str] = {}
    for position, pair in enumerate(text.split(","), start=1):
        matched = SUBJECT_KEY_PAIR.fullmatch(pair.strip())
        if matched is None or not matched[2].strip():
            raise ValueError(
                f"CALDICOTT_SUBJECT_KEYS: pair {position} is not `version:key` with a version from 1 "
                "(pairs are separated by commas; a key may not hold one)"
            )
        version = int(matched[1])
        if version in keys:
            raise ValueError(f"CALDICOTT_SUBJECT_KEYS names version {version} twice")
        keys[version] = matched[2]
    return keys


def _never_allowed(network: object) -> bool:
    from app.services.webhooks.egress import never_allowed  # the guard's own list; it imports these settings

    return never_allowed(network)  # type: ignore[arg-type]


@lru_cache
def get_settings() -> Settings:
    """Settings read once per process from the environment."""
    return Settings()
