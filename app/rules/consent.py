"""Consent and capacity: refusals and who may make them, a person's capacity, children's competence, proxies,
and consent held by others."""

from __future__ import annotations

from app.models.vocabulary import (
    AgeGroup,
    Capacity,
    ConsentGivenBy,
    ConsentStatus,
    FindingResult,
    ProxyScope,
)
from app.models.vocabulary import (
    ConfidentialityBasis as Conf,
)
from app.models.vocabulary import (
    PurposeCategory as Purpose,
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
    DECIDED_CONSENT,
    PROXIES,
    PUBLIC_INTEREST_BASES,
    REFUSALS,
)


@implements(RuleId.CONSENT_REFUSAL, REFUSE, REFER, until=Edition.V2027_1)
def consent_refusal(case: Case) -> FindingResult | Found:
    """Respect a capable refusal unless the law overrides it; the public interest is the guardian's call."""
    consent = case.request.consent
    overridden = (
        consent.capacity == Capacity.LACKS_CAPACITY
        or (consent.given_by == ConsentGivenBy.PARENT and case.purpose == Purpose.SAFEGUARDING_CHILD)
        or case.confidentiality == Conf.LEGAL_REQUIREMENT
        or case.purpose == Purpose.COURT_ORDER
    )
    if consent.status not in REFUSALS or overridden:
        return PASS
    return REFER if case.confidentiality in PUBLIC_INTEREST_BASES else REFUSE


@implements(RuleId.CONSENT_REFUSAL, REFUSE, REFER, Found(REFER, "proxy"), since=Edition.V2027_1, until=Edition.V2028_1)
def consent_refusal_2027(case: Case) -> FindingResult | Found:
    """Respect a refusal unless a verified duty or a court overrides it;
    a proxy's refusal and the public interest are the guardian's call."""
    consent = case.request.consent
    if consent.status not in REFUSALS:
        return PASS
    if (
        (consent.given_by == ConsentGivenBy.PARENT and case.purpose == Purpose.SAFEGUARDING_CHILD)
        or case.verified_duty()
        or case.purpose == Purpose.COURT_ORDER
    ):
        return PASS
    if consent.capacity == Capacity.LACKS_CAPACITY:
        return when(
            consent.given_by in PROXIES, Found(REFER, "proxy")
        )  # binds unless a guardian finds otherwise, MCA s.6(6)
    unverified_requirement = (
        case.confidentiality == Conf.LEGAL_REQUIREMENT and case.result(RuleId.CP6_LEGAL_REQUIREMENT_VERIFIED) == REFER
    )
    return REFER if case.confidentiality in PUBLIC_INTEREST_BASES or unverified_requirement else REFUSE


@implements(
    RuleId.CONSENT_REFUSAL,
    REFUSE,
    REFER,
    Found(REFER, "proxy"),
    Found(REFER, "parent_child_protection"),
    Found(REFER, "parent_refusal"),
    Found(REFUSE, "parent_refusal"),
    Found(REFER, "incapable_objection"),
    Found(REFUSE, "incapable_objection"),
    since=Edition.V2028_1,
)
def consent_refusal_2028(case: Case) -> FindingResult | Found:
    """Weigh a refusal by who made it: a verified duty overrides; a parent speaks for a child who is not competent;
    a proxy needs welfare authority."""
    consent = case.request.consent
    if consent.status not in REFUSALS or case.verified_duty():
        return PASS
    if consent.given_by == ConsentGivenBy.PARENT:
        if case.result(RuleId.CONSENT_PROXY_AUTHORITY) != PASS:
            return PASS  # the parent could not decide: CONSENT.proxy_authority says so
        return parent_refusal(case)
    if consent.capacity == Capacity.LACKS_CAPACITY:
        if consent.given_by in PROXIES:
            return when(consent.proxy_scope != ProxyScope.PROPERTY_AND_AFFAIRS, Found(REFER, "proxy"))  # MCA s.6(6)
        return incapable_objection(case)
    return REFER if public_interest_or_unverified_requirement(case) else REFUSE


def public_interest_or_unverified_requirement(case: Case) -> bool:
    """The public interest, a gateway, or a legal requirement a guardian must verify:
    a refusal then goes to a guardian."""
    return case.confidentiality in PUBLIC_INTEREST_BASES or (
        case.confidentiality == Conf.LEGAL_REQUIREMENT and case.result(RuleId.CP6_LEGAL_REQUIREMENT_VERIFIED) == REFER
    )


def parent_refusal(case: Case) -> Found:
    """A parent's refusal for a child not shown to be competent is the child's refusal (Children Act 1989 s.3),
    but never blocks child protection."""
    if case.purpose == Purpose.SAFEGUARDING_CHILD:
        return Found(REFER, "parent_child_protection")
    care_judgement = case.purpose == Purpose.DIRECT_CARE and case.request.consent.best_interests_decision
    return Found(
        REFER if public_interest_or_unverified_requirement(case) or care_judgement else REFUSE, "parent_refusal"
    )


def incapable_objection(case: Case) -> FindingResult | Found:
    """The objection of a person who lacks capacity is weighed (MCA s.4(6)(a));
    under 16 the Act does not apply; research honours it."""
    if case.purpose == Purpose.DIRECT_CARE:
        return when(case.request.subjects.age_group == AgeGroup.CHILD, Found(REFER, "incapable_objection"))
    if case.purpose in case.policy.definitions.secondary:
        return Found(REFUSE, "incapable_objection")
    return Found(REFER, "incapable_objection")


@implements(RuleId.CONSENT_CAPACITY_INVALID, REFUSE)
def capacity_invalid(case: Case) -> FindingResult | Found:
    """Refuse consent said to come from a person who lacks capacity."""
    consent = case.request.consent
    return when(
        consent.status == ConsentStatus.GIVEN
        and consent.given_by == ConsentGivenBy.SUBJECT
        and consent.capacity == Capacity.LACKS_CAPACITY,
        REFUSE,
    )


