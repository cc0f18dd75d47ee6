"""Rate limits per organisation: a token bucket per verified org and class of route,
429 with the draft's fields, on both databases."""

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import select, text

from app.http.rate_limits import limit_rate, route_class_of
from app.http.tokens import mint_dev_token
from app.main import create_app
from app.models.organisation import Organisation
from app.models.rate_limit import RateLimitBucket, RouteClass
from app.models.vocabulary import DsptStatus, OrganisationType, Role
from app.services.operations.rate_limits import Quota
from tests.rules.baseline import baseline_request
from tests.support import Tokens, settings_for

# Reads: 3 at once, one more a second. Writes: 2 at once, one more a second. Reports: 2, one more every 5 seconds.
SMALL_LIMITS = {
    "rate_limit_reads_quota": 3,
    "rate_limit_reads_window_seconds": 3,
    "rate_limit_writes_quota": 2,
    "rate_limit_writes_window_seconds": 2,
    "rate_limit_reports_quota": 2,
    "rate_limit_reports_window_seconds": 10,
}
LIST = "/v1/sharing-requests"
AGENCIES = ("RXT01", "RXT02")
# Probes, the scrape, the audit keys and the public data uses register: no token, so no organisation to limit.
PUBLIC = {"GET /healthz", "GET /readyz", "GET /metrics", "GET /v1/audit/keys", "GET /v1/register"}
# draft-ietf-httpapi-ratelimit-headers: a String naming the policy, then its parameters.
POLICY_FIELD = re.compile(r'^"(writes|reads|reports|uploads)";q=\d+;w=\d+$')
LIMIT_FIELD = re.compile(r'^"(writes|reads|reports|uploads)";r=\d+;t=\d+$')


class Clock:
    """Wall-clock seconds that move only when a test moves them."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@asynccontextmanager
async def serving(database_url: str, clock: Clock, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An app of its own (an engine of its own:
    another process, on PostgreSQL) with small limits and the test's clock."""
    application = create_app(settings_for(database_url, **(SMALL_LIMITS | overrides)))
    application.state.wiring.rate_limiter.clock = clock
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://testserver"
        ) as http:
            yield http
    finally:
        await application.state.wiring.engine.dispose()


async def register_agencies(application: FastAPI) -> None:
    """Written directly rather than through the admin API, whose calls would spend the controller's tokens."""
    async with application.state.wiring.sessionmaker() as session, session.begin():
        for code in AGENCIES:
            await session.merge(
                Organisation(
                    code=code,
                    name=f"Organisation {code}",
                    type=OrganisationType.NHS_TRUST,
                    dspt_status=DsptStatus.STANDARDS_MET,
                )
            )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def limited(
    client: httpx.AsyncClient, app: FastAPI, database_url: str, clock: Clock
) -> AsyncIterator[httpx.AsyncClient]:
    """The small-limits app, over a database emptied (PostgreSQL's buckets too) by `client`,
    with two agencies registered."""
    await register_agencies(app)
    async with serving(database_url, clock) as http:
        yield http


def fields(response: httpx.Response) -> tuple[str, str]:
    return response.headers["RateLimit-Policy"], response.headers["RateLimit"]


