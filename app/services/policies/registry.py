"""Policy versions: the shipped baselines and derived policies, which one is active, uploading and activating."""

import json
import time
from collections.abc import Mapping
from datetime import date
from typing import Any

import yaml
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, FieldError, InvalidInput, NotFound, PreconditionFailed, ProblemError
from app.models.actions import AdminAction
from app.models.base import utcnow
from app.models.policy import PolicyActivation, PolicyList, PolicyPublic, StoredPolicy
from app.platform.pagination import ascending, cursor_key, cut, keyset_page
from app.principal import Principal
from app.rules import Policy, PolicyError
from app.rules.engine import CURRENT_EDITION
from app.rules.policy_admission import admission_problems
from app.rules.policy_documents import BASELINE_NAME, DEFAULT_POLICY_PATH, parse_policy, shipped_path
from app.services.audit import events
from app.services.policies import editions

YAML = "application/yaml"
JSON = "application/json"
# What a client may send a policy as; YAML's media type was registered in 2024 (RFC 9512), older clients send these.
MEDIA_TYPES = {JSON: JSON, YAML: YAML, "application/x-yaml": YAML, "text/yaml": YAML, "text/x-yaml": YAML}


class InvalidPolicy(ProblemError):
    """A policy document that is not valid: 422 naming each path."""

    status_code = 422
    title = "Invalid policy"
    slug = "invalid-policy"

    def __init__(self, error: PolicyError):
        super().__init__(
            str(error),
            errors=[FieldError(field=path, location="body", message=message) for path, message in error.problems],
        )


class PolicyReplayOnly(Conflict):
    """An edition UK law has overtaken, or a policy derived from one:
    held for replay, never activated (brief section 7)."""

    title = "Policy is replay-only"
    slug = "policy-replay-only"


class PolicyRegistry:
    """Every policy the service can decide under:
    the shipped baselines, and derived ones read from the database once each."""

    def __init__(self, shipped: Mapping[tuple[str, str], Policy], *, cache_seconds: float = 0.0):
        self.shipped = dict(shipped)
        # The active policy's name and version as last read, and until when (time.monotonic()) to trust them.
        self.cache_seconds = cache_seconds
        self._active: tuple[tuple[str, str] | None, float] = (None, 0.0)
        # Their documents as shipped, read once: served byte for byte, so their SHA-256 is the hash decisions cite.
        self.shipped_sources = {(name, version): shipped_path(version).read_bytes() for name, version in self.shipped}
        self._derived: dict[
            str, Policy
        ] = {}  # by content hash: a restored or emptied database may hold other content under a name
        # A fresh installation (no activation recorded) decides under the newest baseline;
        # a derived policy shipped beside it waits to be activated.
        baselines = [policy for policy in self.shipped.values() if policy.derived_from is None]
        self.default = max(baselines, key=lambda policy: [int(part) for part in policy.version.split(".")])

    async def get(self, *, session: AsyncSession, name: str, version: str) -> Policy:
        """A policy by name and version, or 404."""
        key = (name, version)
        if key in self.shipped:
            return self.shipped[key]
        stored = await session.get(StoredPolicy, key)
        if stored is None:
            raise NotFound(f"no policy {name} {version}")
        if stored.content_hash not in self._derived:
            # Validated on upload, so parsing again cannot fail but for a change of code.
            self._derived[stored.content_hash] = parse_policy(
                stored.content.encode(), source=f"{name} {version}", shipped=False, media_type=stored.media_type
            )
        return self._derived[stored.content_hash]

    async def active(self, *, session: AsyncSession) -> Policy:
        """The policy that decides new submissions and amendments: the last one activated."""
        key, until = self._active
        if time.monotonic() >= until:
            row = (await (await session.connection()).execute(_LATEST)).first()
            key = (row.name, row.version) if row is not None else None
            self._active = (key, time.monotonic() + self.cache_seconds)
        if key is None:
            return self.default
        return await self.get(session=session, name=key[0], version=key[1])

    def forget_active(self) -> None:
        """Read the active policy again at the next submission (an activation here,
        or a database emptied under the process)."""
        self._active = (None, 0.0)


# The active policy's key: two columns through the connection, not an ORM object.
_LATEST = select(PolicyActivation.name, PolicyActivation.version).order_by(col(PolicyActivation.id).desc()).limit(1)


async def latest_activation(*, session: AsyncSession) -> PolicyActivation | None:
    """The most recent activation, or None on a fresh installation."""
    return (await session.exec(select(PolicyActivation).order_by(col(PolicyActivation.id).desc()).limit(1))).first()


