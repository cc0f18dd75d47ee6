"""Principles 7 and 8, consent and capacity, and information sharing agreements."""

from __future__ import annotations

from app.models.vocabulary import (
    AgeGroup,
    Article6Basis,
    Article9Condition,
    Capacity,
    ConsentGivenBy,
    ConsentStatus,
    FindingResult,
    OrganisationType,
    ProxyScope,
    SubjectInformed,
    Urgency,
)
from app.models.vocabulary import (
    ConfidentialityBasis as Conf,
)
from app.models.vocabulary import (
    PurposeCategory as Purpose,
)
from app.rules.engine import (
    CONDITION,
    DECIDED_CONSENT,
    DIRECT_CARE_WAIVERS,
    EMERGENCY_PURPOSES,
    GENDER_HISTORY,
    HEALTH_PROFESSIONAL_TYPES,
    PASS,
    PREJUDICE_ACCEPTED_PURPOSES,
    PROXIES,
    PUBLIC_INTEREST_BASES,
    REFER,
    REFUSALS,
    REFUSE,
    Case,
    Edition,
    Found,
    RuleId,
    as_found,
    implements,
    when,
)

# Principle 7


@implements(RuleId.CP7_EMERGENCY_SHARE, CONDITION, until=Edition.V2027_1)
def emergency_share(case: Case) -> FindingResult | Found:
    """Share at once, for retrospective review, when a life is at risk and only referrals stand in the way."""
    basis = case.request.legal_basis
    others = {result for _, result in case.others(RuleId.CP7_EMERGENCY_SHARE)}
    return when(
        case.request.urgency == Urgency.EMERGENCY
        and case.purpose in EMERGENCY_PURPOSES
        and (basis.article_6 == Article6Basis.VITAL_INTERESTS or basis.article_9 == Article9Condition.VITAL_INTERESTS)
        and REFER in others
        and REFUSE not in others
        and case.result(RuleId.STAT_RESTRICTED_CATEGORY) == PASS,
        CONDITION,
    )


@implements(RuleId.CP7_EMERGENCY_SHARE, CONDITION, since=Edition.V2027_1, until=Edition.V2028_1)
def emergency_share_2027(case: Case) -> FindingResult | Found:
    """Share at once, for retrospective review, for a household at risk when only waivable referrals stand in the way."""
    emergency = case.policy.emergency
    others = case.others(RuleId.CP7_EMERGENCY_SHARE)
    referrals = {rule_id for rule_id, result in others if result == REFER}
    return when(
        case.request.urgency == Urgency.EMERGENCY
        and case.purpose in emergency.purposes
        and not case.request.subjects.deceased
        and case.request.subjects.count <= case.policy.thresholds.emergency_max_subjects
        and all(result != REFUSE for _, result in others)
        and bool(referrals)
        and referrals <= emergency.waivable,
        CONDITION,
    )


@implements(
    RuleId.CP7_EMERGENCY_SHARE,
    CONDITION,
    Found(CONDITION, "gender_history"),
    Found(CONDITION, "proxy"),
    Found(CONDITION, "proxy_gender_history"),
    since=Edition.V2028_1,
)
def emergency_share_2028(case: Case) -> FindingResult | Found:
    """As 2027.1, with the referrals 2028.1 lets an emergency go ahead past, each by the reason it refers with; the condition says what is left to do."""
    subjects = case.request.subjects
    if (
        case.request.urgency != Urgency.EMERGENCY
        or case.purpose not in case.policy.emergency.purposes
        or subjects.deceased
        or subjects.count > case.policy.thresholds.emergency_max_subjects
        or any(result == REFUSE for _, result in case.others(RuleId.CP7_EMERGENCY_SHARE))
    ):
        return PASS
    referrals = case.referrals(RuleId.CP7_EMERGENCY_SHARE)
    if not referrals or not all(waived(case, rule_id, variant) for rule_id, variant in referrals.items()):
        return PASS
    gender_history = RuleId.STAT_RESTRICTED_CATEGORY in referrals and case.any_item_not_anonymised(GENDER_HISTORY)
    proxy = referrals.get(RuleId.CONSENT_REFUSAL) == "proxy"
    variant = {(True, True): "proxy_gender_history", (True, False): "proxy", (False, True): "gender_history"}.get((proxy, gender_history))
    return Found(CONDITION, variant)


def waived(case: Case, rule_id: RuleId, variant: str) -> bool:
    """Whether the emergency share may go ahead past this referral: the policy lists it, and where 2028.1 limits a waiver, its limit holds."""
    if not case.policy.emergency.waives(rule_id, variant):
        return False
    if (rule_id, variant) in DIRECT_CARE_WAIVERS:
        return case.purpose == Purpose.DIRECT_CARE  # MCA s.6(7): treatment goes on while the Court of Protection is asked
    if rule_id == RuleId.STAT_RESTRICTED_CATEGORY:
        return restricted_waivable(case)
    return True


