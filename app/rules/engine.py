"""The rules of section 4 of the brief as pure functions, and how their findings combine."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from app.models.request_body import DataItem, SharingRequestBody
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
from app.rules.facts import Facts

if TYPE_CHECKING:  # policy.py checks its rule ids against RULES, so it imports this module
    from app.rules.policy import Policy

PASS = FindingResult.PASS
CONDITION = FindingResult.CONDITION
REFER = FindingResult.REFER
REFUSE = FindingResult.REFUSE


class RuleId(StrEnum):
    CP1_PURPOSE_RECOGNISED = "CP1.purpose_recognised"
    CP2_IDENTIFIABLE_SECONDARY_USE = "CP2.identifiable_secondary_use"
    CP3_FULL_RECORD = "CP3.full_record"
    CP3_CATEGORY_SCOPE = "CP3.category_scope"
    CP3_BULK_IDENTIFIABLE = "CP3.bulk_identifiable"
    CP4_ONWARD_SHARING = "CP4.onward_sharing"
    CP4_NAMED_ACCESS = "CP4.named_access"
    CP5_STAFF_TRAINED = "CP5.staff_trained"
    CP5_DSPT = "CP5.dspt"
    CP6_ARTICLE9_CONDITION = "CP6.article9_condition"
    CP6_VITAL_INTERESTS_CAPACITY = "CP6.vital_interests_capacity"
    CP6_PUBLIC_AUTHORITY_LI = "CP6.public_authority_li"
    CP6_CONSENT_BASIS_VALID = "CP6.consent_basis_valid"
    CP6_IMPLIED_CONSENT_SCOPE = "CP6.implied_consent_scope"
    CP6_REFERENCE_REQUIRED = "CP6.reference_required"
    CP6_INTERNATIONAL_TRANSFER = "CP6.international_transfer"
    CP6_NATIONAL_DATA_OPT_OUT = "CP6.national_data_opt_out"
    CP7_EMERGENCY_SHARE = "CP7.emergency_share"
    CP8_TRANSPARENCY = "CP8.transparency"
    CONSENT_REFUSAL = "CONSENT.refusal"
    CONSENT_CAPACITY_INVALID = "CONSENT.capacity_invalid"
    CONSENT_BEST_INTERESTS = "CONSENT.best_interests"
    CONSENT_CHILD_COMPETENCE = "CONSENT.child_competence"
    CONSENT_PUBLIC_INTEREST = "CONSENT.public_interest"
    STAT_RESTRICTED_CATEGORY = "STAT.restricted_category"
    PROP_RETENTION = "PROP.retention"
    DEC_DECEASED = "DEC.deceased"
    AGR_REGISTERED = "AGR.registered"
    AGR_IN_FORCE = "AGR.in_force"
    AGR_PARTY = "AGR.party"
    AGR_SCOPE = "AGR.scope"
    AGR_SYSTEMATIC = "AGR.systematic"


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


@dataclass(frozen=True, slots=True)
class Case:
    """One request under one policy, as a rule sees it."""

    policy: Policy
    facts: Facts
    # Results of the ordinary rules; filled in only for the rules that run after them.
    others: Mapping[str, FindingResult] = field(default_factory=lambda: MappingProxyType({}))

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
    def items(self) -> list[DataItem]:
        """The data items asked for."""
        return self.facts.request.data_items

    def any_item(self, *, forms: frozenset[DataForm] = ALL_FORMS, categories: frozenset[DataCategory] = ALL_CATEGORIES) -> bool:
        """True when an item has one of `forms` and one of `categories`."""
        return any(item.form in forms and item.category in categories for item in self.items)

    def any_item_not_anonymised(self, categories: frozenset[DataCategory] = ALL_CATEGORIES) -> bool:
        """True when an item in `categories` is identifiable or pseudonymised."""
        return self.any_item(forms=NOT_ANONYMISED, categories=categories)

    def any_item_identifiable(self) -> bool:
        """True when an item is in identifiable form."""
        return self.any_item(forms=frozenset({DataForm.IDENTIFIABLE}))


Check = Callable[[Case], FindingResult]


@dataclass(frozen=True, slots=True)
class Rule:
    check: Check
    yields: frozenset[FindingResult]  # the results other than pass that the rule can give
    after_others: bool = False  # runs once every other rule has a result


RULES: dict[RuleId, Rule] = {}


def implements(rule_id: RuleId, *yields: FindingResult, after_others: bool = False) -> Callable[[Check], Check]:
    """Register a check as the implementation of a rule."""

    def register(check: Check) -> Check:
        RULES[rule_id] = Rule(check, frozenset(yields), after_others)
        return check

    return register


def when(condition: bool, result: FindingResult) -> FindingResult:
    """`result` when the condition holds, else pass."""
    return result if condition else PASS


# Principle 1


@implements(RuleId.CP1_PURPOSE_RECOGNISED, REFER)
def purpose_recognised(case: Case) -> FindingResult:
    """Refer a purpose the policy does not recognise."""
    return when(case.purpose == Purpose.OTHER, REFER)


# Principle 2


@implements(RuleId.CP2_IDENTIFIABLE_SECONDARY_USE, REFUSE)
def identifiable_secondary_use(case: Case) -> FindingResult:
    """Refuse identifiable data for secondary use without consent, s251 support or a legal duty."""
    return when(
        case.purpose in case.policy.definitions.secondary and case.any_item_identifiable() and case.confidentiality not in SECONDARY_USE_BASES,
        REFUSE,
    )


# Principle 3


@implements(RuleId.CP3_FULL_RECORD, REFER)
def full_record(case: Case) -> FindingResult:
    """Refer a request for the full record unless a court orders it."""
    return when(
        case.any_item(categories=frozenset({DataCategory.FULL_RECORD})) and case.purpose != Purpose.COURT_ORDER,
        REFER,
    )


@implements(RuleId.CP3_CATEGORY_SCOPE, REFER)
def category_scope(case: Case) -> FindingResult:
    """Refer a category the proportionality matrix does not allow for the purpose."""
    if case.purpose == Purpose.OTHER:
        return PASS
    allowed = case.policy.allowed_categories[case.purpose] | {DataCategory.FULL_RECORD}
    return when(any(item.category not in allowed for item in case.items), REFER)


@implements(RuleId.CP3_BULK_IDENTIFIABLE, REFER)
def bulk_identifiable(case: Case) -> FindingResult:
    """Refer identifiable data about many people for purposes that concern individuals."""
    return when(
        case.request.subjects.count > case.policy.thresholds.bulk_subjects and case.any_item_identifiable() and case.purpose in BULK_CHECKED_PURPOSES,
        REFER,
    )


@implements(RuleId.PROP_RETENTION, CONDITION)
def retention(case: Case) -> FindingResult:
    """Limit retention beyond the threshold, except for care records."""
    return when(
        case.purpose != Purpose.DIRECT_CARE and case.request.recipient.retention_days > case.policy.thresholds.retention_days,
        CONDITION,
    )


# Principle 4


@implements(RuleId.CP4_ONWARD_SHARING, REFER)
def onward_sharing(case: Case) -> FindingResult:
    """Refer a recipient that means to pass the data on."""
    return when(case.request.recipient.onward_sharing, REFER)


@implements(RuleId.CP4_NAMED_ACCESS, CONDITION)
def named_access(case: Case) -> FindingResult:
    """Ask for named roles when none is given."""
    return when(not any(role.strip() for role in case.request.recipient.access_roles), CONDITION)


# Principle 5


@implements(RuleId.CP5_STAFF_TRAINED, CONDITION)
def staff_trained(case: Case) -> FindingResult:
    """Ask for training when the recipient's staff are not trained."""
    return when(not case.request.recipient.staff_trained, CONDITION)