async def list_page(
    *, session: AsyncSession, registry: PolicyRegistry, cursor: str | None, limit: int
) -> tuple[PolicyList, str]:
    """The policies held, by name and version, each with its latest activation;
    and the current activation's entity tag."""
    order = [ascending(col(StoredPolicy.name), str), ascending(col(StoredPolicy.version), str)]
    after = cursor_key(cursor, order) if cursor is not None else None
    active = await registry.active(session=session)
    rows, stored_next = await keyset_page(
        session, select(StoredPolicy), order=order, key=lambda row: (row.name, row.version), cursor=cursor, limit=limit
    )
    # The shipped policies are not rows:
    # merge them in, then cut again. Stored rows beyond this page sort after all of it.
    stored: dict[tuple[str, str], StoredPolicy | None] = {(row.name, row.version): row for row in rows}
    stored |= {key: None for key in registry.shipped if after is None or key > after}
    page, next_cursor = cut(sorted(stored)[: limit + 1], key=lambda key: key, limit=limit)
    activations = (await session.exec(select(PolicyActivation).order_by(col(PolicyActivation.id)))).all()
    last = {(row.name, row.version): row for row in activations}
    etag = activation_etag(activations[-1] if activations else None)
    items = []
    for key in page:
        policy = await registry.get(session=session, name=key[0], version=key[1])
        items.append(
            public(
                policy,
                shipped=stored[key] is None,
                activation=last.get(key),
                active=policy is active,
                stored=stored[key],
            )
        )
    return PolicyList(items=items, next_cursor=next_cursor or stored_next, warning=editions.warning(active)), etag


def public(
    policy: Policy,
    *,
    shipped: bool,
    activation: PolicyActivation | None,
    active: bool,
    stored: StoredPolicy | None = None,
) -> PolicyPublic:
    """What the API says of one policy."""
    return PolicyPublic(
        name=policy.name,
        version=policy.version,
        content_hash=policy.content_hash,
        edition=policy.edition,
        shipped=shipped,
        derived_from=policy.derived_from.model_dump() if policy.derived_from else None,
        replay_only=policy.replay_only,
        active=active,
        activated_at=activation.activated_at if activation else None,
        activated_by=activation.activated_by if activation else None,
        created_at=stored.created_at if stored else None,
        created_by=stored.created_by if stored else None,
    )


async def upload(
    *, session: AsyncSession, registry: PolicyRegistry, actor: Principal, content: bytes, media_type: str
) -> tuple[PolicyPublic, bool]:
    """Store a derived policy, validated as strictly as the shipped ones; returns it and whether it is new."""
    kind = MEDIA_TYPES.get(media_type)
    if kind is None:
        raise InvalidInput("Content-Type", f"send the policy as {JSON} or {YAML}", location="header")
    try:
        text = content.decode("utf-8")
        policy = parse_policy(content, source="upload", shipped=False, media_type=kind)
    except UnicodeDecodeError:
        raise InvalidInput("body", "the policy is not UTF-8 text") from None
    except PolicyError as error:
        raise InvalidPolicy(error) from None
    if policy.replay_only:
        # Parsing still reads such a policy: one uploaded before its edition became replay-only must go on replaying.
        message = (
            f"{policy.edition} is a replay-only edition that UK law has overtaken: "
            f"derive from {BASELINE_NAME} {CURRENT_EDITION}"
        )
        raise InvalidPolicy(PolicyError(message, [("derived_from", message)]))
    if problems := admission_problems(policy, now=utcnow()):
        raise InvalidPolicy(
            PolicyError(
                "invalid policy upload: " + "; ".join(f"{path}: {message}" for path, message in problems), problems
            )
        )
    key = (policy.name, policy.version)
    if key in registry.shipped:
        raise Conflict(
            f"{policy.name} {policy.version} is a shipped baseline; give a derived policy a name or version of its own"
        )
    existing = await session.get(StoredPolicy, key)
    if existing is not None:
        if existing.content_hash != policy.content_hash:
            raise Conflict(
                f"{policy.name} {policy.version} is already held with other content; "
                "a policy version never changes, give it a new version"
            )
        return public(policy, shipped=False, activation=None, active=False, stored=existing), False
    stored = StoredPolicy(
        name=policy.name,
        version=policy.version,
        content_hash=policy.content_hash,
        media_type=kind,
        content=text,
        derived_from_name=policy.derived_from.name if policy.derived_from else None,
        derived_from_version=policy.derived_from.version if policy.derived_from else None,
        created_at=utcnow(),
        created_by=actor.sub,
        created_by_org=actor.org,
    )
    session.add(stored)
    await session.flush()
    await events.policy_changed(session=session, actor=actor, action=AdminAction.POLICY_UPLOADED, policy=policy)
    return public(policy, shipped=False, activation=None, active=False, stored=stored), True


