"""The shipped 2028.1 and 2028.2 as data, compared with the tables of brief sections 4b and 7,
and parameters a derived policy tunes."""

from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
import yaml

from app.models.vocabulary import AttachmentKind, DataCategory, FindingResult, PurposeCategory
from app.rules import Policy
from app.rules.engine import RULEBOOKS, Edition, Found, RuleId
from app.rules.policy_documents import parse_policy, shipped_path

from .baseline import POLICY_2027, PROVISIONS_2027, changed, finding, item
from .baseline_2028 import (
    BASELINE,
    CONDITION,
    COURT_LABEL,
    COURT_VERIFIED,
    CRIMINAL_OFFENCE_ALLOWED,
    GATEWAY,
    IMPLAUSIBLE,
    NON_CARE_2028,
    PASS,
    POLICY_2028,
    POLICY_2028_2,
    PROVISION_LIMITS_2028,
    REFER,
    THIRD_PARTY_CONSENT,
    WAIVABLE_2028,
    WAIVABLE_VARIANTS_2028,
    check28,
    run28,
)


def test_2028_identity_and_thresholds() -> None:
    assert (POLICY_2028.version, POLICY_2028.edition, POLICY_2028.derived_from) == ("2028.1", Edition.V2028_1, None)
    assert (POLICY_2028_2.edition, POLICY_2028_2.derived_from and POLICY_2028_2.derived_from.version) == (
        Edition.V2028_1,
        "2028.1",
    )
    thresholds = POLICY_2028.thresholds
    assert (
        thresholds.bulk_subjects,
        thresholds.retention_days,
        thresholds.emergency_max_subjects,
        thresholds.anonymised_min_subjects,
    ) == (100, 2555, 10, 10)


def test_2028_requester_groups_and_implausible_purposes_are_the_brief_tables() -> None:
    groups = POLICY_2028.requester_groups

    assert groups is not None
    assert groups.non_care == NON_CARE_2028
    assert groups.no_professional_secrecy == {"police", "school", "research"}
    assert groups.unpublished_toolkit_referred == {"research", "charity", "other"}
    assert groups.third_party_consent == THIRD_PARTY_CONSENT
    assert {
        kind: set(purposes) for kind, purposes in (POLICY_2028.implausible_purposes or {}).items() if purposes
    } == IMPLAUSIBLE


def test_2028_registry_is_2027s_with_the_brief_limits() -> None:
    registry = {entry.code: entry for entry in POLICY_2028.provisions or ()}

    assert set(registry) == set(PROVISIONS_2027) | {"medical_act_1983_s35a", "finance_act_2008_sch36"}
    for code, entry in registry.items():
        limits = (
            entry.kind,
            entry.requesters,
            entry.purposes,
            entry.categories,
            entry.max_subjects,
            entry.applies_after_death,
            entry.requirement_seen,
        )
        if code in PROVISION_LIMITS_2028:
            assert limits == PROVISION_LIMITS_2028[code], code
        else:
            _, kind, requesters, categories = PROVISIONS_2027[code]
            assert limits == (kind, requesters, set(), categories, None, False, False), code


def test_2028_matrix_allows_criminal_offence_data_for_four_purposes_only() -> None:
    for purpose in PurposeCategory:
        allowed = POLICY_2028.allowed_categories[purpose]
        assert allowed - {DataCategory.CRIMINAL_OFFENCE} == POLICY_2027.allowed_categories[purpose], purpose
        assert (DataCategory.CRIMINAL_OFFENCE in allowed) == (purpose in CRIMINAL_OFFENCE_ALLOWED), purpose
    assert POLICY_2028.definitions == POLICY_2027.definitions


def test_2028_emergency_waivers_are_the_brief_list() -> None:
    emergency = POLICY_2028.emergency

    assert emergency is not None
    assert emergency.purposes == {"direct_care", "safeguarding_child", "safeguarding_adult"}
    assert emergency.waivable == WAIVABLE_2028
    assert {
        rule: set(variants) for rule, variants in (emergency.waivable_variants or {}).items()
    } == WAIVABLE_VARIANTS_2028


@pytest.mark.parametrize("policy", [POLICY_2028, POLICY_2028_2], ids=["2028.1", "2028.2"])
def test_2028_has_a_distinct_text_for_every_reason_variant(policy: Policy) -> None:
    for rule_id in policy.rule_ids:
        rule = RULEBOOKS[Edition.V2028_1][rule_id]
        for outcome in {found.result for found in rule.yields}:
            variants = {found.variant for found in rule.yields if found.result == outcome}
            texts = {policy.reason(rule_id, outcome, variant) for variant in variants}
            assert len(texts) == len(variants), (rule_id, outcome)


