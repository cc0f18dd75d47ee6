"""Webhook endpoints: an agency's for its own organisation's events, an admin's for every event."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.errors import BODY_PROBLEMS, INVALID_INPUT, PROBLEM_RESPONSES, problem_doc
from app.http.dependencies import PageCursor, PageLimit, PathName, SettingsDep
from app.http.etags import ETAG_HEADER, NOT_MODIFIED, STALE, IfMatch, IfNoneMatch, check, locked, not_modified, tagged
from app.http.idempotency import IdempotentRoute
from app.http.roles import WebhookOwner
from app.http.session import SessionDep
from app.models.webhook import (
    DeliveryStatus,
    WebhookDeliveryPage,
    WebhookDeliveryPublic,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointPage,
    WebhookEndpointPublic,
    WebhookEndpointUpdate,
    WebhookRedeliveries,
    WebhookRedeliveriesAccepted,
    WebhookSecretRotated,
)
from app.services.webhooks import endpoints as webhooks

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["Webhooks"], responses=PROBLEM_RESPONSES)
router.route_class = IdempotentRoute  # every POST that changes something takes an Idempotency-Key

# A 422 when the id in the path could not be looked up at all (too long, or holding a NUL).
NOT_FOUND = INVALID_INPUT | {404: problem_doc("No such endpoint, or it is not the caller's")}


async def get_current_endpoint(endpoint_id: PathName, session: SessionDep, principal: WebhookOwner) -> WebhookEndpoint:
    """The endpoint named in the path, if the caller manages it; otherwise 404."""
    return await webhooks.get_managed(session=session, principal=principal, endpoint_id=endpoint_id)


CurrentEndpoint = Annotated[WebhookEndpoint, Depends(get_current_endpoint)]


async def get_endpoint_to_change(
    endpoint: CurrentEndpoint, session: SessionDep, if_match: IfMatch = None
) -> WebhookEndpoint:
    """The endpoint named in the path, locked, once If-Match, if sent, names its current ETag (else 412)."""
    check(await locked(session, endpoint), if_match)
    return endpoint


EndpointToChange = Annotated[WebhookEndpoint, Depends(get_endpoint_to_change)]
CHANGED = {200: {"description": "The endpoint as changed", "headers": ETAG_HEADER}}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register an endpoint; the signing secret is shown only in this answer",
    responses=BODY_PROBLEMS
    | {
        201: {
            "description": "The endpoint, with its signing secret",
            "headers": {"Location": {"description": "The endpoint's own URL", "schema": {"type": "string"}}},
        },
        403: problem_doc("The caller's organisation is not registered or not active"),
        409: problem_doc(
            "The organisation already has as many endpoints as it may "
            "(CALDICOTT_MAX_WEBHOOK_ENDPOINTS_PER_ORG, 10 by default)"
        ),
    },
)
async def register_endpoint(
    data: WebhookEndpointCreate, response: Response, session: SessionDep, settings: SettingsDep, principal: WebhookOwner
) -> WebhookEndpointCreated:
    endpoint = await webhooks.register(session=session, settings=settings, principal=principal, data=data)
    response.headers["Location"] = f"/v1/webhook-endpoints/{endpoint.id}"
    tagged(response, endpoint)
    return WebhookEndpointCreated(**WebhookEndpointPublic.of(endpoint).model_dump(), secret=endpoint.secret)


@router.get("", summary="The caller's endpoints, oldest first", responses=INVALID_INPUT)
async def list_endpoints(
    session: SessionDep,
    principal: WebhookOwner,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
) -> WebhookEndpointPage:
    return await webhooks.list_managed(session=session, principal=principal, cursor=cursor, limit=limit)


@router.get(
    "/{endpoint_id}",
    summary="One endpoint",
    responses=NOT_FOUND | NOT_MODIFIED | {200: {"description": "The endpoint", "headers": ETAG_HEADER}},
)
async def get_endpoint(
    endpoint: CurrentEndpoint, response: Response, if_none_match: IfNoneMatch = None
) -> WebhookEndpointPublic:
    if (unchanged := not_modified(endpoint, if_none_match)) is not None:
        return unchanged  # type: ignore[return-value]
    tagged(response, endpoint)
    return WebhookEndpointPublic.of(endpoint)


@router.patch(
    "/{endpoint_id}",
    summary="Enable or disable an endpoint, change its event types or description",
    responses=NOT_FOUND | BODY_PROBLEMS | STALE | CHANGED,
)
async def update_endpoint(
    endpoint: EndpointToChange,
    changes: WebhookEndpointUpdate,
    response: Response,
    session: SessionDep,
    principal: WebhookOwner,
) -> WebhookEndpointPublic:
    endpoint = await webhooks.update(session=session, principal=principal, endpoint=endpoint, changes=changes)
    tagged(response, endpoint)
    return WebhookEndpointPublic.of(endpoint)


@router.delete(
    "/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an endpoint and its delivery history",
    responses=NOT_FOUND | STALE,
)
async def delete_endpoint(endpoint: EndpointToChange, session: SessionDep, principal: WebhookOwner) -> None:
    await webhooks.remove(session=session, principal=principal, endpoint=endpoint)


@router.post(
    "/{endpoint_id}/rotate-secret",
    summary="A new signing secret; the old one also signs for 24 hours",
    responses=NOT_FOUND | STALE | CHANGED,
)
async def rotate_endpoint_secret(
    endpoint: EndpointToChange, response: Response, session: SessionDep, principal: WebhookOwner
) -> WebhookSecretRotated:
    rotated = await webhooks.rotate_secret(session=session, principal=principal, endpoint=endpoint)
    tagged(response, endpoint)
    return rotated


@router.get(
    "/{endpoint_id}/deliveries",
    summary="The endpoint's deliveries, newest first, with every attempt",
    responses=NOT_FOUND | INVALID_INPUT,
)
async def list_deliveries(
    endpoint: CurrentEndpoint,
    session: SessionDep,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
) -> WebhookDeliveryPage:
    return await webhooks.deliveries_page(
        session=session, endpoint=endpoint, status=status_, cursor=cursor, limit=limit
    )


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a delivery again at once, with the same webhook-id",
    responses=NOT_FOUND | {409: problem_doc("The endpoint is disabled")},
)
async def redeliver(
    endpoint: CurrentEndpoint, delivery_id: PathName, session: SessionDep, principal: WebhookOwner
) -> WebhookDeliveryPublic:
    return await webhooks.redeliver(session=session, principal=principal, endpoint=endpoint, delivery_id=delivery_id)


@router.post(
    "/{endpoint_id}/redeliveries",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send again every delivery to the endpoint since a time, in order",
    responses=NOT_FOUND | BODY_PROBLEMS | {409: problem_doc("The endpoint is disabled")},
)
async def redeliver_since(
    endpoint: CurrentEndpoint, asked: WebhookRedeliveries, session: SessionDep, principal: WebhookOwner
) -> WebhookRedeliveriesAccepted:
    """Each delivery keeps its `webhook-id`, so a receiver that processed it already recognises it; use
    `status=failed` to send only what the retry schedule gave up on."""
    return await webhooks.redeliver_since(session=session, principal=principal, endpoint=endpoint, asked=asked)


@router.post(
    "/{endpoint_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send the endpoint a signed webhook.test event now",
    responses=NOT_FOUND | {409: problem_doc("The endpoint is disabled")},
)
async def send_test_event(
    endpoint: CurrentEndpoint, session: SessionDep, principal: WebhookOwner
) -> WebhookDeliveryPublic:
    """Whatever event types the endpoint subscribes to; the delivery is recorded and retried like any other, and its
    attempts are in the endpoint's deliveries."""
    return await webhooks.send_test(session=session, principal=principal, endpoint=endpoint)
