"""The SIRO's information-risk report (GET /v1/reports/information-risk) over HTTP, on both databases: each count
moves with the case it counts, the period bounds it, the CSV is the same table, and only the controller's SIRO, DPO and
auditors may run it, audited."""

import csv
import io
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete
from sqlmodel import col

from app.models.base import utcnow
from app.models.disclosure import Disclosure
from app.models.information_risk import RiskCounts
from app.models.vocabulary import DisclosureChannel, DisclosureStatus, Role
from tests.factories import (
    EMERGENCY,
    EPR_ASSET,
    PHARMACY_ASSET,
    REFERRED,
    register_agreement,
    register_organisation,
    submit,
)
from tests.rules.baseline import changed, item
from tests.support import Tokens
from tests.test_review import set_columns

REPORT = "/v1/reports/information-risk"
RATIONALE = "Weighed the risk of sharing against the duty of confidence; the recipient's safeguards answer it."
GROUNDS = "The recipient now stores the record in the UK, which answers the reason given for the refusal."
REFUSED = {"recipient.storage_region": "other"}  # the rules refuse it: a recipient outside the UK regime
# More people than the bulk threshold (100), approved by the rules: the items are not identifiable.
PSEUDONYMISED_BULK = {
    "subjects.count": 150,
    "data_items": [item("demographics", "pseudonymised"), item("diagnoses", "pseudonymised")],
}
ANONYMISED_BULK = {
    "subjects.count": 150,
    "data_items": [item("demographics", "anonymised"), item("diagnoses", "anonymised")],
}
PAST = timedelta(hours=-1)  # a due time an hour ago: overdue now


def inside(tokens: Tokens, role: Role, number: int = 1) -> dict[str, str]:
    return tokens.headers("CONTROLLER", role, sub=f"{role}-{number}")


def london_day(offset: int) -> str:
    return (datetime.now(ZoneInfo("Europe/London")) + timedelta(days=offset)).date().isoformat()


async def report(client: httpx.AsyncClient, tokens: Tokens, **params: str) -> dict[str, Any]:
    response = await client.get(REPORT, params=params, headers=inside(tokens, Role.SIRO))
    assert response.status_code == 200, response.text
    return dict(response.json())


def flat(found: dict[str, Any]) -> dict[str, int]:
    """Every count of a report as `row.measure` (row `total`, an asset's code or an organisation's), nulls left out."""
    rows = [("total", found["totals"])]
    rows += [(row["code"], row["counts"]) for row in found["assets"] + found["organisations"]]
    return {f"{row}.{measure}": count for row, counts in rows for measure, count in counts.items() if count is not None}


def everywhere(measure: str, *rows: str, count: int = 1) -> dict[str, int]:
    """`count` of `measure` in the totals and on each of these rows."""
    return {f"{row}.{measure}": count for row in ("total", *rows)}


class Watch:
    """The report as last read; `moved` reads it again and checks exactly these counts changed, by these amounts."""

    def __init__(self, client: httpx.AsyncClient, tokens: Tokens, without_disclosures: FastAPI | None = None):
        self.client, self.tokens, self.last = client, tokens, {}
        # A test that counts no disclosures: those its approvals open (tests/test_disclosures.py) are removed first.
        self.without_disclosures = without_disclosures

    async def moved(self, **changes: dict[str, int]) -> dict[str, Any]:
        if self.without_disclosures is not None:
            async with self.without_disclosures.state.wiring.engine.begin() as connection:
                await connection.execute(delete(Disclosure))
        now = await report(self.client, self.tokens)
        counts = flat(now)
        keys = set(counts) | set(self.last)
        difference = {key: counts.get(key, 0) - self.last.get(key, 0) for key in keys}
        expected = {key: delta for part in changes.values() for key, delta in part.items()}
        assert {key: delta for key, delta in difference.items() if delta} == expected
        self.last = counts
        return now


