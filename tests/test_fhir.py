"""Disclosure decisions as FHIR R4 over HTTP: one request's decisions, and every request that named a person.

Every resource is validated with fhir.resources.R4B: fhir.resources 8.x ships no plain R4 package, and R4B is R4's
technical correction, in which AuditEvent, Provenance and Bundle have exactly R4's shape.
"""

from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import text

from app.models.sharing_request import Decision
from app.models.vocabulary import DecisionKind, DecisionOutcome, PurposeCategory, Role
from app.services.reports import fhir
from tests.factories import REFERRED, register_organisation, submit
from tests.rules.baseline import changed
from tests.support import Tokens

NHS_NUMBER = "9990000018"  # a valid NHS number (check digit 8) from the range kept for tests
OTHER_PERSON = "9990000026"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
LIFECYCLE = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
CATEGORIES = "https://caldicott.dev/fhir/CodeSystem/data-category"
PURPOSES = "https://caldicott.dev/fhir/CodeSystem/purpose-category"
OUTCOMES = "https://caldicott.dev/fhir/CodeSystem/decision-outcome"
KINDS = "https://caldicott.dev/fhir/CodeSystem/decision-kind"
SERVICE = {"system": "https://caldicott.dev/fhir/Id/service", "value": "caldicott-adjudication"}
TOKEN_SUBJECT = "https://caldicott.dev/fhir/Id/token-subject"
REFUSED = {"recipient.storage_region": "other"}  # CP6.international_transfer refuses it
CONDITIONS = {
    "recipient.staff_trained": False,
    "transparency.privacy_notice_covers_use": False,
    "transparency.subject_informed": "no",
}
RATIONALE = "Onward sharing limited to the named team; MARKER-RATIONALE-31 the address is not needed."
GUARDIAN_CONDITION = "Share onward only with the named safeguarding team, MARKER-GCOND-58."