def restricted_waivable(case: Case) -> bool:
    """An emergency discloses restricted categories only for care, to a person who cannot consent, through a health professional (2005 Order, art. 5)."""
    consent = case.request.consent
    if case.purpose != Purpose.DIRECT_CARE or not (consent.status == ConsentStatus.NOT_POSSIBLE or consent.capacity == Capacity.LACKS_CAPACITY):
        return False
    if case.requester_type in HEALTH_PROFESSIONAL_TYPES:
        return True
    return case.requester_type == OrganisationType.CARE_PROVIDER and not case.any_item_not_anonymised(GENDER_HISTORY)


# Principle 8


@implements(RuleId.CP8_TRANSPARENCY, CONDITION, REFER, until=Edition.V2027_1)
def transparency(case: Case) -> FindingResult | Found:
    """Ask for the person to be informed, or refer withholding it outside the purposes that justify it."""
    informed = case.request.transparency.subject_informed
    if informed == SubjectInformed.NO and not case.request.transparency.privacy_notice_covers_use:
        return CONDITION
    if informed == SubjectInformed.WOULD_PREJUDICE_PURPOSE and case.purpose not in PREJUDICE_ACCEPTED_PURPOSES:
        return REFER
    return PASS


@implements(RuleId.CP8_TRANSPARENCY, CONDITION, REFER, Found(CONDITION, "prejudice_recorded"), since=Edition.V2027_1)
def transparency_2027(case: Case) -> FindingResult | Found:
    """As 2026.1, and where not telling the person is justified, the reason is recorded."""
    found = as_found(transparency(case))
    if found.result == PASS and case.request.transparency.subject_informed == SubjectInformed.WOULD_PREJUDICE_PURPOSE:
        return Found(CONDITION, "prejudice_recorded")
    return found


# Consent and capacity


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
    """Respect a refusal unless a verified duty or a court overrides it; a proxy's refusal and the public interest are the guardian's call."""
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
        return when(consent.given_by in PROXIES, Found(REFER, "proxy"))  # binds unless a guardian finds otherwise, MCA s.6(6)
    unverified_requirement = case.confidentiality == Conf.LEGAL_REQUIREMENT and case.result(RuleId.CP6_LEGAL_REQUIREMENT_VERIFIED) == REFER
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
    """Weigh a refusal by who made it: a verified duty overrides; a parent speaks for a child who is not competent; a proxy needs welfare authority."""
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
    """The public interest, a gateway, or a legal requirement a guardian must verify: a refusal then goes to a guardian."""
    return case.confidentiality in PUBLIC_INTEREST_BASES or (
        case.confidentiality == Conf.LEGAL_REQUIREMENT and case.result(RuleId.CP6_LEGAL_REQUIREMENT_VERIFIED) == REFER
    )


def parent_refusal(case: Case) -> Found:
    """A parent's refusal for a child not shown to be competent is the child's refusal (Children Act 1989 s.3), but never blocks child protection."""
    if case.purpose == Purpose.SAFEGUARDING_CHILD:
        return Found(REFER, "parent_child_protection")
    care_judgement = case.purpose == Purpose.DIRECT_CARE and case.request.consent.best_interests_decision
    return Found(REFER if public_interest_or_unverified_requirement(case) or care_judgement else REFUSE, "parent_refusal")


def incapable_objection(case: Case) -> FindingResult | Found:
    """The objection of a person who lacks capacity is weighed (MCA s.4(6)(a)); under 16 the Act does not apply; research honours it."""
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
        consent.status == ConsentStatus.GIVEN and consent.given_by == ConsentGivenBy.SUBJECT and consent.capacity == Capacity.LACKS_CAPACITY,
        REFUSE,
    )


@implements(RuleId.CONSENT_BEST_INTERESTS, REFER, until=Edition.V2028_1)
def best_interests(case: Case) -> FindingResult | Found:
    """Refer care sharing for a person lacking capacity without a best-interests decision."""
    consent = case.request.consent
    return when(
        consent.capacity == Capacity.LACKS_CAPACITY and case.purpose == Purpose.DIRECT_CARE and not consent.best_interests_decision,
        REFER,
    )


