"""Webhook endpoints, the transactional outbox of events, deliveries and their attempts."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlmodel
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StringConstraints
from sqlalchemy import Column, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlmodel import SQLModel

from app.models.base import STORABLE_TEXT, JSONValue, UTCDateTime, enum_column, utcnow
from app.models.page import Page
from app.models.sharing_request import new_id


class WebhookEventType(StrEnum):
    """What a case-management system can subscribe to; the contract's `webhooks` section describes each
    event's payload.

    - `sharing_request.decided`: the rules decided a request when it was submitted or amended.
    - `sharing_request.referred`: a request was referred to a Caldicott Guardian (or went back to one).
    - `sharing_request.reviewed`: a guardian, or a panel of guardians, decided a referred request.
    - `sharing_request.information_requested`: a guardian asked the requester for more information.
    - `sharing_request.withdrawn`: the requester withdrew the request (before a final decision, or an approval before
      anything was disclosed under it).
    - `sharing_request.overdue`: a referred request passed its response deadline, or an emergency share's check is
      still open.
    - `sharing_request.retrospective_review_completed`: a guardian completed the retrospective review of an
      emergency share.
    - `sharing_request.reconsideration_requested`: the requester asked for a decision to be reconsidered.
    - `sharing_request.reconsidered`: a guardian reconsidered a decision.
    - `sharing_request.opinion_requested`: a guardian asked another guardian's opinion.
    - `sharing_request.panel_opened`: a panel of guardians was convened to decide the request.
    - `sharing_request.attachment_added`: evidence was attached to the request.
    - `sharing_request.evidence_verified`: a guardian verified or rejected evidence: only verified evidence counts.
    - `sharing_request.ready_to_disclose`: the last controller's check holding an approval back was recorded done.
    - `sharing_request.disclosed`: an information asset's owner recorded data of an approved request as sent.
    - `sharing_request.safeguarding_decided`: a safeguarding request was decided (by the rules, a guardian, a panel, a
      reconsideration or a retrospective review); to the controller's endpoints only, for its safeguarding leads.
    - `sharing_request.recall_requested`: an incident was recorded with a disclosure of the request: its recipient is
      asked to return or destroy the data, and to confirm (`POST /v1/incidents/{id}/recall-confirmation`).
    - `incident.recorded`: an incident with a disclosure was recorded, or a regrading made one reportable (to the
      controller's endpoints only).
    - `policy.activated`: a policy version was activated and decides every request from now on.
    - `sharing_agreement.review_due`: a sharing agreement's review date is 30 days away or nearer, or has passed.
    - `sharing_agreement.expiring`: a sharing agreement's last day is 30 days away or nearer.
    - `audit.checkpoint`: the audit chain's head was signed; every subscriber keeps a copy as a witness.
    - `webhook.test`: the endpoint's owner asked for a test (`POST /v1/webhook-endpoints/{id}/test`); sent to that
      endpoint only, whatever it subscribes to, and never listed in `GET /v1/events`.
    """

    DECIDED = "sharing_request.decided"
    REFERRED = "sharing_request.referred"
    REVIEWED = "sharing_request.reviewed"
    INFORMATION_REQUESTED = "sharing_request.information_requested"
    WITHDRAWN = "sharing_request.withdrawn"
    OVERDUE = "sharing_request.overdue"
    RETROSPECTIVE_REVIEW_COMPLETED = "sharing_request.retrospective_review_completed"
    RECONSIDERATION_REQUESTED = "sharing_request.reconsideration_requested"
    RECONSIDERED = "sharing_request.reconsidered"
    OPINION_REQUESTED = "sharing_request.opinion_requested"
    PANEL_OPENED = "sharing_request.panel_opened"
    ATTACHMENT_ADDED = "sharing_request.attachment_added"
    EVIDENCE_VERIFIED = "sharing_request.evidence_verified"
    READY_TO_DISCLOSE = "sharing_request.ready_to_disclose"
    DISCLOSED = "sharing_request.disclosed"
    SAFEGUARDING_DECIDED = "sharing_request.safeguarding_decided"
    RECALL_REQUESTED = "sharing_request.recall_requested"
    INCIDENT_RECORDED = "incident.recorded"
    POLICY_ACTIVATED = "policy.activated"
    AGREEMENT_REVIEW_DUE = "sharing_agreement.review_due"
    AGREEMENT_EXPIRING = "sharing_agreement.expiring"
    AUDIT_CHECKPOINT = "audit.checkpoint"
    TEST = "webhook.test"


class EndpointScope(StrEnum):
    """Whose events an endpoint receives.

    - `organisation`: an agency's system: events about its own organisation's requests.
    - `controller`: the controller's own system, registered by an admin: every event.
    """

    ORGANISATION = "organisation"
    CONTROLLER = "controller"


class DisabledReason(StrEnum):
    """Why an endpoint is disabled.

    - `disabled_by_owner`: its owner disabled it (PATCH `enabled: false`).
    - `receiver_answered_410`: the receiver answered 410 Gone, so nothing more is sent until its owner enables it.
    """

    BY_OWNER = "disabled_by_owner"
    GONE = "receiver_answered_410"


class DeliveryStatus(StrEnum):
    """Where one delivery of an event to one endpoint stands.

    - `pending`: not delivered yet; the next attempt is at `next_attempt_at`.
    - `succeeded`: the receiver answered 2xx.
    - `failed`: every attempt of the retry schedule failed, or the endpoint was disabled; redeliver it to try again.
    """

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookEndpoint(SQLModel, table=True):
    """A receiver's URL, what it subscribes to, and the secrets that sign what it is sent."""

    __tablename__ = "webhook_endpoints"

    id: str = sqlmodel.Field(default_factory=new_id, primary_key=True, max_length=36)
    owner_org: str = sqlmodel.Field(max_length=32, index=True)
    scope: EndpointScope = sqlmodel.Field(sa_column=enum_column(EndpointScope, 16))
    url: str = sqlmodel.Field(max_length=2048)
    description: str | None = sqlmodel.Field(default=None, max_length=500)
    event_types: list[str] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))
    enabled: bool = True
    disabled_reason: DisabledReason | None = sqlmodel.Field(
        default=None, sa_column=enum_column(DisabledReason, 32, nullable=True)
    )
    # Kept usable, not hashed: every delivery is signed with it.
    secret: str = sqlmodel.Field(max_length=100)
    previous_secret: str | None = sqlmodel.Field(default=None, max_length=100)
    previous_secret_expires_at: datetime | None = sqlmodel.Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    created_by: str = sqlmodel.Field(max_length=200)
    # One more at every change, by its owner or by the service disabling it: the endpoint's ETag (app/http/etags.py).
    version: int = sqlmodel.Field(default=1, sa_column=Column(Integer(), nullable=False, server_default="1"))
    created_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class OutboxEvent(SQLModel, table=True):
    """An event written in the same transaction as the change that caused it."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_created", "created_at", "id"),)

    id: str = sqlmodel.Field(default_factory=new_id, primary_key=True, max_length=36)
    type: WebhookEventType = sqlmodel.Field(sa_column=enum_column(WebhookEventType, 64))
    # None for an event about no one request (a policy activated).
    request_id: str | None = sqlmodel.Field(
        default=None, sa_column=Column(String(36), ForeignKey("sharing_requests.id"), nullable=True, index=True)
    )
    payload: dict[str, Any] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))
    created_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    # The W3C traceparent of the span that wrote the event, when tracing was on:
    # its deliveries join that trace (app/platform/tracing.py).
    traceparent: str | None = sqlmodel.Field(default=None, sa_column=Column(String(55), nullable=True))
    # 1, 2, 3... for the events of one sharing request, in the order they were written (None for other events):
    # deliveries of one request to one endpoint go in this order.
    sequence: int | None = sqlmodel.Field(default=None, sa_column=Column(Integer(), nullable=True))


class WebhookEventSequence(SQLModel, table=True):
    """The last `sequence` given to a sharing request's events: kept when they are pruned, so it never restarts."""

    __tablename__ = "webhook_event_sequences"

    request_id: str = sqlmodel.Field(primary_key=True, max_length=36)
    last_sequence: int