async def test_a_bucket_empties_answers_429_with_retry_after_and_the_fields_then_refills(
    limited: httpx.AsyncClient, tokens: Tokens, clock: Clock
) -> None:
    agency = tokens.agency("RXT01")
    answers = [await limited.get(LIST, headers=agency) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    # r: whole requests left; t: seconds until the bucket is full again (one a second here).
    assert [fields(answer) for answer in answers] == [
        ('"reads";q=3;w=3', f'"reads";r={left};t={3 - left}') for left in (2, 1, 0)
    ]

    refused = await limited.get(LIST, headers=agency)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert (problem["type"], problem["status"], problem["title"]) == (
        "/problems/rate-limited",
        429,
        "Too many requests",
    )
    assert "RXT01" in problem["detail"] and "reads" in problem["detail"]
    # Retry-After and the reset parameter name the same moment, as the draft asks.
    assert refused.headers["Retry-After"] == "1"
    assert fields(refused) == ('"reads";q=3;w=3', '"reads";r=0;t=1')

    clock.advance(0.5)  # half a token: still refused, and still whole seconds
    assert (await limited.get(LIST, headers=agency)).headers["Retry-After"] == "1"
    clock.advance(0.5)
    assert (await limited.get(LIST, headers=agency)).status_code == 200
    assert (await limited.get(LIST, headers=agency)).status_code == 429

    clock.advance(60)  # refilled to the quota, never beyond it
    assert [(await limited.get(LIST, headers=agency)).status_code for _ in range(4)] == [200, 200, 200, 429]


async def test_one_organisation_spent_leaves_other_organisations_and_other_classes_alone(
    limited: httpx.AsyncClient, tokens: Tokens
) -> None:
    for _ in range(3):
        assert (await limited.get(LIST, headers=tokens.agency("RXT01"))).status_code == 200
    # The bucket is the organisation's: another person of RXT01 finds it spent too.
    assert (
        await limited.get(LIST, headers=tokens.headers("RXT01", Role.AGENCY, sub="someone-else"))
    ).status_code == 429

    other = await limited.get(LIST, headers=tokens.agency("RXT02"))
    assert (other.status_code, other.headers["RateLimit"]) == (200, '"reads";r=2;t=1')
    write = await limited.post("/v1/evaluate", json=baseline_request(), headers=tokens.agency("RXT01"))
    assert (write.status_code, write.headers["RateLimit"]) == (200, '"writes";r=1;t=1'), write.text
    # RXT01 is a guardian organisation in the tests (an auditor is the controller's alone):
    # its reports are a class of their own.
    report = await limited.get("/v1/reports/review-metrics", headers=tokens.headers("RXT01", Role.GUARDIAN))
    assert (report.status_code, report.headers["RateLimit"]) == (200, '"reports";r=1;t=5'), report.text


async def test_a_forged_token_claiming_an_organisation_spends_none_of_its_tokens(
    limited: httpx.AsyncClient, tokens: Tokens
) -> None:
    forger = settings_for("sqlite://", jwt_secret="not-the-service-secret-but-long-enough-0123456789")
    forged = {"Authorization": f"Bearer {mint_dev_token(forger, org='RXT01', roles=[Role.AGENCY], sub='mallory')}"}
    for _ in range(10):
        refused = await limited.get(LIST, headers=forged)
        assert refused.status_code == 401
        assert "RateLimit" not in refused.headers

    genuine = await limited.get(LIST, headers=tokens.agency("RXT01"))
    assert (genuine.status_code, genuine.headers["RateLimit"]) == (200, '"reads";r=2;t=1')


async def test_a_failed_or_rolled_back_request_still_spends_its_token(
    limited: httpx.AsyncClient, tokens: Tokens, app: FastAPI, database_kind: str
) -> None:
    agency = tokens.agency("RXT01")
    # Both fail inside the request's transaction, which is rolled back;
    # the tokens were taken in a transaction of their own.
    missing = await limited.post("/v1/sharing-requests/no-such-request/withdraw", headers=agency)
    invalid = await limited.post(
        "/v1/sharing-requests", json={"reference": "CASE-1"}, headers=agency | {"Idempotency-Key": "K-1"}
    )
    assert (missing.status_code, invalid.status_code) == (404, 422)
    assert invalid.headers["RateLimit"] == '"writes";r=0;t=2'

    refused = await limited.post("/v1/evaluate", json=baseline_request(), headers=agency)
    assert refused.status_code == 429
    if database_kind == "postgres":
        async with app.state.wiring.engine.connect() as connection:
            bucket = (await connection.execute(select(RateLimitBucket).where(RateLimitBucket.org == "RXT01"))).one()
        assert (bucket.route_class, bucket.tokens) == (RouteClass.WRITES, 0)


async def test_concurrent_requests_take_exactly_the_quota(limited: httpx.AsyncClient, tokens: Tokens) -> None:
    answers = await asyncio.gather(*(limited.get(LIST, headers=tokens.agency("RXT01")) for _ in range(10)))
    assert sorted(answer.status_code for answer in answers) == [200] * 3 + [429] * 7


async def test_processes_on_postgresql_share_each_bucket(
    limited: httpx.AsyncClient, tokens: Tokens, app: FastAPI, database_url: str, database_kind: str, clock: Clock
) -> None:
    if database_kind != "postgres":
        pytest.skip("on SQLite one process serves and its buckets are in memory")
    agency = tokens.agency("RXT01")
    async with serving(database_url, clock) as second:
        assert [(await limited.get(LIST, headers=agency)).status_code for _ in range(2)] == [200, 200]
        last = await second.get(LIST, headers=agency)
        assert (last.status_code, last.headers["RateLimit"]) == (200, '"reads";r=0;t=3')
        assert (await limited.get(LIST, headers=agency)).status_code == 429

        clock.advance(3)
        answers = await asyncio.gather(*(server.get(LIST, headers=agency) for server in (limited, second) * 5))
        assert sorted(answer.status_code for answer in answers) == [200] * 3 + [429] * 7
    # Unlogged: a take writes no WAL, so its commit waits for no flush.
    async with app.state.wiring.engine.connect() as connection:
        assert (
            await connection.execute(text("SELECT relpersistence::text FROM pg_class WHERE relname = 'rate_limits'"))
        ).scalar_one() == "u"


async def test_rate_limits_can_be_switched_off(
    client: httpx.AsyncClient, app: FastAPI, tokens: Tokens, database_url: str, clock: Clock
) -> None:
    await register_agencies(app)
    async with serving(database_url, clock, rate_limit_enabled=False, rate_limit_reads_quota=1) as http:
        answers = [await http.get(LIST, headers=tokens.agency("RXT01")) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert "RateLimit" not in answers[0].headers


def test_each_route_is_limited_in_its_class_and_the_probes_are_not() -> None:
    application = create_app(settings_for("sqlite+aiosqlite:///:memory:"))
    classes = {}
    for context in iter_route_contexts(application.routes):
        if isinstance(context.original_route, APIRoute) and context.include_in_schema:
            # The dependency reads the template from the request's route: it must be the whole path, as served.
            assert context.original_route.path_format == context.path_format
            for method in context.methods or ():
                label = f"{method} {context.path_format}"
                limited = any(depends.dependency is limit_rate for depends in context.dependencies)
                assert limited == (label not in PUBLIC), label
                classes[label] = route_class_of(method, context.path_format)
    expected = {
        "POST /v1/sharing-requests": RouteClass.WRITES,
        "POST /v1/sharing-requests/{request_id}/amendments": RouteClass.WRITES,
        "POST /v1/evaluate": RouteClass.WRITES,
        "PATCH /v1/organisations/{code}": RouteClass.WRITES,
        "DELETE /v1/webhook-endpoints/{endpoint_id}": RouteClass.WRITES,
        "GET /v1/sharing-requests/{request_id}": RouteClass.READS,
        "GET /v1/review-queue": RouteClass.READS,
        "GET /v1/reports/decision-log": RouteClass.REPORTS,
        "POST /v1/reports/subject-disclosures": RouteClass.REPORTS,
        "GET /v1/audit/events": RouteClass.REPORTS,
        "POST /v1/policies/{name}/{version}/replay": RouteClass.REPORTS,
        "GET /v1/policy-replays/{replay_id}/changes": RouteClass.REPORTS,
        "POST /v1/sharing-requests/{request_id}/attachments": RouteClass.UPLOADS,
        "POST /v1/sharing-agreements/{code}/attachments": RouteClass.UPLOADS,
        "GET /v1/sharing-requests/{request_id}/attachments": RouteClass.READS,
        "POST /v1/sharing-requests/{request_id}/attachments/{attachment_id}/verifications": RouteClass.WRITES,
    }
    assert {label: classes[label] for label in expected} == expected


def test_the_contract_documents_429_on_every_limited_operation() -> None:
    document = create_app(settings_for("sqlite+aiosqlite:///:memory:")).openapi()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            if label in PUBLIC:
                assert "429" not in operation["responses"], label
                continue
            too_many = operation["responses"]["429"]
            assert too_many["content"] == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }, label
            assert set(too_many["headers"]) == {"Retry-After", "RateLimit", "RateLimit-Policy"}, label


def test_the_fields_are_structured_as_the_draft_has_them() -> None:
    quota = Quota(requests=5000, window_seconds=10)
    assert quota.per_second == 500
    # A clock that went back refills nothing; a long pause refills no more than the quota.
    assert quota.refilled(3, since=100, now=90) == 3
    assert quota.refilled(3, since=100, now=10_000) == 5000
    for route_class in RouteClass:
        assert POLICY_FIELD.match(f'"{route_class}";q=1;w=1') and LIMIT_FIELD.match(f'"{route_class}";r=0;t=1')


async def test_successful_answers_carry_fields_the_draft_can_parse(limited: httpx.AsyncClient, tokens: Tokens) -> None:
    answer = await limited.get(LIST, headers=tokens.agency("RXT01"))
    policy, remaining = fields(answer)
    assert POLICY_FIELD.match(policy) and LIMIT_FIELD.match(remaining)
    assert "Retry-After" not in answer.headers
