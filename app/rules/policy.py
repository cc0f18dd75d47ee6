"""The policy as data: definitions, matrix, thresholds, rules and their reasons
(policy_documents.py reads and checks them)."""

from collections.abc import Callable, Mapping
from datetime import date
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
)

from app.models.base import CalendarDate
from app.models.vocabulary import (
    Article9Condition,
    AttachmentKind,
    ConsultedRole,
    DataCategory,
    FindingResult,
    OrganisationType,
    ProvisionKind,
    PurposeCategory,
    Urgency,
)
from app.rules.engine import CURRENT_EDITION, DEFAULT_VARIANT, RULEBOOKS, Edition, Finding, Found, Rule, RuleId


def _no_duplicates(values: Any) -> Any:
    """Refuse a list that names the same value twice (a list of lists or maps is left for the item type to refuse)."""
    if (
        isinstance(values, list)
        and all(isinstance(value, str | int) for value in values)
        and len(set(values)) != len(values)
    ):
        raise ValueError("a value is listed twice")
    return values


def _not_blank(text: str) -> str:
    """Refuse text that is empty or only spaces."""
    if not text.strip():
        raise ValueError("must not be blank")
    return text


Text = Annotated[str, StringConstraints(strict=True), AfterValidator(_not_blank)]
Count = Annotated[StrictInt, Field(gt=0)]
Principle = Annotated[StrictInt, Field(ge=1, le=8)]


def _digits_as_number(key: Any) -> Any:
    """A mapping key written as digits: JSON has only text keys, where YAML has numbers."""
    return int(key) if isinstance(key, str) and key.isascii() and key.isdigit() else key


PrincipleKey = Annotated[Principle, BeforeValidator(_digits_as_number)]
CategorySet = Annotated[frozenset[DataCategory], BeforeValidator(_no_duplicates)]
PurposeSet = Annotated[frozenset[PurposeCategory], BeforeValidator(_no_duplicates)]
TypeSet = Annotated[frozenset[OrganisationType], BeforeValidator(_no_duplicates)]
Article9Set = Annotated[frozenset[Article9Condition], BeforeValidator(_no_duplicates)]


class PolicyPart(BaseModel):
    """Unknown keys are refused: a misspelt key must not silently drop a rule or a threshold."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Definitions(PolicyPart):
    special: CategorySet
    restricted: CategorySet
    secondary: PurposeSet


class Thresholds(PolicyPart):
    bulk_subjects: Count
    retention_days: Count
    emergency_max_subjects: Count | None = None  # edition 2027.1 on
    anonymised_min_subjects: Count | None = (
        None  # edition 2028.1 on: fewer people than this, "anonymised" goes to a guardian
    )


# A reason is one text, or (for a rule that explains one result in several ways) a text per variant,
# the plain one under "default".
ReasonTexts = Text | dict[Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z_]+$")], Text]


class RulePolicy(PolicyPart):
    principle: Principle | None
    reasons: dict[FindingResult, ReasonTexts]


class ResponseUnit(StrEnum):
    HOURS = "hours"
    WORKING_DAYS = "working_days"


class ResponseTime(PolicyPart):
    amount: Count
    unit: ResponseUnit


class BaselineRef(PolicyPart):
    """The shipped baseline a derived policy tunes: its rules are that edition's."""

    name: Text
    version: Text


class RequesterGroups(PolicyPart):
    """Groups of organisation types the 2027.1 rules name."""

    non_care: TypeSet  # not bound by a duty of confidence as health or care professionals
    no_professional_secrecy: TypeSet  # Art. 9(3): cannot receive under Art. 9(2)(h)
    unpublished_toolkit_referred: TypeSet  # an unpublished toolkit is referred for identifiable special data
    third_party_consent: TypeSet | None = (
        None  # 2028.1: they collect consent themselves, and the holder sees none of it
    )


