"""The rules policy 2028.1 reads differently (brief section 4b, "Changed rules"), at their boundaries.

The verified duty of 2028.1 reads every limit of its registry entry (requesters, purposes, categories,
max_subjects), and "court-verified" replaces the purpose label court_order. Every expected result is read
from the brief.
"""

from typing import Any

import pytest

from app.models.vocabulary import FindingResult, Outcome
from app.rules.engine import RuleId

from .baseline import changed, finding, fired, item
from .baseline_2028 import (
    CONDITION,
    COURT_LABEL,
    COURT_VERIFIED,
    DEAD,
    EXPLICIT,
    LEGAL,
    NEW_TYPES,
    NON_CARE_2028,
    PASS,
    REFER,
    REFUSE,
    check28,
    duty,
    run28,
)

# CP1.direct_care_recipient and CP6.implied_consent_scope, with 2028.1's NON_CARE


@pytest.mark.parametrize("requester", [*sorted(NON_CARE_2028), "other", "integrated_care_board", "nhs_trust", "care_provider"])
def test_cp1_direct_care_recipient_2028(requester: str) -> None:
    expected = REFER if requester in NON_CARE_2028 | {"other"} else PASS
    check28(RuleId.CP1_DIRECT_CARE_RECIPIENT, expected, changed({}), requester=requester)


@pytest.mark.parametrize("requester", [*NEW_TYPES, "police", "charity"])
def test_cp6_implied_consent_scope_2028(requester: str) -> None:
    expected = REFUSE if requester in NON_CARE_2028 else PASS
    check28(RuleId.CP6_IMPLIED_CONSENT_SCOPE, expected, changed({}), requester=requester)


# CP2.identifiable_secondary_use: a legal requirement counts only as a verified duty


@pytest.mark.parametrize(
    ("changes", "requester", "expected"),
    [
        ({"legal_basis.confidentiality": "not_confidential"}, "research", REFUSE),
        ({"legal_basis.confidentiality": "overriding_public_interest"}, "research", REFUSE),
        ({"legal_basis.confidentiality": "permissive_gateway", "legal_basis.provision": "care_act_2014_s6"}, "research", REFUSE),
        (EXPLICIT, "research", PASS),
        ({"legal_basis.confidentiality": "s251_support"}, "research", PASS),
        (LEGAL, "nhs_england", REFUSE),
        (LEGAL | {"legal_basis.provision": "made_up_act_2031"}, "nhs_england", REFUSE),
        (duty("hsca_2012_s259", "research"), "nhs_england", PASS),
        (duty("hsca_2012_s259", "service_planning"), "nhs_england", PASS),
        (duty("hsca_2012_s259", "research"), "nhs_trust", REFUSE),
        (duty("children_act_1989_s47", "research"), "local_authority", REFUSE),
        (duty("crime_and_disorder_act_1998_s115", "research"), "police", REFUSE),
        (duty("terrorism_act_2000_s38b", "research"), "police", REFUSE),
        # Not identifiable, or not a secondary use.
        ({"legal_basis.confidentiality": "not_confidential", "data_items": [item("diagnoses", "pseudonymised")]}, "research", PASS),
        ({"legal_basis.confidentiality": "not_confidential", "purpose.category": "public_health"}, "nhs_trust", PASS),
        (LEGAL | {"purpose.category": "public_health"}, "nhs_trust", PASS),
    ],
)
def test_cp2_identifiable_secondary_use_2028(changes: dict[str, Any], requester: str, expected: FindingResult) -> None:
    check28(
        RuleId.CP2_IDENTIFIABLE_SECONDARY_USE,
        expected,
        changed({"purpose.category": "research", "legal_basis.reference": "Ref 2028/1"} | changes),
        requester=requester,
    )


# CP3.full_record: only a court-verified request takes the whole record


