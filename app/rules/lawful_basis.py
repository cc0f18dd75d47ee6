"""Principle 6, comply with the law: UK GDPR Articles 6 and 9, the duty of confidence,
statutory restrictions, the dead."""

from __future__ import annotations

from app.models.vocabulary import (
    AgeGroup,
    Article6Basis,
    Article9Condition,
    Capacity,
    ConsentGivenBy,
    ConsentStatus,
    FindingResult,
    PersonAtRisk,
    ProvisionKind,
    S251Regulation,
    StorageRegion,
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
    as_found,
    implements,
    when,
)
from app.rules.groups import (
    CAPACITY_PRESUMED,
    COURT_PROVISIONS,
    LEGITIMATE_INTERESTS,
    NOT_A_DUTY,
    OPT_OUT_EXEMPT_BASES,
    PUBLIC_AUTHORITY_TYPES,
    REFERENCED_BASES,
    REFUSALS,
    SCHEDULE1_PART2,
    SCHEDULE1_SAFEGUARDING,
)

DIGITS = frozenset("0123456789")

# Principle 6


@implements(RuleId.CP6_ARTICLE9_CONDITION, REFUSE)
def article9_condition(case: Case) -> FindingResult | Found:
    """Refuse special category data about the living without an Art. 9 condition."""
    return when(case.special_data_about_the_living() and case.request.legal_basis.article_9 is None, REFUSE)


@implements(
    RuleId.CP6_ARTICLE9_PURPOSE_FIT, REFUSE, REFER, Found(REFUSE, "professional_secrecy"), since=Edition.V2027_1
)
def article9_purpose_fit(case: Case) -> FindingResult | Found:
    """Check that the Art. 9 condition fits the purpose,
    and that 9(2)(h) goes only to recipients under professional secrecy."""
    condition = case.request.legal_basis.article_9
    if condition is None or not case.special_data_about_the_living():
        return PASS
    if (
        condition == Article9Condition.HEALTH_SOCIAL_CARE
        and case.requester_type in case.policy.requester_groups.no_professional_secrecy
    ):
        return Found(REFUSE, "professional_secrecy")
    fit = case.policy.article9_purpose_fit[case.purpose]
    if condition in fit.pass_:
        return PASS
    return REFER if condition in fit.refer else REFUSE


@implements(RuleId.CP6_SCHEDULE1_PARAGRAPH, CONDITION, REFER, since=Edition.V2027_1, until=Edition.V2028_1)
def schedule1_paragraph(case: Case) -> FindingResult | Found:
    """Ask for the Schedule 1 paragraph behind substantial public interest; refer para. 18 for a capable adult."""
    basis = case.request.legal_basis
    if basis.article_9 != Article9Condition.SUBSTANTIAL_PUBLIC_INTEREST or not case.special_data_about_the_living():
        return PASS
    if basis.schedule1_paragraph not in SCHEDULE1_PART2:
        return CONDITION
    return when(
        basis.schedule1_paragraph == SCHEDULE1_SAFEGUARDING
        and case.purpose == Purpose.SAFEGUARDING_ADULT
        and case.request.subjects.age_group == AgeGroup.ADULT
        and case.request.consent.capacity == Capacity.HAS_CAPACITY,
        REFER,
    )


@implements(
    RuleId.CP6_SCHEDULE1_PARAGRAPH,
    CONDITION,
    REFER,
    Found(CONDITION, "statutory"),
    Found(CONDITION, "other_at_risk"),
    since=Edition.V2028_1,
)
def schedule1_paragraph_2028(case: Case) -> FindingResult | Found:
    """As 2027.1, with paragraph 18 read for the person it protects:
    the subject, or someone else (a child, or an adult at risk)."""
    basis = case.request.legal_basis
    if basis.article_9 != Article9Condition.SUBSTANTIAL_PUBLIC_INTEREST or not case.special_data_about_the_living():
        return PASS
    if basis.schedule1_paragraph not in SCHEDULE1_PART2:
        return CONDITION
    if basis.schedule1_paragraph != SCHEDULE1_SAFEGUARDING:
        return PASS
    if basis.person_at_risk == PersonAtRisk.OTHER:
        return when(case.purpose != Purpose.SAFEGUARDING_CHILD, Found(CONDITION, "other_at_risk"))
    capable_adult = (
        case.purpose == Purpose.SAFEGUARDING_ADULT
        and case.request.subjects.age_group == AgeGroup.ADULT
        and case.request.consent.capacity == Capacity.HAS_CAPACITY
    )
    if not capable_adult:
        return PASS
    return Found(CONDITION, "statutory") if case.verified_duty() else REFER


