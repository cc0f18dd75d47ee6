"""Disclosure decisions as FHIR R4: an AuditEvent and a Provenance per decision, and per disclosure recorded as
made (subtype `disclosure`: what actually left the controller), gathered in a collection Bundle.

Plain dicts in the R4 shape (the service does not depend on a FHIR library; the tests validate what is built here with
fhir.resources.R4B, whose AuditEvent, Provenance and Bundle are R4's). No profile is claimed: IHE BALP's privacy
disclosure profiles (which this follows for `type`, `subtype` and the source/recipient agents) need network addresses
and a Patient resource this service does not have.

Free text (the requester's descriptions and justifications, a guardian's rationale and conditions) is never put in a
resource: it may name the person. The person is named only when the caller of the subject report supplied them.
"""

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from app.models.disclosure import Disclosure
from app.models.sharing_request import Decision
from app.models.vocabulary import DecisionKind, DecisionOutcome, PurposeCategory, ReviewVerdict

Resource = dict[str, Any]

MEDIA_TYPE = "application/fhir+json"
# The FHIR version a fhir+json body is in, as the spec's MIME parameter says it (http.html#version-parameter).
FHIR_MEDIA_TYPE = f"{MEDIA_TYPE}; fhirVersion=4.0"

# This service's own code systems and identifier systems.
BASE = "https://caldicott.dev/fhir"
CATEGORY_SYSTEM = f"{BASE}/CodeSystem/data-category"
PURPOSE_SYSTEM = f"{BASE}/CodeSystem/purpose-category"
OUTCOME_SYSTEM = f"{BASE}/CodeSystem/decision-outcome"
KIND_SYSTEM = f"{BASE}/CodeSystem/decision-kind"
DISCLOSURE_SYSTEM = f"{BASE}/CodeSystem/disclosure"
CHANNEL_SYSTEM = f"{BASE}/CodeSystem/disclosure-channel"
TOKEN_SUBJECT_SYSTEM = f"{BASE}/Id/token-subject"  # a guardian: the `sub` of the token they decided with
SERVICE_SYSTEM = f"{BASE}/Id/service"
REQUEST_SYSTEM = f"{BASE}/Id/sharing-request"
LOCAL_SUBJECT_SYSTEM = f"{BASE}/Id/subject-identifier"  # a person's identifier that is not an NHS number
POLICY_BASE = "https://caldicott.dev/policies"
SERVICE_ID = "caldicott-adjudication"
# Ids of Provenance resources are derived from the decision's, so an export repeated gives the same ids.
PROVENANCE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, f"{BASE}/Provenance")

# NHS England's identifier systems.
ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"

# HL7 and DICOM terminologies.
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
LIFECYCLE = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
PROVENANCE_PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"

# `type`: DICOM 110106 Export, as the FHIR R4 spec's own "Accounting of a Disclosure" example
# (auditevent-example-disclosure) and IHE BALP's AuditPrivacyDisclosureSource use it; R4 binds `type` (extensibly) to a
# value set of DICOM event ids and audit-event-type, in which Export is the disclosure code (audit-event-type `rest` is
# a RESTful operation, not a disclosure). The ISO 21089 lifecycle code `disclose` goes in `subtype`,
# where BALP requires it to mark a disclosure.
EXPORT = {"system": DICOM, "code": "110106", "display": "Export"}
DISCLOSE = {"system": LIFECYCLE, "code": "disclose", "display": "Disclose Record Lifecycle Event"}