async def disclosure(
    app: FastAPI,
    request_id: str,
    status: DisclosureStatus,
    *,
    asset: str = "EPR",
    recipient: str = "RXT01",
    due: timedelta = timedelta(days=5),
    opened: datetime | None = None,
    recorded: datetime | None = None,
) -> None:
    """A disclosure of an approved request as its IAO's team leaves it, written as the disclosure service writes it
    (app/services/disclosures/), in a state and at times the API reaches only by waiting (opened weeks ago, overdue,
    recorded at a period's edge). The test above walks the API's own way once."""
    opened = opened or utcnow()
    done = status is not DisclosureStatus.PENDING
    row = Disclosure(
        request_id=request_id,
        asset_code=asset,
        owner="iao-1",
        recipient_org=recipient,
        status=status,
        opened_at=opened,
        due_at=opened + due,
        items=["demographics"] if status is DisclosureStatus.DISCLOSED else None,
        channel=DisclosureChannel.MESH if status is DisclosureStatus.DISCLOSED else None,
        disclosed_at=(recorded or opened) if status is DisclosureStatus.DISCLOSED else None,
        reason="Recorded by the test"
        if status in (DisclosureStatus.NOT_DISCLOSED, DisclosureStatus.CANCELLED)
        else None,
        recorded_by="iao-1" if done else None,
        recorded_at=(recorded or opened) if done else None,
    )
    async with app.state.wiring.sessionmaker() as session:
        session.add(row)
        await session.commit()


async def submitted(
    app: FastAPI, client: httpx.AsyncClient, tokens: Tokens, changes: dict[str, Any], status: str, org: str = "RXT01"
) -> str:
    response = await submit(client, tokens, changed(changes), org=org)
    assert (response.status_code, response.json()["status"]) == (201, status), response.text
    # An approval opens a pending disclosure per asset holding its items (tests/test_disclosures.py walks that); the
    # counts here move with the rows `disclosure` writes, so each request starts with none.
    async with app.state.wiring.engine.begin() as connection:
        await connection.execute(delete(Disclosure).where(col(Disclosure.request_id) == response.json()["id"]))
    return str(response.json()["id"])


async def act(
    client: httpx.AsyncClient, request_id: str, action: str, headers: dict[str, str], body: dict[str, Any] | None = None
) -> None:
    response = await client.post(f"/v1/sharing-requests/{request_id}/{action}", json=body, headers=headers)
    assert response.status_code in (200, 201), response.text


async def decided_by_guardian(
    client: httpx.AsyncClient, tokens: Tokens, request_id: str, outcome: str, number: int = 1
) -> None:
    guardian = inside(tokens, Role.GUARDIAN, number)
    await act(client, request_id, "claim", guardian)
    await act(client, request_id, "review", guardian, {"outcome": outcome, "rationale": RATIONALE})


async def overturned_to_approval(client: httpx.AsyncClient, tokens: Tokens, request_id: str) -> None:
    """The agency asks for the refusal to be reconsidered, and a second guardian approves instead."""
    await act(client, request_id, "reconsideration", tokens.agency("RXT01"), {"grounds": GROUNDS})
    guardian = inside(tokens, Role.GUARDIAN, 2)
    await act(client, request_id, "claim", guardian)
    answer = {"outcome": "overturned", "rationale": RATIONALE, "decision": {"outcome": "approve"}}
    await act(client, request_id, "reconsideration/decision", guardian, answer)


@pytest.fixture
async def registers(client: httpx.AsyncClient, tokens: Tokens) -> None:
    """Two requesting organisations, and the assets holding the baseline request's items (EPR) and medications."""
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "LA-NSH", type="local_authority")
    for asset in (EPR_ASSET, PHARMACY_ASSET):
        created = await client.post("/v1/information-assets", json=asset, headers=tokens.admin())
        assert created.status_code == 201, created.text