@implements(RuleId.CP6_VITAL_INTERESTS_CAPACITY, REFUSE, until=Edition.V2027_1)
def vital_interests_capacity(case: Case) -> FindingResult | Found:
    """Refuse Art. 9 vital interests for a person able to consent."""
    return when(
        case.request.legal_basis.article_9 == Article9Condition.VITAL_INTERESTS
        and case.request.consent.capacity == Capacity.HAS_CAPACITY,
        REFUSE,
    )


@implements(
    RuleId.CP6_VITAL_INTERESTS_CAPACITY,
    REFUSE,
    Found(REFUSE, "refused"),
    Found(REFUSE, "capacity_presumed"),
    Found(REFER, "not_possible"),
    Found(REFER, "child_or_group"),
    since=Edition.V2027_1,
)
def vital_interests_capacity_2027(case: Case) -> FindingResult | Found:
    """Art. 9(2)(c) only for a person physically or legally incapable of consenting."""
    consent = case.request.consent
    if (
        case.request.legal_basis.article_9 != Article9Condition.VITAL_INTERESTS
        or consent.capacity == Capacity.LACKS_CAPACITY
    ):
        return PASS
    if consent.capacity == Capacity.HAS_CAPACITY:
        return REFUSE
    if consent.status in REFUSALS:
        return Found(REFUSE, "refused")
    if consent.status == ConsentStatus.NOT_POSSIBLE:
        return Found(REFER, "not_possible")  # unconscious or missing: the guardian confirms
    if case.request.subjects.age_group in CAPACITY_PRESUMED:
        return Found(REFUSE, "capacity_presumed")
    return Found(REFER, "child_or_group")


@implements(RuleId.CP6_PUBLIC_AUTHORITY_LI, REFUSE, until=Edition.V2027_1)
def public_authority_li(case: Case) -> FindingResult | Found:
    """Refuse legitimate interests relied on by a public authority."""
    return when(
        case.request.legal_basis.article_6 == Article6Basis.LEGITIMATE_INTERESTS
        and case.requester_type in PUBLIC_AUTHORITY_TYPES,
        REFUSE,
    )


@implements(RuleId.CP6_PUBLIC_AUTHORITY_LI, REFUSE, since=Edition.V2027_1)
def public_authority_li_2027(case: Case) -> FindingResult | Found:
    """Refuse (recognised) legitimate interests: the disclosing controller is a public authority on its tasks."""
    return when(case.request.legal_basis.article_6 in LEGITIMATE_INTERESTS, REFUSE)


@implements(RuleId.CP6_CONSENT_BASIS_VALID, REFUSE)
def consent_basis_valid(case: Case) -> FindingResult | Found:
    """Refuse a basis in consent when consent has not been given."""
    basis = case.request.legal_basis
    relies_on_consent = (
        basis.article_6 == Article6Basis.CONSENT
        or basis.article_9 == Article9Condition.EXPLICIT_CONSENT
        or basis.confidentiality == Conf.EXPLICIT_CONSENT
    )
    return when(relies_on_consent and case.request.consent.status != ConsentStatus.GIVEN, REFUSE)


@implements(RuleId.CP6_IMPLIED_CONSENT_SCOPE, REFUSE, until=Edition.V2027_1)
def implied_consent_scope(case: Case) -> FindingResult | Found:
    """Refuse implied consent beyond direct care."""
    return when(case.confidentiality == Conf.IMPLIED_CONSENT and case.purpose != Purpose.DIRECT_CARE, REFUSE)


@implements(RuleId.CP6_IMPLIED_CONSENT_SCOPE, REFUSE, since=Edition.V2027_1)
def implied_consent_scope_2027(case: Case) -> FindingResult | Found:
    """Refuse implied consent beyond direct care, or to a requester that gives no care."""
    return when(
        case.confidentiality == Conf.IMPLIED_CONSENT
        and (case.purpose != Purpose.DIRECT_CARE or case.requester_type in case.policy.requester_groups.non_care),
        REFUSE,
    )


@implements(RuleId.CP6_REFERENCE_REQUIRED, REFUSE, until=Edition.V2028_1)
def reference_required(case: Case) -> FindingResult | Found:
    """Refuse a statutory, s251 or court basis that cites no reference."""
    reference = case.request.legal_basis.reference
    needs_reference = case.confidentiality in REFERENCED_BASES or case.purpose == Purpose.COURT_ORDER
    return when(needs_reference and not (reference and reference.strip()), REFUSE)


