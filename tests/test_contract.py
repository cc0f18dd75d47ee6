"""The published contract in openapi/ is exactly what the app serves, and says what partners need to know."""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from app.http import contract
from app.main import create_app
from app.models.agreement import SharingAgreementCreate, SharingAgreementUpdate
from app.models.audit import WitnessCheckpoints
from app.models.organisation import OrganisationCreate, OrganisationUpdate
from app.models.register import WithholdingBody
from app.models.report import SubjectQuery
from app.models.request_body import DIRECT_CARE_REFERRAL, POLICE_PERMISSIVE_GATEWAY, SharingRequestBody
from app.models.review import AmendmentBody, RetrospectiveReviewBody, ReviewBody
from app.models.verification import VerificationBody
from app.models.webhook import WebhookEndpointCreate, WebhookEndpointUpdate
from tests.factories import register_organisation, submit
from tests.support import Tokens, settings_for

REPO = Path(__file__).resolve().parents[1]
CONTRACT = REPO / "openapi" / "openapi.json"
SERVED = create_app(settings_for("sqlite+aiosqlite:///:memory:")).openapi()
OPERATIONS = [
    (f"{method.upper()} {path}", operation)
    for path, methods in SERVED["paths"].items()
    for method, operation in methods.items()
]
PUBLIC = {
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "GET /v1/audit/keys",
    "GET /v1/register",
}  # probes, the scrape, the audit keys and the public data uses register: no bearer JWT
PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
REQUEST_MODELS: list[type[BaseModel]] = [
    SharingRequestBody,
    AmendmentBody,
    ReviewBody,
    RetrospectiveReviewBody,
    OrganisationCreate,
    OrganisationUpdate,
    SharingAgreementCreate,
    SharingAgreementUpdate,
    WebhookEndpointCreate,
    WebhookEndpointUpdate,
    SubjectQuery,
    WitnessCheckpoints,
    VerificationBody,
    WithholdingBody,
]


def test_checked_in_openapi_is_current() -> None:
    assert json.loads(CONTRACT.read_text()) == SERVED, "openapi/openapi.json is stale: run `caldicott openapi`"


@pytest.mark.parametrize(("label", "operation"), OPERATIONS, ids=[label for label, _ in OPERATIONS])
def test_every_operation_says_what_it_does_who_may_call_it_and_how_it_fails(
    label: str, operation: dict[str, Any]
) -> None:
    assert operation["summary"] and operation["tags"]
    responses = operation["responses"]
    if label in PUBLIC:
        assert "security" not in operation
    else:
        assert operation["security"] == [{"HTTPBearer": []}]
        assert {"401", "403", "503"} <= responses.keys()
    if "requestBody" in operation:
        assert {"413", "422"} <= responses.keys()
    for status, response in responses.items():
        if int(status) >= 400:
            assert response["content"] == PROBLEM_CONTENT, f"{label} {status} is not only a problem document"


def test_the_bearer_scheme_and_the_problem_shape_are_published() -> None:
    bearer = SERVED["components"]["securitySchemes"]["HTTPBearer"]
    assert (bearer["type"], bearer["scheme"], bearer["bearerFormat"]) == ("http", "bearer", "JWT")
    problem = SERVED["components"]["schemas"]["Problem"]
    assert problem["required"] == ["type", "title", "status"]
    assert problem["properties"]["errors"]["anyOf"][0]["items"] == {"$ref": "#/components/schemas/FieldError"}


def test_every_request_body_in_the_contract_has_examples() -> None:
    schemas = SERVED["components"]["schemas"]
    for label, operation in OPERATIONS:
        if "requestBody" in operation:
            content = operation["requestBody"]["content"]
            # JSON, or the one form an upload takes (multipart/form-data).
            schema = (content.get("application/json") or content["multipart/form-data"])["schema"]
            if "$ref" in schema:
                schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
            assert schema.get("examples"), f"{label} has no request example"


@pytest.mark.parametrize("model", REQUEST_MODELS, ids=lambda model: model.__name__)
def test_every_request_example_is_valid(model: type[BaseModel]) -> None:
    examples = model.model_json_schema()["examples"]
    assert examples
    for example in examples:
        model.model_validate(example)


def test_the_readme_example_request_is_the_published_one() -> None:
    assert json.loads((REPO / "examples" / "direct-care-request.json").read_text()) == DIRECT_CARE_REFERRAL


async def test_the_example_requests_are_decided_as_their_cases_would_be(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "NSP01", type="police", dspt_status="not_published")

    referral = await submit(client, tokens, DIRECT_CARE_REFERRAL)
    police = await submit(client, tokens, POLICE_PERMISSIVE_GATEWAY, org="NSP01")

    assert (referral.status_code, referral.json()["status"]) == (201, "approved")
    # The public-interest test under a permissive gateway is the guardian's.
    assert (police.status_code, police.json()["status"]) == (201, "awaiting_review")
    referred_by = [finding["rule"] for finding in police.json()["decision"]["findings"] if finding["result"] == "refer"]
    assert referred_by == ["CONSENT.public_interest"]


