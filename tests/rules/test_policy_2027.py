"""Policy 2027.1 as data (brief section 4a), and policies derived from it: validated as strictly as the shipped ones."""

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from app.models.vocabulary import FindingResult, Outcome, PurposeCategory
from app.rules import Policy, PolicyError, evaluate
from app.rules.engine import OPTIONAL_RULES, RULEBOOKS, Edition, RuleId
from app.rules.policy_documents import parse_policy, shipped_path, shipped_policies

from .baseline import (
    ARTICLE9_FIT_2027,
    NON_CARE,
    POLICY,
    POLICY_2027,
    PROVISIONS_2027,
    WAIVABLE_2027,
    changed,
    facts,
    item,
    result,
)

Document = dict[str, Any]
Problems = list[tuple[str, str]]
BASELINE = "uk-caldicott-baseline"

PASS = FindingResult.PASS
CONDITION = FindingResult.CONDITION
REFER = FindingResult.REFER


def document(version: str = "2027.1", *, derived: bool = True) -> Document:
    """The shipped baseline of `version` as data; by default turned into a policy derived from it."""
    content: Document = yaml.safe_load(shipped_path(version).read_text(encoding="utf-8"))
    if derived:
        content |= {
            "name": "org-tuned-baseline",
            "version": "1",
            "derived_from": {"name": BASELINE, "version": version},
        }
    return content


def parse(content: Document, *, shipped: bool = False) -> Policy:
    """Validate a policy document as an upload would be validated."""
    return parse_policy(
        yaml.safe_dump(content, sort_keys=False).encode(), source="test", shipped=shipped, media_type="application/yaml"
    )


def derived(change: Callable[[Document], None], version: str = "2027.1") -> Policy:
    """A policy derived from the baseline of `version`, with `change` applied."""
    content = document(version)
    change(content)
    return parse(content)


def problems(
    change: Callable[[Document], None], version: str = "2027.1", *, shipped: bool = False, derive: bool = True
) -> Problems:
    """The problems a changed copy of a baseline is refused with."""
    content = document(version, derived=derive)
    change(content)
    with pytest.raises(PolicyError) as refused:
        parse(content, shipped=shipped)
    assert all(path in str(refused.value) for path, _ in refused.value.problems)
    return refused.value.problems


# The shipped 2027.1 baseline


def test_2027_identity_edition_and_pinned_hash() -> None:
    assert (POLICY_2027.name, POLICY_2027.version) == (BASELINE, "2027.1")
    assert POLICY_2027.edition == Edition.V2027_1
    assert POLICY_2027.derived_from is None
    assert shipped_policies()[BASELINE, "2027.1"] == POLICY_2027
    assert shipped_policies()[BASELINE, "2026.1"] == POLICY


def test_2027_thresholds() -> None:
    assert POLICY_2027.thresholds.bulk_subjects == 100
    assert POLICY_2027.thresholds.retention_days == 2555
    assert POLICY_2027.thresholds.emergency_max_subjects == 10
    assert POLICY.thresholds.emergency_max_subjects is None


def test_2027_emergency() -> None:
    assert POLICY_2027.emergency is not None
    assert POLICY_2027.emergency.purposes == {
        PurposeCategory.DIRECT_CARE,
        PurposeCategory.SAFEGUARDING_CHILD,
        PurposeCategory.SAFEGUARDING_ADULT,
    }
    assert POLICY_2027.emergency.waivable == WAIVABLE_2027
    assert len(WAIVABLE_2027) == 10


def test_2027_requester_groups() -> None:
    groups = POLICY_2027.requester_groups

    assert groups is not None
    assert groups.non_care == NON_CARE
    assert groups.no_professional_secrecy == {"police", "school", "research"}
    assert groups.unpublished_toolkit_referred == {"research", "charity", "other"}


def test_2027_article9_purpose_fit_is_the_brief_table() -> None:
    fit = POLICY_2027.article9_purpose_fit

    assert fit is not None
    assert {purpose: (entry.pass_, entry.refer) for purpose, entry in fit.items()} == ARTICLE9_FIT_2027
    assert set(fit) == set(PurposeCategory)


def _normal(title: str) -> str:
    return title.replace("`", "").casefold()