@pytest.mark.parametrize(
    ("changes", "requester", "expected"),
    [
        ({}, "nhs_trust", REFER),
        ({"data_items": [item("full_record", "anonymised")], "subjects.count": 50}, "nhs_trust", REFER),
        (COURT_LABEL, "nhs_trust", REFER),
        (COURT_VERIFIED, "nhs_trust", PASS),
        (COURT_VERIFIED | {"legal_basis.provision": "witness_summons"}, "police", PASS),
        (COURT_VERIFIED | {"legal_basis.provision": "coroners_notice"}, "coroner", PASS),
        (COURT_VERIFIED | {"purpose.category": "direct_care"}, "nhs_trust", REFER),
        (COURT_VERIFIED | {"legal_basis.provision": "hsca_2012_s259"}, "nhs_trust", REFER),
        (COURT_VERIFIED | {"legal_basis.confidentiality": "permissive_gateway"}, "nhs_trust", REFER),
        (duty("children_act_1989_s47", "safeguarding_child"), "local_authority", REFER),
        ({"data_items": [item("care_record_summary")]}, "nhs_trust", PASS),
    ],
)
def test_cp3_full_record_2028(changes: dict[str, Any], requester: str, expected: FindingResult) -> None:
    check28(RuleId.CP3_FULL_RECORD, expected, changed({"data_items": [item("full_record")]} | changes), requester=requester)


# CP3.bulk_identifiable

BULK = {"subjects.count": 101}


@pytest.mark.parametrize(
    ("changes", "requester", "expected"),
    [
        *[
            ({"purpose.category": purpose}, "nhs_trust", REFER)
            for purpose in ("direct_care", "safeguarding_child", "safeguarding_adult", "crime_prevention", "regulatory", "other")
        ],
        ({"subjects.count": 100, "purpose.category": "other"}, "nhs_trust", PASS),
        ({"purpose.category": "other", "data_items": [item("diagnoses", "pseudonymised")]}, "nhs_trust", PASS),
        # Public health: referred unless the request has a CP2 basis.
        ({"purpose.category": "public_health", "legal_basis.confidentiality": "not_confidential"}, "nhs_trust", REFER),
        ({"purpose.category": "public_health", "legal_basis.confidentiality": "overriding_public_interest"}, "nhs_trust", REFER),
        ({"purpose.category": "public_health"} | EXPLICIT, "nhs_trust", PASS),
        ({"purpose.category": "public_health", "legal_basis.confidentiality": "s251_support"}, "nhs_trust", PASS),
        (duty("public_health_control_of_disease_1984_part2a", "public_health"), "local_authority", PASS),
        (duty("public_health_control_of_disease_1984_part2a", "public_health"), "nhs_trust", REFER),
        (duty("health_protection_notification_2010", "public_health", data_items=[item("diagnoses")]), "local_authority", REFER),
        (duty("hsca_2012_s259", "public_health"), "nhs_england", PASS),
        # Court order: referred unless court-verified.
        (COURT_LABEL, "nhs_trust", REFER),
        (COURT_VERIFIED, "nhs_trust", PASS),
        (COURT_VERIFIED | {"legal_basis.provision": "hsca_2012_s259"}, "nhs_trust", REFER),
        # Research and planning are CP2's business.
        ({"purpose.category": "research", "legal_basis.confidentiality": "not_confidential"}, "nhs_trust", PASS),
        ({"purpose.category": "service_planning", "legal_basis.confidentiality": "not_confidential"}, "nhs_trust", PASS),
    ],
)
def test_cp3_bulk_identifiable_2028(changes: dict[str, Any], requester: str, expected: FindingResult) -> None:
    check28(RuleId.CP3_BULK_IDENTIFIABLE, expected, changed(BULK | changes), requester=requester)


# CP5.dspt: courts and coroners, and court-verified requests, whatever the toolkit


