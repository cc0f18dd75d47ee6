"""What a webhook delivery carries: the envelope of every event and the `data` of each kind, as
app/services/webhooks/outbox.py builds them, and the catalogue of event types: each one's `data`, what happened and
to whom it is sent (the contract's `webhooks` section, app/routers/webhook_contract.py, is made from it).

These models describe the payloads; they do not build them. tests/test_webhook_contract.py builds real
events through the services and validates every stored payload against the published schema, so the two
cannot drift apart unnoticed.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from app.models.audit import CheckpointPublic
from app.models.vocabulary import (
    DataCategory,
    DecisionKind,
    DecisionOutcome,
    DisclosureChannel,
    IncidentKind,
    PurposeCategory,
    RequestStatus,
    ReviewVerdict,
    TellingReason,
)
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
    reference: str | None = Field(
        description="The requester's own reference for the request, as it was submitted; null when it gave none"
    )
    sequence: int = Field(
        ge=1,
        description="1, 2, 3... for the events of this request, in the order they happened, with no gaps: a receiver "
        "that holds sequence n of a request and is sent n + 2 knows one is missing (catch up with `GET /v1/events`); "
        "one that is sent n or less again has seen it already",
    )


class DisclosedEventData(RequestEventData):
    """A request's state, and what one of its disclosures sent: never who sent it nor from which system."""

    disclosure_id: str = Field(
        description="The disclosure recorded: read it with the request's disclosures "
        "(`GET /v1/sharing-requests/{id}/disclosures`)"
    )
    items: list[DataCategory] = Field(
        description="The data categories sent, each one the request's approval covers (never more)"
    )
    channel: DisclosureChannel = Field(description="The secure channel the data went by")
    disclosed_at: dt.datetime = Field(description="When the data was sent (UTC), as the sender recorded it")


class SafeguardingDecidedData(BaseModel):
    """A safeguarding request's decision, for the controller's safeguarding leads: ids, the outcome, the purpose and
    when; no subject identifiers, no requester's reference, no free text."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The sharing request's id")
    decision_id: str = Field(description="The id of the decision record made (as the request's history lists it)")
    outcome: DecisionOutcome = Field(
        description="The outcome that now stands: `approve`, `approve_with_conditions` or `refuse`"
    )
    verdict: ReviewVerdict | None = Field(
        description="When the decision is a reconsideration's or a retrospective review's: its verdict on the decision "
        "reviewed (`upheld`, `overturned`, `not_upheld`); null for a first decision"
    )
    kind: DecisionKind = Field(
        description="Who decided, and how: `rules` (on submission or amendment), `guardian`, `panel`, "
        "`reconsideration` or `retrospective`"
    )
    purpose: PurposeCategory = Field(description="The request's purpose: `safeguarding_child` or `safeguarding_adult`")
    decided_at: dt.datetime = Field(description="When the decision was made: RFC 3339 in UTC")
    link: str = Field(
        description="Where to read the request: a path on this service, with a bearer token of the controller that may "
        "read it (a safeguarding lead's reads the safeguarding requests)"
    )


class PolicyActivatedData(BaseModel):
    """The policy that now decides every new request."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The policy's name, such as `uk-caldicott-baseline`.")
    version: str = Field(description="The policy's version, such as `2028.1`.")
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the policy document, hex")
    link: str = Field(description="Where to read the policy: a path on this service")


