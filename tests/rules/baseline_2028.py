"""Helpers for the tests of policy 2028.1 (brief section 4b), and its tables written out from the brief.

The tables are copied from the brief, not read from the shipped YAML, so that the tests compare the two.
"""

from dataclasses import replace
from typing import Any

from app.models.vocabulary import AttachmentKind, DsptStatus, FindingResult, OrganisationType
from app.rules import Evaluation, evaluate
from app.rules.engine import RuleId
from app.rules.policy import Policy
from app.rules.policy_documents import shipped_policies

from .baseline import NON_CARE, WAIVABLE_2027, facts, finding

BASELINE = "uk-caldicott-baseline"
POLICY_2028 = shipped_policies()[BASELINE, "2028.1"]
POLICY_2028_2 = shipped_policies()[BASELINE, "2028.2"]

PASS = FindingResult.PASS
CONDITION = FindingResult.CONDITION
REFER = FindingResult.REFER
REFUSE = FindingResult.REFUSE


def options(requester: str = "nhs_trust", dspt: str = "standards_met", **facts_options: Any) -> dict[str, Any]:
    """Facts options with the requester's type and toolkit status given by their API names."""
    return {"requester_type": OrganisationType(requester), "dspt_status": DsptStatus(dspt), **facts_options}


def run28(
    request: dict[str, Any] | None = None,
    *,
    policy: Policy = POLICY_2028,
    evidence: frozenset[AttachmentKind] = frozenset(),
    requester: str = "nhs_trust",
    dspt: str = "standards_met",
    **facts_options: Any,
) -> Evaluation:
    """Evaluate a request under 2028.1 (or `policy`), from a requester of this type,
    with these kinds of evidence attached."""
    return evaluate(policy, replace(facts(request, **options(requester, dspt, **facts_options)), evidence=evidence))


def check28(
    rule_id: RuleId,
    expected: FindingResult,
    request: dict[str, Any],
    variant: str | None = None,
    *,
    policy: Policy = POLICY_2028,
    **run_options: Any,
) -> None:
    """Assert one rule's result on `request`, and that its reason is the policy's text for `variant` of that result."""
    found = finding(run28(request, policy=policy, **run_options), rule_id)
    assert (found.result, found.reason) == (expected, policy.reason(rule_id, expected, variant))


# Bases a request relies on, as dotted changes to the baseline request.
LEGAL = {"legal_basis.confidentiality": "legal_requirement", "legal_basis.reference": "Ref 2028/1"}
EXPLICIT = {"consent.status": "given", "legal_basis.confidentiality": "explicit_consent"}
OPI = {"legal_basis.confidentiality": "overriding_public_interest"}
GATEWAY = {"legal_basis.confidentiality": "permissive_gateway", "legal_basis.reference": "Ref 2028/1"}
EMERGENCY = {"urgency": "emergency"}
DEAD = {"subjects.deceased": True}
REFUSED = {"consent.status": "refused"}


def duty(provision: str, purpose: str, **changes: Any) -> dict[str, Any]:
    """A legal requirement citing `provision` for `purpose`, with dotted `changes` (dots written as __)."""
    return (
        LEGAL
        | {"legal_basis.provision": provision, "purpose.category": purpose}
        | {key.replace("__", "."): value for key, value in changes.items()}
    )


# A court-verified request: the order cited as a legal requirement, for the purpose court_order.
COURT_VERIFIED = duty("court_order", "court_order", legal_basis__article_9="legal_claims")
# The label without the order: purpose court_order on no duty at all.
COURT_LABEL = {
    "purpose.category": "court_order",
    "legal_basis.confidentiality": "not_confidential",
    "legal_basis.reference": "Order 2028/1",
}
# Safeguarding an adult on the person's explicit consent: every 2028.1 rule passes on it (from an NHS trust).
SAFEGUARDING_ADULT = EXPLICIT | {"purpose.category": "safeguarding_adult", "legal_basis.article_9": "social_protection"}

NEW_TYPES = ("court", "coroner", "nhs_england", "public_health_agency", "integrated_care_board")
NON_CARE_2028 = NON_CARE | {"court", "coroner", "nhs_england", "public_health_agency"}
THIRD_PARTY_CONSENT = frozenset({"police", "school", "charity", "other"})

