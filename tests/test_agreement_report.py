"""GET /v1/reports/agreements: every agreement by its state today,
with the requests decided under it in the twelve months to today."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlmodel import col, update

from app.models.base import utcnow
from app.models.sharing_request import Decision
from app.models.vocabulary import Role
from app.services.agreements.reports import twelve_months_to
from app.services.reports.decision_log import day_bound
from app.services.sharing_requests.facts import today_in_london
from tests.factories import REFERRED, patch_current, register_agreement, register_organisation, submit
from tests.rules.baseline import changed
from tests.support import Tokens

STATES = ["not_yet_in_force", "active", "review_due", "expiring", "expired", "suspended"]
RATIONALE = "Shared care plan agreed with the recipient; onward sharing limited to the named team."
GROUNDS = "The recipient now stores the record in the UK, which answers the reason for the refusal."


def guardian(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")


def day(today: date, days: int) -> str:
    return (today + timedelta(days=days)).isoformat()


async def report(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/reports/agreements", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def decided_under(
    client: httpx.AsyncClient, tokens: Tokens, code: str, changes: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A request citing the agreement, as the rules decided it."""
    response = await submit(client, tokens, changed({"sharing_agreement": code} | (changes or {})))
    assert response.status_code == 201, response.text
    return response.json()


async def decided_at(app: FastAPI, request_id: str, moment: datetime) -> None:
    """Move the decisions of a request back in time, as if it had been decided then."""
    async with app.state.wiring.engine.begin() as connection:
        # Through the column's type, so the time is stored as the service stores it on either database.
        await connection.execute(
            update(Decision).where(col(Decision.request_id) == request_id).values(decided_at=moment)
        )


