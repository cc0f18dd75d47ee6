"""Principles 7 and 8, and information sharing agreements."""

from __future__ import annotations

from app.models.vocabulary import (
    Article6Basis,
    Article9Condition,
    Capacity,
    ConsentStatus,
    FindingResult,
    OrganisationType,
    SubjectInformed,
    Urgency,
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
    as_found,
    implements,
    when,
)
from app.rules.groups import (
    EMERGENCY_PURPOSES,
    GENDER_HISTORY,
    HEALTH_PROFESSIONAL_TYPES,
    PREJUDICE_ACCEPTED_PURPOSES,
)

# Referrals (rule, reason variant) an emergency may go ahead past only for the person's care (MCA s.6(7)).
DIRECT_CARE_WAIVERS = frozenset({(RuleId.CONSENT_REFUSAL, "proxy"), (RuleId.CONSENT_PROXY_SCOPE, "scope_unknown")})

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
    """Share at once, for retrospective review,
    for a household at risk when only waivable referrals stand in the way."""
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
    """As 2027.1, with the referrals 2028.1 lets an emergency go ahead past, each by the reason it refers with;
    the condition says what is left to do."""
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
    variant = {(True, True): "proxy_gender_history", (True, False): "proxy", (False, True): "gender_history"}.get(
        (proxy, gender_history)
    )
    return Found(CONDITION, variant)


def waived(case: Case, rule_id: RuleId, variant: str) -> bool:
    """Whether the emergency share may go ahead past this referral:
    the policy lists it, and where 2028.1 limits a waiver, its limit holds."""
    if not case.policy.emergency.waives(rule_id, variant):
        return False
    if (rule_id, variant) in DIRECT_CARE_WAIVERS:
        return (
            case.purpose == Purpose.DIRECT_CARE
        )  # MCA s.6(7): treatment goes on while the Court of Protection is asked
    if rule_id == RuleId.STAT_RESTRICTED_CATEGORY:
        return restricted_waivable(case)
    return True


def restricted_waivable(case: Case) -> bool:
    """An emergency discloses restricted categories only for care, to a person who cannot consent,
    through a health professional (2005 Order, art. 5)."""
    consent = case.request.consent
    if case.purpose != Purpose.DIRECT_CARE or not (
        consent.status == ConsentStatus.NOT_POSSIBLE or consent.capacity == Capacity.LACKS_CAPACITY
    ):
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
    outside = case.purpose not in agreement.purposes or any(
        item.category not in agreement.data_categories for item in case.items
    )
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
