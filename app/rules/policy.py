"""The policy as data: definitions, matrix, thresholds, rules and their reasons, read from YAML."""

import json
from collections.abc import Callable, Mapping
from enum import StrEnum
from functools import cached_property, lru_cache
from hashlib import sha256
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
)

from app.models.base import CalendarDate
from app.models.vocabulary import Article9Condition, DataCategory, FindingResult, OrganisationType, ProvisionKind, PurposeCategory, Urgency
from app.rules.engine import RULEBOOKS, Edition, Finding, Found, Rule, RuleId

BASELINE_NAME = "uk-caldicott-baseline"
POLICY_DIRECTORY = Path(__file__).with_name("policies")
# The SHA-256 of each shipped baseline: decisions cite these, so the files may never change.
SHIPPED_HASHES = {
    "2026.1": "7aadbcd2c4ca8d75e2ad369b113b4d780aa7d0dbb1682c572950451fc75004a1",
    "2027.1": "2ad74ffafa3d2bb5de65a00672f883c3de0dbad2d5efc4ebb4013538f09cbfd0",
}


def shipped_path(version: str) -> Path:
    """Where the shipped baseline of a version lives in the package."""
    return POLICY_DIRECTORY / f"{BASELINE_NAME}-{version}.yaml"


DEFAULT_POLICY_PATH = shipped_path("2027.1")


class PolicyError(ValueError):
    """A policy that cannot be used; `problems` names each path that is wrong."""

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.problems = problems or [("body", message)]


def _no_duplicates(values: Any) -> Any:
    """Refuse a list that names the same value twice."""
    if isinstance(values, list) and len(set(values)) != len(values):
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


# A reason is one text, or (for a rule that explains one result in several ways) a text per variant,
# the plain one under "default".
DEFAULT_VARIANT = "default"
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


class Emergency(PolicyPart):
    """When the duty to share lets an emergency go ahead before a guardian looks (2027.1)."""

    purposes: PurposeSet
    waivable: Annotated[frozenset[RuleId], BeforeValidator(_no_duplicates)]


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

    @cached_property
    def edition(self) -> Edition:
        """The reading of the rules this policy runs: its own version if shipped, else its baseline's."""
        return Edition(self.derived_from.version if self.derived_from else self.version)

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
        return self.area_titles[_area(rule_id)] if principle is None else self.principle_titles[principle]

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


# The parts of a policy that only some editions read: a policy of another edition must leave them out.
EDITION_PARAMETERS: dict[Edition, frozenset[str]] = {
    Edition.V2026_1: frozenset(),
    Edition.V2027_1: frozenset({"requester_groups", "emergency", "article9_purpose_fit", "provisions", "thresholds.emergency_max_subjects"}),
}
ALL_EDITION_PARAMETERS = frozenset().union(*EDITION_PARAMETERS.values())


def _problems(policy: Policy, *, shipped: bool) -> list[tuple[str, str]]:
    """Everything that makes a well-formed policy unusable, each with the path it concerns."""
    problems: list[tuple[str, str]] = []
    if shipped and policy.derived_from is not None:
        problems.append(("derived_from", "a shipped baseline derives from nothing"))
    if not shipped and policy.derived_from is None:
        problems.append(("derived_from", "a policy that is not shipped names the baseline it tunes: {name, version}"))
    baseline = policy.derived_from or BaselineRef(name=policy.name, version=policy.version)
    if baseline.name != BASELINE_NAME or baseline.version not in set(Edition):
        path = "derived_from" if policy.derived_from else "version"
        return [*problems, (path, f"not a baseline edition: {BASELINE_NAME} {', '.join(Edition)}")]
    edition = Edition(baseline.version)
    rulebook = RULEBOOKS[edition]

    problems += _compare("allowed_categories", set(policy.allowed_categories), set(PurposeCategory))
    problems += _compare("principle_titles", set(policy.principle_titles), set(range(1, 9)))
    problems += _compare("response_times", set(policy.response_times), set(Urgency))
    problems += _compare("rules", set(policy.rules), set(rulebook), unknown_means=f"not a rule of edition {edition}")
    if list(policy.bank_holidays) != sorted(set(policy.bank_holidays)):
        problems.append(("bank_holidays", "must be in date order, each date once"))
    for rule_id, entry in policy.rules.items():
        if rule_id not in rulebook:
            continue
        if entry.principle is None and _area(rule_id) not in policy.area_titles:
            problems.append((f"rules.{rule_id}.principle", f"the rule has no principle and area {_area(rule_id)!r} has no title in area_titles"))
        problems += _reason_problems(f"rules.{rule_id}.reasons", entry, rulebook[RuleId(rule_id)], policy.thresholds)

    present = {name for name in ALL_EDITION_PARAMETERS if _parameter(policy, name) is not None}
    for name in sorted(present - EDITION_PARAMETERS[edition]):
        problems.append((name, f"edition {edition} has no rule that reads it"))
    for name in sorted(EDITION_PARAMETERS[edition] - present):
        problems.append((name, f"edition {edition} needs it"))
    if policy.emergency is not None:
        for rule_id in sorted((policy.emergency.waivable - set(rulebook)) | ({RuleId.CP7_EMERGENCY_SHARE} & policy.emergency.waivable)):
            problems.append((f"emergency.waivable.{rule_id}", "not a rule of this edition that an emergency can waive"))
        if not shipped and edition in SHIPPED_HASHES and (floor := _baseline(edition).emergency) is not None:
            # What an emergency may go ahead past is the baseline's reading of the law: a derived policy may narrow it, never widen it.
            for rule_id in sorted(policy.emergency.waivable & set(rulebook) - floor.waivable - {RuleId.CP7_EMERGENCY_SHARE}):
                problems.append(
                    (
                        f"emergency.waivable.{rule_id}",
                        f"the baseline {edition} never lets an emergency go ahead past it; a derived policy may only narrow the set",
                    )
                )
            for purpose in sorted(policy.emergency.purposes - floor.purposes):
                problems.append(
                    (f"emergency.purposes.{purpose}", f"the baseline {edition} has no emergency share for it; a derived policy may only narrow the purposes")
                )
    if policy.article9_purpose_fit is not None:
        problems += _compare("article9_purpose_fit", set(policy.article9_purpose_fit), set(PurposeCategory))
        for purpose, fit in policy.article9_purpose_fit.items():
            for condition in sorted(fit.pass_ & fit.refer):
                problems.append((f"article9_purpose_fit.{purpose}", f"{condition} is both in pass and in refer"))
    codes = [entry.code for entry in policy.provisions or ()]
    for index, code in enumerate(codes):
        if code in codes[:index]:
            problems.append((f"provisions[{index}].code", f"{code} is in the registry twice"))
    return problems


