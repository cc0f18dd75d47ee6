"""What the published contract says beyond the routes and models: operation ids, tags by audience, servers, the rule
for extending enums, and a description of every enum value.

FastAPI builds the document from the routes and the pydantic models; this module gives it the names and the words a
council's integration engineer reads first, in one place, so a generated client has human names
(`submit_sharing_request`, not `submit_sharing_request_v1_sharing_requests_post`).
"""

import inspect
import re
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

ENUM_RULE = (
    "New values may be added to any enum in a minor release (a purpose, an organisation type, a data category, a "
    "status, an outcome, an event type): clients must accept a value they do not know, and never fail on it nor "
    "drop the record that carries it. Treat an unknown status or outcome as not final and needing a person's "
    "attention (never as an approval), an unknown finding result as a referral, and an unknown event type as one to "
    "acknowledge with a 2xx and ignore; show any other unknown value as it is. Values are never removed or renamed "
    "within a major version. In what it is sent the service is strict: a value the running version does not list is "
    "a 422 naming the field, so send only the values of the contract your client was built from."
)

DESCRIPTION = f"""\
The contract of a Caldicott sharing adjudication service, for the systems of partner agencies (police forces,
councils, schools, NHS bodies, researchers, regulators) and for the controller's guardians, information governance,
admins and auditors.

Every call but the probes, the scrape, the public audit keys and the public data uses register needs a bearer JWT
whose `org` claim names a registered organisation and whose `roles` claim names what it may do. Every error is an
RFC 9457 `application/problem+json` document naming the field at fault.

## Extending enums

{ENUM_RULE}
"""

# Tags by audience, in the order the documentation shows them; every operation carries exactly one.
TAGS: list[dict[str, str]] = [
    {
        "name": "Sharing requests",
        "description": "For partner agencies: submit a request (or try one as a dry run), list and read your "
        "requests and their decisions, answer a guardian's request for information, withdraw, ask for a "
        "reconsideration, and read a request's history, decision notice and FHIR record.",
    },
    {
        "name": "Evidence",
        "description": "Evidence attached to a sharing request (a court order, a police request form, a consent "
        "form, a DPIA) by the requesting agency or a guardian, and the guardians' verifications of it: only "
        "verified evidence counts in the rules.",
    },
    {
        "name": "Guardian review",
        "description": "For the controller's Caldicott Guardians: the queue of referred requests, claims, "
        "decisions, retrospective reviews of emergency shares, reconsiderations, second opinions, panels, and the "
        "release of a withheld decision notice.",
    },
    {
        "name": "Controller's checks",
        "description": "For the controller's guardians and information governance (`ig_manager`): the checks "
        "recorded before an approved request may be disclosed.",
    },
    {
        "name": "Registers",
        "description": "For admins (guardians and auditors may read): the registered organisations and information "
        "sharing agreements, with each agreement's versions and signed documents.",
    },
    {
        "name": "Incidents",
        "description": "For the controller (the recipient agency reads and confirms its recall): incidents with "
        "disclosures, graded on the NHS guide's scales, the 72-hour deadline to report a reportable one to the ICO, "
        "the recall of the data from its recipient, and closure with the lessons learnt.",
    },
    {
        "name": "Policies",
        "description": "The policies that decide requests: the shipped baselines and derived policies, which one is "
        "active, and what-if replays of stored decisions under another.",
    },
    {
        "name": "Reports",
        "description": "For guardians and auditors: the Caldicott decision log, review metrics, agreements by state, "
        "and every request that named a person (for a subject access request).",
    },
    {
        "name": "Transparency",
        "description": "The public data uses register (Caldicott principle 8): what the controller approved for "
        "purposes other than direct care, in coded values only, read without a token; and, for the controller, the "
        "entries it withholds from it.",
    },
    {
        "name": "Audit",
        "description": "For auditors: the tamper-evident audit trail, its signed checkpoints, their verification, and "
        "the public keys that sign them (no token needed for the keys).",
    },
    {
        "name": "Webhooks",
        "description": "For agencies (their own) and admins (the controller's): endpoints subscribed to events, their "
        "signing secrets, delivery history, redelivery (one or every delivery since a time), a test event, and the "
        "event log a receiver back from an outage catches up from.",
    },
    {
        "name": "Webhook events",
        "description": "What a subscribed endpoint is sent, one operation per event type: documented here, never "
        "served by the service.",
    },
    {
        "name": "Operations",
        "description": "For operators: liveness and readiness probes and the Prometheus scrape. No bearer token.",
    },
]

