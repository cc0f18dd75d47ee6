"""Consent in policy 2028.1 (brief section 4b): each step of CONSENT.refusal, and the changed CONSENT rules.

A refusal is weighed by who made it. Every expected result, and its reason variant, is read from the brief.
"""

from typing import Any

import pytest

from app.models.vocabulary import FindingResult
from app.rules.engine import RuleId

from .baseline import changed, fired, item
from .baseline_2028 import (
    CONDITION,
    COURT_LABEL,
    COURT_VERIFIED,
    EXPLICIT,
    GATEWAY,
    LEGAL,
    OPI,
    PASS,
    REFER,
    REFUSE,
    REFUSED,
    check28,
    duty,
    run28,
)

PARENT_OF_CHILD = {"consent.given_by": "parent", "subjects.age_group": "child", "consent.capacity": "not_assessed"}
LACKS = {"consent.capacity": "lacks_capacity", "consent.best_interests_decision": True}
ATTORNEY = LACKS | {"consent.given_by": "attorney"}
RESEARCH = {"purpose.category": "research", "data_items": [item("diagnoses", "pseudonymised")], "subjects.count": 50}


def refusal(*parts: dict[str, Any]) -> dict[str, Any]:
    """A refused consent with these changes."""
    merged = dict(REFUSED)
    for part in parts:
        merged |= part
    return merged