async def test_disclosures_count_by_status_asset_and_recipient(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, registers: None
) -> None:
    watch = Watch(client, tokens)
    empty = await watch.moved()
    assert (empty["assets"], empty["organisations"]) == ([], [])
    assert set(empty["totals"].values()) == {0}

    # An approval with nothing risky about it counts nothing; its disclosures count by status, asset and recipient.
    plain = await submitted(app, client, tokens, {}, "approved")
    await watch.moved()
    await disclosure(app, plain, DisclosureStatus.DISCLOSED)
    await watch.moved(made=everywhere("disclosed", "RXT01", "EPR"))
    await disclosure(app, plain, DisclosureStatus.NOT_DISCLOSED)
    await watch.moved(refused=everywhere("not_disclosed", "RXT01", "EPR"))
    await disclosure(app, plain, DisclosureStatus.CANCELLED)
    await watch.moved(cancelled=everywhere("disclosures_cancelled", "RXT01", "EPR"))
    await disclosure(app, plain, DisclosureStatus.PENDING, asset="PHARM")
    await watch.moved(pending=everywhere("disclosures_pending", "RXT01", "PHARM"))
    await disclosure(app, plain, DisclosureStatus.PENDING, due=PAST)
    found = await watch.moved(
        pending=everywhere("disclosures_pending", "RXT01", "EPR"),
        overdue=everywhere("disclosures_overdue", "RXT01", "EPR"),
    )

    [epr, pharmacy] = found["assets"]
    assert {key: epr[key] for key in ("code", "name", "owner")} == {
        "code": "EPR",
        "name": "Electronic patient record",
        "owner": "iao-1",
    }
    assert (pharmacy["code"], pharmacy["owner"]) == ("PHARM", "iao-2")
    # Nothing ties a referral or an agreement to an asset: null there, not a zero that reads as "none".
    assert (epr["counts"]["referrals_overdue"], epr["counts"]["agreements_expiring"]) == (None, None)
    [organisation] = found["organisations"]
    assert (organisation["code"], organisation["name"]) == ("RXT01", "Organisation RXT01")
    assert organisation["counts"]["referrals_overdue"] == 0


async def test_the_disclosure_an_approval_opens_and_its_owner_records_is_what_the_report_counts(
    client: httpx.AsyncClient, tokens: Tokens, registers: None
) -> None:
    # The other tests write disclosures in states and at times the API reaches only by waiting; this one goes the
    # way production does: the approval opens a pending disclosure for EPR, and EPR's owner records it over HTTP.
    watch = Watch(client, tokens)
    await watch.moved()
    approved = await submit(client, tokens, changed({}))
    assert (approved.status_code, approved.json()["status"]) == (201, "approved"), approved.text
    await watch.moved(pending=everywhere("disclosures_pending", "RXT01", "EPR"))
    owner = tokens.headers("CONTROLLER", Role.IAO, sub="iao-1")
    opened = await client.get(f"/v1/sharing-requests/{approved.json()['id']}/disclosures", headers=owner)
    [pending] = opened.json()["items"]
    sent = {"outcome": "disclosed", "items": ["demographics"], "channel": "mesh", "disclosed_at": utcnow().isoformat()}
    recorded = await client.post(f"/v1/disclosures/{pending['id']}/record", json=sent, headers=owner)
    assert recorded.status_code == 200, recorded.text
    await watch.moved(
        pending=everywhere("disclosures_pending", "RXT01", "EPR", count=-1),
        made=everywhere("disclosed", "RXT01", "EPR"),
    )


