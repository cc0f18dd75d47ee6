"""The Caldicott decision log (JSON and CSV) and the subject-disclosure report, over HTTP."""

import csv
import io
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.models.vocabulary import Role
from app.services.reports.decision_log import spreadsheet_safe
from tests.factories import register_organisation, submit
from tests.rules.baseline import baseline_request, changed
from tests.support import Tokens

DESCRIPTION = baseline_request()["purpose"]["description"]
TRAINING_CONDITION = (
    "Make sure everyone who will see the information has completed current data protection "
    "training before they are given access."
)


def guardian(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")


def auditor(tokens: Tokens) -> dict[str, str]:
    return tokens.headers(
        "CONTROLLER", Role.AUDITOR, sub="auditor-1"
    )  # the information governance team works for the controller


def london_day(offset: int) -> str:
    return (datetime.now(ZoneInfo("Europe/London")) + timedelta(days=offset)).date().isoformat()


async def decision_log(client: httpx.AsyncClient, tokens: Tokens, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/reports/decision-log", params=params, headers=guardian(tokens))
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def four_decisions(client: httpx.AsyncClient, tokens: Tokens) -> list[dict[str, Any]]:
    """One request of each outcome, from two agencies, in this order."""
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "RXT02")
    bodies = [
        ("RXT01", baseline_request()),
        ("RXT01", changed({"recipient.staff_trained": False})),
        ("RXT02", changed({"recipient.onward_sharing": True, "urgency": "urgent"})),
        ("RXT02", changed({"recipient.storage_region": "other"})),
    ]
    created = []
    for org, body in bodies:
        response = await submit(client, tokens, body, org=org)
        assert response.status_code == 201, response.text
        created.append(response.json())
    return created


def row(request: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The log row expected for a request decided once by the rules."""
    return {
        "decided_at": request["decision"]["decided_at"],
        "request_id": request["id"],
        "version": 1,
        "requester": request["requester"],
        "purpose": request["purpose"],
        "purpose_description": DESCRIPTION,
        "urgency": request["urgency"],
        "decided_by": "rules",
        "conditions": [],
        "rationale": None,
    } | fields


async def test_the_decision_log_has_exactly_one_row_per_decision(client: httpx.AsyncClient, tokens: Tokens) -> None:
    approved, conditional, referred, refused = await four_decisions(client, tokens)

    assert await decision_log(client, tokens) == [
        row(approved, outcome="approve", principles_engaged=[]),
        row(
            conditional,
            outcome="approve_with_conditions",
            principles_engaged=["CP5.staff_trained (condition)"],
            conditions=[TRAINING_CONDITION],
        ),
        row(referred, outcome="refer", principles_engaged=["CP4.onward_sharing (refer)"], urgency="urgent"),
        row(refused, outcome="refuse", principles_engaged=["CP6.international_transfer (refuse)"]),
    ]


async def test_the_period_takes_dates_and_date_times_inclusively(client: httpx.AsyncClient, tokens: Tokens) -> None:
    created = await four_decisions(client, tokens)
    ids = [request["id"] for request in created]

    def rows(log: list[dict[str, Any]]) -> list[str]:
        return [entry["request_id"] for entry in log]

    assert rows(await decision_log(client, tokens, **{"from": london_day(-1), "to": london_day(1)})) == ids
    assert rows(await decision_log(client, tokens, to=london_day(-1))) == []
    assert rows(await decision_log(client, tokens, **{"from": london_day(1)})) == []
    second, third = created[1]["decision"]["decided_at"], created[2]["decision"]["decided_at"]
    assert rows(await decision_log(client, tokens, **{"from": second})) == ids[1:]
    assert rows(await decision_log(client, tokens, to=third)) == ids[:3]
    assert rows(await decision_log(client, tokens, **{"from": second, "to": third})) == ids[1:3]
    assert rows(await decision_log(client, tokens, **{"from": second, "to": second})) == ids[1:2]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-11-26T25:00:00Z"}, "to"),
        ({"to": "2026-11-26T09:00:00"}, "to"),
        ({"from": "2026-11-26", "to": "2026-11-25"}, "to"),
        ({"format": "xlsx"}, "format"),
    ],
)
async def test_bad_report_parameters_are_422_naming_the_field(
    client: httpx.AsyncClient, tokens: Tokens, params: dict[str, str], field: str
) -> None:
    response = await client.get("/v1/reports/decision-log", params=params, headers=guardian(tokens))
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_the_csv_opens_cleanly_and_neutralises_formulas(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    formula = '=HYPERLINK("http://evil.example/x","Open the referral")'
    injected = (await submit(client, tokens, changed({"purpose.description": formula}))).json()
    conditional = (
        await submit(client, tokens, changed({"recipient.staff_trained": False, "recipient.onward_sharing": True}))
    ).json()

    response = await client.get("/v1/reports/decision-log", params={"format": "csv"}, headers=auditor(tokens))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="decision-log.csv"'
    assert response.content.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in response.content
    header, *rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert header == [
        "decided_at",
        "request_id",
        "version",
        "requester",
        "purpose",
        "purpose_description",
        "urgency",
        "outcome",
        "decided_by",
        "principles_engaged",
        "conditions",
        "rationale",
    ]
    cells = [dict(zip(header, values, strict=True)) for values in rows]
    assert [cell["request_id"] for cell in cells] == [injected["id"], conditional["id"]]
    assert cells[0]["purpose_description"] == "'" + formula
    assert cells[1]["purpose_description"] == DESCRIPTION
    assert cells[1]["principles_engaged"] == "CP4.onward_sharing (refer); CP5.staff_trained (condition)"
    assert (cells[1]["outcome"], cells[1]["decided_by"], cells[1]["rationale"], cells[1]["version"]) == (
        "refer",
        "rules",
        "",
        "1",
    )
    assert cells[1]["decided_at"] == conditional["decision"]["decided_at"]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_start_is_neutralised(start: str) -> None:
    assert spreadsheet_safe(f"{start}SUM(A1:A9)") == f"'{start}SUM(A1:A9)"
    assert spreadsheet_safe(f"A1 {start} 2") == f"A1 {start} 2"


async def test_only_guardians_and_auditors_run_reports(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    for headers in (tokens.agency("RXT01"), tokens.admin()):
        assert (await client.get("/v1/reports/decision-log", headers=headers)).status_code == 403
        assert (
            await client.post("/v1/reports/subject-disclosures", json={"identifier": "9990000018"}, headers=headers)
        ).status_code == 403
    assert (await client.get("/v1/reports/decision-log")).status_code == 401
    for headers in (guardian(tokens), auditor(tokens)):
        assert (await client.get("/v1/reports/decision-log", headers=headers)).status_code == 200
        assert (
            await client.post("/v1/reports/subject-disclosures", json={"identifier": "9990000018"}, headers=headers)
        ).status_code == 200


async def disclosures(client: httpx.AsyncClient, tokens: Tokens, identifier: str) -> httpx.Response:
    response = await client.post(
        "/v1/reports/subject-disclosures", json={"identifier": identifier}, headers=guardian(tokens)
    )
    assert response.status_code == 200, response.text
    return response


def disclosure(request: dict[str, Any]) -> dict[str, Any]:
    return {
        "request_id": request["id"],
        "requester": request["requester"],
        "purpose": request["purpose"],
        "urgency": request["urgency"],
        "status": request["status"],
        "outcome": request["decision"]["outcome"],
        "created_at": request["created_at"],
        "decided_at": request["decision"]["decided_at"],
        "disclosures": [],  # no registered asset holds its items: tests/test_disclosures.py has those that do
    }


async def test_subject_disclosures_list_every_request_that_named_the_person(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "RXT02")

    async def named(org: str, identifiers: list[str], **changes: Any) -> dict[str, Any]:
        body = changed({"subjects.count": max(1, len(identifiers)), "subjects.identifiers": identifiers, **changes})
        response = await submit(client, tokens, body, org=org)
        assert response.status_code == 201, response.text
        return response.json()

    both = await named("RXT01", ["9990000018", "9990000026"])
    second_only = await named("RXT02", ["9990000026"], **{"recipient.storage_region": "other"})
    await named("RXT01", [])

    first = await disclosures(client, tokens, "9990000018")
    assert first.json() == {"matches": 1, "items": [disclosure(both)], "next_cursor": None}
    second = await disclosures(client, tokens, " 999 000 0026 ")
    assert second.json() == {"matches": 2, "items": [disclosure(both), disclosure(second_only)], "next_cursor": None}
    assert second.json()["items"][1]["outcome"] == "refuse"
    assert (await disclosures(client, tokens, "9990000034")).json() == {"matches": 0, "items": [], "next_cursor": None}
    for response in (first, second):
        assert "9990000018" not in response.text and "0000026" not in response.text

    async with app.state.wiring.engine.connect() as connection:
        trail = (
            await connection.execute(
                text("SELECT actor_sub, action, target_type, target_id, outcome FROM audit_events ORDER BY seq")
            )
        ).all()
    searches = [tuple(entry) for entry in trail if entry[1] == "subject_disclosures_searched"]
    assert searches == [
        ("guardian-1", "subject_disclosures_searched", "report", "subject_disclosures", "1 requests"),
        ("guardian-1", "subject_disclosures_searched", "report", "subject_disclosures", "2 requests"),
        ("guardian-1", "subject_disclosures_searched", "report", "subject_disclosures", "0 requests"),
    ]
    assert "9990000018" not in repr(trail) and "0000026" not in repr(trail) and "0000034" not in repr(trail)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"identifier": ""},
        {"identifier": "   "},
        {"identifier": 9990000018},
        {"identifier": "x" * 65},
        {"identifier": "9990000018", "name": "Jo"},
    ],
)
async def test_a_bad_subject_query_is_422_naming_the_field(
    client: httpx.AsyncClient, tokens: Tokens, body: dict[str, Any]
) -> None:
    response = await client.post("/v1/reports/subject-disclosures", json=body, headers=guardian(tokens))
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == ["name" if "name" in body else "identifier"]
    assert "9990000018" not in response.text


async def test_running_the_decision_log_is_audited(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await four_decisions(client, tokens)
    await decision_log(client, tokens)
    assert (
        await client.get(
            "/v1/reports/decision-log", params={"format": "csv", "to": london_day(-1)}, headers=auditor(tokens)
        )
    ).status_code == 200

    events = (
        await client.get("/v1/audit/events", params={"action": "decision_log_exported"}, headers=auditor(tokens))
    ).json()["items"]
    assert [
        (event["actor_sub"], event["actor_roles"], event["target_type"], event["target_id"], event["outcome"])
        for event in events
    ] == [
        ("guardian-1", ["guardian"], "report", "decision_log", "4 decisions"),
        ("auditor-1", ["auditor"], "report", "decision_log", "0 decisions"),
    ]


async def test_a_guardian_decision_is_its_own_row_and_the_review_is_audited(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    referred = (await submit(client, tokens, changed({"recipient.onward_sharing": True}))).json()
    request_id = referred["id"]
    assert (await client.post(f"/v1/sharing-requests/{request_id}/claim", headers=guardian(tokens))).status_code == 200
    rationale = "=Onward sharing is limited to the named team under the care plan."
    review = {
        "outcome": "approve_with_conditions",
        "rationale": rationale,
        "conditions": ["Delete after the case closes"],
    }
    decided = await client.post(f"/v1/sharing-requests/{request_id}/review", json=review, headers=guardian(tokens))
    assert decided.status_code == 200, decided.text
    assert (await client.get(f"/v1/sharing-requests/{request_id}/history", headers=guardian(tokens))).status_code == 200

    rows = [entry for entry in await decision_log(client, tokens) if entry["request_id"] == request_id]
    assert [(entry["outcome"], entry["decided_by"], entry["conditions"], entry["rationale"]) for entry in rows] == [
        ("refer", "rules", [], None),
        ("approve_with_conditions", "guardian-1", ["Delete after the case closes"], rationale),
    ]
    assert rows[1]["decided_at"] == decided.json()["decided_at"]
    csv_text = (
        await client.get("/v1/reports/decision-log", params={"format": "csv"}, headers=guardian(tokens))
    ).content.decode("utf-8-sig")
    (guardian_row,) = [values for values in csv.reader(io.StringIO(csv_text)) if values[8] == "guardian-1"]
    assert guardian_row[11] == "'" + rationale

    trail = (await client.get("/v1/audit/events", params={"request_id": request_id}, headers=auditor(tokens))).json()[
        "items"
    ]
    assert [(event["action"], event["actor_sub"], event["outcome"]) for event in trail] == [
        ("submitted", "user-rxt01", "awaiting_review, decision refer"),
        ("claimed", "guardian-1", "in_review"),
        ("reviewed", "guardian-1", "approved_with_conditions, decision approve_with_conditions"),
        ("history_read", "guardian-1", "read"),
    ]
    assert (await client.get("/v1/audit/verify", headers=auditor(tokens))).json()["valid"] is True
