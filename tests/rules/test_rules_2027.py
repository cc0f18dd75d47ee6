"""The rules of policy 2027.1 (brief section 4a) at their boundaries:
the nearest case that fires and the nearest that does not.

Every expected result is read from the brief. Where a rule explains one result in several ways, the reason
reported must be the text of the variant that applies.
"""

from typing import Any

import pytest

from app.models.vocabulary import AgreementStatus, DsptStatus, FindingResult, OrganisationType, Outcome
from app.rules import Evaluation
from app.rules.engine import OPTIONAL_RULES, RULEBOOKS, Edition, RuleId

from .baseline import (
    AGREEMENT_CODE,
    ARTICLE9_CONDITIONS,
    ARTICLE9_FIT_2027,
    NON_CARE,
    POLICY,
    POLICY_2027,
    PROVISIONS_2027,
    WAIVABLE_2027,
    agreement,
    changed,
    finding,
    fired,
    item,
    result,
    run,
)

PASS = FindingResult.PASS
CONDITION = FindingResult.CONDITION
REFER = FindingResult.REFER
REFUSE = FindingResult.REFUSE

ORGANISATION_TYPES = [kind.value for kind in OrganisationType]
PURPOSES = list(ARTICLE9_FIT_2027)


def run27(request: dict[str, Any] | None = None, **facts_options: Any) -> Evaluation:
    """Evaluate a request under the shipped 2027.1 baseline."""
    return run(request, policy=POLICY_2027, **facts_options)


def options(requester: str = "nhs_trust", dspt: str = "standards_met", **facts_options: Any) -> dict[str, Any]:
    """Facts options with the requester's type and toolkit status given by their API names."""
    return {"requester_type": OrganisationType(requester), "dspt_status": DsptStatus(dspt), **facts_options}


def check(
    rule_id: RuleId,
    expected: FindingResult,
    changes: dict[str, Any],
    variant: str | None = None,
    requester: str = "nhs_trust",
    **facts_options: Any,
) -> None:
    """Assert one rule's result under 2027.1 on the baseline with `changes`,
    and that its reason is the text of `variant`."""
    found = finding(run27(changed(changes), **options(requester, **facts_options)), rule_id)
    assert (found.result, found.reason) == (expected, POLICY_2027.reason(rule_id, expected, variant))


def test_baseline_passes_every_2027_rule_in_policy_order() -> None:
    evaluation = run27()

    assert evaluation.outcome == Outcome.APPROVE
    assert fired(evaluation) == {}
    assert [found.rule for found in evaluation.findings] == list(POLICY_2027.rules)
    assert set(POLICY_2027.rules) == set(RULEBOOKS[Edition.V2027_1]) - set(OPTIONAL_RULES)
    assert evaluation.review_required is False


def test_2027_adds_the_new_rules_and_2026_lacks_them() -> None:
    new = {
        RuleId.CP1_DIRECT_CARE_RECIPIENT,
        RuleId.CP6_LEGAL_REQUIREMENT_VERIFIED,
        RuleId.CP6_ARTICLE9_PURPOSE_FIT,
        RuleId.CP6_SCHEDULE1_PARAGRAPH,
        RuleId.CP6_COURT_ORDER_VERIFIED,
        RuleId.CONSENT_PROXY_AUTHORITY,
    }

    assert set(POLICY_2027.rules) == set(POLICY.rules) | new
    assert not new & {found.rule for found in run().findings}


# CP1.direct_care_recipient


@pytest.mark.parametrize(
    ("purpose", "requester", "expected"),
    [
        *[("direct_care", kind, REFER) for kind in ("police", "school", "regulator", "research", "other")],
        *[
            ("direct_care", kind, PASS)
            for kind in ("nhs_trust", "gp_practice", "local_authority", "care_provider", "charity")
        ],
        ("safeguarding_child", "police", PASS),
        ("research", "research", PASS),
        ("regulatory", "regulator", PASS),
        ("other", "other", PASS),
    ],
)
def test_cp1_direct_care_recipient(purpose: str, requester: str, expected: FindingResult) -> None:
    check(RuleId.CP1_DIRECT_CARE_RECIPIENT, expected, {"purpose.category": purpose}, requester=requester)


# CP6.legal_requirement_verified

LEGAL = {"legal_basis.confidentiality": "legal_requirement", "legal_basis.reference": "Ref 2027/1"}
DEFAULT_ITEMS = [item("demographics"), item("diagnoses")]


def _by_kind(kind: str) -> list[str]:
    return [code for code, (_, entry_kind, _, _) in PROVISIONS_2027.items() if entry_kind == kind]


@pytest.mark.parametrize(
    ("provision", "requester", "items", "expected", "variant"),
    [
        # Not in the registry: the guardian verifies the cited requirement.
        (None, "nhs_trust", DEFAULT_ITEMS, REFER, "unverified"),
        ("made_up_act_2031", "local_authority", DEFAULT_ITEMS, REFER, "unverified"),
        ("CHILDREN_ACT_1989_S47", "local_authority", DEFAULT_ITEMS, REFER, "unverified"),
        # Duties that bind on whoever asks, for any data.
        ("court_order", "police", [item("full_record")], PASS, None),
        ("witness_summons", "research", DEFAULT_ITEMS, PASS, None),
        ("coroners_notice", "other", [item("mental_health")], PASS, None),
        ("hsca_2012_s259", "charity", [item("genetic")], PASS, None),
        # Duties limited to some requesters.
        ("children_act_1989_s47", "local_authority", DEFAULT_ITEMS, PASS, None),
        ("children_act_1989_s47", "nhs_trust", DEFAULT_ITEMS, REFER, "outside_duty"),
        ("children_act_1989_s47", "police", DEFAULT_ITEMS, REFER, "outside_duty"),
        ("children_act_2004_s16h", "local_authority", DEFAULT_ITEMS, PASS, None),
        ("children_act_2004_s16h", "police", DEFAULT_ITEMS, PASS, None),
        ("children_act_2004_s16h", "nhs_trust", DEFAULT_ITEMS, PASS, None),
        ("children_act_2004_s16h", "school", DEFAULT_ITEMS, REFER, "outside_duty"),
        ("children_act_2004_s16h", "gp_practice", DEFAULT_ITEMS, REFER, "outside_duty"),
        ("care_act_2014_s45", "local_authority", DEFAULT_ITEMS, PASS, None),
        ("care_act_2014_s45", "nhs_trust", DEFAULT_ITEMS, REFER, "outside_duty"),
        ("public_health_control_of_disease_1984_part2a", "local_authority", DEFAULT_ITEMS, PASS, None),
        ("public_health_control_of_disease_1984_part2a", "nhs_trust", DEFAULT_ITEMS, REFER, "outside_duty"),
        ("hsca_2008_s64", "regulator", DEFAULT_ITEMS, PASS, None),
        ("hsca_2008_s64", "nhs_trust", DEFAULT_ITEMS, REFER, "outside_duty"),
        # Duties limited to some requesters and some categories.
        (
            "health_protection_notification_2010",
            "local_authority",
            [item(c) for c in ("demographics", "contact_details", "diagnoses", "test_results")],
            PASS,
            None,
        ),
        ("health_protection_notification_2010", "nhs_trust", [item("demographics")], PASS, None),
        ("health_protection_notification_2010", "police", [item("demographics")], REFER, "outside_duty"),
        ("health_protection_notification_2010", "gp_practice", [item("demographics")], REFER, "outside_duty"),
        (
            "health_protection_notification_2010",
            "local_authority",
            [item("demographics"), item("medications")],
            REFER,
            "outside_duty",
        ),
        (
            "health_protection_notification_2010",
            "local_authority",
            [item("demographics"), item("mental_health", "anonymised")],
            REFER,
            "outside_duty",
        ),
        ("road_traffic_act_1988_s172", "police", [item("demographics")], PASS, None),
        (
            "road_traffic_act_1988_s172",
            "police",
            [item("demographics"), item("contact_details")],
            REFER,
            "outside_duty",
        ),
        ("road_traffic_act_1988_s172", "nhs_trust", [item("demographics")], REFER, "outside_duty"),
        # The holder's duty to volunteer: no request can require it.
        *[(code, "police", DEFAULT_ITEMS, REFER, "on_belief") for code in _by_kind("duty_on_belief")],
        # Powers, exemptions and provisions that bind someone else do not require this holder to disclose.
        *[
            (code, "local_authority", DEFAULT_ITEMS, REFUSE, None)
            for code in _by_kind("power") + _by_kind("exemption") + _by_kind("no_duty")
        ],
    ],
)
def test_cp6_legal_requirement_verified(
    provision: str | None, requester: str, items: list[dict[str, str]], expected: FindingResult, variant: str | None
) -> None:
    changes = LEGAL | {"legal_basis.provision": provision, "data_items": items}
    check(RuleId.CP6_LEGAL_REQUIREMENT_VERIFIED, expected, changes, variant, requester=requester)