class AgreementNoticeData(BaseModel):
    """An agreement whose review date or last day is near (or, for a review, past)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="The agreement's code")
    title: str = Field(description="The agreement's title.")
    date: dt.date = Field(description="The date announced: the review date, or the agreement's last day")
    days_left: int = Field(description="Days from today (London) to that date; negative for a review date already past")
    owner: str | None = Field(description="The organisation answerable for the agreement, if one is named")
    parties: list[str] = Field(description="Codes of the organisations party to it")
    link: str = Field(description="Where to read the agreement: a path on this service")


class IncidentEventData(BaseModel):
    """An incident with a disclosure: ids, kind, grades and deadline only; never its description."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The incident's id")
    request_id: str = Field(description="The sharing request whose disclosure went wrong")
    disclosure_id: str = Field(description="The disclosure that went wrong")
    kind: IncidentKind = Field(description="What went wrong")
    likelihood: int = Field(ge=1, le=5, description="The likelihood grade, 1 to 5 (the NHS guide's scale)")
    severity: int = Field(ge=1, le=5, description="The severity grade, 1 to 5 (the NHS guide's scale)")
    reportable: bool = Field(description="Whether it must be reported to the ICO under the policy's threshold")
    report_by: dt.datetime | None = Field(
        description="For a reportable incident, the deadline to report it: 72 hours after the organisation became "
        "aware (UK GDPR Article 33(1)); null otherwise"
    )
    reason: TellingReason = Field(
        description="`recorded`: the incident was just recorded; `became_reportable`: a regrading made it reportable "
        "(never `recall_requested`, which is the recipient's own event)"
    )
    link: str = Field(description="Where to read the incident: a path on this service, for the controller's people")


class RecallRequestedData(BaseModel):
    """A request to the recipient of a disclosure to return or destroy the data: ids and what to do, nothing more."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(description="The sharing request whose disclosed data is recalled")
    incident_id: str = Field(description="The incident that recalls it; quote it when confirming")
    recipient: str = Field(description="The code of the organisation that received the data and is asked to act")
    action: Literal["return_or_destroy"] = Field(
        description="Always `return_or_destroy`: return the data to the controller, or destroy it and every copy, "
        "then confirm which"
    )
    confirm_at: str = Field(
        description="Where to confirm: `POST` this path with `outcome` (`returned` or `destroyed`) and `confirmed_at`"
    )
    link: str = Field(description="Where the recipient reads the recall: a path on this service")


class WebhookTestData(BaseModel):
    """A test event: nothing happened; the endpoint's owner asked for it to see deliveries arrive and verify."""

    model_config = ConfigDict(extra="forbid")

    endpoint_id: str = Field(description="The endpoint the test was sent to")
    link: str = Field(description="Where to read the endpoint and its deliveries: a path on this service")


REQUEST_AUDIENCE = "Sent to the endpoints of the requesting organisation and to the controller's."


@dataclass(frozen=True, slots=True)
class EventKind:
    """One event type as the contract shows it: its `data`, what happened, and to whom it is sent."""

    data: type[BaseModel]
    what_happened: str
    audience: str = REQUEST_AUDIENCE