SERVERS: list[dict[str, Any]] = [
    {"url": "/", "description": "The service that served this document"},
    {
        "url": "{base}",
        "description": "The service as your trust deploys it",
        "variables": {
            "base": {
                "default": "http://127.0.0.1:8000",
                "description": "Scheme, host, port and any path prefix of the deployment, with no trailing slash",
            }
        },
    },
]

# Operation ids are the route functions' names; these routes' functions are named for their module, so the contract
# names them in full. Keyed by module and function, as one module's `withdraw` is not another's.
OPERATION_NAMES: dict[str, str] = {
    "operations.healthz": "get_liveness",
    "operations.readyz": "get_readiness",
    "operations.metrics_endpoint": "get_metrics",
    "audit.audit_keys": "get_audit_keys",
    "review.review_queue": "list_review_queue",
    "review.claim": "claim_sharing_request",
    "review.release": "release_claim",
    "review.decide": "decide_sharing_request",
    "review.retrospective_review": "record_retrospective_review",
    "review.amend": "amend_sharing_request",
    "review.withdraw": "withdraw_sharing_request",
    "review.history": "get_sharing_request_history",
    "review.metrics": "get_review_metrics",
    "deliberation.read_panel": "get_panel",
    "deliberation.vote": "vote_in_panel",
    "deliberation.withdraw": "withdraw_from_panel",
    "controller_checks.record_check": "record_controller_check",
    "notices.get_notice": "get_decision_notice",
    "notices.release_notice": "release_decision_notice",
    "fhir.get_request_fhir": "get_sharing_request_fhir",
    "reports.decision_log": "get_decision_log",
    "reports.subject_disclosures": "find_subject_disclosures",
    "agreement_reports.agreements_report": "get_agreements_report",
    "agreement_documents.list_documents": "list_agreement_documents",
    "agreement_documents.upload_document": "upload_agreement_document",
    "agreement_documents.download_document": "download_agreement_document",
    "agreements.list_agreements": "list_sharing_agreements",
    "agreements.register_agreement": "register_sharing_agreement",
    "agreements.get_agreement": "get_sharing_agreement",
    "agreements.update_agreement": "update_sharing_agreement",
    "agreements.list_versions": "list_sharing_agreement_versions",
    "agreements.get_version": "get_sharing_agreement_version",
    "policies.replay_changes": "list_replay_changes",
    "webhooks.list_endpoints": "list_webhook_endpoints",
    "webhooks.register_endpoint": "register_webhook_endpoint",
    "webhooks.get_endpoint": "get_webhook_endpoint",
    "webhooks.update_endpoint": "update_webhook_endpoint",
    "webhooks.delete_endpoint": "delete_webhook_endpoint",
    "webhooks.rotate_endpoint_secret": "rotate_webhook_secret",
    "webhooks.list_deliveries": "list_webhook_deliveries",
    "webhooks.redeliver": "redeliver_webhook",
}


def route_key(route: APIRoute) -> str:
    """A route's function as `module.function`, the module being the router's (`review.withdraw`)."""
    return f"{route.endpoint.__module__.rsplit('.', 1)[-1]}.{route.name}"


def operation_id(route: APIRoute) -> str:
    """The operation id of a route: its function's name, or the fuller one OPERATION_NAMES gives it."""
    return OPERATION_NAMES.get(route_key(route), route.name)


VALUE_LINE = re.compile(r"^- `(?P<value>[^`]+)`: (?P<meaning>.+)$")


def value_meanings(description: str) -> dict[str, str]:
    """The meaning of each value an enum's description lists, one Markdown item each (a hyphen, the value in
    backticks, a colon and the meaning), an item's indented lines joined to it."""
    meanings: dict[str, str] = {}
    current = None
    for line in inspect.cleandoc(description).splitlines():
        item = VALUE_LINE.match(line)
        if item:
            current = item["value"]
            meanings[current] = item["meaning"]
        elif current is not None and line.startswith("  ") and line.strip():
            meanings[current] += " " + line.strip()
        else:
            current = None
    return meanings


def describe_enum_values(document: dict[str, Any]) -> None:
    """Give every enum schema `x-enum-descriptions`, in the order of its values, from the list in its description
    (OpenAPI 3.1 has no per-value description; generators and documentation tools read this extension)."""
    for schema in document.get("components", {}).get("schemas", {}).values():
        if "enum" in schema and "description" in schema:
            meanings = value_meanings(schema["description"])
            schema["x-enum-descriptions"] = [meanings.get(str(value), "") for value in schema["enum"]]


def install(app: FastAPI) -> None:
    """Serve the document with every enum value described (`GET /openapi.json`, `caldicott openapi`)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()
        describe_enum_values(document)  # the same each time, so the cached document may be given it again
        return document

    app.openapi = openapi  # type: ignore[method-assign]