class Emergency(PolicyPart):
    """When the duty to share lets an emergency go ahead before a guardian looks (2027.1)."""

    purposes: PurposeSet
    waivable: Annotated[frozenset[RuleId], BeforeValidator(_no_duplicates)]
    # 2028.1: referrals waivable only when the rule gives them with one of these
    # reason variants (the rule logic adds when).
    waivable_variants: (
        dict[
            RuleId,
            Annotated[
                frozenset[Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z_]{1,40}$")]],
                BeforeValidator(_no_duplicates),
            ],
        ]
        | None
    ) = None

    def waives(self, rule_id: RuleId, variant: str) -> bool:
        """True when an emergency may go ahead past this rule's referral with this reason variant."""
        return rule_id in self.waivable or variant in (self.waivable_variants or {}).get(rule_id, ())


class Article9Fit(PolicyPart):
    """The Art. 9 conditions that fit a purpose, and those a guardian must confirm."""

    pass_: Article9Set = Field(alias="pass")
    refer: Article9Set


class Provision(PolicyPart):
    """One entry of the provisions registry (brief section 4a)."""

    code: Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z0-9_]{1,100}$")]
    title: Text
    kind: ProvisionKind
    requesters: TypeSet = frozenset()  # empty: the duty binds whoever asks
    categories: CategorySet = frozenset()  # empty: the duty covers every category
    # Edition 2028.1 on (brief section 4b).
    purposes: PurposeSet = frozenset()  # empty: any purpose
    max_subjects: Annotated[StrictInt, Field(gt=0, le=100_000_000)] | None = None  # None: no limit
    applies_after_death: StrictBool = False  # whether the duty reaches the records of people who have died
    requirement_seen: StrictBool = (
        False  # information governance sees the requirement, traced to the body the statute names
    )


class PanelRule(PolicyPart):
    """Which guardian decisions a panel must make, and how it decides.

    `size` is the number of members, the chair included, all guardians of the controller organisation. `quorum` is
    the number of standing votes for an outcome (approve, approve with conditions, refuse) without which the chair may
    not close the panel: abstentions and withdrawn votes do not count towards it. An outcome needs the votes of a
    majority of the `size` members (not of the votes cast) to decide; failing one, the chair's casting vote breaks
    only a real tie between the leading outcomes, once every member has voted or the request's due time has passed.
    """

    size: Annotated[StrictInt, Field(ge=2, le=9)] = 3
    quorum: Count = 2  # standing votes for an outcome (abstentions not counted) before the chair may close the panel
    # An approval (with or without conditions) of a request with any of these
    # findings needs a panel: rule id -> results.
    required_for_approval: dict[Text, Annotated[frozenset[FindingResult], BeforeValidator(_no_duplicates)]] = {
        RuleId.STAT_RESTRICTED_CATEGORY: frozenset({FindingResult.REFER}),
        RuleId.CONSENT_REFUSAL: frozenset({FindingResult.REFER}),
        RuleId.CP3_BULK_IDENTIFIABLE: frozenset({FindingResult.REFER}),
    }

    def needed_for(self, findings: list[dict[str, Any]]) -> list[str]:
        """The rules among a decision's stored findings that make approving it a panel's decision."""
        return [
            finding["rule"]
            for finding in findings
            if finding["result"] in self.required_for_approval.get(finding["rule"], ())
        ]


class PoliceRequestForm(PolicyPart):
    """Which police requests wait for the signed request form (rule CP6.police_request_form)."""

    requesters: TypeSet
    provisions: Annotated[
        frozenset[Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z0-9_]{1,100}$")]],
        BeforeValidator(_no_duplicates),
    ]
    attachment: AttachmentKind


class Evidence(PolicyPart):
    """What the rules accept as evidence attached to a request (edition 2027.1 on; 2027.2 ships one)."""

    # Attachment kinds that show information governance has seen the order, summons or notice:
    # CP6.court_order_verified passes.
    court_order_seen: Annotated[frozenset[AttachmentKind], BeforeValidator(_no_duplicates)] = frozenset()
    police_request_form: PoliceRequestForm | None = None


# A policy without an `evidence:` section weighs no attachment.
NO_EVIDENCE = Evidence()


# A policy without a `panel:` section (the shipped baselines, whose bytes are pinned) gets the 2027.1 defaults.
DEFAULT_PANEL = PanelRule()


