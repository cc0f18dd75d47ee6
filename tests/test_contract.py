"""The published contract in openapi/ is exactly what the app serves, and says what partners need to know."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from app.main import create_app
from app.models.agreement import SharingAgreementCreate, SharingAgreementUpdate
from app.models.audit import WitnessCheckpoints
from app.models.organisation import OrganisationCreate, OrganisationUpdate
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
}  # probes, the scrape and the audit keys: no bearer JWT
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
