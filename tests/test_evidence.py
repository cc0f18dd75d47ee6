"""Evidence in the rules over HTTP (issues 15 and 25):
an attachment counts only once a guardian has verified it (brief section 7, Evidence).

Policies 2027.2 and 2028.2 weigh the attachments on a request, at amendment and in a replay; the `kind` an uploader
declares files the attachment, nothing more. A guardian who is not of the requesting organisation records what they
checked; the latest verification counts, a rejected one does not, and the decision records what it weighed.
"""

from typing import Any

import httpx
from fastapi import FastAPI
from sqlmodel import select

from app.models.request_body import SharingRequestBody
from app.models.vocabulary import Role
from app.models.webhook import OutboxEvent
from app.rules import evaluate
from app.rules.facts import facts_from_record
from tests.conftest import active_before_upgrade
from tests.factories import register_organisation, submit
from tests.rules.test_policy_2027_2 import court_order_request, police_request
from tests.support import Tokens
from tests.test_decision_facts import cited_policy
from tests.test_policies import BASELINE, activate, changes, replay
from tests.test_review import act, guardian

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
SELF_CERTIFIED = b"COURT ORDER\nThe bearer is entitled to the medical records of the person named.\nSigned: PC 4471\n"
CHECKED = (
    "Read the sealed order against the court's list; the family court office confirmed the case number by telephone."
)
GUARDIAN_WORDS = "a Caldicott Guardian of CONTROLLER (the controller)"  # how an agency reads any guardian
ORDER = {
    "issued_by": "Family Court at Leeds",
    "issued_on": "2026-11-20",
    "number": "ZW26C00123",
    "sealed_or_signed": True,
    "in_date": True,
    "addressed_to_controller": True,
    "covers_information": True,
}
VERIFIED = {"outcome": "verified", "checked": CHECKED, "order": ORDER}
REJECTED = {
    "outcome": "rejected",
    "checked": "A typed page headed 'court order': no seal, no court, no case number.",
    "order": ORDER | {"sealed_or_signed": False},
}
FORM_VERIFIED = {
    "outcome": "verified",
    "checked": "Signed by Inspector Hale (rank the force requires); warrant number matches.",
}


