"""Fair-use limits: identifiers per request, webhook endpoints per organisation, and the size of a problem document."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.main import create_app
from app.models.request_body import DIRECT_CARE_REFERRAL, POLICE_PERMISSIVE_GATEWAY, SharingRequestBody
from app.models.vocabulary import Role
from app.platform.config import Settings
from tests.factories import register_organisation, submit
from tests.rules.baseline import baseline_request, changed
from tests.support import Tokens, settings_for

CONTRACT = create_app(settings_for("sqlite+aiosqlite:///:memory:")).openapi()
PUBLIC_HOOK = "https://93.184.215.14/hook"
LISTED_ERRORS = 50


def identifiers(count: int) -> list[str]:
    return [f"{9990000000 + number}" for number in range(count)]


def listing(count: int) -> dict[str, Any]:
    return changed({"subjects.count": count, "subjects.identifiers": identifiers(count)})


@pytest.fixture
async def strict(client: httpx.AsyncClient, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app with lower limits than the defaults, over the database `client` has just emptied and prepared."""
    application = create_app(settings_for(database_url, max_identifiers_per_request=3, max_webhook_endpoints_per_org=2))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as http:
        yield http
    await application.state.wiring.engine.dispose()


def fields(response: httpx.Response) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


# --- Identifiers: a bulk request names a count, not a list ---


def test_the_defaults_and_the_contract_say_1000_identifiers_and_10_endpoints() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.max_identifiers_per_request, settings.max_webhook_endpoints_per_org) == (1000, 10)
    assert CONTRACT["components"]["schemas"]["Subjects"]["properties"]["identifiers"]["maxItems"] == 1000


def test_the_setting_may_lower_the_ceiling_but_not_raise_it() -> None:
    assert settings_for("sqlite://", max_identifiers_per_request=5).max_identifiers_per_request == 5
    with pytest.raises(ValueError, match="max_identifiers_per_request"):
        settings_for("sqlite://", max_identifiers_per_request=1001)


@pytest.mark.parametrize("example", [DIRECT_CARE_REFERRAL, POLICE_PERMISSIVE_GATEWAY], ids=["direct_care", "police"])
def test_the_shipped_examples_stay_within_the_limit(example: dict[str, Any]) -> None:
    SharingRequestBody.model_validate(example)