@lru_cache
def _baseline(edition: Edition) -> Policy:
    """The shipped baseline of an edition, which a derived policy tunes."""
    return load_policy(shipped_path(edition))


def _reason_problems(path: str, entry: RulePolicy, rule: Rule, thresholds: Thresholds) -> list[tuple[str, str]]:
    """A text for exactly the results (and their variants) the rule can give, each with placeholders that exist."""
    problems = _compare(path, set(entry.reasons), {FindingResult.PASS, *(found.result for found in rule.yields)})
    for result, texts in entry.reasons.items():
        variants = {found.variant or DEFAULT_VARIANT for found in rule.yields if found.result == result} or {DEFAULT_VARIANT}
        if isinstance(texts, str):
            if variants != {DEFAULT_VARIANT}:
                problems.append((f"{path}.{result}", f"the rule explains this result in several ways: give a text for each of {sorted(variants)}"))
            named = {DEFAULT_VARIANT: texts}
        else:
            problems += _compare(f"{path}.{result}", set(texts), variants)
            named = texts
        for variant, text in named.items():
            try:
                text.format_map(thresholds.model_dump(exclude_none=True))  # a threshold of another edition is no placeholder here
            except (KeyError, IndexError, ValueError) as error:
                problems.append((f"{path}.{result}" + ("" if isinstance(texts, str) else f".{variant}"), f"bad placeholder {error}"))
    return problems


def _parameter(policy: Policy, dotted: str) -> Any:
    value: Any = policy
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def _area(rule_id: str) -> str:
    """The area of a rule: the part of its id before the dot."""
    return rule_id.partition(".")[0]


def _compare(path: str, present: set[Any], expected: set[Any], *, unknown_means: str = "unknown key") -> list[tuple[str, str]]:
    """A problem for each unknown key (at its own path) and one naming the missing keys."""
    problems = [(f"{path}.{key}", unknown_means) for key in sorted(map(str, present - expected))]
    missing = sorted(map(str, expected - present))
    if missing:
        problems.append((path, f"missing {', '.join(missing)}"))
    return problems


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key written twice instead of keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping, refusing duplicate keys."""
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def parse_policy(content: bytes, *, source: str, shipped: bool, media_type: str = "application/yaml") -> Policy:
    """Validate a policy document (YAML or JSON); its content hash is the SHA-256 of exactly these bytes."""
    try:
        document = json.loads(content) if media_type == "application/json" else yaml.load(content, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, ValueError) as error:
        raise PolicyError(
            f"policy {source} is not valid {'JSON' if media_type == 'application/json' else 'YAML'}: {error}", [("body", "cannot be parsed")]
        ) from error
    if not isinstance(document, dict):
        raise PolicyError(f"policy {source} must hold a mapping", [("body", "must be a mapping")])
    if "content_hash" in document:
        raise PolicyError(f"policy {source}: content_hash is computed from the content, not written in it", [("content_hash", "is computed, not given")])
    try:
        policy = Policy.model_validate({**document, "content_hash": sha256(content).hexdigest()})
    except ValidationError as error:
        problems = [(_dotted(problem["loc"]), _message(problem)) for problem in error.errors()]
        raise PolicyError(f"invalid policy {source}: " + "; ".join(f"{path}: {message}" for path, message in problems), problems) from None
    problems = _problems(policy, shipped=shipped)
    if problems:
        raise PolicyError(f"invalid policy {source}: " + "; ".join(f"{path}: {message}" for path, message in problems), problems)
    return policy


def _message(problem: Any) -> str:
    """Pydantic's message, naming the value it was given when that is short enough to read."""
    given = problem.get("input")
    if isinstance(given, str | int | float | bool) and len(repr(given)) <= 80 and problem["type"] != "missing":
        return f"{problem['msg']} (given {given!r})"
    return problem["msg"]


def _dotted(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if part == "[key]":
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate a baseline policy file, by default the newest shipped one."""
    path = path or DEFAULT_POLICY_PATH
    try:
        content = path.read_bytes()
    except OSError as error:
        raise PolicyError(f"cannot read policy file {path}: {error}") from error
    return parse_policy(content, source=f"file {path}", shipped=True)


def shipped_policies() -> dict[tuple[str, str], Policy]:
    """Every baseline this service ships, each checked against its pinned content hash: a shipped version never changes."""
    policies = {}
    for version, expected_hash in SHIPPED_HASHES.items():
        path = shipped_path(version)
        policy = load_policy(path)
        if (policy.name, policy.version) != (BASELINE_NAME, version) or policy.content_hash != expected_hash:
            raise PolicyError(
                f"shipped policy {path} is not {BASELINE_NAME} {version} with SHA-256 {expected_hash}: a shipped version is immutable, add a new one"
            )
        policies[policy.name, policy.version] = policy
    return policies