@pytest.mark.parametrize(
    ("changes", "requester", "dspt", "expected", "variant"),
    [
        *[
            ({"purpose.category": "research"}, kind, status, PASS, None)
            for kind in ("court", "coroner")
            for status in ("not_met", "approaching_standards", "not_published")
        ],
        *[({"purpose.category": "court_order"}, kind, "not_met", PASS, None) for kind in ("police", "school", "regulator")],
        (COURT_VERIFIED, "nhs_trust", "not_met", PASS, None),
        (COURT_VERIFIED | {"legal_basis.provision": "coroners_notice"}, "charity", "not_published", PASS, None),
        (COURT_VERIFIED | {"legal_basis.provision": "witness_summons"}, "local_authority", "approaching_standards", PASS, None),
        (COURT_LABEL, "nhs_trust", "not_met", REFER, None),
        (COURT_VERIFIED | {"legal_basis.provision": "hsca_2012_s259"}, "nhs_trust", "approaching_standards", CONDITION, None),
        (COURT_VERIFIED | {"purpose.category": "direct_care"}, "nhs_trust", "not_met", CONDITION, "direct_care"),
        (duty("children_act_1989_s47", "safeguarding_child"), "local_authority", "not_met", REFER, None),
        # The other new types are judged as 2027.1 judges an NHS trust.
        ({"purpose.category": "research"}, "nhs_england", "not_met", REFER, None),
        ({"purpose.category": "safeguarding_child"}, "integrated_care_board", "approaching_standards", CONDITION, None),
        ({"purpose.category": "public_health"}, "public_health_agency", "not_published", CONDITION, None),
        ({"purpose.category": "research"}, "charity", "not_published", REFER, "not_published"),
        ({}, "nhs_trust", "not_met", CONDITION, "direct_care"),
        ({"purpose.category": "research"}, "nhs_trust", "standards_met", PASS, None),
    ],
)
def test_cp5_dspt_2028(changes: dict[str, Any], requester: str, dspt: str, expected: FindingResult, variant: str | None) -> None:
    check28(RuleId.CP5_DSPT, expected, changed(changes), variant, requester=requester, dspt=dspt)


# CP6.schedule1_paragraph: paragraph 18 read for the person it protects

SPI = {"legal_basis.article_9": "substantial_public_interest"}
CAPABLE_ADULT = SPI | {
    "legal_basis.schedule1_paragraph": 18,
    "purpose.category": "safeguarding_adult",
    "subjects.age_group": "adult",
    "consent.capacity": "has_capacity",
}
OTHER_AT_RISK = {"legal_basis.person_at_risk": "other"}
S45 = duty("care_act_2014_s45", "safeguarding_adult")


@pytest.mark.parametrize(
    ("changes", "requester", "expected", "variant"),
    [
        # The person at risk is the subject (also when the field is left out): as 2027.1, or a condition on a verified duty.
        (CAPABLE_ADULT, "local_authority", REFER, None),
        (CAPABLE_ADULT | {"legal_basis.person_at_risk": "subject"}, "local_authority", REFER, None),
        (CAPABLE_ADULT | S45, "local_authority", CONDITION, "statutory"),
        (CAPABLE_ADULT | S45, "nhs_trust", REFER, None),
        (CAPABLE_ADULT | S45 | {"subjects.count": 2}, "local_authority", CONDITION, "statutory"),
        (CAPABLE_ADULT | {"purpose.category": "safeguarding_child"}, "local_authority", PASS, None),
        (CAPABLE_ADULT | {"subjects.age_group": "young_person"}, "local_authority", PASS, None),
        (CAPABLE_ADULT | {"consent.capacity": "lacks_capacity"}, "local_authority", PASS, None),
        (CAPABLE_ADULT | S45 | {"consent.capacity": "lacks_capacity"}, "local_authority", PASS, None),
        # Someone else is at risk: a condition, unless a child is protected.
        (CAPABLE_ADULT | OTHER_AT_RISK, "local_authority", CONDITION, "other_at_risk"),
        (CAPABLE_ADULT | OTHER_AT_RISK | {"consent.capacity": "lacks_capacity"}, "local_authority", CONDITION, "other_at_risk"),
        (CAPABLE_ADULT | OTHER_AT_RISK | S45, "local_authority", CONDITION, "other_at_risk"),
        (CAPABLE_ADULT | OTHER_AT_RISK | {"purpose.category": "crime_prevention"}, "police", CONDITION, "other_at_risk"),
        (CAPABLE_ADULT | OTHER_AT_RISK | {"purpose.category": "direct_care"}, "nhs_trust", CONDITION, "other_at_risk"),
        (CAPABLE_ADULT | OTHER_AT_RISK | {"purpose.category": "safeguarding_child"}, "local_authority", PASS, None),
        (CAPABLE_ADULT | OTHER_AT_RISK | {"legal_basis.schedule1_paragraph": 10}, "local_authority", PASS, None),
        (CAPABLE_ADULT | OTHER_AT_RISK | {"legal_basis.schedule1_paragraph": None}, "local_authority", CONDITION, None),
        (CAPABLE_ADULT | OTHER_AT_RISK | {"legal_basis.schedule1_paragraph": 30}, "local_authority", CONDITION, None),
        # The opening conditions hold for both.
        (CAPABLE_ADULT | OTHER_AT_RISK | DEAD, "local_authority", PASS, None),
        (CAPABLE_ADULT | OTHER_AT_RISK | {"legal_basis.article_9": "social_protection"}, "local_authority", PASS, None),
        (CAPABLE_ADULT | OTHER_AT_RISK | {"data_items": [item("demographics"), item("contact_details")]}, "local_authority", PASS, None),
        (CAPABLE_ADULT | S45 | {"data_items": [item("diagnoses", "anonymised")], "subjects.count": 50}, "local_authority", PASS, None),
    ],
)
def test_cp6_schedule1_paragraph_2028(changes: dict[str, Any], requester: str, expected: FindingResult, variant: str | None) -> None:
    check28(RuleId.CP6_SCHEDULE1_PARAGRAPH, expected, changed(changes), variant, requester=requester)