async def test_1000_identifiers_are_taken(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    response = await submit(client, tokens, listing(1000))
    assert response.status_code == 201, response.text
    assert len(response.json()["request"]["subjects"]["identifier_hashes"]) == 1000


async def test_1001_identifiers_are_422_saying_to_name_a_count(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    response = await submit(client, tokens, listing(1001))
    assert response.status_code == 422, response.text
    assert fields(response) == ["subjects.identifiers"]
    message = response.json()["errors"][0]["message"]
    assert "1000" in message and "subjects.count" in message
    assert (await client.get("/v1/sharing-requests", headers=agency)).json()["items"] == []


async def test_10000_identifiers_give_one_error_not_ten_thousand(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    body = changed(
        {"subjects.count": 10_000, "subjects.identifiers": [12345] * 10_000}
    )  # not even strings: refused for their number first
    response = await submit(client, tokens, body)
    assert response.status_code == 422
    assert fields(response) == ["subjects.identifiers"]


async def test_a_lower_setting_is_enforced_on_submission_dry_run_and_amendment(
    strict: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(strict, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    assert (await submit(strict, tokens, listing(3))).status_code == 201

    submitted = await submit(strict, tokens, listing(4))
    evaluated = await strict.post("/v1/evaluate", json=listing(4), headers=agency)
    assert [(submitted.status_code, fields(submitted)), (evaluated.status_code, fields(evaluated))] == [
        (422, ["subjects.identifiers"])
    ] * 2
    assert "at most 3" in submitted.json()["errors"][0]["message"]

    referred = (await submit(strict, tokens, changed({"recipient.onward_sharing": True}))).json()
    guardian = tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")
    assert (await strict.post(f"/v1/sharing-requests/{referred['id']}/claim", headers=guardian)).status_code == 200
    asked = {"outcome": "request_information", "rationale": "Please name the onward recipient and the agreement."}
    assert (
        await strict.post(f"/v1/sharing-requests/{referred['id']}/review", json=asked, headers=guardian)
    ).status_code == 200
    amended = await strict.post(
        f"/v1/sharing-requests/{referred['id']}/amendments",
        json={"request": listing(4), "note": "more people"},
        headers=agency,
    )
    assert (amended.status_code, fields(amended)) == (422, ["request.subjects.identifiers"])
    still = await strict.get(f"/v1/sharing-requests/{referred['id']}", headers=agency)
    assert (still.json()["status"], still.json()["version"]) == ("information_requested", 1)


# --- Webhook endpoints per organisation ---


async def register_hook(client: httpx.AsyncClient, headers: dict[str, str], number: int = 0) -> httpx.Response:
    return await client.post(
        "/v1/webhook-endpoints",
        json={"url": f"{PUBLIC_HOOK}/{number}", "event_types": ["sharing_request.decided"]},
        headers=headers,
    )


async def test_the_eleventh_endpoint_of_an_organisation_is_409(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "RXT02")
    agency = tokens.agency("RXT01")
    created = [await register_hook(client, agency, number) for number in range(10)]
    assert [response.status_code for response in created] == [201] * 10

    refused = await register_hook(client, agency, 10)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert "at most 10 webhook endpoints" in refused.json()["detail"]
    assert len((await client.get("/v1/webhook-endpoints", headers=agency, params={"limit": 200})).json()["items"]) == 10

    # Another organisation, and the controller, count their own.
    assert (await register_hook(client, tokens.agency("RXT02"))).status_code == 201
    assert (await register_hook(client, tokens.admin())).status_code == 201
    # Deleting one makes room again.
    assert (await client.delete(f"/v1/webhook-endpoints/{created[0].json()['id']}", headers=agency)).status_code == 204
    assert (await register_hook(client, agency, 11)).status_code == 201


async def test_the_endpoint_limit_is_a_setting_and_holds_under_concurrent_registrations(
    strict: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(strict, tokens, "RXT01")
    agency = tokens.agency("RXT01")
    answers = await asyncio.gather(*(register_hook(strict, agency, number) for number in range(8)))
    assert Counter(response.status_code for response in answers) == {201: 2, 409: 6}
    assert (
        "at most 2 webhook endpoints"
        in next(response for response in answers if response.status_code == 409).json()["detail"]
    )


def test_the_contract_documents_the_409_of_a_registration() -> None:
    assert "409" in CONTRACT["paths"]["/v1/webhook-endpoints"]["post"]["responses"]


# --- Problem documents: the first 50 errors and how many there were ---


async def test_a_body_with_ten_thousand_errors_lists_fifty_and_counts_them_all(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    body = baseline_request() | {f"unknown_{number}": 0 for number in range(10_000)}
    response = await submit(client, tokens, body)

    assert response.status_code == 422
    problem = response.json()
    assert len(problem["errors"]) == LISTED_ERRORS
    assert problem["error_count"] == 10_000
    assert problem["errors"][0] == {
        "field": "unknown_0",
        "location": "body",
        "message": "Extra inputs are not permitted",
    }
    assert problem["detail"].endswith("; and 9950 more")
    assert len(response.content) < 10_000


async def test_a_few_errors_are_all_listed_and_counted(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    response = await submit(client, tokens, changed({"urgency": "soon", "recipient.retention_days": 0}))
    problem = response.json()
    assert (response.status_code, problem["error_count"], fields(response)) == (
        422,
        2,
        ["urgency", "recipient.retention_days"],
    )
    assert "more" not in problem["detail"]


async def test_a_problem_with_no_field_errors_has_no_count(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    response = await client.get(
        "/v1/sharing-requests/00000000-0000-0000-0000-000000000000", headers=tokens.agency("RXT01")
    )
    assert response.status_code == 404
    assert "errors" not in response.json() and "error_count" not in response.json()


def test_the_contract_documents_the_error_count() -> None:
    problem = CONTRACT["components"]["schemas"]["Problem"]
    assert problem["properties"]["error_count"]["anyOf"][0]["type"] == "integer"
    assert "50" in problem["properties"]["errors"]["description"]