def test_every_registered_provision_kind_is_covered() -> None:
    assert {kind for _, kind, _, _ in PROVISIONS_2027.values()} == {
        "duty",
        "duty_on_belief",
        "power",
        "exemption",
        "no_duty",
    }
    assert len(_by_kind("power") + _by_kind("exemption") + _by_kind("no_duty")) == 11


@pytest.mark.parametrize(
    ("confidentiality", "provision"),
    [
        ("permissive_gateway", "crime_and_disorder_act_1998_s115"),
        ("overriding_public_interest", None),
        ("implied_consent", "pace_1984"),
        ("not_confidential", "made_up_act_2031"),
        ("explicit_consent", "terrorism_act_2000_s38b"),
    ],
)
def test_cp6_legal_requirement_verified_passes_without_a_legal_requirement(
    confidentiality: str, provision: str | None
) -> None:
    changes = {
        "legal_basis.confidentiality": confidentiality,
        "legal_basis.provision": provision,
        "legal_basis.reference": "Ref",
    }
    check(RuleId.CP6_LEGAL_REQUIREMENT_VERIFIED, PASS, changes)


@pytest.mark.parametrize(
    ("provision", "requester", "fragment"),
    [
        (None, "nhs_trust", "not in the provisions registry"),
        ("made_up_act_2031", "nhs_trust", "not in the provisions registry"),
        ("fgm_act_2003_s5b", "nhs_trust", "own belief"),
        ("care_act_2014_s45", "nhs_trust", "binds only"),
        ("care_act_2014_s6", "local_authority", "Resubmit relying on consent or the public interest"),
    ],
)
def test_cp6_legal_requirement_verified_explains_each_case(
    provision: str | None, requester: str, fragment: str
) -> None:
    evaluation = run27(changed(LEGAL | {"legal_basis.provision": provision}), **options(requester))

    assert fragment in finding(evaluation, RuleId.CP6_LEGAL_REQUIREMENT_VERIFIED).reason


def test_cp6_legal_requirement_verified_refer_texts_differ() -> None:
    texts = {
        variant: POLICY_2027.reason(RuleId.CP6_LEGAL_REQUIREMENT_VERIFIED, REFER, variant)
        for variant in ("unverified", "on_belief", "outside_duty")
    }

    assert len(set(texts.values())) == 3


# CP6.article9_purpose_fit


def _fit(purpose: str, condition: str) -> FindingResult:
    pass_set, refer_set = ARTICLE9_FIT_2027[purpose]
    return PASS if condition in pass_set else REFER if condition in refer_set else REFUSE


@pytest.mark.parametrize(
    ("purpose", "condition", "expected"),
    [(purpose, condition, _fit(purpose, condition)) for purpose in PURPOSES for condition in ARTICLE9_CONDITIONS],
)
def test_cp6_article9_purpose_fit_table(purpose: str, condition: str, expected: FindingResult) -> None:
    changes = {"purpose.category": purpose, "legal_basis.article_9": condition, "data_items": DEFAULT_ITEMS}
    check(RuleId.CP6_ARTICLE9_PURPOSE_FIT, expected, changes)


def test_cp6_article9_purpose_fit_table_has_every_cell_kind_for_every_purpose_but_other() -> None:
    for purpose in PURPOSES:
        results = {_fit(purpose, condition) for condition in ARTICLE9_CONDITIONS}
        assert results == ({REFER} if purpose == "other" else {PASS, REFER, REFUSE}), purpose
        assert (_fit(purpose, "explicit_consent") == PASS) == (purpose != "other")


@pytest.mark.parametrize(
    ("requester", "purpose", "condition", "changes", "expected", "variant"),
    [
        # Art. 9(3): no professional secrecy, whatever the purpose (even where the table passes or refers).
        ("police", "direct_care", "health_social_care", {}, REFUSE, "professional_secrecy"),
        ("school", "service_planning", "health_social_care", {}, REFUSE, "professional_secrecy"),
        ("research", "public_health", "health_social_care", {}, REFUSE, "professional_secrecy"),
        ("research", "research", "health_social_care", {}, REFUSE, "professional_secrecy"),
        ("police", "safeguarding_child", "health_social_care", {}, REFUSE, "professional_secrecy"),
        (
            "police",
            "direct_care",
            "health_social_care",
            {"data_items": [item("diagnoses", "pseudonymised")]},
            REFUSE,
            "professional_secrecy",
        ),
        # Recipients under professional secrecy, and other conditions.
        ("nhs_trust", "direct_care", "health_social_care", {}, PASS, None),
        ("regulator", "direct_care", "health_social_care", {}, PASS, None),
        ("regulator", "regulatory", "health_social_care", {}, REFER, None),
        ("local_authority", "direct_care", "health_social_care", {}, PASS, None),
        ("gp_practice", "direct_care", "health_social_care", {}, PASS, None),
        ("care_provider", "direct_care", "health_social_care", {}, PASS, None),
        ("charity", "direct_care", "health_social_care", {}, PASS, None),
        ("other", "direct_care", "health_social_care", {}, PASS, None),
        ("nhs_trust", "research", "health_social_care", {}, REFUSE, None),
        ("police", "safeguarding_child", "substantial_public_interest", {}, PASS, None),
        ("police", "crime_prevention", "research", {}, REFUSE, None),
        # The opening conditions: special category data, not anonymised, about the living, with a condition.
        ("police", "direct_care", "health_social_care", {"subjects.deceased": True}, PASS, None),
        (
            "police",
            "direct_care",
            "health_social_care",
            {"data_items": [item("demographics"), item("diagnoses", "anonymised")]},
            PASS,
            None,
        ),
        (
            "police",
            "direct_care",
            "health_social_care",
            {"data_items": [item("demographics"), item("contact_details")]},
            PASS,
            None,
        ),
        ("nhs_trust", "crime_prevention", "research", {"subjects.deceased": True}, PASS, None),
        ("nhs_trust", "crime_prevention", "research", {"data_items": [item("diagnoses", "anonymised")]}, PASS, None),
        ("nhs_trust", "crime_prevention", "research", {"data_items": [item("demographics")]}, PASS, None),
        (
            "nhs_trust",
            "crime_prevention",
            "research",
            {"data_items": [item("mental_health", "pseudonymised")]},
            REFUSE,
            None,
        ),
        ("nhs_trust", "other", None, {}, PASS, None),
    ],
)
def test_cp6_article9_purpose_fit_secrecy_and_opening_conditions(
    requester: str,
    purpose: str,
    condition: str | None,
    changes: dict[str, Any],
    expected: FindingResult,
    variant: str | None,
) -> None:
    base = {"purpose.category": purpose, "legal_basis.article_9": condition}
    check(RuleId.CP6_ARTICLE9_PURPOSE_FIT, expected, base | changes, variant, requester=requester)


def test_article9_condition_and_purpose_fit_split_the_work() -> None:
    evaluation = run27(changed({"legal_basis.article_9": None}))

    assert result(evaluation, RuleId.CP6_ARTICLE9_CONDITION) == REFUSE
    assert result(evaluation, RuleId.CP6_ARTICLE9_PURPOSE_FIT) == PASS


# CP6.schedule1_paragraph

SPI = {"legal_basis.article_9": "substantial_public_interest"}


