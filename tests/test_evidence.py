"""Evidence in the rules over HTTP (issue 15): policy 2027.2 weighs the attachments on a request, at amendment and in a replay."""

from typing import Any

import httpx

from tests.factories import register_organisation, submit
from tests.rules.test_policy_2027_2 import court_order_request, police_request
from tests.support import Tokens
from tests.test_policies import BASELINE, activate, changes, replay
from tests.test_review import act, guardian

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


async def attach(client: httpx.AsyncClient, tokens: Tokens, request_id: str, kind: str, org: str) -> dict[str, Any]:
    """Upload a small PDF of `kind` to a request as its requesting agency."""
    response = await client.post(
        f"/v1/sharing-requests/{request_id}/attachments",
        data={"kind": kind},
        files={"file": (f"{kind}.pdf", PDF, "application/pdf")},
        headers=tokens.agency(org),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def submitted(client: httpx.AsyncClient, tokens: Tokens, body: dict[str, Any], org: str) -> dict[str, Any]:
    response = await submit(client, tokens, body, org=org)
    assert response.status_code == 201, response.text
    return response.json()


def findings(request: dict[str, Any]) -> dict[str, str]:
    return {finding["rule"]: finding["result"] for finding in request["decision"]["findings"]}


async def test_a_2027_2_replay_lists_exactly_the_requests_whose_evidence_it_weighs(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "POL01", type="police")
    orders = [await submitted(client, tokens, court_order_request(), "RXT01") for _ in range(4)]
    police = [await submitted(client, tokens, police_request(), "POL01") for _ in range(2)]
    plain = await submitted(client, tokens, police_request("dpa_2018_sch2_para5"), "POL01")
    assert {findings(order)["CP6.court_order_verified"] for order in orders} == {"condition"}
    assert "CP6.police_request_form" not in findings(police[0])  # 2027.1 decided them

    await attach(client, tokens, orders[0]["id"], "court_order", "RXT01")
    await attach(client, tokens, orders[2]["id"], "court_order", "RXT01")
    await attach(client, tokens, orders[3]["id"], "dpia", "RXT01")  # evidence, but not of an order
    await attach(client, tokens, police[1]["id"], "police_request_form", "POL01")
    await attach(client, tokens, plain["id"], "police_request_form", "POL01")

    report = await replay(client, tokens, "2027.2")
    listed = {change["request_id"]: change for change in await changes(client, tokens, report["id"])}

    assert set(listed) == {orders[0]["id"], orders[2]["id"], police[0]["id"]}
    for order in (orders[0], orders[2]):
        assert listed[order["id"]]["rules"] == [{"rule": "CP6.court_order_verified", "old": "condition", "new": "pass"}]
        assert (listed[order["id"]]["old_outcome"], listed[order["id"]]["new_outcome"]) == ("approve_with_conditions", "approve")
    assert listed[police[0]["id"]]["rules"] == [{"rule": "CP6.police_request_form", "old": None, "new": "condition"}]
    assert report["totals"]["differing"] == 3

    same = await replay(client, tokens, "2027.1")
    assert await changes(client, tokens, same["id"]) == []  # 2027.1 weighs no evidence


async def test_under_2027_2_an_amendment_weighs_the_form_attached_meanwhile(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "POL01", type="police")
    await activate(client, tokens, BASELINE, "2027.2")
    body = police_request() | {"recipient": police_request()["recipient"] | {"onward_sharing": True}}  # referred: CP4.onward_sharing
    request = await submitted(client, tokens, body, "POL01")
    assert request["decision"]["policy"]["version"] == "2027.2"
    assert findings(request)["CP6.police_request_form"] == "condition"
    assert any(condition.startswith("Attach the police data protection request form") for condition in request["decision"]["conditions"])
    assert request["status"] == "awaiting_review"

    assert (await act(client, request["id"], "claim", guardian(tokens))).status_code == 200
    asked = await act(client, request["id"], "review", guardian(tokens), {"outcome": "request_information", "rationale": "Attach the signed request form."})
    assert asked.status_code == 200, asked.text
    await attach(client, tokens, request["id"], "police_request_form", "POL01")
    amended = await act(client, request["id"], "amendments", tokens.agency("POL01"), {"request": body, "note": "Form attached."})

    assert amended.status_code == 200, amended.text
    assert findings(amended.json())["CP6.police_request_form"] == "pass"
    assert not any(condition.startswith("Attach the police") for condition in amended.json()["decision"]["conditions"])


async def test_a_submission_under_2027_2_asks_for_the_order_to_be_attached(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await activate(client, tokens, BASELINE, "2027.2")

    request = await submitted(client, tokens, court_order_request(), "RXT01")

    assert request["decision"]["outcome"] == "approve_with_conditions"
    assert findings(request)["CP6.court_order_verified"] == "condition"
    assert "Attaching a copy to the request (kind court_order)" in " ".join(request["decision"]["conditions"])
