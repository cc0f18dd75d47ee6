"""What a webhook delivery carries: the envelope of every event and the `data` of each kind, as
app/services/webhooks/outbox.py builds them.

These models describe the payloads; they do not build them. tests/test_webhook_contract.py builds real
events through the services and validates every stored payload against the published schema, so the two
cannot drift apart unnoticed.
"""

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from app.models.audit import CheckpointPublic
from app.models.vocabulary import DecisionOutcome, RequestStatus, ReviewVerdict
from app.models.webhook import WebhookEventType

TIMESTAMP = "When the event happened: RFC 3339 in UTC, to the microsecond (`2026-11-26T14:05:00.000000Z`)"


class RequestEventData(BaseModel):
    """A request's state after the change: ids, status and outcome only; no subject identifiers, no free text."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The sharing request's id")
    status: RequestStatus = Field(description="The request's status after the change")
    outcome: DecisionOutcome | None = Field(
        description="The outcome of the decision made by this change; null when the change made none"
    )
    verdict: ReviewVerdict | None = Field(
        default=None,
        description="When the change is a reconsideration's or a retrospective review's decision: its verdict on the "
        "decision reviewed (`upheld`, `overturned`, `not_upheld`), `outcome` being the approve or refuse outcome "
        "that stands; null for any other change",
    )
    conditions: list[str] | None = Field(
        description="The conditions of that decision, as their texts; null when the change made no decision"
    )
    ready_to_disclose: bool = Field(
        description="Whether the request may now be disclosed: approved, and no controller's check that holds it "
        "back is open (brief section 5)"
    )
    open_checks: list[str] = Field(
        description="The controller's checks of the standing decision still open: rule ids, and `human_involvement` "
        "for a significant decision by the rules"
    )
    link: str = Field(
        description="Where to read the request: a path on this service, with a bearer token that may read it"
    )


class PolicyActivatedData(BaseModel):
    """The policy that now decides every new request."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the policy document, hex")
    link: str = Field(description="Where to read the policy: a path on this service")


class AgreementNoticeData(BaseModel):
    """An agreement whose review date or last day is near (or, for a review, past)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="The agreement's code")
    title: str
    date: dt.date = Field(description="The date announced: the review date, or the agreement's last day")
    days_left: int = Field(description="Days from today (London) to that date; negative for a review date already past")
    owner: str | None = Field(description="The organisation answerable for the agreement, if one is named")
    parties: list[str] = Field(description="Codes of the organisations party to it")
    link: str = Field(description="Where to read the agreement: a path on this service")


# The `data` of each event type; tests/test_webhook_contract.py checks that every type has one.
DATA_OF: dict[WebhookEventType, type[BaseModel]] = {
    WebhookEventType.DECIDED: RequestEventData,
    WebhookEventType.REFERRED: RequestEventData,
    WebhookEventType.REVIEWED: RequestEventData,
    WebhookEventType.INFORMATION_REQUESTED: RequestEventData,
    WebhookEventType.WITHDRAWN: RequestEventData,
    WebhookEventType.OVERDUE: RequestEventData,
    WebhookEventType.RETROSPECTIVE_REVIEW_COMPLETED: RequestEventData,
    WebhookEventType.RECONSIDERATION_REQUESTED: RequestEventData,
    WebhookEventType.RECONSIDERED: RequestEventData,
    WebhookEventType.OPINION_REQUESTED: RequestEventData,
    WebhookEventType.PANEL_OPENED: RequestEventData,
    WebhookEventType.ATTACHMENT_ADDED: RequestEventData,
    WebhookEventType.EVIDENCE_VERIFIED: RequestEventData,
    WebhookEventType.READY_TO_DISCLOSE: RequestEventData,
    WebhookEventType.POLICY_ACTIVATED: PolicyActivatedData,
    WebhookEventType.AGREEMENT_REVIEW_DUE: AgreementNoticeData,
    WebhookEventType.AGREEMENT_EXPIRING: AgreementNoticeData,
    WebhookEventType.AUDIT_CHECKPOINT: CheckpointPublic,
}


def model_name(event_type: WebhookEventType) -> str:
    """The schema name of an event's envelope: `sharing_request.decided` is SharingRequestDecidedEvent."""
    words = event_type.value.replace(".", "_").split("_")
    return "".join(word.capitalize() for word in words) + "Event"


def envelope(event_type: WebhookEventType) -> type[BaseModel]:
    """The body of one event type: its `type` fixed, the `timestamp`, and that type's `data`."""
    model: type[BaseModel] = create_model(
        model_name(event_type),
        __config__=ConfigDict(extra="forbid", title=model_name(event_type)),
        __doc__=f"The body of a `{event_type.value}` delivery.",
        type=(Literal[event_type.value], Field(description="The event type")),  # type: ignore[valid-type]
        timestamp=(dt.datetime, Field(description=TIMESTAMP)),
        data=(DATA_OF[event_type], ...),
    )
    return model


EVENT_MODELS: dict[WebhookEventType, type[BaseModel]] = {
    event_type: envelope(event_type) for event_type in WebhookEventType
}
