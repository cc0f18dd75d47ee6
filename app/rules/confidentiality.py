"""Principle 6 under 2028.1: what makes information confidential or anonymous, what a cited gateway or section 251
support really permits, and the condition criminal offence data needs, whatever label a requester chooses."""

from __future__ import annotations

from app.models.vocabulary import (
    ConfidentialityBasis as Conf,
)
from app.models.vocabulary import (
    FindingResult,
    ProvisionKind,
    Urgency,
)
from app.rules.engine import (
    CONDITION,
    PASS,
    REFER,
    REFUSE,
    Case,
    Edition,
    Found,
    RuleId,
    implements,
    when,
)
from app.rules.groups import (
    ANONYMISED,
    CRIMINAL_OFFENCE,
    EMERGENCY_PURPOSES,
    PSEUDONYMISED,
)


@implements(RuleId.CP6_NOT_CONFIDENTIAL_SCOPE, REFUSE, Found(REFER, "pseudonymised"), since=Edition.V2028_1)
def not_confidential_scope(case: Case) -> FindingResult | Found:
    """Information about a patient held for their care is confidential, name and address included:
    the label does not make it otherwise."""
    if case.confidentiality != Conf.NOT_CONFIDENTIAL:
        return PASS
    if case.any_item_identifiable():
        return REFUSE
    return when(case.any_item(forms=PSEUDONYMISED), Found(REFER, "pseudonymised"))


@implements(RuleId.CP6_SINGLE_SUBJECT_ANONYMISED, REFUSE, Found(REFER, "small_numbers"), since=Edition.V2028_1)
def single_subject_anonymised(case: Case) -> FindingResult | Found:
    """Information about a named or single person is not anonymous in the recipient's hands (UK GDPR recital 26);
    few people, a guardian checks."""
    subjects = case.request.subjects
    if not case.any_item(forms=ANONYMISED):
        return PASS
    if subjects.count == 1 or subjects.identifiers:
        return REFUSE
    return when(subjects.count < case.policy.thresholds.anonymised_min_subjects, Found(REFER, "small_numbers"))  # type: ignore[operator]


@implements(
    RuleId.CP6_ARTICLE10_CONDITION,
    REFUSE,
    Found(CONDITION, "statutory"),
    Found(REFER, "emergency"),
    since=Edition.V2028_1,
)
def article10_condition(case: Case) -> FindingResult | Found:
    """Criminal offence data about the living needs a DPA 2018 Schedule 1 condition (s.10(5)):
    the paragraph relied on is recorded."""
    request = case.request
    if (
        request.subjects.deceased
        or not case.any_item_not_anonymised(CRIMINAL_OFFENCE)
        or request.legal_basis.schedule1_paragraph is not None
    ):
        return PASS
    if case.verified_duty():
        return Found(CONDITION, "statutory")
    if request.urgency == Urgency.EMERGENCY and case.purpose in EMERGENCY_PURPOSES:
        return Found(REFER, "emergency")
    return REFUSE


@implements(
    RuleId.CP6_GATEWAY_KIND,
    Found(CONDITION, "not_a_gateway"),
    Found(CONDITION, "on_belief"),
    Found(CONDITION, "duty"),
    Found(CONDITION, "outside_power"),
    since=Edition.V2028_1,
)
def gateway_kind(case: Case) -> FindingResult | Found:
    """A permissive gateway must cite a power that reaches this request;
    anything else cited as one is named for what it is."""
    entry = case.provision
    if case.confidentiality != Conf.PERMISSIVE_GATEWAY or entry is None:
        return PASS
    if entry.kind in (ProvisionKind.EXEMPTION, ProvisionKind.NO_DUTY):
        return Found(CONDITION, "not_a_gateway")
    if entry.kind == ProvisionKind.DUTY_ON_BELIEF:
        return Found(CONDITION, "on_belief")
    if entry.kind == ProvisionKind.DUTY:
        return Found(CONDITION, "duty")
    return when(not case.within_limits(entry), Found(CONDITION, "outside_power"))


@implements(RuleId.CP6_S251_VERIFIED, CONDITION, since=Edition.V2028_1)
def s251_verified(case: Case) -> FindingResult | Found:
    """Section 251 support is specific to its applicant, flows and purposes:
    IG confirms it covers this disclosure before it is made."""
    return when(case.confidentiality == Conf.S251_SUPPORT and case.any_item_not_anonymised(), CONDITION)
