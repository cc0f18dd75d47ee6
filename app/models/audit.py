"""The audit trail: one hash-chained, append-only row per change or read,
the rows waiting to be chained, and the API schemas."""

from datetime import datetime
from enum import StrEnum

import sqlmodel
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import BigInteger, Column, Index, Integer
from sqlmodel import SQLModel

from app.models.actions import AuditAction
from app.models.base import JSONValue, UTCDateTime, enum_column
from app.models.page import Page


class AuditTarget(StrEnum):
    """What an audit event is about (its `target_id` names which one).

    - `sharing_request`: a sharing request.
    - `organisation`: a registered organisation.
    - `sharing_agreement`: an information sharing agreement.
    - `report`: a report run, or a look at the audit trail.
    - `policy`: a policy version.
    - `webhook_endpoint`: a webhook endpoint.
    - `webhook_egress`: where webhooks may go, the operator's allow-list of networks, ports and proxy (the target id is
      its digest).
    - `person`: a person of the controller, by their `sub` (signing in to the console).
    - `information_asset`: an entry of the information asset register, by its code.
    """

    SHARING_REQUEST = "sharing_request"
    ORGANISATION = "organisation"
    SHARING_AGREEMENT = "sharing_agreement"
    REPORT = "report"
    POLICY = "policy"
    WEBHOOK_ENDPOINT = "webhook_endpoint"
    WEBHOOK_EGRESS = "webhook_egress"
    PERSON = "person"
    INFORMATION_ASSET = "information_asset"


class AuditEvent(SQLModel, table=True):
    """Who did what to which target, when; `hash` chains it to the event before."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_target", "target_type", "target_id", "seq"),
        Index("ix_audit_events_actor_sub", "actor_sub", "seq"),
        Index("ix_audit_events_actor_org", "actor_org", "seq"),
        Index("ix_audit_events_action", "action", "seq"),
        Index("ix_audit_events_occurred_at", "occurred_at"),
    )

    seq: int = sqlmodel.Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    occurred_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))
    actor_sub: str = sqlmodel.Field(max_length=200)
    actor_org: str | None = sqlmodel.Field(default=None, max_length=32)
    actor_roles: list[str] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))
    action: AuditAction = sqlmodel.Field(sa_column=enum_column(AuditAction, 40))
    target_type: AuditTarget = sqlmodel.Field(sa_column=enum_column(AuditTarget, 32))
    target_id: str = sqlmodel.Field(max_length=64)
    outcome: str = sqlmodel.Field(max_length=80)
    correlation_id: str | None = sqlmodel.Field(default=None, max_length=128)
    prev_hash: str = sqlmodel.Field(max_length=64)
    hash: str = sqlmodel.Field(max_length=64)


class AuditPending(SQLModel, table=True):
    """An event recorded in its writer's transaction and not yet chained: the chainer moves it into audit_events."""

    __tablename__ = "audit_pending"

    id: int | None = sqlmodel.Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    )
    occurred_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))
    actor_sub: str = sqlmodel.Field(max_length=200)
    actor_org: str | None = sqlmodel.Field(default=None, max_length=32)
    actor_roles: list[str] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))
    action: AuditAction = sqlmodel.Field(sa_column=enum_column(AuditAction, 40))
    target_type: AuditTarget = sqlmodel.Field(sa_column=enum_column(AuditTarget, 32))
    target_id: str = sqlmodel.Field(max_length=64)
    outcome: str = sqlmodel.Field(max_length=80)
    correlation_id: str | None = sqlmodel.Field(default=None, max_length=128)


