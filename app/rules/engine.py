"""The rules of sections 4 and 4a of the brief as pure functions, and how their findings combine.

Rule logic is code, written once per edition of the baseline: a rule that reads the same in
every edition is registered once; a rule that 2027.1 changed has one function per reading;
a rule that 2027.1 added starts there. A policy (shipped or derived) names its edition and
tunes only parameters and texts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

from pydantic import BaseModel, ConfigDict

from app.models.vocabulary import (
    AgeGroup,
    Article6Basis,
    Article9Condition,
    Capacity,
    ConsentGivenBy,
    ConsentStatus,
    DataCategory,
    DataForm,
    DsptStatus,
    FindingResult,
    OrganisationType,
    Outcome,
    ProvisionKind,
    S251Regulation,
    StorageRegion,
    SubjectInformed,
    Urgency,
)
from app.models.vocabulary import (
    ConfidentialityBasis as Conf,
)
from app.models.vocabulary import (
    PurposeCategory as Purpose,
)

if TYPE_CHECKING:
    from app.models.request_body import DataItem, SharingRequestBody
    from app.rules.facts import Facts
    from app.rules.policy import Policy, Provision  # policy.py checks its rule ids against the rulebooks, so it imports this module

PASS = FindingResult.PASS
CONDITION = FindingResult.CONDITION
REFER = FindingResult.REFER
REFUSE = FindingResult.REFUSE


class Edition(StrEnum):
    """The readings of the rules, oldest first: each shipped baseline version is one."""

    V2026_1 = "2026.1"
    V2027_1 = "2027.1"


EDITIONS = list(Edition)


class RuleId(StrEnum):
    CP1_PURPOSE_RECOGNISED = "CP1.purpose_recognised"
    CP1_DIRECT_CARE_RECIPIENT = "CP1.direct_care_recipient"
    CP2_IDENTIFIABLE_SECONDARY_USE = "CP2.identifiable_secondary_use"
    CP3_FULL_RECORD = "CP3.full_record"
    CP3_CATEGORY_SCOPE = "CP3.category_scope"
    CP3_BULK_IDENTIFIABLE = "CP3.bulk_identifiable"
    CP4_ONWARD_SHARING = "CP4.onward_sharing"
    CP4_NAMED_ACCESS = "CP4.named_access"
    CP5_STAFF_TRAINED = "CP5.staff_trained"
    CP5_DSPT = "CP5.dspt"
    CP6_ARTICLE9_CONDITION = "CP6.article9_condition"
    CP6_ARTICLE9_PURPOSE_FIT = "CP6.article9_purpose_fit"
    CP6_SCHEDULE1_PARAGRAPH = "CP6.schedule1_paragraph"
    CP6_VITAL_INTERESTS_CAPACITY = "CP6.vital_interests_capacity"
    CP6_PUBLIC_AUTHORITY_LI = "CP6.public_authority_li"
    CP6_CONSENT_BASIS_VALID = "CP6.consent_basis_valid"
    CP6_IMPLIED_CONSENT_SCOPE = "CP6.implied_consent_scope"
    CP6_REFERENCE_REQUIRED = "CP6.reference_required"
    CP6_LEGAL_REQUIREMENT_VERIFIED = "CP6.legal_requirement_verified"
    CP6_COURT_ORDER_VERIFIED = "CP6.court_order_verified"
    CP6_INTERNATIONAL_TRANSFER = "CP6.international_transfer"
    CP6_NATIONAL_DATA_OPT_OUT = "CP6.national_data_opt_out"
    CP7_EMERGENCY_SHARE = "CP7.emergency_share"
    CP8_TRANSPARENCY = "CP8.transparency"
    CONSENT_REFUSAL = "CONSENT.refusal"
    CONSENT_CAPACITY_INVALID = "CONSENT.capacity_invalid"
    CONSENT_BEST_INTERESTS = "CONSENT.best_interests"
    CONSENT_CHILD_COMPETENCE = "CONSENT.child_competence"
    CONSENT_PUBLIC_INTEREST = "CONSENT.public_interest"
    CONSENT_PROXY_AUTHORITY = "CONSENT.proxy_authority"
    STAT_RESTRICTED_CATEGORY = "STAT.restricted_category"
    PROP_RETENTION = "PROP.retention"
    DEC_DECEASED = "DEC.deceased"
    AGR_REGISTERED = "AGR.registered"
    AGR_IN_FORCE = "AGR.in_force"
    AGR_PARTY = "AGR.party"
    AGR_SCOPE = "AGR.scope"
    AGR_SYSTEMATIC = "AGR.systematic"


class Found(NamedTuple):
    """A rule's result, and which of its reasons for that result applies (None: its only one)."""

    result: FindingResult
    variant: str | None = None


