"""Each rule at its boundary: the nearest case that fires and the nearest that does not."""

from datetime import timedelta
from typing import Any

import pytest

from app.models.vocabulary import AgreementStatus, DsptStatus, FindingResult, OrganisationType, Outcome, PurposeCategory
from app.rules.engine import RULEBOOKS, Edition, RuleId

from .baseline import AGREEMENT_CODE, POLICY, TODAY, agreement, baseline_request, changed, fired, item, result, run

PASS = FindingResult.PASS
CONDITION = FindingResult.CONDITION
REFER = FindingResult.REFER
REFUSE = FindingResult.REFUSE


def check(rule_id: RuleId, expected: FindingResult, changes: dict[str, Any], **facts_options: Any) -> None:
    """Assert the result of one rule on the baseline with `changes` applied."""
    assert result(run(changed(changes), **facts_options), rule_id) == expected


def test_baseline_passes_every_rule_in_policy_order() -> None:
    evaluation = run()

    assert evaluation.outcome == Outcome.APPROVE
    assert fired(evaluation) == {}
    assert [finding.rule for finding in evaluation.findings] == list(POLICY.rules)
    assert set(POLICY.rules) == set(RULEBOOKS[Edition.V2026_1])
    assert evaluation.conditions == []
    assert evaluation.review_required is False


def test_findings_carry_principle_title_and_pass_reason() -> None:
    findings = {finding.rule: finding for finding in run().findings}

    assert findings[RuleId.CP6_INTERNATIONAL_TRANSFER].principle == 6
    assert findings[RuleId.CP6_INTERNATIONAL_TRANSFER].principle_title == "Comply with the law."
    assert findings[RuleId.AGR_SCOPE].principle is None
    assert findings[RuleId.AGR_SCOPE].principle_title == "Information sharing agreement"
    assert findings[RuleId.CONSENT_REFUSAL].principle_title == "Consent and capacity"
    assert all(finding.reason for finding in findings.values())


# CP1


@pytest.mark.parametrize(("purpose", "expected"), [("other", REFER), ("direct_care", PASS), ("regulatory", PASS)])
def test_cp1_purpose_recognised(purpose: str, expected: FindingResult) -> None:
    check(RuleId.CP1_PURPOSE_RECOGNISED, expected, {"purpose.category": purpose})


# CP2


@pytest.mark.parametrize(
    ("purpose", "form", "confidentiality", "expected"),
    [
        ("research", "identifiable", "not_confidential", REFUSE),
        ("service_planning", "identifiable", "overriding_public_interest", REFUSE),
        ("research", "identifiable", "permissive_gateway", REFUSE),
        ("research", "pseudonymised", "not_confidential", PASS),
        ("research", "identifiable", "explicit_consent", PASS),
        ("research", "identifiable", "s251_support", PASS),
        ("service_planning", "identifiable", "legal_requirement", PASS),
        ("public_health", "identifiable", "not_confidential", PASS),
    ],
)
def test_cp2_identifiable_secondary_use(purpose: str, form: str, confidentiality: str, expected: FindingResult) -> None:
    changes = {
        "purpose.category": purpose,
        "data_items": [item("demographics", "anonymised"), item("diagnoses", form)],
        "legal_basis.confidentiality": confidentiality,
    }
    check(RuleId.CP2_IDENTIFIABLE_SECONDARY_USE, expected, changes)


# CP3


@pytest.mark.parametrize(
    ("purpose", "category", "expected"),
    [("direct_care", "full_record", REFER), ("court_order", "full_record", PASS), ("direct_care", "diagnoses", PASS)],
)
def test_cp3_full_record(purpose: str, category: str, expected: FindingResult) -> None:
    check(RuleId.CP3_FULL_RECORD, expected, {"purpose.category": purpose, "data_items": [item(category)]})


