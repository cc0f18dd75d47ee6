"""CP7.emergency_share in policy 2028.1 (brief section 4b, "Emergencies in 2028.1"): each new waiver within its limits.

An emergency may go ahead past 2027.1's waivable referrals and four more kinds, each named by the reason
variant it refers with; the condition says what the waiver leaves to do. Every expected result is read from the brief.
"""

from typing import Any

import pytest

from app.models.vocabulary import AgreementStatus, Outcome
from app.rules import Evaluation
from app.rules.engine import RuleId

from .baseline import agreement, changed, finding, fired, item, result
from .baseline_2028 import (
    CONDITION,
    DEAD,
    EMERGENCY,
    GATEWAY,
    OPI,
    PASS,
    POLICY_2028,
    REFER,
    REFUSE,
    REFUSED,
    SAFEGUARDING_ADULT,
    duty,
    run28,
)

LACKS = {"consent.capacity": "lacks_capacity", "consent.best_interests_decision": True}
PROXY_REFUSAL = REFUSED | LACKS | {"consent.given_by": "attorney", "consent.proxy_scope": "health_and_welfare"}
PARENT_OF_CHILD = REFUSED | {
    "consent.given_by": "parent",
    "subjects.age_group": "child",
    "consent.capacity": "not_assessed",
}
CHILD_PROTECTION = (
    PARENT_OF_CHILD | OPI | {"purpose.category": "safeguarding_child", "legal_basis.article_9": "social_protection"}
)
SAFEGUARDING_OPI = OPI | {"purpose.category": "safeguarding_adult", "legal_basis.article_9": "social_protection"}
NOT_POSSIBLE = {"consent.status": "not_possible"}
OFFENCE = SAFEGUARDING_ADULT | {"data_items": [item("demographics"), item("criminal_offence")]}


def restricted(*categories: str, form: str = "identifiable") -> dict[str, Any]:
    """Direct care asking for demographics and these restricted categories."""
    return {"data_items": [item("demographics"), *[item(category, form) for category in categories]]}


def assert_shared(evaluation: Evaluation, variant: str | None) -> None:
    """The emergency share applied, with the condition text of `variant`."""
    reason = POLICY_2028.reason(RuleId.CP7_EMERGENCY_SHARE, CONDITION, variant)
    assert finding(evaluation, RuleId.CP7_EMERGENCY_SHARE).reason == reason
    assert result(evaluation, RuleId.CP7_EMERGENCY_SHARE) == CONDITION
    assert evaluation.outcome == Outcome.APPROVE_WITH_CONDITIONS
    assert evaluation.review_required is True
    assert reason in evaluation.conditions
    assert "retrospective review by the Caldicott Guardian" in reason


def assert_waits(routine: Evaluation, emergency: Evaluation) -> None:
    """The emergency waits for a guardian: referred, with the findings the routine request has."""
    assert result(emergency, RuleId.CP7_EMERGENCY_SHARE) == PASS
    assert emergency.review_required is False
    assert emergency.outcome == Outcome.REFER
    assert fired(emergency) == fired(routine)