def test_2028_2_is_2028_1_with_the_evidence_section_and_every_reason_beginning_with_2028_1s() -> None:
    new = yaml.safe_load(shipped_path("2028.2").read_bytes())
    old = yaml.safe_load(shipped_path("2028.1").read_bytes())

    assert set(new) - set(old) == {"derived_from", "evidence"}
    assert {key for key in old if old[key] != new[key]} == {"version", "rules"}
    assert set(POLICY_2028_2.rules) == set(POLICY_2028.rules) | {RuleId.CP6_POLICE_REQUEST_FORM}
    for rule_id in POLICY_2028.rule_ids:
        for found in RULEBOOKS[Edition.V2028_1][rule_id].yields | {Found(PASS)}:
            assert POLICY_2028_2.reason(rule_id, *found).startswith(POLICY_2028.reason(rule_id, *found)), rule_id


# 2028.2: a verified copy of the order clears the controller's check on a court-verified request only.


@pytest.mark.parametrize(
    ("changes", "evidence", "expected", "variant"),
    [
        (COURT_VERIFIED, {AttachmentKind.COURT_ORDER}, PASS, None),
        (COURT_VERIFIED, set(), CONDITION, None),
        (COURT_VERIFIED, {AttachmentKind.POLICE_REQUEST_FORM}, CONDITION, None),
        (COURT_LABEL, {AttachmentKind.COURT_ORDER}, REFER, "unverified"),
        (COURT_VERIFIED | {"purpose.category": "direct_care"}, {AttachmentKind.COURT_ORDER}, PASS, None),
    ],
)
def test_2028_2_court_order_seen(
    changes: dict[str, Any], evidence: set[AttachmentKind], expected: FindingResult, variant: str | None
) -> None:
    check28(
        RuleId.CP6_COURT_ORDER_VERIFIED,
        expected,
        changed(changes),
        variant,
        policy=POLICY_2028_2,
        evidence=frozenset(evidence),
    )


def test_2028_1_weighs_no_evidence() -> None:
    check28(RuleId.CP6_COURT_ORDER_VERIFIED, CONDITION, changed(COURT_VERIFIED), evidence=frozenset(AttachmentKind))


# Derived from 2028.1: the parameters these rules read, tuned within the limits the brief sets.


def derived(change: Callable[[dict[str, Any]], None]) -> Policy:
    """A policy derived from 2028.1 with `change` applied."""
    content: dict[str, Any] = yaml.safe_load(shipped_path("2028.1").read_text(encoding="utf-8"))
    content |= {"name": "org-tuned-baseline", "version": "1", "derived_from": {"name": BASELINE, "version": "2028.1"}}
    change(content)
    return parse_policy(
        yaml.safe_dump(content, sort_keys=False).encode(), source="test", shipped=False, media_type="application/yaml"
    )


def _raise_anonymised_min(content: dict[str, Any]) -> None:
    content["thresholds"]["anonymised_min_subjects"] = 20


def _narrow_s115(content: dict[str, Any]) -> None:
    (entry,) = [entry for entry in content["provisions"] if entry["code"] == "crime_and_disorder_act_1998_s115"]
    entry |= {"categories": ["demographics", "contact_details"], "max_subjects": 5}


@cache
def tuned(name: str) -> Policy:
    """One of the derived policies below, parsed once
    (a derived policy is validated against the baseline, which takes time)."""
    return derived({"anonymised_min_subjects": _raise_anonymised_min, "s115": _narrow_s115}[name])


@pytest.mark.parametrize(("count", "expected"), [(2, REFER), (10, REFER), (19, REFER), (20, PASS), (21, PASS)])
def test_a_raised_anonymised_min_subjects_refers_more(count: int, expected: FindingResult) -> None:
    policy = tuned("anonymised_min_subjects")
    request = changed({"subjects.count": count, "data_items": [item("diagnoses", "anonymised")]})

    check28(
        RuleId.CP6_SINGLE_SUBJECT_ANONYMISED,
        expected,
        request,
        "small_numbers" if expected == REFER else None,
        policy=policy,
    )
    assert "fewer than 20 people" in policy.reason(RuleId.CP6_SINGLE_SUBJECT_ANONYMISED, REFER, "small_numbers")


@pytest.mark.parametrize(
    ("items", "count", "expected"),
    [
        ([item("demographics"), item("contact_details")], 5, PASS),
        ([item("demographics")], 1, PASS),
        ([item("demographics"), item("diagnoses")], 1, CONDITION),
        ([item("demographics")], 6, CONDITION),
    ],
)
def test_a_power_narrowed_by_category_and_number_limits_the_gateway(
    items: list[dict[str, str]], count: int, expected: FindingResult
) -> None:
    policy = tuned("s115")
    request = changed(
        GATEWAY
        | {
            "legal_basis.provision": "crime_and_disorder_act_1998_s115",
            "purpose.category": "crime_prevention",
            "data_items": items,
            "subjects.count": count,
        }
    )

    check28(
        RuleId.CP6_GATEWAY_KIND,
        expected,
        request,
        "outside_power" if expected == CONDITION else None,
        policy=policy,
        requester="police",
    )
    assert finding(run28(request, requester="police"), RuleId.CP6_GATEWAY_KIND).result == PASS
