"""The console's oversight pages: the dashboard (the API's review metrics and the queue by urgency, with a chart and
its table), the policies and their replay reports, and the audit trail's verification and checkpoints. Each shows
what the API answers for the same read, to the roles the API answers it for."""

import html
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
from app.console.policy_pages import OUTCOME_TEXT as POLICY_OUTCOME_TEXT
from app.console.policy_pages import RESULT_TEXT
from app.console.sign_in import DEV_ROLES
from app.models.base import LONDON
from app.models.vocabulary import FindingResult, Outcome, Role
from tests.conftest import fresh_start
from tests.factories import register_organisation, submit
from tests.rules.baseline import changed
from tests.support import Tokens, console_client, dev_sign_in, form_token
from tests.test_audit import auditor, tamper
from tests.test_checkpoints import sign
from tests.test_console import assert_strict_page
from tests.test_policies import POLICE_EXEMPTION_AS_REQUIREMENT
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


def assert_page(page: httpx.Response) -> None:
    """A console page under the strict policy, whose markup was not escaped into its text on the way."""
    assert_strict_page(page)
    assert "&lt;" not in page.text


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
        assert_page(page)
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


async def actors(http: httpx.AsyncClient, tokens: Tokens, action: str) -> list[str]:
    """Who the audit trail says did `action`, oldest first."""
    events = await http.get("/v1/audit/events", params={"action": action}, headers=auditor(tokens))
    assert events.status_code == 200, events.text
    return [event["actor_sub"] for event in events.json()["items"]]


async def replayable_decisions(http: httpx.AsyncClient, tokens: Tokens) -> list[dict[str, Any]]:
    """A police request 2028.1 refuses and 2026.1 approved (a "legal requirement" that is only an exemption), and one
    both approve."""
    await register_organisation(http, tokens, "RXT01")
    await register_organisation(http, tokens, "POL01", type="police", dspt_status="not_published")
    submitted = [
        await submit(http, tokens, POLICE_EXEMPTION_AS_REQUIREMENT, org="POL01"),
        await submit(http, tokens, changed({})),
    ]
    assert [response.json()["decision"]["outcome"] for response in submitted] == ["refuse", "approve"]
    return [response.json() for response in submitted]


async def test_the_policies_page_lists_the_active_policy_and_a_replay_report_s_changes(
    app: FastAPI, http: httpx.AsyncClient, tokens: Tokens
) -> None:
    refused, _ = await replayable_decisions(http, tokens)
    held = (await http.get("/v1/policies", headers=tokens.admin())).json()["items"]
    async with signed_in(app, Role.GUARDIAN) as console:
        page = await console.get("/console/policies")
        assert page.status_code == 200, page.text
        assert_page(page)
        shown = by_heading(tables(page)["policies-held"][1:])
        assert shown == {
            f"{policy['name']} {policy['version']}": [
                policy["edition"],
                ("Shipped" if policy["shipped"] else "Uploaded")
                + (
                    f", derived from {policy['derived_from']['name']} {policy['derived_from']['version']}"
                    if policy["derived_from"]
                    else ""
                ),
                policy["content_hash"],
                "Active" if policy["active"] else "Replay only" if policy["replay_only"] else "Held",
            ]
            for policy in held
        }
        (active,) = [policy for policy in held if policy["active"]]
        assert f"{active['name']} {active['version']}" in page.text and active["content_hash"] in page.text
        assert "/console/policies/activate" not in page.text  # a guardian may not activate
        assert "No replay has been run yet." in page.text

        # A replay started from the page is the API's replay: its report lists the changes the API lists.
        started = await console.post(
            "/console/policies/replay",
            data={"csrf_token": form_token(page.text), "policy": "uk-caldicott-baseline/2026.1"},
        )
        assert started.status_code == 303, started.text
        replay_id = started.headers["location"].rsplit("/", 1)[1]
        report = (await http.get(f"/v1/policy-replays/{replay_id}", headers=tokens.admin())).json()
        assert report["policy"]["version"] == "2026.1" and report["requested_by"] == "dev-pat-guardian"
        changes = (await http.get(f"/v1/policy-replays/{replay_id}/changes", headers=tokens.admin())).json()["items"]
        assert [change["request_id"] for change in changes] == [refused["id"]]
        assert await actors(http, tokens, "policy_replayed") == ["dev-pat-guardian"]  # audited as the API's replay

        listed = await console.get("/console/policies")
        (header, row) = tables(listed)["replays"]
        assert row[1:] == ["uk-caldicott-baseline 2026.1", "dev-pat-guardian", "2", "1", "1"]
        assert (await http.get("/v1/policy-replays", headers=auditor(tokens))).json() == {
            "items": [report],
            "next_cursor": None,
        }
        assert f'href="/console/policies/replays/{replay_id}"' in listed.text

        page = await console.get(started.headers["location"])
        assert page.status_code == 200, page.text
        assert_page(page)
        rows = tables(page)["changes"][1:]
        assert rows == [
            [
                f"{change['request_id']}, version {change['version']}",
                POLICY_OUTCOME_TEXT[Outcome(change["old_outcome"])],
                POLICY_OUTCOME_TEXT[Outcome(change["new_outcome"])],
                " ".join(
                    f"{rule['rule']}: {RESULT_TEXT[rule['old'] and FindingResult(rule['old'])]} to "
                    f"{RESULT_TEXT[rule['new'] and FindingResult(rule['new'])]}"
                    for rule in change["rules"]
                ),
            ]
            for change in changes
        ]
        assert rows[0][1:3] == ["Refuse", "Refer to a guardian"]  # 2026.1 is replay-only: 2028.1 would not approve
        assert (await console.get("/console/policies/replays/no-such-replay")).status_code == 404