@pytest.mark.parametrize(
    ("changes", "requester", "expected", "variant"),
    [
        # No refusal: nothing to weigh.
        ({"consent.status": "given"}, "nhs_trust", PASS, None),
        ({"consent.status": "not_sought"}, "nhs_trust", PASS, None),
        ({"consent.status": "not_possible"}, "nhs_trust", PASS, None),
        # Step 1: a verified duty, court-verified included, overrides any refusal.
        (refusal(duty("children_act_1989_s47", "safeguarding_child")), "local_authority", PASS, None),
        (refusal(COURT_VERIFIED), "nhs_trust", PASS, None),
        (refusal(COURT_VERIFIED, PARENT_OF_CHILD), "nhs_trust", PASS, None),
        (refusal(duty("hsca_2012_s259", "research"), ATTORNEY), "nhs_england", PASS, None),
        (refusal(duty("hsca_2012_s259", "research"), LACKS), "nhs_england", PASS, None),
        # ... and nothing else does: the court_order label, a duty outside its limits.
        (refusal(COURT_LABEL), "nhs_trust", REFUSE, None),
        (refusal(COURT_VERIFIED, {"purpose.category": "direct_care"}), "nhs_trust", REFER, None),
        (refusal(duty("children_act_2004_s16h", "safeguarding_child")), "nhs_trust", REFER, None),
        # Step 2: a parent who could not decide (CONSENT.proxy_authority says so).
        (refusal({"consent.given_by": "parent", "subjects.age_group": "adult"}), "nhs_trust", PASS, None),
        (refusal({"consent.given_by": "parent", "subjects.age_group": "young_person"}), "nhs_trust", PASS, None),
        (refusal({"consent.given_by": "parent", "subjects.age_group": "mixed"}), "nhs_trust", PASS, None),
        (refusal(PARENT_OF_CHILD, {"consent.capacity": "has_capacity"}), "nhs_trust", PASS, None),
        (refusal(PARENT_OF_CHILD, {"consent.capacity": "has_capacity"}, OPI), "nhs_trust", PASS, None),
        # Step 3: a parent's refusal for a child not shown to be competent is the child's.
        (
            refusal(PARENT_OF_CHILD, OPI, {"purpose.category": "safeguarding_child"}),
            "local_authority",
            REFER,
            "parent_child_protection",
        ),
        (
            refusal(PARENT_OF_CHILD, LACKS, {"purpose.category": "safeguarding_child"}),
            "local_authority",
            REFER,
            "parent_child_protection",
        ),
        (
            {"consent.status": "withdrawn"} | PARENT_OF_CHILD | {"purpose.category": "safeguarding_child"},
            "local_authority",
            REFER,
            "parent_child_protection",
        ),
        (refusal(PARENT_OF_CHILD, OPI), "nhs_trust", REFER, "parent_refusal"),
        (refusal(PARENT_OF_CHILD, GATEWAY), "nhs_trust", REFER, "parent_refusal"),
        (refusal(PARENT_OF_CHILD, LEGAL), "nhs_trust", REFER, "parent_refusal"),
        (
            refusal(PARENT_OF_CHILD, duty("children_act_1989_s47", "safeguarding_adult")),
            "local_authority",
            REFER,
            "parent_refusal",
        ),
        (
            refusal(PARENT_OF_CHILD, LEGAL, {"legal_basis.provision": "crime_and_disorder_act_1998_s115"}),
            "police",
            REFUSE,
            "parent_refusal",
        ),
        (refusal(PARENT_OF_CHILD, {"consent.best_interests_decision": True}), "nhs_trust", REFER, "parent_refusal"),
        (refusal(PARENT_OF_CHILD, LACKS), "nhs_trust", REFER, "parent_refusal"),
        (refusal(PARENT_OF_CHILD), "nhs_trust", REFUSE, "parent_refusal"),
        (
            refusal(PARENT_OF_CHILD, LACKS, {"consent.best_interests_decision": False}),
            "nhs_trust",
            REFUSE,
            "parent_refusal",
        ),
        (
            refusal(PARENT_OF_CHILD, RESEARCH, {"consent.best_interests_decision": True}),
            "research",
            REFUSE,
            "parent_refusal",
        ),
        (
            refusal(
                PARENT_OF_CHILD, {"purpose.category": "safeguarding_adult", "consent.best_interests_decision": True}
            ),
            "local_authority",
            REFUSE,
            "parent_refusal",
        ),
        # Step 4: an attorney or deputy for a person who lacks capacity needs welfare authority.
        (refusal(ATTORNEY, {"consent.proxy_scope": "property_and_affairs"}), "nhs_trust", PASS, None),
        (
            refusal(ATTORNEY, {"consent.proxy_scope": "property_and_affairs", "consent.given_by": "deputy"}, OPI),
            "nhs_trust",
            PASS,
            None,
        ),
        (refusal(ATTORNEY, {"consent.proxy_scope": "health_and_welfare"}), "nhs_trust", REFER, "proxy"),
        (refusal(ATTORNEY, {"consent.proxy_scope": None}), "nhs_trust", REFER, "proxy"),
        (
            refusal(ATTORNEY, {"consent.given_by": "deputy", "consent.proxy_scope": "health_and_welfare"}, RESEARCH),
            "nhs_trust",
            REFER,
            "proxy",
        ),
        (
            refusal(ATTORNEY, {"consent.given_by": "deputy"}, {"purpose.category": "safeguarding_adult"}, OPI),
            "local_authority",
            REFER,
            "proxy",
        ),
        # A proxy for someone with capacity falls through to step 6 (CONSENT.proxy_authority refuses it).
        (
            refusal({"consent.given_by": "attorney", "consent.proxy_scope": "health_and_welfare"}),
            "nhs_trust",
            REFUSE,
            None,
        ),
        (refusal({"consent.given_by": "deputy", "consent.capacity": "not_assessed"}, OPI), "nhs_trust", REFER, None),
        # Step 5: the person's own objection, when they lack capacity.
        (refusal(LACKS), "nhs_trust", PASS, None),
        (refusal(LACKS, {"subjects.age_group": "young_person"}), "nhs_trust", PASS, None),
        (refusal(LACKS, {"subjects.age_group": "mixed"}), "nhs_trust", PASS, None),
        (refusal(LACKS, {"subjects.age_group": "child"}), "nhs_trust", REFER, "incapable_objection"),
        (refusal(LACKS, RESEARCH), "research", REFUSE, "incapable_objection"),
        (
            refusal(LACKS, RESEARCH, {"purpose.category": "service_planning"}),
            "nhs_trust",
            REFUSE,
            "incapable_objection",
        ),
        (refusal(LACKS, RESEARCH, OPI), "research", REFUSE, "incapable_objection"),
        (refusal(LACKS, {"purpose.category": "public_health"}), "nhs_trust", REFER, "incapable_objection"),
        (refusal(LACKS, {"purpose.category": "safeguarding_adult"}), "local_authority", REFER, "incapable_objection"),
        (refusal(LACKS, COURT_LABEL), "nhs_trust", REFER, "incapable_objection"),
        # Step 6: as 2027.1.
        (REFUSED, "nhs_trust", REFUSE, None),
        ({"consent.status": "withdrawn", "consent.capacity": "not_assessed"}, "nhs_trust", REFUSE, None),
        (refusal(OPI), "nhs_trust", REFER, None),
        (refusal(GATEWAY), "nhs_trust", REFER, None),
        (refusal(LEGAL), "nhs_trust", REFER, None),
        (refusal(LEGAL, {"legal_basis.provision": "fgm_act_2003_s5b"}), "nhs_trust", REFER, None),
        (refusal(LEGAL, {"legal_basis.provision": "dpa_2018_sch2_para2"}), "police", REFUSE, None),
        (refusal({"purpose.category": "safeguarding_child"}), "local_authority", REFUSE, None),
    ],
)
def test_consent_refusal_2028(
    changes: dict[str, Any], requester: str, expected: FindingResult, variant: str | None
) -> None:
    check28(RuleId.CONSENT_REFUSAL, expected, changed(changes), variant, requester=requester)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (OPI, REFER),
        (refusal(OPI, {"consent.given_by": "parent", "subjects.age_group": "adult"}), REFER),
        (refusal(OPI, LACKS), REFER),
        (refusal(OPI, ATTORNEY, {"consent.proxy_scope": "property_and_affairs"}), REFER),
        (refusal(OPI, PARENT_OF_CHILD), PASS),
        (refusal(OPI, ATTORNEY), PASS),
        (refusal(OPI), PASS),
        (refusal(GATEWAY, PARENT_OF_CHILD, {"purpose.category": "safeguarding_child"}), PASS),
    ],
)
def test_consent_public_interest_refers_only_when_the_refusal_passes(
    changes: dict[str, Any], expected: FindingResult
) -> None:
    check28(RuleId.CONSENT_PUBLIC_INTEREST, expected, changed(changes))