@implements(RuleId.CP6_REFERENCE_REQUIRED, REFUSE, since=Edition.V2028_1)
def reference_required_2028(case: Case) -> FindingResult | Found:
    """A citation names a year, a section, or an order, case or approval number:
    a reference with no digit cites nothing."""
    reference = case.request.legal_basis.reference or ""
    needs_reference = case.confidentiality in REFERENCED_BASES or case.purpose == Purpose.COURT_ORDER
    return when(needs_reference and not any(character in DIGITS for character in reference), REFUSE)


@implements(
    RuleId.CP6_LEGAL_REQUIREMENT_VERIFIED,
    REFUSE,
    Found(REFER, "unverified"),
    Found(REFER, "on_belief"),
    Found(REFER, "outside_duty"),
    since=Edition.V2027_1,
    until=Edition.V2028_1,
)
def legal_requirement_verified(case: Case) -> FindingResult | Found:
    """A "legal requirement" must cite a registered duty that binds on this requester for these data."""
    if case.confidentiality != Conf.LEGAL_REQUIREMENT:
        return PASS
    entry = case.provision
    if entry is None:
        return Found(REFER, "unverified")
    if entry.kind in NOT_A_DUTY:
        return REFUSE
    if entry.kind == ProvisionKind.DUTY_ON_BELIEF:
        return Found(REFER, "on_belief")
    return when(not case.verified_duty(), Found(REFER, "outside_duty"))


@implements(
    RuleId.CP6_LEGAL_REQUIREMENT_VERIFIED,
    REFUSE,
    Found(REFER, "unverified"),
    Found(REFER, "on_belief"),
    Found(REFER, "outside_duty"),
    Found(CONDITION, "requirement_seen"),
    since=Edition.V2028_1,
)
def legal_requirement_verified_2028(case: Case) -> FindingResult | Found:
    """As 2027.1 with the 2028.1 limits of a duty; where the statute names the one body that may require,
    IG traces the requirement to it."""
    found = as_found(legal_requirement_verified(case))
    if found.result == PASS and case.confidentiality == Conf.LEGAL_REQUIREMENT and case.provision.requirement_seen:  # type: ignore[union-attr]
        return Found(CONDITION, "requirement_seen")
    return found


@implements(RuleId.CP6_COURT_ORDER_VERIFIED, CONDITION, since=Edition.V2027_1, until=Edition.V2028_1)
def court_order_verified(case: Case) -> FindingResult | Found:
    """Information governance sees the sealed order, summons or notice, and only what it specifies is disclosed."""
    relied_on = case.purpose == Purpose.COURT_ORDER or case.request.legal_basis.provision in COURT_PROVISIONS
    return when(relied_on and not case.attached(case.policy.evidence_rule.court_order_seen), CONDITION)


@implements(RuleId.CP6_COURT_ORDER_VERIFIED, CONDITION, Found(REFER, "unverified"), since=Edition.V2028_1)
def court_order_verified_2028(case: Case) -> FindingResult | Found:
    """IG sees an order, summons or notice verified as a duty before disclosing;
    a purpose label without one is no order."""
    if case.court_verified():
        return when(not case.attached(case.policy.evidence_rule.court_order_seen), CONDITION)
    return when(case.purpose == Purpose.COURT_ORDER, Found(REFER, "unverified"))


@implements(RuleId.CP6_POLICE_REQUEST_FORM, CONDITION, since=Edition.V2027_1)
def police_request_form(case: Case) -> FindingResult | Found:
    """A police request under a crime exemption or gateway waits for the signed request form
    (an optional rule: 2027.2 lists it)."""
    form = case.policy.evidence_rule.police_request_form
    assert form is not None, (
        "a policy that lists CP6.police_request_form has evidence.police_request_form (policy_documents.py)"
    )
    relies_on = case.requester_type in form.requesters and case.request.legal_basis.provision in form.provisions
    return when(relies_on and not case.attached({form.attachment}), CONDITION)


@implements(RuleId.CP6_INTERNATIONAL_TRANSFER, REFUSE)
def international_transfer(case: Case) -> FindingResult | Found:
    """Refuse storage abroad without adequacy or Art. 46 safeguards."""
    return when(case.request.recipient.storage_region == StorageRegion.OTHER, REFUSE)