class ConsultationRule(PolicyPart):
    """Which findings need a consultation answered before a guardian (or a panel) may approve, and of which role.

    A rule named here counts when its finding on the request is anything but `pass`; each role listed must then have
    answered a consultation on the request (app/services/consultations/). A local policy may only add to it.
    """

    required_for_approval: dict[
        Text, Annotated[frozenset[ConsultedRole], BeforeValidator(_no_duplicates), Field(min_length=1)]
    ] = {}

    def needed_for(self, findings: list[dict[str, Any]]) -> list[tuple[str, ConsultedRole]]:
        """Each (rule, role) whose answer approving a request with these stored findings needs, in a fixed order."""
        return [
            (finding["rule"], role)
            for finding in findings
            if finding["result"] != FindingResult.PASS
            for role in sorted(self.required_for_approval.get(finding["rule"], ()))
        ]


# A policy without a `consultation:` section (every shipped one) needs no consultation before an approval.
NO_CONSULTATION = ConsultationRule()


class GradeLevel(PolicyPart):
    """One step of an incident grading scale: its short name and what it means."""

    name: Text
    description: Text


Grade = Annotated[StrictInt, Field(ge=1, le=5)]
GradeScale = Annotated[tuple[GradeLevel, ...], Field(min_length=5, max_length=5)]


class IncidentGrading(PolicyPart):
    """How an incident with a disclosure is graded, and from which grades it is reported to the ICO.

    The two five-step scales are those of the NHS "Guide to the notification of data security and protection
    incidents" (NHS Digital, now NHS England: the Data Security and Protection Toolkit's incident reporting tool), step
    1 first. An incident is reportable when its likelihood is at least `report_likelihood` and its severity at least
    `report_severity` (the guide's grid read as "likely or above and minor or above", docs/guardians/incidents.md).
    A local policy keeps the scales and may lower either threshold (report more), never raise one.
    """

    likelihood: GradeScale
    severity: GradeScale
    report_likelihood: Grade
    report_severity: Grade

    def reportable(self, *, likelihood: int, severity: int) -> bool:
        """Whether an incident of these grades must be reported to the ICO within 72 hours of awareness."""
        return likelihood >= self.report_likelihood and severity >= self.report_severity


# The NHS guide's scales and threshold: the grading of every shipped policy (none has an `incidents` section, and a
# released policy version is never rewritten), and the floor a derived policy's section is held to.
NHS_INCIDENT_GRADING = IncidentGrading(
    likelihood=(
        GradeLevel(name="Not occurred", description="There is absolute certainty that no adverse effect can arise."),
        GradeLevel(
            name="Not likely",
            description="In cases where there is no evidence that can prove that no adverse effect has occurred.",
        ),
        GradeLevel(name="Likely", description="It is likely that there will be an occurrence of an adverse effect."),
        GradeLevel(
            name="Highly likely",
            description="There is almost certainty that at some point in the future an adverse effect will happen.",
        ),
        GradeLevel(name="Occurred", description="There is a reported occurrence of an adverse effect arising."),
    ),
    severity=(
        GradeLevel(
            name="No adverse effect",
            description="There is absolute certainty that no adverse effect can arise from the breach.",
        ),
        GradeLevel(
            name="Minor",
            description="Potentially some minor adverse effect, or any incident involving vulnerable groups even if "
            "no adverse effect occurred.",
        ),
        GradeLevel(name="Adverse", description="Potentially some adverse effect."),
        GradeLevel(name="Serious", description="Potentially pain and suffering, or financial loss."),
        GradeLevel(name="Catastrophic", description="Death or a catastrophic event."),
    ),
    report_likelihood=3,
    report_severity=2,
)


