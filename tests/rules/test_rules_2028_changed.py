"""The rules policy 2028.1 reads differently (brief section 4b, "Changed rules"), at their boundaries.

The verified duty of 2028.1 reads every limit of its registry entry (requesters, purposes, categories,
max_subjects), and "court-verified" replaces the purpose label court_order. Every expected result is read
from the brief.
"""

from typing import Any

import pytest

from app.models.vocabulary import FindingResult
from app.rules.engine import RuleId

from .baseline import changed, item
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
)

# CP1.direct_care_recipient and CP6.implied_consent_scope, with 2028.1's NON_CARE


@pytest.mark.parametrize(
    "requester", [*sorted(NON_CARE_2028), "other", "integrated_care_board", "nhs_trust", "care_provider"]
)
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
        (
            {"legal_basis.confidentiality": "permissive_gateway", "legal_basis.provision": "care_act_2014_s6"},
            "research",
            REFUSE,
        ),
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
        (
            {"legal_basis.confidentiality": "not_confidential", "data_items": [item("diagnoses", "pseudonymised")]},
            "research",
            PASS,
        ),
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
    check28(
        RuleId.CP3_FULL_RECORD, expected, changed({"data_items": [item("full_record")]} | changes), requester=requester
    )


# CP3.bulk_identifiable

BULK = {"subjects.count": 101}


@pytest.mark.parametrize(
    ("changes", "requester", "expected"),
    [
        *[
            ({"purpose.category": purpose}, "nhs_trust", REFER)
            for purpose in (
                "direct_care",
                "safeguarding_child",
                "safeguarding_adult",
                "crime_prevention",
                "regulatory",
                "other",
            )
        ],
        ({"subjects.count": 100, "purpose.category": "other"}, "nhs_trust", PASS),
        ({"purpose.category": "other", "data_items": [item("diagnoses", "pseudonymised")]}, "nhs_trust", PASS),
        # Public health: referred unless the request has a CP2 basis.
        ({"purpose.category": "public_health", "legal_basis.confidentiality": "not_confidential"}, "nhs_trust", REFER),
        (
            {"purpose.category": "public_health", "legal_basis.confidentiality": "overriding_public_interest"},
            "nhs_trust",
            REFER,
        ),
        ({"purpose.category": "public_health"} | EXPLICIT, "nhs_trust", PASS),
        ({"purpose.category": "public_health", "legal_basis.confidentiality": "s251_support"}, "nhs_trust", PASS),
        (duty("public_health_control_of_disease_1984_part2a", "public_health"), "local_authority", PASS),
        (duty("public_health_control_of_disease_1984_part2a", "public_health"), "nhs_trust", REFER),
        (
            duty("health_protection_notification_2010", "public_health", data_items=[item("diagnoses")]),
            "local_authority",
            REFER,
        ),
        (duty("hsca_2012_s259", "public_health"), "nhs_england", PASS),
        # Court order: referred unless court-verified.
        (COURT_LABEL, "nhs_trust", REFER),
        (COURT_VERIFIED, "nhs_trust", PASS),
        (COURT_VERIFIED | {"legal_basis.provision": "hsca_2012_s259"}, "nhs_trust", REFER),
        # Research and planning are CP2's business.
        ({"purpose.category": "research", "legal_basis.confidentiality": "not_confidential"}, "nhs_trust", PASS),
        (
            {"purpose.category": "service_planning", "legal_basis.confidentiality": "not_confidential"},
            "nhs_trust",
            PASS,
        ),
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
        *[
            ({"purpose.category": "court_order"}, kind, "not_met", PASS, None)
            for kind in ("police", "school", "regulator")
        ],
        (COURT_VERIFIED, "nhs_trust", "not_met", PASS, None),
        (COURT_VERIFIED | {"legal_basis.provision": "coroners_notice"}, "charity", "not_published", PASS, None),
        (
            COURT_VERIFIED | {"legal_basis.provision": "witness_summons"},
            "local_authority",
            "approaching_standards",
            PASS,
            None,
        ),
        (COURT_LABEL, "nhs_trust", "not_met", REFER, None),
        (
            COURT_VERIFIED | {"legal_basis.provision": "hsca_2012_s259"},
            "nhs_trust",
            "approaching_standards",
            CONDITION,
            None,
        ),
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
def test_cp5_dspt_2028(
    changes: dict[str, Any], requester: str, dspt: str, expected: FindingResult, variant: str | None
) -> None:
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
        # The person at risk is the subject (also when the field is left out):
        # as 2027.1, or a condition on a verified duty.
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
        (
            CAPABLE_ADULT | OTHER_AT_RISK | {"consent.capacity": "lacks_capacity"},
            "local_authority",
            CONDITION,
            "other_at_risk",
        ),
        (CAPABLE_ADULT | OTHER_AT_RISK | S45, "local_authority", CONDITION, "other_at_risk"),
        (
            CAPABLE_ADULT | OTHER_AT_RISK | {"purpose.category": "crime_prevention"},
            "police",
            CONDITION,
            "other_at_risk",
        ),
        (CAPABLE_ADULT | OTHER_AT_RISK | {"purpose.category": "direct_care"}, "nhs_trust", CONDITION, "other_at_risk"),
        (CAPABLE_ADULT | OTHER_AT_RISK | {"purpose.category": "safeguarding_child"}, "local_authority", PASS, None),
        (CAPABLE_ADULT | OTHER_AT_RISK | {"legal_basis.schedule1_paragraph": 10}, "local_authority", PASS, None),
        (CAPABLE_ADULT | OTHER_AT_RISK | {"legal_basis.schedule1_paragraph": None}, "local_authority", CONDITION, None),
        (CAPABLE_ADULT | OTHER_AT_RISK | {"legal_basis.schedule1_paragraph": 30}, "local_authority", CONDITION, None),
        # The opening conditions hold for both.
        (CAPABLE_ADULT | OTHER_AT_RISK | DEAD, "local_authority", PASS, None),
        (CAPABLE_ADULT | OTHER_AT_RISK | {"legal_basis.article_9": "social_protection"}, "local_authority", PASS, None),
        (
            CAPABLE_ADULT | OTHER_AT_RISK | {"data_items": [item("demographics"), item("contact_details")]},
            "local_authority",
            PASS,
            None,
        ),
        (
            CAPABLE_ADULT | S45 | {"data_items": [item("diagnoses", "anonymised")], "subjects.count": 50},
            "local_authority",
            PASS,
            None,
        ),
    ],
)
def test_cp6_schedule1_paragraph_2028(
    changes: dict[str, Any], requester: str, expected: FindingResult, variant: str | None
) -> None:
    check28(RuleId.CP6_SCHEDULE1_PARAGRAPH, expected, changed(changes), variant, requester=requester)