@pytest.mark.parametrize(
    ("purpose", "items", "expected"),
    [
        ("crime_prevention", [item("demographics"), item("diagnoses")], REFER),
        ("crime_prevention", [item("demographics"), item("contact_details")], PASS),
        ("crime_prevention", [item("mental_health", "anonymised")], REFER),
        ("service_planning", [item("contact_details", "pseudonymised")], REFER),
        ("safeguarding_child", [item("sexual_health")], REFER),
        ("safeguarding_child", [item("social_care_record")], PASS),
        ("public_health", [item("test_results")], PASS),
        ("direct_care", [item("genetic")], PASS),
        ("other", [item("diagnoses")], PASS),
        ("crime_prevention", [item("full_record")], PASS),
    ],
)
def test_cp3_category_scope(purpose: str, items: list[dict[str, str]], expected: FindingResult) -> None:
    check(RuleId.CP3_CATEGORY_SCOPE, expected, {"purpose.category": purpose, "data_items": items})


@pytest.mark.parametrize(
    ("count", "form", "purpose", "expected"),
    [
        (101, "identifiable", "direct_care", REFER),
        (100, "identifiable", "direct_care", PASS),
        (101, "pseudonymised", "direct_care", PASS),
        (101, "identifiable", "safeguarding_child", REFER),
        (101, "identifiable", "safeguarding_adult", REFER),
        (101, "identifiable", "crime_prevention", REFER),
        (101, "identifiable", "regulatory", REFER),
        (101, "identifiable", "public_health", PASS),
        (101, "identifiable", "court_order", PASS),
    ],
)
def test_cp3_bulk_identifiable(count: int, form: str, purpose: str, expected: FindingResult) -> None:
    changes = {"subjects.count": count, "purpose.category": purpose, "data_items": [item("demographics", form)]}
    check(RuleId.CP3_BULK_IDENTIFIABLE, expected, changes)


# CP4


@pytest.mark.parametrize(("onward", "expected"), [(True, REFER), (False, PASS)])
def test_cp4_onward_sharing(onward: bool, expected: FindingResult) -> None:
    check(RuleId.CP4_ONWARD_SHARING, expected, {"recipient.onward_sharing": onward})


@pytest.mark.parametrize(
    ("roles", "expected"),
    [([], CONDITION), ([""], CONDITION), (["  ", "\t"], CONDITION), (["", "ward nurse"], PASS), (["x"], PASS)],
)
def test_cp4_named_access_blank_roles_count_as_none(roles: list[str], expected: FindingResult) -> None:
    check(RuleId.CP4_NAMED_ACCESS, expected, {"recipient.access_roles": roles})


# CP5


@pytest.mark.parametrize(("trained", "expected"), [(False, CONDITION), (True, PASS)])
def test_cp5_staff_trained(trained: bool, expected: FindingResult) -> None:
    check(RuleId.CP5_STAFF_TRAINED, expected, {"recipient.staff_trained": trained})


@pytest.mark.parametrize(
    ("requester_type", "dspt_status", "expected"),
    [
        (OrganisationType.NHS_TRUST, DsptStatus.NOT_MET, REFER),
        (OrganisationType.CHARITY, DsptStatus.NOT_MET, REFER),
        (OrganisationType.NHS_TRUST, DsptStatus.APPROACHING_STANDARDS, CONDITION),
        (OrganisationType.RESEARCH, DsptStatus.NOT_PUBLISHED, CONDITION),
        (OrganisationType.NHS_TRUST, DsptStatus.STANDARDS_MET, PASS),
        (OrganisationType.LOCAL_AUTHORITY, DsptStatus.STANDARDS_EXCEEDED, PASS),
        (OrganisationType.POLICE, DsptStatus.NOT_MET, PASS),
        (OrganisationType.SCHOOL, DsptStatus.NOT_PUBLISHED, PASS),
        (OrganisationType.REGULATOR, DsptStatus.APPROACHING_STANDARDS, PASS),
    ],
)
def test_cp5_dspt(requester_type: OrganisationType, dspt_status: DsptStatus, expected: FindingResult) -> None:
    check(RuleId.CP5_DSPT, expected, {}, requester_type=requester_type, dspt_status=dspt_status)


# CP6


