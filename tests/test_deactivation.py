"""A token is only as good as its organisation: unregistered or deactivated, every role is refused;
the controller exists from the start."""

import asyncio
import uuid

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import text

from app.main import create_app, register_controller
from app.models.vocabulary import Role
from app.platform.config import Settings
from tests.conftest import empty_tables
from tests.factories import patch_current, register_organisation, submit
from tests.rules.baseline import baseline_request, changed
from tests.support import Tokens, settings_for
from tests.test_consultations import SAFEGUARDING

# What each role may do: an endpoint it is allowed to call, which answers 200 when its organisation is in good standing.
ALLOWED = {
    Role.AGENCY: "/v1/sharing-requests",
    Role.GUARDIAN: "/v1/review-queue",
    Role.AUDITOR: "/v1/audit/events",
    Role.ADMIN: "/v1/organisations",
    Role.IG_MANAGER: "/v1/sharing-requests",
    Role.SIRO: "/v1/information-assets",
    Role.DPO: "/v1/information-assets",
    Role.IAO: "/v1/information-assets",
    # A safeguarding lead reads the safeguarding requests, one by one: {safeguarding} is one made for the test.
    Role.SAFEGUARDING_LEAD: "/v1/sharing-requests/{safeguarding}",
}


async def allowed(client: httpx.AsyncClient, tokens: Tokens, role: Role) -> str:
    """The role's allowed path, with a safeguarding request submitted when the path names one."""
    path = ALLOWED[role]
    if "{safeguarding}" not in path:
        return path
    await register_organisation(client, tokens, "RXT01")
    submitted = await submit(client, tokens, SAFEGUARDING)
    assert submitted.status_code == 201, submitted.text
    return path.format(safeguarding=submitted.json()["id"])


# An organisation that may hold each role: any for agency, a configured guardian organisation for guardian
# (tests/support.py, GUARDIAN_ORGS), and only the controller for auditor and admin (app/powers.py).
HOLDER = {
    Role.AGENCY: "NSH01",
    Role.GUARDIAN: "LA01",
    Role.AUDITOR: "CONTROLLER",
    Role.ADMIN: "CONTROLLER",
    Role.IG_MANAGER: "CONTROLLER",
    Role.SIRO: "CONTROLLER",
    Role.DPO: "CONTROLLER",
    Role.IAO: "CONTROLLER",
    Role.SAFEGUARDING_LEAD: "CONTROLLER",
}


async def change_active(client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, code: str, active: bool) -> None:
    """By an admin's PATCH; the controller's own straight in the table,
    since once it is deactivated no admin is left to activate it."""
    if code != "CONTROLLER":
        assert (
            await patch_current(client, f"/v1/organisations/{code}", json={"active": active}, headers=tokens.admin())
        ).status_code == 200
        return
    async with app.state.wiring.engine.begin() as connection:
        await connection.execute(
            text("UPDATE organisations SET active = :active WHERE code = :code"), {"active": active, "code": code}
        )


@pytest.mark.parametrize("role", list(Role), ids=str)
async def test_every_role_of_an_unregistered_organisation_is_refused(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, role: Role
) -> None:
    org = HOLDER[role]
    if org == "CONTROLLER":
        await empty_tables(app)  # a database where even the controller is not registered yet
    # The organisation is checked before anything is looked up, so any request id will do.
    response = await client.get(ALLOWED[role].format(safeguarding=uuid.uuid4()), headers=tokens.headers(org, role))
    assert response.status_code == 403 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == f"organisation {org!r} is not registered"