def test_2027_provisions_registry_is_the_brief_table() -> None:
    registry = POLICY_2027.provisions

    assert registry is not None
    assert [entry.code for entry in registry] == list(PROVISIONS_2027)
    for entry in registry:
        title, kind, requesters, categories = PROVISIONS_2027[entry.code]
        assert (entry.kind, entry.requesters, entry.categories) == (kind, requesters, categories), entry.code
        assert _normal(entry.title) == _normal(title), entry.code
        assert POLICY_2027.provision(entry.code) == entry
    assert POLICY_2027.provision("made_up_act_2031") is None
    assert POLICY.provision("court_order") is None


def test_2027_keeps_what_section_4_says() -> None:
    assert POLICY_2027.definitions == POLICY.definitions
    assert POLICY_2027.allowed_categories == POLICY.allowed_categories
    assert POLICY_2027.response_times == POLICY.response_times
    assert POLICY_2027.bank_holidays == POLICY.bank_holidays
    assert POLICY_2027.principle_titles == POLICY.principle_titles
    for rule_id, entry in POLICY.rules.items():
        assert POLICY_2027.rules[rule_id].principle == entry.principle, rule_id


def test_2027_rules_and_their_principles() -> None:
    # The baseline lists every rule of its edition but the optional ones, which a policy (2027.2) lists to run.
    assert set(POLICY_2027.rules) == set(RULEBOOKS[Edition.V2027_1]) - set(OPTIONAL_RULES)
    assert set(POLICY.rules) == set(RULEBOOKS[Edition.V2026_1])
    principles = {
        "CP1.direct_care_recipient": 1,
        "CP6.legal_requirement_verified": 6,
        "CP6.article9_purpose_fit": 6,
        "CP6.schedule1_paragraph": 6,
        "CP6.court_order_verified": 6,
        "CONSENT.proxy_authority": None,
    }
    for rule_id, principle in principles.items():
        assert POLICY_2027.rules[rule_id].principle == principle, rule_id


@pytest.mark.parametrize("policy", [POLICY_2027, shipped_policies()[BASELINE, "2027.2"]], ids=["2027.1", "2027.2"])
def test_2027_has_a_distinct_text_for_every_reason_variant(policy: Policy) -> None:
    for rule_id in policy.rule_ids:
        rule = RULEBOOKS[Edition.V2027_1][rule_id]
        assert policy.reason(rule_id, PASS).strip(), rule_id
        for outcome in {found.result for found in rule.yields}:
            variants = {found.variant for found in rule.yields if found.result == outcome}
            texts = {policy.reason(rule_id, outcome, variant) for variant in variants}
            assert len(texts) == len(variants), (rule_id, outcome)
            assert all(text.strip() for text in texts), (rule_id, outcome)


# Derived policies that are valid


def test_a_derived_policy_loads_on_the_2027_edition() -> None:
    policy = derived(lambda content: None)

    assert (policy.name, policy.version) == ("org-tuned-baseline", "1")
    assert policy.edition == Edition.V2027_1
    assert policy.derived_from is not None
    assert (policy.derived_from.name, policy.derived_from.version) == (BASELINE, "2027.1")
    assert policy.content_hash != POLICY_2027.content_hash
    assert policy.rule_ids == POLICY_2027.rule_ids


def test_a_derived_policy_may_be_json() -> None:
    content = json.dumps(document(), default=str).encode()

    policy = parse_policy(content, source="test", shipped=False, media_type="application/json")

    assert policy.edition == Edition.V2027_1
    assert policy.provisions == POLICY_2027.provisions


def emergency_for(count: int) -> dict[str, Any]:
    """An emergency direct-care request about `count` people whose only referral is waivable (CP8.transparency)."""
    return changed(
        {"urgency": "emergency", "transparency.subject_informed": "would_prejudice_purpose", "subjects.count": count}
    )


