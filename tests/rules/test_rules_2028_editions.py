"""Every rule of 2028.1 fires on some request; 2027.1 and 2026.1 decide as before where 2028.1 differs,
and ignore its new vocabulary."""

from typing import Any

import pytest

from app.models.vocabulary import AgreementStatus, FindingResult, Outcome

from .baseline import POLICY, POLICY_2027, agreement, changed, item, result, run
from .baseline_2028 import (
    CONDITION,
    COURT_LABEL,
    DEAD,
    EMERGENCY,
    EXPLICIT,
    GATEWAY,
    LEGAL,
    OPI,
    PASS,
    POLICY_2028,
    REFER,
    REFUSE,
    REFUSED,
    SAFEGUARDING_ADULT,
    duty,
    options,
    run28,
)

# One request on which each rule of 2028.1 fires: (changes, facts options, the result it gives).
FIRES: dict[str, tuple[dict[str, Any], dict[str, Any], FindingResult]] = {
    "CP1.purpose_recognised": ({"purpose.category": "other"}, {}, REFER),
    "CP1.direct_care_recipient": ({}, options("coroner"), REFER),
    "CP1.purpose_requester_fit": ({"purpose.category": "crime_prevention"}, options("integrated_care_board"), REFER),
    "CP2.identifiable_secondary_use": (LEGAL | {"purpose.category": "research"}, {}, REFUSE),
    "CP3.full_record": (COURT_LABEL | {"data_items": [item("full_record")]}, {}, REFER),
    "CP3.category_scope": ({"data_items": [item("criminal_offence")]}, {}, REFER),
    "CP3.bulk_identifiable": ({"purpose.category": "other", "subjects.count": 101}, {}, REFER),
    "CP4.onward_sharing": ({"recipient.onward_sharing": True}, {}, REFER),
    "CP4.named_access": ({"recipient.access_roles": []}, {}, CONDITION),
    "CP5.staff_trained": ({"recipient.staff_trained": False}, {}, CONDITION),
    "CP5.dspt": ({"purpose.category": "research"}, options("nhs_england", "not_met"), REFER),
    "CP6.article9_condition": ({"legal_basis.article_9": None}, {}, REFUSE),
    "CP6.article10_condition": (
        {"data_items": [item("criminal_offence")], "purpose.category": "regulatory"},
        {},
        REFUSE,
    ),
    "CP6.not_confidential_scope": ({"legal_basis.confidentiality": "not_confidential"}, {}, REFUSE),
    "CP6.single_subject_anonymised": ({"data_items": [item("diagnoses", "anonymised")]}, {}, REFUSE),
    "CP6.article9_purpose_fit": ({"legal_basis.article_9": "research"}, {}, REFUSE),
    "CP6.schedule1_paragraph": (
        SAFEGUARDING_ADULT
        | {"legal_basis.article_9": "substantial_public_interest", "legal_basis.person_at_risk": "other"},
        {},
        CONDITION,
    ),
    "CP6.vital_interests_capacity": ({"legal_basis.article_9": "vital_interests"}, {}, REFUSE),
    "CP6.public_authority_li": ({"legal_basis.article_6": "legitimate_interests"}, {}, REFUSE),
    "CP6.consent_basis_valid": ({"legal_basis.confidentiality": "explicit_consent"}, {}, REFUSE),
    "CP6.implied_consent_scope": ({"purpose.category": "safeguarding_adult"}, {}, REFUSE),
    "CP6.reference_required": (LEGAL | {"legal_basis.reference": "TBC"}, {}, REFUSE),
    "CP6.legal_requirement_verified": (duty("hsca_2008_s64", "regulatory"), options("regulator"), CONDITION),
    "CP6.court_order_verified": (COURT_LABEL, {}, REFER),
    "CP6.gateway_kind": (GATEWAY | {"legal_basis.provision": "finance_act_2008_sch36"}, {}, CONDITION),
    "CP6.s251_verified": ({"legal_basis.confidentiality": "s251_support"}, {}, CONDITION),
    "CP6.international_transfer": ({"recipient.storage_region": "other"}, {}, REFUSE),
    "CP6.national_data_opt_out": (
        {"purpose.category": "research", "legal_basis.confidentiality": "s251_support"},
        {},
        CONDITION,
    ),
    "CP7.emergency_share": (EMERGENCY | {"transparency.subject_informed": "would_prejudice_purpose"}, {}, CONDITION),
    "CP8.transparency": (
        {"transparency.subject_informed": "no", "transparency.privacy_notice_covers_use": False},
        {},
        CONDITION,
    ),
    "CONSENT.refusal": (REFUSED, {}, REFUSE),
    "CONSENT.capacity_invalid": ({"consent.status": "given", "consent.capacity": "lacks_capacity"}, {}, REFUSE),
    "CONSENT.best_interests": ({"consent.capacity": "lacks_capacity"}, {}, REFER),
    "CONSENT.child_competence": (
        {"subjects.age_group": "child", "consent.status": "given", "consent.capacity": "not_assessed"},
        {},
        REFER,
    ),
    "CONSENT.public_interest": (OPI, {}, REFER),
    "CONSENT.proxy_authority": ({"consent.status": "given", "consent.given_by": "parent"}, {}, REFUSE),
    "CONSENT.proxy_scope": (
        {"consent.status": "given", "consent.given_by": "deputy", "consent.capacity": "lacks_capacity"},
        {},
        REFER,
    ),
    "CONSENT.third_party_consent": (
        EXPLICIT | {"purpose.category": "safeguarding_adult"},
        options("charity"),
        CONDITION,
    ),
    "STAT.restricted_category": ({"data_items": [item("gender_history")]}, {}, REFER),
    "PROP.retention": ({"purpose.category": "research", "recipient.retention_days": 2556}, {}, CONDITION),
    "DEC.deceased": (DEAD, {}, REFER),
    "AGR.registered": ({"sharing_agreement": "ISA-NOT-REGISTERED"}, {}, REFER),
    "AGR.in_force": (
        {"sharing_agreement": "ISA-TEST"},
        {"agreement_facts": agreement(status=AgreementStatus.SUSPENDED)},
        CONDITION,
    ),
    "AGR.party": (
        {"sharing_agreement": "ISA-TEST"},
        {"agreement_facts": agreement(parties=frozenset({"LA-TEST"}))},
        REFER,
    ),
    "AGR.scope": (
        {"sharing_agreement": "ISA-TEST", "data_items": [item("medications")]},
        {"agreement_facts": agreement()},
        CONDITION,
    ),
    "AGR.systematic": ({"subjects.count": 2}, {}, CONDITION),
}


