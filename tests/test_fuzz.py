"""Property-based API testing: schemathesis sends generated requests to every operation, as every role.

No answer may be a 5xx or break the published contract (status code, content type, headers,
body), and a request that breaks the contract's own schema must be refused. The app is called
in-process over ASGI, on SQLite and PostgreSQL, after seeding an organisation, an agreement,
requests in each state and webhook endpoints with deliveries, so that the paths naming one of
them reach past the 404. Hypothesis is derandomized and bounded, so every run sends the same
cases.

What each operation gets, where a role is refused an operation when the service answers a valid
request 403 "this needs one of the roles" (a refused role's answer depends on nothing else sent:
a body that is not JSON or too large is refused before the role is looked at, for every role alike):
- every role, on both databases: one valid request, naming what was seeded where the path names
  something, its answer checked like any other; for a refused role, that answer is the refusal;
- on PostgreSQL, the first role (in `Role`'s order) that may call it: the full sweep (FULL_SWEEP
  examples of each strategy), as every role had when the sweep was run once per role and database;
  each other role that may: SHORT_SWEEP examples of each, for its own view of the operation;
- on SQLite, the first role that may call it: SHORT_SWEEP examples of each strategy, for what the
  dialect stores and refuses differently (an integer past 64 bits, say).
The operations are dealt into SHARDS tests, each on a freshly seeded database, so that the sweep
spreads over pytest-xdist's workers.
"""

import base64
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python import asgi
from schemathesis.schemas import APIOperation

from app.main import create_app
from app.models.vocabulary import Role
from app.services.audit import checkpoints
from tests.factories import EPR_ASSET, register_agreement, register_organisation, submit
from tests.rules.baseline import baseline_request, changed
from tests.support import Tokens, replay_window, settings_for
from tests.test_incidents import incident, made_disclosure

AGENCY_ORG = "RXT01"
CONTROLLER_ORG = "CONTROLLER"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
FULL_SWEEP = 40  # examples per strategy: an operation's full sweep (PostgreSQL, its first role)
SHORT_SWEEP = 10  # another role's view of it on PostgreSQL; its first role's on SQLite
SHARDS = 3
ROLE_REFUSAL = "this needs one of the roles: "  # app/http/roles.py require_roles: the roles that may follow
FUZZ_SETTINGS = settings(
    max_examples=FULL_SWEEP,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
# We send a valid token for the role under test ourselves; schemathesis is not to vary it. A body over the
# size limit is refused with 413 before it is parsed, which is as much a rejection as a 422.
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"with-security-parameters": False},
        "checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}},
    }
)
RATIONALE = "The recipient has to say which team will hold the records."
PUBLIC_HOOK = "https://93.184.215.14/hook"  # an address literal: registering it needs no DNS


