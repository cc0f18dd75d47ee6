"""The guardian's queue in the console: what it lists, each filter (the person's by keyed hash only), and the API's
same filters."""

import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.models.vocabulary import Role
from tests.factories import COURT_ORDER, EMERGENCY, REFERRED, register_organisation, submit
from tests.rules.baseline import changed
from tests.support import Tokens, console_client, dev_sign_in
from tests.test_console import assert_strict_page

NHS_NUMBER = "9990000018"
OTHER_NUMBER = "9990000026"
MEMBERS = [{"sub": "guardian-2", "org": "CONTROLLER"}, {"sub": "guardian-3", "org": "CONTROLLER"}]
PANEL = {"reason": "Unusual onward sharing: three guardians should decide it.", "members": MEMBERS}


@pytest.fixture
async def console(app: FastAPI, client: httpx.AsyncClient) -> Any:
    async with console_client(app) as http:
        yield http


async def referred(client: httpx.AsyncClient, tokens: Tokens, org: str = "RXT01", **changes: Any) -> dict[str, Any]:
    """A request the rules refer to a guardian (CP4.onward_sharing), through the API."""
    response = await submit(client, tokens, changed(REFERRED | changes), org=org)
    assert response.status_code == 201 and response.json()["status"] == "awaiting_review", response.text
    return response.json()


async def listed(console: httpx.AsyncClient, **filters: Any) -> str:
    page = await console.get("/console/queue", params=filters)
    assert page.status_code == 200, page.text
    assert_strict_page(page)
    return page.text


