"""How much evidence one caller may attach: per request (count and bytes, 409), per organisation per London day (429
with Retry-After), and uploads in a rate class of their own; whatever is refused leaves nothing stored."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from app.main import create_app
from app.models.actions import RequestAction
from app.models.attachment import Attachment, AttachmentBlob
from app.models.audit import AuditEvent
from app.models.webhook import OutboxEvent, WebhookEventType
from app.services.attachments.quotas import london_day
from tests.rules.baseline import baseline_request
from tests.support import Tokens, settings_for
from tests.test_attachments import JPEG, PDF, PNG, TEXT, count, guardian, new_request, stored_files, upload


@asynccontextmanager
async def serving(database_url: str, **overrides: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app of its own with the test's limits, over the database `client` emptied."""
    application = create_app(settings_for(database_url, **overrides))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://testserver"
        ) as http:
            yield application, http
    finally:
        await application.state.wiring.engine.dispose()


async def kept(app: FastAPI) -> tuple[int, int, int, int]:
    """Attachments, contents, their audit events and their outbox events: what an upload leaves."""
    return (
        await count(app, Attachment),
        await count(app, AttachmentBlob),
        await count(app, AuditEvent, AuditEvent.action == RequestAction.ATTACHMENT_ADDED),
        await count(app, OutboxEvent, OutboxEvent.type == WebhookEventType.ATTACHMENT_ADDED),
    )


