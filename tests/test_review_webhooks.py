"""The review workflow's events reach case-management systems as signed webhooks."""

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from app.models.sharing_request import SharingRequest
from app.models.vocabulary import Role
from tests.factories import register_organisation, submit
from tests.rules.baseline import changed
from tests.support import Tokens
from tests.test_webhooks import drain, register_endpoint
from tests.webhook_receiver import Receiver

RATIONALE = "Onward sharing is limited to the named safeguarding team under the agreement."


async def test_every_step_of_a_review_is_announced_once(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    agency, guardian = tokens.agency("RXT01"), tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")
    await register_endpoint(hooks, receiver, agency)

    asked = (await submit(hooks, tokens, changed({"recipient.onward_sharing": True}))).json()
    await hooks.post(f"/v1/sharing-requests/{asked['id']}/claim", headers=guardian)
    await hooks.post(
        f"/v1/sharing-requests/{asked['id']}/review",
        json={"outcome": "request_information", "rationale": RATIONALE},
        headers=guardian,
    )
    amended = {
        "request": changed({"recipient.onward_sharing": True, "reference": "v2"}),
        "note": "The onward recipient is the MASH.",
    }
    await hooks.post(f"/v1/sharing-requests/{asked['id']}/amendments", json=amended, headers=agency)
    await hooks.post(f"/v1/sharing-requests/{asked['id']}/claim", headers=guardian)
    await hooks.post(
        f"/v1/sharing-requests/{asked['id']}/review",
        json={"outcome": "approve", "rationale": RATIONALE},
        headers=guardian,
    )

    withdrawn = (await submit(hooks, tokens, changed({"recipient.onward_sharing": True}))).json()
    await hooks.post(f"/v1/sharing-requests/{withdrawn['id']}/withdraw", headers=agency)

    emergency = {
        "urgency": "emergency",
        "purpose.category": "safeguarding_adult",
        "legal_basis.article_6": "vital_interests",
        "legal_basis.article_9": "substantial_public_interest",
        "legal_basis.schedule1_paragraph": 18,
        "legal_basis.confidentiality": "overriding_public_interest",
    }
    shared = (await submit(hooks, tokens, changed(emergency))).json()
    await hooks.post(f"/v1/sharing-requests/{shared['id']}/claim", headers=guardian)
    await hooks.post(
        f"/v1/sharing-requests/{shared['id']}/retrospective-review",
        json={"outcome": "upheld", "rationale": RATIONALE},
        headers=guardian,
    )

    late = (await submit(hooks, tokens, changed({"recipient.onward_sharing": True}))).json()
    async with hook_app.state.wiring.engine.begin() as connection:
        await connection.execute(
            update(SharingRequest)
            .where(SharingRequest.id == late["id"])
            .values(due_at=datetime.now(UTC) - timedelta(minutes=1))
        )

    await drain(hook_app)
    await drain(hook_app)  # a second pass announces nothing twice
    assert all(delivery.verified for delivery in receiver.received)
    seen = [
        (delivery.payload["data"]["id"], delivery.payload["type"], delivery.payload["data"]["status"])
        for delivery in receiver.received
    ]
    assert sorted(seen) == sorted(
        [
            (asked["id"], "sharing_request.referred", "awaiting_review"),
            (asked["id"], "sharing_request.information_requested", "information_requested"),
            (asked["id"], "sharing_request.referred", "awaiting_review"),
            (asked["id"], "sharing_request.reviewed", "approved"),
            (withdrawn["id"], "sharing_request.referred", "awaiting_review"),
            (withdrawn["id"], "sharing_request.withdrawn", "withdrawn"),
            (shared["id"], "sharing_request.decided", "approved_with_conditions"),
            (shared["id"], "sharing_request.retrospective_review_completed", "approved_with_conditions"),
            (late["id"], "sharing_request.referred", "awaiting_review"),
            (late["id"], "sharing_request.overdue", "awaiting_review"),
        ]
    )
    reviewed = next(d.payload for d in receiver.received if d.payload["type"] == "sharing_request.reviewed")
    assert reviewed["data"]["outcome"] == "approve"