class WebhookEgressRecord(SQLModel, table=True):
    """An egress allowlist the service started with, recorded when it differed from the one before: the last row is
    the allowlist in force, and the audit trail names each change by `digest` (app/services/webhooks/egress.py)."""

    __tablename__ = "webhook_egress_records"

    id: int | None = sqlmodel.Field(default=None, primary_key=True)
    allowlist: dict[str, Any] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))
    digest: str = sqlmodel.Field(max_length=64)
    recorded_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class WebhookDelivery(SQLModel, table=True):
    """One event on its way to one endpoint; its id is the `webhook-id` of every attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at", "id"),
    )

    id: str = sqlmodel.Field(default_factory=new_id, primary_key=True, max_length=36)
    event_id: str = sqlmodel.Field(sa_column=Column(String(36), ForeignKey("outbox_events.id"), nullable=False))
    endpoint_id: str = sqlmodel.Field(sa_column=Column(String(36), ForeignKey("webhook_endpoints.id"), nullable=False))
    status: DeliveryStatus = sqlmodel.Field(default=DeliveryStatus.PENDING, sa_column=enum_column(DeliveryStatus, 16))
    # Attempts since the delivery was created or last redelivered; the retry schedule counts these.
    attempts_made: int = 0
    next_attempt_at: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    claimed_by: str | None = sqlmodel.Field(default=None, max_length=100)
    claimed_until: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class WebhookAttempt(SQLModel, table=True):
    """One HTTP attempt of a delivery, as the worker recorded it."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "number"),)

    id: int | None = sqlmodel.Field(default=None, primary_key=True)
    delivery_id: str = sqlmodel.Field(sa_column=Column(String(36), ForeignKey("webhook_deliveries.id"), nullable=False))
    number: int
    attempted_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))
    duration_ms: int
    response_status: int | None = None
    response_body: str | None = sqlmodel.Field(default=None, max_length=1000)
    error: str | None = sqlmodel.Field(default=None, max_length=300)