PLAIN = MappingProxyType({result: Found(result) for result in FindingResult})
ALL_FORMS = frozenset(DataForm)
ALL_CATEGORIES = frozenset(DataCategory)
NOT_ANONYMISED = ALL_FORMS - {DataForm.ANONYMISED}
SAFEGUARDING = frozenset({Purpose.SAFEGUARDING_CHILD, Purpose.SAFEGUARDING_ADULT})
BULK_CHECKED_PURPOSES = SAFEGUARDING | {Purpose.DIRECT_CARE, Purpose.CRIME_PREVENTION, Purpose.REGULATORY}
PREJUDICE_ACCEPTED_PURPOSES = SAFEGUARDING | {Purpose.CRIME_PREVENTION, Purpose.COURT_ORDER}
EMERGENCY_PURPOSES = SAFEGUARDING | {Purpose.DIRECT_CARE}
SECONDARY_USE_BASES = frozenset({Conf.EXPLICIT_CONSENT, Conf.S251_SUPPORT, Conf.LEGAL_REQUIREMENT})
OPT_OUT_EXEMPT_BASES = frozenset({Conf.EXPLICIT_CONSENT, Conf.LEGAL_REQUIREMENT, Conf.OVERRIDING_PUBLIC_INTEREST})
REFERENCED_BASES = frozenset({Conf.S251_SUPPORT, Conf.LEGAL_REQUIREMENT, Conf.PERMISSIVE_GATEWAY})
PUBLIC_INTEREST_BASES = frozenset({Conf.OVERRIDING_PUBLIC_INTEREST, Conf.PERMISSIVE_GATEWAY})
DSPT_EXEMPT_TYPES = frozenset({OrganisationType.POLICE, OrganisationType.SCHOOL, OrganisationType.REGULATOR})
PUBLIC_AUTHORITY_TYPES = DSPT_EXEMPT_TYPES | {
    OrganisationType.NHS_TRUST,
    OrganisationType.GP_PRACTICE,
    OrganisationType.LOCAL_AUTHORITY,
}
DSPT_RESULTS = MappingProxyType(
    {
        DsptStatus.NOT_MET: REFER,
        DsptStatus.APPROACHING_STANDARDS: CONDITION,
        DsptStatus.NOT_PUBLISHED: CONDITION,
    }
)
# 2027.1
LEGITIMATE_INTERESTS = frozenset({Article6Basis.LEGITIMATE_INTERESTS, Article6Basis.RECOGNISED_LEGITIMATE_INTEREST})
REFUSALS = frozenset({ConsentStatus.REFUSED, ConsentStatus.WITHDRAWN})
DECIDED_CONSENT = REFUSALS | {ConsentStatus.GIVEN}
PROXIES = frozenset({ConsentGivenBy.ATTORNEY, ConsentGivenBy.DEPUTY})
NOT_A_DUTY = frozenset({ProvisionKind.POWER, ProvisionKind.EXEMPTION, ProvisionKind.NO_DUTY})
# Provisions that are an order, summons or notice: information governance must see the document itself.
COURT_PROVISIONS = frozenset({"court_order", "witness_summons", "coroners_notice"})
SCHEDULE1_PART2 = range(6, 29)  # DPA 2018 Sch. 1 Part 2: substantial public interest conditions
SCHEDULE1_SAFEGUARDING = 18
CAPACITY_PRESUMED = frozenset({AgeGroup.ADULT, AgeGroup.YOUNG_PERSON})  # MCA s.1(2): from 16