@implements(RuleId.CP5_DSPT, REFER, CONDITION)
def dspt(case: Case) -> FindingResult:
    """Weigh the requester's Data Security and Protection Toolkit result where the toolkit applies."""
    requester = case.facts.requester
    if requester.type in DSPT_EXEMPT_TYPES:
        return PASS
    return DSPT_RESULTS.get(requester.dspt_status, PASS)


# Principle 6


@implements(RuleId.CP6_ARTICLE9_CONDITION, REFUSE)
def article9_condition(case: Case) -> FindingResult:
    """Refuse special category data about the living without an Art. 9 condition."""
    return when(
        not case.request.subjects.deceased and case.any_item_not_anonymised(case.policy.definitions.special) and case.request.legal_basis.article_9 is None,
        REFUSE,
    )


@implements(RuleId.CP6_VITAL_INTERESTS_CAPACITY, REFUSE)
def vital_interests_capacity(case: Case) -> FindingResult:
    """Refuse Art. 9 vital interests for a person able to consent."""
    return when(
        case.request.legal_basis.article_9 == Article9Condition.VITAL_INTERESTS and case.request.consent.capacity == Capacity.HAS_CAPACITY,
        REFUSE,
    )


@implements(RuleId.CP6_PUBLIC_AUTHORITY_LI, REFUSE)
def public_authority_li(case: Case) -> FindingResult:
    """Refuse legitimate interests relied on by a public authority."""
    return when(
        case.request.legal_basis.article_6 == Article6Basis.LEGITIMATE_INTERESTS and case.facts.requester.type in PUBLIC_AUTHORITY_TYPES,
        REFUSE,
    )