@pytest.mark.parametrize(
    ("paragraph", "purpose", "age_group", "capacity", "expected"),
    [
        (None, "safeguarding_child", "adult", "has_capacity", CONDITION),
        (1, "safeguarding_child", "adult", "has_capacity", CONDITION),
        (5, "safeguarding_child", "adult", "has_capacity", CONDITION),
        (6, "safeguarding_child", "adult", "has_capacity", PASS),
        (10, "crime_prevention", "adult", "has_capacity", PASS),
        (28, "safeguarding_child", "adult", "has_capacity", PASS),
        (29, "safeguarding_child", "adult", "has_capacity", CONDITION),
        (37, "safeguarding_child", "adult", "has_capacity", CONDITION),
        (None, "direct_care", "adult", "lacks_capacity", CONDITION),
        # Para. 18 needs an adult who cannot protect themselves.
        (18, "safeguarding_adult", "adult", "has_capacity", REFER),
        (18, "safeguarding_child", "adult", "has_capacity", PASS),
        (18, "direct_care", "adult", "has_capacity", PASS),
        (18, "safeguarding_adult", "young_person", "has_capacity", PASS),
        (18, "safeguarding_adult", "mixed", "has_capacity", PASS),
        (18, "safeguarding_adult", "child", "has_capacity", PASS),
        (18, "safeguarding_adult", "adult", "lacks_capacity", PASS),
        (18, "safeguarding_adult", "adult", "not_assessed", PASS),
        (17, "safeguarding_adult", "adult", "has_capacity", PASS),
        (19, "safeguarding_adult", "adult", "has_capacity", PASS),
    ],
)
def test_cp6_schedule1_paragraph(
    paragraph: int | None, purpose: str, age_group: str, capacity: str, expected: FindingResult
) -> None:
    changes = SPI | {
        "legal_basis.schedule1_paragraph": paragraph,
        "purpose.category": purpose,
        "subjects.age_group": age_group,
        "consent.capacity": capacity,
    }
    check(RuleId.CP6_SCHEDULE1_PARAGRAPH, expected, changes)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (SPI, CONDITION),
        (SPI | {"data_items": [item("diagnoses", "pseudonymised")]}, CONDITION),
        (SPI | {"subjects.deceased": True}, PASS),
        (SPI | {"data_items": [item("demographics"), item("diagnoses", "anonymised")]}, PASS),
        (SPI | {"data_items": [item("demographics"), item("contact_details")]}, PASS),
        ({"legal_basis.article_9": "health_social_care"}, PASS),
        ({"legal_basis.article_9": "social_protection", "legal_basis.schedule1_paragraph": 3}, PASS),
        (
            SPI
            | {
                "subjects.deceased": True,
                "legal_basis.schedule1_paragraph": 18,
                "purpose.category": "safeguarding_adult",
            },
            PASS,
        ),
    ],
)
def test_cp6_schedule1_paragraph_opening_conditions(changes: dict[str, Any], expected: FindingResult) -> None:
    check(RuleId.CP6_SCHEDULE1_PARAGRAPH, expected, changes)


def test_cp6_schedule1_paragraph_condition_asks_for_the_paragraph() -> None:
    reason = finding(run27(changed(SPI)), RuleId.CP6_SCHEDULE1_PARAGRAPH).reason.lower()

    assert "record the dpa 2018 schedule 1 paragraph" in reason
    assert "relied on" in reason


# CP6.court_order_verified


@pytest.mark.parametrize(
    ("purpose", "confidentiality", "provision", "expected"),
    [
        ("court_order", "not_confidential", None, CONDITION),
        ("court_order", "legal_requirement", "hsca_2012_s259", CONDITION),
        ("direct_care", "legal_requirement", "court_order", CONDITION),
        ("direct_care", "legal_requirement", "witness_summons", CONDITION),
        ("regulatory", "legal_requirement", "coroners_notice", CONDITION),
        ("direct_care", "permissive_gateway", "court_order", CONDITION),
        ("regulatory", "legal_requirement", None, PASS),
        ("direct_care", "legal_requirement", "hsca_2012_s259", PASS),
        ("direct_care", "legal_requirement", "children_act_1989_s47", PASS),
        ("direct_care", "legal_requirement", "court_orders", PASS),
        ("crime_prevention", "permissive_gateway", "pace_1984", PASS),
    ],
)
def test_cp6_court_order_verified(
    purpose: str, confidentiality: str, provision: str | None, expected: FindingResult
) -> None:
    changes = {
        "purpose.category": purpose,
        "legal_basis.confidentiality": confidentiality,
        "legal_basis.provision": provision,
        "legal_basis.reference": "Order 2027/1",
    }
    check(RuleId.CP6_COURT_ORDER_VERIFIED, expected, changes)


def test_cp6_court_order_verified_condition_text() -> None:
    changes = {
        "purpose.category": "court_order",
        "legal_basis.reference": "Order 2027/1",
        "legal_basis.confidentiality": "not_confidential",
        "legal_basis.article_9": "legal_claims",
    }
    evaluation = run27(changed(changes))

    assert fired(evaluation) == {RuleId.CP6_COURT_ORDER_VERIFIED: CONDITION}
    assert (
        "Information governance has seen the sealed order, summons or notice; disclose only what it specifies"
        in evaluation.conditions[0]
    )
    assert evaluation.outcome == Outcome.APPROVE_WITH_CONDITIONS


# CONSENT.proxy_authority


@pytest.mark.parametrize("status", ["given", "refused", "withdrawn"])
@pytest.mark.parametrize(
    ("given_by", "age_group", "capacity", "expected", "variant"),
    [
        ("attorney", "adult", "has_capacity", REFUSE, "proxy_for_capable"),
        ("deputy", "adult", "has_capacity", REFUSE, "proxy_for_capable"),
        ("attorney", "adult", "not_assessed", REFUSE, "proxy_for_capable"),
        ("deputy", "young_person", "not_assessed", REFUSE, "proxy_for_capable"),
        ("deputy", "child", "has_capacity", REFUSE, "proxy_for_capable"),
        ("attorney", "adult", "lacks_capacity", PASS, None),
        ("deputy", "mixed", "lacks_capacity", PASS, None),
        ("parent", "adult", "has_capacity", REFUSE, "parent_of_adult"),
        ("parent", "adult", "lacks_capacity", REFUSE, "parent_of_adult"),
        ("parent", "young_person", "has_capacity", REFER, "parent_of_young_person"),
        ("parent", "young_person", "lacks_capacity", REFER, "parent_of_young_person"),
        ("parent", "mixed", "not_assessed", REFER, "parent_of_young_person"),
        ("parent", "child", "has_capacity", REFER, "competent_child"),
        ("parent", "child", "not_assessed", PASS, None),
        ("parent", "child", "lacks_capacity", PASS, None),
        ("subject", "adult", "has_capacity", PASS, None),
        ("subject", "child", "has_capacity", PASS, None),
    ],
)
def test_consent_proxy_authority(
    status: str, given_by: str, age_group: str, capacity: str, expected: FindingResult, variant: str | None
) -> None:
    changes = {
        "consent.status": status,
        "consent.given_by": given_by,
        "subjects.age_group": age_group,
        "consent.capacity": capacity,
    }
    check(RuleId.CONSENT_PROXY_AUTHORITY, expected, changes, variant)


@pytest.mark.parametrize("status", ["not_sought", "not_possible"])
@pytest.mark.parametrize(
    ("given_by", "age_group"), [("attorney", "adult"), ("parent", "adult"), ("parent", "young_person")]
)
def test_consent_proxy_authority_needs_a_decision(status: str, given_by: str, age_group: str) -> None:
    changes = {
        "consent.status": status,
        "consent.given_by": given_by,
        "subjects.age_group": age_group,
        "consent.capacity": "has_capacity",
    }
    check(RuleId.CONSENT_PROXY_AUTHORITY, PASS, changes)


# CP6.vital_interests_capacity (changed)