async def test_an_admin_activates_a_policy_from_the_page_unless_another_activation_came_first(
    app: FastAPI, http: httpx.AsyncClient, tokens: Tokens
) -> None:
    async with signed_in(app, Role.ADMIN) as console:
        page = await console.get("/console/policies")
        assert 'action="/console/policies/activate"' in page.text
        token = form_token(page.text)
        (activation,) = {html.unescape(tag) for tag in re.findall(r'name="activation" value="([^"]+)"', page.text)}
        form = {"csrf_token": token, "name": "uk-caldicott-baseline", "version": "2028.2", "activation": activation}
        assert (await console.post("/console/policies/activate", data=form | {"csrf_token": "x"})).status_code == 403
        done = await console.post("/console/policies/activate", data=form)
        assert done.status_code == 303, done.text
        held = (await http.get("/v1/policies", headers=tokens.admin())).json()["items"]
        assert [policy["version"] for policy in held if policy["active"]] == ["2028.2"]
        assert [policy["activated_by"] for policy in held if policy["active"]] == ["dev-pat-admin"]
        assert await actors(http, tokens, "policy_activated") == ["dev-pat-admin"]

        # The page's form named the activation it showed: one made since is not overridden unseen.
        stale = await console.post("/console/policies/activate", data=form | {"version": "2028.1"})
        assert stale.status_code == 412 and "There is a problem" in stale.text
        assert "another activation was made since you loaded this page" in stale.text
        assert_page(stale)
        held = (await http.get("/v1/policies", headers=tokens.admin())).json()["items"]
        assert [policy["version"] for policy in held if policy["active"]] == ["2028.2"]
        assert await actors(http, tokens, "policy_activated") == ["dev-pat-admin"]  # the refused one left nothing

    async with signed_in(app, Role.GUARDIAN) as console:
        page = await console.get("/console/policies")
        refused = await console.post("/console/policies/activate", data=form | {"csrf_token": form_token(page.text)})
        assert refused.status_code == 403


async def test_the_policies_page_is_for_the_roles_the_api_shows_replays_to(
    app: FastAPI, http: httpx.AsyncClient, tokens: Tokens
) -> None:
    for role in DEV_ROLES:
        api = await http.get("/v1/policy-replays/any/changes", headers=tokens.headers("CONTROLLER", role))
        reviewer = api.status_code == 404  # past the role check, no such replay
        async with signed_in(app, role) as console:
            page = await console.get("/console/policies")
            assert page.status_code == (200 if reviewer else 403), (role, api.status_code)
            assert ('href="/console/policies"' in (await console.get("/console/")).text) == reviewer


async def test_the_audit_page_verifies_the_trail_in_words_and_lists_signed_checkpoints(
    app: FastAPI, http: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(http, tokens, "RXT01")
    await submit(http, tokens, changed({}))
    checkpoint = await sign(app)
    async with signed_in(app, Role.AUDITOR) as console:
        verified = (await http.get("/v1/audit/verify", headers=auditor(tokens))).json()
        assert verified["valid"] is True and verified["checkpoints"] == 1
        page = await console.get("/console/audit")
        assert page.status_code == 200, page.text
        assert_page(page)
        words = " ".join(html.unescape(page.text).split())
        assert "The audit trail verifies" in words
        events = verified["events"] + 1  # the API's verification is an event of its own
        assert f"all {events} events recompute to the chain's head, and agree with all 1 signed checkpoints" in words
        assert f"The newest {events - checkpoint.seq} events are not covered by a signed checkpoint yet." in words
        assert f'Events checked </dt> <dd class="nhsuk-summary-list__value"> {events} </dd>' in words
        rows = tables(page)["checkpoints"][1:]
        assert rows == [
            [str(checkpoint.number), str(checkpoint.seq), checkpoint.time, checkpoint.kid, "Valid, by a published key"]
            + ["Yes"]
        ]
        # Viewing the page is the API's verification: recorded in the trail as that check is.
        assert await actors(http, tokens, "audit_verified") == ["auditor-1", "dev-pat-auditor"]

        # A trail changed behind the service's back is reported as broken, at the event changed.
        await tamper(app, "UPDATE audit_events SET outcome = 'altered' WHERE seq = 1")
        broken = await console.get("/console/audit")
        words = " ".join(html.unescape(broken.text).split())
        assert "The audit trail does not verify" in words and "It first disagrees at event 1." in words
        assert tables(broken)["findings"][1][0] == "1"


async def test_the_audit_page_is_for_the_roles_the_api_gives_the_trail_to(
    app: FastAPI, http: httpx.AsyncClient, tokens: Tokens
) -> None:
    for role in DEV_ROLES:
        api = await http.get("/v1/audit/verify", headers=tokens.headers("CONTROLLER", role))
        async with signed_in(app, role) as console:
            assert (await console.get("/console/audit")).status_code == api.status_code, role
            offered = 'href="/console/audit"' in (await console.get("/console/")).text
            assert offered == (api.status_code == 200), role  # the header offers it only to those roles