@implements(RuleId.CONSENT_BEST_INTERESTS, REFER, since=Edition.V2028_1)
def best_interests_2028(case: Case) -> FindingResult | Found:
    """As 2026.1, but not under 16: the Mental Capacity Act does not apply (s.2(5)), a person with parental responsibility decides."""
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
    """As 2026.1, and a parent's consent outside care asks that the child is confirmed not competent, or agrees (Gillick; Axon)."""
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
        return when(consent.capacity != Capacity.LACKS_CAPACITY, Found(REFUSE, "proxy_for_capable"))  # MCA s.11(7), s.20(1)
    if consent.given_by != ConsentGivenBy.PARENT:
        return PASS
    if age_group == AgeGroup.ADULT:
        return Found(REFUSE, "parent_of_adult")
    if age_group in (AgeGroup.YOUNG_PERSON, AgeGroup.MIXED):
        return Found(REFER, "parent_of_young_person")
    return when(consent.capacity == Capacity.HAS_CAPACITY, Found(REFER, "competent_child"))  # a Gillick-competent child decides


@implements(
    RuleId.CONSENT_PROXY_SCOPE,
    Found(REFER, "scope_unknown"),
    Found(REFUSE, "no_welfare_authority"),
    Found(REFER, "research"),
    since=Edition.V2028_1,
)
def proxy_scope(case: Case) -> FindingResult | Found:
    """An attorney or deputy decides about health and care records only with welfare authority, and not for research (MCA ss.9, 16-20, 30-33)."""
    consent = case.request.consent
    if consent.given_by not in PROXIES or consent.capacity != Capacity.LACKS_CAPACITY or consent.status not in DECIDED_CONSENT:
        return PASS
    if consent.proxy_scope is None:
        return Found(REFER, "scope_unknown")
    consented = consent.status == ConsentStatus.GIVEN and case.relies_on_consent() and case.any_item_not_anonymised()
    if consent.proxy_scope == ProxyScope.PROPERTY_AND_AFFAIRS:
        return when(consented, Found(REFUSE, "no_welfare_authority"))
    return when(consented and case.purpose in case.policy.definitions.secondary, Found(REFER, "research"))


@implements(RuleId.CONSENT_THIRD_PARTY_CONSENT, CONDITION, since=Edition.V2028_1)
def third_party_consent(case: Case) -> FindingResult | Found:
    """A requester that collects consent itself holds the written consent for this disclosure and shows it on request (GMC; AMRA 1988)."""
    return when(
        case.relies_on_consent()
        and case.request.consent.status == ConsentStatus.GIVEN
        and case.requester_type in case.policy.requester_groups.third_party_consent  # type: ignore[operator]
        and case.purpose != Purpose.DIRECT_CARE,
        CONDITION,
    )


# Information sharing agreements


@implements(RuleId.AGR_REGISTERED, REFER)
def agreement_registered(case: Case) -> FindingResult | Found:
    """Refer a request citing an agreement that is not registered."""
    return when(case.request.sharing_agreement is not None and case.facts.agreement is None, REFER)


@implements(RuleId.AGR_IN_FORCE, REFER, CONDITION)
def agreement_in_force(case: Case) -> FindingResult | Found:
    """Check the agreement is active today; care does not wait on paperwork."""
    agreement = case.facts.agreement
    if agreement is None or agreement.in_force_on(case.facts.today):
        return PASS
    return CONDITION if case.purpose == Purpose.DIRECT_CARE else REFER


@implements(RuleId.AGR_PARTY, REFER)
def agreement_party(case: Case) -> FindingResult | Found:
    """Refer a requester that is not a party to the agreement it cites."""
    agreement = case.facts.agreement
    return when(agreement is not None and case.facts.requester.code not in agreement.parties, REFER)


@implements(RuleId.AGR_SCOPE, REFER, CONDITION)
def agreement_scope(case: Case) -> FindingResult | Found:
    """Check the purpose and every category against the agreement; care does not wait on paperwork."""
    agreement = case.facts.agreement
    if agreement is None:
        return PASS
    outside = case.purpose not in agreement.purposes or any(item.category not in agreement.data_categories for item in case.items)
    if not outside:
        return PASS
    return CONDITION if case.purpose == Purpose.DIRECT_CARE else REFER


@implements(RuleId.AGR_SYSTEMATIC, CONDITION, until=Edition.V2028_1)
def agreement_systematic(case: Case) -> FindingResult | Found:
    """Ask for an agreement when data that is not anonymised about several people is shared without one."""
    return when(case.purpose != Purpose.COURT_ORDER and systematic_without_agreement(case), CONDITION)


@implements(RuleId.AGR_SYSTEMATIC, CONDITION, since=Edition.V2028_1)
def agreement_systematic_2028(case: Case) -> FindingResult | Found:
    """As 2026.1, with the court exception only for an order, summons or notice verified as a duty."""
    return when(not case.court_verified() and systematic_without_agreement(case), CONDITION)


def systematic_without_agreement(case: Case) -> bool:
    """Information that is not anonymised, about several people, with no agreement cited."""
    return case.request.sharing_agreement is None and case.request.subjects.count > 1 and case.any_item_not_anonymised()