@pytest.mark.parametrize(
    ("items", "article_9", "deceased", "expected"),
    [
        ([item("demographics"), item("diagnoses")], None, False, REFUSE),
        ([item("diagnoses", "pseudonymised")], None, False, REFUSE),
        ([item("demographics"), item("contact_details")], None, False, PASS),
        ([item("demographics"), item("diagnoses", "anonymised")], None, False, PASS),
        ([item("demographics"), item("diagnoses")], None, True, PASS),
        ([item("demographics"), item("diagnoses")], "health_social_care", False, PASS),
    ],
)
def test_cp6_article9_condition(
    items: list[dict[str, str]], article_9: str | None, deceased: bool, expected: FindingResult
) -> None:
    changes = {"data_items": items, "legal_basis.article_9": article_9, "subjects.deceased": deceased}
    check(RuleId.CP6_ARTICLE9_CONDITION, expected, changes)


@pytest.mark.parametrize(
    ("article_6", "article_9", "capacity", "expected"),
    [
        ("public_task", "vital_interests", "has_capacity", REFUSE),
        ("public_task", "vital_interests", "lacks_capacity", PASS),
        ("public_task", "vital_interests", "not_assessed", PASS),
        ("vital_interests", "health_social_care", "has_capacity", PASS),
    ],
)
def test_cp6_vital_interests_capacity(article_6: str, article_9: str, capacity: str, expected: FindingResult) -> None:
    changes = {"legal_basis.article_6": article_6, "legal_basis.article_9": article_9, "consent.capacity": capacity}
    check(RuleId.CP6_VITAL_INTERESTS_CAPACITY, expected, changes)


@pytest.mark.parametrize(
    ("requester_type", "article_6", "expected"),
    [
        *[
            (kind, "legitimate_interests", REFUSE)
            for kind in (
                OrganisationType.NHS_TRUST,
                OrganisationType.GP_PRACTICE,
                OrganisationType.LOCAL_AUTHORITY,
                OrganisationType.POLICE,
                OrganisationType.SCHOOL,
                OrganisationType.REGULATOR,
            )
        ],
        *[
            (kind, "legitimate_interests", PASS)
            for kind in (
                OrganisationType.CHARITY,
                OrganisationType.RESEARCH,
                OrganisationType.OTHER,
            )
        ],
        (OrganisationType.NHS_TRUST, "public_task", PASS),
    ],
)
def test_cp6_public_authority_li(requester_type: OrganisationType, article_6: str, expected: FindingResult) -> None:
    check(RuleId.CP6_PUBLIC_AUTHORITY_LI, expected, {"legal_basis.article_6": article_6}, requester_type=requester_type)


@pytest.mark.parametrize(
    ("basis", "status", "expected"),
    [
        ({"legal_basis.article_6": "consent"}, "not_sought", REFUSE),
        ({"legal_basis.article_9": "explicit_consent"}, "refused", REFUSE),
        ({"legal_basis.confidentiality": "explicit_consent"}, "withdrawn", REFUSE),
        ({"legal_basis.confidentiality": "explicit_consent"}, "not_possible", REFUSE),
        ({"legal_basis.article_6": "consent"}, "given", PASS),
        ({"legal_basis.article_9": "explicit_consent"}, "given", PASS),
        ({"legal_basis.confidentiality": "explicit_consent"}, "given", PASS),
        ({}, "not_sought", PASS),
    ],
)
def test_cp6_consent_basis_valid(basis: dict[str, str], status: str, expected: FindingResult) -> None:
    check(RuleId.CP6_CONSENT_BASIS_VALID, expected, basis | {"consent.status": status})


@pytest.mark.parametrize(
    ("confidentiality", "purpose", "expected"),
    [
        ("implied_consent", "public_health", REFUSE),
        ("implied_consent", "safeguarding_adult", REFUSE),
        ("implied_consent", "direct_care", PASS),
        ("not_confidential", "public_health", PASS),
    ],
)
def test_cp6_implied_consent_scope(confidentiality: str, purpose: str, expected: FindingResult) -> None:
    check(
        RuleId.CP6_IMPLIED_CONSENT_SCOPE,
        expected,
        {"legal_basis.confidentiality": confidentiality, "purpose.category": purpose},
    )