@pytest.mark.parametrize(
    ("article_9", "capacity", "status", "age_group", "expected", "variant"),
    [
        ("vital_interests", "lacks_capacity", "refused", "adult", PASS, None),
        ("vital_interests", "lacks_capacity", "not_sought", "child", PASS, None),
        ("vital_interests", "has_capacity", "not_sought", "adult", REFUSE, None),
        ("vital_interests", "has_capacity", "not_possible", "child", REFUSE, None),
        ("vital_interests", "not_assessed", "refused", "child", REFUSE, "refused"),
        ("vital_interests", "not_assessed", "withdrawn", "adult", REFUSE, "refused"),
        ("vital_interests", "not_assessed", "not_possible", "adult", REFER, "not_possible"),
        ("vital_interests", "not_assessed", "not_possible", "young_person", REFER, "not_possible"),
        ("vital_interests", "not_assessed", "not_sought", "adult", REFUSE, "capacity_presumed"),
        ("vital_interests", "not_assessed", "given", "young_person", REFUSE, "capacity_presumed"),
        ("vital_interests", "not_assessed", "not_sought", "child", REFER, "child_or_group"),
        ("vital_interests", "not_assessed", "given", "mixed", REFER, "child_or_group"),
        ("health_social_care", "has_capacity", "refused", "adult", PASS, None),
        ("health_social_care", "not_assessed", "not_sought", "adult", PASS, None),
        (None, "not_assessed", "not_sought", "adult", PASS, None),
    ],
)
def test_cp6_vital_interests_capacity_2027(
    article_9: str | None, capacity: str, status: str, age_group: str, expected: FindingResult, variant: str | None
) -> None:
    changes = {
        "legal_basis.article_6": "vital_interests",
        "legal_basis.article_9": article_9,
        "consent.capacity": capacity,
        "consent.status": status,
        "subjects.age_group": age_group,
    }
    check(RuleId.CP6_VITAL_INTERESTS_CAPACITY, expected, changes, variant)


# CP6.implied_consent_scope (changed)


@pytest.mark.parametrize(
    ("confidentiality", "purpose", "requester", "expected"),
    [
        *[("implied_consent", "direct_care", kind, REFUSE) for kind in sorted(NON_CARE)],
        *[
            ("implied_consent", "direct_care", kind, PASS)
            for kind in ("nhs_trust", "gp_practice", "local_authority", "care_provider", "charity", "other")
        ],
        ("implied_consent", "public_health", "nhs_trust", REFUSE),
        ("implied_consent", "safeguarding_adult", "local_authority", REFUSE),
        ("not_confidential", "direct_care", "police", PASS),
        ("explicit_consent", "research", "research", PASS),
    ],
)
def test_cp6_implied_consent_scope_2027(
    confidentiality: str, purpose: str, requester: str, expected: FindingResult
) -> None:
    changes = {"legal_basis.confidentiality": confidentiality, "purpose.category": purpose}
    check(RuleId.CP6_IMPLIED_CONSENT_SCOPE, expected, changes, requester=requester)


# CP6.public_authority_li (changed)


@pytest.mark.parametrize(
    ("article_6", "requester", "expected"),
    [
        *[("legitimate_interests", kind, REFUSE) for kind in ORGANISATION_TYPES],
        *[("recognised_legitimate_interest", kind, REFUSE) for kind in ORGANISATION_TYPES],
        *[
            (basis, "charity", PASS)
            for basis in ("public_task", "consent", "contract", "legal_obligation", "vital_interests")
        ],
    ],
)
def test_cp6_public_authority_li_2027(article_6: str, requester: str, expected: FindingResult) -> None:
    check(RuleId.CP6_PUBLIC_AUTHORITY_LI, expected, {"legal_basis.article_6": article_6}, requester=requester)


# CP6.national_data_opt_out (changed)


def opt_out(purpose: str, confidentiality: str, form: str = "pseudonymised", **changes: Any) -> dict[str, Any]:
    """A request for `purpose` on `confidentiality` with one item in `form`,
    and dotted `changes` (dots written as __)."""
    return {
        "purpose.category": purpose,
        "legal_basis.confidentiality": confidentiality,
        "legal_basis.reference": "26/CAG/0001",
        "data_items": [item("diagnoses", form)],
    } | {key.replace("__", "."): value for key, value in changes.items()}


@pytest.mark.parametrize(
    ("changes", "requester", "expected"),
    [
        # s251 support: exempt only under regulation 3, for any purpose but direct care.
        (opt_out("research", "s251_support", legal_basis__s251_regulation=5), "nhs_trust", CONDITION),
        (opt_out("research", "s251_support", legal_basis__s251_regulation=2), "nhs_trust", CONDITION),
        (opt_out("research", "s251_support", legal_basis__s251_regulation=None), "nhs_trust", CONDITION),
        (opt_out("research", "s251_support", legal_basis__s251_regulation=3), "nhs_trust", PASS),
        (opt_out("public_health", "s251_support", legal_basis__s251_regulation=2), "nhs_trust", CONDITION),
        (opt_out("regulatory", "s251_support", "identifiable", legal_basis__s251_regulation=5), "nhs_trust", CONDITION),
        (opt_out("public_health", "s251_support", legal_basis__s251_regulation=3), "nhs_trust", PASS),
        (opt_out("direct_care", "s251_support", legal_basis__s251_regulation=2), "nhs_trust", PASS),
        (opt_out("research", "not_confidential", legal_basis__s251_regulation=3), "nhs_trust", CONDITION),
        # Form, applied, and living or deceased.
        (opt_out("public_health", "s251_support", "anonymised", legal_basis__s251_regulation=5), "nhs_trust", PASS),
        (
            opt_out(
                "public_health", "s251_support", legal_basis__s251_regulation=5, national_data_opt_out_applied=True
            ),
            "nhs_trust",
            PASS,
        ),
        (
            opt_out("research", "s251_support", legal_basis__s251_regulation=5, subjects__deceased=True),
            "nhs_trust",
            CONDITION,
        ),
        (opt_out("service_planning", "not_confidential", subjects__deceased=True), "nhs_trust", CONDITION),
        (
            opt_out(
                "research",
                "not_confidential",
                data_items=[item("demographics", "anonymised"), item("diagnoses", "pseudonymised")],
            ),
            "nhs_trust",
            CONDITION,
        ),
        # Secondary uses on other bases.
        (opt_out("service_planning", "not_confidential", "identifiable"), "nhs_trust", CONDITION),
        (opt_out("research", "permissive_gateway"), "nhs_trust", CONDITION),
        (opt_out("research", "explicit_consent"), "nhs_trust", PASS),
        (opt_out("research", "overriding_public_interest"), "nhs_trust", PASS),
        (opt_out("public_health", "not_confidential"), "nhs_trust", PASS),
        (opt_out("public_health", "permissive_gateway"), "nhs_trust", PASS),
        # A legal requirement exempts only when it is a verified duty.
        (opt_out("research", "legal_requirement"), "nhs_trust", CONDITION),
        (opt_out("research", "legal_requirement", legal_basis__provision="made_up_act_2031"), "nhs_trust", CONDITION),
        (opt_out("research", "legal_requirement", legal_basis__provision="hsca_2012_s259"), "nhs_trust", PASS),
        (
            opt_out("research", "legal_requirement", legal_basis__provision="children_act_1989_s47"),
            "nhs_trust",
            CONDITION,
        ),
        (
            opt_out("research", "legal_requirement", legal_basis__provision="children_act_1989_s47"),
            "local_authority",
            PASS,
        ),
        (
            opt_out("research", "legal_requirement", legal_basis__provision="crime_and_disorder_act_1998_s115"),
            "local_authority",
            CONDITION,
        ),
        (
            opt_out("research", "legal_requirement", legal_basis__provision="dpa_2018_sch2_para5"),
            "local_authority",
            CONDITION,
        ),
        (
            opt_out("research", "legal_requirement", legal_basis__provision="fgm_act_2003_s5b"),
            "local_authority",
            CONDITION,
        ),
        (
            opt_out(
                "service_planning", "legal_requirement", legal_basis__provision="health_protection_notification_2010"
            ),
            "local_authority",
            PASS,
        ),
        (
            opt_out(
                "service_planning", "legal_requirement", legal_basis__provision="health_protection_notification_2010"
            ),
            "police",
            CONDITION,
        ),
        (opt_out("research", "permissive_gateway", legal_basis__provision="hsca_2012_s259"), "nhs_trust", CONDITION),
    ],
)
def test_cp6_national_data_opt_out_2027(changes: dict[str, Any], requester: str, expected: FindingResult) -> None:
    check(RuleId.CP6_NATIONAL_DATA_OPT_OUT, expected, changes, requester=requester)


# CP5.dspt (changed)