@dataclass(frozen=True, slots=True)
class Case:
    """One request under one policy, as a rule sees it; each rule's result is worked out once."""

    policy: Policy
    facts: Facts
    results: dict[RuleId, Found] = field(default_factory=dict)

    def result(self, rule_id: RuleId) -> FindingResult:
        """Another rule's result on this case, working it out if it has not run yet."""
        return self.found(rule_id).result

    def found(self, rule_id: RuleId) -> Found:
        """A rule's result and reason variant on this case, worked out once."""
        try:
            return self.results[rule_id]
        except KeyError:
            found = self.results[rule_id] = as_found(self.policy.rulebook[rule_id].check(self))
            return found

    def others(self, rule_id: RuleId) -> list[tuple[RuleId, FindingResult]]:
        """Every other rule of the policy with its result."""
        found = self.found
        return [(other, found(other).result) for other in self.policy.rule_ids if other != rule_id]

    @property
    def request(self) -> SharingRequestBody:
        """The sharing request under evaluation."""
        return self.facts.request

    @property
    def purpose(self) -> Purpose:
        """The purpose category of the request."""
        return self.facts.request.purpose.category

    @property
    def confidentiality(self) -> Conf:
        """The basis claimed under the common law duty of confidentiality."""
        return self.facts.request.legal_basis.confidentiality

    @property
    def requester_type(self) -> OrganisationType:
        """The type of the requesting organisation."""
        return self.facts.requester.type

    @property
    def items(self) -> list[DataItem]:
        """The data items asked for."""
        return self.facts.request.data_items

    def any_item(self, *, forms: frozenset[DataForm] = ALL_FORMS, categories: frozenset[DataCategory] = ALL_CATEGORIES) -> bool:
        """True when an item has one of `forms` and one of `categories`."""
        return any(item.form in forms and item.category in categories for item in self.items)

    def any_item_not_anonymised(self, categories: frozenset[DataCategory] = ALL_CATEGORIES) -> bool:
        """True when an item in `categories` is identifiable or pseudonymised."""
        return self.any_item(forms=NOT_ANONYMISED, categories=categories)

    def any_item_identifiable(self, categories: frozenset[DataCategory] = ALL_CATEGORIES) -> bool:
        """True when an item in `categories` is in identifiable form."""
        return self.any_item(forms=frozenset({DataForm.IDENTIFIABLE}), categories=categories)

    def special_data_about_the_living(self) -> bool:
        """The opening condition of the Article 9 rules: special category data, not anonymised, about living people."""
        return not self.request.subjects.deceased and self.any_item_not_anonymised(self.policy.definitions.special)

    @property
    def provision(self) -> Provision | None:
        """The registry entry of the provision the request cites, or None when it cites none the registry holds."""
        code = self.request.legal_basis.provision
        return None if code is None else self.policy.provision(code)

    def verified_duty(self) -> bool:
        """A legal requirement citing a registered duty that binds on this requester, for these data."""
        entry = self.provision
        return (
            self.confidentiality == Conf.LEGAL_REQUIREMENT
            and entry is not None
            and entry.kind == ProvisionKind.DUTY
            and (not entry.requesters or self.requester_type in entry.requesters)
            and (not entry.categories or all(item.category in entry.categories for item in self.items))
        )


Check = Callable[[Case], "FindingResult | Found"]


def as_found(value: FindingResult | Found) -> Found:
    """A check's answer as a Found, whether it named a reason variant or not."""
    return value if value.__class__ is Found else PLAIN[value]  # type: ignore[index]


@dataclass(frozen=True, slots=True)
class Rule:
    check: Check
    yields: frozenset[Found]  # the results other than pass that the rule can give, with their reason variants


# One rulebook per edition: the rules that run under it, each with its reading there.
RULEBOOKS: dict[Edition, dict[RuleId, Rule]] = {edition: {} for edition in Edition}


def implements(rule_id: RuleId, *yields: FindingResult | Found, since: Edition = Edition.V2026_1, until: Edition | None = None) -> Callable[[Check], Check]:
    """Register a check as a rule's reading from edition `since` up to, not including, `until`."""

    def register(check: Check) -> Check:
        for edition in EDITIONS[EDITIONS.index(since) : EDITIONS.index(until) if until else None]:
            RULEBOOKS[edition][rule_id] = Rule(check, frozenset(as_found(found) for found in yields))
        return check

    return register


def when(condition: bool, result: FindingResult | Found) -> FindingResult | Found:
    """`result` when the condition holds, else pass."""
    return result if condition else PASS


# Principle 1


@implements(RuleId.CP1_PURPOSE_RECOGNISED, REFER)
def purpose_recognised(case: Case) -> FindingResult | Found:
    """Refer a purpose the policy does not recognise."""
    return when(case.purpose == Purpose.OTHER, REFER)