async def test_bulk_and_systematic_shares(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, registers: None
) -> None:
    watch = Watch(client, tokens)
    await watch.moved()
    # 150 people, pseudonymised: CP3.bulk_identifiable passes (nothing identifiable), yet more people than the
    # policy's bulk threshold; and no agreement for sharing about many people (AGR.systematic's condition).
    await submitted(app, client, tokens, PSEUDONYMISED_BULK, "approved_with_conditions")
    await watch.moved(
        bulk=everywhere("bulk_shares", "RXT01", "EPR"),
        systematic=everywhere("systematic_shares", "RXT01", "EPR"),
        unagreed=everywhere("systematic_without_agreement", "RXT01", "EPR"),
    )
    # Anonymised: bulk, but not systematic sharing of personal data.
    await submitted(app, client, tokens, ANONYMISED_BULK, "approved")
    await watch.moved(bulk=everywhere("bulk_shares", "RXT01", "EPR"))
    # A hundred people is the threshold itself, not over it.
    await submitted(app, client, tokens, ANONYMISED_BULK | {"subjects.count": 100}, "approved")
    await watch.moved()
    # Two people without an agreement, and under one: systematic either way; one person under it is not.
    await submitted(app, client, tokens, {"subjects.count": 2}, "approved_with_conditions")
    await watch.moved(
        systematic=everywhere("systematic_shares", "RXT01", "EPR"),
        unagreed=everywhere("systematic_without_agreement", "RXT01", "EPR"),
    )
    await register_agreement(client, tokens)
    await submitted(app, client, tokens, {"sharing_agreement": "ISA-TEST", "subjects.count": 2}, "approved")
    await watch.moved(systematic=everywhere("systematic_shares", "RXT01", "EPR"))
    await submitted(app, client, tokens, {"sharing_agreement": "ISA-TEST"}, "approved")
    await watch.moved()
    # Identifiable and bulk, it is referred: a referral shares nothing until it is approved.
    await submitted(app, client, tokens, {"subjects.count": 150}, "awaiting_review")
    await watch.moved()


async def test_refusals_overridden(client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, registers: None) -> None:
    watch = Watch(client, tokens, without_disclosures=app)
    await watch.moved()
    # A guardian approving a referral overrides nothing.
    referral = await submitted(app, client, tokens, REFERRED, "awaiting_review")
    await decided_by_guardian(client, tokens, referral, "approve")
    await watch.moved()
    # The rules' refusal, approved on reconsideration.
    by_rules = await submitted(app, client, tokens, REFUSED, "refused")
    await watch.moved()
    await overturned_to_approval(client, tokens, by_rules)
    await watch.moved(overridden=everywhere("refusals_overridden", "RXT01", "EPR"))
    # A guardian's refusal of a referral (the rules refused nothing), approved on reconsideration.
    by_guardian = await submitted(app, client, tokens, REFERRED, "awaiting_review")
    await decided_by_guardian(client, tokens, by_guardian, "refuse")
    await watch.moved()
    await overturned_to_approval(client, tokens, by_guardian)
    await watch.moved(overridden=everywhere("refusals_overridden", "RXT01", "EPR"))


async def test_emergency_shares_and_overdue_reviews_and_referrals(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, registers: None
) -> None:
    watch = Watch(client, tokens, without_disclosures=app)
    await watch.moved()
    emergency = await submitted(app, client, tokens, EMERGENCY, "approved_with_conditions")
    await watch.moved(
        shares=everywhere("emergency_shares", "RXT01", "EPR"),
        open=everywhere("emergency_reviews_open", "RXT01", "EPR"),
    )
    await set_columns(app, emergency, due_at=utcnow() + PAST)
    await watch.moved(overdue=everywhere("emergency_reviews_overdue", "RXT01", "EPR"))
    guardian = inside(tokens, Role.GUARDIAN)
    await act(client, emergency, "claim", guardian)
    await act(client, emergency, "retrospective-review", guardian, {"outcome": "upheld", "rationale": RATIONALE})
    await watch.moved(
        upheld=everywhere("emergency_reviews_upheld", "RXT01", "EPR"),
        open=everywhere("emergency_reviews_open", "RXT01", "EPR", count=-1),
        overdue=everywhere("emergency_reviews_overdue", "RXT01", "EPR", count=-1),
    )
    second = await submitted(app, client, tokens, EMERGENCY, "approved_with_conditions")
    await act(client, second, "claim", guardian)
    await act(client, second, "retrospective-review", guardian, {"outcome": "not_upheld", "rationale": RATIONALE})
    await watch.moved(
        shares=everywhere("emergency_shares", "RXT01", "EPR"),
        not_upheld=everywhere("emergency_reviews_not_upheld", "RXT01", "EPR"),
    )

    # A referral past its due time: the requester's, never an asset's.
    referral = await submitted(app, client, tokens, REFERRED, "awaiting_review", org="LA-NSH")
    await watch.moved()
    await set_columns(app, referral, due_at=utcnow() + PAST)
    await watch.moved(late=everywhere("referrals_overdue", "LA-NSH"))


