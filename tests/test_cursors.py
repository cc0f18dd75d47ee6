"""Crafted cursors on the request list, the review queue and the decision log: 422 naming `cursor`, never a 500.

A cursor is base64url JSON of the last row's sort key (`app/platform/pagination.py`); these are the keys
a caller can forge: dates the database cannot hold once moved to UTC, text it cannot store, numbers
past its columns, and values of the wrong type.
"""

import base64
import json
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.models.vocabulary import Role
from tests.factories import register_organisation, submit
from tests.rules.baseline import baseline_request, changed
from tests.support import Tokens

AGENCY_ORG = "RXT01"
CONTROLLER_ORG = "CONTROLLER"
WHEN = "2026-11-26T09:00:00+00:00"
ROW_ID = "0192f6a4-0000-7000-8000-000000000000"
# Each list, the role that reads it, and a sort key of the shape its cursors hold.
LISTS = {
    "requests": ("/v1/sharing-requests", Role.AGENCY, [WHEN, ROW_ID]),
    "queue": ("/v1/review-queue", Role.GUARDIAN, [1, WHEN, ROW_ID]),
    "decision-log": ("/v1/reports/decision-log", Role.GUARDIAN, [WHEN, ROW_ID]),
}
PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def cursor_of(value: Any) -> str:
    """A cursor as the service makes them: base64url of JSON, unpadded; any JSON value will do."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def raw_cursor(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def reader(tokens: Tokens, role: Role) -> dict[str, str]:
    return tokens.headers(AGENCY_ORG if role is Role.AGENCY else CONTROLLER_ORG, role, sub=f"cursor-{role}")


@pytest.fixture
async def lists(app: FastAPI, client: httpx.AsyncClient, tokens: Tokens) -> AsyncIterator[httpx.AsyncClient]:
    """Rows in every list (a decided request for the log, a referred one for the queue);
    a client that sees a 500 as an answer."""
    await register_organisation(client, tokens, AGENCY_ORG)
    controller = {"code": CONTROLLER_ORG, "name": "The controller", "type": "nhs_trust", "dspt_status": "standards_met"}
    assert (await client.post("/v1/organisations", json=controller, headers=tokens.admin())).status_code in (201, 409)
    for body in (baseline_request(), changed({"recipient.onward_sharing": True})):
        assert (await submit(client, tokens, body)).status_code == 201
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def forged_keys(key: list[Any]) -> dict[str, list[Any]]:
    """Sort keys of the list's shape with one value each replaced by something the service never issues."""
    times = [index for index, value in enumerate(key) if value == WHEN]
    texts = [index for index, value in enumerate(key) if value == ROW_ID]
    numbers = [index for index, value in enumerate(key) if isinstance(value, int)]

    def at(indexes: list[int], value: Any) -> list[Any]:
        return [value if index in indexes else old for index, old in enumerate(key)]

    forged = {
        "time offset out of range": at(times, "2026-11-26T09:00:00+99:00"),
        "year 0": at(times, "0000-01-01T00:00:00+00:00"),
        "year 1 ahead of UTC (before year 1 in UTC)": at(times, "0001-01-01T00:00:00+01:00"),
        "year 9999 behind UTC (after 9999 in UTC)": at(times, "9999-12-31T23:30:00-01:00"),
        "time without offset": at(times, "2026-11-26T09:00:00"),
        "time with a lone surrogate": at(times, WHEN + "\ud800"),
        "time as a number": at(times, 1764147600),
        "id with a lone surrogate": at(texts, "\ud800"),
        "id with a NUL": at(texts, "0192\x00"),
        "id as a nested list": at(texts, [[ROW_ID]]),
        "time as a nested list": at(times, [[[WHEN]]]),
        "NaN": at(times + texts, float("nan")),
        "infinity": at(times + texts, float("inf")),
        "null": at(times, None),
        "true": at(texts, True),
        "too long": [*key, ROW_ID],
        "too short": key[:-1],
        "an object": [dict(enumerate(key))],
    }
    if numbers:
        forged |= {
            "number past 64 bits": at(numbers, 2**70),
            "number past 32 bits": at(numbers, 2**40),
            "number below 32 bits": at(numbers, -(2**31) - 1),
            "number as a float": at(numbers, 1.5),
            "number as true": at(numbers, True),
            "number as text": at(numbers, "1"),
        }
    return forged


def forged_cursors(key: list[Any]) -> dict[str, str]:
    """Every forged key as a cursor, and cursors that are not base64 JSON lists at all."""
    return {name: cursor_of(value) for name, value in forged_keys(key).items()} | {
        "empty": "",
        "padding only": "====",
        "not base64": "not a cursor!",
        "non-ASCII": "é" * 8,
        "not UTF-8 inside": raw_cursor(b'["\xff\xfe"]'),
        "JSON text": cursor_of("x"),
        "JSON with a lone surrogate escape outside a list": raw_cursor(b'"\\ud800"'),
        "deep nesting": raw_cursor(b"[" * 370),
        "huge number literal": raw_cursor(b"[" + b"9" * 360 + b"]"),
        "NaN literal": raw_cursor(b"[NaN, NaN, NaN]"),
    }