# Each referral 2028.1 waives, alone (or with the one that comes with it), within its limits.
# name: (changes, requester, the referrals it gives, the condition variant of the share)
WAIVED: dict[str, tuple[dict[str, Any], str, dict[str, str], str | None]] = {
    "article10 emergency, safeguarding": (OFFENCE, "nhs_trust", {RuleId.CP6_ARTICLE10_CONDITION: "emergency"}, None),
    "parent refusing child protection": (
        CHILD_PROTECTION,
        "nhs_trust",
        {RuleId.CONSENT_REFUSAL: "parent_child_protection"},
        None,
    ),
    "proxy refusal, direct care": (PROXY_REFUSAL, "nhs_trust", {RuleId.CONSENT_REFUSAL: "proxy"}, "proxy"),
    "proxy refusal, scope unknown": (
        PROXY_REFUSAL | {"consent.proxy_scope": None},
        "nhs_trust",
        {RuleId.CONSENT_REFUSAL: "proxy", RuleId.CONSENT_PROXY_SCOPE: "scope_unknown"},
        "proxy",
    ),
    "proxy consent, scope unknown": (
        PROXY_REFUSAL | {"consent.status": "given", "consent.proxy_scope": None},
        "nhs_trust",
        {RuleId.CONSENT_PROXY_SCOPE: "scope_unknown"},
        None,
    ),
    "sexual health, cannot consent, trust": (
        restricted("sexual_health") | NOT_POSSIBLE,
        "nhs_trust",
        {RuleId.STAT_RESTRICTED_CATEGORY: "default"},
        None,
    ),
    "fertility, lacks capacity, GP": (
        restricted("fertility_treatment") | LACKS,
        "gp_practice",
        {RuleId.STAT_RESTRICTED_CATEGORY: "default"},
        None,
    ),
    "sexual health, care provider": (
        restricted("sexual_health") | NOT_POSSIBLE,
        "care_provider",
        {RuleId.STAT_RESTRICTED_CATEGORY: "default"},
        None,
    ),
    "gender history, trust": (
        restricted("gender_history") | NOT_POSSIBLE,
        "nhs_trust",
        {RuleId.STAT_RESTRICTED_CATEGORY: "default"},
        "gender_history",
    ),
    "gender history pseudonymised, GP": (
        restricted("gender_history", form="pseudonymised") | LACKS,
        "gp_practice",
        {RuleId.STAT_RESTRICTED_CATEGORY: "default"},
        "gender_history",
    ),
    "gender history and sexual health": (
        restricted("sexual_health", "gender_history") | NOT_POSSIBLE,
        "nhs_trust",
        {RuleId.STAT_RESTRICTED_CATEGORY: "default"},
        "gender_history",
    ),
    "anonymised gender history, care provider": (
        {"data_items": [item("sexual_health"), item("gender_history", "anonymised")], "subjects.count": 10}
        | NOT_POSSIBLE,
        "care_provider",
        {RuleId.STAT_RESTRICTED_CATEGORY: "default"},
        None,
    ),
    "proxy refusal and gender history": (
        PROXY_REFUSAL | restricted("gender_history"),
        "nhs_trust",
        {RuleId.CONSENT_REFUSAL: "proxy", RuleId.STAT_RESTRICTED_CATEGORY: "default"},
        "proxy_gender_history",
    ),
    "with a 2027.1 waiver": (
        restricted("sexual_health") | NOT_POSSIBLE | {"sharing_agreement": "ISA-NOT-REGISTERED"},
        "nhs_trust",
        {RuleId.STAT_RESTRICTED_CATEGORY: "default", RuleId.AGR_REGISTERED: "default"},
        None,
    ),
}


@pytest.mark.parametrize("name", sorted(WAIVED))
def test_emergency_goes_ahead_past_each_2028_waiver(name: str) -> None:
    changes, requester, referrals, variant = WAIVED[name]
    routine = run28(changed(changes), requester=requester)
    emergency = run28(changed(changes | EMERGENCY), requester=requester)

    assert {rule for rule, found in fired(emergency).items() if found == REFER} == set(referrals)
    assert {rule: finding(emergency, rule).reason for rule in referrals} == {
        rule: POLICY_2028.reason(rule, REFER, v) for rule, v in referrals.items()
    }
    assert REFUSE not in fired(emergency).values()
    assert_shared(emergency, variant)
    assert routine.outcome in (Outcome.REFER, Outcome.REFUSE)