@implements(RuleId.CP1_DIRECT_CARE_RECIPIENT, REFER, since=Edition.V2027_1)
def direct_care_recipient(case: Case) -> FindingResult | Found:
    """Refer "direct care" asked by an organisation that gives none (registered professionals give care)."""
    groups = case.policy.requester_groups
    return when(case.purpose == Purpose.DIRECT_CARE and case.requester_type in groups.non_care | {OrganisationType.OTHER}, REFER)


# Principle 2


@implements(RuleId.CP2_IDENTIFIABLE_SECONDARY_USE, REFUSE)
def identifiable_secondary_use(case: Case) -> FindingResult | Found:
    """Refuse identifiable data for secondary use without consent, s251 support or a legal duty."""
    return when(
        case.purpose in case.policy.definitions.secondary and case.any_item_identifiable() and case.confidentiality not in SECONDARY_USE_BASES,
        REFUSE,
    )


# Principle 3


@implements(RuleId.CP3_FULL_RECORD, REFER)
def full_record(case: Case) -> FindingResult | Found:
    """Refer a request for the full record unless a court orders it."""
    return when(
        case.any_item(categories=frozenset({DataCategory.FULL_RECORD})) and case.purpose != Purpose.COURT_ORDER,
        REFER,
    )


@implements(RuleId.CP3_CATEGORY_SCOPE, REFER)
def category_scope(case: Case) -> FindingResult | Found:
    """Refer a category the proportionality matrix does not allow for the purpose."""
    if case.purpose == Purpose.OTHER:
        return PASS
    allowed = case.policy.allowed_categories[case.purpose] | {DataCategory.FULL_RECORD}
    return when(any(item.category not in allowed for item in case.items), REFER)


@implements(RuleId.CP3_BULK_IDENTIFIABLE, REFER)
def bulk_identifiable(case: Case) -> FindingResult | Found:
    """Refer identifiable data about many people for purposes that concern individuals."""
    return when(
        case.request.subjects.count > case.policy.thresholds.bulk_subjects and case.any_item_identifiable() and case.purpose in BULK_CHECKED_PURPOSES,
        REFER,
    )


@implements(RuleId.PROP_RETENTION, CONDITION)
def retention(case: Case) -> FindingResult | Found:
    """Limit retention beyond the threshold, except for care records."""
    return when(
        case.purpose != Purpose.DIRECT_CARE and case.request.recipient.retention_days > case.policy.thresholds.retention_days,
        CONDITION,
    )


# Principle 4


@implements(RuleId.CP4_ONWARD_SHARING, REFER)
def onward_sharing(case: Case) -> FindingResult | Found:
    """Refer a recipient that means to pass the data on."""
    return when(case.request.recipient.onward_sharing, REFER)


@implements(RuleId.CP4_NAMED_ACCESS, CONDITION)
def named_access(case: Case) -> FindingResult | Found:
    """Ask for named roles when none is given."""
    return when(not any(role.strip() for role in case.request.recipient.access_roles), CONDITION)


# Principle 5


@implements(RuleId.CP5_STAFF_TRAINED, CONDITION)
def staff_trained(case: Case) -> FindingResult | Found:
    """Ask for training when the recipient's staff are not trained."""
    return when(not case.request.recipient.staff_trained, CONDITION)


@implements(RuleId.CP5_DSPT, REFER, CONDITION, until=Edition.V2027_1)
def dspt(case: Case) -> FindingResult | Found:
    """Weigh the requester's Data Security and Protection Toolkit result where the toolkit applies."""
    if case.requester_type in DSPT_EXEMPT_TYPES:
        return PASS
    return DSPT_RESULTS.get(case.facts.requester.dspt_status, PASS)


@implements(RuleId.CP5_DSPT, REFER, CONDITION, Found(CONDITION, "direct_care"), Found(REFER, "not_published"), since=Edition.V2027_1)
def dspt_2027(case: Case) -> FindingResult | Found:
    """As 2026.1, but care does not wait on the toolkit, and an unpublished one is referred for identifiable special data to some requesters."""
    status = case.facts.requester.dspt_status
    if case.requester_type in DSPT_EXEMPT_TYPES or status not in DSPT_RESULTS:
        return PASS
    if case.purpose == Purpose.DIRECT_CARE:
        return Found(CONDITION, "direct_care")
    if (
        status == DsptStatus.NOT_PUBLISHED
        and case.requester_type in case.policy.requester_groups.unpublished_toolkit_referred
        and case.any_item_identifiable(case.policy.definitions.special)
    ):
        return Found(REFER, "not_published")
    return DSPT_RESULTS[status]


# Principle 6