async def test_agreements_ending_within_90_days_count_on_each_partys_row(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, registers: None
) -> None:
    watch = Watch(client, tokens)
    await watch.moved()
    parties = ["RXT01", "LA-NSH"]
    await register_agreement(client, tokens, code="ISA-SOON", parties=parties, valid_until=london_day(90))
    await watch.moved(expiring=everywhere("agreements_expiring", *parties))
    await register_agreement(client, tokens, code="ISA-TODAY", parties=["RXT01"], valid_until=london_day(0))
    await watch.moved(expiring=everywhere("agreements_expiring", "RXT01"))
    await register_agreement(client, tokens, code="ISA-LATER", parties=parties, valid_until=london_day(91))
    await register_agreement(client, tokens, code="ISA-ENDED", parties=parties, valid_until=london_day(-1))
    found = await watch.moved()
    assert (found["agreements_expiring_from"], found["agreements_expiring_to"]) == (london_day(0), london_day(90))
    assert found["assets"] == []


async def test_the_period_bounds_decisions_by_when_decided_and_disclosures_by_when_recorded(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, registers: None
) -> None:
    emergency = await submitted(app, client, tokens, EMERGENCY, "approved_with_conditions")
    ten_days_ago = utcnow() - timedelta(days=10)
    # Opened long ago, recorded ten days ago: it belongs to the day it was recorded.
    await disclosure(
        app, emergency, DisclosureStatus.DISCLOSED, opened=ten_days_ago - timedelta(days=30), recorded=ten_days_ago
    )
    await disclosure(app, emergency, DisclosureStatus.PENDING, opened=ten_days_ago, due=timedelta(days=1))

    def totals(found: dict[str, Any]) -> tuple[int, int, int, int]:
        counts = found["totals"]
        return (
            counts["emergency_shares"],
            counts["disclosed"],
            counts["disclosures_pending"],
            counts["disclosures_overdue"],
        )

    assert totals(await report(client, tokens)) == (1, 1, 1, 1)
    assert totals(await report(client, tokens, **{"from": london_day(-1)})) == (1, 0, 0, 0)
    assert totals(await report(client, tokens, to=london_day(-1))) == (0, 1, 1, 1)
    assert totals(await report(client, tokens, **{"from": london_day(1)})) == (0, 0, 0, 0)
    assert totals(await report(client, tokens, **{"from": london_day(-11), "to": london_day(-9)})) == (0, 1, 1, 1)
    since = (ten_days_ago + timedelta(seconds=1)).isoformat()
    assert totals(await report(client, tokens, **{"from": since, "to": london_day(-9)})) == (0, 0, 0, 0)
    bounded = await report(client, tokens, **{"from": "2026-01-01", "to": "2026-06-30"})
    assert (bounded["period_start"], bounded["period_end"]) == ("2026-01-01T00:00:00Z", "2026-06-30T23:00:00Z")

    # The agreements' window follows the period's last day.
    await register_agreement(client, tokens, code="ISA-SOON", valid_until=london_day(30))
    await register_agreement(client, tokens, code="ISA-LATER", valid_until=london_day(120))
    expiring = {offset: (await report(client, tokens, to=london_day(offset)))["totals"] for offset in (0, 60, 200)}
    assert {offset: counts["agreements_expiring"] for offset, counts in expiring.items()} == {0: 1, 60: 1, 200: 0}
    windowed = await report(client, tokens, to=london_day(60))
    assert (windowed["agreements_expiring_from"], windowed["agreements_expiring_to"]) == (
        london_day(60),
        london_day(150),
    )


