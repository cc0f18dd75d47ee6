"""The `webhooks` section of the OpenAPI document: one POST per event type, as a receiver is sent it.

Nothing here serves a request: the operations describe what the delivery worker (app/services/webhooks/attempts.py)
sends to a subscribed endpoint, from the catalogue of event types and the payload models of
app/models/webhook_payloads.py.
"""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Header
from pydantic import BaseModel

from app.models.webhook_payloads import CATALOGUE, EVENT_MODELS

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


for _event_type, _kind in CATALOGUE.items():
    router.add_api_route(
        _event_type.value,
        _receiver(EVENT_MODELS[_event_type]),
        methods=["POST"],
        summary=_kind.what_happened,
        description=f"{_kind.audience}\n\n{DELIVERY}",
        operation_id=f"webhook_{_event_type.value.replace('.', '_')}",
        status_code=204,
        response_description=RECEIVED,
        responses=RESPONSES,
    )