@pytest.mark.parametrize(
    ("requester", "dspt", "purpose", "items", "expected", "variant"),
    [
        # The toolkit does not apply to police, schools and regulators.
        *[
            (kind, status, purpose, DEFAULT_ITEMS, PASS, None)
            for kind in ("police", "school", "regulator")
            for status in ("not_met", "not_published")
            for purpose in ("direct_care", "research")
        ],
        # Direct care: each failing status is a condition.
        ("nhs_trust", "not_met", "direct_care", DEFAULT_ITEMS, CONDITION, "direct_care"),
        ("nhs_trust", "approaching_standards", "direct_care", DEFAULT_ITEMS, CONDITION, "direct_care"),
        ("nhs_trust", "not_published", "direct_care", DEFAULT_ITEMS, CONDITION, "direct_care"),
        ("charity", "not_met", "direct_care", DEFAULT_ITEMS, CONDITION, "direct_care"),
        ("research", "not_published", "direct_care", DEFAULT_ITEMS, CONDITION, "direct_care"),
        ("other", "not_published", "direct_care", DEFAULT_ITEMS, CONDITION, "direct_care"),
        ("nhs_trust", "standards_met", "direct_care", DEFAULT_ITEMS, PASS, None),
        ("charity", "standards_exceeded", "direct_care", DEFAULT_ITEMS, PASS, None),
        # Other purposes: as 2026.1 ...
        ("nhs_trust", "not_met", "research", DEFAULT_ITEMS, REFER, None),
        ("nhs_trust", "not_met", "safeguarding_adult", DEFAULT_ITEMS, REFER, None),
        ("research", "not_met", "research", DEFAULT_ITEMS, REFER, None),
        ("nhs_trust", "approaching_standards", "research", DEFAULT_ITEMS, CONDITION, None),
        ("research", "approaching_standards", "research", DEFAULT_ITEMS, CONDITION, None),
        ("research", "standards_met", "research", DEFAULT_ITEMS, PASS, None),
        *[
            (kind, "not_published", "research", DEFAULT_ITEMS, CONDITION, None)
            for kind in ("nhs_trust", "gp_practice", "local_authority", "care_provider")
        ],
        # ... except an unpublished toolkit for identifiable special category data from research, charity or other.
        *[
            (kind, "not_published", "research", DEFAULT_ITEMS, REFER, "not_published")
            for kind in ("research", "charity", "other")
        ],
        ("charity", "not_published", "safeguarding_adult", [item("social_care_record")], REFER, "not_published"),
        (
            "research",
            "not_published",
            "research",
            [item("demographics"), item("diagnoses", "pseudonymised")],
            CONDITION,
            None,
        ),
        (
            "charity",
            "not_published",
            "research",
            [item("demographics"), item("diagnoses", "anonymised")],
            CONDITION,
            None,
        ),
        ("other", "not_published", "research", [item("demographics"), item("contact_details")], CONDITION, None),
    ],
)
def test_cp5_dspt_2027(
    requester: str, dspt: str, purpose: str, items: list[dict[str, str]], expected: FindingResult, variant: str | None
) -> None:
    check(
        RuleId.CP5_DSPT,
        expected,
        {"purpose.category": purpose, "data_items": items},
        variant,
        requester=requester,
        dspt=dspt,
    )


# CP8.transparency (changed)


@pytest.mark.parametrize(
    ("informed", "notice_covers", "purpose", "expected", "variant"),
    [
        ("no", False, "direct_care", CONDITION, None),
        ("no", False, "safeguarding_child", CONDITION, None),
        ("no", True, "direct_care", PASS, None),
        ("will_inform", False, "direct_care", PASS, None),
        ("yes", False, "crime_prevention", PASS, None),
        ("would_prejudice_purpose", True, "direct_care", REFER, None),
        ("would_prejudice_purpose", False, "research", REFER, None),
        ("would_prejudice_purpose", False, "public_health", REFER, None),
        ("would_prejudice_purpose", False, "regulatory", REFER, None),
        ("would_prejudice_purpose", False, "safeguarding_child", CONDITION, "prejudice_recorded"),
        ("would_prejudice_purpose", True, "safeguarding_adult", CONDITION, "prejudice_recorded"),
        ("would_prejudice_purpose", False, "crime_prevention", CONDITION, "prejudice_recorded"),
        ("would_prejudice_purpose", False, "court_order", CONDITION, "prejudice_recorded"),
    ],
)
def test_cp8_transparency_2027(
    informed: str, notice_covers: bool, purpose: str, expected: FindingResult, variant: str | None
) -> None:
    changes = {
        "transparency.subject_informed": informed,
        "transparency.privacy_notice_covers_use": notice_covers,
        "purpose.category": purpose,
    }
    check(RuleId.CP8_TRANSPARENCY, expected, changes, variant)


def test_cp8_prejudice_condition_text() -> None:
    evaluation = run27(
        changed({"transparency.subject_informed": "would_prejudice_purpose", "purpose.category": "safeguarding_child"})
    )

    assert (
        "record why informing the person would prejudice the purpose"
        in finding(evaluation, RuleId.CP8_TRANSPARENCY).reason.lower()
    )


# CONSENT.refusal (changed)

REFUSED = {"consent.status": "refused"}
LACKS = {"consent.capacity": "lacks_capacity", "consent.best_interests_decision": True}


@pytest.mark.parametrize(
    ("changes", "requester", "expected", "variant"),
    [
        ({"consent.status": "not_sought"}, "nhs_trust", PASS, None),
        ({"consent.status": "not_possible"}, "nhs_trust", PASS, None),
        ({"consent.status": "given"}, "nhs_trust", PASS, None),
        (REFUSED, "nhs_trust", REFUSE, None),
        ({"consent.status": "withdrawn"}, "nhs_trust", REFUSE, None),
        (REFUSED | {"consent.capacity": "not_assessed"}, "nhs_trust", REFUSE, None),
        (REFUSED | {"consent.given_by": "attorney"}, "nhs_trust", REFUSE, None),
        # The public interest is the guardian's call.
        (REFUSED | {"legal_basis.confidentiality": "overriding_public_interest"}, "nhs_trust", REFER, None),
        (
            {"consent.status": "withdrawn", "legal_basis.confidentiality": "permissive_gateway"},
            "nhs_trust",
            REFER,
            None,
        ),
        # A legal requirement: a verified duty overrides, an unverified one refers, anything else refuses.
        (REFUSED | LEGAL, "nhs_trust", REFER, None),
        (REFUSED | LEGAL | {"legal_basis.provision": "made_up_act_2031"}, "nhs_trust", REFER, None),
        (REFUSED | LEGAL | {"legal_basis.provision": "terrorism_act_2000_s38b"}, "nhs_trust", REFER, None),
        (REFUSED | LEGAL | {"legal_basis.provision": "children_act_1989_s47"}, "nhs_trust", REFER, None),
        (REFUSED | LEGAL | {"legal_basis.provision": "children_act_1989_s47"}, "local_authority", PASS, None),
        (REFUSED | LEGAL | {"legal_basis.provision": "court_order"}, "police", PASS, None),
        (
            REFUSED | LEGAL | {"legal_basis.provision": "crime_and_disorder_act_1998_s115"},
            "local_authority",
            REFUSE,
            None,
        ),
        (REFUSED | LEGAL | {"legal_basis.provision": "dpa_2018_sch2_para2"}, "police", REFUSE, None),
        (REFUSED | LEGAL | {"legal_basis.provision": "cpia_1996"}, "police", REFUSE, None),
        # Lacking capacity: a proxy's refusal binds unless a guardian finds otherwise; nobody else's does.
        (REFUSED | LACKS, "nhs_trust", PASS, None),
        (REFUSED | LACKS | {"consent.given_by": "parent", "subjects.age_group": "child"}, "nhs_trust", PASS, None),
        (REFUSED | LACKS | {"consent.given_by": "attorney"}, "nhs_trust", REFER, "proxy"),
        ({"consent.status": "withdrawn", "consent.given_by": "deputy"} | LACKS, "nhs_trust", REFER, "proxy"),
        (
            REFUSED
            | LACKS
            | {"consent.given_by": "deputy", "legal_basis.confidentiality": "overriding_public_interest"},
            "nhs_trust",
            REFER,
            "proxy",
        ),
        # What overrides a refusal, even a proxy's.
        (REFUSED | {"consent.given_by": "parent", "purpose.category": "safeguarding_child"}, "nhs_trust", PASS, None),
        (REFUSED | {"consent.given_by": "parent", "purpose.category": "safeguarding_adult"}, "nhs_trust", REFUSE, None),
        (REFUSED | {"purpose.category": "safeguarding_child"}, "nhs_trust", REFUSE, None),
        (REFUSED | {"purpose.category": "court_order"}, "nhs_trust", PASS, None),
        (
            REFUSED | LACKS | {"consent.given_by": "attorney", "purpose.category": "court_order"},
            "nhs_trust",
            PASS,
            None,
        ),
        (
            REFUSED | LACKS | LEGAL | {"consent.given_by": "deputy", "legal_basis.provision": "care_act_2014_s45"},
            "local_authority",
            PASS,
            None,
        ),
        (
            REFUSED | LACKS | LEGAL | {"consent.given_by": "deputy", "legal_basis.provision": "care_act_2014_s45"},
            "nhs_trust",
            REFER,
            "proxy",
        ),
    ],
)
def test_consent_refusal_2027(
    changes: dict[str, Any], requester: str, expected: FindingResult, variant: str | None
) -> None:
    check(RuleId.CONSENT_REFUSAL, expected, changes, variant, requester=requester)


