"""The public data uses register as a page (GET /register, app/console/register_page.py): the entries of
GET /v1/register, in words, for anyone, under the console's strict policy, paged by the same cursor."""

import csv
import io
from html.parser import HTMLParser
from typing import Any

import httpx

from tests.factories import register_organisation
from tests.support import Tokens
from tests.test_console import assert_strict_page
from tests.test_register import RESEARCH, SECRETS, decided, guardian


class Table(HTMLParser):
    """The text of each cell of each body row of the page's table (less the column headings the responsive table
    repeats in each cell for small screens, hidden from screen readers), and every link's address."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.links: dict[str, str] = {}
        self._in_body = self._in_cell = self._in_heading = False
        self._link: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body:
            self._in_cell = True
            self.rows[-1].append("")
        elif tag == "a":
            self._link = dict(attrs).get("href")
        elif tag == "span" and ("aria-hidden", "true") in attrs:
            self._in_heading = True

    def handle_endtag(self, tag: str) -> None:
        self._in_body = self._in_body and tag != "tbody"
        self._in_cell = self._in_cell and tag != "td"
        self._link = None if tag == "a" else self._link
        self._in_heading = self._in_heading and tag != "span"

    def handle_data(self, data: str) -> None:
        if self._in_cell and not self._in_heading:
            self.rows[-1][-1] = " ".join((self.rows[-1][-1] + " " + data).split())
        if self._link is not None and data.strip():
            self.links[" ".join(data.split())] = self._link


async def page(client: httpx.AsyncClient, path: str = "/register", **params: Any) -> Table:
    """The register's page, which must be a strict page; its table and links."""
    response = await client.get(path, params=params or None)  # `path` may carry its own query: keep it
    assert response.status_code == 200, response.text
    assert_strict_page(response)
    table = Table()
    table.feed(response.text)
    return table


async def api_entries(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    return (await client.get("/v1/register", params=params)).json()["items"]


async def test_an_approved_research_disclosure_is_listed_and_direct_care_is_not_nor_anything_identifying(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01", name="Northshire Research Unit")
    research = await decided(client, tokens, RESEARCH)
    large = await decided(
        client, tokens, RESEARCH | {"subjects.identifiers": [], "subjects.count": 120}, "approve_with_conditions"
    )
    care = await decided(client, tokens, {})  # direct care, approved by the rules
    refused = await decided(client, tokens, RESEARCH, "refuse")
    assert (research["status"], large["status"], care["status"]) == ("approved", "approved_with_conditions", "approved")

    response = await client.get("/register")  # no token, no sign-in
    assert response.status_code == 200
    assert_strict_page(response)
    assert "Sign out" not in response.text and 'aria-label="Console"' not in response.text  # no signed-in navigation
    table = Table()
    table.feed(response.text)
    # The API's entries, in its order: the small research disclosure with its band, then the large one with its count.
    assert [entry["people"] for entry in await api_entries(client)] == [
        {"count": None, "band": "<10"},
        {"count": 120, "band": None},
    ]
    assert len(table.rows) == 2
    small, big = table.rows
    assert small[1] == "Northshire Research Unit RXT01" and small[2] == "Research"
    assert small[3] == (
        "Basic details such as name, date of birth and NHS number (pseudonymised) Diagnoses (pseudonymised)"
    )
    assert (small[4], big[4]) == ("<10", "120")
    assert small[5].startswith("UK GDPR Article 6(1)(e)") and "Article 9(2)(j)" in small[5]
    assert (small[7], big[7]) == ("Approved", "Approved with conditions")
    assert "own health or social care" not in response.text  # the words for direct care appear in no row
    for request in (research, large, care, refused):
        assert request["id"] not in response.text
        if request.get("decision"):
            assert request["decision"]["id"] not in response.text
    for secret in (*SECRETS, "CASE-1", "sha256", "user-rxt01", "guardian-1"):
        assert secret not in response.text


async def test_a_withheld_entry_is_not_on_the_page(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await decided(client, tokens, RESEARCH | {"subjects.identifiers": [], "subjects.count": 120})
    withheld = await decided(client, tokens, RESEARCH | {"subjects.identifiers": [], "subjects.count": 130})
    assert len((await page(client)).rows) == 2
    body = {"request_id": withheld["id"], "reason": "Publishing this now would prejudice a live investigation."}
    assert (await client.post("/v1/register/withholdings", json=body, headers=guardian(tokens))).status_code == 201
    assert [row[4] for row in (await page(client)).rows] == ["120"]
    assert [entry["people"]["count"] for entry in await api_entries(client)] == [120]
    restored = await client.delete(f"/v1/register/withholdings/{withheld['id']}", headers=tokens.admin())
    assert restored.status_code == 204
    assert len((await page(client)).rows) == 2


async def test_the_page_is_paged_by_the_api_s_cursor_with_the_same_page_as_json_and_csv(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    for count in (120, 130, 140):
        await decided(client, tokens, RESEARCH | {"subjects.identifiers": [], "subjects.count": count})
    first = await page(client, limit=2)
    assert [row[4] for row in first.rows] == ["120", "130"]
    assert "First page" not in first.links
    following = first.links["Next page"]
    api_first = (await client.get("/v1/register", params={"limit": 2})).json()
    assert following == f"/register?cursor={api_first['next_cursor']}&limit=2"

    second = await page(client, following)
    assert [row[4] for row in second.rows] == ["140"]
    assert second.links["First page"] == "/register" and "Next page" not in second.links
    as_json = await client.get(second.links["this page as JSON"])
    assert [entry["people"]["count"] for entry in as_json.json()["items"]] == [140]
    as_csv = await client.get(second.links["this page as a spreadsheet (CSV)"])
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    api_csv = await client.get(
        "/v1/register", params={"cursor": api_first["next_cursor"], "limit": 2}, headers={"Accept": "text/csv"}
    )
    assert as_csv.text == api_csv.text and [row["people"] for row in csv.DictReader(io.StringIO(as_csv.text))] == [
        "140"
    ]


async def test_a_cursor_the_service_never_gave_is_an_error_summary_on_the_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/register", params={"cursor": "not-a-cursor"})
    assert response.status_code == 422
    assert_strict_page(response)
    assert "nhsuk-error-summary" in response.text and 'href="/register"' in response.text
    assert "<tbody" not in response.text
    limit = await client.get("/register", params={"limit": "0"})
    assert limit.status_code == 400 and limit.headers["content-type"].startswith("text/html")
    assert (await client.get("/register.csv", params={"cursor": "x"})).headers["content-type"].startswith("text/html")