@pytest.mark.parametrize(
    ("changes", "requester"),
    [
        # The proxy waivers are for the person's care only.
        (PROXY_REFUSAL | SAFEGUARDING_OPI, "local_authority"),
        (PROXY_REFUSAL | SAFEGUARDING_OPI | {"consent.proxy_scope": None}, "local_authority"),
        (
            PROXY_REFUSAL | SAFEGUARDING_OPI | {"consent.status": "given", "consent.proxy_scope": None},
            "local_authority",
        ),
        # Restricted categories: for care, of a person who cannot consent, through a health professional.
        (restricted("sexual_health") | NOT_POSSIBLE | SAFEGUARDING_OPI, "nhs_trust"),
        (restricted("sexual_health"), "nhs_trust"),
        (restricted("sexual_health") | {"consent.status": "given"}, "nhs_trust"),
        (restricted("sexual_health") | NOT_POSSIBLE, "local_authority"),
        (restricted("sexual_health") | NOT_POSSIBLE, "charity"),
        (restricted("gender_history") | NOT_POSSIBLE, "care_provider"),
        (restricted("sexual_health", "gender_history") | LACKS, "care_provider"),
        (restricted("gender_history", form="pseudonymised") | NOT_POSSIBLE, "care_provider"),
        (PROXY_REFUSAL | restricted("gender_history"), "care_provider"),
        # Referrals 2028.1 does not waive.
        (PARENT_OF_CHILD | OPI, "nhs_trust"),
        (REFUSED | LACKS | {"subjects.age_group": "child"}, "nhs_trust"),
        (REFUSED | OPI, "nhs_trust"),
        (REFUSED | GATEWAY | {"legal_basis.provision": "children_act_2004_s11"}, "nhs_trust"),
        ({"data_items": [item("diagnoses", "anonymised")], "subjects.count": 5}, "nhs_trust"),
        (
            {
                "legal_basis.confidentiality": "not_confidential",
                "data_items": [item("diagnoses", "pseudonymised")],
                "subjects.count": 10,
            },
            "nhs_trust",
        ),
        (SAFEGUARDING_ADULT, "school"),
        (duty("children_act_2004_s16h", "safeguarding_child", legal_basis__article_9="social_protection"), "nhs_trust"),
    ],
)
def test_emergency_waits_for_a_guardian_outside_the_2028_waivers(changes: dict[str, Any], requester: str) -> None:
    routine = run28(changed(changes), requester=requester)
    emergency = run28(changed(changes | EMERGENCY), requester=requester)

    assert REFER in fired(routine).values()
    assert REFUSE not in fired(emergency).values()
    assert_waits(routine, emergency)


def test_criminal_offence_data_for_care_waits_on_the_matrix_though_its_article10_referral_is_waivable() -> None:
    evaluation = run28(changed(OFFENCE | EMERGENCY | {"purpose.category": "direct_care"}))

    assert fired(evaluation) == {RuleId.CP6_ARTICLE10_CONDITION: REFER, RuleId.CP3_CATEGORY_SCOPE: REFER}
    assert result(evaluation, RuleId.CP7_EMERGENCY_SHARE) == PASS
    assert evaluation.outcome == Outcome.REFER


# 2027.1's waivers hold in 2028.1, each alone: (changes, facts options).
WAIVABLE_ALONE_2028: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "CONSENT.public_interest": (OPI, {}),
    "CONSENT.best_interests": ({"consent.capacity": "lacks_capacity"}, {}),
    "CONSENT.child_competence": (
        {"subjects.age_group": "child", "consent.status": "given", "consent.capacity": "not_assessed"},
        {},
    ),
    "CP6.vital_interests_capacity": (
        {"legal_basis.article_9": "vital_interests", "consent.capacity": "not_assessed"} | NOT_POSSIBLE,
        {},
    ),
    "CP6.schedule1_paragraph": (
        SAFEGUARDING_ADULT
        | {"legal_basis.article_9": "substantial_public_interest", "legal_basis.schedule1_paragraph": 18},
        {},
    ),
    "CP8.transparency": ({"transparency.subject_informed": "would_prejudice_purpose"}, {}),
    "AGR.registered": ({"sharing_agreement": "ISA-NOT-REGISTERED"}, {}),
    "AGR.in_force": (
        SAFEGUARDING_ADULT | {"sharing_agreement": "ISA-TEST"},
        {"agreement_facts": agreement(status=AgreementStatus.SUSPENDED)},
    ),
    "AGR.party": ({"sharing_agreement": "ISA-TEST"}, {"agreement_facts": agreement(parties=frozenset({"LA-TEST"}))}),
}