# `outcome` says whether the audited event, the adjudication, succeeded, not which way it went. Every decision stored is
# an adjudication that completed: a refusal is a successful decision not to disclose, a referral a successful decision
# to ask a guardian; 4/8/12 (minor, serious, major failure: HTTP 4xx and 5xx in the spec's words) describe an event that
# failed, and a failed adjudication rolls back and leaves no decision to export. So each is 0, and what was decided is
# told by `subtype` (the outcome code) and `outcomeDesc`, and by which entities carry the `disclose` lifecycle.
OUTCOME_CODE = {outcome: "0" for outcome in DecisionOutcome}
APPROVALS = frozenset({DecisionOutcome.APPROVE, DecisionOutcome.APPROVE_WITH_CONDITIONS})
OUTCOME_DESCRIPTIONS = {
    DecisionOutcome.APPROVE: "Approved: the information asked for may be disclosed",
    DecisionOutcome.APPROVE_WITH_CONDITIONS: "Approved with conditions ({conditions}): the information approved may "
    "be disclosed on the conditions set",
    DecisionOutcome.REFER: "Referred to a Caldicott Guardian: nothing may be disclosed until a guardian decides",
    DecisionOutcome.REFUSE: "Refused: the information may not be disclosed",
    DecisionOutcome.REQUEST_INFORMATION: "More information asked of the requester: "
    "nothing may be disclosed until a guardian decides",
}
VERDICT_DESCRIPTIONS = {
    ReviewVerdict.UPHELD: "Upheld: the decision reviewed stands",
    ReviewVerdict.NOT_UPHELD: "Not upheld on retrospective review: the emergency disclosure should not have been made",
    ReviewVerdict.OVERTURNED: "Overturned on reconsideration: ",
}
EMERGENCY_DESCRIPTION = (
    "Approved as an emergency share: disclosed at once, to be reviewed by a Caldicott Guardian afterwards"
)

# The request's purpose as HL7 v3 ActReason (PurposeOfUse), beside this service's own code, which always goes too.
# Only where the v3 concept means the same thing: safeguarding is THREAT ("to prevent injury or disease to living
# subjects who may be the target of violence"), a court order HLEGAL ("activities required by legal proceeding"),
# service planning HOPERAT (healthcare operations; HMARKT is marketing), a regulator's request HCOMPL ("activities
# required to meet a mandate"). PurposeOfUse has no law-enforcement concept, so crime prevention (and `other`)
# carry only this service's code.
PURPOSE_OF_USE = {
    PurposeCategory.DIRECT_CARE: ("TREAT", "treatment"),
    PurposeCategory.SAFEGUARDING_CHILD: ("THREAT", "threat"),
    PurposeCategory.SAFEGUARDING_ADULT: ("THREAT", "threat"),
    PurposeCategory.COURT_ORDER: ("HLEGAL", "legal"),
    PurposeCategory.RESEARCH: ("HRESCH", "healthcare research"),
    PurposeCategory.SERVICE_PLANNING: ("HOPERAT", "healthcare operations"),
    PurposeCategory.PUBLIC_HEALTH: ("PUBHLTH", "public health"),
    PurposeCategory.REGULATORY: ("HCOMPL", "health compliance"),
}
KIND_DISPLAYS = {
    DecisionKind.RULES: "Decided by the rules of the policy",
    DecisionKind.GUARDIAN: "Decided by a Caldicott Guardian",
    DecisionKind.RETROSPECTIVE: "Retrospective review of an emergency share by a Caldicott Guardian",
    DecisionKind.RECONSIDERATION: "Reconsidered by a Caldicott Guardian at the requester's request",
    DecisionKind.PANEL: "Decided by a panel of Caldicott Guardians",
}
SERVICE = {
    "type": "Device",
    "identifier": {"system": SERVICE_SYSTEM, "value": SERVICE_ID},
    "display": "Caldicott sharing adjudication service",
}


def instant(moment: datetime) -> str:
    """A FHIR instant: UTC with a Z, to the precision stored."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def label(code: str) -> str:
    """A display for one of this service's codes: `care_record_summary` is "Care record summary"."""
    return code.replace("_", " ").capitalize()


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    """A Coding; the display defaults to the code in words."""
    return {"system": system, "code": code, "display": display or label(code)}


def urn(resource_id: str) -> str:
    return f"urn:uuid:{resource_id}"


