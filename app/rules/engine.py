"""How the rules of sections 4 and 4a of the brief are registered, run and combined.

The rules themselves live beside this module, by the principles they serve:
purpose_and_minimum.py (1 to 5), lawful_basis.py (6) and sharing_and_consent.py (7, 8,
consent, agreements). Rule logic is code, written once per edition of the baseline: a rule
that reads the same in every edition is registered once; a rule that 2027.1 changed has one
function per reading; a rule that 2027.1 added starts there. A policy (shipped or derived)
names its edition and tunes only parameters and texts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from app.models.vocabulary import (
    Article6Basis,
    Article9Condition,
    AttachmentKind,
    DataCategory,
    DataForm,
    FindingResult,
    OrganisationType,
    Outcome,
    ProvisionKind,
)
from app.models.vocabulary import (
    ConfidentialityBasis as Conf,
)
from app.models.vocabulary import (
    PurposeCategory as Purpose,
)
from app.rules.groups import ALL_CATEGORIES, ALL_FORMS, COURT_PROVISIONS, NOT_ANONYMISED

if TYPE_CHECKING:
    from app.models.request_body import DataItem, SharingRequestBody
    from app.rules.facts import Facts
    from app.rules.policy import (
        Policy,
        Provision,
    )  # a Policy builds its rulebook and findings from this module, so policy.py imports it

PASS = FindingResult.PASS
CONDITION = FindingResult.CONDITION
REFER = FindingResult.REFER
REFUSE = FindingResult.REFUSE


class Edition(StrEnum):
    """The readings of the rules, oldest first: each shipped baseline version is one."""

    V2026_1 = "2026.1"
    V2027_1 = "2027.1"
    V2028_1 = "2028.1"


EDITIONS = list(Edition)
# The edition that may still decide: the older ones approve disclosures UK law does not allow (brief section 7), so
# they, and every policy derived from them, are kept for replay and dry runs by name only.
CURRENT_EDITION = Edition.V2028_1


class RuleId(StrEnum):
    CP1_PURPOSE_RECOGNISED = "CP1.purpose_recognised"
    CP1_DIRECT_CARE_RECIPIENT = "CP1.direct_care_recipient"
    CP1_PURPOSE_REQUESTER_FIT = "CP1.purpose_requester_fit"
    CP2_IDENTIFIABLE_SECONDARY_USE = "CP2.identifiable_secondary_use"
    CP3_FULL_RECORD = "CP3.full_record"
    CP3_CATEGORY_SCOPE = "CP3.category_scope"
    CP3_BULK_IDENTIFIABLE = "CP3.bulk_identifiable"
    CP4_ONWARD_SHARING = "CP4.onward_sharing"
    CP4_NAMED_ACCESS = "CP4.named_access"
    CP5_STAFF_TRAINED = "CP5.staff_trained"
    CP5_DSPT = "CP5.dspt"
    CP6_ARTICLE9_CONDITION = "CP6.article9_condition"
    CP6_ARTICLE10_CONDITION = "CP6.article10_condition"
    CP6_NOT_CONFIDENTIAL_SCOPE = "CP6.not_confidential_scope"
    CP6_SINGLE_SUBJECT_ANONYMISED = "CP6.single_subject_anonymised"
    CP6_GATEWAY_KIND = "CP6.gateway_kind"
    CP6_S251_VERIFIED = "CP6.s251_verified"
    CP6_ARTICLE9_PURPOSE_FIT = "CP6.article9_purpose_fit"
    CP6_SCHEDULE1_PARAGRAPH = "CP6.schedule1_paragraph"
    CP6_VITAL_INTERESTS_CAPACITY = "CP6.vital_interests_capacity"
    CP6_PUBLIC_AUTHORITY_LI = "CP6.public_authority_li"
    CP6_CONSENT_BASIS_VALID = "CP6.consent_basis_valid"
    CP6_IMPLIED_CONSENT_SCOPE = "CP6.implied_consent_scope"
    CP6_REFERENCE_REQUIRED = "CP6.reference_required"
    CP6_LEGAL_REQUIREMENT_VERIFIED = "CP6.legal_requirement_verified"
    CP6_COURT_ORDER_VERIFIED = "CP6.court_order_verified"
    CP6_POLICE_REQUEST_FORM = "CP6.police_request_form"
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
    CONSENT_PROXY_SCOPE = "CONSENT.proxy_scope"
    CONSENT_THIRD_PARTY_CONSENT = "CONSENT.third_party_consent"
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
DEFAULT_VARIANT = "default"  # the name of a rule's plain reason, where it has variants


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

    def attached(self, kinds: Iterable[AttachmentKind]) -> bool:
        """True when evidence of one of these kinds is attached to the request."""
        return not self.facts.evidence.isdisjoint(kinds)

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

    def any_item(
        self, *, forms: frozenset[DataForm] = ALL_FORMS, categories: frozenset[DataCategory] = ALL_CATEGORIES
    ) -> bool:
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
        """A legal requirement citing a registered duty that binds on this requester, for this purpose,
        these data and this many people.

        A 2027.1 registry gives no purposes or numbers,
        so this is 2027.1's reading there and 2028.1's where the registry limits them."""
        entry = self.provision
        return (
            self.confidentiality == Conf.LEGAL_REQUIREMENT
            and entry is not None
            and entry.kind == ProvisionKind.DUTY
            and self.within_limits(entry)
        )

    def within_limits(self, entry: Provision) -> bool:
        """The request is inside every limit the registry entry gives:
        requesters, purposes, categories and number of people."""
        return (
            (not entry.requesters or self.requester_type in entry.requesters)
            and (not entry.purposes or self.purpose in entry.purposes)
            and (not entry.categories or all(item.category in entry.categories for item in self.items))
            and (entry.max_subjects is None or self.request.subjects.count <= entry.max_subjects)
        )

    def court_verified(self) -> bool:
        """A verified duty that is an order, a summons or a coroner's notice (2028.1)."""
        return self.request.legal_basis.provision in COURT_PROVISIONS and self.verified_duty()

    def relies_on_consent(self) -> bool:
        """Consent is a basis of the request: Art. 6 consent, Art. 9 explicit consent,
        or explicit consent under the duty of confidence."""
        basis = self.request.legal_basis
        return (
            basis.article_6 == Article6Basis.CONSENT
            or basis.article_9 == Article9Condition.EXPLICIT_CONSENT
            or basis.confidentiality == Conf.EXPLICIT_CONSENT
        )

    def cp2_basis(self) -> bool:
        """Explicit consent, section 251 support, or a verified duty: what identifiable secondary use needs (2028.1)."""
        return self.confidentiality in (Conf.EXPLICIT_CONSENT, Conf.S251_SUPPORT) or self.verified_duty()

    def referrals(self, rule_id: RuleId) -> dict[RuleId, str]:
        """Every other rule that refers, with the reason variant it refers with ("default" for its plain reason)."""
        found = self.found
        return {
            other: found(other).variant or DEFAULT_VARIANT
            for other in self.policy.rule_ids
            if other != rule_id and found(other).result == REFER
        }


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
# Rules of an edition that run only under a policy that lists them, each with the policy section it reads:
# a baseline without them is whole, and a policy that lists one must have its section.
OPTIONAL_RULES: Mapping[RuleId, str] = MappingProxyType(
    {RuleId.CP6_POLICE_REQUEST_FORM: "evidence.police_request_form"}
)


