"""The console's oversight pages: the dashboard (the API's review metrics and the queue by urgency, with a chart and
its table), the policies and their replay reports, and the audit trail's verification and checkpoints. Each shows
what the API answers for the same read, to the roles the API answers it for."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.console.dashboard import OUTCOME_TEXT, URGENCIES, URGENCY_TEXT, duration_text, percent_text
from app.console.sign_in import DEV_ROLES
from app.models.base import LONDON
from app.models.vocabulary import Role
from tests.conftest import fresh_start
from tests.factories import register_organisation
from tests.support import Tokens, console_client, dev_sign_in
from tests.test_console import assert_strict_page
from tests.test_review import RATIONALE, act, guardian, referred, set_columns


class Tables(HTMLParser):
    """Every table of a page with an id: its rows, each a list of its cells' text, headers and data alike."""

    def __init__(self, page: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("id") or f"table-{len(self.tables)}", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("th", "td") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._table is not None and self._cell is not None:
            self._table[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(page: httpx.Response) -> dict[str, list[list[str]]]:
    return Tables(page.text).tables


def by_heading(rows: list[list[str]]) -> dict[str, list[str]]:
    """A table's body rows by their first cell."""
    return {row[0]: row[1:] for row in rows if row}


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the API (with tokens) over an empty database, on https as the console's cookie needs."""
    await fresh_start(app)
    async with console_client(app) as client:
        yield client


@asynccontextmanager
async def signed_in(app: FastAPI, role: Role) -> AsyncIterator[httpx.AsyncClient]:
    """A console client signed in with `role`."""
    async with console_client(app) as console:
        await dev_sign_in(console, role=role, name=f"Pat {role.value}")
        yield console


async def queue_and_decisions(http: httpx.AsyncClient, tokens: Tokens, app: FastAPI) -> None:
    """Two routine referrals (one overdue), an urgent and an emergency one waiting; a routine one approved and an
    urgent one refused by a guardian."""
    await register_organisation(http, tokens, "RXT01")
    late = await referred(http, tokens, reference="late")
    await set_columns(app, late["id"], due_at=datetime.now(UTC) - timedelta(minutes=5))
    await referred(http, tokens, reference="waiting")
    await referred(http, tokens, reference="urgent", urgency="urgent")
    await referred(http, tokens, reference="emergency", urgency="emergency")
    for reference, urgency, outcome in (("approved", "routine", "approve"), ("refused", "urgent", "refuse")):
        request = await referred(http, tokens, reference=reference, urgency=urgency)
        assert (await act(http, request["id"], "claim", guardian(tokens))).status_code == 200
        decided = await act(
            http, request["id"], "review", guardian(tokens), {"outcome": outcome, "rationale": RATIONALE}
        )
        assert decided.status_code == 200, decided.text


def assert_dashboard_shows(page: httpx.Response, metrics: dict[str, Any], queue: dict[str, list[Any]]) -> None:
    """Every number of the dashboard is the API's."""
    shown = tables(page)
    waiting = by_heading(shown["queue-now"][1:])
    assert waiting == {
        URGENCY_TEXT[urgency]: [str(len(queue[urgency])), str(sum(entry["overdue"] for entry in queue[urgency]))]
        for urgency in URGENCIES
    }
    decisions = by_heading(shown["decisions"][1:])
    assert decisions == {
        OUTCOME_TEXT[outcome]: [str(metrics["decisions"][outcome][urgency]) for urgency in URGENCIES]
        for outcome in OUTCOME_TEXT
    }
    turnaround = by_heading(shown["turnaround"][1:])
    assert turnaround == {
        URGENCY_TEXT[urgency]: [
            str(times["decisions"]),
            duration_text(times["median_seconds"]),
            duration_text(times["p90_seconds"]),
        ]
        for urgency in URGENCIES
        for times in [metrics["time_to_decision"][urgency]]
    }
    rates = by_heading(shown["rates"])
    overturns, reconsiderations = metrics["overturns"], metrics["reconsiderations"]
    assert rates["Overdue now"] == [str(metrics["overdue_now"])]
    assert rates["Overturn rate"][0].startswith(
        f"{percent_text(overturns['rate'])}: guardians decided otherwise than the rules would have in "
        f"{overturns['overturned']} of {overturns['decisions']} decisions"
    )
    assert rates["Reconsideration rate"][0].startswith(
        f"{percent_text(reconsiderations['rate'])}: asked for {reconsiderations['requested']} of "
        f"{reconsiderations['reconsiderable']}"
    )
    assert rates["Overturned on reconsideration"][0].startswith(
        f"{percent_text(reconsiderations['overturn_rate'])}: {reconsiderations['overturned']} of "
        f"{reconsiderations['decided']}"
    )


async def test_the_dashboard_shows_the_api_s_metrics_and_the_queue_as_a_chart_with_its_table(
    app: FastAPI, http: httpx.AsyncClient, tokens: Tokens
) -> None:
    await queue_and_decisions(http, tokens, app)
    queue = {
        urgency: (await http.get("/v1/review-queue", params={"urgency": urgency}, headers=guardian(tokens))).json()[
            "items"
        ]
        for urgency in URGENCIES
    }
    assert [len(queue[urgency]) for urgency in URGENCIES] == [1, 1, 2]  # the data is what the test means
    async with signed_in(app, Role.AUDITOR) as console:
        page = await console.get("/console/dashboard")
        assert page.status_code == 200, page.text
        assert_strict_page(page)
        metrics = (await http.get("/v1/reports/review-metrics", headers=guardian(tokens))).json()
        assert metrics["decisions"]["approve"]["routine"] == 1 and metrics["overdue_now"] == 1
        assert_dashboard_shows(page, metrics, queue)

        # The chart: an SVG read as one image, named by its title and label, whose numbers the table repeats.
        svg = re.search(r"<svg class=\"console-chart__svg\"[^>]*>.*?</svg>", page.text, re.DOTALL)
        assert svg is not None
        label = (
            "Requests in the queue now: emergency 1, of which 0 overdue; urgent 1, of which 0 overdue; "
            "routine 2, of which 1 overdue"
        )
        assert 'role="img"' in svg[0] and f'aria-label="{label}"' in svg[0] and f"<title>{label}</title>" in svg[0]
        assert len(re.findall(r'class="console-chart__waiting"', svg[0])) == 3

        # A chosen period: the dates of a GET form, as the API's `from` and `to`.
        today = datetime.now(LONDON).date()
        chosen = {"from-day": "1", "from-month": "1", "from-year": "2020", "to-day": str(today.day)} | {
            "to-month": str(today.month),
            "to-year": str(today.year),
        }
        page = await console.get("/console/dashboard", params=chosen)
        assert page.status_code == 200, page.text
        metrics = (
            await http.get(
                "/v1/reports/review-metrics",
                params={"from": "2020-01-01", "to": today.isoformat()},
                headers=guardian(tokens),
            )
        ).json()
        assert metrics["period_from"] == "2020-01-01"
        assert_dashboard_shows(page, metrics, queue)
        assert f"From 1 January 2020 to {today.day} {today.strftime('%B %Y')}" in " ".join(page.text.split())

        # A period the API refuses, or a date that is not one, is named in an error summary linked to its input.
        earlier = chosen | {"to-year": "2019"}
        refused = await console.get("/console/dashboard", params=earlier)
        assert refused.status_code == 400 and "There is a problem" in refused.text
        assert 'href="#to-day"' in refused.text and "End date must not be before the start date" in refused.text
        not_a_date = await console.get("/console/dashboard", params=chosen | {"from-day": "31", "from-month": "2"})
        assert not_a_date.status_code == 400 and "Start date must be a real date" in not_a_date.text
        assert 'href="#from-day"' in not_a_date.text


async def test_the_dashboard_is_for_the_roles_the_api_gives_the_metrics_to(
    app: FastAPI, http: httpx.AsyncClient, tokens: Tokens
) -> None:
    for role in DEV_ROLES:
        api = await http.get("/v1/reports/review-metrics", headers=tokens.headers("CONTROLLER", role))
        async with signed_in(app, role) as console:
            page = await console.get("/console/dashboard")
            assert page.status_code == api.status_code, (role, page.status_code, api.status_code)
            shown = [
                item for item in re.findall(r'href="(/console/[a-z-]*)"', page.text) if item == "/console/dashboard"
            ]
            assert bool(shown) == (api.status_code == 200), role  # the header offers it only to those roles
