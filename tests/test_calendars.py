"""Bank-holiday calendars: the shipped ones match England's, their end is announced,
and due times past it are refused with nothing recorded."""

import hashlib
import logging
from datetime import UTC, date, datetime
from typing import Any

import holidays
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, text

from app.models.base import LONDON
from app.models.policy import StoredPolicy
from app.models.vocabulary import Urgency
from app.rules.policy_documents import load_policy, shipped_path, shipped_policies
from app.rules.response_times import CalendarExhausted, due_at, is_working_day
from app.services.policies.calendar import CALENDAR_WARNING_DAYS, CalendarStatus, CalendarWarnings, calendar_check
from tests.factories import EMERGENCY, REFERRED, register_organisation, submit
from tests.rules.baseline import baseline_request, changed
from tests.support import Tokens
from tests.test_policies import BASELINE, YAML, activate, as_yaml, derived
from tests.test_reconsideration import GROUNDS, read

SHORT = ("calendar-test", "2028.1-short.1")  # a derived policy whose bank holidays stop before this year
RECORDED_TABLES = (
    "sharing_requests",
    "sharing_request_versions",
    "sharing_request_subjects",
    "decisions",
    "sharing_request_transitions",
)
RECORDED_TABLES += ("outbox_events", "audit_events", "audit_pending")


def england(years: range) -> dict[date, str]:
    """England's bank holidays that fall Monday to Friday (the days off), from the `holidays` package."""
    found = holidays.country_holidays("GB", subdiv="ENG", years=years)
    return {day: name for day, name in sorted(found.items()) if day.weekday() < 5}


@pytest.mark.parametrize("key", sorted(shipped_policies()), ids=lambda key: key[1])
def test_each_shipped_calendar_is_englands_bank_holidays(key: tuple[str, str]) -> None:
    """A holiday on a weekend needs no entry (its substitute Monday has one); every other date must agree, both ways."""
    policy = shipped_policies()[key]
    listed = set(policy.bank_holidays)
    years = range(min(listed).year, max(listed).year + 1)
    expected = england(years)
    missing = {f"{day} {expected[day]}" for day in set(expected) - listed}
    extra = {f"{day} ({day:%A})" for day in listed - set(expected)}
    assert not missing and not extra, (
        f"{key[0]} {key[1]} over {years.start}-{years.stop - 1}: "
        f"not listed {sorted(missing)}; not England's {sorted(extra)}"
    )


def test_the_calendar_ends_on_31_december_of_its_last_listed_year() -> None:
    policy = load_policy(shipped_path("2027.1"))
    assert policy.calendar_ends == date(2028, 12, 31)
    assert load_policy(shipped_path("2027.1")).model_copy(update={"bank_holidays": ()}).calendar_ends is None


def test_working_days_past_the_calendar_raise() -> None:
    policy = load_policy(shipped_path("2027.1"))
    assert is_working_day(policy, date(2028, 12, 29)) and not is_working_day(policy, date(2028, 12, 26))
    with pytest.raises(CalendarExhausted, match="end on 2028-12-31"):
        is_working_day(policy, date(2029, 1, 2))
    thursday = datetime(2028, 12, 28, 10, 0, tzinfo=UTC)
    assert due_at(policy, Urgency.URGENT, thursday) == datetime(
        2028, 12, 29, 10, 0, tzinfo=UTC
    )  # the last day of the calendar
    with pytest.raises(CalendarExhausted, match="2029-01-01 is a working day is unknown"):
        due_at(policy, Urgency.ROUTINE, thursday)  # Friday, then the weekend, then 2029
    assert due_at(policy, Urgency.EMERGENCY, thursday).year == 2028  # hours need no calendar
    with pytest.raises(CalendarExhausted, match="list no dates"):
        due_at(load_policy(shipped_path("2027.1")).model_copy(update={"bank_holidays": ()}), Urgency.URGENT, thursday)


def test_readiness_degrades_within_90_days_of_the_end(caplog: pytest.LogCaptureFixture) -> None:
    policy = load_policy(shipped_path("2027.1"))
    far = calendar_check(policy, today=date(2028, 10, 1))
    assert (far.status, far.days_left) == (CalendarStatus.OK, CALENDAR_WARNING_DAYS + 1)
    near = calendar_check(policy, today=date(2028, 10, 2))
    assert (near.status, near.days_left) == (CalendarStatus.DEGRADED, CALENDAR_WARNING_DAYS)
    assert "ends on 2028-12-31, in 90 days" in near.detail and "activate" in near.detail
    ended = calendar_check(policy, today=date(2029, 1, 1))
    assert (ended.status, ended.days_left) == (CalendarStatus.DEGRADED, -1) and "ended on 2028-12-31" in ended.detail

    warnings = CalendarWarnings(every=3600)
    with caplog.at_level(logging.WARNING, logger="caldicott.calendar"):
        assert not warnings.note(far)
        assert warnings.note(near)
        assert not warnings.note(near)  # once an hour, not at every probe
    assert [record.getMessage() for record in caplog.records] == [f"calendar: {near.detail}"]
    assert CalendarWarnings(every=0).note(near) and CalendarWarnings(every=0).note(ended)


