"""The policy is data: loaded strictly from YAML, and a change there changes decisions."""

from collections.abc import Callable
from datetime import date
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.models.vocabulary import FindingResult, PurposeCategory, Urgency
from app.rules import Policy, PolicyError, evaluate, load_policy
from app.rules.engine import RuleId
from app.rules.policy import ResponseUnit
from app.rules.policy_documents import DEFAULT_POLICY_PATH, shipped_path

from .baseline import POLICY, changed, facts, item, result

Document = dict[str, Any]
BASELINE_2026 = shipped_path("2026.1")


def write_policy(tmp_path: Path, change: Callable[[Document], None]) -> Path:
    """A copy of the 2026.1 baseline with `change` applied, written to a temporary file."""
    document = yaml.safe_load(BASELINE_2026.read_text(encoding="utf-8"))
    change(document)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def test_packaged_policy_identity_and_hash() -> None:
    policy = load_policy(BASELINE_2026)

    assert policy.name == "uk-caldicott-baseline"
    assert policy.version == "2026.1"
    assert policy.content_hash == sha256(BASELINE_2026.read_bytes()).hexdigest()
    assert policy == POLICY


def test_the_default_is_the_newest_baseline() -> None:
    assert load_policy().version == "2028.1"
    assert load_policy().content_hash == sha256(DEFAULT_POLICY_PATH.read_bytes()).hexdigest()


def test_packaged_policy_data() -> None:
    assert POLICY.thresholds.bulk_subjects == 100
    assert POLICY.thresholds.retention_days == 2555
    assert list(POLICY.rules) == [
        "CP1.purpose_recognised",
        "CP2.identifiable_secondary_use",
        "CP3.full_record",
        "CP3.category_scope",
        "CP3.bulk_identifiable",
        "CP4.onward_sharing",
        "CP4.named_access",
        "CP5.staff_trained",
        "CP5.dspt",
        "CP6.article9_condition",
        "CP6.vital_interests_capacity",
        "CP6.public_authority_li",
        "CP6.consent_basis_valid",
        "CP6.implied_consent_scope",
        "CP6.reference_required",
        "CP6.international_transfer",
        "CP6.national_data_opt_out",
        "CP7.emergency_share",
        "CP8.transparency",
        "CONSENT.refusal",
        "CONSENT.capacity_invalid",
        "CONSENT.best_interests",
        "CONSENT.child_competence",
        "CONSENT.public_interest",
        "STAT.restricted_category",
        "PROP.retention",
        "DEC.deceased",
        "AGR.registered",
        "AGR.in_force",
        "AGR.party",
        "AGR.scope",
        "AGR.systematic",
    ]
    assert POLICY.rules["PROP.retention"].principle == 3
    assert POLICY.rules["STAT.restricted_category"].principle == 6
    assert POLICY.rules["AGR.scope"].principle is None
    assert set(POLICY.principle_titles) == set(range(1, 9))
    assert POLICY.allowed_categories[PurposeCategory.OTHER] == frozenset()
    assert all(FindingResult.PASS in rule.reasons for rule in POLICY.rules.values())


def test_guardian_review_data() -> None:
    assert POLICY.response_times[Urgency.EMERGENCY].amount == 1
    assert POLICY.response_times[Urgency.EMERGENCY].unit == ResponseUnit.HOURS
    assert POLICY.response_times[Urgency.URGENT].unit == ResponseUnit.WORKING_DAYS
    assert POLICY.response_times[Urgency.ROUTINE].amount == 5
    assert POLICY.claim_lease_minutes > 0
    assert date(2026, 12, 28) in POLICY.bank_holidays
    assert date(2026, 12, 26) not in POLICY.bank_holidays
    assert {day.year for day in POLICY.bank_holidays} == {2025, 2026, 2027, 2028}


def test_bulk_threshold_is_data(tmp_path: Path) -> None:
    def lower(document: Document) -> None:
        document["thresholds"]["bulk_subjects"] = 10

    policy = load_policy(write_policy(tmp_path, lower))
    eleven = facts(changed({"subjects.count": 11, "sharing_agreement": None}))
    ten = facts(changed({"subjects.count": 10}))

    assert result(evaluate(policy, eleven), RuleId.CP3_BULK_IDENTIFIABLE) == FindingResult.REFER
    assert result(evaluate(policy, ten), RuleId.CP3_BULK_IDENTIFIABLE) == FindingResult.PASS
    assert result(evaluate(POLICY, eleven), RuleId.CP3_BULK_IDENTIFIABLE) == FindingResult.PASS
    assert policy.content_hash != POLICY.content_hash


def test_retention_threshold_and_its_reason_are_data(tmp_path: Path) -> None:
    def shorten(document: Document) -> None:
        document["thresholds"]["retention_days"] = 365

    policy = load_policy(write_policy(tmp_path, shorten))
    evaluation = evaluate(policy, facts(changed({"purpose.category": "research", "recipient.retention_days": 366})))

    assert result(evaluation, RuleId.PROP_RETENTION) == FindingResult.CONDITION
    assert "365 days" in next(f.reason for f in evaluation.findings if f.rule == RuleId.PROP_RETENTION)