# CONSENT.public_interest: unchanged, but it follows the new refusal.


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"legal_basis.confidentiality": "overriding_public_interest"}, REFER),
        ({"legal_basis.confidentiality": "permissive_gateway", "consent.status": "given"}, REFER),
        ({"legal_basis.confidentiality": "overriding_public_interest"} | REFUSED | LACKS, REFER),
        (
            {"legal_basis.confidentiality": "overriding_public_interest"}
            | REFUSED
            | LACKS
            | {"consent.given_by": "attorney"},
            PASS,
        ),
        ({"legal_basis.confidentiality": "overriding_public_interest"} | REFUSED, PASS),
        ({"legal_basis.confidentiality": "permissive_gateway", "consent.status": "withdrawn"}, PASS),
        (
            {
                "legal_basis.confidentiality": "permissive_gateway",
                "consent.given_by": "parent",
                "purpose.category": "safeguarding_child",
            }
            | REFUSED,
            REFER,
        ),
        (
            {"legal_basis.confidentiality": "overriding_public_interest", "purpose.category": "court_order"} | REFUSED,
            REFER,
        ),
        (LEGAL | REFUSED, PASS),
        ({"legal_basis.confidentiality": "implied_consent"}, PASS),
    ],
)
def test_consent_public_interest_follows_the_2027_refusal(changes: dict[str, Any], expected: FindingResult) -> None:
    check(RuleId.CONSENT_PUBLIC_INTEREST, expected, changes)


def test_a_proxy_refusal_is_referred_once() -> None:
    changes = (
        {"legal_basis.confidentiality": "overriding_public_interest", "consent.given_by": "attorney"} | REFUSED | LACKS
    )
    evaluation = run27(changed(changes))

    assert fired(evaluation) == {RuleId.CONSENT_REFUSAL: REFER}
    assert finding(evaluation, RuleId.CONSENT_REFUSAL).reason == POLICY_2027.reason(
        RuleId.CONSENT_REFUSAL, REFER, "proxy"
    )


# STAT.restricted_category (changed)

EXPLICIT = {"consent.status": "given", "legal_basis.confidentiality": "explicit_consent"}


@pytest.mark.parametrize(
    ("items", "changes", "expected"),
    [
        ([item("sexual_health")], EXPLICIT, PASS),
        ([item("gender_history")], EXPLICIT | {"consent.given_by": "subject"}, PASS),
        ([item("sexual_health")], EXPLICIT | {"consent.given_by": "parent", "subjects.age_group": "child"}, REFER),
        (
            [item("fertility_treatment")],
            EXPLICIT | {"consent.given_by": "attorney", "consent.capacity": "lacks_capacity"},
            REFER,
        ),
        (
            [item("gender_history", "pseudonymised")],
            EXPLICIT | {"consent.given_by": "deputy", "consent.capacity": "lacks_capacity"},
            REFER,
        ),
        ([item("sexual_health")], {"consent.status": "given"}, REFER),
        ([item("sexual_health")], {"legal_basis.confidentiality": "explicit_consent"}, REFER),
        ([item("sexual_health")], {}, REFER),
        (
            [item("sexual_health")],
            {"purpose.category": "court_order", "consent.given_by": "parent", "consent.status": "given"},
            PASS,
        ),
        ([item("sexual_health", "anonymised")], {}, PASS),
        ([item("genetic")], {}, PASS),
    ],
)
def test_stat_restricted_category_2027(
    items: list[dict[str, str]], changes: dict[str, Any], expected: FindingResult
) -> None:
    check(RuleId.STAT_RESTRICTED_CATEGORY, expected, {"data_items": items} | changes)


# DEC.deceased (changed)

DEAD = {"subjects.deceased": True}


@pytest.mark.parametrize(
    ("changes", "requester", "expected"),
    [
        (DEAD, "nhs_trust", REFER),
        (DEAD | {"purpose.category": "safeguarding_adult"}, "local_authority", REFER),
        (DEAD | {"purpose.category": "court_order"}, "nhs_trust", PASS),
        ({"subjects.deceased": False}, "nhs_trust", PASS),
        (DEAD | LEGAL | {"legal_basis.provision": "court_order"}, "nhs_trust", PASS),
        (DEAD | LEGAL | {"legal_basis.provision": "witness_summons"}, "police", PASS),
        (DEAD | LEGAL | {"legal_basis.provision": "coroners_notice"}, "other", PASS),
        (
            DEAD | {"legal_basis.confidentiality": "permissive_gateway", "legal_basis.provision": "coroners_notice"},
            "nhs_trust",
            REFER,
        ),
        (
            DEAD
            | {"legal_basis.confidentiality": "overriding_public_interest", "legal_basis.provision": "court_order"},
            "nhs_trust",
            REFER,
        ),
        (DEAD | LEGAL | {"legal_basis.provision": "hsca_2012_s259"}, "nhs_trust", REFER),
        (DEAD | LEGAL | {"legal_basis.provision": "children_act_1989_s47"}, "local_authority", REFER),
        (DEAD | LEGAL | {"legal_basis.provision": "made_up_act_2031"}, "nhs_trust", REFER),
        (DEAD | LEGAL, "nhs_trust", REFER),
    ],
)
def test_dec_deceased_2027(changes: dict[str, Any], requester: str, expected: FindingResult) -> None:
    check(RuleId.DEC_DECEASED, expected, changes, requester=requester)


def test_a_coroners_notice_for_the_dead_is_a_condition_not_a_referral() -> None:
    evaluation = run27(changed(DEAD | LEGAL | {"legal_basis.provision": "coroners_notice"}))

    assert fired(evaluation) == {RuleId.CP6_COURT_ORDER_VERIFIED: CONDITION}
    assert evaluation.outcome == Outcome.APPROVE_WITH_CONDITIONS


# CP7.emergency_share in 2027.1