def guardian(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1")


def auditor(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("CONTROLLER", Role.AUDITOR, sub="auditor-1")


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def validated(document: dict[str, Any]) -> dict[str, Any]:
    """The Bundle, having checked it and each entry's resource against the R4(B) models,
    and the rules the models leave out."""
    Bundle.model_validate(document)
    assert document["resourceType"] == "Bundle" and document["type"] == "collection" and document["id"]
    at(document["timestamp"])
    entries = document.get("entry", [])
    for entry in entries:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
        for entity in resource.get("entity", []) if resource["resourceType"] == "AuditEvent" else []:
            assert not ("name" in entity and "query" in entity)  # sev-1
    assert len({entry["fullUrl"] for entry in entries}) == len(entries)
    return document


def pairs(document: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(AuditEvent, Provenance) of each decision, in order;
    each Provenance follows its event and targets it by fullUrl."""
    entries = document.get("entry", [])
    assert len(entries) % 2 == 0
    found = []
    for event, origin in zip(entries[::2], entries[1::2], strict=True):
        assert (event["resource"]["resourceType"], origin["resource"]["resourceType"]) == ("AuditEvent", "Provenance")
        assert origin["resource"]["target"] == [{"reference": event["fullUrl"]}]
        found.append((event["resource"], origin["resource"]))
    return found


async def export(
    client: httpx.AsyncClient, request_id: str, headers: dict[str, str], accept: str | None = None
) -> httpx.Response:
    response = await client.get(
        f"/v1/sharing-requests/{request_id}/fhir", headers=headers | ({"Accept": accept} if accept else {})
    )
    assert response.status_code == 200, response.text
    return response


async def bundle_of(client: httpx.AsyncClient, request_id: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await export(client, request_id, headers)
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.headers["cache-control"] == "no-store"
    return validated(response.json())


async def decided(
    client: httpx.AsyncClient, tokens: Tokens, changes: dict[str, Any], status: str, org: str = "RXT01"
) -> dict[str, Any]:
    response = await submit(client, tokens, changed(changes), org=org)
    assert response.status_code == 201 and response.json()["status"] == status, response.text
    return response.json()


def codes(codings: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(coding["system"], coding["code"]) for coding in codings}


def agent(event: dict[str, Any], system: str, code: str) -> dict[str, Any]:
    [found] = [agent for agent in event["agent"] if (system, code) in codes(agent["type"]["coding"])]
    return found


def categories(event: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entity["type"]["code"]: entity for entity in event["entity"] if entity["type"]["system"] == CATEGORIES}


def disclosed(event: dict[str, Any]) -> set[str]:
    disclose = {"system": LIFECYCLE, "code": "disclose", "display": "Disclose Record Lifecycle Event"}
    return {code for code, entity in categories(event).items() if entity.get("lifecycle") == disclose}


def check_decision(
    event: dict[str, Any], origin: dict[str, Any], decision: dict[str, Any], request: dict[str, Any]
) -> None:
    """What every decision's pair says, whatever the outcome."""
    assert event["id"] == decision["id"]
    assert event["type"] == {"system": DICOM, "code": "110106", "display": "Export"}
    assert codes(event["subtype"]) >= {
        (LIFECYCLE, "disclose"),
        (OUTCOMES, decision["outcome"]),
        (KINDS, decision["kind"]),
    }
    assert event["outcome"] == "0"  # the adjudication succeeded, whichever way it went
    assert at(event["recorded"]) == at(decision["decided_at"]) == at(origin["recorded"])
    requester = agent(event, DICOM, "110152")
    assert (
        requester["who"]["identifier"] == {"system": ODS, "value": request["requester"]}
        and requester["requestor"] is True
    )
    assert agent(event, DICOM, "110153")["who"]["identifier"] == {"system": ODS, "value": "CONTROLLER"}
    policy = f"https://caldicott.dev/policies/{decision['policy']['name']}/{decision['policy']['version']}"
    decider = agent(event, "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "AUT")
    assert decider["requestor"] is False and decider["policy"] == [policy]
    assert event["source"]["observer"]["identifier"] == SERVICE
    [request_entity] = [entity for entity in event["entity"] if entity["type"]["code"] == "2"]  # System Object
    assert request_entity["what"]["identifier"] == {
        "system": "https://caldicott.dev/fhir/Id/sharing-request",
        "value": request["id"],
    }
    assert set(categories(event)) == {item["category"] for item in request["request"]["data_items"]}
    assert origin["policy"] == [policy]
    assert codes(origin["activity"]["coding"]) == {(KINDS, decision["kind"])}
    [author] = origin["agent"]
    assert author["who"] == decider["who"]
    if decision["kind"] == "rules":
        assert decider["who"]["type"] == "Device" and decider["who"]["identifier"] == SERVICE
    else:
        assert decider["who"] == {
            "type": "Practitioner",
            "identifier": {"system": TOKEN_SUBJECT, "value": decision["decided_by"]},
            "display": "Caldicott Guardian",
        }


@pytest.fixture
async def requester(client: httpx.AsyncClient, tokens: Tokens) -> str:
    await register_organisation(client, tokens, "RXT01", name="Northshire Community Health NHS Trust")
    return "RXT01"


async def test_an_approved_request_is_one_audit_event_and_its_provenance(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request = await decided(client, tokens, {}, "approved")
    document = await bundle_of(client, request["id"], tokens.agency(requester))

    [(event, origin)] = pairs(document)
    check_decision(event, origin, request["decision"], request)
    assert event["outcomeDesc"].startswith("Approved")
    assert disclosed(event) == {"demographics", "diagnoses"}
    assert {entity["detail"][1]["valueString"] for entity in categories(event).values()} == {"yes"}
    [purpose] = event["purposeOfEvent"]
    assert codes(purpose["coding"]) == {(ACT_REASON, "TREAT"), (PURPOSES, "direct_care")}
    assert agent(event, DICOM, "110152")["who"]["display"] == "Northshire Community Health NHS Trust"
    assert agent(event, DICOM, "110152")["purposeOfUse"] == [purpose] and origin["reason"] == [purpose]


async def test_an_approval_with_conditions_says_so_and_quotes_none_of_them(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request = await decided(client, tokens, CONDITIONS, "approved_with_conditions")
    document = await bundle_of(client, request["id"], guardian(tokens))

    [(event, origin)] = pairs(document)
    check_decision(event, origin, request["decision"], request)
    conditions = request["decision"]["conditions"]
    assert conditions and event["outcomeDesc"].startswith(f"Approved with conditions ({len(conditions)}):")
    assert disclosed(event) == {"demographics", "diagnoses"}
    text = str(document)
    assert not [condition for condition in conditions if condition in text]
    assert request["request"]["purpose"]["description"] not in text


async def test_a_refusal_is_a_successful_decision_that_discloses_nothing(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request = await decided(client, tokens, REFUSED, "refused")
    document = await bundle_of(client, request["id"], auditor(tokens))

    [(event, origin)] = pairs(document)
    check_decision(event, origin, request["decision"], request)
    assert event["outcome"] == "0" and event["outcomeDesc"].startswith("Refused")
    assert disclosed(event) == set()
    assert {entity["detail"][1]["valueString"] for entity in categories(event).values()} == {"no"}


async def test_a_referral_decided_by_a_guardian_is_two_decisions(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request = await decided(client, tokens, REFERRED, "awaiting_review")
    assert (
        await client.post(f"/v1/sharing-requests/{request['id']}/claim", headers=guardian(tokens))
    ).status_code == 200
    body = {
        "outcome": "approve_with_conditions",
        "rationale": RATIONALE,
        "conditions": [GUARDIAN_CONDITION],
        "approved_items": ["demographics"],
    }
    review = await client.post(f"/v1/sharing-requests/{request['id']}/review", json=body, headers=guardian(tokens))
    assert review.status_code == 200, review.text

    document = await bundle_of(
        client, request["id"], auditor(tokens)
    )  # the controller's: guardians by their token subject
    [(rules, rules_origin), (decision, decision_origin)] = pairs(document)
    check_decision(rules, rules_origin, request["decision"], request)
    check_decision(decision, decision_origin, review.json(), request)
    assert codes(rules["subtype"]) >= {(OUTCOMES, "refer"), (KINDS, "rules")} and disclosed(rules) == set()
    assert rules["outcome"] == "0" and rules["outcomeDesc"].startswith("Referred to a Caldicott Guardian")
    assert codes(decision["subtype"]) >= {(OUTCOMES, "approve_with_conditions"), (KINDS, "guardian")}
    assert disclosed(decision) == {"demographics"}  # the guardian approved part of what was asked
    assert decision_origin["agent"][0]["who"]["identifier"] == {"system": TOKEN_SUBJECT, "value": "guardian-1"}
    assert "MARKER-RATIONALE-31" not in str(document) and "MARKER-GCOND-58" not in str(document)

    # The agency's export is the same but for the guardian, who is not named by subject.
    theirs = await bundle_of(client, request["id"], tokens.agency(requester))
    [(_, _), (their_decision, their_origin)] = pairs(theirs)
    unnamed = {"type": "Practitioner", "display": "a Caldicott Guardian of CONTROLLER (the controller)"}
    assert (
        agent(their_decision, "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "AUT")["who"]
        == their_origin["agent"][0]["who"]
        == unnamed
    )
    assert "guardian-1" not in str(theirs) and disclosed(their_decision) == {"demographics"}


async def test_another_agency_gets_404_and_overseers_get_the_export(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    await register_organisation(client, tokens, "RXT02")
    request = await decided(client, tokens, {}, "approved")

    other = await client.get(f"/v1/sharing-requests/{request['id']}/fhir", headers=tokens.agency("RXT02"))
    assert other.status_code == 404 and other.headers["content-type"] == "application/problem+json"
    assert other.json()["status"] == 404 and request["decision"]["id"] not in other.text
    missing = await client.get("/v1/sharing-requests/no-such-request/fhir", headers=guardian(tokens))
    assert missing.status_code == 404
    assert (await client.get(f"/v1/sharing-requests/{request['id']}/fhir")).status_code == 401
    for headers in (guardian(tokens), auditor(tokens), tokens.admin(), tokens.agency(requester)):
        assert len(pairs(await bundle_of(client, request["id"], headers))) == 1


async def test_each_export_is_an_audited_read(client: httpx.AsyncClient, tokens: Tokens, requester: str) -> None:
    await register_organisation(client, tokens, "RXT02")
    request = await decided(client, tokens, {}, "approved")
    await bundle_of(client, request["id"], guardian(tokens))
    await bundle_of(client, request["id"], tokens.agency(requester))
    assert (
        await client.get(f"/v1/sharing-requests/{request['id']}/fhir", headers=tokens.agency("RXT02"))
    ).status_code == 404

    trail = await client.get(
        "/v1/audit/events", params={"request_id": request["id"], "action": "fhir_read"}, headers=auditor(tokens)
    )
    assert trail.status_code == 200, trail.text
    reads = [
        (event["actor_sub"], event["target_type"], event["target_id"], event["outcome"])
        for event in trail.json()["items"]
    ]
    assert reads == [
        ("guardian-1", "sharing_request", request["id"], "read"),
        ("user-rxt01", "sharing_request", request["id"], "read"),
    ]


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, "application/fhir+json"),
        ("application/fhir+json", "application/fhir+json"),
        ("application/json", "application/json"),
        ("application/json, application/fhir+json;q=0.5", "application/fhir+json"),
        ("application/fhir+json;q=0, application/json", "application/json"),
        ("text/html", "application/fhir+json"),
        ("*/*", "application/fhir+json"),
    ],
)
async def test_the_accept_header_chooses_between_fhir_json_and_json(
    client: httpx.AsyncClient, tokens: Tokens, requester: str, accept: str | None, media_type: str
) -> None:
    request = await decided(client, tokens, {}, "approved")
    response = await export(client, request["id"], guardian(tokens), accept)
    assert response.headers["content-type"].split(";")[0] == media_type and response.headers["vary"] == "Accept"
    assert len(pairs(validated(response.json()))) == 1


async def named(
    client: httpx.AsyncClient, tokens: Tokens, org: str, identifiers: list[str], changes: dict[str, Any], status: str
) -> dict[str, Any]:
    return await decided(
        client,
        tokens,
        {"subjects.count": len(identifiers), "subjects.identifiers": identifiers, **changes},
        status,
        org=org,
    )


async def subject_report(
    client: httpx.AsyncClient,
    tokens: Tokens,
    identifier: str,
    url: str = "/v1/reports/subject-disclosures",
    **params: Any,
) -> httpx.Response:
    # httpx would replace the query of a `next` link with empty params
    response = await client.post(url, params=params or None, json={"identifier": identifier}, headers=guardian(tokens))
    assert response.status_code == 200, response.text
    return response


async def test_the_subject_report_as_fhir_names_the_person_only_there(
    client: httpx.AsyncClient, tokens: Tokens, requester: str, app: FastAPI
) -> None:
    await register_organisation(client, tokens, "RXT02")
    first = await named(
        client, tokens, "RXT01", [NHS_NUMBER, OTHER_PERSON], {}, "approved_with_conditions"
    )  # two people: AGR.systematic
    second = await named(client, tokens, "RXT02", [NHS_NUMBER], REFUSED, "refused")
    await named(client, tokens, "RXT01", [OTHER_PERSON], {}, "approved")  # someone else's

    response = await subject_report(client, tokens, NHS_NUMBER, format="fhir")
    assert response.headers["content-type"].startswith("application/fhir+json")
    document = validated(response.json())
    found = pairs(document)
    assert [event["id"] for event, _ in found] == [first["decision"]["id"], second["decision"]["id"]]
    for (event, origin), request in zip(found, (first, second), strict=True):
        check_decision(event, origin, request["decision"], request)
        [person] = [entity for entity in event["entity"] if entity.get("role", {}).get("code") == "1"]
        assert person["what"]["identifier"] == {"system": NHS, "value": NHS_NUMBER}
        assert person["type"]["code"] == "1"
    assert "link" not in document and OTHER_PERSON not in response.text

    # The per-request export never names the person, whoever reads it.
    for request in (first, second):
        for headers in (guardian(tokens), tokens.agency(request["requester"])):
            exported = await export(client, request["id"], headers)
            assert NHS_NUMBER not in exported.text and OTHER_PERSON not in exported.text
            assert "0000018" not in exported.text

    # The JSON form is as it was.
    plain = await subject_report(client, tokens, NHS_NUMBER)
    assert plain.headers["content-type"] == "application/json"
    assert plain.json()["matches"] == 2 and [item["request_id"] for item in plain.json()["items"]] == [
        first["id"],
        second["id"],
    ]
    assert (await subject_report(client, tokens, NHS_NUMBER, format="json")).json() == plain.json()

    async with app.state.wiring.engine.connect() as connection:
        trail = (
            await connection.execute(
                text("SELECT actor_sub, action, target_id, outcome FROM audit_events ORDER BY seq")
            )
        ).all()
    assert [tuple(row) for row in trail if row[1] == "subject_disclosures_searched"] == [
        ("guardian-1", "subject_disclosures_searched", "subject_disclosures", "2 requests, as FHIR"),
        ("guardian-1", "subject_disclosures_searched", "subject_disclosures", "2 requests"),
        ("guardian-1", "subject_disclosures_searched", "subject_disclosures", "2 requests"),
    ]
    assert NHS_NUMBER not in repr(trail)


async def test_the_fhir_subject_report_pages_like_the_json_one(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    referred = await named(client, tokens, "RXT01", [NHS_NUMBER], REFERRED, "awaiting_review")
    approved = await named(client, tokens, "RXT01", [NHS_NUMBER], {}, "approved")

    page = validated(
        (
            await subject_report(
                client, tokens, f" {NHS_NUMBER[:3]} {NHS_NUMBER[3:6]} {NHS_NUMBER[6:]} ", format="fhir", limit=1
            )
        ).json()
    )
    assert [event["id"] for event, _ in pairs(page)] == [referred["decision"]["id"]]
    [link] = page["link"]
    assert (
        link["relation"] == "next"
        and link["url"].startswith("/v1/reports/subject-disclosures?")
        and NHS_NUMBER not in link["url"]
    )
    # The person is named as a 10-digit NHS number, however the caller spaced it.
    assert {"system": NHS, "value": NHS_NUMBER} in [
        entity.get("what", {}).get("identifier") for entity in pairs(page)[0][0]["entity"]
    ]

    following = validated((await subject_report(client, tokens, NHS_NUMBER, url=link["url"])).json())
    assert [event["id"] for event, _ in pairs(following)] == [approved["decision"]["id"]] and "link" not in following

    nobody = validated((await subject_report(client, tokens, "9990000034", format="fhir")).json())
    assert "entry" not in nobody and "link" not in nobody


async def test_the_fhir_subject_report_is_for_guardians_and_auditors_only(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    for headers in (tokens.agency(requester), tokens.admin()):
        response = await client.post(
            "/v1/reports/subject-disclosures",
            params={"format": "fhir"},
            json={"identifier": NHS_NUMBER},
            headers=headers,
        )
        assert response.status_code == 403
    bad = await client.post(
        "/v1/reports/subject-disclosures",
        params={"format": "xml"},
        json={"identifier": NHS_NUMBER},
        headers=guardian(tokens),
    )
    assert bad.status_code == 422 and [error["field"] for error in bad.json()["errors"]] == ["format"]
    assert NHS_NUMBER not in bad.text


# The builders on their own, for what the HTTP tests do not reach: every outcome, kind and purpose.


def stored(kind: DecisionKind, outcome: DecisionOutcome, **fields: Any) -> Decision:
    values: dict[str, Any] = {
        "id": "b2e4d6f8-1a3c-4e5f-8a7b-9c0d1e2f3a4b",
        "request_id": "6f1c2a9e-3b7d-4e21-9a55-0c8d2f4b7e10",
        "version": 2,
        "kind": kind,
        "outcome": outcome,
        "findings": [],
        "conditions": ["a condition"] if outcome == DecisionOutcome.APPROVE_WITH_CONDITIONS else [],
        "decided_by": "rules" if kind == DecisionKind.RULES else "guardian-7",
        "policy_name": "uk-caldicott-baseline",
        "policy_version": "2027.1",
        "policy_hash": "0" * 64,
        "request_hash": "0" * 64,
        "decided_at": datetime.fromisoformat("2026-11-26T14:05:00.123456+00:00"),
    }
    return Decision(**(values | fields))


BODY = {
    "purpose": {"category": "research"},
    "data_items": [{"category": "diagnoses", "form": "pseudonymised"}, {"category": "genetic", "form": "anonymised"}],
}


@pytest.mark.parametrize("kind", list(DecisionKind))
@pytest.mark.parametrize("outcome", list(DecisionOutcome))
def test_every_kind_and_outcome_of_decision_is_valid_fhir(kind: DecisionKind, outcome: DecisionOutcome) -> None:
    entries = fhir.decision_entries(
        decision=stored(kind, outcome),
        requester="RXT01",
        body=BODY,
        controller="CONTROLLER",
        names={},
        person="MRN 4711",
    )
    document = validated(fhir.bundle(entries, now=datetime.fromisoformat("2026-11-27T09:00:00+00:00")))
    [(event, origin)] = pairs(document)
    assert event["recorded"] == origin["recorded"] == "2026-11-26T14:05:00.123456Z"
    assert event["outcome"] == "0" and event["outcomeDesc"]
    assert codes(event["subtype"]) >= {(OUTCOMES, outcome.value), (KINDS, kind.value)}
    assert disclosed(event) == (
        {"diagnoses", "genetic"}
        if outcome in {DecisionOutcome.APPROVE, DecisionOutcome.APPROVE_WITH_CONDITIONS}
        else set()
    )
    assert [
        entity["what"]["identifier"] for entity in event["entity"] if entity.get("role", {}).get("code") == "1"
    ] == [{"system": "https://caldicott.dev/fhir/Id/subject-identifier", "value": "MRN4711"}]
    assert (
        fhir.decision_entries(
            decision=stored(kind, outcome), requester="RXT01", body=BODY, controller="CONTROLLER", names={}
        )[1]["fullUrl"]
        == (entries[1]["fullUrl"])
    )  # the Provenance's id is the same on every export


def test_an_emergency_share_and_a_partial_approval_are_told_apart() -> None:
    emergency = fhir.audit_event(
        decision=stored(DecisionKind.RULES, DecisionOutcome.APPROVE, review_required=True),
        requester="R",
        body=BODY,
        controller="C",
        names={},
    )
    assert emergency["outcomeDesc"].startswith("Approved as an emergency share")
    partial = stored(DecisionKind.GUARDIAN, DecisionOutcome.APPROVE, approved_items=["genetic"])
    assert disclosed(fhir.audit_event(decision=partial, requester="R", body=BODY, controller="C", names={})) == {
        "genetic"
    }


EXPECTED_PURPOSES = {
    "direct_care": "TREAT",
    "safeguarding_child": "THREAT",
    "safeguarding_adult": "THREAT",
    "crime_prevention": None,
    "court_order": "HLEGAL",
    "research": "HRESCH",
    "service_planning": "HOPERAT",
    "public_health": "PUBHLTH",
    "regulatory": "HCOMPL",
    "other": None,
}


@pytest.mark.parametrize("category", list(PurposeCategory))
def test_each_purpose_keeps_its_own_code_beside_the_v3_purpose_of_use(category: PurposeCategory) -> None:
    concept = fhir.purpose_of_use(category)
    get_fhir_model_class("CodeableConcept").model_validate(concept)
    expected = {(PURPOSES, category.value)} | (
        {(ACT_REASON, EXPECTED_PURPOSES[category])} if EXPECTED_PURPOSES[category] else set()
    )
    assert codes(concept["coding"]) == expected


@pytest.mark.parametrize(
    ("identifier", "number"),
    [
        ("9990000018", "9990000018"),
        (" 999 000 0018 ", "9990000018"),
        ("9434765919", "9434765919"),
        ("9990000017", None),
        ("999000001", None),
        ("99900000181", None),
    ],
)
def test_only_a_valid_nhs_number_is_named_as_one(identifier: str, number: str | None) -> None:
    assert fhir.nhs_number(identifier) == number
    system = fhir.person_entity(identifier)["what"]["identifier"]["system"]
    assert system == (NHS if number else "https://caldicott.dev/fhir/Id/subject-identifier")