@pytest.mark.parametrize("rule_id", sorted(WAIVABLE_ALONE_2028))
def test_emergency_goes_ahead_past_each_2027_waiver_in_2028(rule_id: str) -> None:
    changes, facts_options = WAIVABLE_ALONE_2028[rule_id]
    routine = run28(changed(changes), **facts_options)
    emergency = run28(changed(changes | EMERGENCY), **facts_options)

    assert fired(routine) == {rule_id: REFER}
    assert fired(emergency) == {rule_id: REFER, RuleId.CP7_EMERGENCY_SHARE: CONDITION}
    assert_shared(emergency, None)


@pytest.mark.parametrize(
    ("changes", "shared"),
    [
        ({"subjects.count": 10}, True),
        ({"subjects.count": 11}, False),
        ({"urgency": "urgent"}, False),
        ({"purpose.category": "other", "legal_basis.article_9": None, "data_items": [item("demographics")]}, False),
        (DEAD, False),
        ({"recipient.storage_region": "other"}, False),
    ],
)
def test_a_2028_waiver_keeps_the_other_conditions_of_the_share(changes: dict[str, Any], shared: bool) -> None:
    request = changed(restricted("sexual_health") | NOT_POSSIBLE | EMERGENCY | changes)
    evaluation = run28(request)

    assert result(evaluation, RuleId.CP7_EMERGENCY_SHARE) == (CONDITION if shared else PASS)
    assert evaluation.review_required is shared


def test_a_2028_emergency_with_nothing_to_waive_is_not_shared() -> None:
    nothing = run28(changed(EMERGENCY))
    conditions_only = run28(changed(EMERGENCY | {"subjects.count": 2}))

    assert fired(nothing) == {}
    assert nothing.outcome == Outcome.APPROVE
    assert fired(conditions_only) == {RuleId.AGR_SYSTEMATIC: CONDITION}
    assert conditions_only.review_required is False


def test_a_2028_emergency_outside_care_and_safeguarding_is_not_shared() -> None:
    changes = {
        "purpose.category": "public_health",
        "consent.status": "given",
        "legal_basis.confidentiality": "explicit_consent",
    }
    evaluation = run28(changed(changes | EMERGENCY | {"transparency.subject_informed": "would_prejudice_purpose"}))

    assert fired(evaluation) == {RuleId.CP8_TRANSPARENCY: REFER}
    assert evaluation.outcome == Outcome.REFER


@pytest.mark.parametrize(
    ("changes", "requester"),
    [
        (
            {
                "data_items": [item("diagnoses", "anonymised")],
                "subjects.count": 10,
                "transparency.subject_informed": "would_prejudice_purpose",
            },
            "nhs_trust",
        ),
        (
            duty(
                "children_act_2004_s16h",
                "safeguarding_child",
                legal_basis__article_9="social_protection",
                sharing_agreement="ISA-NOT-REGISTERED",
            ),
            "local_authority",
        ),
    ],
)
def test_a_2028_emergency_is_never_shared_for_the_dead_even_when_dec_deceased_passes(
    changes: dict[str, Any], requester: str
) -> None:
    evaluation = run28(changed(changes | DEAD | EMERGENCY), requester=requester)

    assert result(evaluation, RuleId.DEC_DECEASED) == PASS
    assert REFER in fired(evaluation).values()
    assert REFUSE not in fired(evaluation).values()
    assert result(evaluation, RuleId.CP7_EMERGENCY_SHARE) == PASS
    assert evaluation.outcome == Outcome.REFER