@pytest.mark.parametrize(
    ("confidentiality", "purpose", "reference", "expected"),
    [
        ("s251_support", "direct_care", None, REFUSE),
        ("legal_requirement", "direct_care", "", REFUSE),
        ("permissive_gateway", "direct_care", "   ", REFUSE),
        ("not_confidential", "court_order", None, REFUSE),
        ("s251_support", "direct_care", "26/CAG/0001", PASS),
        ("permissive_gateway", "direct_care", "Crime and Disorder Act 1998 s.115", PASS),
        ("not_confidential", "court_order", "Order T2026", PASS),
        ("overriding_public_interest", "direct_care", None, PASS),
        ("explicit_consent", "direct_care", "", PASS),
    ],
)
def test_cp6_reference_required(
    confidentiality: str, purpose: str, reference: str | None, expected: FindingResult
) -> None:
    changes = {
        "legal_basis.confidentiality": confidentiality,
        "purpose.category": purpose,
        "legal_basis.reference": reference,
    }
    check(RuleId.CP6_REFERENCE_REQUIRED, expected, changes)


@pytest.mark.parametrize(
    ("region", "expected"), [("other", REFUSE), ("uk", PASS), ("adequate_country", PASS), ("safeguarded", PASS)]
)
def test_cp6_international_transfer(region: str, expected: FindingResult) -> None:
    check(RuleId.CP6_INTERNATIONAL_TRANSFER, expected, {"recipient.storage_region": region})


@pytest.mark.parametrize(
    ("purpose", "form", "confidentiality", "opt_out_applied", "expected"),
    [
        ("research", "pseudonymised", "s251_support", False, CONDITION),
        ("service_planning", "identifiable", "not_confidential", False, CONDITION),
        ("research", "pseudonymised", "permissive_gateway", False, CONDITION),
        ("research", "pseudonymised", "s251_support", True, PASS),
        ("research", "anonymised", "s251_support", False, PASS),
        ("research", "pseudonymised", "explicit_consent", False, PASS),
        ("research", "pseudonymised", "legal_requirement", False, PASS),
        ("research", "pseudonymised", "overriding_public_interest", False, PASS),
        ("public_health", "pseudonymised", "s251_support", False, PASS),
    ],
)
def test_cp6_national_data_opt_out(
    purpose: str, form: str, confidentiality: str, opt_out_applied: bool, expected: FindingResult
) -> None:
    changes = {
        "purpose.category": purpose,
        "data_items": [item("demographics", form)],
        "legal_basis.confidentiality": confidentiality,
        "national_data_opt_out_applied": opt_out_applied,
    }
    check(RuleId.CP6_NATIONAL_DATA_OPT_OUT, expected, changes)


# CP8


@pytest.mark.parametrize(
    ("informed", "notice_covers", "purpose", "expected"),
    [
        ("no", False, "direct_care", CONDITION),
        ("no", True, "direct_care", PASS),
        ("will_inform", False, "direct_care", PASS),
        ("yes", False, "direct_care", PASS),
        ("would_prejudice_purpose", True, "direct_care", REFER),
        ("would_prejudice_purpose", False, "research", REFER),
        ("would_prejudice_purpose", False, "safeguarding_child", PASS),
        ("would_prejudice_purpose", False, "safeguarding_adult", PASS),
        ("would_prejudice_purpose", False, "crime_prevention", PASS),
        ("would_prejudice_purpose", False, "court_order", PASS),
    ],
)
def test_cp8_transparency(informed: str, notice_covers: bool, purpose: str, expected: FindingResult) -> None:
    changes = {
        "transparency.subject_informed": informed,
        "transparency.privacy_notice_covers_use": notice_covers,
        "purpose.category": purpose,
    }
    check(RuleId.CP8_TRANSPARENCY, expected, changes)


# CONSENT