def refusal(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert (problem["type"], problem["status"]) == (f"/problems/{slug}", status)
    return problem


async def test_the_attachment_past_the_request_s_count_is_refused_and_nothing_of_it_is_kept(
    client: httpx.AsyncClient, app: FastAPI, tokens: Tokens, database_url: str
) -> None:
    request_id = await new_request(client, tokens)
    agency = tokens.agency("RXT01")
    async with serving(database_url, attachments_per_request=2) as (limited, http):
        assert [(await upload(http, agency, request_id, content)).status_code for content in (PDF, PNG)] == [201, 201]
        before, files = await kept(app), stored_files(limited)

        refused = await upload(http, guardian(tokens), request_id, JPEG, kind="other", filename="scan.jpg")

        problem = refusal(refused, 409, "attachment-quota")
        assert (problem["quota"], problem["quota_limit"], problem["quota_used"]) == ("attachments_per_request", 2, 2)
        assert "CALDICOTT_ATTACHMENTS_PER_REQUEST" in problem["detail"]
        # Refused before its body was read: the connection cannot carry another request.
        assert refused.headers["connection"] == "close"
        assert await kept(app) == before == (2, 2, 2, 2)
        assert stored_files(limited) == files


async def test_the_file_past_the_request_s_bytes_is_refused_after_it_arrived_and_its_content_removed(
    client: httpx.AsyncClient, app: FastAPI, tokens: Tokens, database_url: str
) -> None:
    request_id = await new_request(client, tokens)
    agency = tokens.agency("RXT01")
    async with serving(database_url, attachment_bytes_per_request=len(PDF) + len(PNG)) as (limited, http):
        assert (await upload(http, agency, request_id, PDF)).status_code == 201
        files = stored_files(limited)
        big = TEXT * 2  # longer than the PNG: past the request's bytes by a few
        assert len(PDF) + len(big) > len(PDF) + len(PNG)

        refused = await upload(http, agency, request_id, big, kind="consent_form", filename="consent.txt")

        problem = refusal(refused, 409, "attachment-quota")
        assert (problem["quota"], problem["quota_limit"], problem["quota_used"]) == (
            "attachment_bytes_per_request",
            len(PDF) + len(PNG),
            len(PDF),
        )
        assert await kept(app) == (1, 1, 1, 1)
        assert stored_files(limited) == files
        # What still fits is taken.
        assert (await upload(http, agency, request_id, PNG, kind="other", filename="scan.png")).status_code == 201


async def upload_held(
    http: httpx.AsyncClient, headers: dict[str, str], request_id: str, content: bytes, barrier: asyncio.Barrier
) -> httpx.Response:
    """Upload `content`, its body's second half sent only once every upload at the barrier has begun its body (so each
    has passed the check made before the body is read)."""
    built = httpx.Request(
        "POST", "http://testserver/", data={"kind": "other"}, files={"file": ("scan", content, "application/pdf")}
    )
    body = built.read()

    async def halves() -> AsyncIterator[bytes]:
        yield body[: len(body) // 2]
        await asyncio.wait_for(barrier.wait(), 10)
        yield body[len(body) // 2 :]

    return await http.post(
        f"/v1/sharing-requests/{request_id}/attachments",
        content=halves(),
        headers=headers | {"Content-Type": built.headers["Content-Type"]},
    )


async def test_two_uploads_at_once_for_the_last_place_take_it_once(
    client: httpx.AsyncClient, app: FastAPI, tokens: Tokens, database_url: str
) -> None:
    request_id = await new_request(client, tokens)
    barrier = asyncio.Barrier(2)
    async with serving(database_url, attachments_per_request=1) as (_, http):
        answers = await asyncio.gather(
            upload_held(http, tokens.agency("RXT01"), request_id, PDF, barrier),
            upload_held(http, guardian(tokens), request_id, PNG, barrier),
        )
    assert sorted(answer.status_code for answer in answers) == [201, 409], [answer.text for answer in answers]
    # Counted after the other's commit (not refused as a concurrent change of the request): it found the place taken.
    problem = refusal(max(answers, key=lambda answer: answer.status_code), 409, "attachment-quota")
    assert (problem["quota"], problem["quota_used"]) == ("attachments_per_request", 1)
    assert await kept(app) == (1, 1, 1, 1)


async def test_an_organisation_s_bytes_for_the_london_day_are_capped_with_retry_after_midnight(
    client: httpx.AsyncClient, app: FastAPI, tokens: Tokens, database_url: str
) -> None:
    first, second = await new_request(client, tokens), await new_request(client, tokens)
    agency = tokens.agency("RXT01")
    async with serving(database_url, attachment_bytes_per_org_per_day=len(PDF) + 8) as (_, http):
        assert (await upload(http, agency, first, PDF)).status_code == 201

        # Another request of the same organisation: the day's bytes are the organisation's.
        refused = await upload(http, agency, second, PNG, kind="other", filename="scan.png")
        now = datetime.now(UTC)

        problem = refusal(refused, 429, "attachment-day-quota")
        assert (problem["quota"], problem["quota_limit"], problem["quota_used"]) == (
            "attachment_bytes_per_org_per_day",
            len(PDF) + 8,
            len(PDF),
        )
        until_midnight = (london_day(now)[1] - now).total_seconds()
        assert abs(int(refused.headers["Retry-After"]) - until_midnight) <= 5
        assert await kept(app) == (1, 1, 1, 1)

        # Another organisation's uploads are its own: a guardian of the controller attaches the same file.
        assert (await upload(http, guardian(tokens), second, PNG, kind="other")).status_code == 201

        # Yesterday's uploads (London time) no longer count.
        async with app.state.wiring.sessionmaker() as session, session.begin():
            yesterday = london_day(now)[0] - timedelta(minutes=1)
            await session.exec(update(Attachment).where(Attachment.request_id == first).values(uploaded_at=yesterday))  # type: ignore[call-overload,arg-type]
        assert (await upload(http, agency, second, PNG, kind="other")).status_code == 201


async def test_uploads_have_their_own_bucket_so_an_agency_at_its_limit_still_submits(
    client: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    request_id = await new_request(client, tokens)
    agency = tokens.agency("RXT01")
    async with serving(database_url, rate_limit_uploads_quota=2, rate_limit_uploads_window_seconds=3600) as (_, http):
        contents = (PDF, PNG, JPEG)
        answers = [await upload(http, agency, request_id, content, kind="other") for content in contents]
        assert [answer.status_code for answer in answers] == [201, 201, 429]
        assert answers[0].headers["RateLimit-Policy"] == '"uploads";q=2;w=3600'
        problem = refusal(answers[2], 429, "rate-limited")
        assert "uploads" in problem["detail"]

        submitted = await http.post(
            "/v1/sharing-requests",
            json=baseline_request() | {"reference": "AFTER-UPLOADS"},
            headers=agency | {"Idempotency-Key": "after-uploads"},
        )
        assert submitted.status_code == 201, submitted.text
        assert submitted.headers["RateLimit-Policy"].startswith('"writes";')
        scraped = (await http.get("/metrics")).text
    assert 'caldicott_rate_limited_total{route_class="uploads"} 1.0' in scraped


def test_the_london_day_follows_british_summer_time() -> None:
    # 23:30 UTC on 30 June is 00:30 on 1 July in London: the day began at 23:00 UTC.
    start, end = london_day(datetime(2026, 6, 30, 23, 30, tzinfo=UTC))
    assert (start.astimezone(UTC), end.astimezone(UTC)) == (
        datetime(2026, 6, 30, 23, 0, tzinfo=UTC),
        datetime(2026, 7, 1, 23, 0, tzinfo=UTC),
    )
    # The day the clocks go back is 25 hours long.
    start, end = london_day(datetime(2026, 10, 25, 12, 0, tzinfo=UTC))
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=25)