async def test_each_agreement_is_listed_in_its_state_with_twelve_months_of_requests(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    admin, today = tokens.admin(), today_in_london(utcnow())
    await register_organisation(client, tokens, "RXT01")
    # Every agreement is in force while requests are decided under it; then each is moved into the state it is to show.
    states = {
        "ISA-A-ACTIVE": ("active", {"review_date": day(today, 31), "valid_until": day(today, 31)}),
        "ISA-B-FUTURE": ("not_yet_in_force", {"valid_from": day(today, 1), "valid_until": day(today, 20)}),
        "ISA-C-REVIEW": ("review_due", {"review_date": day(today, 30)}),
        "ISA-D-REVIEW-PAST": ("review_due", {"valid_from": day(today, -100), "review_date": day(today, -5)}),
        "ISA-E-EXPIRING": ("expiring", {"valid_until": day(today, 30)}),
        "ISA-F-ENDS-TODAY": ("expiring", {"valid_until": day(today, 0), "review_date": day(today, -1)}),
        "ISA-G-EXPIRED": ("expired", {"valid_until": day(today, -1)}),
        "ISA-H-SUSPENDED": ("suspended", {"status": "suspended"}),
        "ISA-I-NO-REVIEW": ("active", {}),
    }
    for code in states:
        await register_agreement(
            client,
            tokens,
            code=code,
            title=f"Agreement {code}",
            parties=["RXT01"],
            owner="RXT01",
            valid_from="2020-01-01",
        )

    start = day_bound(twelve_months_to(today), end=False)
    active = [await decided_under(client, tokens, "ISA-A-ACTIVE") for _ in range(3)]
    await decided_at(app, active[1]["id"], start)  # the first moment counted
    await decided_at(app, active[2]["id"], start - timedelta(microseconds=1))  # the last moment not counted
    expired = [await decided_under(client, tokens, "ISA-G-EXPIRED") for _ in range(2)]
    await decided_at(app, expired[0]["id"], datetime.now(UTC) - timedelta(days=400))
    refused = await decided_under(client, tokens, "ISA-H-SUSPENDED", {"recipient.storage_region": "other"})
    referred = await decided_under(client, tokens, "ISA-C-REVIEW", REFERRED)
    await decided_under(client, tokens, "ISA-NOT-REGISTERED")
    assert (active[0]["status"], refused["status"], referred["status"]) == ("approved", "refused", "awaiting_review")
    # Refused, then approved on reconsideration: two decisions, and one request decided.
    asked = await client.post(
        f"/v1/sharing-requests/{refused['id']}/reconsideration",
        json={"grounds": GROUNDS},
        headers=tokens.agency("RXT01"),
    )
    assert asked.status_code == 201, asked.text
    assert (
        await client.post(f"/v1/sharing-requests/{refused['id']}/claim", headers=guardian(tokens))
    ).status_code == 200
    overturned = {"outcome": "overturned", "rationale": RATIONALE, "decision": {"outcome": "approve"}}
    decided = await client.post(
        f"/v1/sharing-requests/{refused['id']}/reconsideration/decision", json=overturned, headers=guardian(tokens)
    )
    assert (decided.status_code, decided.json()["decision"]["outcome"]) == (200, "approve"), decided.text

    for code, (_, changes) in states.items():
        if changes:
            response = await patch_current(client, f"/v1/sharing-agreements/{code}", json=changes, headers=admin)
            assert response.status_code == 200, response.text

    first = await report(client, guardian(tokens))
    expected_counts = {"ISA-A-ACTIVE": 2, "ISA-G-EXPIRED": 1, "ISA-H-SUSPENDED": 1}  # the referral is not decided yet
    rows = [(row["code"], row["state"], row["requests_decided"]) for row in first["items"]]
    ordered = sorted(states, key=lambda code: (STATES.index(states[code][0]), code))
    assert rows == [(code, states[code][0], expected_counts.get(code, 0)) for code in ordered]
    assert (first["today"], first["counted_from"], first["next_cursor"]) == (
        today.isoformat(),
        twelve_months_to(today).isoformat(),
        None,
    )
    assert first["states"] == {
        "not_yet_in_force": 1,
        "active": 2,
        "review_due": 2,
        "expiring": 2,
        "expired": 1,
        "suspended": 1,
    }
    review = next(row for row in first["items"] if row["code"] == "ISA-C-REVIEW")
    assert review == {
        "code": "ISA-C-REVIEW",
        "title": "Agreement ISA-C-REVIEW",
        "state": "review_due",
        "owner": "RXT01",
        "parties": ["RXT01"],
        "valid_from": "2020-01-01",
        "valid_until": "2099-12-31",
        "review_date": day(today, 30),
        "requests_decided": 0,
    }

    # A guardian decides the referral: one request decided, though it has two decisions.
    assert (
        await client.post(f"/v1/sharing-requests/{referred['id']}/claim", headers=guardian(tokens))
    ).status_code == 200
    reviewed = await client.post(
        f"/v1/sharing-requests/{referred['id']}/review",
        json={"outcome": "approve", "rationale": RATIONALE},
        headers=guardian(tokens),
    )
    assert reviewed.status_code == 200, reviewed.text
    again = await report(client, tokens.headers("CONTROLLER", Role.AUDITOR), state="review_due")
    assert [(row["code"], row["requests_decided"]) for row in again["items"]] == [
        ("ISA-C-REVIEW", 1),
        ("ISA-D-REVIEW-PAST", 0),
    ]
    assert again["states"] == first["states"]


async def test_the_report_comes_in_pages_and_filters_by_state(client: httpx.AsyncClient, tokens: Tokens) -> None:
    today, headers = today_in_london(utcnow()), guardian(tokens)
    for number in range(5):
        await register_agreement(
            client, tokens, code=f"ISA-{number}", valid_until=day(today, 10 if number % 2 else 400)
        )
    whole = [row["code"] for row in (await report(client, headers))["items"]]
    assert whole == ["ISA-0", "ISA-2", "ISA-4", "ISA-1", "ISA-3"]  # active first, then expiring
    seen, cursor = [], None
    while True:
        page = await report(client, headers, limit=2, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= 2 and page["states"]["active"] == 3 and page["states"]["expiring"] == 2
        seen += [row["code"] for row in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == whole
    assert [row["code"] for row in (await report(client, headers, state="expiring"))["items"]] == ["ISA-1", "ISA-3"]
    assert (await report(client, headers, state="suspended"))["items"] == []
    for params, field in (({"state": "lapsed"}, "state"), ({"limit": 201}, "limit"), ({"cursor": "forged"}, "cursor")):
        response = await client.get("/v1/reports/agreements", params=params, headers=headers)
        assert response.status_code == 422 and [error["field"] for error in response.json()["errors"]] == [field], (
            response.text
        )


async def test_only_guardians_and_auditors_run_it_and_every_run_is_audited(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_agreement(client, tokens)
    for headers in (tokens.agency("RXT01"), tokens.admin(), tokens.headers("RXT01", Role.AGENCY, Role.ADMIN)):
        assert (await client.get("/v1/reports/agreements", headers=headers)).status_code == 403
    assert (await client.get("/v1/reports/agreements")).status_code == 401
    auditor = tokens.headers("CONTROLLER", Role.AUDITOR, sub="auditor-1")
    await report(client, guardian(tokens))
    await report(client, auditor, state="expired")
    trail = await client.get("/v1/audit/events", params={"action": "agreements_reported"}, headers=auditor)
    assert trail.status_code == 200, trail.text
    assert [
        (row["actor_sub"], row["target_type"], row["target_id"], row["outcome"]) for row in trail.json()["items"]
    ] == [
        ("guardian-1", "report", "agreements", "1 agreements"),
        ("auditor-1", "report", "agreements", "0 agreements"),
    ]