def implements(
    rule_id: RuleId, *yields: FindingResult | Found, since: Edition = Edition.V2026_1, until: Edition | None = None
) -> Callable[[Check], Check]:
    """Register a check as a rule's reading from edition `since` up to, not including, `until`."""

    def register(check: Check) -> Check:
        for edition in EDITIONS[EDITIONS.index(since) : EDITIONS.index(until) if until else None]:
            RULEBOOKS[edition][rule_id] = Rule(check, frozenset(as_found(found) for found in yields))
        return check

    return register


def when(condition: bool, result: FindingResult | Found) -> FindingResult | Found:
    """`result` when the condition holds, else pass."""
    return result if condition else PASS


class Finding(BaseModel):
    """What one rule found, and why."""

    model_config = ConfigDict(frozen=True)

    rule: str = Field(
        description=(
            "The rule's id, such as `CP3.category_scope` or `CONSENT.refusal`: a principle (`CP1` "
            "to `CP8`) or an area (`CONSENT`, `STAT`, `PROP`, `DEC`, `AGR`, `EDITION`) and a name."
        )
    )
    principle: int | None = Field(
        description=(
            "The Caldicott principle (1 to 8) the rule belongs to; null for an area beside the "
            "principles, such as consent or agreements."
        )
    )
    principle_title: str = Field(description="The principle or area as the policy names it.")
    result: FindingResult = Field(description="What the rule found: `pass`, `condition`, `refer` or `refuse`.")
    reason: str = Field(
        description=(
            "Why, in plain English, from the policy's reason texts; for a `condition` it is the condition's text."
        )
    )

    @cached_property
    def stored(self) -> dict[str, Any]:
        """Its JSON form as a decision record keeps it, made once:
        a policy's findings are built once and frozen (app/rules/policy.py)."""
        return self.model_dump(mode="json")


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
    conditions = (
        [] if outcome == Outcome.REFUSE else [finding.reason for finding in findings if finding.result == CONDITION]
    )
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