@implements(RuleId.CONSENT_BEST_INTERESTS, REFER, until=Edition.V2028_1)
def best_interests(case: Case) -> FindingResult | Found:
    """Refer care sharing for a person lacking capacity without a best-interests decision."""
    consent = case.request.consent
    return when(
        consent.capacity == Capacity.LACKS_CAPACITY
        and case.purpose == Purpose.DIRECT_CARE
        and not consent.best_interests_decision,
        REFER,
    )


@implements(RuleId.CONSENT_BEST_INTERESTS, REFER, since=Edition.V2028_1)
def best_interests_2028(case: Case) -> FindingResult | Found:
    """As 2026.1, but not under 16: the Mental Capacity Act does not apply (s.2(5)),
    a person with parental responsibility decides."""
    return when(case.request.subjects.age_group != AgeGroup.CHILD, best_interests(case))


@implements(RuleId.CONSENT_CHILD_COMPETENCE, REFER, until=Edition.V2028_1)
def child_competence(case: Case) -> FindingResult | Found:
    """Refer a child's own consent when Gillick competence was not assessed."""
    consent = case.request.consent
    return when(
        case.request.subjects.age_group == AgeGroup.CHILD
        and consent.status == ConsentStatus.GIVEN
        and consent.given_by == ConsentGivenBy.SUBJECT
        and consent.capacity == Capacity.NOT_ASSESSED,
        REFER,
    )


@implements(RuleId.CONSENT_CHILD_COMPETENCE, REFER, Found(CONDITION, "parent_consent"), since=Edition.V2028_1)
def child_competence_2028(case: Case) -> FindingResult | Found:
    """As 2026.1, and a parent's consent outside care asks that the child is confirmed not competent,
    or agrees (Gillick; Axon)."""
    consent = case.request.consent
    parent_consent = (
        case.request.subjects.age_group == AgeGroup.CHILD
        and consent.status == ConsentStatus.GIVEN
        and consent.given_by == ConsentGivenBy.PARENT
        and consent.capacity == Capacity.NOT_ASSESSED
        and case.purpose != Purpose.DIRECT_CARE
    )
    return Found(CONDITION, "parent_consent") if parent_consent else child_competence(case)


@implements(RuleId.CONSENT_PUBLIC_INTEREST, REFER)
def public_interest(case: Case) -> FindingResult | Found:
    """Refer the public-interest test to the guardian unless a refusal already did."""
    return when(case.confidentiality in PUBLIC_INTEREST_BASES and case.result(RuleId.CONSENT_REFUSAL) == PASS, REFER)


@implements(
    RuleId.CONSENT_PROXY_AUTHORITY,
    Found(REFUSE, "proxy_for_capable"),
    Found(REFUSE, "parent_of_adult"),
    Found(REFER, "parent_of_young_person"),
    Found(REFER, "competent_child"),
    since=Edition.V2027_1,
)
def proxy_authority(case: Case) -> FindingResult | Found:
    """Consent or refusal by someone else counts only where they have authority to give it."""
    consent = case.request.consent
    age_group = case.request.subjects.age_group
    if consent.status not in DECIDED_CONSENT:
        return PASS
    if consent.given_by in PROXIES:
        return when(
            consent.capacity != Capacity.LACKS_CAPACITY, Found(REFUSE, "proxy_for_capable")
        )  # MCA s.11(7), s.20(1)
    if consent.given_by != ConsentGivenBy.PARENT:
        return PASS
    if age_group == AgeGroup.ADULT:
        return Found(REFUSE, "parent_of_adult")
    if age_group in (AgeGroup.YOUNG_PERSON, AgeGroup.MIXED):
        return Found(REFER, "parent_of_young_person")
    return when(
        consent.capacity == Capacity.HAS_CAPACITY, Found(REFER, "competent_child")
    )  # a Gillick-competent child decides


@implements(
    RuleId.CONSENT_PROXY_SCOPE,
    Found(REFER, "scope_unknown"),
    Found(REFUSE, "no_welfare_authority"),
    Found(REFER, "research"),
    since=Edition.V2028_1,
)
def proxy_scope(case: Case) -> FindingResult | Found:
    """An attorney or deputy decides about health and care records only with welfare authority,
    and not for research (MCA ss.9, 16-20, 30-33)."""
    consent = case.request.consent
    if (
        consent.given_by not in PROXIES
        or consent.capacity != Capacity.LACKS_CAPACITY
        or consent.status not in DECIDED_CONSENT
    ):
        return PASS
    if consent.proxy_scope is None:
        return Found(REFER, "scope_unknown")
    consented = consent.status == ConsentStatus.GIVEN and case.relies_on_consent() and case.any_item_not_anonymised()
    if consent.proxy_scope == ProxyScope.PROPERTY_AND_AFFAIRS:
        return when(consented, Found(REFUSE, "no_welfare_authority"))
    return when(consented and case.purpose in case.policy.definitions.secondary, Found(REFER, "research"))


@implements(RuleId.CONSENT_THIRD_PARTY_CONSENT, CONDITION, since=Edition.V2028_1)
def third_party_consent(case: Case) -> FindingResult | Found:
    """A requester that collects consent itself holds the written consent for this disclosure and
    shows it on request (GMC; AMRA 1988)."""
    return when(
        case.relies_on_consent()
        and case.request.consent.status == ConsentStatus.GIVEN
        and case.requester_type in case.policy.requester_groups.third_party_consent  # type: ignore[operator]
        and case.purpose != Purpose.DIRECT_CARE,
        CONDITION,
    )