def assert_cursor_problem(response: httpx.Response, case: str) -> None:
    assert response.status_code == 422, (case, response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json", case
    assert [(error["field"], error["location"]) for error in response.json()["errors"]] == [("cursor", "query")], case


@pytest.mark.parametrize("name", LISTS)
async def test_a_forged_cursor_is_422_naming_cursor(lists: httpx.AsyncClient, tokens: Tokens, name: str) -> None:
    path, role, key = LISTS[name]
    headers = reader(tokens, role)
    assert (
        await lists.get(path, params={"cursor": cursor_of(key)}, headers=headers)
    ).status_code == 200  # the shape is right
    answers = {
        case: await lists.get(path, params={"cursor": cursor}, headers=headers)
        for case, cursor in forged_cursors(key).items()
    }
    assert {case: answer.status_code for case, answer in answers.items() if answer.status_code != 422} == {}
    for case, answer in answers.items():
        assert_cursor_problem(answer, case)


@pytest.mark.parametrize("name", LISTS)
async def test_every_page_cursor_the_lists_issue_is_accepted(
    lists: httpx.AsyncClient, tokens: Tokens, name: str
) -> None:
    path, role, _ = LISTS[name]
    headers = reader(tokens, role)
    first = await lists.get(path, params={"limit": 1}, headers=headers)
    assert first.status_code == 200 and first.json()["items"], first.text
    cursor = first.json()["next_cursor"]
    if cursor is not None:
        assert (await lists.get(path, params={"limit": 1, "cursor": cursor}, headers=headers)).status_code == 200


# Text of any code points, lone surrogates made common: JSON can carry them (as \\ud800) and no database can store them.
SURROGATES = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
texts = st.lists(st.characters(codec=None) | SURROGATES, max_size=30).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)


def iso_times() -> st.SearchStrategy[str]:
    """ISO 8601 times with any offset, many on the calendar's edges, where the move to UTC leaves the calendar."""
    dates = st.sampled_from(["0001-01-01", "9999-12-31", "0000-01-01", "2026-02-30"]) | st.dates().map(date.isoformat)
    offsets = st.tuples(st.sampled_from("+-"), st.integers(0, 99), st.integers(0, 59)).map(
        lambda parts: f"{parts[0]}{parts[1]:02}:{parts[2]:02}"
    )
    suffixes = offsets | st.sampled_from(["Z", "", "+00:00:00.000001"])
    return st.builds(lambda day, clock, suffix: f"{day}T{clock.isoformat()}{suffix}", dates, st.times(), suffixes)


def keys_near(key: list[Any]) -> st.SearchStrategy[list[Any]]:
    """Keys of the list's shape with each value kept, replaced by one of its kind (any time,
    text, number) or by any JSON."""

    def of_its_kind(value: Any) -> st.SearchStrategy[Any]:
        if value == WHEN:
            return iso_times()
        if isinstance(value, int):
            return st.integers(min_value=-(2**65), max_value=2**65)
        return texts

    return st.tuples(*(st.just(value) | of_its_kind(value) | json_values for value in key)).map(list)


def any_cursor() -> st.SearchStrategy[str]:
    """Any text a caller can put in the query, and base64url of any bytes or any JSON."""
    return st.text(max_size=500) | st.binary(max_size=300).map(raw_cursor) | json_values.map(cursor_of)


@pytest.mark.parametrize("name", LISTS)
@PROPERTY_SETTINGS
@given(data=st.data())
async def test_a_cursor_holding_any_key_is_a_page_or_a_422_naming_cursor(
    lists: httpx.AsyncClient, tokens: Tokens, name: str, data: st.DataObject
) -> None:
    path, role, key = LISTS[name]
    cursor = cursor_of(data.draw(keys_near(key), label="key"))
    response = await lists.get(path, params={"cursor": cursor}, headers=reader(tokens, role))
    if response.status_code != 200:
        assert_cursor_problem(response, cursor)


@pytest.mark.parametrize("name", LISTS)
@PROPERTY_SETTINGS
@given(cursor=any_cursor())
async def test_any_cursor_is_a_page_or_a_422_naming_cursor(
    lists: httpx.AsyncClient, tokens: Tokens, name: str, cursor: str
) -> None:
    path, role, _ = LISTS[name]
    response = await lists.get(path, params={"cursor": cursor}, headers=reader(tokens, role))
    if response.status_code != 200:
        assert_cursor_problem(response, cursor)
