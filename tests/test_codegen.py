"""A client generated from the published contract works:
openapi-python-client builds it, and a public scenario runs through it.

The client is generated once per run from openapi/openapi.json (what partners download), offline, with no
post-hooks, and imported from a temporary folder. It talks to the app in-process: its async httpx client is
given an ASGI transport, so no server or port is needed. The scenario runs on both databases like every API test.
"""

import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support import SHARED_SCENARIOS, Tokens

REPO = Path(__file__).resolve().parents[1]
CONTRACT = REPO / "openapi" / "openapi.json"
PACKAGE = "caldicott_contract_client"
CONFIG = f"project_name_override: caldicott-contract-client\npackage_name_override: {PACKAGE}\npost_hooks: []\n"


CURRENT_EDITION = "2028.1"


def scenario() -> dict[str, Any]:
    """The first case of the corpus that registers an agreement too,
    or else the README's example request, approved for RXT01."""
    cases = (
        [json.loads(path.read_text()) for path in sorted(SHARED_SCENARIOS.glob("*/S*.json"))]
        if SHARED_SCENARIOS.is_dir()
        else []
    )
    for case in cases:
        if (
            case["setup"]["agreements"] and case["policy"]["version"] == CURRENT_EDITION
        ):  # the older editions are replay-only
            return case
    example = json.loads((REPO / "examples" / "direct-care-request.json").read_text())
    organisation = {
        "code": "RXT01",
        "name": "Northshire Community Health NHS Trust",
        "type": "nhs_trust",
        "dspt_status": "standards_met",
    }
    return {
        "policy": None,
        "setup": {"organisations": [organisation], "agreements": []},
        "requester": "RXT01",
        "request": example,
        "expect": {"outcome": "approve", "findings": {}, "review_required": False},
    }


@pytest.fixture(scope="module")
def generation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Run the generator on the contract: the folder the package is in, and what the generator said."""
    folder = tmp_path_factory.mktemp("codegen")
    (folder / "config.yaml").write_text(CONFIG)
    command = [
        str(Path(sys.executable).parent / "openapi-python-client"),
        "generate",
        "--path",
        str(CONTRACT),
        "--meta",
        "none",
    ]
    command += ["--output-path", str(folder / PACKAGE), "--config", str(folder / "config.yaml")]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    return folder, run.stdout + run.stderr


@pytest.fixture(scope="module")
def generated(generation: tuple[Path, str]) -> ModuleType:
    """The generated client package, imported from where it was generated."""
    folder, _ = generation
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))


def api(generated: ModuleType, name: str) -> ModuleType:
    """One generated operation module, such as `sharing_requests.submit_sharing_request`."""
    return importlib.import_module(f"{generated.__name__}.api.{name}")


def model(generated: ModuleType, name: str) -> Any:
    """One generated model class, by its schema's name."""
    return getattr(importlib.import_module(f"{generated.__name__}.models"), name)


def test_the_generator_reads_all_of_the_contract_but_a_policy_in_yaml(generation: tuple[Path, str]) -> None:
    # The one part it cannot read is the YAML form of an uploaded policy; the JSON form of the same body is generated.
    warnings = generation[1].split("WARNING parsing ")[1:]
    assert [warning.split(" within ")[0] for warning in warnings] == ["POST /v1/policies"], generation[1]
    assert "Unsupported content type application/yaml" in warnings[0]


