"""Stored policy versions, which one is active, and replays of stored requests under a candidate."""

from datetime import datetime
from typing import Any

import sqlmodel
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Column, ForeignKey, Index, String, Text
from sqlmodel import SQLModel

from app.models.base import STORABLE_TEXT, JSONValue, UTCDateTime, enum_column, utcnow
from app.models.page import Page
from app.models.sharing_request import PolicyRef, new_id
from app.models.vocabulary import DecisionOutcome, FindingResult, Outcome, PurposeCategory


class StoredPolicy(SQLModel, table=True):
    """One version of a named policy, kept for as long as any decision may cite it."""

    __tablename__ = "policies"

    name: str = sqlmodel.Field(primary_key=True, max_length=100)
    version: str = sqlmodel.Field(primary_key=True, max_length=50)
    content_hash: str = sqlmodel.Field(max_length=64)
    media_type: str = sqlmodel.Field(max_length=32)
    # The document exactly as uploaded: its hash is what decisions cite, so it is never re-serialised.
    content: str = sqlmodel.Field(sa_column=Column(Text(), nullable=False))
    derived_from_name: str | None = sqlmodel.Field(default=None, max_length=100)
    derived_from_version: str | None = sqlmodel.Field(default=None, max_length=50)
    created_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    created_by: str = sqlmodel.Field(max_length=200)
    created_by_org: str | None = sqlmodel.Field(default=None, max_length=32)


class PolicyActivation(SQLModel, table=True):
    """An admin made a policy version the active one; the row with the highest id is active now."""

    __tablename__ = "policy_activations"
    # An activation supersedes the one current when it was decided, and only one may: the loser of a race is refused.
    __table_args__ = (Index("ix_policy_activations_supersedes", "supersedes", unique=True),)

    id: int | None = sqlmodel.Field(default=None, primary_key=True)
    supersedes: int | None = (
        None  # the id of the activation current when this one was made; 0: none (null: made by an earlier release)
    )
    name: str = sqlmodel.Field(max_length=100)
    version: str = sqlmodel.Field(max_length=50)
    activated_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    activated_by: str = sqlmodel.Field(max_length=200)
    activated_by_org: str | None = sqlmodel.Field(default=None, max_length=32)


class PolicyReplay(SQLModel, table=True):
    """Stored requests re-evaluated under a candidate policy, with the facts their decisions recorded."""

    __tablename__ = "policy_replays"

    id: str = sqlmodel.Field(default_factory=new_id, primary_key=True, max_length=36)
    policy_name: str = sqlmodel.Field(max_length=100)
    policy_version: str = sqlmodel.Field(max_length=50)
    policy_hash: str = sqlmodel.Field(max_length=64)
    requested_by: str = sqlmodel.Field(max_length=200)
    requested_by_org: str | None = sqlmodel.Field(default=None, max_length=32)
    created_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    criteria: dict[str, Any] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))
    totals: dict[str, Any] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))


class PolicyReplayChange(SQLModel, table=True):
    """One request whose outcome or findings would differ under the replayed policy."""

    __tablename__ = "policy_replay_changes"
    # A replay's changes are read back in order, a page at a time.
    __table_args__ = (Index("ix_policy_replay_changes_replay_position", "replay_id", "position", unique=True),)

    id: int | None = sqlmodel.Field(default=None, primary_key=True)
    replay_id: str = sqlmodel.Field(sa_column=Column(String(36), ForeignKey("policy_replays.id"), nullable=False))
    position: int
    request_id: str = sqlmodel.Field(max_length=36)
    version: int
    old_outcome: DecisionOutcome = sqlmodel.Field(sa_column=enum_column(DecisionOutcome, 32))
    new_outcome: DecisionOutcome = sqlmodel.Field(sa_column=enum_column(DecisionOutcome, 32))
    rules: list[dict[str, Any]] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))


class PolicyPublic(BaseModel):
    """One policy the service holds."""

    name: str = Field(description="The policy's name, such as `uk-caldicott-baseline`.")
    version: str = Field(description="The policy's version, such as `2028.1`.")
    content_hash: str = Field(description="SHA-256 of the policy document exactly as shipped or uploaded")
    edition: str = Field(
        description="The reading of the rules it runs: its own version if shipped, else its baseline's"
    )
    shipped: bool = Field(
        description="True for a baseline shipped with the service, false for a derived policy an admin uploaded."
    )
    derived_from: dict[str, str] | None = Field(
        description=(
            "For a derived policy: the `name` and `version` of the policy it derives from; null for a shipped one."
        )
    )
    replay_only: bool = Field(
        description="An edition UK law has overtaken (2026.1, 2027.1) or a policy derived from one (2027.2): held to "
        "replay the decisions made under it and for dry runs by name, never activated or derived from"
    )
    active: bool = Field(description="Decides new submissions and amendments")
    activated_at: datetime | None = Field(
        description="When it was last made active (null: never, or the default of a fresh installation)"
    )
    activated_by: str | None = Field(
        description="The token subject of the admin who last activated it; null when never activated."
    )
    created_at: datetime | None = Field(description="When a derived policy was uploaded (null for a shipped one)")
    created_by: str | None = Field(
        description="The token subject of the admin who uploaded a derived policy; null for a shipped one."
    )