async def test_the_queue_lists_a_referred_case_with_why_it_was_referred(
    console: httpx.AsyncClient, client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    case = await referred(client, tokens, reference="CASE-QUEUE-1")
    await dev_sign_in(console)
    page = await listed(console)
    assert f'href="/console/cases/{case["id"]}"' in page and "CASE-QUEUE-1" in page
    assert "CP4.onward_sharing" in page  # why referred: the rule that did not pass
    assert "CP1." not in page  # and none that passed
    assert "Routine" in page and "Nobody" in page
    assert 'href="/console/queue"' in page  # the header's link, for guardians


async def test_each_filter_narrows_the_queue(
    console: httpx.AsyncClient, client: httpx.AsyncClient, tokens: Tokens
) -> None:
    for code in ("RXT01", "RXT02"):
        await register_organisation(client, tokens, code)
    routine = await referred(client, tokens, reference="CASE-A")
    urgent = await referred(client, tokens, org="RXT02", reference="CASE-B", urgency="urgent")
    research = await referred(client, tokens, reference="CASE-C")
    guardian = tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")
    claimed = await client.post(f"/v1/sharing-requests/{research['id']}/claim", headers=guardian)
    assert claimed.status_code == 200
    reconsidered = (await submit(client, tokens, changed(COURT_ORDER | {"reference": "CASE-D"}))).json()
    asked = await client.post(
        f"/v1/sharing-requests/{reconsidered['id']}/reconsideration",
        json={"grounds": "The recipient now stores the record in the UK, which answers the reason."},
        headers=tokens.agency("RXT01"),
    )
    assert asked.status_code == 201, asked.text
    emergency = (await submit(client, tokens, changed(EMERGENCY | {"reference": "CASE-E"}))).json()
    panel = await referred(client, tokens, reference="CASE-F")
    assert (await client.post(f"/v1/sharing-requests/{panel['id']}/claim", headers=guardian)).status_code == 200
    opened = await client.post(f"/v1/sharing-requests/{panel['id']}/panel", json=PANEL, headers=guardian)
    assert opened.status_code == 201, opened.text
    await dev_sign_in(console)

    every = {"CASE-A", "CASE-B", "CASE-C", "CASE-D", "CASE-E", "CASE-F"}

    async def references(**filters: Any) -> set[str]:
        page = await listed(console, **filters)
        return {reference for reference in every if f">{reference}<" in page}

    assert await references() == every
    assert await references(requester="RXT02") == {"CASE-B"}
    assert await references(reference="CASE-C") == {"CASE-C"}
    assert await references(purpose="court_order") == {"CASE-D"}
    assert await references(purpose="direct_care") == {"CASE-A", "CASE-B", "CASE-C", "CASE-F"}
    assert await references(urgency="urgent") == {"CASE-B"}
    assert await references(status="in_review") == {"CASE-C"}
    assert await references(kind="reconsideration") == {"CASE-D"}
    assert await references(kind="retrospective") == {"CASE-E"}
    assert await references(kind="panel") == {"CASE-F"}
    assert await references(kind="referral") == {"CASE-A", "CASE-B", "CASE-C"}
    # The blank options of the form are no filter; an unknown value is refused as a page, not ignored.
    assert await references(requester="", reference="", purpose="", urgency="", status="", kind="") == every
    assert (await console.get("/console/queue", params={"urgency": "soon"})).status_code == 400
    assert (await console.get("/console/queue", params={"requester": "R X"})).status_code == 400
    assert routine and urgent and emergency  # made through the API above


async def test_the_queue_is_paged_by_the_api_s_cursor(
    console: httpx.AsyncClient, client: httpx.AsyncClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.console import queue as console_queue

    monkeypatch.setattr(console_queue, "PAGE_SIZE", 1)
    await register_organisation(client, tokens, "RXT01")
    await referred(client, tokens, reference="CASE-1")
    await referred(client, tokens, reference="CASE-2", urgency="urgent")
    await dev_sign_in(console)
    first = await listed(console, requester="RXT01")
    assert ">CASE-2<" in first and ">CASE-1<" not in first  # urgent first
    link = first.split('nhsuk-pagination__link--next" href="')[1].split('"')[0].replace("&amp;", "&")
    assert "requester=RXT01" in link
    second = await console.get(link)
    assert ">CASE-1<" in second.text and "nhsuk-pagination__link--next" not in second.text


async def test_a_person_is_found_by_keyed_hash_and_their_number_is_written_nowhere(
    console: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tokens: Tokens,
    app: FastAPI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await register_organisation(client, tokens, "RXT01")
    named = {"subjects.identifiers": [NHS_NUMBER], "reference": "CASE-NAMED"}
    await referred(client, tokens, **named)
    await referred(client, tokens, **{"subjects.identifiers": [OTHER_NUMBER], "reference": "CASE-OTHER"})
    token = await dev_sign_in(console)
    caplog.set_level(logging.DEBUG)
    found = await console.post("/console/queue/person", data={"csrf_token": token, "nhs_number": NHS_NUMBER})
    assert found.status_code == 303
    address = found.headers["location"]
    hashed = app.state.wiring.settings.subject_keyring.hash(NHS_NUMBER)
    assert NHS_NUMBER not in address and hashed in address
    page = await console.get(address)
    assert ">CASE-NAMED<" in page.text and ">CASE-OTHER<" not in page.text
    assert "a person" in page.text and NHS_NUMBER not in page.text
    # The other filters keep the person (their hashes ride in the form), and narrow further.
    both = await console.get(address + "&reference=CASE-OTHER")
    assert ">CASE-NAMED<" not in both.text and ">CASE-OTHER<" not in both.text
    assert f'name="person" value="1:{hashed}"' in page.text
    # Nowhere else either: not in any log line, nor in any row of the database.
    assert NHS_NUMBER not in caplog.text
    async with app.state.wiring.sessionmaker() as session:
        connection = await session.connection()
        tables = [
            name
            for (name,) in (
                await connection.execute(
                    text(
                        "SELECT name FROM sqlite_master WHERE type = 'table'"
                        if connection.dialect.name == "sqlite"
                        else "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                    )
                )
            ).all()
        ]
        for table in tables:
            rows = (await connection.execute(text(f'SELECT * FROM "{table}"'))).all()
            assert NHS_NUMBER not in repr(rows), table
    # Without its form token the search is refused; a blank number is asked for again, naming nothing.
    assert (await console.post("/console/queue/person", data={"nhs_number": NHS_NUMBER})).status_code == 403
    blank = await console.post("/console/queue/person", data={"csrf_token": token, "nhs_number": " "})
    assert blank.status_code == 400 and "Enter the person" in blank.text
    # A person token altered in the address is refused, not ignored.
    assert (await console.get("/console/queue", params={"person": "1:not-a-hash"})).status_code == 400


async def test_only_guardians_see_the_queue(console: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    await dev_sign_in(console, Role.AUDITOR, name="Ada Auditor")
    refused = await console.get("/console/queue")
    assert refused.status_code == 403 and "guardian" in refused.text
    home = await console.get("/console/")
    assert 'href="/console/queue"' not in home.text


async def test_the_api_s_queue_has_the_same_filters(client: httpx.AsyncClient, tokens: Tokens) -> None:
    for code in ("RXT01", "RXT02"):
        await register_organisation(client, tokens, code)
    first = await referred(client, tokens, reference="CASE-1", **{"subjects.identifiers": [NHS_NUMBER]})
    second = await referred(client, tokens, org="RXT02", reference="CASE-2")
    guardian = tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")

    async def ids(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        return [entry["id"] for entry in response.json()["items"]]

    everyone = await ids(await client.get("/v1/review-queue", headers=guardian))
    assert set(everyone) == {first["id"], second["id"]}
    assert await ids(await client.get("/v1/review-queue", params={"requester": "RXT02"}, headers=guardian)) == [
        second["id"]
    ]
    assert await ids(await client.get("/v1/review-queue", params={"reference": "CASE-1"}, headers=guardian)) == [
        first["id"]
    ]
    assert await ids(await client.get("/v1/review-queue", params={"review": "panel"}, headers=guardian)) == []
    entry = (await client.get("/v1/review-queue", headers=guardian)).json()["items"][0]
    assert entry["referred_for"] == ["CP4.onward_sharing"]
    search = "/v1/review-queue/search"
    found = await client.post(search, json={"identifier": NHS_NUMBER}, headers=guardian)
    assert await ids(found) == [first["id"]]
    narrowed = await client.post(
        search, params={"requester": "RXT02"}, json={"identifier": NHS_NUMBER}, headers=guardian
    )
    assert await ids(narrowed) == []
    assert (
        await client.post(search, json={"identifier": NHS_NUMBER}, headers=tokens.agency("RXT01"))
    ).status_code == 403
    assert (await client.get("/v1/review-queue", params={"requester": "R X"}, headers=guardian)).status_code == 422