async def test_an_unready_service_answers_with_a_problem_document() -> None:
    application = create_app(settings_for("postgresql+asyncpg://nobody@127.0.0.1:9/none"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as http:
        response = await http.get("/readyz")
    await application.state.wiring.engine.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 503 and response.headers["retry-after"]


def walk(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object in a part of the contract, with where it is."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{where}/{index}")


def test_every_property_of_every_schema_is_described() -> None:
    # Request bodies, answers, problems and webhook payloads alike: a partner reads the meaning in the contract.
    undescribed = [
        f"{where}/{name}"
        for where, schema in walk(SERVED["components"]["schemas"], "#/components/schemas")
        if isinstance(schema.get("properties"), dict)
        for name, prop in schema["properties"].items()
        if not str(prop.get("description", "")).strip()
    ]
    assert undescribed == []


def test_every_enum_and_each_of_its_values_is_described() -> None:
    enums = [(where, schema) for where, schema in walk(SERVED, "#") if "enum" in schema and len(schema["enum"]) > 1]
    assert len(enums) > 40
    for where, schema in enums:
        assert schema.get("description"), f"{where} has no description"
        if "/parameters/" in where:
            continue  # a query parameter's few values are named in its own description (`format`: `json` or `fhir`)
        # Described in the enum's docstring as `- \`value\`: meaning`, and carried for generators beside the values.
        meanings = schema.get("x-enum-descriptions", [])
        assert len(meanings) == len(schema["enum"]) and all(meanings), f"{where}: a value is not described"
        for value in schema["enum"]:
            assert f"- `{value}`: " in schema["description"], f"{where}: {value} is not listed in its description"


def test_the_rule_for_extending_enums_is_stated_in_the_contract_and_the_guide() -> None:
    assert contract.ENUM_RULE in SERVED["info"]["description"]
    guide = " ".join((REPO / "docs" / "integrators" / "api.md").read_text().split())
    assert contract.ENUM_RULE in guide


OPERATION_ID = re.compile(r"^[a-z]+(_[a-z0-9]+)*$")
METHOD_SUFFIX = re.compile(r"_(get|post|put|patch|delete|head|options)$")


def test_operation_ids_are_human_unique_and_free_of_the_path() -> None:
    operations = OPERATIONS + [
        (f"webhook {name}", operation) for name, methods in SERVED["webhooks"].items() for operation in methods.values()
    ]
    ids = [operation["operationId"] for _, operation in operations]
    assert len(ids) == len(set(ids)), "two operations share an id"
    for label, operation in operations:
        name = operation["operationId"]
        assert OPERATION_ID.match(name) and not METHOD_SUFFIX.search(name), f"{label}: {name}"
        assert "v1" not in name.split("_"), f"{label}: {name} carries the path"
    assert set(contract.OPERATION_NAMES.values()) <= set(ids), "a fuller name is given to a route that is gone"
    assert next(op for label, op in OPERATIONS if label == "POST /v1/sharing-requests")["operationId"] == (
        "submit_sharing_request"
    )


def test_every_operation_has_exactly_one_tag_and_every_tag_is_described() -> None:
    tags = {tag["name"]: tag.get("description", "") for tag in SERVED["tags"]}
    assert all(description.strip() for description in tags.values())
    operations = OPERATIONS + [
        (f"webhook {name}", operation) for name, methods in SERVED["webhooks"].items() for operation in methods.values()
    ]
    for label, operation in operations:
        assert len(operation["tags"]) == 1 and operation["tags"][0] in tags, f"{label}: {operation['tags']}"
    assert {operation["tags"][0] for _, operation in operations} == set(tags), "a described tag has no operation"


def test_the_servers_are_this_service_and_a_deployment_named_by_its_base() -> None:
    relative, templated = SERVED["servers"]
    assert relative["url"] == "/"
    assert templated["url"] == "{base}" and templated["variables"]["base"]["default"].startswith("http")


def young_child(consent: dict[str, Any]) -> dict[str, Any]:
    """The README's direct-care referral, for a child of six, with the consent given."""
    return DIRECT_CARE_REFERRAL | {
        "subjects": {"count": 1, "age_group": "child", "identifiers": ["9990000034"], "deceased": False},
        "consent": consent,
    }


async def test_a_young_childs_consent_sent_as_the_contract_says_is_not_referred(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    documented = {"status": "given", "capacity": "lacks_capacity", "given_by": "parent"}
    # The guesses the description warns against: the child's own consent, or a parent's for a competent child.
    own = {"status": "given", "capacity": "not_assessed", "given_by": "subject"}
    competent = {"status": "given", "capacity": "has_capacity", "given_by": "parent"}

    decided = {}
    for name, consent in (("documented", documented), ("own", own), ("competent", competent)):
        response = await client.post("/v1/evaluate", json=young_child(consent), headers=tokens.agency("RXT01"))
        assert response.status_code == 200, response.text
        fired = {f["rule"] for f in response.json()["findings"] if f["result"] != "pass"}
        decided[name] = (response.json()["outcome"], fired)

    assert decided["documented"] == ("approve", set())
    assert decided["own"] == ("refer", {"CONSENT.child_competence"})
    assert decided["competent"] == ("refer", {"CONSENT.proxy_authority"})