PARENT_REFUSES = {"consent.status": "refused", "consent.given_by": "parent"}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"consent.status": "refused"}, REFUSE),
        ({"consent.status": "withdrawn"}, REFUSE),
        ({"consent.status": "refused", "consent.capacity": "not_assessed"}, REFUSE),
        ({"consent.status": "refused", "legal_basis.confidentiality": "overriding_public_interest"}, REFER),
        ({"consent.status": "withdrawn", "legal_basis.confidentiality": "permissive_gateway"}, REFER),
        ({"consent.status": "refused", "consent.capacity": "lacks_capacity"}, PASS),
        (PARENT_REFUSES | {"purpose.category": "safeguarding_child"}, PASS),
        (PARENT_REFUSES | {"purpose.category": "safeguarding_adult"}, REFUSE),
        (PARENT_REFUSES | {"purpose.category": "direct_care"}, REFUSE),
        ({"consent.status": "refused", "purpose.category": "safeguarding_child"}, REFUSE),
        ({"consent.status": "refused", "legal_basis.confidentiality": "legal_requirement"}, PASS),
        ({"consent.status": "refused", "purpose.category": "court_order"}, PASS),
        ({"consent.status": "not_sought"}, PASS),
        ({"consent.status": "not_possible"}, PASS),
        ({"consent.status": "given"}, PASS),
    ],
)
def test_consent_refusal(changes: dict[str, str], expected: FindingResult) -> None:
    check(RuleId.CONSENT_REFUSAL, expected, changes)


@pytest.mark.parametrize(
    ("status", "given_by", "capacity", "expected"),
    [
        ("given", "subject", "lacks_capacity", REFUSE),
        ("given", "attorney", "lacks_capacity", PASS),
        ("given", "deputy", "lacks_capacity", PASS),
        ("given", "subject", "not_assessed", PASS),
        ("refused", "subject", "lacks_capacity", PASS),
    ],
)
def test_consent_capacity_invalid(status: str, given_by: str, capacity: str, expected: FindingResult) -> None:
    changes = {"consent.status": status, "consent.given_by": given_by, "consent.capacity": capacity}
    check(RuleId.CONSENT_CAPACITY_INVALID, expected, changes)


@pytest.mark.parametrize(
    ("capacity", "purpose", "best_interests", "expected"),
    [
        ("lacks_capacity", "direct_care", False, REFER),
        ("lacks_capacity", "direct_care", True, PASS),
        ("lacks_capacity", "safeguarding_adult", False, PASS),
        ("not_assessed", "direct_care", False, PASS),
    ],
)
def test_consent_best_interests(capacity: str, purpose: str, best_interests: bool, expected: FindingResult) -> None:
    changes = {
        "consent.capacity": capacity,
        "purpose.category": purpose,
        "consent.best_interests_decision": best_interests,
    }
    check(RuleId.CONSENT_BEST_INTERESTS, expected, changes)


@pytest.mark.parametrize(
    ("age_group", "status", "given_by", "capacity", "expected"),
    [
        ("child", "given", "subject", "not_assessed", REFER),
        ("young_person", "given", "subject", "not_assessed", PASS),
        ("mixed", "given", "subject", "not_assessed", PASS),
        ("child", "given", "subject", "has_capacity", PASS),
        ("child", "given", "parent", "not_assessed", PASS),
        ("child", "not_sought", "subject", "not_assessed", PASS),
    ],
)
def test_consent_child_competence(
    age_group: str, status: str, given_by: str, capacity: str, expected: FindingResult
) -> None:
    changes = {
        "subjects.age_group": age_group,
        "consent.status": status,
        "consent.given_by": given_by,
        "consent.capacity": capacity,
    }
    check(RuleId.CONSENT_CHILD_COMPETENCE, expected, changes)


@pytest.mark.parametrize(
    ("confidentiality", "status", "capacity", "expected"),
    [
        ("overriding_public_interest", "not_sought", "has_capacity", REFER),
        ("permissive_gateway", "given", "has_capacity", REFER),
        ("overriding_public_interest", "refused", "lacks_capacity", REFER),
        ("overriding_public_interest", "refused", "has_capacity", PASS),
        ("permissive_gateway", "withdrawn", "has_capacity", PASS),
        ("legal_requirement", "not_sought", "has_capacity", PASS),
        ("implied_consent", "not_sought", "has_capacity", PASS),
    ],
)
def test_consent_public_interest(confidentiality: str, status: str, capacity: str, expected: FindingResult) -> None:
    changes = {
        "legal_basis.confidentiality": confidentiality,
        "consent.status": status,
        "consent.capacity": capacity,
    }
    check(RuleId.CONSENT_PUBLIC_INTEREST, expected, changes)