# CP6.legal_requirement_verified: every limit of the 2028.1 registry, and the requirement IG must see


@pytest.mark.parametrize(
    ("provision", "purpose", "requester", "changes", "expected", "variant"),
    [
        # Orders, summonses and notices: whoever serves them, for the purpose court_order only.
        ("court_order", "court_order", "police", {}, PASS, None),
        ("court_order", "direct_care", "nhs_trust", {}, REFER, "outside_duty"),
        ("witness_summons", "court_order", "research", {}, PASS, None),
        ("witness_summons", "crime_prevention", "police", {}, REFER, "outside_duty"),
        ("coroners_notice", "court_order", "coroner", {}, PASS, None),
        ("coroners_notice", "regulatory", "coroner", {}, REFER, "outside_duty"),
        # Duties by purpose and requester.
        ("children_act_1989_s47", "safeguarding_child", "local_authority", {}, PASS, None),
        ("children_act_1989_s47", "safeguarding_adult", "local_authority", {}, REFER, "outside_duty"),
        ("children_act_1989_s47", "safeguarding_child", "nhs_trust", {}, REFER, "outside_duty"),
        ("children_act_2004_s16h", "safeguarding_child", "local_authority", {}, CONDITION, "requirement_seen"),
        ("children_act_2004_s16h", "safeguarding_child", "police", {}, CONDITION, "requirement_seen"),
        ("children_act_2004_s16h", "safeguarding_child", "integrated_care_board", {}, CONDITION, "requirement_seen"),
        ("children_act_2004_s16h", "safeguarding_child", "nhs_trust", {}, REFER, "outside_duty"),
        ("children_act_2004_s16h", "crime_prevention", "police", {}, REFER, "outside_duty"),
        ("care_act_2014_s45", "safeguarding_adult", "local_authority", {}, CONDITION, "requirement_seen"),
        ("care_act_2014_s45", "safeguarding_child", "local_authority", {}, REFER, "outside_duty"),
        ("public_health_control_of_disease_1984_part2a", "public_health", "local_authority", {}, PASS, None),
        ("public_health_control_of_disease_1984_part2a", "safeguarding_child", "local_authority", {}, REFER, "outside_duty"),
        ("hsca_2012_s259", "research", "nhs_england", {}, PASS, None),
        ("hsca_2012_s259", "service_planning", "nhs_england", {}, PASS, None),
        ("hsca_2012_s259", "public_health", "nhs_england", {}, PASS, None),
        ("hsca_2012_s259", "regulatory", "nhs_england", {}, REFER, "outside_duty"),
        ("hsca_2012_s259", "research", "nhs_trust", {}, REFER, "outside_duty"),
        ("hsca_2008_s64", "regulatory", "regulator", {}, CONDITION, "requirement_seen"),
        ("hsca_2008_s64", "research", "regulator", {}, REFER, "outside_duty"),
        ("hsca_2008_s64", "regulatory", "nhs_trust", {}, REFER, "outside_duty"),
        ("medical_act_1983_s35a", "regulatory", "regulator", {}, CONDITION, "requirement_seen"),
        ("medical_act_1983_s35a", "regulatory", "local_authority", {}, REFER, "outside_duty"),
        ("medical_act_1983_s35a", "safeguarding_adult", "regulator", {}, REFER, "outside_duty"),
        # Duties limited by category and by number of people too.
        ("health_protection_notification_2010", "public_health", "local_authority", {"data_items": [item("demographics"), item("test_results")]}, PASS, None),
        ("health_protection_notification_2010", "public_health", "public_health_agency", {"data_items": [item("diagnoses")]}, PASS, None),
        ("health_protection_notification_2010", "public_health", "nhs_trust", {"data_items": [item("diagnoses")]}, REFER, "outside_duty"),
        (
            "health_protection_notification_2010",
            "public_health",
            "local_authority",
            {"data_items": [item("diagnoses")], "subjects.count": 2},
            REFER,
            "outside_duty",
        ),
        ("health_protection_notification_2010", "public_health", "local_authority", {"data_items": [item("medications")]}, REFER, "outside_duty"),
        ("health_protection_notification_2010", "direct_care", "local_authority", {"data_items": [item("diagnoses")]}, REFER, "outside_duty"),
        ("road_traffic_act_1988_s172", "crime_prevention", "police", {"data_items": [item("demographics")]}, PASS, None),
        ("road_traffic_act_1988_s172", "crime_prevention", "police", {"data_items": [item("demographics")], "subjects.count": 2}, REFER, "outside_duty"),
        ("road_traffic_act_1988_s172", "safeguarding_adult", "police", {"data_items": [item("demographics")]}, REFER, "outside_duty"),
        ("road_traffic_act_1988_s172", "crime_prevention", "police", {"data_items": [item("demographics"), item("contact_details")]}, REFER, "outside_duty"),
        # Other kinds, as 2027.1.
        ("terrorism_act_2000_s38b", "crime_prevention", "police", {}, REFER, "on_belief"),
        ("fgm_act_2003_s5b", "safeguarding_child", "police", {}, REFER, "on_belief"),
        ("crime_and_disorder_act_1998_s115", "crime_prevention", "police", {}, REFUSE, None),
        ("dpa_2018_sch2_para2", "crime_prevention", "police", {}, REFUSE, None),
        ("finance_act_2008_sch36", "other", "other", {}, REFUSE, None),
        ("pace_1984", "crime_prevention", "police", {}, REFUSE, None),
        (None, "safeguarding_child", "local_authority", {}, REFER, "unverified"),
        ("made_up_act_2031", "safeguarding_child", "local_authority", {}, REFER, "unverified"),
    ],
)
def test_cp6_legal_requirement_verified_2028(
    provision: str | None, purpose: str, requester: str, changes: dict[str, Any], expected: FindingResult, variant: str | None
) -> None:
    check28(RuleId.CP6_LEGAL_REQUIREMENT_VERIFIED, expected, changed(duty(provision, purpose) | changes), variant, requester=requester)  # type: ignore[arg-type]


