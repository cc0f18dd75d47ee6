"""Query parameters: one an operation does not take, or a single-value one sent twice, is a 400 naming it."""

import httpx

from app.errors import PROBLEM_MEDIA_TYPE
from app.models.vocabulary import Role
from tests.factories import register_organisation
from tests.support import Tokens


def guardian(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")


async def test_a_misspelt_filter_is_a_400_naming_it_not_a_list_of_everything(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    response = await client.get("/v1/sharing-requests?refernce=CASE-1", headers=tokens.agency("RXT01"))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem = response.json()
    assert problem["type"] == "/problems/bad-request"
    assert problem["errors"] == [
        {"field": "refernce", "location": "query", "message": "not a parameter of this operation"}
    ]


async def test_a_single_value_filter_sent_twice_is_a_400_naming_it(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    response = await client.get("/v1/sharing-requests?status=approved&status=refused", headers=tokens.agency("RXT01"))
    assert response.status_code == 400, response.text
    assert [error["field"] for error in response.json()["errors"]] == ["status"]
    once = await client.get("/v1/sharing-requests?status=approved", headers=tokens.agency("RXT01"))
    assert once.status_code == 200


async def test_every_unknown_parameter_is_named_once(client: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await client.get("/v1/review-queue?a=1&b=2&a=3&limit=5", headers=guardian(tokens))
    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["a", "b"]


async def test_parameters_declared_by_a_dependency_are_known(client: httpx.AsyncClient, tokens: Tokens) -> None:
    # cursor and limit come from the page's aliases, status through an alias of its own: all are the operation's.
    response = await client.get(
        "/v1/sharing-requests", params={"limit": 5, "status": "approved"}, headers=guardian(tokens)
    )
    assert response.status_code == 200, response.text


async def test_the_check_holds_on_routes_without_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz?verbose=1")).status_code == 400
    assert (await client.get("/healthz")).status_code == 200


async def test_a_post_with_an_unknown_parameter_changes_nothing(client: httpx.AsyncClient, tokens: Tokens) -> None:
    response = await client.post(
        "/v1/organisations?dry_run=true",
        json={"code": "RXT02", "name": "Organisation", "type": "nhs_trust", "dspt_status": "standards_met"},
        headers=tokens.admin(),
    )
    assert response.status_code == 400
    assert (await client.get("/v1/organisations/RXT02", headers=tokens.admin())).status_code == 404