# A safeguarding request on which every rule passes.
SAFEGUARDING_ADULT = {
    "purpose.category": "safeguarding_adult",
    "legal_basis.confidentiality": "not_confidential",
    "legal_basis.article_9": "social_protection",
}
# Each waivable rule, referring alone: (changes, facts options).
WAIVABLE_ALONE: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "CONSENT.public_interest": ({"legal_basis.confidentiality": "overriding_public_interest"}, {}),
    "CONSENT.best_interests": ({"consent.capacity": "lacks_capacity"}, {}),
    "CONSENT.child_competence": (
        {"subjects.age_group": "child", "consent.status": "given", "consent.capacity": "not_assessed"},
        {},
    ),
    "CP6.vital_interests_capacity": (
        {
            "legal_basis.article_9": "vital_interests",
            "consent.capacity": "not_assessed",
            "consent.status": "not_possible",
        },
        {},
    ),
    "CP6.schedule1_paragraph": (SAFEGUARDING_ADULT | SPI | {"legal_basis.schedule1_paragraph": 18}, {}),
    "CP8.transparency": ({"transparency.subject_informed": "would_prejudice_purpose"}, {}),
    "AGR.registered": ({"sharing_agreement": "ISA-NOT-REGISTERED"}, {}),
    "AGR.in_force": (
        SAFEGUARDING_ADULT | {"sharing_agreement": AGREEMENT_CODE},
        {"agreement_facts": agreement(status=AgreementStatus.SUSPENDED)},
    ),
    "AGR.party": (
        {"sharing_agreement": AGREEMENT_CODE},
        {"agreement_facts": agreement(parties=frozenset({"LA-TEST"}))},
    ),
    "AGR.scope": (
        SAFEGUARDING_ADULT | {"purpose.category": "safeguarding_child", "sharing_agreement": AGREEMENT_CODE},
        {"agreement_facts": agreement()},
    ),
}
# Rules an emergency may not go ahead past, each referring alone: (changes, requester, dspt).
NOT_WAIVABLE_ALONE: dict[str, tuple[dict[str, Any], str, str]] = {
    "CP1.direct_care_recipient": ({}, "other", "standards_met"),
    "CP3.full_record": ({"data_items": [item("full_record")]}, "nhs_trust", "standards_met"),
    "CP3.category_scope": (SAFEGUARDING_ADULT | {"data_items": [item("genetic")]}, "nhs_trust", "standards_met"),
    "CP4.onward_sharing": ({"recipient.onward_sharing": True}, "nhs_trust", "standards_met"),
    "CP5.dspt": (SAFEGUARDING_ADULT, "nhs_trust", "not_met"),
    "CP6.article9_purpose_fit": ({"legal_basis.article_9": "public_health"}, "nhs_trust", "standards_met"),
    "CP6.legal_requirement_verified": (LEGAL, "nhs_trust", "standards_met"),
    "CONSENT.refusal": (
        REFUSED | {"legal_basis.confidentiality": "overriding_public_interest"},
        "nhs_trust",
        "standards_met",
    ),
    "CONSENT.proxy_authority": (
        {"consent.status": "given", "consent.given_by": "parent", "subjects.age_group": "young_person"},
        "nhs_trust",
        "standards_met",
    ),
    "STAT.restricted_category": (
        {"data_items": [item("demographics"), item("sexual_health")]},
        "nhs_trust",
        "standards_met",
    ),
    "DEC.deceased": (DEAD, "nhs_trust", "standards_met"),
}
EMERGENCY = {"urgency": "emergency"}
PREJUDICE = {"transparency.subject_informed": "would_prejudice_purpose"}  # CP8.transparency refers for direct care


def assert_emergency(evaluation: Evaluation, shared: bool) -> None:
    """The emergency share applied (or not), and review_required says so."""
    assert result(evaluation, RuleId.CP7_EMERGENCY_SHARE) == (CONDITION if shared else PASS)
    assert evaluation.review_required is shared
    if shared:
        assert evaluation.outcome == Outcome.APPROVE_WITH_CONDITIONS
        assert POLICY_2027.reason(RuleId.CP7_EMERGENCY_SHARE, CONDITION) in evaluation.conditions
        assert (
            "retrospective review by the Caldicott Guardian" in finding(evaluation, RuleId.CP7_EMERGENCY_SHARE).reason
        )


def test_the_waivable_cases_are_the_brief_list() -> None:
    assert set(WAIVABLE_ALONE) == WAIVABLE_2027
    assert not set(NOT_WAIVABLE_ALONE) & WAIVABLE_2027


@pytest.mark.parametrize("rule_id", sorted(WAIVABLE_ALONE))
def test_emergency_goes_ahead_past_each_waivable_referral_alone(rule_id: str) -> None:
    changes, facts_options = WAIVABLE_ALONE[rule_id]
    routine = run27(changed(changes), **facts_options)
    emergency = run27(changed(changes | EMERGENCY), **facts_options)

    assert fired(routine) == {rule_id: REFER}
    assert routine.outcome == Outcome.REFER
    assert fired(emergency) == {rule_id: REFER, RuleId.CP7_EMERGENCY_SHARE: CONDITION}
    assert_emergency(emergency, shared=True)
    assert emergency.conditions == [POLICY_2027.reason(RuleId.CP7_EMERGENCY_SHARE, CONDITION)]


@pytest.mark.parametrize("rule_id", sorted(NOT_WAIVABLE_ALONE))
def test_emergency_waits_for_a_guardian_on_each_other_referral(rule_id: str) -> None:
    changes, requester, dspt = NOT_WAIVABLE_ALONE[rule_id]
    routine = run27(changed(changes), **options(requester, dspt))
    emergency = run27(changed(changes | EMERGENCY), **options(requester, dspt))

    assert {rule: found for rule, found in fired(routine).items() if found == REFER} == {rule_id: REFER}
    assert REFUSE not in fired(routine).values()
    assert fired(emergency) == fired(routine)
    assert_emergency(emergency, shared=False)
    assert emergency.outcome == Outcome.REFER


@pytest.mark.parametrize("rule_id", sorted(NOT_WAIVABLE_ALONE))
def test_a_waivable_referral_does_not_carry_another_past_the_guardian(rule_id: str) -> None:
    changes, requester, dspt = NOT_WAIVABLE_ALONE[rule_id]
    evaluation = run27(
        changed(changes | EMERGENCY | {"sharing_agreement": "ISA-NOT-REGISTERED"}), **options(requester, dspt)
    )

    assert result(evaluation, RuleId.AGR_REGISTERED) == REFER
    assert_emergency(evaluation, shared=False)


def test_several_waivable_referrals_together_still_go_ahead() -> None:
    changes = (
        EMERGENCY
        | PREJUDICE
        | {"sharing_agreement": "ISA-NOT-REGISTERED", "legal_basis.confidentiality": "overriding_public_interest"}
    )
    evaluation = run27(changed(changes))

    assert fired(evaluation) == {
        RuleId.CP7_EMERGENCY_SHARE: CONDITION,
        RuleId.CP8_TRANSPARENCY: REFER,
        RuleId.CONSENT_PUBLIC_INTEREST: REFER,
        RuleId.AGR_REGISTERED: REFER,
    }
    assert_emergency(evaluation, shared=True)


@pytest.mark.parametrize(
    ("count", "shared"),
    [(1, True), (2, True), (10, True), (11, False), (12, False), (100, False)],
)
def test_emergency_covers_at_most_a_household(count: int, shared: bool) -> None:
    evaluation = run27(changed(EMERGENCY | PREJUDICE | {"subjects.count": count}))

    assert result(evaluation, RuleId.CP8_TRANSPARENCY) == REFER
    assert_emergency(evaluation, shared=shared)
    assert evaluation.outcome == (Outcome.APPROVE_WITH_CONDITIONS if shared else Outcome.REFER)


@pytest.mark.parametrize("purpose", [purpose for purpose in PURPOSES if purpose != "other"])
def test_emergency_purposes(purpose: str) -> None:
    changes = {
        "purpose.category": purpose,
        "data_items": [item("demographics", "pseudonymised")],
        "legal_basis.article_9": None,
        "legal_basis.confidentiality": "not_confidential",
        "legal_basis.reference": "Order 2027/1",
        "sharing_agreement": "ISA-NOT-REGISTERED",
    }
    routine = run27(changed(changes))
    emergency = run27(changed(changes | EMERGENCY))

    assert {rule: found for rule, found in fired(routine).items() if found != CONDITION} == {
        RuleId.AGR_REGISTERED: REFER
    }
    assert_emergency(emergency, shared=purpose in {"direct_care", "safeguarding_child", "safeguarding_adult"})


@pytest.mark.parametrize("urgency", ["routine", "urgent"])
def test_emergency_share_needs_an_emergency(urgency: str) -> None:
    evaluation = run27(changed(PREJUDICE | {"urgency": urgency}))

    assert_emergency(evaluation, shared=False)
    assert evaluation.outcome == Outcome.REFER


def test_emergency_share_never_for_the_dead_even_when_dec_deceased_passes() -> None:
    changes = EMERGENCY | PREJUDICE | DEAD | LEGAL | {"legal_basis.provision": "court_order"}
    evaluation = run27(changed(changes))

    assert result(evaluation, RuleId.DEC_DECEASED) == PASS
    assert fired(evaluation) == {RuleId.CP8_TRANSPARENCY: REFER, RuleId.CP6_COURT_ORDER_VERIFIED: CONDITION}
    assert_emergency(evaluation, shared=False)
    assert evaluation.outcome == Outcome.REFER