@implements(RuleId.CP6_ARTICLE9_CONDITION, REFUSE)
def article9_condition(case: Case) -> FindingResult | Found:
    """Refuse special category data about the living without an Art. 9 condition."""
    return when(case.special_data_about_the_living() and case.request.legal_basis.article_9 is None, REFUSE)


@implements(RuleId.CP6_ARTICLE9_PURPOSE_FIT, REFUSE, REFER, Found(REFUSE, "professional_secrecy"), since=Edition.V2027_1)
def article9_purpose_fit(case: Case) -> FindingResult | Found:
    """Check that the Art. 9 condition fits the purpose, and that 9(2)(h) goes only to recipients under professional secrecy."""
    condition = case.request.legal_basis.article_9
    if condition is None or not case.special_data_about_the_living():
        return PASS
    if condition == Article9Condition.HEALTH_SOCIAL_CARE and case.requester_type in case.policy.requester_groups.no_professional_secrecy:
        return Found(REFUSE, "professional_secrecy")
    fit = case.policy.article9_purpose_fit[case.purpose]
    if condition in fit.pass_:
        return PASS
    return REFER if condition in fit.refer else REFUSE


@implements(RuleId.CP6_SCHEDULE1_PARAGRAPH, CONDITION, REFER, since=Edition.V2027_1)
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


@implements(RuleId.CP6_VITAL_INTERESTS_CAPACITY, REFUSE, until=Edition.V2027_1)
def vital_interests_capacity(case: Case) -> FindingResult | Found:
    """Refuse Art. 9 vital interests for a person able to consent."""
    return when(
        case.request.legal_basis.article_9 == Article9Condition.VITAL_INTERESTS and case.request.consent.capacity == Capacity.HAS_CAPACITY,
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
    if case.request.legal_basis.article_9 != Article9Condition.VITAL_INTERESTS or consent.capacity == Capacity.LACKS_CAPACITY:
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
        case.request.legal_basis.article_6 == Article6Basis.LEGITIMATE_INTERESTS and case.requester_type in PUBLIC_AUTHORITY_TYPES,
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
        basis.article_6 == Article6Basis.CONSENT or basis.article_9 == Article9Condition.EXPLICIT_CONSENT or basis.confidentiality == Conf.EXPLICIT_CONSENT
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
        case.confidentiality == Conf.IMPLIED_CONSENT and (case.purpose != Purpose.DIRECT_CARE or case.requester_type in case.policy.requester_groups.non_care),
        REFUSE,
    )


@implements(RuleId.CP6_REFERENCE_REQUIRED, REFUSE)
def reference_required(case: Case) -> FindingResult | Found:
    """Refuse a statutory, s251 or court basis that cites no reference."""
    reference = case.request.legal_basis.reference
    needs_reference = case.confidentiality in REFERENCED_BASES or case.purpose == Purpose.COURT_ORDER
    return when(needs_reference and not (reference and reference.strip()), REFUSE)