def test_a_tuned_emergency_max_subjects_changes_the_decision() -> None:
    def household_of_four(content: Document) -> None:
        content["thresholds"]["emergency_max_subjects"] = 4
        content["rules"]["CP7.emergency_share"]["reasons"]["pass"] = (
            "No emergency share for more than {emergency_max_subjects} people."
        )

    policy = derived(household_of_four)
    four, five = facts(emergency_for(4)), facts(emergency_for(5))

    assert result(evaluate(policy, four), RuleId.CP7_EMERGENCY_SHARE) == CONDITION
    assert evaluate(policy, four).review_required is True
    assert result(evaluate(policy, five), RuleId.CP7_EMERGENCY_SHARE) == PASS
    assert evaluate(policy, five).outcome == Outcome.REFER
    assert result(evaluate(POLICY_2027, five), RuleId.CP7_EMERGENCY_SHARE) == CONDITION
    assert policy.reason(RuleId.CP7_EMERGENCY_SHARE, PASS) == "No emergency share for more than 4 people."


def test_a_lower_bulk_threshold_brings_a_non_waivable_referral_into_an_emergency() -> None:
    def bulk_of_five(content: Document) -> None:
        content["thresholds"]["bulk_subjects"] = 5

    policy = derived(bulk_of_five)
    six = facts(changed({"urgency": "emergency", "subjects.count": 6}))

    assert result(evaluate(policy, six), RuleId.CP3_BULK_IDENTIFIABLE) == REFER
    assert result(evaluate(policy, six), RuleId.CP7_EMERGENCY_SHARE) == PASS
    assert evaluate(policy, six).outcome == Outcome.REFER
    assert evaluate(POLICY_2027, six).outcome == Outcome.APPROVE_WITH_CONDITIONS


def test_the_waivable_set_is_data() -> None:
    def nothing_waivable_but_agreements(content: Document) -> None:
        content["emergency"]["waivable"] = ["AGR.registered"]

    policy = derived(nothing_waivable_but_agreements)
    prejudice = facts(emergency_for(1))
    unregistered = facts(changed({"urgency": "emergency", "sharing_agreement": "ISA-NOT-REGISTERED"}))

    assert result(evaluate(policy, prejudice), RuleId.CP7_EMERGENCY_SHARE) == PASS
    assert result(evaluate(policy, unregistered), RuleId.CP7_EMERGENCY_SHARE) == CONDITION


def test_the_registry_is_data() -> None:
    def s47_for_everyone(content: Document) -> None:
        (entry,) = [entry for entry in content["provisions"] if entry["code"] == "children_act_1989_s47"]
        del entry["requesters"]

    policy = derived(s47_for_everyone)
    request = facts(
        changed(
            {
                "legal_basis.confidentiality": "legal_requirement",
                "legal_basis.reference": "s47",
                "legal_basis.provision": "children_act_1989_s47",
            }
        )
    )

    assert result(evaluate(POLICY_2027, request), RuleId.CP6_LEGAL_REQUIREMENT_VERIFIED) == REFER
    assert result(evaluate(policy, request), RuleId.CP6_LEGAL_REQUIREMENT_VERIFIED) == PASS


def test_the_article9_table_is_data() -> None:
    def public_health_fits_care(content: Document) -> None:
        content["article9_purpose_fit"]["direct_care"]["refer"].remove("public_health")
        content["article9_purpose_fit"]["direct_care"]["pass"].append("public_health")

    request = facts(changed({"legal_basis.article_9": "public_health", "data_items": [item("diagnoses")]}))

    assert result(evaluate(POLICY_2027, request), RuleId.CP6_ARTICLE9_PURPOSE_FIT) == REFER
    assert result(evaluate(derived(public_health_fits_care), request), RuleId.CP6_ARTICLE9_PURPOSE_FIT) == PASS


# Derived policies that are refused, each naming the path that is wrong


def _set(keys: tuple[str | int, ...], value: Any) -> Callable[[Document], None]:
    """A change setting the value at a path of keys (list indexes as ints)."""

    def change(content: Document) -> None:
        node: Any = content
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


def _delete(*keys: str) -> Callable[[Document], None]:
    def change(content: Document) -> None:
        node: Any = content
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return change


def _append(value: Any, *keys: str) -> Callable[[Document], None]:
    def change(content: Document) -> None:
        node: Any = content
        for key in keys:
            node = node[key]
        node.append(value)

    return change


def _copy_2027_parameter(name: str) -> Callable[[Document], None]:
    def change(content: Document) -> None:
        content[name] = document()[name]

    return change


