"""Incidents with disclosures over HTTP, on both databases: recorded by the controller's people against a disclosure
made, graded under the policy's threshold (a local policy may lower it, never raise it), the 72-hour deadline of a
reportable one, the recall webhook to the recipient and its confirmation, the report to the ICO, closure, and reads."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import yaml
from fastapi import FastAPI
from standardwebhooks import Webhook

from app.models.vocabulary import Role
from app.rules.policy_documents import shipped_path
from app.services.notifications.messages import said
from tests.factories import EPR_ASSET as ASSET
from tests.factories import register_organisation, submit
from tests.rules.baseline import changed
from tests.support import Tokens, console_client, dev_sign_in
from tests.test_webhooks import drain, register_endpoint
from tests.webhook_receiver import Receiver

INCIDENTS = "/v1/incidents"
DESCRIPTION = "The letter for the disclosure went to the previous GP practice, not the one named in the request."
CLOSURE = {
    "outcome": "The practice destroyed the letter the same day and confirmed it; the person was told.",
    "lessons": "Check the practice code against the national directory before posting; added to the checklist.",
}


def inside(tokens: Tokens, role: Role, sub: str | None = None) -> dict[str, str]:
    return tokens.headers("CONTROLLER", role, sub=sub or f"{role}-1")


async def made_disclosure(client: httpx.AsyncClient, tokens: Tokens, org: str = "RXT01") -> str:
    """A disclosure made, as production makes one: a request approved through the API opens a pending disclosure for
    the asset holding its items (app/services/disclosures/), and the asset's owner records it as sent over HTTP."""
    registered = await client.post("/v1/information-assets", json=ASSET, headers=inside(tokens, Role.IG_MANAGER))
    assert registered.status_code in (201, 409), registered.text  # one asset serves every disclosure of a test
    request = await submit(client, tokens, changed({}), org=org)
    assert (request.status_code, request.json()["status"]) == (201, "approved"), request.text
    owner = tokens.headers("CONTROLLER", Role.IAO, sub=ASSET["owner"])
    opened = await client.get(f"/v1/sharing-requests/{request.json()['id']}/disclosures", headers=owner)
    assert opened.status_code == 200, opened.text
    [pending] = opened.json()["items"]
    recorded = await client.post(
        f"/v1/disclosures/{pending['id']}/record",
        json={
            "outcome": "disclosed",
            "items": ["demographics"],
            "channel": "nhsmail",
            "disclosed_at": datetime.now(UTC).isoformat(),
        },
        headers=owner,
    )
    assert (recorded.status_code, recorded.json()["status"]) == (200, "disclosed"), recorded.text
    return str(pending["id"])


def incident(disclosure_id: str, likelihood: int = 3, severity: int = 2, **changes: Any) -> dict[str, Any]:
    aware = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    return {
        "disclosure_id": disclosure_id,
        "kind": "wrong_recipient",
        "description": DESCRIPTION,
        "aware_at": aware,
        "likelihood": likelihood,
        "severity": severity,
    } | changes


async def record(
    client: httpx.AsyncClient, tokens: Tokens, body: dict[str, Any], role: Role = Role.GUARDIAN
) -> dict[str, Any]:
    response = await client.post(INCIDENTS, json=body, headers=inside(tokens, role))
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"{INCIDENTS}/{response.json()['id']}"
    return dict(response.json())


async def audit_actions(client: httpx.AsyncClient, tokens: Tokens, request_id: str) -> list[str]:
    auditor, actions, params = inside(tokens, Role.AUDITOR), [], {"limit": 200}
    while True:
        page = (await client.get("/v1/audit/events", params=params, headers=auditor)).json()
        actions += [event["action"] for event in page["items"] if event["target_id"] == request_id]
        if page["next_cursor"] is None:
            return actions
        params["cursor"] = page["next_cursor"]


async def verify_chain(client: httpx.AsyncClient, tokens: Tokens) -> None:
    verified = await client.get("/v1/audit/verify", headers=inside(tokens, Role.AUDITOR))
    assert (verified.status_code, verified.json()["valid"]) == (200, True), verified.text