def test_a_parents_refusal_for_child_protection_is_referred_once() -> None:
    evaluation = run28(
        changed(
            refusal(
                PARENT_OF_CHILD,
                OPI,
                {"purpose.category": "safeguarding_child", "legal_basis.article_9": "social_protection"},
            )
        )
    )

    assert fired(evaluation) == {RuleId.CONSENT_REFUSAL: REFER}


# CONSENT.best_interests: the Mental Capacity Act does not apply under 16


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"subjects.age_group": "adult"}, REFER),
        ({"subjects.age_group": "young_person"}, REFER),
        ({"subjects.age_group": "mixed"}, REFER),
        ({"subjects.age_group": "child"}, PASS),
        ({"subjects.age_group": "adult", "consent.best_interests_decision": True}, PASS),
        ({"subjects.age_group": "adult", "purpose.category": "safeguarding_adult"}, PASS),
        ({"subjects.age_group": "adult", "consent.capacity": "not_assessed"}, PASS),
    ],
)
def test_consent_best_interests_2028(changes: dict[str, Any], expected: FindingResult) -> None:
    check28(RuleId.CONSENT_BEST_INTERESTS, expected, changed({"consent.capacity": "lacks_capacity"} | changes))


# CONSENT.child_competence: a parent's consent outside care

CHILD_CONSENT = {"subjects.age_group": "child", "consent.status": "given", "consent.capacity": "not_assessed"}


@pytest.mark.parametrize(
    ("changes", "expected", "variant"),
    [
        ({"consent.given_by": "subject"}, REFER, None),
        ({"consent.given_by": "subject", "purpose.category": "research"}, REFER, None),
        ({"consent.given_by": "parent", "purpose.category": "research"}, CONDITION, "parent_consent"),
        ({"consent.given_by": "parent", "purpose.category": "safeguarding_child"}, CONDITION, "parent_consent"),
        ({"consent.given_by": "parent", "purpose.category": "other"}, CONDITION, "parent_consent"),
        ({"consent.given_by": "parent"}, PASS, None),
        (
            {"consent.given_by": "parent", "purpose.category": "research", "consent.capacity": "has_capacity"},
            PASS,
            None,
        ),
        (
            {"consent.given_by": "parent", "purpose.category": "research", "consent.capacity": "lacks_capacity"},
            PASS,
            None,
        ),
        (
            {"consent.given_by": "parent", "purpose.category": "research", "subjects.age_group": "young_person"},
            PASS,
            None,
        ),
        ({"consent.given_by": "parent", "purpose.category": "research", "consent.status": "refused"}, PASS, None),
        ({"consent.given_by": "subject", "consent.capacity": "has_capacity"}, PASS, None),
    ],
)
def test_consent_child_competence_2028(changes: dict[str, Any], expected: FindingResult, variant: str | None) -> None:
    check28(RuleId.CONSENT_CHILD_COMPETENCE, expected, changed(CHILD_CONSENT | changes), variant)


def test_a_parents_consent_for_research_asks_about_the_childs_competence() -> None:
    request = changed(
        CHILD_CONSENT | EXPLICIT | RESEARCH | {"consent.given_by": "parent", "legal_basis.article_9": "research"}
    )
    request = changed({"data_items": [item("diagnoses", "anonymised")]}, request)
    evaluation = run28(request, requester="research")

    assert "a competent child's own decision governs" in evaluation.conditions[0]
    assert fired(evaluation) == {RuleId.CONSENT_CHILD_COMPETENCE: CONDITION}