@pytest.fixture
async def seeded(client: httpx.AsyncClient, tokens: Tokens, app: FastAPI) -> dict[str, list[str]]:
    """Things for the path parameters to name: requests in each state, endpoints with deliveries, the policies,
    a replay, a signed checkpoint."""
    await register_organisation(client, tokens, AGENCY_ORG)
    agreement = await register_agreement(client, tokens)
    agency, admin = tokens.agency(AGENCY_ORG), tokens.admin()
    guardian = tokens.headers(CONTROLLER_ORG, Role.GUARDIAN, sub="guardian-seed")
    endpoints = []
    for headers in (agency, admin):
        registered = await client.post(
            "/v1/webhook-endpoints",
            json={"url": PUBLIC_HOOK, "event_types": ["sharing_request.decided"]},
            headers=headers,
        )
        assert registered.status_code == 201, registered.text
        endpoints.append(registered.json()["id"])
    bodies = [
        baseline_request(),
        changed({"recipient.onward_sharing": True}),
        changed({"recipient.onward_sharing": True, "reference": "CASE-INFO"}),
        changed(
            {
                "urgency": "emergency",
                "purpose.category": "safeguarding_adult",
                "legal_basis.article_6": "vital_interests",
                "legal_basis.article_9": "substantial_public_interest",
                "legal_basis.schedule1_paragraph": 18,
                "legal_basis.confidentiality": "overriding_public_interest",
            }
        ),
    ]
    requests = []
    for body in bodies:
        response = await submit(client, tokens, body)
        assert response.status_code == 201, response.text
        requests.append(response.json()["id"])
    asked = requests[2]
    assert (await client.post(f"/v1/sharing-requests/{asked}/claim", headers=guardian)).status_code == 200
    review = await client.post(
        f"/v1/sharing-requests/{asked}/review",
        json={"outcome": "request_information", "rationale": RATIONALE},
        headers=guardian,
    )
    assert review.status_code == 200, review.text
    # A consultation to name: asked while claimed, the claim then given back so the request waits as before.
    consulted = requests[1]
    assert (await client.post(f"/v1/sharing-requests/{consulted}/claim", headers=guardian)).status_code == 200
    consultation = await client.post(
        f"/v1/sharing-requests/{consulted}/consultations",
        json={
            "role": "dpo",
            "question": "Is the onward sharing in the record of processing?",
            "due_at": "2099-01-01T00:00:00Z",
        },
        headers=guardian,
    )
    assert consultation.status_code == 201, consultation.text
    assert (await client.post(f"/v1/sharing-requests/{consulted}/release", headers=guardian)).status_code == 200
    # A disclosure to name: an asset holding what an approval covers, then one more approval.
    asset = EPR_ASSET | {"data_categories": ["demographics"]}
    assert (await client.post("/v1/information-assets", json=asset, headers=admin)).status_code == 201
    assert (await submit(client, tokens, baseline_request())).status_code == 201
    disclosures = (await client.get("/v1/disclosures", headers=admin)).json()["items"]
    assert disclosures, "no disclosure to name"
    deliveries = []
    for endpoint, headers in zip(endpoints, (agency, admin), strict=True):
        page = await client.get(f"/v1/webhook-endpoints/{endpoint}/deliveries", headers=headers)
        deliveries += [delivery["id"] for delivery in page.json()["items"]]
    assert deliveries, "no delivery to name"
    replayed = await client.post(
        "/v1/policies/uk-caldicott-baseline/2027.1/replay", json=replay_window(), headers=guardian
    )
    assert replayed.status_code == 201, replayed.text
    attached = await client.post(
        f"/v1/sharing-requests/{requests[0]}/attachments",
        data={"kind": "other"},
        files={"file": ("note.txt", b"Seen by IG.\n", "text/plain")},
        headers=agency,
    )
    assert attached.status_code == 201, attached.text
    # An incident to name, against a disclosure made of a request of the agency's.
    disclosure = await made_disclosure(client, tokens, AGENCY_ORG)
    recorded = await client.post("/v1/incidents", json=incident(disclosure), headers=guardian)
    assert recorded.status_code == 201, recorded.text
    signed = await checkpoints.make(
        app.state.wiring.sessionmaker, keys=app.state.wiring.settings.audit_keys(sign=True), log_name=CONTROLLER_ORG
    )
    assert signed is not None
    return {
        "request_id": requests,
        "code": [AGENCY_ORG, agreement["code"]],
        "endpoint_id": endpoints,
        "delivery_id": deliveries,
        "name": ["uk-caldicott-baseline"],
        "version": ["2026.1", "2027.1", "2027.2", "2028.1", "2028.2"],
        "replay_id": [replayed.json()["id"]],
        "attachment_id": [attached.json()["id"]],
        "number": [str(signed.number)],
        "check_name": ["CP6.court_order_verified", "human_involvement"],
        "consultation_id": [consultation.json()["id"]],
        "incident_id": [recorded.json()["id"]],
        "disclosure_id": [disclosure["id"] for disclosure in disclosures],
    }