def test_consent_public_interest_is_not_asked_twice_after_a_refusal() -> None:
    changes = {"legal_basis.confidentiality": "overriding_public_interest", "consent.status": "refused"}
    evaluation = run(changed(changes))

    assert fired(evaluation) == {RuleId.CONSENT_REFUSAL: REFER}


# STAT


@pytest.mark.parametrize(
    ("items", "changes", "expected"),
    [
        ([item("sexual_health")], {}, REFER),
        ([item("fertility_treatment", "pseudonymised")], {}, REFER),
        ([item("demographics"), item("gender_history")], {}, REFER),
        ([item("gender_history", "anonymised")], {}, PASS),
        ([item("genetic")], {}, PASS),
        ([item("sexual_health")], {"purpose.category": "court_order"}, PASS),
        ([item("sexual_health")], {"consent.status": "given", "legal_basis.confidentiality": "explicit_consent"}, PASS),
        ([item("sexual_health")], {"consent.status": "given"}, REFER),
        ([item("sexual_health")], {"legal_basis.confidentiality": "explicit_consent"}, REFER),
    ],
)
def test_stat_restricted_category(
    items: list[dict[str, str]], changes: dict[str, str], expected: FindingResult
) -> None:
    check(RuleId.STAT_RESTRICTED_CATEGORY, expected, {"data_items": items} | changes)


# PROP


@pytest.mark.parametrize(
    ("purpose", "days", "expected"),
    [
        ("research", 2556, CONDITION),
        ("research", 2555, PASS),
        ("direct_care", 2556, PASS),
        ("regulatory", 36500, CONDITION),
    ],
)
def test_prop_retention(purpose: str, days: int, expected: FindingResult) -> None:
    check(RuleId.PROP_RETENTION, expected, {"purpose.category": purpose, "recipient.retention_days": days})


def test_prop_retention_condition_names_the_threshold() -> None:
    evaluation = run(changed({"purpose.category": "research", "recipient.retention_days": 3000}))

    assert "2555 days" in next(f.reason for f in evaluation.findings if f.rule == RuleId.PROP_RETENTION)


# DEC


@pytest.mark.parametrize(
    ("deceased", "purpose", "expected"),
    [
        (True, "direct_care", REFER),
        (True, "safeguarding_adult", REFER),
        (True, "court_order", PASS),
        (False, "direct_care", PASS),
    ],
)
def test_dec_deceased(deceased: bool, purpose: str, expected: FindingResult) -> None:
    check(RuleId.DEC_DECEASED, expected, {"subjects.deceased": deceased, "purpose.category": purpose})


# AGR


def test_agr_unregistered_code_refers_and_other_agreement_rules_pass() -> None:
    evaluation = run(changed({"sharing_agreement": "ISA-NOT-REGISTERED", "subjects.count": 5}))

    assert result(evaluation, RuleId.AGR_REGISTERED) == REFER
    for rule_id in (RuleId.AGR_IN_FORCE, RuleId.AGR_PARTY, RuleId.AGR_SCOPE, RuleId.AGR_SYSTEMATIC):
        assert result(evaluation, rule_id) == PASS


def test_agr_registered_agreement_passes_every_agreement_rule() -> None:
    evaluation = run(changed({"sharing_agreement": AGREEMENT_CODE, "subjects.count": 5}), agreement_facts=agreement())

    assert evaluation.outcome == Outcome.APPROVE
    assert fired(evaluation) == {}


def test_agr_rules_pass_without_an_agreement() -> None:
    evaluation = run()

    for rule_id in (RuleId.AGR_REGISTERED, RuleId.AGR_IN_FORCE, RuleId.AGR_PARTY, RuleId.AGR_SCOPE):
        assert result(evaluation, rule_id) == PASS


def test_agreement_that_is_not_the_cited_one_is_refused() -> None:
    with pytest.raises(ValueError, match="not the one the request cites"):
        run(changed({"sharing_agreement": "ISA-OTHER"}), agreement_facts=agreement())