@implements(RuleId.CP6_CONSENT_BASIS_VALID, REFUSE)
def consent_basis_valid(case: Case) -> FindingResult:
    """Refuse a basis in consent when consent has not been given."""
    basis = case.request.legal_basis
    relies_on_consent = (
        basis.article_6 == Article6Basis.CONSENT or basis.article_9 == Article9Condition.EXPLICIT_CONSENT or basis.confidentiality == Conf.EXPLICIT_CONSENT
    )
    return when(relies_on_consent and case.request.consent.status != ConsentStatus.GIVEN, REFUSE)


@implements(RuleId.CP6_IMPLIED_CONSENT_SCOPE, REFUSE)
def implied_consent_scope(case: Case) -> FindingResult:
    """Refuse implied consent beyond direct care."""
    return when(case.confidentiality == Conf.IMPLIED_CONSENT and case.purpose != Purpose.DIRECT_CARE, REFUSE)


@implements(RuleId.CP6_REFERENCE_REQUIRED, REFUSE)
def reference_required(case: Case) -> FindingResult:
    """Refuse a statutory, s251 or court basis that cites no reference."""
    reference = case.request.legal_basis.reference
    needs_reference = case.confidentiality in REFERENCED_BASES or case.purpose == Purpose.COURT_ORDER
    return when(needs_reference and not (reference and reference.strip()), REFUSE)


@implements(RuleId.CP6_INTERNATIONAL_TRANSFER, REFUSE)
def international_transfer(case: Case) -> FindingResult:
    """Refuse storage abroad without adequacy or Art. 46 safeguards."""
    return when(case.request.recipient.storage_region == StorageRegion.OTHER, REFUSE)


@implements(RuleId.CP6_NATIONAL_DATA_OPT_OUT, CONDITION)
def national_data_opt_out(case: Case) -> FindingResult:
    """Ask for the national data opt-out to be applied to secondary uses."""
    return when(
        case.purpose in case.policy.definitions.secondary
        and case.any_item_not_anonymised()
        and case.confidentiality not in OPT_OUT_EXEMPT_BASES
        and not case.request.national_data_opt_out_applied,
        CONDITION,
    )


@implements(RuleId.STAT_RESTRICTED_CATEGORY, REFER)
def restricted_category(case: Case) -> FindingResult:
    """Refer categories under statutory restriction unless a court orders or the person consents."""
    exempt = case.purpose == Purpose.COURT_ORDER or (case.request.consent.status == ConsentStatus.GIVEN and case.confidentiality == Conf.EXPLICIT_CONSENT)
    return when(not exempt and case.any_item_not_anonymised(case.policy.definitions.restricted), REFER)


@implements(RuleId.DEC_DECEASED, REFER)
def deceased(case: Case) -> FindingResult:
    """Refer records of the dead unless a court orders them."""
    return when(case.request.subjects.deceased and case.purpose != Purpose.COURT_ORDER, REFER)


# Principle 7


@implements(RuleId.CP7_EMERGENCY_SHARE, CONDITION, after_others=True)
def emergency_share(case: Case) -> FindingResult:
    """Share at once, for retrospective review, when a life is at risk and only referrals stand in the way."""
    basis = case.request.legal_basis
    return when(
        case.request.urgency == Urgency.EMERGENCY
        and case.purpose in EMERGENCY_PURPOSES
        and (basis.article_6 == Article6Basis.VITAL_INTERESTS or basis.article_9 == Article9Condition.VITAL_INTERESTS)
        and REFER in case.others.values()
        and REFUSE not in case.others.values()
        and case.others[RuleId.STAT_RESTRICTED_CATEGORY] == PASS,
        CONDITION,
    )


# Principle 8


@implements(RuleId.CP8_TRANSPARENCY, CONDITION, REFER)
def transparency(case: Case) -> FindingResult:
    """Ask for the person to be informed, or refer withholding it outside the purposes that justify it."""
    informed = case.request.transparency.subject_informed
    if informed == SubjectInformed.NO and not case.request.transparency.privacy_notice_covers_use:
        return CONDITION
    if informed == SubjectInformed.WOULD_PREJUDICE_PURPOSE and case.purpose not in PREJUDICE_ACCEPTED_PURPOSES:
        return REFER
    return PASS


# Consent and capacity