def test_the_generator_finds_every_operation_and_the_webhook_payloads(generated: ModuleType) -> None:
    contract = json.loads(CONTRACT.read_text())
    # One module per operation: none was dropped for a part of the contract the generator could not read.
    operation_ids = {
        operation["operationId"] for methods in contract["paths"].values() for operation in methods.values()
    }
    modules = {path.stem for path in Path(generated.__file__).parent.glob("api/*/*.py") if path.stem != "__init__"}
    assert operation_ids == modules
    # Receivers can parse what they are sent with the same client: every event body is a model.
    for methods in contract["webhooks"].values():
        name = methods["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert hasattr(model(generated, name), "from_dict"), name


async def test_a_public_scenario_runs_through_the_generated_client(
    generated: ModuleType, client: httpx.AsyncClient, app: FastAPI, tokens: Tokens
) -> None:
    case = scenario()

    def as_caller(headers: dict[str, str]) -> Any:
        """A generated client with this caller's bearer token, on the app in-process."""
        token = headers["Authorization"].removeprefix("Bearer ")
        return generated.AuthenticatedClient(
            base_url="http://testserver",
            token=token,
            httpx_args={"transport": httpx.ASGITransport(app=app)},
            raise_on_unexpected_status=True,  # a status the contract does not declare raises errors.UnexpectedStatus
        )

    async def call(operation: str, caller: Any, expected: int, **arguments: Any) -> Any:
        """Call one generated operation, check its status; what the client parsed."""
        response = await api(generated, operation).asyncio_detailed(client=caller, **arguments)
        assert response.status_code == expected, response.content
        return response.parsed

    admin, agency = as_caller(tokens.admin()), as_caller(tokens.agency(case["requester"]))
    async with admin, agency:
        for organisation in case["setup"]["organisations"]:
            body = model(generated, "OrganisationCreate").from_dict(organisation)
            await call("registers.register_organisation", admin, 201, body=body)
        for agreement in case["setup"]["agreements"]:
            body = model(generated, "SharingAgreementCreate").from_dict(agreement)
            await call("registers.register_sharing_agreement", admin, 201, body=body)
        if case["policy"] is not None:
            name, version = case["policy"]["name"], case["policy"]["version"]
            held = await call("policies.list_policies", admin, 200)
            if not next(policy for policy in held.items if (policy.name, policy.version) == (name, version)).active:
                await call(
                    "policies.activate_policy",
                    admin,
                    200,
                    name=name,
                    version=version,
                )

        body = model(generated, "SharingRequestBody").from_dict(case["request"])
        assert (
            body.to_dict() == case["request"]
        )  # the generated model sends what the partner wrote, nothing lost or added
        submitted = await call("sharing_requests.submit_sharing_request", agency, 201, body=body)
        read = await call(
            "sharing_requests.get_sharing_request",
            agency,
            200,
            request_id=submitted.id,
        )

    expect = case["expect"]
    fired = {finding.rule: str(finding.result) for finding in read.decision.findings if str(finding.result) != "pass"}
    assert (str(read.decision.outcome), fired, read.review_required) == (
        expect["outcome"],
        expect["findings"],
        expect["review_required"],
    )
    assert read.id == submitted.id and read.to_dict() == submitted.to_dict()


async def test_a_refusal_reaches_the_generated_client_as_a_typed_problem(
    generated: ModuleType, client: httpx.AsyncClient, app: FastAPI, tokens: Tokens
) -> None:
    await client.post(
        "/v1/organisations",
        json={"code": "RXT01", "name": "Northshire Community Health NHS Trust", "type": "nhs_trust"}
        | {"dspt_status": "standards_met"},
        headers=tokens.admin(),
    )
    token = tokens.agency("RXT01")["Authorization"].removeprefix("Bearer ")
    agency = generated.AuthenticatedClient(
        base_url="http://testserver",
        token=token,
        httpx_args={"transport": httpx.ASGITransport(app=app)},
        raise_on_unexpected_status=True,
    )
    problem = model(generated, "Problem")
    example = json.loads((REPO / "examples" / "direct-care-request.json").read_text())
    too_short = example | {"purpose": example["purpose"] | {"description": "too short"}}
    async with agency:
        # The generated models check types, not lengths: the service names the field.
        invalid = await api(generated, "sharing_requests.submit_sharing_request").asyncio(
            client=agency, body=model(generated, "SharingRequestBody").from_dict(too_short)
        )
        missing = await api(generated, "sharing_requests.get_sharing_request").asyncio(
            client=agency, request_id="00000000-0000-4000-8000-000000000000"
        )

    assert isinstance(invalid, problem) and invalid.status == 422
    assert [error.field for error in invalid.errors] == ["purpose.description"]
    assert isinstance(missing, problem) and missing.status == 404


def test_the_generated_client_refuses_an_enum_value_it_does_not_know_rather_than_misread_it(
    generated: ModuleType,
) -> None:
    # The contract lets new values arrive in a minor release; a generated client fails loudly on one, and
    # docs/integrators/api.md says how to treat it (read the raw JSON by the rule, regenerate the client).
    summary = {
        "id": "0b6f8a0e-3c1d-4b7e-9f2a-5d8c1e4a7b22",
        "reference": None,
        "requester": "RXT01",
        "purpose": "direct_care",
        "urgency": "routine",
        "status": "approved",
        "review_required": False,
        "retrospective_review": None,
        "due_at": None,
        "created_at": "2026-11-27T10:15:00Z",
        "updated_at": "2026-11-27T10:15:00Z",
        "ready_to_disclose": True,
        "open_checks": [],
        "possible_incident": False,
    }
    parse = model(generated, "SharingRequestSummary").from_dict
    assert parse(summary).status == model(generated, "RequestStatus").APPROVED
    with pytest.raises(ValueError, match="awaiting_a_new_kind_of_review"):
        parse(summary | {"status": "awaiting_a_new_kind_of_review"})