@pytest.mark.parametrize("role", list(Role), ids=str)
async def test_every_role_of_a_deactivated_organisation_is_refused_until_it_is_active_again(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, role: Role
) -> None:
    org = HOLDER[role]
    if org != "CONTROLLER":
        await register_organisation(client, tokens, org)
    headers = tokens.headers(org, role)
    path = await allowed(client, tokens, role)
    assert (await client.get(path, headers=headers)).status_code == 200
    await change_active(client, tokens, app, org, False)
    refused = await client.get(path, headers=headers)
    assert refused.status_code == 403 and refused.json()["detail"] == f"organisation {org!r} is deactivated"
    await change_active(client, tokens, app, org, True)
    assert (await client.get(path, headers=headers)).status_code == 200


async def test_a_guardian_of_a_deactivated_organisation_cannot_decide(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "LA01", type="local_authority")
    referred = (await submit(client, tokens, changed({"recipient.onward_sharing": True}))).json()
    assert referred["status"] == "awaiting_review"
    assert (
        await patch_current(client, "/v1/organisations/LA01", json={"active": False}, headers=tokens.admin())
    ).status_code == 200
    claim = await client.post(
        f"/v1/sharing-requests/{referred['id']}/claim", headers=tokens.headers("LA01", Role.GUARDIAN)
    )
    assert claim.status_code == 403
    request = (await client.get(f"/v1/sharing-requests/{referred['id']}", headers=tokens.agency("RXT01"))).json()
    assert request["status"] == "awaiting_review"


async def test_a_deactivated_agency_cannot_submit(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    assert (
        await patch_current(client, "/v1/organisations/RXT01", json={"active": False}, headers=tokens.admin())
    ).status_code == 200
    assert (await submit(client, tokens, baseline_request())).status_code == 403


async def test_the_controller_is_registered_at_start_once_and_audited(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI
) -> None:
    await empty_tables(app)  # a new database, before the service's first start
    await register_controller(app)
    await register_controller(app)  # a second start finds it and changes nothing
    organisations = (await client.get("/v1/organisations", headers=tokens.admin())).json()["items"]
    assert [(row["code"], row["active"]) for row in organisations] == [("CONTROLLER", True)]
    events = (await client.get("/v1/audit/events", headers=tokens.headers("CONTROLLER", Role.AUDITOR))).json()["items"]
    registered = [event for event in events if event["action"] == "organisation_registered"]
    assert [(event["target_id"], event["actor_sub"]) for event in registered] == [("CONTROLLER", "system")]


async def test_processes_starting_together_register_the_controller_once_and_all_start(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, database_url: str
) -> None:
    """`serve --workers 2` on a new database: both look, one registers; the other must start all the same."""
    await empty_tables(app)
    others = [create_app(settings_for(database_url)) for _ in range(3)]
    try:
        await asyncio.gather(*(register_controller(other) for other in [app, *others]))
    finally:
        for other in others:
            await other.state.wiring.engine.dispose()
    organisations = (await client.get("/v1/organisations", headers=tokens.admin())).json()["items"]
    assert [row["code"] for row in organisations] == ["CONTROLLER"]
    events = (await client.get("/v1/audit/events", headers=tokens.headers("CONTROLLER", Role.AUDITOR))).json()["items"]
    assert [event["action"] for event in events].count("organisation_registered") == 1


def test_production_names_its_controller() -> None:
    production = {
        "env": "production",
        "database_url": "postgresql+asyncpg://db/caldicott",
        "jwks_url": "https://idp.example/jwks.json",
        "subject_key": "k" * 32,
        "audit_public_keys_file": "/etc/caldicott/audit-keys/audit-keys.json",
    }
    with pytest.raises(ValidationError, match="CALDICOTT_CONTROLLER_ORG"):
        Settings(**production, controller_name="Riverside NHS Foundation Trust")
    # A code is not a name a person can read: notices say who they come from (README, decision notices).
    with pytest.raises(ValidationError, match="CALDICOTT_CONTROLLER_NAME"):
        Settings(**production, controller_org="RXT")
    named = Settings(**production, controller_org="RXT", controller_name="Riverside NHS Foundation Trust")
    assert (named.controller_org, named.controller_name) == ("RXT", "Riverside NHS Foundation Trust")