@pytest.fixture
async def fuzz_schema(database_url: str, seeded: dict[str, list[str]]) -> AsyncIterator[Any]:
    """The contract the app serves, bound to an app of its own: schemathesis calls it from its own event loop."""
    application = create_app(settings_for(database_url, webhook_allow_private=True))
    yield schemathesis.openapi.from_asgi("/openapi.json", application, config=CONFIG)
    asgi.shutdown_lifespans()  # the app's lifespan disposes of its engine, in that loop


def strategies(operation: APIOperation, seeded: dict[str, list[str]]) -> list[st.SearchStrategy[Any]]:
    """Valid cases, invalid ones where there is something to break, and valid ones naming what was seeded."""
    found = [operation.as_strategy(GenerationMode.POSITIVE)]
    if operation.query or operation.headers or operation.body:  # a plain text path parameter cannot be broken
        found.append(operation.as_strategy(GenerationMode.NEGATIVE))
    names = [parameter.name for parameter in operation.path_parameters]
    if names:
        choices = [
            dict(zip(names, values, strict=True)) for values in itertools.product(*(seeded[name] for name in names))
        ]
        found.append(
            st.one_of([operation.as_strategy(GenerationMode.POSITIVE, path_parameters=choice) for choice in choices])
        )
    return found


def token_holder(tokens: Tokens, role: Role) -> dict[str, str]:
    return tokens.headers(AGENCY_ORG if role is Role.AGENCY else CONTROLLER_ORG, role, sub=f"fuzz-{role}")


def send(strategy: st.SearchStrategy[Any], examples: int, headers: dict[str, str]) -> list[Any]:
    """Up to `examples` cases of `strategy` sent with `headers`, each answer checked; the answers."""
    answers = []

    @settings(FUZZ_SETTINGS, max_examples=examples)
    @given(case=strategy)
    def one(case: Any) -> None:
        answers.append(case.call_and_validate(headers=headers, checks=CHECKS))

    one()
    return answers


def refused_for_want_of_a_role(answer: Any) -> bool:
    return answer.status_code == 403 and (answer.json().get("detail") or "").startswith(ROLE_REFUSAL)


def shard_of(operations: list[APIOperation], shard: int) -> list[APIOperation]:
    """Every SHARDS-th operation by label, from `shard` on: neighbours (often the same path) go to different shards."""
    return sorted(operations, key=lambda operation: operation.label)[shard::SHARDS]


@pytest.mark.parametrize("shard", range(SHARDS))
def test_every_operation_keeps_the_contract(
    fuzz_schema: Any, seeded: dict[str, list[str]], tokens: Tokens, database_kind: str, shard: int
) -> None:
    failures, refusals_seen = [], 0
    operations = shard_of([result.ok() for result in fuzz_schema.get_all_operations()], shard)
    for operation in operations:
        found = strategies(operation, seeded)
        # A valid request, naming what was seeded if it can: for a role that may not call the operation, the refusal,
        # checked against the contract like any other answer.
        probe = found[-1] if operation.path_parameters else found[0]
        allowed = []
        for role in Role:
            try:
                answers = send(probe, 1, token_holder(tokens, role))
            except (Exception, BaseExceptionGroup) as failure:  # schemathesis reports failures as an exception group
                failures.append(f"{operation.label} as {role}: {failure}")
                answers = []
            if answers and all(refused_for_want_of_a_role(answer) for answer in answers):
                refusals_seen += 1
            else:
                allowed.append(role)
        if not allowed:
            continue
        sweeps = [(allowed[0], FULL_SWEEP if database_kind == "postgres" else SHORT_SWEEP)]
        if database_kind == "postgres":
            sweeps += [(role, SHORT_SWEEP) for role in allowed[1:]]
        for role, examples in sweeps:
            for strategy in found:
                try:
                    send(strategy, examples, token_holder(tokens, role))
                except (Exception, BaseExceptionGroup) as failure:
                    failures.append(f"{operation.label} as {role}: {failure}")
    assert not failures, "\n\n".join(failures)
    # Refused roles are spared the sweeps: were refusals no longer recognised, every role would be swept (slowly).
    assert operations and refusals_seen, (
        "no role was refused any operation of this shard: has the refusal's wording changed?"
    )