def activation_etag(current: PolicyActivation | None) -> str:
    """The entity tag of which activation is current (an installation with none:
    0), for If-Match on the next activation."""
    return f'"policy-activation-{current.id if current is not None and current.id is not None else 0}"'


def _check_precondition(etag: str, if_match: str | None) -> None:
    """Refuse an activation whose If-Match names an activation no longer current (412); without If-Match, go on."""
    if if_match is None:
        return
    listed = [tag.strip() for tag in if_match.split(",") if tag.strip()]
    if "*" not in listed and etag not in listed:
        raise PreconditionFailed(
            f"If-Match names {if_match[:200]!r}, not the current activation {etag}",
            current_etag=etag,
            headers={"ETag": etag},
        )


async def activate(
    *,
    session: AsyncSession,
    registry: PolicyRegistry,
    actor: Principal,
    name: str,
    version: str,
    if_match: str | None = None,
) -> tuple[PolicyPublic, str]:
    """Make a held policy the one that decides new submissions and amendments;
    activating the active one changes nothing.

    If-Match, when sent, must name the current activation (else 412). Without it, of two activations made at once
    exactly one is recorded: each names the activation it supersedes, a unique column, and the loser gets a 409.
    Returns the policy and the activation's entity tag as it now stands.
    """
    policy = await registry.get(session=session, name=name, version=version)
    if policy.replay_only:
        raise PolicyReplayOnly(
            f"{name} {version} runs edition {policy.edition}, which UK law has overtaken: it is kept for replay and "
            f"dry runs by name; activate {BASELINE_NAME} {CURRENT_EDITION} or a policy derived from it"
        )
    registry.forget_active()  # decide "already active" on what the database holds now
    current = await latest_activation(session=session)
    _check_precondition(activation_etag(current), if_match)
    if (await registry.active(session=session)) is policy and current is not None:
        return public(
            policy, shipped=(name, version) in registry.shipped, activation=current, active=True
        ), activation_etag(current)
    activation = PolicyActivation(
        name=name,
        version=version,
        supersedes=current.id if current is not None else 0,
        activated_at=utcnow(),
        activated_by=actor.sub,
        activated_by_org=actor.org,
    )
    session.add(activation)
    try:
        await session.flush()  # the unique `supersedes` answers two activations of the same current one
    except IntegrityError:
        raise Conflict(
            "another activation was recorded at the same moment: "
            "read GET /v1/policies and activate again if still wanted"
        ) from None
    registry.forget_active()
    await events.policy_changed(session=session, actor=actor, action=AdminAction.POLICY_ACTIVATED, policy=policy)
    stored = None if (name, version) in registry.shipped else await session.get(StoredPolicy, (name, version))
    return public(policy, shipped=stored is None, activation=activation, active=True, stored=stored), activation_etag(
        activation
    )


async def document(
    *, session: AsyncSession, registry: PolicyRegistry, name: str, version: str, media_type: str
) -> tuple[bytes, str]:
    """The policy's content as the media type asked for:
    the exact bytes it was given in, or the same document converted."""
    await registry.get(session=session, name=name, version=version)  # 404 for a policy not held
    if (name, version) in registry.shipped:
        content, given_as = registry.shipped_sources[name, version], YAML
    else:
        stored = await session.get(StoredPolicy, (name, version))
        assert stored is not None
        content, given_as = stored.content.encode(), stored.media_type
    if media_type == given_as:
        return content, given_as
    parsed = json.loads(content) if given_as == JSON else yaml.safe_load(content)
    if media_type == JSON:
        return json.dumps(parsed, indent=2, default=_json_default, ensure_ascii=False).encode(), JSON
    return yaml.safe_dump(parsed, sort_keys=False, allow_unicode=True).encode(), YAML


def derived_example() -> dict[str, Any]:
    """A derived policy to publish as the upload's example:
    the newest baseline with a name and a lower bulk threshold of its own."""
    document = json.loads(json.dumps(yaml.safe_load(DEFAULT_POLICY_PATH.read_bytes()), default=_json_default))
    document.update(
        name="northshire-trust",
        version="2028.1-nt.1",
        derived_from={"name": document["name"], "version": document["version"]},
    )
    document["thresholds"]["bulk_subjects"] = 50
    return document


def _json_default(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