def provenance_id(decision: Decision) -> str:
    """The Provenance of a decision: a name-based UUID of the decision's id."""
    return str(uuid.uuid5(PROVENANCE_NAMESPACE, decision.id))


def policy_uri(decision: Decision) -> str:
    """The policy, name and version, the decision was made under."""
    return f"{POLICY_BASE}/{quote(decision.policy_name, safe='')}/{quote(decision.policy_version, safe='')}"


def purpose_of_use(category: str) -> Resource:
    """The purpose as a CodeableConcept: the v3 PurposeOfUse code when one means the same, and this service's own."""
    codings = []
    if category in PURPOSE_OF_USE:
        code, display = PURPOSE_OF_USE[PurposeCategory(category)]
        codings.append(coding(ACT_REASON, code, display))
    codings.append(coding(PURPOSE_SYSTEM, category))
    return {"coding": codings, "text": label(category)}


def organisation(code: str, names: Mapping[str, str]) -> Resource:
    """A Reference to an organisation by its ODS code."""
    reference: Resource = {"type": "Organization", "identifier": {"system": ODS_SYSTEM, "value": code}}
    if code in names:
        reference["display"] = names[code]
    return reference


def decider(decision: Decision, guardian: str | None = None) -> Resource:
    """Who decided: this service for the rules, else the guardian by their token subject
    (a panel's: the chair who closed it).

    `guardian`: the words that stand for a guardian whose subject the reader may not see
    (an agency): no identifier then.
    """
    if decision.kind == DecisionKind.RULES:
        return SERVICE
    if guardian is not None:
        return {"type": "Practitioner", "display": guardian}
    return {
        "type": "Practitioner",
        "identifier": {"system": TOKEN_SUBJECT_SYSTEM, "value": decision.decided_by},
        "display": "Caldicott Guardian",
    }


def nhs_number(identifier: str) -> str | None:
    """The identifier as a 10-digit NHS number when it is one (the modulus 11 check digit holds), else None."""
    digits = "".join(identifier.split())
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return None
    check = 11 - sum(int(digit) * weight for digit, weight in zip(digits[:9], range(10, 1, -1), strict=True)) % 11
    check = 0 if check == 11 else check
    return digits if check != 10 and check == int(digits[9]) else None


def person_entity(identifier: str) -> Resource:
    """The person the report is about, as the caller named them:
    by NHS number when it is one, else as a local identifier."""
    number = nhs_number(identifier)
    named = (
        {"system": NHS_NUMBER_SYSTEM, "value": number}
        if number
        else {"system": LOCAL_SUBJECT_SYSTEM, "value": "".join(identifier.split())}
    )
    return {
        "what": {"identifier": named},
        "type": coding(ENTITY_TYPE, "1", "Person"),
        "role": coding(OBJECT_ROLE, "1", "Patient"),
    }


def _outcome_description(decision: Decision) -> str:
    if decision.kind == DecisionKind.RULES and decision.review_required and decision.outcome in APPROVALS:
        return EMERGENCY_DESCRIPTION
    if decision.verdict in (ReviewVerdict.UPHELD, ReviewVerdict.NOT_UPHELD):
        return VERDICT_DESCRIPTIONS[ReviewVerdict(decision.verdict)]
    described = OUTCOME_DESCRIPTIONS[DecisionOutcome(decision.outcome)].format(conditions=len(decision.conditions))
    return VERDICT_DESCRIPTIONS[ReviewVerdict.OVERTURNED] + described if decision.verdict else described


def _category_entities(decision: Decision, data_items: Iterable[Mapping[str, Any]]) -> list[Resource]:
    """One entity per kind of information asked for;
    those the decision lets be disclosed carry the `disclose` lifecycle."""
    requested = [item["category"] for item in data_items]
    approved = (
        set()
        if decision.outcome not in APPROVALS
        else set(requested if decision.approved_items is None else decision.approved_items)
    )
    entities = []
    for item in data_items:
        entity: Resource = {"type": coding(CATEGORY_SYSTEM, item["category"])}
        if item["category"] in approved:
            entity["lifecycle"] = DISCLOSE
        entity["detail"] = [
            {"type": "form", "valueString": item["form"]},
            {"type": "approved for disclosure", "valueString": "yes" if item["category"] in approved else "no"},
        ]
        entities.append(entity)
    return entities