def _add_rule(rule_id: str) -> Callable[[Document], None]:
    def change(content: Document) -> None:
        content["rules"][rule_id] = {"principle": 6, "reasons": {"pass": "Fine.", "refer": "Ask."}}

    return change


def _both_pass_and_refer(content: Document) -> None:
    content["article9_purpose_fit"]["direct_care"]["refer"].append("health_social_care")


def _duplicated_code(content: Document) -> None:
    content["provisions"][3]["code"] = "court_order"


def _missing_variant(content: Document) -> None:
    del content["rules"]["CP6.legal_requirement_verified"]["reasons"]["refer"]["on_belief"]


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (
            _set(("emergency", "waivable"), [*sorted(WAIVABLE_2027), "CP7.emergency_share"]),
            "emergency.waivable.CP7.emergency_share",
            "emergency can waive",
        ),
        (_both_pass_and_refer, "article9_purpose_fit.direct_care", "health_social_care is both in pass and in refer"),
        (_delete("article9_purpose_fit", "regulatory"), "article9_purpose_fit", "missing regulatory"),
        (
            _set(("article9_purpose_fit", "research", "refer"), ["public_health", "common_sense"]),
            "article9_purpose_fit.research.refer[1]",
            "common_sense",
        ),
        (_duplicated_code, "provisions[3].code", "court_order is in the registry twice"),
        (_set(("provisions", 3, "kind"), "obligation"), "provisions[3].kind", "obligation"),
        (_set(("provisions", 0, "code"), "Court Order"), "provisions[0].code", "Court Order"),
        (_set(("provisions", 0, "title"), "  "), "provisions[0].title", "blank"),
        (_set(("emergency", "max"), 3), "emergency.max", "Extra inputs"),
        (_set(("thresholds", "emergency_max_subjects"), 0), "thresholds.emergency_max_subjects", "greater than 0"),
        (_set(("thresholds", "emergency_max_subjects"), "10"), "thresholds.emergency_max_subjects", "integer"),
        (_delete("rules", "CP1.direct_care_recipient"), "rules", "missing CP1.direct_care_recipient"),
        (_delete("rules", "CONSENT.proxy_authority"), "rules", "missing CONSENT.proxy_authority"),
        (_add_rule("CP9.made_up"), "rules.CP9.made_up", "not a rule of edition 2027.1"),
        (_missing_variant, "rules.CP6.legal_requirement_verified.reasons.refer", "missing on_belief"),
        (
            _set(("rules", "CP6.legal_requirement_verified", "reasons", "refer"), "Ask a guardian."),
            "rules.CP6.legal_requirement_verified.reasons.refer",
            "several ways",
        ),
        (
            _set(("rules", "CP5.dspt", "reasons", "refer", "made_up"), "Ask."),
            "rules.CP5.dspt.reasons.refer.made_up",
            "unknown key",
        ),
        (
            _set(("rules", "CP4.onward_sharing", "reasons", "refer"), {"default": "Ask.", "other": "Ask."}),
            "rules.CP4.onward_sharing.reasons.refer.other",
            "unknown key",
        ),
        (
            _set(("rules", "CP5.dspt", "reasons", "condition", "direct_care"), "Within {retention_years}."),
            "rules.CP5.dspt.reasons.condition.direct_care",
            "bad placeholder",
        ),
        (
            _delete("rules", "CONSENT.proxy_authority", "reasons", "refuse"),
            "rules.CONSENT.proxy_authority.reasons",
            "missing refuse",
        ),
        (_set(("derived_from",), {"name": BASELINE, "version": "2025.1"}), "derived_from", "not a baseline edition"),
        (
            _set(("derived_from",), {"name": "nhs-england-baseline", "version": "2027.1"}),
            "derived_from",
            "not a baseline edition",
        ),
        (_delete("derived_from"), "derived_from", "names the baseline it tunes"),
        *[
            (_delete(name), name, "edition 2027.1 needs it")
            for name in ("provisions", "emergency", "requester_groups", "article9_purpose_fit")
        ],
        (
            _delete("thresholds", "emergency_max_subjects"),
            "thresholds.emergency_max_subjects",
            "edition 2027.1 needs it",
        ),
    ],
)
def test_an_invalid_derived_2027_policy_is_refused(change: Callable[[Document], None], path: str, message: str) -> None:
    found = problems(change)

    assert any(where == path and message in what for where, what in found), found