class AuditCheckpoint(SQLModel, table=True):
    """The chain's head at a moment, signed with a key outside the database: `previous` is the digest of the checkpoint
    before (docs/auditors/audit-format.md)."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (Index("ix_audit_checkpoints_seq", "seq"),)

    number: int = sqlmodel.Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    log: str = sqlmodel.Field(max_length=32)
    seq: int
    hash: str = sqlmodel.Field(max_length=64)
    time: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))
    previous: str | None = sqlmodel.Field(default=None, max_length=64)
    kid: str = sqlmodel.Field(max_length=64)
    signature: str = sqlmodel.Field(max_length=128)


class AuditEventPublic(BaseModel):
    seq: int = Field(description="The event's position in the chain, from 1, with no gaps.")
    occurred_at: datetime = Field(description="When it happened (UTC).")
    actor_sub: str = Field(description="The token subject of who acted, or `system` for the service itself.")
    actor_org: str | None = Field(description="The organisation of who acted; null for the service itself.")
    actor_roles: list[str] = Field(description="The roles the actor's token held for the organisation when it acted.")
    action: str = Field(
        description="What was done, such as `submitted` or `notice_read` (the `action` filter lists every value)."
    )
    target_type: AuditTarget = Field(description="What kind of thing it was done to.")
    target_id: str = Field(
        description=(
            "Which one: a request id, an organisation or agreement code, a policy `name/version`, "
            "an endpoint id, or a report's name."
        )
    )
    outcome: str = Field(
        description=(
            "What came of it, in a few words (such as an outcome, a status change, or `sha256:<hex>` of an attachment)."
        )
    )
    correlation_id: str | None = Field(
        description="The `X-Request-ID` of the call that caused it, to match your logs; null when none."
    )
    prev_hash: str = Field(description="The hash of the event before it in the chain (64 zeros for the first).")
    hash: str = Field(
        description=(
            "SHA-256 (hex) over the event and `prev_hash` (docs/auditors/audit-format.md): "
            "changing any earlier event breaks every later hash."
        )
    )


class AuditEventPage(Page[AuditEventPublic]):
    pass


HEX64 = r"^[0-9a-f]{64}$"
# A real signature, by a key made for this example alone (so it names a kid no service publishes).
CHECKPOINT_EXAMPLE = {
    "number": 42,
    "log": "CONTROLLER",
    "seq": 18211,
    "hash": "9f2c" * 16,
    "time": "2026-11-28T09:05:00.000000Z",
    "previous": "4b1d" * 16,
    "kid": "NY4hMiNhlKL0gwAfB62AS8EdWeeCqiD78n4o68Sg8-Y",
    "signature": "Tq-ixz1JG6iI2zZo1hn8GWdHLEFw_5bDYbrT9PfoTXRLlv1Yxg0gG_P6QvemkNNCvFlcHyr-IlXrvLbXGHOTDw",
}


class CheckpointPublic(BaseModel):
    """A signed checkpoint, as listed, sent to witnesses (`audit.checkpoint`), exported and given back to be checked.

    The signature is Ed25519 over `caldicott-audit-checkpoint/v1` and a newline, followed by the canonical JSON of every
    other member (docs/auditors/audit-format.md); `kid` names the key in `GET /v1/audit/keys`.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [CHECKPOINT_EXAMPLE]})

    number: int = Field(ge=1, description="1 for the first checkpoint, then one more each time")
    log: str = Field(
        max_length=32, description="The trail signed: the code of the controller organisation that runs the service"
    )
    seq: int = Field(ge=1, description="The chain's head when signed: the seq of its newest event")
    hash: str = Field(max_length=64, pattern=HEX64, description="That event's hash")
    time: str = Field(max_length=40, description="When it was signed, UTC, as `YYYY-MM-DDTHH:MM:SS.ffffffZ`")
    previous: str | None = Field(
        max_length=64,
        pattern=HEX64,
        description="SHA-256 of the previous checkpoint's signed bytes; null for the first",
    )
    kid: str = Field(max_length=64, description="The signing key's RFC 7638 thumbprint")
    signature: str = Field(max_length=128, description="Base64url, no padding")


class CheckpointPage(Page[CheckpointPublic]):
    pass


class WitnessCheckpoints(BaseModel):
    """Checkpoints a witness kept (the `data` of `audit.checkpoint` webhooks), to verify the trail against."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"checkpoints": [CHECKPOINT_EXAMPLE]}]})

    checkpoints: list[CheckpointPublic] = Field(
        min_length=1, max_length=100, description="The checkpoints kept, 1 to 100, as they were received."
    )


class AuditFinding(BaseModel):
    """One place where the trail and the evidence disagree."""

    seq: int = Field(description="The first seq at which they disagree")
    checkpoint: int | None = Field(description="The checkpoint's number, when a checkpoint is the evidence")
    source: str = Field(
        description="`chain` (the hashes themselves), `stored` (a stored checkpoint) or `witness` (one given to check)"
    )
    problem: str = Field(description="What disagrees, in words.")


class RejectedWitness(BaseModel):
    """A checkpoint given as a witness's copy whose signature does not verify: no evidence of anything."""

    number: int = Field(description="The checkpoint number it claims to be.")
    seq: int = Field(description="The seq it claims to sign; the verification does not count it as a break there.")
    kid: str = Field(description="The key it names (its RFC 7638 thumbprint), as given.")
    problem: str = Field(
        description="Why it is not evidence: the key it names is not published, or its signature does not verify."
    )


class AuditVerification(BaseModel):
    """The result of recomputing the whole chain and checking it against every signed checkpoint; first_broken_seq
    is where it first fails.

    Events recorded but not chained yet are counted in `pending`; they do not make the chain invalid."""

    valid: bool = Field(description="True when the whole chain recomputes and agrees with every checkpoint checked.")
    events: int = Field(description="How many chained events were checked.")
    pending: int = Field(
        description="Events recorded but not yet chained (they join the chain within moments); not part of `valid`"
    )
    head_seq: int = Field(description="The seq of the newest chained event.")
    head_hash: str = Field(description="The hash of the newest chained event.")
    first_broken_seq: int | None = Field(
        description="The first seq at which the chain breaks or disagrees with a checkpoint"
    )
    checkpoints: int = Field(
        description="Stored checkpoints checked: signature, link to the one before, and the chain's hash at their seq"
    )
    witnessed: int = Field(
        default=0,
        description=(
            "Checkpoints given by a witness whose signature verified, checked the same way as stored ones "
            "(those whose signature does not are in `rejected_witnesses`)"
        ),
    )
    last_checkpoint_seq: int | None = Field(
        description="The seq of the newest stored checkpoint: events after it are not signed yet"
    )
    findings: list[AuditFinding] = Field(
        default_factory=list, description="What disagrees, first seq first (at most 100)"
    )
    rejected_witnesses: list[RejectedWitness] = Field(
        default_factory=list,
        description=(
            "Checkpoints given as a witness's copies (POST) whose signature does not verify against a published key: "
            "anyone can write one, so they are listed here (at most 100) and change neither `valid` nor "
            "`first_broken_seq`. Empty when none was given or every one verified."
        ),
    )
