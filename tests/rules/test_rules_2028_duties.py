"""What a duty verified by the registry (2028.1, brief section 4b) opens, and what a purpose label no longer does.

CP6.legal_requirement_verified reads every limit of the 2028.1 registry entry; CP6.court_order_verified,
STAT.restricted_category, DEC.deceased and AGR.systematic grant their court exception only to a
court-verified request; CP6.reference_required wants a citation with a digit. Every expected result is read
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
    PASS,
    REFER,
    REFUSE,
    check28,
    duty,
    run28,
)

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
        (
            "public_health_control_of_disease_1984_part2a",
            "safeguarding_child",
            "local_authority",
            {},
            REFER,
            "outside_duty",
        ),
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
        (
            "health_protection_notification_2010",
            "public_health",
            "local_authority",
            {"data_items": [item("demographics"), item("test_results")]},
            PASS,
            None,
        ),
        (
            "health_protection_notification_2010",
            "public_health",
            "public_health_agency",
            {"data_items": [item("diagnoses")]},
            PASS,
            None,
        ),
        (
            "health_protection_notification_2010",
            "public_health",
            "nhs_trust",
            {"data_items": [item("diagnoses")]},
            REFER,
            "outside_duty",
        ),
        (
            "health_protection_notification_2010",
            "public_health",
            "local_authority",
            {"data_items": [item("diagnoses")], "subjects.count": 2},
            REFER,
            "outside_duty",
        ),
        (
            "health_protection_notification_2010",
            "public_health",
            "local_authority",
            {"data_items": [item("medications")]},
            REFER,
            "outside_duty",
        ),
        (
            "health_protection_notification_2010",
            "direct_care",
            "local_authority",
            {"data_items": [item("diagnoses")]},
            REFER,
            "outside_duty",
        ),
        (
            "road_traffic_act_1988_s172",
            "crime_prevention",
            "police",
            {"data_items": [item("demographics")]},
            PASS,
            None,
        ),
        (
            "road_traffic_act_1988_s172",
            "crime_prevention",
            "police",
            {"data_items": [item("demographics")], "subjects.count": 2},
            REFER,
            "outside_duty",
        ),
        (
            "road_traffic_act_1988_s172",
            "safeguarding_adult",
            "police",
            {"data_items": [item("demographics")]},
            REFER,
            "outside_duty",
        ),
        (
            "road_traffic_act_1988_s172",
            "crime_prevention",
            "police",
            {"data_items": [item("demographics"), item("contact_details")]},
            REFER,
            "outside_duty",
        ),
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
    provision: str | None,
    purpose: str,
    requester: str,
    changes: dict[str, Any],
    expected: FindingResult,
    variant: str | None,
) -> None:
    check28(
        RuleId.CP6_LEGAL_REQUIREMENT_VERIFIED,
        expected,
        changed(duty(provision, purpose) | changes),
        variant,
        requester=requester,
    )  # type: ignore[arg-type]


def test_cp6_legal_requirement_verified_passes_without_a_legal_requirement() -> None:
    request = changed(
        {
            "legal_basis.confidentiality": "permissive_gateway",
            "legal_basis.provision": "hsca_2008_s64",
            "purpose.category": "regulatory",
        }
    )
    check28(RuleId.CP6_LEGAL_REQUIREMENT_VERIFIED, PASS, request, requester="regulator")


def test_cp6_requirement_seen_is_the_controllers_check() -> None:
    reason = finding(
        run28(changed(duty("hsca_2008_s64", "regulatory")), requester="regulator"),
        RuleId.CP6_LEGAL_REQUIREMENT_VERIFIED,
    ).reason

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
        (
            COURT_VERIFIED | {"purpose.category": "regulatory", "legal_basis.provision": "coroners_notice"},
            "regulator",
            PASS,
            None,
        ),
        (
            {
                "legal_basis.confidentiality": "permissive_gateway",
                "legal_basis.provision": "court_order",
                "legal_basis.reference": "1",
            },
            "nhs_trust",
            PASS,
            None,
        ),
        (duty("children_act_1989_s47", "safeguarding_child"), "local_authority", PASS, None),
        ({}, "nhs_trust", PASS, None),
    ],
)
def test_cp6_court_order_verified_2028(
    changes: dict[str, Any], requester: str, expected: FindingResult, variant: str | None
) -> None:
    check28(RuleId.CP6_COURT_ORDER_VERIFIED, expected, changed(changes), variant, requester=requester)


def test_cp6_court_order_verified_texts() -> None:
    verified = finding(run28(changed(COURT_VERIFIED)), RuleId.CP6_COURT_ORDER_VERIFIED).reason
    label = finding(run28(changed(COURT_LABEL)), RuleId.CP6_COURT_ORDER_VERIFIED).reason

    assert (
        "information governance sees the sealed order, summons or notice first, "
        "and discloses only what it specifies, to whom it names" in verified
    )
    assert label.startswith(
        "A purpose label is not an order: cite the order, "
        "summons or notice as a legal requirement, with its provision code"
    )


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
            for reference in (
                None,
                "",
                "   ",
                "TBC",
                "to follow",
                "pending",
                "anticipated proceedings",
                "Order to follow",
                "s. forty-seven",
            )
        ],
        *[(LEGAL, reference, PASS) for reference in ("Order 2028/1", "s.47", "1", "ZW26C00123", "Children Act 1989")],
        *[(LEGAL, f"Order no. {digit}", PASS) for digit in "0123456789"],
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


# STAT.restricted_category: the court exception only for a court-verified request


@pytest.mark.parametrize(
    ("items", "changes", "requester", "expected"),
    [
        ([item("sexual_health")], {}, "nhs_trust", REFER),
        ([item("fertility_treatment", "pseudonymised")], {}, "nhs_trust", REFER),
        ([item("gender_history")], COURT_LABEL, "nhs_trust", REFER),
        ([item("gender_history")], COURT_VERIFIED, "nhs_trust", PASS),
        ([item("sexual_health")], COURT_VERIFIED | {"legal_basis.provision": "witness_summons"}, "police", PASS),
        ([item("sexual_health")], COURT_VERIFIED | {"purpose.category": "direct_care"}, "nhs_trust", REFER),
        ([item("sexual_health")], COURT_VERIFIED | {"legal_basis.provision": "hsca_2012_s259"}, "nhs_trust", REFER),
        ([item("sexual_health")], duty("children_act_1989_s47", "safeguarding_child"), "local_authority", REFER),
        # The person's own explicit consent.
        ([item("sexual_health")], EXPLICIT, "nhs_trust", PASS),
        (
            [item("sexual_health")],
            EXPLICIT | {"consent.given_by": "parent", "subjects.age_group": "child"},
            "nhs_trust",
            REFER,
        ),
        (
            [item("sexual_health")],
            EXPLICIT | {"consent.given_by": "attorney", "consent.capacity": "lacks_capacity"},
            "nhs_trust",
            REFER,
        ),
        ([item("sexual_health")], {"consent.status": "given"}, "nhs_trust", REFER),
        # Not restricted, or anonymised.
        ([item("sexual_health", "anonymised")], {"subjects.count": 50}, "nhs_trust", PASS),
        ([item("genetic"), item("criminal_offence")], {}, "nhs_trust", PASS),
    ],
)
def test_stat_restricted_category_2028(
    items: list[dict[str, str]], changes: dict[str, Any], requester: str, expected: FindingResult
) -> None:
    check28(RuleId.STAT_RESTRICTED_CATEGORY, expected, changed({"data_items": items} | changes), requester=requester)


# DEC.deceased: anonymised information is outside the duty of confidence; a duty that reaches after death


@pytest.mark.parametrize(
    ("changes", "requester", "expected"),
    [
        ({}, "nhs_trust", REFER),
        (
            {"data_items": [item("diagnoses", "anonymised"), item("demographics", "anonymised")], "subjects.count": 50},
            "nhs_trust",
            PASS,
        ),
        (
            {
                "data_items": [item("diagnoses", "anonymised"), item("demographics", "pseudonymised")],
                "subjects.count": 50,
            },
            "nhs_trust",
            REFER,
        ),
        (COURT_LABEL, "nhs_trust", REFER),
        (COURT_VERIFIED, "nhs_trust", PASS),
        (COURT_VERIFIED | {"legal_basis.provision": "coroners_notice"}, "coroner", PASS),
        (COURT_VERIFIED | {"legal_basis.provision": "witness_summons"}, "police", PASS),
        (COURT_VERIFIED | {"purpose.category": "direct_care"}, "nhs_trust", REFER),
        # Duties that reach the records of the dead ...
        (duty("children_act_2004_s16h", "safeguarding_child"), "local_authority", PASS),
        (duty("care_act_2014_s45", "safeguarding_adult"), "local_authority", PASS),
        (duty("hsca_2008_s64", "regulatory"), "regulator", PASS),
        (duty("medical_act_1983_s35a", "regulatory"), "regulator", PASS),
        (
            duty("health_protection_notification_2010", "public_health", data_items=[item("diagnoses")]),
            "public_health_agency",
            PASS,
        ),
        # ... but only when verified; and duties that do not reach them.
        (duty("children_act_2004_s16h", "safeguarding_child"), "nhs_trust", REFER),
        (
            duty(
                "health_protection_notification_2010",
                "public_health",
                data_items=[item("diagnoses")],
                subjects__count=2,
            ),
            "local_authority",
            REFER,
        ),
        (duty("children_act_1989_s47", "safeguarding_child"), "local_authority", REFER),
        (duty("public_health_control_of_disease_1984_part2a", "public_health"), "local_authority", REFER),
        (duty("hsca_2012_s259", "research"), "nhs_england", REFER),
        (duty("road_traffic_act_1988_s172", "crime_prevention", data_items=[item("demographics")]), "police", REFER),
        (
            {"legal_basis.confidentiality": "overriding_public_interest", "legal_basis.provision": "coroners_notice"},
            "nhs_trust",
            REFER,
        ),
        ({"subjects.deceased": False}, "nhs_trust", PASS),
    ],
)
def test_dec_deceased_2028(changes: dict[str, Any], requester: str, expected: FindingResult) -> None:
    check28(RuleId.DEC_DECEASED, expected, changed(DEAD | changes), requester=requester)


# AGR.systematic: the court exception only for a court-verified request

SEVERAL = {"subjects.count": 2}


@pytest.mark.parametrize(
    ("changes", "requester", "expected"),
    [
        ({}, "nhs_trust", CONDITION),
        (COURT_LABEL, "nhs_trust", CONDITION),
        (COURT_VERIFIED, "nhs_trust", PASS),
        (COURT_VERIFIED | {"legal_basis.provision": "coroners_notice"}, "coroner", PASS),
        (COURT_VERIFIED | {"purpose.category": "direct_care"}, "nhs_trust", CONDITION),
        (duty("children_act_1989_s47", "safeguarding_child"), "local_authority", CONDITION),
        ({"subjects.count": 1}, "nhs_trust", PASS),
        ({"data_items": [item("diagnoses", "anonymised")], "subjects.count": 20}, "nhs_trust", PASS),
        ({"sharing_agreement": "ISA-NOT-REGISTERED"}, "nhs_trust", PASS),
    ],
)
def test_agr_systematic_2028(changes: dict[str, Any], requester: str, expected: FindingResult) -> None:
    check28(RuleId.AGR_SYSTEMATIC, expected, changed(SEVERAL | changes), requester=requester)