def test_every_2028_rule_has_a_request_that_makes_it_fire() -> None:
    assert set(FIRES) == set(POLICY_2028.rules)


@pytest.mark.parametrize("rule_id", sorted(FIRES))
def test_each_2028_rule_fires(rule_id: str) -> None:
    changes, facts_options, expected = FIRES[rule_id]
    found = [f for f in run28(changed(changes), **facts_options).findings if f.rule == rule_id]

    assert [f.result for f in found] == [expected]


# Where 2028.1 differs, 2027.1 and 2026.1 decide as they did: (changes, requester, rule, 2026.1, 2027.1, 2028.1).
# None: the edition has no such rule. A requester is its type, or type/toolkit status.
DIFFERS: list[tuple[dict[str, Any], str, str, FindingResult | None, FindingResult | None, FindingResult]] = [
    (
        {"legal_basis.confidentiality": "not_confidential"},
        "nhs_trust",
        "CP6.not_confidential_scope",
        None,
        None,
        REFUSE,
    ),
    (COURT_LABEL | REFUSED, "nhs_trust", "CONSENT.refusal", PASS, PASS, REFUSE),
    (COURT_LABEL | {"data_items": [item("full_record")]}, "nhs_trust", "CP3.full_record", PASS, PASS, REFER),
    (COURT_LABEL | {"data_items": [item("sexual_health")]}, "nhs_trust", "STAT.restricted_category", PASS, PASS, REFER),
    (COURT_LABEL | {"subjects.count": 2}, "nhs_trust", "AGR.systematic", PASS, PASS, CONDITION),
    (COURT_LABEL, "nhs_trust", "CP6.court_order_verified", None, CONDITION, REFER),
    (
        DEAD | {"data_items": [item("diagnoses", "anonymised")], "subjects.count": 20},
        "nhs_trust",
        "DEC.deceased",
        REFER,
        REFER,
        PASS,
    ),
    (
        duty("children_act_2004_s16h", "safeguarding_child"),
        "nhs_trust",
        "CP6.legal_requirement_verified",
        None,
        PASS,
        REFER,
    ),
    (duty("children_act_1989_s47", "research"), "local_authority", "CP6.legal_requirement_verified", None, PASS, REFER),
    (
        duty("road_traffic_act_1988_s172", "crime_prevention", data_items=[item("demographics")], subjects__count=3),
        "police",
        "CP6.legal_requirement_verified",
        None,
        PASS,
        REFER,
    ),
    (
        duty("children_act_1989_s47", "research", data_items=[item("diagnoses", "pseudonymised")]),
        "local_authority",
        "CP6.national_data_opt_out",
        PASS,
        PASS,
        CONDITION,
    ),
    (
        duty("hsca_2012_s259", "research", data_items=[item("diagnoses", "pseudonymised")]),
        "nhs_england",
        "CP6.national_data_opt_out",
        PASS,
        PASS,
        PASS,
    ),
    (LEGAL | {"legal_basis.reference": "TBC"}, "nhs_trust", "CP6.reference_required", PASS, PASS, REFUSE),
    (LEGAL | {"purpose.category": "research"}, "nhs_trust", "CP2.identifiable_secondary_use", PASS, PASS, REFUSE),
    ({"purpose.category": "other", "subjects.count": 101}, "nhs_trust", "CP3.bulk_identifiable", PASS, PASS, REFER),
    (
        {"consent.capacity": "lacks_capacity", "subjects.age_group": "child"},
        "nhs_trust",
        "CONSENT.best_interests",
        REFER,
        REFER,
        PASS,
    ),
    ({"purpose.category": "research"}, "coroner/not_met", "CP5.dspt", REFER, REFER, PASS),
    ({}, "court", "CP1.direct_care_recipient", None, PASS, REFER),
    (
        {"purpose.category": "safeguarding_child", "data_items": [item("criminal_offence")]},
        "local_authority",
        "CP3.category_scope",
        REFER,
        REFER,
        PASS,
    ),
    (
        REFUSED | {"consent.given_by": "parent", "subjects.age_group": "child", "consent.capacity": "not_assessed"},
        "nhs_trust",
        "CONSENT.refusal",
        REFUSE,
        REFUSE,
        REFUSE,
    ),
    (
        REFUSED | {"consent.given_by": "parent", "subjects.age_group": "child", "consent.capacity": "has_capacity"},
        "nhs_trust",
        "CONSENT.refusal",
        REFUSE,
        REFUSE,
        PASS,
    ),
    (
        REFUSED | {"consent.capacity": "lacks_capacity", "purpose.category": "research"},
        "nhs_trust",
        "CONSENT.refusal",
        PASS,
        PASS,
        REFUSE,
    ),
    (
        REFUSED
        | {
            "consent.capacity": "lacks_capacity",
            "consent.given_by": "attorney",
            "consent.proxy_scope": "property_and_affairs",
        },
        "nhs_trust",
        "CONSENT.refusal",
        PASS,
        REFER,
        PASS,
    ),
    (
        EMERGENCY | {"data_items": [item("demographics"), item("sexual_health")], "consent.status": "not_possible"},
        "nhs_trust",
        "CP7.emergency_share",
        PASS,
        PASS,
        CONDITION,
    ),
]