def test_matrix_is_data(tmp_path: Path) -> None:
    def widen(document: Document) -> None:
        document["allowed_categories"]["crime_prevention"].append("diagnoses")

    request = facts(changed({"purpose.category": "crime_prevention", "data_items": [item("diagnoses")]}))

    assert result(evaluate(POLICY, request), RuleId.CP3_CATEGORY_SCOPE) == FindingResult.REFER
    widened = load_policy(write_policy(tmp_path, widen))
    assert result(evaluate(widened, request), RuleId.CP3_CATEGORY_SCOPE) == FindingResult.PASS


def test_findings_follow_the_file_order(tmp_path: Path) -> None:
    def reverse(document: Document) -> None:
        document["rules"] = dict(reversed(document["rules"].items()))

    policy = load_policy(write_policy(tmp_path, reverse))

    assert [finding.rule for finding in evaluate(policy, facts()).findings] == list(reversed(POLICY.rules))


def _add_rule(document: Document) -> None:
    document["rules"]["CP9.made_up"] = {"principle": 1, "reasons": {"pass": "Fine.", "refer": "Ask."}}


def _drop_rule(document: Document) -> None:
    del document["rules"]["AGR.systematic"]


def _drop_purpose(document: Document) -> None:
    del document["allowed_categories"]["regulatory"]


def _bad_category(document: Document) -> None:
    document["definitions"]["restricted"].append("tattoos")


def _unknown_key(document: Document) -> None:
    document["thresholds"]["bulk_subject"] = 5


def _unknown_top_level_key(document: Document) -> None:
    document["owner"] = "someone"


def _missing_pass_reason(document: Document) -> None:
    del document["rules"]["CP4.onward_sharing"]["reasons"]["pass"]


def _reason_for_impossible_result(document: Document) -> None:
    document["rules"]["CP4.onward_sharing"]["reasons"]["refuse"] = "Never."


def _blank_reason(document: Document) -> None:
    document["rules"]["CP4.onward_sharing"]["reasons"]["refer"] = "   "


def _unknown_placeholder(document: Document) -> None:
    document["rules"]["PROP.retention"]["reasons"]["condition"] = "Keep for {retention_years} years."


def _principle_out_of_range(document: Document) -> None:
    document["rules"]["CP1.purpose_recognised"]["principle"] = 9


def _no_area_title(document: Document) -> None:
    del document["area_titles"]["AGR"]


def _missing_principle_title(document: Document) -> None:
    del document["principle_titles"][8]


def _threshold_as_text(document: Document) -> None:
    document["thresholds"]["bulk_subjects"] = "100"


def _version_as_number(document: Document) -> None:
    document["version"] = 2026.1


def _missing_urgency(document: Document) -> None:
    del document["response_times"]["urgent"]


def _unsorted_holidays(document: Document) -> None:
    document["bank_holidays"].reverse()


def _duplicated_category(document: Document) -> None:
    document["allowed_categories"]["crime_prevention"].append("demographics")


def _written_hash(document: Document) -> None:
    document["content_hash"] = "0" * 64


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_add_rule, r"rules.CP9.made_up: not a rule of edition 2026.1"),
        (_drop_rule, r"rules: missing AGR.systematic"),
        (_drop_purpose, "regulatory"),
        (_bad_category, "tattoos"),
        (_unknown_key, "bulk_subject"),
        (_unknown_top_level_key, "owner"),
        (_missing_pass_reason, r"reasons: missing pass"),
        (_reason_for_impossible_result, "refuse"),
        (_blank_reason, "blank"),
        (_unknown_placeholder, "retention_years"),
        (_principle_out_of_range, "principle"),
        (_no_area_title, "AGR"),
        (_missing_principle_title, "principle_titles"),
        (_threshold_as_text, "bulk_subjects"),
        (_version_as_number, "version"),
        (_missing_urgency, "urgent"),
        (_unsorted_holidays, "bank_holidays"),
        (_duplicated_category, "twice"),
        (_written_hash, "content_hash"),
    ],
)
def test_invalid_policy_is_refused(tmp_path: Path, change: Callable[[Document], None], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        load_policy(write_policy(tmp_path, change))


def test_duplicate_key_is_refused(tmp_path: Path) -> None:
    text = BASELINE_2026.read_text(encoding="utf-8")
    path = tmp_path / "policy.yaml"
    path.write_text(text.replace("thresholds:\n", "thresholds:\n  bulk_subjects: 5\n", 1), encoding="utf-8")

    with pytest.raises(PolicyError, match="duplicate key 'bulk_subjects'"):
        load_policy(path)


@pytest.mark.parametrize("content", ["", "- a list\n", "name: [unclosed\n"])
def test_unusable_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(PolicyError):
        load_policy(path)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "absent.yaml")


def test_policy_error_is_a_value_error() -> None:
    assert issubclass(PolicyError, ValueError)
    assert isinstance(POLICY, Policy)