@pytest.mark.parametrize(
    ("overrides", "purpose", "expected"),
    [
        ({"valid_until": TODAY}, "direct_care", PASS),
        ({"valid_from": TODAY}, "safeguarding_adult", PASS),
        ({"valid_until": TODAY - timedelta(days=1)}, "safeguarding_adult", REFER),
        ({"valid_until": TODAY - timedelta(days=1)}, "direct_care", CONDITION),
        ({"valid_from": TODAY + timedelta(days=1)}, "safeguarding_adult", REFER),
        ({"valid_from": TODAY + timedelta(days=1)}, "direct_care", CONDITION),
        ({"status": AgreementStatus.SUSPENDED}, "safeguarding_adult", REFER),
        ({"status": AgreementStatus.SUSPENDED}, "direct_care", CONDITION),
    ],
)
def test_agr_in_force_dates_inclusive(overrides: dict[str, Any], purpose: str, expected: FindingResult) -> None:
    changes = {"sharing_agreement": AGREEMENT_CODE, "purpose.category": purpose}
    check(RuleId.AGR_IN_FORCE, expected, changes, agreement_facts=agreement(**overrides))


@pytest.mark.parametrize(("parties", "expected"), [({"LA-TEST"}, REFER), ({"LA-TEST", "RXT01"}, PASS)])
def test_agr_party(parties: set[str], expected: FindingResult) -> None:
    check(
        RuleId.AGR_PARTY,
        expected,
        {"sharing_agreement": AGREEMENT_CODE},
        agreement_facts=agreement(parties=frozenset(parties)),
    )


@pytest.mark.parametrize(
    ("purpose", "items", "expected"),
    [
        ("direct_care", [item("demographics"), item("diagnoses")], PASS),
        ("safeguarding_adult", [item("demographics")], PASS),
        ("public_health", [item("demographics")], REFER),
        ("safeguarding_adult", [item("demographics"), item("medications")], REFER),
        ("safeguarding_adult", [item("medications", "anonymised")], REFER),
        ("direct_care", [item("medications")], CONDITION),
        ("direct_care", [item("medications", "anonymised")], CONDITION),
    ],
)
def test_agr_scope(purpose: str, items: list[dict[str, str]], expected: FindingResult) -> None:
    changes = {"sharing_agreement": AGREEMENT_CODE, "purpose.category": purpose, "data_items": items}
    check(RuleId.AGR_SCOPE, expected, changes, agreement_facts=agreement())


def test_agr_scope_condition_when_purpose_outside_for_direct_care() -> None:
    outside = agreement(purposes=frozenset({PurposeCategory.SAFEGUARDING_ADULT}))

    check(RuleId.AGR_SCOPE, CONDITION, {"sharing_agreement": AGREEMENT_CODE}, agreement_facts=outside)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"subjects.count": 2}, CONDITION),
        ({"subjects.count": 2, "data_items": [item("demographics", "pseudonymised")]}, CONDITION),
        ({"subjects.count": 1}, PASS),
        ({"subjects.count": 2, "purpose.category": "court_order"}, PASS),
        ({"subjects.count": 2, "data_items": [item("demographics", "anonymised")]}, PASS),
        ({"subjects.count": 2, "sharing_agreement": "ISA-NOT-REGISTERED"}, PASS),
    ],
)
def test_agr_systematic(changes: dict[str, Any], expected: FindingResult) -> None:
    check(RuleId.AGR_SYSTEMATIC, expected, changes)


def test_agr_systematic_passes_with_a_registered_agreement() -> None:
    changes = {"subjects.count": 2, "sharing_agreement": AGREEMENT_CODE}
    check(RuleId.AGR_SYSTEMATIC, PASS, changes, agreement_facts=agreement())


# Precise readings


def test_subject_identifiers_never_change_a_decision() -> None:
    bare = changed({"subjects.count": 3, "purpose.category": "research"})
    identified = changed({"subjects.identifiers": ["9990000018", "9990000026", "x"]}, bare)

    assert run(identified) == run(bare)
    assert run(changed({"subjects.identifiers": ["9990000018"]})) == run(baseline_request())