@pytest.mark.parametrize(("changes", "requester", "rule_id", "in_2026", "in_2027", "in_2028"), DIFFERS)
def test_earlier_editions_decide_as_before_where_2028_differs(
    changes: dict[str, Any],
    requester: str,
    rule_id: str,
    in_2026: FindingResult | None,
    in_2027: FindingResult | None,
    in_2028: FindingResult,
) -> None:
    request = changed(changes)
    kind, _, dspt = requester.partition("/")
    by_edition = {}
    for policy in (POLICY, POLICY_2027):
        by_rule = {
            found.rule: found.result
            for found in run(request, policy=policy, **options(kind, dspt or "standards_met")).findings
        }
        by_edition[policy.version] = by_rule.get(rule_id)

    assert by_edition == {"2026.1": in_2026, "2027.1": in_2027}
    assert result(run28(request, requester=kind, dspt=dspt or "standards_met"), rule_id) == in_2028


def test_the_label_not_confidential_changes_the_outcome_only_in_2028() -> None:
    request = changed({"legal_basis.confidentiality": "not_confidential"})

    assert run(request).outcome == Outcome.APPROVE
    assert run(request, policy=POLICY_2027).outcome == Outcome.APPROVE
    assert run28(request).outcome == Outcome.REFUSE


NEW_FIELDS = [
    {"consent.proxy_scope": "property_and_affairs"},
    {"consent.proxy_scope": "health_and_welfare", "legal_basis.person_at_risk": "other"},
    {"legal_basis.person_at_risk": "other"},
]
REQUESTS = {
    "baseline": {},
    "proxy refusal": REFUSED | {"consent.capacity": "lacks_capacity", "consent.given_by": "attorney"},
    "proxy consent": EXPLICIT
    | {"consent.capacity": "lacks_capacity", "consent.given_by": "deputy", "purpose.category": "research"},
    "paragraph 18": SAFEGUARDING_ADULT
    | {"legal_basis.article_9": "substantial_public_interest", "legal_basis.schedule1_paragraph": 18},
}


@pytest.mark.parametrize("new_fields", NEW_FIELDS)
@pytest.mark.parametrize("name", sorted(REQUESTS))
@pytest.mark.parametrize("policy", [POLICY, POLICY_2027], ids=["2026.1", "2027.1"])
def test_earlier_editions_ignore_the_2028_fields(policy: Any, name: str, new_fields: dict[str, Any]) -> None:
    request = changed(REQUESTS[name])

    assert run(changed(new_fields, request), policy=policy) == run(request, policy=policy)