async def test_a_reportable_incident_is_reported_then_closed_and_every_act_is_audited(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    disclosure_id = await made_disclosure(client, tokens)
    recorded = await record(client, tokens, incident(disclosure_id), role=Role.SAFEGUARDING_LEAD)
    aware = datetime.fromisoformat(recorded["aware_at"])
    assert (recorded["reportable"], recorded["status"], recorded["overdue"]) == (True, "open", False)
    assert datetime.fromisoformat(recorded["report_by"]) == aware + timedelta(hours=72)  # UK GDPR Article 33(1)
    assert recorded["reported_in_time"] is None
    assert [(told["roles"], told["reason"]) for told in recorded["told"]] == [
        (["siro", "dpo", "guardian"], "recorded"),
        (["recipient"], "recall_requested"),
    ]
    assert recorded["recall"]["recipient"] == "RXT01" and recorded["recall"]["outcome"] is None

    incident_url = f"{INCIDENTS}/{recorded['id']}"
    dpo, siro = inside(tokens, Role.DPO), inside(tokens, Role.SIRO)
    refused = await client.post(f"{incident_url}/closure", json=CLOSURE, headers=dpo)
    assert (refused.status_code, refused.headers["content-type"]) == (409, "application/problem+json"), refused.text
    assert "report to the ICO is not recorded" in refused.json()["detail"]

    future = {"reported_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(), "reference": "DSPT-1"}
    early = await client.post(f"{incident_url}/report", json=future, headers=siro)
    assert (early.status_code, early.json()["errors"][0]["field"]) == (422, "reported_at"), early.text
    report = {"reported_at": datetime.now(UTC).isoformat(), "reference": "DSPT-19283"}
    reported = await client.post(f"{incident_url}/report", json=report, headers=siro)
    assert reported.status_code == 200, reported.text
    assert (reported.json()["report_reference"], reported.json()["reported_in_time"]) == ("DSPT-19283", True)
    assert (await client.post(f"{incident_url}/report", json=report, headers=siro)).status_code == 409

    closed = await client.post(f"{incident_url}/closure", json=CLOSURE, headers=dpo)
    assert closed.status_code == 200, closed.text
    assert (closed.json()["status"], closed.json()["lessons"], closed.json()["closed_by"]) == (
        "closed",
        CLOSURE["lessons"],
        "dpo-1",
    )
    assert (await client.post(f"{incident_url}/closure", json=CLOSURE, headers=dpo)).status_code == 409

    assert await audit_actions(client, tokens, recorded["request_id"]) == [
        "submitted",
        "read",  # the owner's read of the request's disclosures, before recording one
        "disclosure_recorded",
        "incident_recorded",
        "incident_reported",
        "incident_closed",
    ]
    await verify_chain(client, tokens)


async def test_grading_below_the_threshold_has_no_deadline_and_a_regrading_makes_it_reportable(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    disclosure_id = await made_disclosure(client, tokens)
    recorded = await record(client, tokens, incident(disclosure_id, likelihood=2, severity=4))
    assert (recorded["reportable"], recorded["report_by"], recorded["overdue"]) == (False, None, False)
    assert [told["reason"] for told in recorded["told"]] == ["recorded", "recall_requested"]
    incident_url = f"{INCIDENTS}/{recorded['id']}"

    # A guardian records and reads but does not grade; an IG manager does.
    manager, guardian = inside(tokens, Role.IG_MANAGER), inside(tokens, Role.GUARDIAN)
    graded = await client.post(f"{incident_url}/grading", json={"likelihood": 4, "severity": 4}, headers=guardian)
    assert graded.status_code == 403, graded.text
    wrong = await client.post(f"{incident_url}/grading", json={"likelihood": 6, "severity": 2}, headers=manager)
    assert (wrong.status_code, wrong.json()["errors"][0]["field"]) == (422, "likelihood"), wrong.text
    regraded = await client.post(f"{incident_url}/grading", json={"likelihood": 4, "severity": 2}, headers=manager)
    assert regraded.status_code == 200, regraded.text
    assert regraded.json()["reportable"] is True
    assert datetime.fromisoformat(regraded.json()["report_by"]) == datetime.fromisoformat(
        recorded["aware_at"]
    ) + timedelta(hours=72)
    assert [told["reason"] for told in regraded.json()["told"]][-1] == "became_reportable"

    # The lists filter on reportability and an overdue report.
    listing = await client.get(INCIDENTS, params={"reportable": "true"}, headers=inside(tokens, Role.SIRO))
    assert [item["id"] for item in listing.json()["items"]] == [recorded["id"]]
    none_overdue = await client.get(INCIDENTS, params={"overdue": "true"}, headers=inside(tokens, Role.AUDITOR))
    assert none_overdue.json()["items"] == []
    assert "incident_graded" in await audit_actions(client, tokens, recorded["request_id"])
    await verify_chain(client, tokens)


async def test_an_overdue_report_is_listed_and_a_late_one_is_not_in_time(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    disclosure_id = await made_disclosure(client, tokens)
    four_days_ago = (datetime.now(UTC) - timedelta(days=4)).isoformat()
    late = await record(client, tokens, incident(disclosure_id, 5, 3, aware_at=four_days_ago))
    assert late["overdue"] is True
    siro = inside(tokens, Role.SIRO)
    overdue = await client.get(INCIDENTS, params={"overdue": "true", "status": "open"}, headers=siro)
    assert [item["id"] for item in overdue.json()["items"]] == [late["id"]]
    report = {"reported_at": datetime.now(UTC).isoformat(), "reference": "ICO-0001"}
    reported = await client.post(f"{INCIDENTS}/{late['id']}/report", json=report, headers=siro)
    assert (reported.json()["reported_in_time"], reported.json()["overdue"]) == (False, False), reported.text
    assert (await client.get(INCIDENTS, params={"overdue": "true"}, headers=siro)).json()["items"] == []


async def test_recording_is_checked_field_by_field_and_only_the_controllers_people_record(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    disclosure_id = await made_disclosure(client, tokens)
    guardian = inside(tokens, Role.GUARDIAN)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for body, field in (
        (incident("no-such-disclosure"), "disclosure_id"),
        (incident(disclosure_id, aware_at=future), "aware_at"),
        (incident(disclosure_id, kind="misplaced"), "kind"),
        (incident(disclosure_id, description="short"), "description"),
        (incident(disclosure_id, severity=0), "severity"),
    ):
        refused = await client.post(INCIDENTS, json=body, headers=guardian)
        assert (refused.status_code, refused.headers["content-type"]) == (422, "application/problem+json"), body
        assert refused.json()["errors"][0]["field"] == field, refused.text

    # Agencies never record or read incidents; a partner organisation's SIRO is not the controller's, nor is a guardian
    # of a guardian organisation (RXT01 is one in the tests), who sits in the review but not in the controller's IG.
    for headers in (
        tokens.agency("RXT01"),
        tokens.headers("RXT01", Role.SIRO, sub="rxt-siro"),
        tokens.headers("RXT01", Role.GUARDIAN, sub="rxt-guardian"),
    ):
        assert (await client.post(INCIDENTS, json=incident(disclosure_id), headers=headers)).status_code == 403
        assert (await client.get(INCIDENTS, headers=headers)).status_code == 403
    recorded = await record(client, tokens, incident(disclosure_id), role=Role.IAO)
    partner_siro = tokens.headers("RXT01", Role.SIRO, sub="rxt-siro")
    assert (await client.get(f"{INCIDENTS}/{recorded['id']}", headers=partner_siro)).status_code == 403
    assert (await client.get(f"{INCIDENTS}/{recorded['id']}", headers=inside(tokens, Role.IAO))).status_code == 403
    read = await client.get(f"{INCIDENTS}/{recorded['id']}", headers=inside(tokens, Role.DPO))
    assert (read.status_code, read.json()["recorded_by"]) == (200, "iao-1"), read.text
    assert (await client.get(f"{INCIDENTS}/missing", headers=inside(tokens, Role.DPO))).status_code == 404


async def test_the_recipient_reads_and_confirms_the_recall_and_another_agency_is_told_404(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    for code in ("RXT01", "RXT02"):
        await register_organisation(client, tokens, code)
    disclosure_id = await made_disclosure(client, tokens)
    recorded = await record(client, tokens, incident(disclosure_id))
    recall_url, confirm_url = (
        f"{INCIDENTS}/{recorded['id']}/recall",
        f"{INCIDENTS}/{recorded['id']}/recall-confirmation",
    )
    confirmation = {"outcome": "destroyed", "confirmed_at": datetime.now(UTC).isoformat()}

    other = tokens.agency("RXT02")
    assert (await client.get(recall_url, headers=other)).status_code == 404
    assert (await client.post(confirm_url, json=confirmation, headers=other)).status_code == 404
    assert (await client.get(f"{INCIDENTS}/{recorded['id']}", headers=tokens.agency("RXT01"))).status_code == 403
    # Only an agency confirms: the controller's people may not answer for the recipient.
    assert (await client.post(confirm_url, json=confirmation, headers=inside(tokens, Role.SIRO))).status_code == 403

    recipient = tokens.agency("RXT01")
    shown = await client.get(recall_url, headers=recipient)
    assert shown.status_code == 200, shown.text
    assert set(shown.json()) == {
        "incident_id",
        "request_id",
        "recipient",
        "requested_at",
        "outcome",
        "confirmed_at",
        "note",
    }  # never the description, the grades or who recorded it
    confirmed = await client.post(confirm_url, json=confirmation, headers=recipient)
    assert (confirmed.status_code, confirmed.json()["outcome"]) == (200, "destroyed"), confirmed.text
    assert (await client.post(confirm_url, json=confirmation, headers=recipient)).status_code == 409
    read = await client.get(f"{INCIDENTS}/{recorded['id']}", headers=inside(tokens, Role.SIRO))
    assert read.json()["recall"]["outcome"] == "destroyed"
    assert "recall_confirmed" in await audit_actions(client, tokens, recorded["request_id"])
    await verify_chain(client, tokens)


async def test_the_recall_arrives_signed_at_the_recipient_and_the_controller_hears_of_the_incident(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    recipient = await register_endpoint(
        hooks, receiver, tokens.agency("RXT01"), "/recipient", ["sharing_request.recall_requested", "incident.recorded"]
    )
    controller = await register_endpoint(
        hooks, receiver, tokens.admin(), "/controller", ["sharing_request.recall_requested", "incident.recorded"]
    )
    disclosure_id = await made_disclosure(hooks, tokens)
    recorded = await record(hooks, tokens, incident(disclosure_id))
    await drain(hook_app)

    [recall] = receiver.at("/recipient")  # the recipient hears of the recall, never of the incident itself
    Webhook(recipient["secret"]).verify(recall.body, recall.headers)
    assert recall.payload["type"] == "sharing_request.recall_requested"
    assert recall.payload["data"] == {
        "request_id": recorded["request_id"],
        "incident_id": recorded["id"],
        "recipient": "RXT01",
        "action": "return_or_destroy",
        "confirm_at": f"/v1/incidents/{recorded['id']}/recall-confirmation",
        "link": f"/v1/incidents/{recorded['id']}/recall",
    }
    told = {delivery.payload["type"]: delivery for delivery in receiver.at("/controller")}
    assert set(told) == {"sharing_request.recall_requested", "incident.recorded"}
    Webhook(controller["secret"]).verify(told["incident.recorded"].body, told["incident.recorded"].headers)
    data = told["incident.recorded"].payload["data"]
    assert (data["id"], data["reportable"], data["reason"], data["likelihood"]) == (recorded["id"], True, "recorded", 3)
    assert DESCRIPTION not in told["incident.recorded"].body.decode()  # no free text, no personal data


async def upload_policy(
    client: httpx.AsyncClient, tokens: Tokens, version: str, grading: dict[str, Any]
) -> httpx.Response:
    document = yaml.safe_load(shipped_path("2028.1").read_bytes())
    baseline = (await client.get("/v1/incidents/grading", headers=inside(tokens, Role.SIRO))).json()
    scales = {
        scale: [{"name": level["name"], "description": level["description"]} for level in baseline[scale]]
        for scale in ("likelihood", "severity")
    }
    document.update(
        name="northshire-trust",
        version=version,
        derived_from={"name": "uk-caldicott-baseline", "version": "2028.1"},
        incidents=scales | grading,
    )
    return await client.post(
        "/v1/policies",
        content=yaml.safe_dump(document).encode(),
        headers={"Content-Type": "application/yaml"} | tokens.admin(),
    )


async def test_a_local_policy_may_lower_the_threshold_and_never_raise_it(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    shipped = (await client.get("/v1/incidents/grading", headers=inside(tokens, Role.DPO))).json()
    assert (shipped["report_likelihood"], shipped["report_severity"]) == (3, 2)
    assert [level["name"] for level in shipped["likelihood"]][::4] == ["Not occurred", "Occurred"]

    raised = await upload_policy(client, tokens, "2028.1-local.raised", {"report_likelihood": 4, "report_severity": 2})
    assert raised.status_code == 422, raised.text
    assert "incidents.report_likelihood" in raised.text
    lowered = await upload_policy(
        client, tokens, "2028.1-local.lowered", {"report_likelihood": 2, "report_severity": 2}
    )
    assert lowered.status_code == 201, lowered.text

    disclosure_id = await made_disclosure(client, tokens)
    before = await record(client, tokens, incident(disclosure_id, likelihood=2, severity=2))
    assert before["reportable"] is False  # the shipped policy: likely (3) or above is reportable
    activated = await client.post("/v1/policies/northshire-trust/2028.1-local.lowered/activate", headers=tokens.admin())
    assert activated.status_code == 200, activated.text
    after = await record(client, tokens, incident(disclosure_id, likelihood=2, severity=2))
    assert (after["reportable"], after["policy"]) == (True, "northshire-trust 2028.1-local.lowered")
    assert after["report_by"] is not None


async def test_the_console_lists_the_open_incidents_with_their_deadline_for_the_roles_that_read_them(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    four_days_ago = (datetime.now(UTC) - timedelta(days=4)).isoformat()
    late = await record(client, tokens, incident(await made_disclosure(client, tokens), 4, 2, aware_at=four_days_ago))
    quiet = await record(client, tokens, incident(await made_disclosure(client, tokens), 1, 1, kind="lost_in_transit"))
    closed = await client.post(f"{INCIDENTS}/{quiet['id']}/closure", json=CLOSURE, headers=inside(tokens, Role.DPO))
    assert closed.status_code == 200, closed.text
    async with console_client(app) as console:
        await dev_sign_in(console, Role.GUARDIAN)
        page = await console.get("/console/incidents")
        assert page.status_code == 200, page.text
        assert "Wrong recipient" in page.text and "Overdue" in page.text and "4 × 2" in page.text
        assert said(datetime.fromisoformat(late["report_by"])) in page.text
        assert "Lost in transit" not in page.text  # closed: not listed
        assert f'id="incident-{late["id"]}"' in page.text  # where the incident's email links
        assert DESCRIPTION not in page.text
    async with console_client(app) as console:
        await dev_sign_in(console, Role.ADMIN)  # records incidents, does not read them
        assert (await console.get("/console/incidents")).status_code == 403


async def test_the_information_risk_report_counts_incidents_by_grade_and_whether_reported_in_time(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    four_days_ago = (datetime.now(UTC) - timedelta(days=4)).isoformat()
    in_time = await record(client, tokens, incident(await made_disclosure(client, tokens), 3, 4))
    late = await record(client, tokens, incident(await made_disclosure(client, tokens), 5, 2, aware_at=four_days_ago))
    await record(client, tokens, incident(await made_disclosure(client, tokens), 1, 1))  # not reportable
    siro = inside(tokens, Role.SIRO)
    report = {"reported_at": datetime.now(UTC).isoformat(), "reference": "DSPT-7"}
    assert (await client.post(f"{INCIDENTS}/{in_time['id']}/report", json=report, headers=siro)).status_code == 200
    assert late["overdue"] is True  # unreported, past its 72 hours
    found = await client.get("/v1/reports/information-risk", headers=siro)
    assert found.status_code == 200, found.text
    expected = {
        "incidents": 3,
        "incidents_reportable": 2,
        "incidents_serious": 1,
        "incidents_reported_in_time": 1,
        "incidents_not_reported_in_time": 1,
    }
    totals = found.json()["totals"]
    assert {measure: totals[measure] for measure in expected} == expected
    [epr] = [row for row in found.json()["assets"] if row["code"] == "EPR"]
    [recipient] = [row for row in found.json()["organisations"] if row["code"] == "RXT01"]
    for counts in (epr["counts"], recipient["counts"]):
        assert {measure: counts[measure] for measure in expected} == expected