@pytest.mark.parametrize(
    "refusal",
    [
        {"recipient.storage_region": "other"},
        {"consent.status": "given", "consent.given_by": "parent"},
        {"legal_basis.article_6": "recognised_legitimate_interest"},
        LEGAL | {"legal_basis.provision": "crime_and_disorder_act_1998_s115"},
    ],
)
def test_emergency_share_never_past_a_refusal(refusal: dict[str, Any]) -> None:
    evaluation = run27(changed(EMERGENCY | PREJUDICE | refusal))

    assert REFUSE in fired(evaluation).values()
    assert result(evaluation, RuleId.CP8_TRANSPARENCY) == REFER
    assert_emergency(evaluation, shared=False)
    assert evaluation.outcome == Outcome.REFUSE
    assert evaluation.conditions == []


def test_emergency_share_needs_a_referral() -> None:
    conditions_only = run27(changed(EMERGENCY | {"recipient.staff_trained": False}))
    nothing = run27(changed(EMERGENCY))

    assert fired(conditions_only) == {RuleId.CP5_STAFF_TRAINED: CONDITION}
    assert_emergency(conditions_only, shared=False)
    assert conditions_only.outcome == Outcome.APPROVE_WITH_CONDITIONS
    assert_emergency(nothing, shared=False)
    assert nothing.outcome == Outcome.APPROVE


def test_emergency_share_no_longer_needs_vital_interests_and_keeps_other_conditions() -> None:
    request = changed(EMERGENCY | PREJUDICE | {"recipient.staff_trained": False})
    evaluation = run27(request)

    assert (request["legal_basis"]["article_6"], request["legal_basis"]["article_9"]) == (
        "public_task",
        "health_social_care",
    )
    assert_emergency(evaluation, shared=True)
    assert evaluation.conditions == [
        POLICY_2027.reason(RuleId.CP5_STAFF_TRAINED, CONDITION),
        POLICY_2027.reason(RuleId.CP7_EMERGENCY_SHARE, CONDITION),
    ]
    assert result(evaluation, RuleId.CP8_TRANSPARENCY) == REFER


# 2026.1 ignores the new vocabulary, and keeps its own readings.

NEW_FIELDS = [
    {"legal_basis.provision": "children_act_1989_s47"},
    {"legal_basis.provision": "court_order", "legal_basis.schedule1_paragraph": 18},
    {"legal_basis.provision": "made_up_act_2031", "legal_basis.s251_regulation": 3},
    {
        "legal_basis.provision": "crime_and_disorder_act_1998_s115",
        "legal_basis.schedule1_paragraph": 5,
        "legal_basis.s251_regulation": 2,
    },
]
REQUESTS_2026 = {
    "baseline": {},
    "legal-requirement": LEGAL | REFUSED,
    "research-s251": opt_out("research", "s251_support"),
    "deceased": DEAD | LEGAL,
    "safeguarding-spi": {
        "purpose.category": "safeguarding_adult",
        "legal_basis.confidentiality": "overriding_public_interest",
    }
    | SPI,
    "emergency": EMERGENCY
    | {"legal_basis.article_6": "vital_interests", "recipient.onward_sharing": True, "subjects.count": 50},
}


@pytest.mark.parametrize("new_fields", NEW_FIELDS)
@pytest.mark.parametrize("name", sorted(REQUESTS_2026))
def test_2026_ignores_the_new_fields(name: str, new_fields: dict[str, Any]) -> None:
    request = changed(REQUESTS_2026[name])

    assert run(changed(new_fields, request)) == run(request)


def test_2026_new_fields_leave_findings_unchanged_where_2027_differs() -> None:
    request = changed(DEAD | LEGAL | {"legal_basis.provision": "court_order"})

    assert result(run(request), RuleId.DEC_DECEASED) == REFER
    assert result(run27(request), RuleId.DEC_DECEASED) == PASS


def test_social_protection_satisfies_article9_condition_in_2026() -> None:
    request = changed({"legal_basis.article_9": "social_protection"})

    assert result(run(request), RuleId.CP6_ARTICLE9_CONDITION) == PASS
    assert run(request).outcome == Outcome.APPROVE
    assert fired(run27(request)) == {RuleId.CP6_ARTICLE9_PURPOSE_FIT: REFER}


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"legal_basis.article_6": "legitimate_interests"},
        {
            "purpose.category": "research",
            "data_items": [item("diagnoses", "pseudonymised")],
            "legal_basis.confidentiality": "s251_support",
        },
        {"legal_basis.article_9": "vital_interests", "consent.capacity": "not_assessed"},
    ],
)
@pytest.mark.parametrize("dspt", ["standards_met", "not_met", "not_published"])
def test_2026_care_provider_is_a_type_like_other(changes: dict[str, Any], dspt: str) -> None:
    request = changed(changes)

    assert run(request, **options("care_provider", dspt)) == run(request, **options("other", dspt))


@pytest.mark.parametrize(
    ("changes", "requester", "dspt", "rule_id", "in_2026", "in_2027"),
    [
        (
            {"legal_basis.article_6": "recognised_legitimate_interest"},
            "nhs_trust",
            "standards_met",
            RuleId.CP6_PUBLIC_AUTHORITY_LI,
            PASS,
            REFUSE,
        ),
        (
            {"legal_basis.article_6": "legitimate_interests"},
            "charity",
            "standards_met",
            RuleId.CP6_PUBLIC_AUTHORITY_LI,
            PASS,
            REFUSE,
        ),
        ({}, "police", "standards_met", RuleId.CP6_IMPLIED_CONSENT_SCOPE, PASS, REFUSE),
        (
            {"legal_basis.article_9": "vital_interests", "consent.capacity": "not_assessed"},
            "nhs_trust",
            "standards_met",
            RuleId.CP6_VITAL_INTERESTS_CAPACITY,
            PASS,
            REFUSE,
        ),
        ({}, "nhs_trust", "not_met", RuleId.CP5_DSPT, REFER, CONDITION),
        ({"purpose.category": "research"}, "charity", "not_published", RuleId.CP5_DSPT, CONDITION, REFER),
        (
            PREJUDICE | {"purpose.category": "safeguarding_child"},
            "nhs_trust",
            "standards_met",
            RuleId.CP8_TRANSPARENCY,
            PASS,
            CONDITION,
        ),
        (REFUSED | LEGAL, "nhs_trust", "standards_met", RuleId.CONSENT_REFUSAL, PASS, REFER),
        (
            REFUSED | LACKS | {"consent.given_by": "attorney"},
            "nhs_trust",
            "standards_met",
            RuleId.CONSENT_REFUSAL,
            PASS,
            REFER,
        ),
        (
            {"data_items": [item("sexual_health")], "consent.given_by": "parent", "subjects.age_group": "child"}
            | EXPLICIT,
            "nhs_trust",
            "standards_met",
            RuleId.STAT_RESTRICTED_CATEGORY,
            PASS,
            REFER,
        ),
        (
            opt_out("research", "legal_requirement"),
            "nhs_trust",
            "standards_met",
            RuleId.CP6_NATIONAL_DATA_OPT_OUT,
            PASS,
            CONDITION,
        ),
        (
            opt_out("public_health", "s251_support"),
            "nhs_trust",
            "standards_met",
            RuleId.CP6_NATIONAL_DATA_OPT_OUT,
            PASS,
            CONDITION,
        ),
        (
            EMERGENCY | {"legal_basis.article_6": "vital_interests", "recipient.onward_sharing": True},
            "nhs_trust",
            "standards_met",
            RuleId.CP7_EMERGENCY_SHARE,
            CONDITION,
            PASS,
        ),
        (EMERGENCY | PREJUDICE, "nhs_trust", "standards_met", RuleId.CP7_EMERGENCY_SHARE, PASS, CONDITION),
    ],
)
def test_changed_rules_keep_their_2026_reading(
    changes: dict[str, Any], requester: str, dspt: str, rule_id: RuleId, in_2026: FindingResult, in_2027: FindingResult
) -> None:
    request = changed(changes)

    assert result(run(request, **options(requester, dspt)), rule_id) == in_2026
    assert result(run27(request, **options(requester, dspt)), rule_id) == in_2027
