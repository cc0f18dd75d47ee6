"""Disclosures actually made (issue 29 item 3): one request walked from submission to a recorded disclosure over
HTTP, on both databases, with who may see and record it, the 422s, the signed webhook, overdue and the audit chain."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import update

from app.models.disclosure import Disclosure
from app.models.vocabulary import Role
from app.services.disclosures.opening import after_working_days
from tests.factories import EPR_ASSET as EPR
from tests.factories import PHARMACY_ASSET as PHARMACY
from tests.factories import REFERRED, register_organisation, submit
from tests.rules.baseline import baseline_request, changed
from tests.support import Tokens
from tests.test_webhooks import drain, register_endpoint
from tests.webhook_receiver import Receiver

ASSETS = "/v1/information-assets"
RATIONALE = "Shared care plan agreed with the recipient; onward sharing limited to the named team."


def inside(tokens: Tokens, role: Role, sub: str) -> dict[str, str]:
    return tokens.headers("CONTROLLER", role, sub=sub)


async def registered(client: httpx.AsyncClient, tokens: Tokens, *bodies: dict[str, Any]) -> None:
    for body in bodies:
        response = await client.post(ASSETS, json=body, headers=inside(tokens, Role.IG_MANAGER, "ig-1"))
        assert response.status_code == 201, response.text


async def approved_with_assets(client: httpx.AsyncClient, tokens: Tokens) -> str:
    """A request the rules approve (RXT01 and RXT02 registered), its items held by the EPR alone; its id."""
    await registered(client, tokens, EPR, PHARMACY)
    approved = (await submit(client, tokens, baseline_request())).json()
    assert approved["status"] == "approved" and approved["ready_to_disclose"] is True, approved
    return str(approved["id"])


def sent(**changes: Any) -> dict[str, Any]:
    at = datetime.now(UTC).isoformat()  # after the disclosure opened, and not in the future by the time it lands
    return {"outcome": "disclosed", "items": ["demographics"], "channel": "nhsmail", "disclosed_at": at} | changes


async def test_a_request_walked_to_a_recorded_disclosure(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    client = hooks
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "RXT02")
    await register_endpoint(client, receiver, tokens.agency("RXT01"))
    request_id = await approved_with_assets(client, tokens)
    owner, other_iao = inside(tokens, Role.IAO, "iao-1"), inside(tokens, Role.IAO, "iao-2")

    # The asset's IAO sees its pending disclosure; the other IAO sees none.
    [pending] = (await client.get("/v1/disclosures", headers=owner)).json()["items"]
    assert (pending["request_id"], pending["asset_code"], pending["owner"]) == (request_id, "EPR", "iao-1")
    assert (pending["status"], pending["overdue"], pending["recipient_org"]) == ("pending", False, "RXT01")
    assert (await client.get("/v1/disclosures", headers=other_iao)).json()["items"] == []
    assert (await client.get(f"/v1/sharing-requests/{request_id}/disclosures", headers=other_iao)).status_code == 404

    # The requesting agency reads its request's disclosures without the controller's internals; another cannot.
    path = f"/v1/sharing-requests/{request_id}/disclosures"
    [seen] = (await client.get(path, headers=tokens.agency("RXT01"))).json()["items"]
    assert seen["id"] == pending["id"] and (seen["asset_code"], seen["owner"]) == (None, None)
    assert (await client.get(path, headers=tokens.agency("RXT02"))).status_code == 404

    record = f"/v1/disclosures/{pending['id']}/record"
    for headers, status in ((tokens.agency("RXT02"), 404), (other_iao, 404), (tokens.agency("RXT01"), 403)):
        refused = await client.post(record, json=sent(), headers=headers)
        assert refused.status_code == status, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    for body, field in (
        (sent(items=["demographics", "medications"]), "items"),  # more than the approval covers
        (sent(items=[]), "items"),
        (sent(disclosed_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat()), "disclosed_at"),
        (sent(disclosed_at="2020-01-01T00:00:00Z"), "disclosed_at"),  # before it was opened
        (sent(channel=None), "channel"),
        (sent(reason="Sent as asked, nothing more."), "reason"),
        ({"outcome": "not_disclosed"}, "reason"),
    ):
        invalid = await client.post(record, json=body, headers=owner)
        assert invalid.status_code == 422, (body, invalid.text)
        assert invalid.headers["content-type"] == "application/problem+json"
        assert [error["field"] for error in invalid.json()["errors"]][-1].endswith(field), invalid.json()

    recorded = await client.post(record, json=sent(items=["demographics", "diagnoses"]), headers=owner)
    assert recorded.status_code == 200, recorded.text
    assert (recorded.json()["status"], recorded.json()["channel"], recorded.json()["recorded_by"]) == (
        "disclosed",
        "nhsmail",
        "iao-1",
    )
    again = await client.post(record, json=sent(), headers=owner)
    assert again.status_code == 409 and again.json()["current_status"] == "disclosed"
    history = await client.get(f"/v1/sharing-requests/{request_id}/history", headers=tokens.agency("RXT01"))
    [entry] = [entry for entry in history.json()["items"] if entry["type"] == "disclosure"]
    assert (entry["disclosure"]["status"], entry["disclosure"]["recorded_by"]) == ("disclosed", None)
    listed = (await client.get("/v1/disclosures", params={"status": "disclosed"}, headers=owner)).json()["items"]
    assert [row["items"] for row in listed] == [["demographics", "diagnoses"]]

    await drain(hook_app)
    [disclosed] = [d for d in receiver.received if d.payload["type"] == "sharing_request.disclosed"]
    assert disclosed.verified
    data = disclosed.payload["data"]
    assert (data["id"], data["disclosure_id"], data["channel"]) == (request_id, pending["id"], "nhsmail")
    assert data["items"] == ["demographics", "diagnoses"] and "iao-1" not in str(disclosed.payload)

    auditor = inside(tokens, Role.AUDITOR, "auditor-1")
    trail = await client.get("/v1/audit/events", params={"action": "disclosure_recorded"}, headers=auditor)
    [event] = trail.json()["items"]
    assert (event["target_id"], event["actor_sub"]) == (request_id, "iao-1")
    verified = await client.get("/v1/audit/verify", headers=auditor)
    assert verified.status_code == 200 and verified.json()["valid"] is True, verified.text


async def test_overdue_not_disclosed_and_an_ig_manager(client: httpx.AsyncClient, tokens: Tokens, app: FastAPI) -> None:
    await register_organisation(client, tokens, "RXT01")
    request_id = await approved_with_assets(client, tokens)
    owner = inside(tokens, Role.IAO, "iao-1")
    assert (await client.get("/v1/disclosures", params={"overdue": "true"}, headers=owner)).json()["items"] == []
    async with app.state.wiring.engine.begin() as connection:
        await connection.execute(
            update(Disclosure)
            .where(Disclosure.request_id == request_id)  # type: ignore[arg-type]
            .values(due_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    siro = inside(tokens, Role.SIRO, "siro-1")
    [late] = (await client.get("/v1/disclosures", params={"overdue": "true"}, headers=siro)).json()["items"]
    assert late["overdue"] is True and late["request_id"] == request_id
    assert (await client.get("/v1/disclosures", params={"overdue": "false"}, headers=siro)).json()["items"] == []
    # Counted beside the queue's overdue requests, and in the scrape.
    metrics = await client.get("/v1/reports/review-metrics", headers=inside(tokens, Role.AUDITOR, "auditor-1"))
    assert metrics.status_code == 200 and metrics.json()["disclosures_overdue_now"] == 1, metrics.text
    scrape = (await client.get("/metrics")).text
    assert "caldicott_disclosures_overdue 1.0" in scrape, scrape
    # An IAO reads only its own, whatever owner it asks for.
    other = inside(tokens, Role.IAO, "iao-2")
    assert (await client.get("/v1/disclosures", params={"owner": "iao-1"}, headers=other)).json()["items"] == []
    assert (await client.get("/v1/disclosures", headers=tokens.agency("RXT01"))).status_code == 403

    ig_manager = inside(tokens, Role.IG_MANAGER, "ig-1")
    reason = {"outcome": "not_disclosed", "reason": "The record holds nothing for this person since 2019."}
    recorded = await client.post(f"/v1/disclosures/{late['id']}/record", json=reason, headers=ig_manager)
    assert recorded.status_code == 200, recorded.text
    assert (recorded.json()["status"], recorded.json()["overdue"], recorded.json()["items"]) == (
        "not_disclosed",
        False,
        None,
    )


async def test_nothing_opens_without_a_matching_asset_or_before_approval(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await registered(client, tokens, PHARMACY)
    approved = (await submit(client, tokens, baseline_request())).json()
    ig_manager = inside(tokens, Role.IG_MANAGER, "ig-1")
    path = f"/v1/sharing-requests/{approved['id']}/disclosures"
    assert (await client.get(path, headers=ig_manager)).json()["items"] == []

    # Referred, nothing opens until a guardian approves it.
    await registered(client, tokens, EPR)
    referred = (await submit(client, tokens, changed(REFERRED))).json()
    path = f"/v1/sharing-requests/{referred['id']}"
    assert (await client.get(f"{path}/disclosures", headers=ig_manager)).json()["items"] == []
    guardian = inside(tokens, Role.GUARDIAN, "guardian-1")
    assert (await client.post(f"{path}/claim", headers=guardian)).status_code == 200
    review = {"outcome": "approve", "rationale": RATIONALE, "approved_items": ["demographics"]}
    assert (await client.post(f"{path}/review", json=review, headers=guardian)).status_code == 200
    [opened] = (await client.get(f"{path}/disclosures", headers=ig_manager)).json()["items"]
    assert opened["asset_code"] == "EPR"
    # The guardian approved demographics only: diagnoses are beyond it.
    beyond = await client.post(
        f"/v1/disclosures/{opened['id']}/record", json=sent(items=["diagnoses"]), headers=ig_manager
    )
    assert beyond.status_code == 422 and "items" in beyond.text


def test_due_counts_working_days() -> None:
    friday = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    assert after_working_days(None, friday, 1) == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert after_working_days(None, friday, 5) == datetime(2026, 12, 11, 10, 0, tzinfo=UTC)


async def test_the_subject_report_and_fhir_say_what_was_disclosed(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await registered(client, tokens, EPR)
    person = "9990000018"
    approved = (await submit(client, tokens, changed({"subjects.identifiers": [person]}))).json()
    assert approved["status"] == "approved", approved
    iao = inside(tokens, Role.IAO, "iao-1")
    [pending] = (await client.get(f"/v1/sharing-requests/{approved['id']}/disclosures", headers=iao)).json()["items"]
    guardian = inside(tokens, Role.GUARDIAN, "guardian-1")
    report = "/v1/reports/subject-disclosures"
    [before] = (await client.post(report, json={"identifier": person}, headers=guardian)).json()["items"]
    assert [(made["asset_code"], made["status"], made["channel"]) for made in before["disclosures"]] == [
        ("EPR", "pending", None)
    ]
    body = sent(items=["diagnoses"], channel="mesh")
    assert (await client.post(f"/v1/disclosures/{pending['id']}/record", json=body, headers=iao)).status_code == 200

    [after] = (await client.post(report, json={"identifier": person}, headers=guardian)).json()["items"]
    [made] = after["disclosures"]
    assert (made["asset_code"], made["status"], made["items"], made["channel"]) == (
        "EPR",
        "disclosed",
        ["diagnoses"],
        "mesh",
    )
    assert made["disclosed_at"] is not None

    # FHIR: the disclosure is an AuditEvent of its own (subtype `disclosure`), valid R4, with its Provenance.
    for document in (
        (await client.post(report, params={"format": "fhir"}, json={"identifier": person}, headers=guardian)).json(),
        (await client.get(f"/v1/sharing-requests/{approved['id']}/fhir", headers=tokens.agency("RXT01"))).json(),
    ):
        Bundle.model_validate(document)
        resources = [entry["resource"] for entry in document["entry"]]
        for resource in resources:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        [event] = [
            resource
            for resource in resources
            if resource["resourceType"] == "AuditEvent"
            and any(code["code"] == "disclosure" for code in resource["subtype"])
        ]
        assert event["id"] == pending["id"]
        assert {code["code"] for code in event["subtype"]} == {"disclose", "disclosure", "mesh"}
        assert [entity["type"]["code"] for entity in event["entity"] if "lifecycle" in entity] == ["diagnoses"]
        assert "iao-1" not in str(document)
        [origin] = [
            r
            for r in resources
            if r["resourceType"] == "Provenance" and r["target"][0]["reference"].endswith(event["id"])
        ]
        assert origin["activity"]["coding"][0]["code"] == "disclosure"


async def test_withdrawing_an_approval_cancels_its_disclosures_until_one_is_made(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    request_id = await approved_with_assets(client, tokens)
    agency, ig_manager = tokens.agency("RXT01"), inside(tokens, Role.IG_MANAGER, "ig-1")
    withdrawn = await client.post(f"/v1/sharing-requests/{request_id}/withdraw", headers=agency)
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn", withdrawn.text
    [closed] = (await client.get(f"/v1/sharing-requests/{request_id}/disclosures", headers=ig_manager)).json()["items"]
    assert closed["status"] == "cancelled" and "withdrew" in closed["reason"]
    late = await client.post(f"/v1/disclosures/{closed['id']}/record", json=sent(), headers=ig_manager)
    assert late.status_code == 409 and late.json()["current_status"] == "cancelled"
    trail = await client.get(
        "/v1/audit/events", params={"action": "withdrawn"}, headers=inside(tokens, Role.AUDITOR, "auditor-1")
    )
    assert [event["target_id"] for event in trail.json()["items"]] == [request_id]

    # Once something is disclosed under an approval, it stays: 409, and nothing changes.
    second = (await submit(client, tokens, baseline_request())).json()
    [pending] = (await client.get(f"/v1/sharing-requests/{second['id']}/disclosures", headers=ig_manager)).json()[
        "items"
    ]
    assert (await client.post(f"/v1/disclosures/{pending['id']}/record", json=sent(), headers=ig_manager)).is_success
    refused = await client.post(f"/v1/sharing-requests/{second['id']}/withdraw", headers=agency)
    assert refused.status_code == 409 and refused.json()["current_status"] == "approved", refused.text
    assert (await client.get(f"/v1/sharing-requests/{second['id']}", headers=agency)).json()["status"] == "approved"


async def test_a_reconsidered_approval_closes_its_disclosures_and_an_upheld_one_opens_them_again(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await registered(client, tokens, EPR)
    referred = (await submit(client, tokens, changed(REFERRED))).json()
    path, ig_manager = f"/v1/sharing-requests/{referred['id']}", inside(tokens, Role.IG_MANAGER, "ig-1")
    first, second = inside(tokens, Role.GUARDIAN, "guardian-1"), inside(tokens, Role.GUARDIAN, "guardian-2")
    assert (await client.post(f"{path}/claim", headers=first)).status_code == 200
    review = {"outcome": "approve_with_conditions", "rationale": RATIONALE, "conditions": ["Delete after the episode"]}
    assert (await client.post(f"{path}/review", json=review, headers=first)).status_code == 200
    [opened] = (await client.get(f"{path}/disclosures", headers=ig_manager)).json()["items"]
    assert opened["status"] == "pending"

    grounds = {"grounds": "The condition cannot be met: the record is needed for the whole care plan."}
    asked = await client.post(f"{path}/reconsideration", json=grounds, headers=tokens.agency("RXT01"))
    assert asked.status_code == 201, asked.text
    [closed] = (await client.get(f"{path}/disclosures", headers=ig_manager)).json()["items"]
    assert closed["status"] == "cancelled" and "reconsidered" in closed["reason"]

    assert (await client.post(f"{path}/claim", headers=second)).status_code == 200
    upheld = {"outcome": "upheld", "rationale": RATIONALE}
    decided = await client.post(f"{path}/reconsideration/decision", json=upheld, headers=second)
    assert decided.status_code == 200, decided.text
    rows = (await client.get(f"{path}/disclosures", headers=ig_manager)).json()["items"]
    assert sorted(row["status"] for row in rows) == ["cancelled", "pending"]
