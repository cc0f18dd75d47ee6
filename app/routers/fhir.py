"""A request's disclosure decisions as FHIR R4, for the person's own record:
an AuditEvent and a Provenance per decision."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response

from app.errors import INVALID_INPUT, PROBLEM_RESPONSES, problem_doc
from app.http.dependencies import CurrentRequest, SettingsDep
from app.http.negotiation import quality
from app.http.roles import ReaderPrincipal
from app.http.session import SessionDep
from app.models.sharing_request import Decision
from app.models.vocabulary import DecisionKind, DecisionOutcome
from app.services.reports import fhir, fhir_export

router = APIRouter(tags=["Sharing requests"], responses=PROBLEM_RESPONSES)

# What a FHIR server answers with whatever the Accept header says; application/json only when that is what is asked for.
JSON_MEDIA_TYPE = "application/json"
HEADERS = {"Vary": "Accept", "Cache-Control": "no-store"}


def media_type(accept: str | None) -> str:
    """application/json when the Accept header takes it but not application/fhir+json
    (q=0 refuses a type); else FHIR's own."""
    if not accept:
        return fhir.FHIR_MEDIA_TYPE
    taken = quality(accept, JSON_MEDIA_TYPE) > 0 and quality(accept, fhir.FHIR_MEDIA_TYPE) == 0
    return JSON_MEDIA_TYPE if taken else fhir.FHIR_MEDIA_TYPE


# A rules decision with conditions on a request for direct care, as the published example.
_DECIDED = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
_EXAMPLE_DECISION = Decision(
    id="b2e4d6f8-1a3c-4e5f-8a7b-9c0d1e2f3a4b",
    request_id="6f1c2a9e-3b7d-4e21-9a55-0c8d2f4b7e10",
    version=1,
    kind=DecisionKind.RULES,
    outcome=DecisionOutcome.APPROVE_WITH_CONDITIONS,
    findings=[],
    conditions=[
        "Make sure everyone who will see the information has completed current data protection "
        "training before they are given access."
    ],
    decided_by="rules",
    policy_name="uk-caldicott-baseline",
    policy_version="2027.1",
    policy_hash="0" * 64,
    request_hash="0" * 64,
    decided_at=_DECIDED,
)
_EXAMPLE_BODY = {
    "purpose": {"category": "direct_care"},
    "data_items": [
        {"category": "demographics", "form": "identifiable"},
        {"category": "diagnoses", "form": "identifiable"},
    ],
}


def example(person: str | None = None) -> dict[str, Any]:
    """The published example Bundle; with `person`, as the subject report names them."""
    names = {"RXT01": "Northshire Community Health NHS Trust", "RX1": "Northshire Hospitals NHS Foundation Trust"}
    entries = fhir.decision_entries(
        decision=_EXAMPLE_DECISION, requester="RXT01", body=_EXAMPLE_BODY, controller="RX1", names=names, person=person
    )
    return fhir_export.to_json(fhir.bundle(entries, now=_DECIDED, bundle_id="3d5f7a9c-2b4e-4c6d-8e0f-1a2b3c4d5e6f"))


BUNDLE_CONTENT = {
    fhir.MEDIA_TYPE: {
        "schema": {"type": "object", "description": "A FHIR R4 Bundle of type collection"},
        "example": example(),
    },
    JSON_MEDIA_TYPE: {
        "schema": {"type": "object", "description": "The same Bundle, when application/json is asked for"}
    },
}


@router.get(
    "/v1/sharing-requests/{request_id}/fhir",
    summary="Every decision on a request as FHIR R4: an AuditEvent and a Provenance each, for the person's record",
    description=(
        "A FHIR R4 `Bundle` of type `collection`: for each decision on the request (the rules', a guardian's, a "
        "reconsideration, a panel's), an `AuditEvent` of the disclosure decision (DICOM 110106 Export, ISO 21089 "
        "`disclose`; the outcome in `subtype` and `outcomeDesc`; the requesting organisation by ODS code; one entity "
        "per kind of information asked for) and a `Provenance` naming who decided under which policy (for a caller "
        'with only the agency role, a guardian is "a Caldicott Guardian of" the controller, with no identifier). '
        "Nothing in it identifies the person: free text is left out. Answered as `application/fhir+json` whatever the "
        "Accept header says, unless it asks for `application/json` and not FHIR's own type. Each read is audited."
    ),
    response_class=Response,
    responses=INVALID_INPUT
    | {
        200: {"description": "The request's decisions as a FHIR R4 Bundle", "content": BUNDLE_CONTENT},
        404: problem_doc("No such request, or it belongs to another agency"),
    },
)
async def get_request_fhir(
    request: CurrentRequest,
    session: SessionDep,
    settings: SettingsDep,
    principal: ReaderPrincipal,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    document = await fhir_export.request_bundle(
        session=session, principal=principal, request=request, controller=settings.controller_org
    )
    return Response(fhir_export.render(document), media_type=media_type(accept), headers=HEADERS)