def test_cp6_legal_requirement_verified_passes_without_a_legal_requirement() -> None:
    request = changed({"legal_basis.confidentiality": "permissive_gateway", "legal_basis.provision": "hsca_2008_s64", "purpose.category": "regulatory"})
    check28(RuleId.CP6_LEGAL_REQUIREMENT_VERIFIED, PASS, request, requester="regulator")


def test_cp6_requirement_seen_is_the_controllers_check() -> None:
    reason = finding(run28(changed(duty("hsca_2008_s64", "regulatory")), requester="regulator"), RuleId.CP6_LEGAL_REQUIREMENT_VERIFIED).reason

    assert reason.startswith("The controller's check: information governance sees the written requirement first")
    assert "the Care Quality Commission for HSCA 2008 s.64" in reason


# CP6.court_order_verified


@pytest.mark.parametrize(
    ("changes", "requester", "expected", "variant"),
    [
        (COURT_VERIFIED, "nhs_trust", CONDITION, None),
        (COURT_VERIFIED | {"legal_basis.provision": "witness_summons"}, "research", CONDITION, None),
        (COURT_VERIFIED | {"legal_basis.provision": "coroners_notice"}, "coroner", CONDITION, None),
        (COURT_VERIFIED | {"legal_basis.provision": "coroners_notice"}, "police", CONDITION, None),
        # The purpose label without an order verified as a duty.
        (COURT_LABEL, "nhs_trust", REFER, "unverified"),
        (COURT_LABEL, "court", REFER, "unverified"),
        (COURT_VERIFIED | {"legal_basis.provision": None}, "nhs_trust", REFER, "unverified"),
        (COURT_VERIFIED | {"legal_basis.provision": "hsca_2012_s259"}, "nhs_trust", REFER, "unverified"),
        (COURT_VERIFIED | {"legal_basis.provision": "dpa_2018_sch2_para5"}, "nhs_trust", REFER, "unverified"),
        (COURT_VERIFIED | {"legal_basis.confidentiality": "permissive_gateway"}, "nhs_trust", REFER, "unverified"),
        # An order cited for another purpose is not court-verified, and the purpose is not court_order.
        (COURT_VERIFIED | {"purpose.category": "direct_care"}, "nhs_trust", PASS, None),
        (COURT_VERIFIED | {"purpose.category": "regulatory", "legal_basis.provision": "coroners_notice"}, "regulator", PASS, None),
        ({"legal_basis.confidentiality": "permissive_gateway", "legal_basis.provision": "court_order", "legal_basis.reference": "1"}, "nhs_trust", PASS, None),
        (duty("children_act_1989_s47", "safeguarding_child"), "local_authority", PASS, None),
        ({}, "nhs_trust", PASS, None),
    ],
)
def test_cp6_court_order_verified_2028(changes: dict[str, Any], requester: str, expected: FindingResult, variant: str | None) -> None:
    check28(RuleId.CP6_COURT_ORDER_VERIFIED, expected, changed(changes), variant, requester=requester)