# IMPLAUSIBLE: the purposes CP1.purpose_requester_fit refers, by requester type (types not listed: none).
_COURT_IMPLAUSIBLE = {
    "safeguarding_child",
    "safeguarding_adult",
    "crime_prevention",
    "research",
    "service_planning",
    "public_health",
    "regulatory",
}
IMPLAUSIBLE: dict[str, set[str]] = {
    "police": {"regulatory", "research", "service_planning", "public_health"},
    "school": {"safeguarding_adult", "crime_prevention", "research", "service_planning", "public_health", "regulatory"},
    "research": {
        "safeguarding_child",
        "safeguarding_adult",
        "crime_prevention",
        "service_planning",
        "public_health",
        "regulatory",
    },
    "charity": {"regulatory", "public_health"},
    "other": {"regulatory", "public_health"},
    "court": _COURT_IMPLAUSIBLE,
    "coroner": _COURT_IMPLAUSIBLE,
    "nhs_england": {"crime_prevention"},
    "public_health_agency": {"crime_prevention"},
    "integrated_care_board": {"crime_prevention"},
}

# The registry entries 2028.1 adds or changes: code -> (kind, requesters, purposes, categories, max_subjects,
# applies_after_death, requirement_seen). Every other entry is as in 2027.1, with no limits.
NOTIFIABLE = {"demographics", "contact_details", "diagnoses", "test_results"}
PROVISION_LIMITS_2028: dict[str, tuple[str, set[str], set[str], set[str], int | None, bool, bool]] = {
    "court_order": ("duty", set(), {"court_order"}, set(), None, True, False),
    "witness_summons": ("duty", set(), {"court_order"}, set(), None, True, False),
    "coroners_notice": ("duty", set(), {"court_order"}, set(), None, True, False),
    "children_act_1989_s47": ("duty", {"local_authority"}, {"safeguarding_child"}, set(), None, False, False),
    "children_act_2004_s16h": (
        "duty",
        {"local_authority", "police", "integrated_care_board"},
        {"safeguarding_child"},
        set(),
        None,
        True,
        True,
    ),
    "care_act_2014_s45": ("duty", {"local_authority"}, {"safeguarding_adult"}, set(), None, True, True),
    "health_protection_notification_2010": (
        "duty",
        {"local_authority", "public_health_agency"},
        {"public_health"},
        NOTIFIABLE,
        1,
        True,
        False,
    ),
    "public_health_control_of_disease_1984_part2a": (
        "duty",
        {"local_authority"},
        {"public_health"},
        set(),
        None,
        False,
        False,
    ),
    "hsca_2012_s259": (
        "duty",
        {"nhs_england"},
        {"service_planning", "public_health", "research"},
        set(),
        None,
        False,
        False,
    ),
    "hsca_2008_s64": ("duty", {"regulator"}, {"regulatory"}, set(), None, True, True),
    "road_traffic_act_1988_s172": ("duty", {"police"}, {"crime_prevention"}, {"demographics"}, 1, False, False),
    "medical_act_1983_s35a": ("duty", {"regulator"}, {"regulatory"}, set(), None, True, True),
    "crime_and_disorder_act_1998_s115": (
        "power",
        {"police", "local_authority", "nhs_trust"},
        {"crime_prevention", "safeguarding_child", "safeguarding_adult"},
        set(),
        None,
        False,
        False,
    ),
    "finance_act_2008_sch36": ("no_duty", set(), set(), set(), None, False, False),
}

# The emergency share of 2028.1: 2027.1's waivable rules, and the referrals waivable only with these reason variants.
WAIVABLE_2028 = WAIVABLE_2027
WAIVABLE_VARIANTS_2028 = {
    "CP6.article10_condition": {"emergency"},
    "CONSENT.refusal": {"parent_child_protection", "proxy"},
    "CONSENT.proxy_scope": {"scope_unknown"},
    "STAT.restricted_category": {"default"},
}

CRIMINAL_OFFENCE_ALLOWED = {"safeguarding_child", "safeguarding_adult", "court_order", "regulatory"}