async def attach(
    client: httpx.AsyncClient, tokens: Tokens, request_id: str, kind: str, org: str, content: bytes = PDF
) -> dict[str, Any]:
    """Upload a file of `kind` to a request as its requesting agency."""
    response = await client.post(
        f"/v1/sharing-requests/{request_id}/attachments",
        data={"kind": kind},
        files={"file": (f"{kind}.pdf", content, "application/octet-stream")},
        headers=tokens.agency(org),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def verify(
    client: httpx.AsyncClient, headers: dict[str, str], request_id: str, attachment_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"/v1/sharing-requests/{request_id}/attachments/{attachment_id}/verifications", json=body, headers=headers
    )


async def verified(
    client: httpx.AsyncClient, tokens: Tokens, request_id: str, attachment_id: str, body: dict[str, Any] = VERIFIED
) -> dict[str, Any]:
    """Record a verification as the controller's guardian; the attachment as it now stands."""
    response = await verify(client, guardian(tokens), request_id, attachment_id, body)
    assert response.status_code == 201, response.text
    return response.json()


async def submitted(client: httpx.AsyncClient, tokens: Tokens, body: dict[str, Any], org: str) -> dict[str, Any]:
    response = await submit(client, tokens, body, org=org)
    assert response.status_code == 201, response.text
    return response.json()


def findings(request: dict[str, Any]) -> dict[str, str]:
    return {finding["rule"]: finding["result"] for finding in request["decision"]["findings"]}


async def etag(client: httpx.AsyncClient, tokens: Tokens, request_id: str) -> str:
    response = await client.get(f"/v1/sharing-requests/{request_id}", headers=guardian(tokens))
    assert response.status_code == 200, response.text
    return response.headers["ETag"]


async def ask_and_amend(
    client: httpx.AsyncClient, tokens: Tokens, request_id: str, body: dict[str, Any], org: str, note: str
) -> dict[str, Any]:
    """A guardian claims the referred request and asks for information; the agency answers with the same request:
    the rules weigh the evidence again."""
    assert (await act(client, request_id, "claim", guardian(tokens))).status_code == 200
    asked = await act(
        client,
        request_id,
        "review",
        guardian(tokens),
        {"outcome": "request_information", "rationale": "Attach the sealed order, please."},
    )
    assert asked.status_code == 200, asked.text
    amended = await act(client, request_id, "amendments", tokens.agency(org), {"request": body, "note": note})
    assert amended.status_code == 200, amended.text
    return dict(amended.json())


def referred_court_order() -> dict[str, Any]:
    """A court-verified request the rules refer (onward sharing),
    so that the police may amend it once a guardian has asked."""
    body = court_order_request()
    body["recipient"]["onward_sharing"] = True
    return body


async def test_under_2028_2_a_self_certified_court_order_clears_nothing_until_a_guardian_verifies_it(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "POL01", type="police")
    await activate(client, tokens, BASELINE, "2028.2")
    body = referred_court_order()
    request = await submitted(client, tokens, body, "POL01")
    assert (request["decision"]["policy"]["version"], findings(request)["CP6.court_order_verified"]) == (
        "2028.2",
        "condition",
    )

    before = await etag(client, tokens, request["id"])
    upload = await attach(
        client, tokens, request["id"], "court_order", "POL01", SELF_CERTIFIED
    )  # the police call a typed page an order
    assert upload["verification"] is None and upload["media_type"] == "text/plain"
    uploaded = await etag(client, tokens, request["id"])
    assert uploaded != before

    amended = await ask_and_amend(client, tokens, request["id"], body, "POL01", "The court order is attached.")
    assert findings(amended)["CP6.court_order_verified"] == "condition"  # the kind declared files it, nothing more
    assert amended["decision"]["facts"]["evidence"] == []

    # Information governance reads it, and a guardian not of the police records the verification: now it counts.
    after_amendment = await etag(client, tokens, request["id"])
    answer = await verify(
        client, guardian(tokens) | {"If-Match": after_amendment}, request["id"], upload["id"], VERIFIED
    )
    assert answer.status_code == 201, answer.text
    record = answer.json()["verification"]
    assert record | {"id": None, "verified_at": None} == {
        "id": None,
        "attachment_id": upload["id"],
        "outcome": "verified",
        "checked": CHECKED,
        "order": ORDER | {"return_date": None, "produce_to": None},
        "verified_by": "guardian-1",
        "verified_by_org": "CONTROLLER",
        "verified_by_role": "guardian",
        "verified_at": None,
    }
    assert answer.headers["ETag"] == await etag(client, tokens, request["id"]) != after_amendment
    assert answer.headers["Location"] == f"/v1/sharing-requests/{request['id']}/attachments"
    assert answer.json() == upload | {"verification": record}
    # The agency reads who verified it as the controller's guardian, never the guardian's subject.
    listed = (
        await client.get(f"/v1/sharing-requests/{request['id']}/attachments", headers=tokens.agency("POL01"))
    ).json()["items"]
    assert listed == [upload | {"verification": record | {"verified_by": GUARDIAN_WORDS}}]

    cleared = await ask_and_amend(client, tokens, request["id"], body, "POL01", "The order has been verified.")
    assert findings(cleared)["CP6.court_order_verified"] == "pass"
    weighed = cleared["decision"]["facts"]["evidence"]
    assert weighed == [
        {
            "attachment_id": upload["id"],
            "kind": "court_order",
            "verification_id": record["id"],
            "verified_by": "guardian-1",
            "verified_at": record["verified_at"],
        }
    ]

    # The decision replays exactly from what it recorded, whatever is verified later.
    assert (await verify(client, guardian(tokens), request["id"], upload["id"], REJECTED)).status_code == 201
    decision = cleared["decision"]
    replayed = evaluate(
        cited_policy(app, decision), facts_from_record(decision["facts"], SharingRequestBody.model_validate(body))
    )
    assert [finding.model_dump(mode="json") for finding in replayed.findings] == decision["findings"]
    assert (replayed.outcome, replayed.conditions) == (decision["outcome"], decision["conditions"])


async def test_the_latest_verification_counts_and_a_rejected_one_does_not(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "POL01", type="police")
    await activate(client, tokens, BASELINE, "2028.2")
    body = referred_court_order()
    request = await submitted(client, tokens, body, "POL01")
    upload = await attach(client, tokens, request["id"], "court_order", "POL01")

    first = await verified(client, tokens, request["id"], upload["id"])  # a mistake, followed by another
    second = await verified(client, tokens, request["id"], upload["id"], REJECTED)
    assert (
        second["verification"]["outcome"] == "rejected" and second["verification"]["id"] > first["verification"]["id"]
    )
    amended = await ask_and_amend(client, tokens, request["id"], body, "POL01", "Attached.")
    assert findings(amended)["CP6.court_order_verified"] == "condition"

    # Never edited: both are in the history, each audited and announced.
    history = (await client.get(f"/v1/sharing-requests/{request['id']}/history", headers=guardian(tokens))).json()[
        "items"
    ]
    recorded = [entry["verification"] for entry in history if entry["type"] == "evidence_verification"]
    assert recorded == [first["verification"], second["verification"]]
    trail = await client.get(
        "/v1/audit/events",
        params={"request_id": request["id"], "action": "evidence_verified"},
        headers=tokens.headers("CONTROLLER", Role.AUDITOR),
    )
    assert [event["outcome"] for event in trail.json()["items"]] == [
        f"verified court_order {upload['id']}",
        f"rejected court_order {upload['id']}",
    ]
    async with app.state.wiring.sessionmaker() as session:
        announced = (
            await session.exec(select(OutboxEvent).where(OutboxEvent.type == "sharing_request.evidence_verified"))
        ).all()
    assert [event.payload["data"]["id"] for event in announced] == [request["id"], request["id"]]


async def test_only_a_guardian_not_of_the_requesting_organisation_verifies_and_an_order_needs_its_checks(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "POL01", type="police")
    await register_organisation(client, tokens, "RXT02")
    request = await submitted(client, tokens, referred_court_order(), "POL01")
    upload = await attach(client, tokens, request["id"], "court_order", "POL01")
    form = await attach(client, tokens, request["id"], "police_request_form", "POL01")
    unchanged = await etag(client, tokens, request["id"])

    async def refused(
        headers: dict[str, str], body: dict[str, Any] = VERIFIED, attachment_id: str = upload["id"]
    ) -> tuple[int, list[str]]:
        response = await verify(client, headers, request["id"], attachment_id, body)
        assert response.headers["content-type"] == "application/problem+json", response.text
        return response.status_code, [error["field"] for error in response.json().get("errors") or []]

    assert await refused(tokens.headers("POL01", Role.GUARDIAN, sub="police-guardian")) == (
        403,
        [],
    )  # of the requesting organisation
    assert await refused(tokens.agency("POL01")) == (403, [])  # the agency that uploaded it
    assert await refused(tokens.headers("CONTROLLER", Role.AUDITOR)) == (403, [])
    assert await refused(tokens.agency("RXT02")) == (404, [])  # another agency: as if there were no such request
    assert await refused(guardian(tokens), attachment_id="no-such-attachment") == (404, [])
    assert await refused(guardian(tokens), {"outcome": "verified", "checked": CHECKED}) == (422, ["order"])
    assert await refused(guardian(tokens), VERIFIED | {"order": ORDER | {"covers_information": False}}) == (
        422,
        ["order"],
    )
    assert await refused(guardian(tokens), VERIFIED | {"order": ORDER | {"return_date": "2020-01-06"}}) == (
        422,
        ["order"],
    )  # its date has passed
    assert await refused(guardian(tokens), {"outcome": "verified", "checked": ""}, form["id"]) == (422, ["checked"])
    assert await etag(client, tokens, request["id"]) == unchanged  # nothing was recorded

    assert (
        await verify(client, guardian(tokens), request["id"], upload["id"], REJECTED)
    ).status_code == 201  # a failed check is recorded rejected
    assert (
        await verify(client, guardian(tokens), request["id"], form["id"], FORM_VERIFIED)
    ).status_code == 201  # a form needs no order items
    stale = await verify(client, guardian(tokens) | {"If-Match": unchanged}, request["id"], upload["id"], VERIFIED)
    assert stale.status_code == 412, stale.text


async def test_a_witness_summons_is_verified_with_the_court_to_which_to_produce(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "POL01", type="police")
    body = referred_court_order()
    body["legal_basis"] |= {"provision": "witness_summons", "reference": "Witness summons, Leeds Crown Court T20267001"}
    request = await submitted(client, tokens, body, "POL01")
    upload = await attach(client, tokens, request["id"], "court_order", "POL01")

    missing = await verify(client, guardian(tokens), request["id"], upload["id"], VERIFIED)
    assert missing.status_code == 422 and "produce_to" in missing.json()["detail"], missing.text
    named = await verify(
        client,
        guardian(tokens),
        request["id"],
        upload["id"],
        VERIFIED | {"order": ORDER | {"produce_to": "Leeds Crown Court"}},
    )
    assert named.status_code == 201, named.text
    assert named.json()["verification"]["order"]["produce_to"] == "Leeds Crown Court"


async def test_a_2027_2_replay_lists_exactly_the_requests_whose_verified_evidence_it_weighs(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "POL01", type="police")
    orders = [await submitted(client, tokens, court_order_request(), "RXT01") for _ in range(4)]
    police = [await submitted(client, tokens, police_request(), "POL01") for _ in range(2)]
    plain = await submitted(client, tokens, police_request("dpa_2018_sch2_para5"), "POL01")
    assert {findings(order)["CP6.court_order_verified"] for order in orders} == {"condition"}
    assert "CP6.police_request_form" not in findings(police[0])  # 2028.1 decided them: it weighs no evidence

    verified_order = await attach(client, tokens, orders[0]["id"], "court_order", "RXT01")
    await verified(client, tokens, orders[0]["id"], verified_order["id"])
    await attach(client, tokens, orders[1]["id"], "court_order", "RXT01")  # attached, never verified
    rejected_order = await attach(client, tokens, orders[2]["id"], "court_order", "RXT01")
    await verified(client, tokens, orders[2]["id"], rejected_order["id"], REJECTED)
    dpia = await attach(client, tokens, orders[3]["id"], "dpia", "RXT01")  # evidence, but not of an order
    await verified(client, tokens, orders[3]["id"], dpia["id"], FORM_VERIFIED)
    for request in (police[1], plain):
        form = await attach(client, tokens, request["id"], "police_request_form", "POL01")
        await verified(client, tokens, request["id"], form["id"], FORM_VERIFIED)

    report = await replay(client, tokens, "2027.2")
    listed = {change["request_id"]: change for change in await changes(client, tokens, report["id"])}

    assert set(listed) == {orders[0]["id"], police[0]["id"]}
    assert listed[orders[0]["id"]]["rules"] == [{"rule": "CP6.court_order_verified", "old": "condition", "new": "pass"}]
    assert (listed[orders[0]["id"]]["old_outcome"], listed[orders[0]["id"]]["new_outcome"]) == (
        "approve_with_conditions",
        "approve",
    )
    assert listed[police[0]["id"]]["rules"] == [{"rule": "CP6.police_request_form", "old": None, "new": "condition"}]
    assert report["totals"]["differing"] == 2


async def test_under_2027_2_an_amendment_weighs_the_form_verified_meanwhile(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "POL01", type="police")
    await active_before_upgrade(app, BASELINE, "2027.2")  # replay-only now: an installation that activated it before
    body = police_request() | {
        "recipient": police_request()["recipient"] | {"onward_sharing": True}
    }  # referred: CP4.onward_sharing
    request = await submitted(client, tokens, body, "POL01")
    assert request["decision"]["policy"]["version"] == "2027.2"
    assert findings(request)["CP6.police_request_form"] == "condition"
    assert any(
        condition.startswith("Attach the police data protection request form")
        for condition in request["decision"]["conditions"]
    )
    assert request["status"] == "awaiting_review"

    form = await attach(client, tokens, request["id"], "police_request_form", "POL01")
    unverified = await ask_and_amend(client, tokens, request["id"], body, "POL01", "Form attached.")
    assert (
        findings(unverified)["CP6.police_request_form"] == "condition"
    )  # 2027.2 too counts only what a guardian verified

    await verified(client, tokens, request["id"], form["id"], FORM_VERIFIED)
    amended = await ask_and_amend(client, tokens, request["id"], body, "POL01", "Form verified.")
    assert findings(amended)["CP6.police_request_form"] == "pass"
    assert not any(condition.startswith("Attach the police") for condition in amended["decision"]["conditions"])


async def test_a_submission_under_2027_2_asks_for_the_order_to_be_attached(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await active_before_upgrade(app, BASELINE, "2027.2")  # replay-only now: an installation that activated it before

    request = await submitted(client, tokens, court_order_request(), "RXT01")

    assert request["decision"]["outcome"] == "approve_with_conditions"
    assert findings(request)["CP6.court_order_verified"] == "condition"
    assert "Attaching a copy to the request (kind court_order)" in " ".join(request["decision"]["conditions"])
