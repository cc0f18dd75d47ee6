"""How findings combine into an outcome, and the emergency rule of principle 7."""

from typing import Any

import pytest

from app.models.vocabulary import FindingResult, Outcome
from app.rules.engine import RuleId

from .baseline import POLICY, changed, fired, item, result, run

PASS = FindingResult.PASS
CONDITION = FindingResult.CONDITION
REFER = FindingResult.REFER
REFUSE = FindingResult.REFUSE

UNTRAINED = {"recipient.staff_trained": False}  # a condition
ONWARD = {"recipient.onward_sharing": True}  # a refer
ABROAD = {"recipient.storage_region": "other"}  # a refuse


def test_refuse_beats_refer_and_condition() -> None:
    evaluation = run(changed(ABROAD | ONWARD | UNTRAINED))

    assert fired(evaluation) == {
        RuleId.CP4_ONWARD_SHARING: REFER,
        RuleId.CP5_STAFF_TRAINED: CONDITION,
        RuleId.CP6_INTERNATIONAL_TRANSFER: REFUSE,
    }
    assert evaluation.outcome == Outcome.REFUSE
    assert evaluation.review_required is False


def test_refer_beats_condition() -> None:
    evaluation = run(changed(ONWARD | UNTRAINED))

    assert fired(evaluation) == {RuleId.CP4_ONWARD_SHARING: REFER, RuleId.CP5_STAFF_TRAINED: CONDITION}
    assert evaluation.outcome == Outcome.REFER
    assert evaluation.review_required is False


def test_conditions_alone_approve_with_the_condition_reasons_in_policy_order() -> None:
    evaluation = run(
        changed(
            UNTRAINED
            | {
                "recipient.access_roles": [" "],
                "transparency.subject_informed": "no",
                "transparency.privacy_notice_covers_use": False,
            }
        )
    )

    assert evaluation.outcome == Outcome.APPROVE_WITH_CONDITIONS
    assert evaluation.conditions == [
        POLICY.reason(RuleId.CP4_NAMED_ACCESS, CONDITION),
        POLICY.reason(RuleId.CP5_STAFF_TRAINED, CONDITION),
        POLICY.reason(RuleId.CP8_TRANSPARENCY, CONDITION),
    ]
    assert evaluation.conditions == [f.reason for f in evaluation.findings if f.result == CONDITION]
    assert evaluation.review_required is False


def test_every_finding_reason_matches_its_result() -> None:
    evaluation = run(changed(ONWARD | UNTRAINED))

    for finding in evaluation.findings:
        assert finding.reason == POLICY.reason(finding.rule, finding.result)


def emergency(changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """A direct-care emergency on vital interests whose only obstacle is a referral."""
    return changed({"urgency": "emergency", "legal_basis.article_6": "vital_interests", **ONWARD, **(changes or {})})


@pytest.mark.parametrize("purpose", ["direct_care", "safeguarding_child", "safeguarding_adult"])
def test_emergency_share_approves_with_retrospective_review(purpose: str) -> None:
    confidentiality = "implied_consent" if purpose == "direct_care" else "overriding_public_interest"
    evaluation = run(emergency({"purpose.category": purpose, "legal_basis.confidentiality": confidentiality}))

    assert result(evaluation, RuleId.CP7_EMERGENCY_SHARE) == CONDITION
    assert result(evaluation, RuleId.CP4_ONWARD_SHARING) == REFER
    assert evaluation.outcome == Outcome.APPROVE_WITH_CONDITIONS
    assert evaluation.review_required is True
    assert evaluation.conditions == [POLICY.reason(RuleId.CP7_EMERGENCY_SHARE, CONDITION)]
    assert "retrospective review by the Caldicott Guardian" in evaluation.conditions[0]


def test_emergency_share_keeps_the_other_conditions() -> None:
    evaluation = run(emergency(UNTRAINED))

    assert evaluation.outcome == Outcome.APPROVE_WITH_CONDITIONS
    assert evaluation.conditions == [
        POLICY.reason(RuleId.CP5_STAFF_TRAINED, CONDITION),
        POLICY.reason(RuleId.CP7_EMERGENCY_SHARE, CONDITION),
    ]


def test_emergency_share_on_article_9_vital_interests() -> None:
    evaluation = run(
        emergency(
            {
                "legal_basis.article_6": "public_task",
                "legal_basis.article_9": "vital_interests",
                "consent.capacity": "lacks_capacity",
            }
        )
    )

    assert fired(evaluation) == {
        RuleId.CP4_ONWARD_SHARING: REFER,
        RuleId.CONSENT_BEST_INTERESTS: REFER,
        RuleId.CP7_EMERGENCY_SHARE: CONDITION,
    }
    assert evaluation.outcome == Outcome.APPROVE_WITH_CONDITIONS
    assert evaluation.review_required is True


@pytest.mark.parametrize(
    ("changes", "outcome"),
    [
        (ABROAD, Outcome.REFUSE),
        ({"data_items": [item("demographics"), item("sexual_health")]}, Outcome.REFER),
        (
            {
                "purpose.category": "research",
                "data_items": [item("diagnoses", "pseudonymised")],
                "legal_basis.confidentiality": "explicit_consent",
                "consent.status": "given",
            },
            Outcome.REFER,
        ),
        (
            {
                "purpose.category": "public_health",
                "legal_basis.confidentiality": "legal_requirement",
                "legal_basis.reference": "Health Protection (Notification) Regulations 2010",
            },
            Outcome.REFER,
        ),
        ({"legal_basis.article_6": "public_task"}, Outcome.REFER),
        ({"urgency": "urgent"}, Outcome.REFER),
        ({"recipient.onward_sharing": False}, Outcome.APPROVE),
    ],
    ids=[
        "refuse-exists",
        "restricted-category",
        "research",
        "public-health",
        "no-vital-interests",
        "urgent",
        "nothing-referred",
    ],
)
def test_emergency_share_does_not_apply(changes: dict[str, Any], outcome: Outcome) -> None:
    evaluation = run(emergency(changes))

    assert result(evaluation, RuleId.CP7_EMERGENCY_SHARE) == PASS
    assert evaluation.outcome == outcome
    assert evaluation.review_required is False
    if outcome == Outcome.REFER:
        assert REFUSE not in fired(evaluation).values()


def test_emergency_does_not_apply_when_restricted_category_fired() -> None:
    evaluation = run(emergency({"data_items": [item("demographics"), item("sexual_health")]}))

    assert result(evaluation, RuleId.STAT_RESTRICTED_CATEGORY) == REFER
    assert result(evaluation, RuleId.CP7_EMERGENCY_SHARE) == PASS
    assert evaluation.outcome == Outcome.REFER


def test_emergency_applies_when_only_the_restricted_category_is_anonymised() -> None:
    evaluation = run(emergency({"data_items": [item("demographics"), item("sexual_health", "anonymised")]}))

    assert result(evaluation, RuleId.CP7_EMERGENCY_SHARE) == CONDITION


def test_a_refusal_lists_no_conditions_but_a_referral_keeps_them() -> None:
    refused = run(changed(ABROAD | UNTRAINED))
    assert refused.outcome == Outcome.REFUSE
    assert refused.conditions == []
    assert result(refused, RuleId.CP5_STAFF_TRAINED) == CONDITION

    referred = run(changed(ONWARD | UNTRAINED))
    assert referred.outcome == Outcome.REFER
    assert referred.conditions == [POLICY.reason(RuleId.CP5_STAFF_TRAINED, CONDITION)]