@implements(
    RuleId.CP6_LEGAL_REQUIREMENT_VERIFIED,
    REFUSE,
    Found(REFER, "unverified"),
    Found(REFER, "on_belief"),
    Found(REFER, "outside_duty"),
    since=Edition.V2027_1,
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


@implements(RuleId.CP6_COURT_ORDER_VERIFIED, CONDITION, since=Edition.V2027_1)
def court_order_verified(case: Case) -> FindingResult | Found:
    """Information governance sees the sealed order, summons or notice, and only what it specifies is disclosed."""
    return when(case.purpose == Purpose.COURT_ORDER or case.request.legal_basis.provision in COURT_PROVISIONS, CONDITION)


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
    """Ask for the opt-out on secondary uses and s251 disclosures, unless consent, the public interest, a duty or regulation 3 exempts them."""
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
    exempt = case.purpose == Purpose.COURT_ORDER or (case.request.consent.status == ConsentStatus.GIVEN and case.confidentiality == Conf.EXPLICIT_CONSENT)
    return when(not exempt and case.any_item_not_anonymised(case.policy.definitions.restricted), REFER)


@implements(RuleId.STAT_RESTRICTED_CATEGORY, REFER, since=Edition.V2027_1)
def restricted_category_2027(case: Case) -> FindingResult | Found:
    """Refer categories under statutory restriction unless a court orders or the person themself consents."""
    consent = case.request.consent
    exempt = case.purpose == Purpose.COURT_ORDER or (
        consent.status == ConsentStatus.GIVEN and case.confidentiality == Conf.EXPLICIT_CONSENT and consent.given_by == ConsentGivenBy.SUBJECT
    )
    return when(not exempt and case.any_item_not_anonymised(case.policy.definitions.restricted), REFER)


@implements(RuleId.DEC_DECEASED, REFER, until=Edition.V2027_1)
def deceased(case: Case) -> FindingResult | Found:
    """Refer records of the dead unless a court orders them."""
    return when(case.request.subjects.deceased and case.purpose != Purpose.COURT_ORDER, REFER)


@implements(RuleId.DEC_DECEASED, REFER, since=Edition.V2027_1)
def deceased_2027(case: Case) -> FindingResult | Found:
    """Refer records of the dead unless a court, a summons or a coroner requires them."""
    required = case.verified_duty() and case.request.legal_basis.provision in COURT_PROVISIONS
    return when(case.request.subjects.deceased and case.purpose != Purpose.COURT_ORDER and not required, REFER)


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


@implements(RuleId.CP7_EMERGENCY_SHARE, CONDITION, since=Edition.V2027_1)
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


@implements(RuleId.CONSENT_REFUSAL, REFUSE, REFER, Found(REFER, "proxy"), since=Edition.V2027_1)
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


@implements(RuleId.CONSENT_CAPACITY_INVALID, REFUSE)
def capacity_invalid(case: Case) -> FindingResult | Found:
    """Refuse consent said to come from a person who lacks capacity."""
    consent = case.request.consent
    return when(
        consent.status == ConsentStatus.GIVEN and consent.given_by == ConsentGivenBy.SUBJECT and consent.capacity == Capacity.LACKS_CAPACITY,
        REFUSE,
    )


@implements(RuleId.CONSENT_BEST_INTERESTS, REFER)
def best_interests(case: Case) -> FindingResult | Found:
    """Refer care sharing for a person lacking capacity without a best-interests decision."""
    consent = case.request.consent
    return when(
        consent.capacity == Capacity.LACKS_CAPACITY and case.purpose == Purpose.DIRECT_CARE and not consent.best_interests_decision,
        REFER,
    )


@implements(RuleId.CONSENT_CHILD_COMPETENCE, REFER)
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


@implements(RuleId.AGR_SYSTEMATIC, CONDITION)
def agreement_systematic(case: Case) -> FindingResult | Found:
    """Ask for an agreement when data that is not anonymised about several people is shared without one."""
    return when(
        case.request.sharing_agreement is None and case.request.subjects.count > 1 and case.purpose != Purpose.COURT_ORDER and case.any_item_not_anonymised(),
        CONDITION,
    )


class Finding(BaseModel):
    """What one rule found, and why."""

    model_config = ConfigDict(frozen=True)

    rule: str
    principle: int | None
    principle_title: str
    result: FindingResult
    reason: str


class Evaluation(BaseModel):
    """The outcome of every rule on one request, combined."""

    model_config = ConfigDict(frozen=True)

    outcome: Outcome
    findings: list[Finding]
    conditions: list[str]
    review_required: bool


def evaluate(policy: Policy, facts: Facts) -> Evaluation:
    """Run every rule of the policy on the facts and combine the findings."""
    case = Case(policy, facts)
    results = case.results
    for rule_id, check in policy.checks:
        if rule_id not in results:  # a rule another one asked for has run already
            results[rule_id] = as_found(check(case))
    known = policy.findings
    findings = [known[rule_id, results[rule_id]] for rule_id in policy.rule_ids]
    emergency = case.result(RuleId.CP7_EMERGENCY_SHARE) == CONDITION
    outcome = combine({finding.result for finding in findings}, emergency=emergency)
    # A refusal carries no conditions: listing them would read as "meet these and it is approved".
    conditions = [] if outcome == Outcome.REFUSE else [finding.reason for finding in findings if finding.result == CONDITION]
    return Evaluation(outcome=outcome, findings=findings, conditions=conditions, review_required=emergency)


def combine(results: Iterable[FindingResult], *, emergency: bool) -> Outcome:
    """Refuse beats refer beats condition; an emergency share turns a referral into conditions."""
    results = set(results)
    if REFUSE in results:
        return Outcome.REFUSE
    if REFER in results and not emergency:
        return Outcome.REFER
    if CONDITION in results:
        return Outcome.APPROVE_WITH_CONDITIONS
    return Outcome.APPROVE