# Every event type; tests/test_webhook_contract.py checks that each is documented and produced by the services.
CATALOGUE: dict[WebhookEventType, EventKind] = {
    WebhookEventType.DECIDED: EventKind(
        RequestEventData,
        "A request was decided by the rules when it was submitted or amended: approved, approved with conditions or "
        "refused",
    ),
    WebhookEventType.REFERRED: EventKind(
        RequestEventData,
        "A request was referred to a Caldicott Guardian when it was submitted or amended, went back to one when a "
        "controller's check failed, or was placed in the queue for a retrospective review because a decision let "
        "evidence no guardian had verified clear a condition",
    ),
    WebhookEventType.REVIEWED: EventKind(
        RequestEventData, "A guardian, or a panel of guardians, decided a referred request"
    ),
    WebhookEventType.INFORMATION_REQUESTED: EventKind(
        RequestEventData, "A guardian asked the requester for more information before deciding"
    ),
    WebhookEventType.WITHDRAWN: EventKind(
        RequestEventData,
        "The requester withdrew the request: before a final decision, or an approval it no longer needed before "
        "anything was disclosed under it (its pending disclosures are cancelled)",
    ),
    WebhookEventType.OVERDUE: EventKind(
        RequestEventData,
        "A referred request passed its response deadline without a decision, or an emergency share's controller's "
        "check was still open after the emergency response time (`open_checks` names them)",
    ),
    WebhookEventType.RETROSPECTIVE_REVIEW_COMPLETED: EventKind(
        RequestEventData, "A guardian completed the retrospective review of an emergency share"
    ),
    WebhookEventType.RECONSIDERATION_REQUESTED: EventKind(
        RequestEventData, "The requester asked for a decision to be reconsidered"
    ),
    WebhookEventType.RECONSIDERED: EventKind(
        RequestEventData, "A guardian who did not make the decision reconsidered it"
    ),
    WebhookEventType.OPINION_REQUESTED: EventKind(
        RequestEventData, "A guardian asked for another guardian's opinion on the request"
    ),
    WebhookEventType.PANEL_OPENED: EventKind(
        RequestEventData, "A panel of guardians was convened to decide the request"
    ),
    WebhookEventType.ATTACHMENT_ADDED: EventKind(RequestEventData, "Evidence was attached to the request"),
    WebhookEventType.EVIDENCE_VERIFIED: EventKind(
        RequestEventData,
        "A guardian verified or rejected evidence attached to the request: only verified evidence counts in the rules",
    ),
    WebhookEventType.READY_TO_DISCLOSE: EventKind(
        RequestEventData,
        "The last controller's check holding an approved request back was recorded done: it may be disclosed",
    ),
    WebhookEventType.DISCLOSED: EventKind(
        DisclosedEventData,
        "The owner of an information asset holding an approved request's data (or an IG manager) recorded it sent: "
        "what went, by which channel and when",
    ),
    WebhookEventType.SAFEGUARDING_DECIDED: EventKind(
        SafeguardingDecidedData,
        "A request whose purpose is safeguarding (a child or an adult at risk) was decided: by the rules when it was "
        "submitted or amended, by a guardian or a panel, or by a reconsideration or a retrospective review",
        "Sent to the controller's endpoints only (for its safeguarding leads), never to the requesting "
        "organisation's; it comes beside the `sharing_request.decided`, `reviewed`, `reconsidered` or "
        "`retrospective_review_completed` event of the same change, and carries no `sequence`.",
    ),
    WebhookEventType.RECALL_REQUESTED: EventKind(
        RecallRequestedData,
        "An incident was recorded with a disclosure of the request: its recipient is asked to return or destroy the "
        "data, and to confirm which with `POST /v1/incidents/{id}/recall-confirmation`",
        "Sent to the endpoints of the organisation that received the data and to the controller's.",
    ),
    WebhookEventType.INCIDENT_RECORDED: EventKind(
        IncidentEventData,
        "An incident with a disclosure was recorded, or a regrading made an incident reportable: the SIRO, the DPO "
        "and the guardians are to know, and a reportable one is due at the ICO by `report_by`",
        "Sent to the controller's endpoints only.",
    ),
    WebhookEventType.POLICY_ACTIVATED: EventKind(
        PolicyActivatedData,
        "A policy version was activated: it decides every request from now on",
        "Sent to every enabled endpoint subscribed to it: it changes how every organisation's requests are decided.",
    ),
    WebhookEventType.AGREEMENT_REVIEW_DUE: EventKind(
        AgreementNoticeData,
        "A sharing agreement's review date is 30 days away or nearer, or has passed",
        "Sent to the controller's endpoints and those of the agreement's owner and parties, once per date.",
    ),
    WebhookEventType.AGREEMENT_EXPIRING: EventKind(
        AgreementNoticeData,
        "A sharing agreement's last day is 30 days away or nearer",
        "Sent to the controller's endpoints and those of the agreement's owner and parties, once per date.",
    ),
    WebhookEventType.AUDIT_CHECKPOINT: EventKind(
        CheckpointPublic,
        "The audit chain's head was signed: keep it, and check its signature with `GET /v1/audit/keys`",
        "Sent to every enabled endpoint subscribed to it, whoever owns it: each keeps a copy the controller cannot "
        "recall, and `POST /v1/audit/verify` or `caldicott audit verify --checkpoint` checks the trail against it "
        "(docs/auditors/audit-format.md).",
    ),
    WebhookEventType.TEST: EventKind(
        WebhookTestData,
        "A test event: the endpoint's owner asked for one with `POST /v1/webhook-endpoints/{id}/test`",
        "Sent only to the endpoint it was asked for, whatever event types it subscribes to; never listed by "
        "`GET /v1/events`.",
    ),
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
        data=(CATALOGUE[event_type].data, Field(description="What the event is about, as it stood after the change")),
    )
    return model


EVENT_MODELS: dict[WebhookEventType, type[BaseModel]] = {
    event_type: envelope(event_type) for event_type in WebhookEventType
}