class Policy(PolicyPart):
    name: Text
    version: Text
    content_hash: Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-f]{64}$")]
    derived_from: BaselineRef | None = None
    definitions: Definitions
    allowed_categories: dict[PurposeCategory, CategorySet]
    thresholds: Thresholds
    principle_titles: dict[PrincipleKey, Text]
    area_titles: dict[Text, Text]
    rules: dict[Text, RulePolicy]
    response_times: dict[Urgency, ResponseTime]
    bank_holidays: tuple[CalendarDate, ...]
    claim_lease_minutes: Count
    # Parameters of the 2027.1 rules; a 2026.1 policy has none of them.
    requester_groups: RequesterGroups | None = None
    emergency: Emergency | None = None
    article9_purpose_fit: dict[PurposeCategory, Article9Fit] | None = None
    provisions: tuple[Provision, ...] | None = None
    # Parameters of the 2028.1 rules.
    implausible_purposes: dict[OrganisationType, PurposeSet] | None = None
    panel: PanelRule | None = None
    evidence: Evidence | None = None
    # Local: the consultations an approval waits for (none in the shipped policies).
    consultation: ConsultationRule | None = None
    # Local: how incidents are graded and from which grades reported (the NHS guide's when absent).
    incidents: IncidentGrading | None = None

    @property
    def panel_rule(self) -> PanelRule:
        """The policy's panel section, or the defaults when it has none."""
        return self.panel or DEFAULT_PANEL

    @property
    def consultation_rule(self) -> ConsultationRule:
        """The policy's consultation section, or none needed when it has none."""
        return self.consultation or NO_CONSULTATION

    @property
    def incident_grading(self) -> IncidentGrading:
        """The policy's incident grading, or the NHS guide's when it has none."""
        return self.incidents or NHS_INCIDENT_GRADING

    @property
    def evidence_rule(self) -> Evidence:
        """The policy's evidence section, or none accepted when it has none."""
        return self.evidence or NO_EVIDENCE

    @cached_property
    def calendar_ends(self) -> date | None:
        """The last day the bank-holiday calendar covers:
        31 December of the last year it lists a holiday in (None: it lists none)."""
        return date(max(self.bank_holidays).year, 12, 31) if self.bank_holidays else None

    @cached_property
    def edition(self) -> Edition:
        """The reading of the rules this policy runs: its own version if shipped, else its baseline's."""
        return Edition(self.derived_from.version if self.derived_from else self.version)

    @property
    def replay_only(self) -> bool:
        """Kept for replay and dry runs by name, never activated nor derived from:
        an edition UK law has overtaken, or one derived from it."""
        return self.edition != CURRENT_EDITION

    @cached_property
    def checks(self) -> tuple[tuple[RuleId, Callable[..., Any]], ...]:
        """Each rule's check, in the order findings are reported."""
        return tuple((rule_id, self.rulebook[rule_id].check) for rule_id in self.rule_ids)

    @cached_property
    def rulebook(self) -> Mapping[RuleId, Rule]:
        """The edition's rules, each with its reading there."""
        return MappingProxyType(RULEBOOKS[self.edition])

    @cached_property
    def rule_ids(self) -> tuple[RuleId, ...]:
        """The rules in the order their findings are reported."""
        return tuple(RuleId(rule_id) for rule_id in self.rules)

    @cached_property
    def _provisions(self) -> Mapping[str, Provision]:
        return MappingProxyType({entry.code: entry for entry in self.provisions or ()})

    def provision(self, code: str) -> Provision | None:
        """The registry entry for a provision code, or None when the registry does not hold it."""
        return self._provisions.get(code)

    def title_for(self, rule_id: str) -> str:
        """The principle a rule serves, or its area when it serves none."""
        principle = self.rules[rule_id].principle
        return self.area_titles[rule_area(rule_id)] if principle is None else self.principle_titles[principle]

    def reason(self, rule_id: str, result: FindingResult, variant: str | None = None) -> str:
        """The reason a rule gives for a result (in one of its variants), with the thresholds filled in."""
        texts = self.rules[rule_id].reasons[result]
        text = texts if isinstance(texts, str) else texts[variant or DEFAULT_VARIANT]
        return text.format_map(self.thresholds.model_dump(exclude_none=True))

    @cached_property
    def findings(self) -> Mapping[tuple[RuleId, Found], Finding]:
        """Every finding each rule can give, built once: evaluation then only looks them up (bench/RESULTS.md)."""
        rulebook = self.rulebook
        return MappingProxyType(
            {
                (rule_id, found): Finding(
                    rule=rule_id,
                    principle=self.rules[rule_id].principle,
                    principle_title=self.title_for(rule_id),
                    result=found.result,
                    reason=self.reason(rule_id, *found),
                )
                for rule_id in self.rule_ids
                for found in {Found(FindingResult.PASS), *rulebook[rule_id].yields}
            }
        )


def rule_area(rule_id: str) -> str:
    """The area of a rule: the part of its id before the dot."""
    return rule_id.partition(".")[0]