@implements(RuleId.CONSENT_REFUSAL, REFUSE, REFER)
def consent_refusal(case: Case) -> FindingResult:
    """Respect a capable refusal unless the law overrides it; the public interest is the guardian's call."""
    consent = case.request.consent
    overridden = (
        consent.capacity == Capacity.LACKS_CAPACITY
        or (consent.given_by == ConsentGivenBy.PARENT and case.purpose == Purpose.SAFEGUARDING_CHILD)
        or case.confidentiality == Conf.LEGAL_REQUIREMENT
        or case.purpose == Purpose.COURT_ORDER
    )
    if consent.status not in (ConsentStatus.REFUSED, ConsentStatus.WITHDRAWN) or overridden:
        return PASS
    return REFER if case.confidentiality in PUBLIC_INTEREST_BASES else REFUSE


@implements(RuleId.CONSENT_CAPACITY_INVALID, REFUSE)
def capacity_invalid(case: Case) -> FindingResult:
    """Refuse consent said to come from a person who lacks capacity."""
    consent = case.request.consent
    return when(
        consent.status == ConsentStatus.GIVEN and consent.given_by == ConsentGivenBy.SUBJECT and consent.capacity == Capacity.LACKS_CAPACITY,
        REFUSE,
    )


@implements(RuleId.CONSENT_BEST_INTERESTS, REFER)
def best_interests(case: Case) -> FindingResult:
    """Refer care sharing for a person lacking capacity without a best-interests decision."""
    consent = case.request.consent
    return when(
        consent.capacity == Capacity.LACKS_CAPACITY and case.purpose == Purpose.DIRECT_CARE and not consent.best_interests_decision,
        REFER,
    )


@implements(RuleId.CONSENT_CHILD_COMPETENCE, REFER)
def child_competence(case: Case) -> FindingResult:
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
def public_interest(case: Case) -> FindingResult:
    """Refer the public-interest test to the guardian unless a refusal already did."""
    return when(case.confidentiality in PUBLIC_INTEREST_BASES and consent_refusal(case) == PASS, REFER)


# Information sharing agreements


@implements(RuleId.AGR_REGISTERED, REFER)
def agreement_registered(case: Case) -> FindingResult:
    """Refer a request citing an agreement that is not registered."""
    return when(case.request.sharing_agreement is not None and case.facts.agreement is None, REFER)


@implements(RuleId.AGR_IN_FORCE, REFER, CONDITION)
def agreement_in_force(case: Case) -> FindingResult:
    """Check the agreement is active today; care does not wait on paperwork."""
    agreement = case.facts.agreement
    if agreement is None or agreement.in_force_on(case.facts.today):
        return PASS
    return CONDITION if case.purpose == Purpose.DIRECT_CARE else REFER


@implements(RuleId.AGR_PARTY, REFER)
def agreement_party(case: Case) -> FindingResult:
    """Refer a requester that is not a party to the agreement it cites."""
    agreement = case.facts.agreement
    return when(agreement is not None and case.facts.requester.code not in agreement.parties, REFER)


@implements(RuleId.AGR_SCOPE, REFER, CONDITION)
def agreement_scope(case: Case) -> FindingResult:
    """Check the purpose and every category against the agreement; care does not wait on paperwork."""
    agreement = case.facts.agreement
    if agreement is None:
        return PASS
    outside = case.purpose not in agreement.purposes or any(item.category not in agreement.data_categories for item in case.items)
    if not outside:
        return PASS
    return CONDITION if case.purpose == Purpose.DIRECT_CARE else REFER


@implements(RuleId.AGR_SYSTEMATIC, CONDITION)
def agreement_systematic(case: Case) -> FindingResult:
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
    results = {rule_id: rule.check(case) for rule_id, rule in RULES.items() if not rule.after_others}
    case = Case(policy, facts, others=MappingProxyType(dict(results)))
    results |= {rule_id: rule.check(case) for rule_id, rule in RULES.items() if rule.after_others}

    findings = [policy.findings[rule_id, results[rule_id]] for rule_id in policy.rules]
    emergency = results[RuleId.CP7_EMERGENCY_SHARE] == CONDITION
    outcome = combine(set(results.values()), emergency=emergency)
    # A refusal carries no conditions: listing them would read as "meet these and it is approved".
    conditions = [] if outcome == Outcome.REFUSE else [finding.reason for finding in findings if finding.result == CONDITION]
    return Evaluation(outcome=outcome, findings=findings, conditions=conditions, review_required=emergency)


def combine(results: set[FindingResult], *, emergency: bool) -> Outcome:
    """Refuse beats refer beats condition; an emergency share turns a referral into conditions."""
    if REFUSE in results:
        return Outcome.REFUSE
    if REFER in results and not emergency:
        return Outcome.REFER
    if CONDITION in results:
        return Outcome.APPROVE_WITH_CONDITIONS
    return Outcome.APPROVE