def test_an_unknown_rule_in_waivable_is_refused_naming_it() -> None:
    found = problems(_append("CP9.made_up", "emergency", "waivable"))

    # The path is the list position pydantic reports (not "emergency.waivable.CP9.made_up"); the message names the id.
    assert [(where, "CP9.made_up" in what) for where, what in found] == [("emergency.waivable[10]", True)]


def test_every_problem_is_reported_at_once() -> None:
    def many(content: Document) -> None:
        _duplicated_code(content)
        _both_pass_and_refer(content)
        _missing_variant(content)
        del content["rules"]["CP1.direct_care_recipient"]

    paths = [where for where, _ in problems(many)]

    assert set(paths) >= {
        "provisions[3].code",
        "article9_purpose_fit.direct_care",
        "rules.CP6.legal_requirement_verified.reasons.refer",
        "rules",
    }


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (_copy_2027_parameter("provisions"), "provisions", "edition 2026.1 has no rule that reads it"),
        (_copy_2027_parameter("requester_groups"), "requester_groups", "edition 2026.1 has no rule that reads it"),
        (
            _copy_2027_parameter("article9_purpose_fit"),
            "article9_purpose_fit",
            "edition 2026.1 has no rule that reads it",
        ),
        (_copy_2027_parameter("emergency"), "emergency", "edition 2026.1 has no rule that reads it"),
        (_copy_2027_parameter("emergency"), "emergency.waivable.CP6.schedule1_paragraph", "emergency can waive"),
        (
            _set(("thresholds", "emergency_max_subjects"), 10),
            "thresholds.emergency_max_subjects",
            "edition 2026.1 has no rule that reads it",
        ),
        (
            _add_rule("CP6.legal_requirement_verified"),
            "rules.CP6.legal_requirement_verified",
            "not a rule of edition 2026.1",
        ),
        (
            _set(("rules", "CP5.dspt", "reasons", "condition"), {"default": "Publish.", "direct_care": "Confirm."}),
            "rules.CP5.dspt.reasons.condition.direct_care",
            "unknown key",
        ),
    ],
)
def test_a_policy_derived_from_2026_takes_no_2027_parameter(
    change: Callable[[Document], None], path: str, message: str
) -> None:
    found = problems(change, "2026.1")

    assert any(where == path and message in what for where, what in found), found


def test_a_policy_derived_from_2026_loads_on_the_2026_edition() -> None:
    policy = derived(lambda content: None, "2026.1")

    assert policy.edition == Edition.V2026_1
    assert policy.provisions is None
    assert policy.rule_ids == POLICY.rule_ids


def test_a_shipped_baseline_derives_from_nothing() -> None:
    content = document(derived=False) | {"derived_from": {"name": BASELINE, "version": "2027.1"}}

    with pytest.raises(PolicyError) as refused:
        parse(content, shipped=True)

    assert ("derived_from", "a shipped baseline derives from nothing") in refused.value.problems
    assert parse(document(derived=False), shipped=True).edition == Edition.V2027_1


def test_an_upload_must_name_its_baseline_even_with_the_baseline_name() -> None:
    found = problems(lambda content: None, derive=False)

    assert [where for where, _ in found] == ["derived_from"]


def test_a_2026_reason_may_not_use_a_2027_threshold() -> None:
    found = problems(
        _set(("rules", "CP4.onward_sharing", "reasons", "refer"), "More than {emergency_max_subjects} people."),
        "2026.1",
    )

    assert [where for where, _ in found] == ["rules.CP4.onward_sharing.reasons.refer"]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (_append("STAT.restricted_category", "emergency", "waivable"), "emergency.waivable.STAT.restricted_category"),
        (_append("CP4.onward_sharing", "emergency", "waivable"), "emergency.waivable.CP4.onward_sharing"),
        (_append("crime_prevention", "emergency", "purposes"), "emergency.purposes.crime_prevention"),
    ],
)
def test_a_derived_policy_may_not_widen_what_an_emergency_goes_ahead_past(
    change: Callable[[Document], None], path: str
) -> None:
    assert path in [where for where, _ in problems(change)]