async def test_the_csv_is_the_same_table_with_a_section_column(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, registers: None
) -> None:
    bulk = await submitted(app, client, tokens, PSEUDONYMISED_BULK, "approved_with_conditions")
    await disclosure(app, bulk, DisclosureStatus.PENDING, asset="PHARM")
    found = await report(client, tokens)

    response = await client.get(REPORT, params={"format": "csv"}, headers=inside(tokens, Role.DPO))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="information-risk.csv"'
    assert response.text.startswith("\ufeff") and "\r\n" in response.text
    rows = list(csv.DictReader(io.StringIO(response.text.removeprefix("\ufeff"))))
    assert list(rows[0]) == ["section", "code", "name", "owner", *RiskCounts.model_fields]
    assert [(row["section"], row["code"], row["name"], row["owner"]) for row in rows] == [
        ("total", "", "", ""),
        ("asset", "EPR", "Electronic patient record", "iao-1"),
        ("asset", "PHARM", "Pharmacy system", "iao-2"),
        ("organisation", "RXT01", "Organisation RXT01", ""),
    ]
    as_json = [found["totals"], *(row["counts"] for row in found["assets"] + found["organisations"])]
    for row, counts in zip(rows, as_json, strict=True):
        assert {measure: row[measure] for measure in counts} == {
            measure: "" if count is None else str(count) for measure, count in counts.items()
        }
    assert (rows[1]["bulk_shares"], rows[2]["disclosures_pending"], rows[1]["referrals_overdue"]) == ("1", "1", "")


async def test_only_the_controllers_siro_dpo_and_auditors_run_it_and_each_run_is_audited(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, registers: None
) -> None:
    allowed = [inside(tokens, role) for role in (Role.SIRO, Role.DPO, Role.AUDITOR)]
    for headers in allowed:
        assert (await client.get(REPORT, headers=headers)).status_code == 200
    for role in (Role.GUARDIAN, Role.IAO, Role.IG_MANAGER, Role.ADMIN, Role.SAFEGUARDING_LEAD):
        response = await client.get(REPORT, headers=inside(tokens, role))
        assert response.status_code == 403, role
        assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get(REPORT, headers=tokens.agency("RXT01"))).status_code == 403
    # A partner organisation's SIRO owns its own organisation's risk, not the controller's.
    partner = await client.get(REPORT, headers=tokens.headers("RXT01", Role.SIRO, sub="rxt-siro"))
    assert partner.status_code == 403 and "siro" in partner.json()["detail"], partner.text
    assert (await client.get(REPORT)).status_code == 401

    trail = await client.get(
        "/v1/audit/events", params={"action": "information_risk_reported"}, headers=inside(tokens, Role.AUDITOR)
    )
    assert trail.status_code == 200, trail.text
    runs = trail.json()["items"]
    assert [(event["actor_sub"], event["target_id"]) for event in runs] == [
        ("siro-1", "information_risk"),
        ("dpo-1", "information_risk"),
        ("auditor-1", "information_risk"),
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-11-26T09:00:00"}, "to"),
        ({"from": "2026-11-26", "to": "2026-11-25"}, "to"),
        ({"format": "xml"}, "format"),
        ({"to": "9999-12-31"}, "to"),
    ],
)
async def test_bad_input_is_a_problem_naming_the_field(
    client: httpx.AsyncClient, tokens: Tokens, params: dict[str, str], field: str
) -> None:
    response = await client.get(REPORT, params=params, headers=inside(tokens, Role.SIRO))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.text


async def test_a_period_ending_in_the_calendars_last_days_cuts_the_agreements_window(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    found = await report(client, tokens, to="9999-12-30")
    assert (found["agreements_expiring_from"], found["agreements_expiring_to"]) == ("9999-12-30", "9999-12-31")