def audit_event(
    *,
    decision: Decision,
    requester: str,
    body: Mapping[str, Any],
    controller: str,
    names: Mapping[str, str],
    person: str | None = None,
    guardian: str | None = None,
) -> Resource:
    """The AuditEvent of one decision on a request to disclose;
    `person` (the caller's own identifier) only for the subject report."""
    purpose = purpose_of_use(body["purpose"]["category"])
    policy = policy_uri(decision)
    request_entity = {
        "what": {"identifier": {"system": REQUEST_SYSTEM, "value": decision.request_id}},
        "type": coding(ENTITY_TYPE, "2", "System Object"),
        "detail": [{"type": "version", "valueString": str(decision.version)}],
    }
    return {
        "resourceType": "AuditEvent",
        "id": decision.id,
        "type": EXPORT,
        "subtype": [
            DISCLOSE,
            coding(OUTCOME_SYSTEM, decision.outcome),
            coding(KIND_SYSTEM, decision.kind, KIND_DISPLAYS[DecisionKind(decision.kind)]),
        ],
        "action": "E",  # the service executes a decision; it never reads the record itself
        "recorded": instant(decision.decided_at),
        "outcome": OUTCOME_CODE[DecisionOutcome(decision.outcome)],
        "outcomeDesc": _outcome_description(decision),
        "purposeOfEvent": [purpose],
        "agent": [
            {
                "type": {"coding": [coding(DICOM, "110152", "Destination Role ID")]},
                "who": organisation(requester, names),
                "requestor": True,
                "purposeOfUse": [purpose],
            },
            {
                "type": {"coding": [coding(PARTICIPATION, "AUT", "author (originator)")]},
                "who": decider(decision, guardian),
                "requestor": False,
                "policy": [policy],
            },
            {
                "type": {"coding": [coding(DICOM, "110153", "Source Role ID")]},
                "who": organisation(controller, names),
                "requestor": False,
            },
        ],
        "source": {"site": controller, "observer": SERVICE, "type": [coding(SOURCE_TYPE, "4", "Application Server")]},
        "entity": [
            *([person_entity(person)] if person is not None else []),
            request_entity,
            *_category_entities(decision, body["data_items"]),
        ],
    }


def provenance(*, decision: Decision, body: Mapping[str, Any], guardian: str | None = None) -> Resource:
    """The Provenance of a decision's AuditEvent: who decided, when, under which policy, from which request."""
    return {
        "resourceType": "Provenance",
        "id": provenance_id(decision),
        "target": [{"reference": urn(decision.id)}],
        "recorded": instant(decision.decided_at),
        "policy": [policy_uri(decision)],
        "reason": [purpose_of_use(body["purpose"]["category"])],
        "activity": {"coding": [coding(KIND_SYSTEM, decision.kind, KIND_DISPLAYS[DecisionKind(decision.kind)])]},
        "agent": [
            {
                "type": {"coding": [coding(PROVENANCE_PARTICIPANT, "author", "Author")]},
                "who": decider(decision, guardian),
            }
        ],
        "entity": [
            {"role": "source", "what": {"identifier": {"system": REQUEST_SYSTEM, "value": decision.request_id}}}
        ],
    }


# A disclosure recorded as made, told apart from a decision's AuditEvent by this subtype beside `disclose`.
RECORDED_DISCLOSURE = {
    "system": DISCLOSURE_SYSTEM,
    "code": "disclosure",
    "display": "A disclosure actually made, as the owner of the information asset recorded it",
}