# Regressions: each bug the fuzzing found, pinned by a plain test on both databases.


def problem_naming(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_a_nul_character_in_stored_text_is_422_not_a_database_error(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    # PostgreSQL cannot store U+0000 in text or jsonb: these were 500s there.
    organisation = {"code": "NSP01", "name": "Northshire\x00Police", "type": "police", "dspt_status": "not_published"}
    problem_naming(await client.post("/v1/organisations", json=organisation, headers=tokens.admin()), "name")
    await register_organisation(client, tokens, AGENCY_ORG)
    problem_naming(
        await submit(client, tokens, changed({"purpose.description": "Referral for continuing care\x00"})),
        "purpose.description",
    )
    problem_naming(
        await submit(client, tokens, changed({"recipient.access_roles": ["nurse\x00"]})), "recipient.access_roles[0]"
    )


async def test_a_nul_character_in_a_looked_up_name_is_422_not_a_database_error(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, AGENCY_ORG)
    problem_naming(await client.get("/v1/organisations", params={"after": "R\x00"}, headers=tokens.admin()), "after")
    problem_naming(await client.get("/v1/organisations/R%00", headers=tokens.admin()), "code")
    problem_naming(await client.get("/v1/sharing-requests/x%00", headers=tokens.agency(AGENCY_ORG)), "request_id")
    forged = base64.urlsafe_b64encode(json.dumps(["2026-11-26T09:00:00+00:00", "\x00"]).encode()).decode()
    problem_naming(
        await client.get("/v1/sharing-requests", params={"cursor": forged}, headers=tokens.agency(AGENCY_ORG)), "cursor"
    )


async def test_a_cursor_with_an_integer_past_64_bits_is_422(client: httpx.AsyncClient, tokens: Tokens) -> None:
    forged = base64.urlsafe_b64encode(json.dumps([2**70]).encode()).decode()
    auditor = tokens.headers(CONTROLLER_ORG, Role.AUDITOR)
    problem_naming(await client.get("/v1/audit/events", params={"cursor": forged}, headers=auditor), "cursor")


@pytest.mark.parametrize("to", ["0001-01-05", "0", "1700000000", "2026-11-26T00:00:00"])
async def test_review_metrics_take_only_calendar_dates_inside_the_calendar(
    client: httpx.AsyncClient, tokens: Tokens, to: str
) -> None:
    # "0001-01-05" was a 500 (the default period starts 30 days earlier); numbers were read as Unix times.
    guardian = tokens.headers(CONTROLLER_ORG, Role.GUARDIAN)
    problem_naming(await client.get("/v1/reports/review-metrics", params={"to": to}, headers=guardian), "to")


async def test_agreement_dates_must_be_written_as_dates(client: httpx.AsyncClient, tokens: Tokens) -> None:
    body = {
        "code": "ISA-1",
        "title": "Test agreement",
        "parties": [AGENCY_ORG],
        "purposes": ["direct_care"],
        "data_categories": ["demographics"],
        "valid_from": 0,
        "valid_until": "2099-12-31",
    }
    problem_naming(await client.post("/v1/sharing-agreements", json=body, headers=tokens.admin()), "valid_from")


async def test_a_report_period_at_the_end_of_the_calendar_is_422_not_500(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    auditor = tokens.headers(CONTROLLER_ORG, Role.AUDITOR)
    problem_naming(
        await client.get("/v1/audit/events", params={"from": "0001-01-01T00:00:00+01:00"}, headers=auditor), "from"
    )
    problem_naming(await client.get("/v1/audit/events", params={"to": "9999-12-31"}, headers=auditor), "to")