def short_policy() -> dict[str, Any]:
    """A policy derived from 2028.1 whose bank holidays stop at the end of last year
    (London): its calendar has run out."""
    document = derived(*SHORT)
    last_year = datetime.now(LONDON).year - 1
    document["bank_holidays"] = [day for day in document["bank_holidays"] if day.year <= last_year]
    return document


async def activate_short_policy(client: httpx.AsyncClient, tokens: Tokens, app: FastAPI) -> date:
    """Store the short policy as an upload early last year stored it, and activate it; the day its calendar ended.

    An upload today is refused (its dry run finds no due time within the calendar: tests/test_policies.py); one
    stored while its calendar still ran is what time turns into a calendar that has run out."""
    content = as_yaml(short_policy())
    refused = await client.post("/v1/policies", content=content, headers=YAML | tokens.admin())
    assert (refused.status_code, [error["field"] for error in refused.json()["errors"]][:1]) == (
        422,
        ["bank_holidays"],
    ), refused.text
    last_year = datetime.now(LONDON).year - 1
    async with app.state.wiring.engine.begin() as connection:
        await connection.execute(
            insert(StoredPolicy).values(
                name=SHORT[0],
                version=SHORT[1],
                content_hash=hashlib.sha256(content).hexdigest(),
                media_type="application/yaml",
                content=content.decode(),
                derived_from_name=BASELINE,
                derived_from_version="2028.1",
                created_at=datetime(last_year, 1, 5, 9, 0, tzinfo=UTC),
                created_by="admin-1",
            )
        )
    await activate(client, tokens, *SHORT)
    return date(last_year, 12, 31)


async def rows(app: FastAPI) -> dict[str, int]:
    """How many rows a submission writes to, table by table."""
    async with app.state.wiring.engine.connect() as connection:
        return {
            table: (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
            for table in RECORDED_TABLES
        }


async def test_a_referral_past_the_calendar_is_refused_and_nothing_is_recorded(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    ended = await activate_short_policy(client, tokens, app)
    before = await rows(app)

    refused = await submit(client, tokens, changed(REFERRED), **{"Idempotency-Key": "calendar-1"})
    assert refused.status_code == 503, refused.text
    problem = refused.json()
    assert (
        problem["type"].endswith("/calendar-run-out") and refused.headers["content-type"] == "application/problem+json"
    )
    assert f"{SHORT[0]} {SHORT[1]}" in problem["detail"] and f"end on {ended}" in problem["detail"]
    assert "an admin must activate a policy whose bank-holiday calendar runs further" in problem["detail"]
    assert await rows(app) == before  # neither the request, its version, its decision, its event nor its transition

    # What needs no working days still goes: a request the rules decide, and an emergency counted in hours.
    assert (await submit(client, tokens, baseline_request())).json()["status"] == "approved"
    emergency = await submit(client, tokens, changed(EMERGENCY))
    assert emergency.status_code == 201 and emergency.json()["due_at"] is not None, emergency.text

    await activate(client, tokens, BASELINE, "2028.1")
    again = await submit(client, tokens, changed(REFERRED), **{"Idempotency-Key": "calendar-1"})
    assert (again.status_code, again.json()["status"]) == (201, "awaiting_review"), again.text
    assert again.json()["due_at"] is not None


async def test_a_reconsideration_past_the_calendar_is_refused_and_the_decision_stands(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT01")
    request = (await submit(client, tokens, changed({"recipient.storage_region": "other"}))).json()
    assert request["status"] == "refused"
    await activate_short_policy(client, tokens, app)
    asked = await client.post(
        f"/v1/sharing-requests/{request['id']}/reconsideration",
        json={"grounds": GROUNDS},
        headers=tokens.agency("RXT01"),
    )
    assert asked.status_code == 503 and asked.json()["type"].endswith("/calendar-run-out"), asked.text
    after = await read(client, tokens, request["id"])
    assert (after["status"], after["due_at"]) == ("refused", None)


async def test_readyz_reports_a_calendar_that_has_run_out(
    client: httpx.AsyncClient, tokens: Tokens, caplog: pytest.LogCaptureFixture, app: FastAPI
) -> None:
    ready = (await client.get("/readyz")).json()
    assert (
        ready["checks"]["calendar"]["ends"] == "2028-12-31"
        and ready["checks"]["calendar"]["policy"] == f"{BASELINE} 2028.1"
    )
    assert ready["status"] == ("ok" if ready["checks"]["calendar"]["days_left"] > CALENDAR_WARNING_DAYS else "degraded")

    ended = await activate_short_policy(client, tokens, app)
    with caplog.at_level(logging.WARNING, logger="caldicott.calendar"):
        first, second = await client.get("/readyz"), await client.get("/readyz")
    assert (
        first.status_code == second.status_code == 200
    )  # still serving: what needs no due time past the calendar goes on
    calendar = first.json()["checks"]["calendar"]
    assert first.json()["status"] == "degraded" and calendar["status"] == "degraded"
    assert calendar["ends"] == ended.isoformat() and calendar["days_left"] < 0
    assert f"ended on {ended}" in calendar["detail"]
    warned = [record.getMessage() for record in caplog.records if record.name == "caldicott.calendar"]
    assert warned == [f"calendar: {calendar['detail']}"]  # logged at the first probe, not at every one