@implements(RuleId.CP6_NATIONAL_DATA_OPT_OUT, CONDITION, until=Edition.V2027_1)
def national_data_opt_out(case: Case) -> FindingResult | Found:
    """Ask for the national data opt-out to be applied to secondary uses."""
    return when(
        case.purpose in case.policy.definitions.secondary
        and case.any_item_not_anonymised()
        and case.confidentiality not in OPT_OUT_EXEMPT_BASES
        and not case.request.national_data_opt_out_applied,
        CONDITION,
    )


@implements(RuleId.CP6_NATIONAL_DATA_OPT_OUT, CONDITION, since=Edition.V2027_1)
def national_data_opt_out_2027(case: Case) -> FindingResult | Found:
    """Ask for the opt-out on secondary uses and s251 disclosures, unless consent, the public interest,
    a duty or regulation 3 exempts them."""
    basis = case.request.legal_basis
    exempt = (
        case.confidentiality in (Conf.EXPLICIT_CONSENT, Conf.OVERRIDING_PUBLIC_INTEREST)
        or case.verified_duty()
        or (case.confidentiality == Conf.S251_SUPPORT and basis.s251_regulation == S251Regulation.COMMUNICABLE_DISEASE)
    )
    return when(
        not case.request.national_data_opt_out_applied
        and case.any_item_not_anonymised()
        and case.purpose != Purpose.DIRECT_CARE
        and not exempt
        and (case.purpose in case.policy.definitions.secondary or case.confidentiality == Conf.S251_SUPPORT),
        CONDITION,
    )


@implements(RuleId.STAT_RESTRICTED_CATEGORY, REFER, until=Edition.V2027_1)
def restricted_category(case: Case) -> FindingResult | Found:
    """Refer categories under statutory restriction unless a court orders or the person consents."""
    exempt = case.purpose == Purpose.COURT_ORDER or (
        case.request.consent.status == ConsentStatus.GIVEN and case.confidentiality == Conf.EXPLICIT_CONSENT
    )
    return when(not exempt and case.any_item_not_anonymised(case.policy.definitions.restricted), REFER)


@implements(RuleId.STAT_RESTRICTED_CATEGORY, REFER, since=Edition.V2027_1, until=Edition.V2028_1)
def restricted_category_2027(case: Case) -> FindingResult | Found:
    """Refer categories under statutory restriction unless a court orders or the person themself consents."""
    consent = case.request.consent
    exempt = case.purpose == Purpose.COURT_ORDER or (
        consent.status == ConsentStatus.GIVEN
        and case.confidentiality == Conf.EXPLICIT_CONSENT
        and consent.given_by == ConsentGivenBy.SUBJECT
    )
    return when(not exempt and case.any_item_not_anonymised(case.policy.definitions.restricted), REFER)


@implements(RuleId.STAT_RESTRICTED_CATEGORY, REFER, since=Edition.V2028_1)
def restricted_category_2028(case: Case) -> FindingResult | Found:
    """As 2027.1, with the court exception only for an order, summons or notice verified as a duty."""
    consent = case.request.consent
    exempt = case.court_verified() or (
        consent.status == ConsentStatus.GIVEN
        and case.confidentiality == Conf.EXPLICIT_CONSENT
        and consent.given_by == ConsentGivenBy.SUBJECT
    )
    return when(not exempt and case.any_item_not_anonymised(case.policy.definitions.restricted), REFER)


@implements(RuleId.DEC_DECEASED, REFER, until=Edition.V2027_1)
def deceased(case: Case) -> FindingResult | Found:
    """Refer records of the dead unless a court orders them."""
    return when(case.request.subjects.deceased and case.purpose != Purpose.COURT_ORDER, REFER)


@implements(RuleId.DEC_DECEASED, REFER, since=Edition.V2027_1, until=Edition.V2028_1)
def deceased_2027(case: Case) -> FindingResult | Found:
    """Refer records of the dead unless a court, a summons or a coroner requires them."""
    required = case.verified_duty() and case.request.legal_basis.provision in COURT_PROVISIONS
    return when(case.request.subjects.deceased and case.purpose != Purpose.COURT_ORDER and not required, REFER)


@implements(RuleId.DEC_DECEASED, REFER, since=Edition.V2028_1)
def deceased_2028(case: Case) -> FindingResult | Found:
    """Refer identifiable records of the dead unless a duty that reaches after death requires them
    (anonymised data is outside the duty of confidence)."""
    entry = case.provision
    required = case.verified_duty() and entry is not None and entry.applies_after_death
    return when(case.request.subjects.deceased and case.any_item_not_anonymised() and not required, REFER)