def test_cp6_court_order_verified_texts() -> None:
    verified = finding(run28(changed(COURT_VERIFIED)), RuleId.CP6_COURT_ORDER_VERIFIED).reason
    label = finding(run28(changed(COURT_LABEL)), RuleId.CP6_COURT_ORDER_VERIFIED).reason

    assert "information governance sees the sealed order, summons or notice first, and discloses only what it specifies, to whom it names" in verified
    assert label.startswith("A purpose label is not an order: cite the order, summons or notice as a legal requirement, with its provision code")


def test_a_court_verified_request_is_approved_on_the_controllers_check() -> None:
    evaluation = run28(changed(COURT_VERIFIED))

    assert fired(evaluation) == {RuleId.CP6_COURT_ORDER_VERIFIED: CONDITION}
    assert evaluation.outcome == Outcome.APPROVE_WITH_CONDITIONS


# CP6.reference_required: a citation has a digit


@pytest.mark.parametrize(
    ("changes", "reference", "expected"),
    [
        *[
            (LEGAL, reference, REFUSE)
            for reference in (None, "", "   ", "TBC", "to follow", "pending", "anticipated proceedings", "Order to follow", "s. forty-seven")
        ],
        *[(LEGAL, reference, PASS) for reference in ("Order 2028/1", "s.47", "1", "ZW26C00123", "Children Act 1989")],
        ({"legal_basis.confidentiality": "s251_support"}, "TBC", REFUSE),
        ({"legal_basis.confidentiality": "s251_support"}, "21/CAG/0001", PASS),
        ({"legal_basis.confidentiality": "permissive_gateway"}, "pending", REFUSE),
        ({"legal_basis.confidentiality": "permissive_gateway"}, "Crime and Disorder Act 1998", PASS),
        (COURT_LABEL, "to follow", REFUSE),
        (COURT_LABEL, "anticipated proceedings", REFUSE),
        (COURT_LABEL, "Claim 7", PASS),
        # No cited basis needed.
        ({"legal_basis.confidentiality": "implied_consent"}, "TBC", PASS),
        (EXPLICIT, None, PASS),
        ({"legal_basis.confidentiality": "overriding_public_interest"}, "to follow", PASS),
    ],
)
def test_cp6_reference_required_2028(changes: dict[str, Any], reference: str | None, expected: FindingResult) -> None:
    check28(RuleId.CP6_REFERENCE_REQUIRED, expected, changed(changes | {"legal_basis.reference": reference}))