def disclosure_entries(
    *,
    disclosure: Disclosure,
    requester: str,
    purpose: str,
    controller: str,
    names: Mapping[str, str],
    person: str | None = None,
) -> list[Resource]:
    """The AuditEvent of a disclosure recorded as made (what went, by which channel, when), then its Provenance:
    the controller organisation made it (never the person who recorded it)."""
    assert disclosure.disclosed_at is not None and disclosure.channel is not None
    items = [str(item) for item in disclosure.items or []]
    concept = purpose_of_use(purpose)
    event = {
        "resourceType": "AuditEvent",
        "id": disclosure.id,
        "type": EXPORT,
        "subtype": [DISCLOSE, RECORDED_DISCLOSURE, coding(CHANNEL_SYSTEM, disclosure.channel)],
        "action": "E",
        "recorded": instant(disclosure.disclosed_at),
        "outcome": "0",
        "outcomeDesc": f"Disclosed by {label(disclosure.channel)}: {', '.join(label(item) for item in items)}",
        "purposeOfEvent": [concept],
        "agent": [
            {
                "type": {"coding": [coding(DICOM, "110152", "Destination Role ID")]},
                "who": organisation(requester, names),
                "requestor": True,
                "purposeOfUse": [concept],
            },
            {
                "type": {"coding": [coding(DICOM, "110153", "Source Role ID")]},
                "who": organisation(controller, names),
                "requestor": False,
            },
        ],
        "source": {"site": controller, "observer": SERVICE, "type": [coding(SOURCE_TYPE, "4", "Application Server")]},
        "entity": [
            *([person_entity(person)] if person is not None else []),
            {
                "what": {"identifier": {"system": REQUEST_SYSTEM, "value": disclosure.request_id}},
                "type": coding(ENTITY_TYPE, "2", "System Object"),
            },
            *({"type": coding(CATEGORY_SYSTEM, item), "lifecycle": DISCLOSE} for item in items),
        ],
    }
    origin = {
        "resourceType": "Provenance",
        "id": str(uuid.uuid5(PROVENANCE_NAMESPACE, disclosure.id)),
        "target": [{"reference": urn(disclosure.id)}],
        "recorded": instant(disclosure.recorded_at or disclosure.disclosed_at),
        "reason": [concept],
        "activity": {"coding": [RECORDED_DISCLOSURE]},
        "agent": [
            {
                "type": {"coding": [coding(PROVENANCE_PARTICIPANT, "author", "Author")]},
                "who": organisation(controller, names),
            }
        ],
        "entity": [
            {"role": "source", "what": {"identifier": {"system": REQUEST_SYSTEM, "value": disclosure.request_id}}}
        ],
    }
    return [{"fullUrl": urn(disclosure.id), "resource": event}, {"fullUrl": urn(origin["id"]), "resource": origin}]


def decision_entries(
    *,
    decision: Decision,
    requester: str,
    body: Mapping[str, Any],
    controller: str,
    names: Mapping[str, str],
    person: str | None = None,
    guardian: str | None = None,
) -> list[Resource]:
    """The two Bundle entries of one decision: its AuditEvent, then the Provenance that targets it
    (`guardian`: see `decider`)."""
    event = audit_event(
        decision=decision,
        requester=requester,
        body=body,
        controller=controller,
        names=names,
        person=person,
        guardian=guardian,
    )
    return [
        {"fullUrl": urn(decision.id), "resource": event},
        {
            "fullUrl": urn(provenance_id(decision)),
            "resource": provenance(decision=decision, body=body, guardian=guardian),
        },
    ]


def bundle(
    entries: list[Resource], *, now: datetime, next_url: str | None = None, bundle_id: str | None = None
) -> Resource:
    """A collection Bundle of the entries (a new id unless given), with a `next` link when there is a further page."""
    document: Resource = {
        "resourceType": "Bundle",
        "id": bundle_id or str(uuid.uuid4()),
        "type": "collection",
        "timestamp": instant(now),
    }
    if next_url is not None:
        document["link"] = [{"relation": "next", "url": next_url}]
    if entries:  # FHIR JSON has no empty arrays
        document["entry"] = entries
    return document
