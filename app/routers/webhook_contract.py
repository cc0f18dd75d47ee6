"""The `webhooks` section of the OpenAPI document: one POST per event type, as a receiver is sent it.

Nothing here serves a request: the operations describe what the delivery worker (app/services/webhooks/attempts.py)
sends to a subscribed endpoint, with the payload models of app/models/webhook_payloads.py.
"""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Header
from pydantic import BaseModel

from app.models.webhook import WebhookEventType
from app.models.webhook_payloads import EVENT_MODELS

REQUEST_AUDIENCE = "Sent to the endpoints of the requesting organisation and to the controller's."
WHAT_HAPPENED: dict[WebhookEventType, str] = {
    WebhookEventType.DECIDED: "A request was decided by the rules when it was submitted or amended: approved, "
    "approved with conditions or refused",
    WebhookEventType.REFERRED: (
        "A request was referred to a Caldicott Guardian when it was submitted or amended, went back to one when a "
        "controller's check failed, or was placed in the queue for a retrospective review because a decision let "
        "evidence no guardian had verified clear a condition"
    ),
    WebhookEventType.REVIEWED: "A guardian, or a panel of guardians, decided a referred request",
    WebhookEventType.INFORMATION_REQUESTED: "A guardian asked the requester for more information before deciding",
    WebhookEventType.WITHDRAWN: "The requester withdrew the request",
    WebhookEventType.OVERDUE: (
        "A referred request passed its response deadline without a decision, or an emergency share's controller's "
        "check was still open after the emergency response time (`open_checks` names them)"
    ),
    WebhookEventType.RETROSPECTIVE_REVIEW_COMPLETED: "A guardian completed the retrospective review of an emergency "
    "share",
    WebhookEventType.RECONSIDERATION_REQUESTED: "The requester asked for a decision to be reconsidered",
    WebhookEventType.RECONSIDERED: "A guardian who did not make the decision reconsidered it",
    WebhookEventType.OPINION_REQUESTED: "A guardian asked for another guardian's opinion on the request",
    WebhookEventType.PANEL_OPENED: "A panel of guardians was convened to decide the request",
    WebhookEventType.ATTACHMENT_ADDED: "Evidence was attached to the request",
    WebhookEventType.EVIDENCE_VERIFIED: "A guardian verified or rejected evidence attached to the request: only "
    "verified evidence counts in the rules",
    WebhookEventType.READY_TO_DISCLOSE: "The last controller's check holding an approved request back was "
    "recorded done: it may be disclosed",
    WebhookEventType.POLICY_ACTIVATED: "A policy version was activated: it decides every request from now on",
    WebhookEventType.AGREEMENT_REVIEW_DUE: "A sharing agreement's review date is 30 days away or nearer, or has passed",
    WebhookEventType.AGREEMENT_EXPIRING: "A sharing agreement's last day is 30 days away or nearer",
    WebhookEventType.AUDIT_CHECKPOINT: "The audit chain's head was signed: "
    "keep it, and check its signature with `GET /v1/audit/keys`",
}
AUDIENCE: dict[WebhookEventType, str] = {
    WebhookEventType.POLICY_ACTIVATED: "Sent to every enabled endpoint subscribed to it: it changes how every "
    "organisation's requests are decided.",
    WebhookEventType.AGREEMENT_REVIEW_DUE: "Sent to the controller's endpoints and those of the agreement's "
    "owner and parties, once per date.",
    WebhookEventType.AGREEMENT_EXPIRING: "Sent to the controller's endpoints and those of the agreement's "
    "owner and parties, once per date.",
    WebhookEventType.AUDIT_CHECKPOINT: (
        "Sent to every enabled endpoint subscribed to it, whoever owns it: each keeps a copy the controller cannot "
        "recall, and `POST /v1/audit/verify` or `caldicott audit verify --checkpoint` checks the trail against it "
        "(docs/auditors/audit-format.md)."
    ),
}
DELIVERY = (
    "Delivered at least once, as `application/json`, signed as Standard Webhooks (https://www.standardwebhooks.com/) "
    "have it: the signature is HMAC-SHA256, keyed with the base64-decoded endpoint secret after its `whsec_` prefix, "
    "over `{webhook-id}.{webhook-timestamp}.{body}`. Verify it, refuse a timestamp more than five minutes away, and "
    "act on each `webhook-id` once: a retry of the same delivery carries the same id."
)

WebhookId = Annotated[
    str,
    Header(
        alias="webhook-id",
        description="The delivery's id: the same on every attempt of one delivery to one endpoint, "
        "so a receiver de-duplicates by it",
    ),
]
WebhookTimestamp = Annotated[
    str,
    Header(
        alias="webhook-timestamp",
        pattern=r"^[0-9]+$",
        description="When this attempt was signed: whole seconds since the Unix epoch",
    ),
]
WebhookSignature = Annotated[
    str,
    Header(
        alias="webhook-signature",
        pattern=r"^v1,[A-Za-z0-9+/=]+( v1,[A-Za-z0-9+/=]+)*$",
        description=(
            "`v1,<base64 HMAC-SHA256>`, one per secret in use, separated by spaces: "
            "after a rotation the previous secret also signs for 24 hours; accept the delivery if any signature matches"
        ),
    ),
]
RECEIVED = (
    "Received: this or any other 2xx answer within the timeout ends the delivery. "
    "The first 1000 bytes of a body are kept with the attempt, for its history; nothing in them is acted on"
)
RESPONSES: dict[int | str, dict[str, Any]] = {
    410: {"description": "Gone: the endpoint is disabled and sent nothing more until its owner enables it again"},
    429: {
        "description": "Busy: retried no sooner than `Retry-After` "
        "(seconds or an HTTP date) says, within the retry schedule"
    },
    503: {"description": "Unavailable: retried no sooner than `Retry-After` says, within the retry schedule"},
    "default": {
        "description": "Any other answer, or none within the timeout: retried on the schedule, then recorded as failed"
    },
}

router = APIRouter(tags=["Webhook events"])


def _receiver(model: type[BaseModel]) -> Callable[..., Coroutine[Any, Any, None]]:
    """A stand-in for the receiver's handler, whose signature FastAPI turns into the operation."""

    async def receive(
        event: model, webhook_id: WebhookId, webhook_timestamp: WebhookTimestamp, webhook_signature: WebhookSignature
    ) -> None:  # type: ignore[valid-type]
        """Never called: the service sends this request, a receiver answers it."""

    return receive


for _event_type in WebhookEventType:
    router.add_api_route(
        _event_type.value,
        _receiver(EVENT_MODELS[_event_type]),
        methods=["POST"],
        summary=WHAT_HAPPENED[_event_type],
        description=f"{AUDIENCE.get(_event_type, REQUEST_AUDIENCE)}\n\n{DELIVERY}",
        operation_id=f"webhook_{_event_type.value.replace('.', '_')}",
        status_code=204,
        response_description=RECEIVED,
        responses=RESPONSES,
    )