Description = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, max_length=500, pattern=STORABLE_TEXT)
]
EndpointUrl = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=2048)]
EventTypes = Annotated[list[WebhookEventType], Field(min_length=1, max_length=len(WebhookEventType))]


class WebhookEndpointCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://cms.northshire-police.example/hooks/caldicott",
                    "event_types": [
                        "sharing_request.decided",
                        "sharing_request.reviewed",
                        "sharing_request.information_requested",
                    ],
                    "description": "Case management system of the disclosures team",
                }
            ]
        },
    )

    url: EndpointUrl = Field(
        description=(
            "Where events are POSTed: an HTTPS URL the service can reach (at most 2048 "
            "characters). Addresses that are not public are refused unless the operator allows "
            "them."
        )
    )
    event_types: EventTypes = Field(description="The event types to receive, at least one.")
    description: Description | None = Field(
        default=None,
        description="What the endpoint is for, for its owner (at most 500 characters); null or left out for none.",
    )


class WebhookEndpointUpdate(BaseModel):
    """What an owner may change: enable or disable, the event types, the description."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"enabled": False}, {"event_types": ["sharing_request.decided"]}]},
    )

    enabled: StrictBool | None = Field(
        default=None,
        description=(
            "False to stop deliveries, true to start them again (a receiver that answered 410 is "
            "enabled again this way); null or left out to leave as it is."
        ),
    )
    event_types: EventTypes | None = Field(
        default=None,
        description="The event types to receive from now on, replacing the list; null or left out to leave as it is.",
    )
    description: Description | None = Field(
        default=None, description="A new description; null or left out to leave it as it is."
    )


class WebhookEndpointPublic(BaseModel):
    id: str = Field(description="The endpoint's id (a UUID).")
    url: str = Field(description="Where events are POSTed.")
    description: str | None = Field(description="What the endpoint is for, as its owner wrote; null when none.")
    event_types: list[WebhookEventType] = Field(description="The event types the endpoint receives.")
    scope: EndpointScope = Field(
        description="Whose events it receives: its `organisation`'s, or every event for the `controller`."
    )
    organisation: str = Field(description="The code of the organisation that owns the endpoint.")
    enabled: bool = Field(description="Whether events are delivered to it.")
    disabled_reason: DisabledReason | None = Field(description="Why it is disabled; null while it is enabled.")
    previous_secret_expires_at: datetime | None = Field(
        description=(
            "After a secret rotation: until when (UTC) the previous secret also signs, so a "
            "receiver can switch over; null otherwise."
        )
    )
    created_at: datetime = Field(description="When the endpoint was registered (UTC).")
    updated_at: datetime = Field(description="When the endpoint last changed (UTC).")

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> "WebhookEndpointPublic":
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            description=endpoint.description,
            event_types=[WebhookEventType(value) for value in endpoint.event_types],
            scope=EndpointScope(endpoint.scope),
            organisation=endpoint.owner_org,
            enabled=endpoint.enabled,
            disabled_reason=DisabledReason(endpoint.disabled_reason) if endpoint.disabled_reason else None,
            previous_secret_expires_at=endpoint.previous_secret_expires_at,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )


class WebhookEndpointPage(Page[WebhookEndpointPublic]):
    pass


class WebhookEndpointCreated(WebhookEndpointPublic):
    """The answer to a registration: the only time the signing secret is shown."""

    secret: str = Field(
        description=(
            "The signing secret (`whsec_` and base64), shown only in this answer: keep it to "
            "verify each delivery's `webhook-signature`."
        )
    )


class WebhookSecretRotated(BaseModel):
    """The new signing secret, shown once; the old one also signs until `previous_secret_expires_at`."""

    secret: str = Field(description="The new signing secret (`whsec_` and base64), shown only in this answer.")
    previous_secret_expires_at: datetime = Field(
        description="Until when (UTC) the old secret also signs each delivery, beside the new one."
    )


class WebhookAttemptPublic(BaseModel):
    number: int = Field(description="The attempt's number within its delivery, from 1.")
    attempted_at: datetime = Field(description="When the attempt was made (UTC).")
    duration_ms: int = Field(description="How long the receiver took to answer, in milliseconds (up to the timeout).")
    response_status: int | None = Field(
        description=(
            "The HTTP status the receiver answered; null when it did not answer (a timeout or a connection error)."
        )
    )
    response_body: str | None = Field(
        description=(
            "The start of the receiver's answer (at most 1000 characters), to help you debug it; null when none."
        )
    )
    error: str | None = Field(
        description=(
            "Why the attempt failed without an answer (at most 300 characters), such as a timeout "
            "or a refused connection; null when the receiver answered."
        )
    )


class WebhookDeliveryPublic(BaseModel):
    id: str = Field(description="The `webhook-id` header of every attempt")
    event_id: str = Field(
        description="The id of the event delivered; one event is one delivery per subscribed endpoint."
    )
    event_type: WebhookEventType = Field(description="The event's type.")
    request_id: str | None = Field(
        description=(
            "The sharing request the event is about; null for an event about no request (a policy,"
            " an agreement, an audit checkpoint)."
        )
    )
    status: DeliveryStatus = Field(description="Where the delivery stands: `pending`, `succeeded` or `failed`.")
    attempts_made: int = Field(description="How many attempts have been made so far.")
    next_attempt_at: datetime | None = Field(
        description=(
            "When the next attempt is due (UTC), by the retry schedule or the receiver's "
            "`Retry-After`; null when none is due."
        )
    )
    created_at: datetime = Field(description="When the event was written and the delivery queued (UTC).")
    updated_at: datetime = Field(description="When the delivery last changed (UTC).")
    attempts: list[WebhookAttemptPublic] = Field(description="Every attempt, oldest first.")


class WebhookDeliveryPage(Page[WebhookDeliveryPublic]):
    pass


class WebhookRedeliveries(BaseModel):
    """Which of an endpoint's deliveries to send again."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"since": "2026-12-01T09:00:00Z"}]})

    since: AwareDatetime = Field(
        description="Every delivery to the endpoint created at or after this instant (with an offset, such as Z for "
        "UTC) is sent again from its first attempt, with its own `webhook-id`, in the order of the events"
    )
    status: DeliveryStatus | None = Field(
        default=None,
        description="Only the deliveries in this status, e.g. `failed` for those the retry schedule gave up on; "
        "omitted, all of them, delivered ones too",
    )


class WebhookRedeliveriesAccepted(BaseModel):
    """How many deliveries were queued again."""

    requeued: int = Field(description="How many deliveries were queued again, due at once")
    since: datetime = Field(description="The instant they were chosen from, as asked")


class EventPublic(BaseModel):
    """One event as the webhooks carry it, for a receiver catching up."""

    id: str = Field(description="The event's id: the same for every endpoint the event was sent to")
    type: WebhookEventType = Field(description="The event type, as in the webhook's `type`")
    time: datetime = Field(description="When the event happened, as in the webhook's `timestamp`")
    data: dict[str, Any] = Field(
        description="The webhook's `data`, exactly as it was sent: for a sharing request's event, its `id`, "
        "`reference` and `sequence` among them (the contract's `webhooks` section describes each type's)"
    )

    @classmethod
    def of(cls, event: OutboxEvent) -> "EventPublic":
        return cls(id=event.id, type=WebhookEventType(event.type), time=event.created_at, data=event.payload["data"])


class EventPage(Page[EventPublic]):
    pass