class PolicyList(Page[PolicyPublic]):
    warning: str | None = Field(
        default=None,
        description="Set while the active policy is replay-only: new requests are being decided under an edition UK "
        "law has overtaken, those the current edition would not approve are held for a guardian, and an admin should "
        "activate the current edition or a policy derived from it",
    )


class ReplayCriteria(BaseModel):
    """Which stored decisions a replay re-evaluates: a window on when they were decided, and filters."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {"from": "2026-01-01", "to": "2026-12-31", "purpose": "safeguarding_adult"},
                {"from": "2026-06-01", "to": "2026-11-30", "requester": "NSP01", "outcome": "refer"},
            ]
        },
    )

    from_: str | None = Field(
        default=None,
        alias="from",
        max_length=40,
        description="The window's start: a date (Europe/London, inclusive) or a date-time with an offset. Required "
        "to run a replay (a 422 names it when left out); null only in reports of replays run before it was.",
    )
    to: str | None = Field(
        default=None,
        max_length=40,
        description="The window's end: a date (Europe/London, inclusive) or a date-time with an offset. Required to "
        "run a replay, at most CALDICOTT_REPLAY_MAX_DAYS (366 by default) after `from`; a window holding more rules "
        "decisions than CALDICOTT_REPLAY_MAX_DECISIONS (200,000 by default) is a 422 naming it.",
    )
    purpose: PurposeCategory | None = Field(
        default=None, description="Only requests of this purpose; null or left out for every purpose."
    )
    requester: str | None = Field(
        default=None, max_length=32, pattern=STORABLE_TEXT, description="Organisation code of the requester"
    )
    outcome: Outcome | None = Field(default=None, description="The outcome the rules gave at the time")


class RuleChange(BaseModel):
    rule: str = Field(description="The rule's id.")
    old: FindingResult | None = Field(
        description="null: the rule did not exist in the policy the request was decided under"
    )
    new: FindingResult | None = Field(description="null: the candidate has no such rule")


class OutcomeChange(BaseModel):
    old: Outcome = Field(description="The outcome the rules gave at the time.")
    new: Outcome = Field(description="The outcome the candidate policy would give.")
    count: int = Field(description="How many replayed versions went from `old` to `new`.")


class RuleChangeCount(BaseModel):
    rule: str = Field(description="The rule's id.")
    count: int = Field(description="How many replayed request versions this rule's result changed for")


class ReplayTotals(BaseModel):
    examined: int = Field(description="Request versions in the window that match the filters")
    replayed: int = Field(description="Request versions re-evaluated.")
    unrecoverable: int = Field(description="Decided before facts were recorded, with rows changed since: not replayed")
    differing: int = Field(description="Replayed versions whose outcome or findings would differ")
    outcome_changed: int = Field(description="Replayed versions whose outcome would change.")
    outcomes: list[OutcomeChange] = Field(description="Old outcome -> new outcome, for every replayed version")
    rules: list[RuleChangeCount] = Field(description="The rules whose result changed, with how many versions each.")


class ReplayPublic(BaseModel):
    """A what-if replay of stored decisions under a candidate policy; no stored decision was changed."""

    id: str = Field(description="The replay's id.")
    policy: PolicyRef = Field(description="The candidate policy replayed.")
    criteria: ReplayCriteria = Field(description="Which stored decisions were re-evaluated.")
    requested_by: str = Field(description="The token subject of who ran the replay.")
    created_at: datetime = Field(description="When it was run (UTC).")
    totals: ReplayTotals = Field(description="What the replay found, in numbers.")


class ReplayPage(Page[ReplayPublic]):
    pass


class ReplayChangePublic(BaseModel):
    request_id: str = Field(description="The request whose decision would differ.")
    version: int = Field(description="Its version replayed.")
    old_outcome: Outcome = Field(description="The outcome the rules gave at the time.")
    new_outcome: Outcome = Field(description="The outcome the candidate would give.")
    rules: list[RuleChange] = Field(description="The rules whose result would change.")


class ReplayChangePage(Page[ReplayChangePublic]):
    pass
