"""The policy as data: definitions, matrix, thresholds, rules and their reasons, read from YAML."""

from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from functools import cached_property
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
    Strict,
    StrictInt,
    StringConstraints,
    ValidationError,
    model_validator,
)

from app.models.vocabulary import DataCategory, FindingResult, PurposeCategory, Urgency
from app.rules.engine import RULES, Finding

DEFAULT_POLICY_PATH = Path(__file__).with_name("uk-caldicott-baseline.yaml")


class PolicyError(ValueError):
    """A policy file that cannot be used."""


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
CategorySet = Annotated[frozenset[DataCategory], BeforeValidator(_no_duplicates)]
PurposeSet = Annotated[frozenset[PurposeCategory], BeforeValidator(_no_duplicates)]


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


class RulePolicy(PolicyPart):
    principle: Principle | None
    reasons: dict[FindingResult, Text]


class ResponseUnit(StrEnum):
    HOURS = "hours"
    WORKING_DAYS = "working_days"


class ResponseTime(PolicyPart):
    amount: Count
    unit: ResponseUnit


class Policy(PolicyPart):
    name: Text
    version: Text
    content_hash: Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-f]{64}$")]
    definitions: Definitions
    allowed_categories: dict[PurposeCategory, CategorySet]
    thresholds: Thresholds
    principle_titles: dict[Principle, Text]
    area_titles: dict[Text, Text]
    rules: dict[Text, RulePolicy]
    response_times: dict[Urgency, ResponseTime]
    bank_holidays: tuple[Annotated[date, Strict()], ...]
    claim_lease_minutes: Count

    @model_validator(mode="after")
    def complete(self) -> "Policy":
        """Refuse a policy that leaves a purpose, principle, urgency or rule without its data."""
        _require_all("allowed_categories", set(self.allowed_categories), set(PurposeCategory))
        _require_all("principle_titles", set(self.principle_titles), set(range(1, 9)))
        _require_all("response_times", set(self.response_times), set(Urgency))
        _require_all("rules", set(self.rules), set(RULES))
        if list(self.bank_holidays) != sorted(set(self.bank_holidays)):
            raise ValueError("bank_holidays must be in date order, each date once")
        for rule_id, entry in self.rules.items():
            _require_all(f"rules.{rule_id}.reasons", set(entry.reasons), {FindingResult.PASS, *RULES[rule_id].yields})
            if entry.principle is None and _area(rule_id) not in self.area_titles:
                raise ValueError(f"rule {rule_id} has no principle and area {_area(rule_id)!r} has no title")
            for result in entry.reasons:
                try:
                    self.reason(rule_id, result)
                except (KeyError, IndexError, ValueError) as error:
                    raise ValueError(f"rules.{rule_id}.reasons.{result}: bad placeholder {error}") from None
        return self

    def title_for(self, rule_id: str) -> str:
        """The principle a rule serves, or its area when it serves none."""
        principle = self.rules[rule_id].principle
        return self.area_titles[_area(rule_id)] if principle is None else self.principle_titles[principle]

    def reason(self, rule_id: str, result: FindingResult) -> str:
        """The reason a rule gives for a result, with the thresholds filled in."""
        return self.rules[rule_id].reasons[result].format_map(self.thresholds.model_dump())

    @cached_property
    def findings(self) -> Mapping[tuple[str, FindingResult], Finding]:
        """Every finding each rule can give, built once: evaluation then only looks them up (bench/RESULTS.md)."""
        return MappingProxyType(
            {
                (rule_id, result): Finding(
                    rule=rule_id, principle=entry.principle, principle_title=self.title_for(rule_id), result=result, reason=self.reason(rule_id, result)
                )
                for rule_id, entry in self.rules.items()
                for result in entry.reasons
            }
        )


def _area(rule_id: str) -> str:
    """The area of a rule: the part of its id before the dot."""
    return rule_id.partition(".")[0]


def _require_all(what: str, present: set[Any], expected: set[Any]) -> None:
    """Refuse unknown or missing keys, naming them."""
    unknown, missing = present - expected, expected - present
    if unknown or missing:
        raise ValueError(f"{what}: unknown {sorted(map(str, unknown))}, missing {sorted(map(str, missing))}")


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


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate a policy file, by default the packaged uk-caldicott-baseline."""
    path = path or DEFAULT_POLICY_PATH
    try:
        content = path.read_bytes()
    except OSError as error:
        raise PolicyError(f"cannot read policy file {path}: {error}") from error
    try:
        document = yaml.load(content, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise PolicyError(f"policy file {path} is not valid YAML: {error}") from error
    if not isinstance(document, dict):
        raise PolicyError(f"policy file {path} must hold a mapping")
    if "content_hash" in document:
        raise PolicyError(f"policy file {path}: content_hash is computed from the file, not written in it")
    try:
        return Policy.model_validate({**document, "content_hash": sha256(content).hexdigest()})
    except ValidationError as error:
        raise PolicyError(f"invalid policy file {path}: {error}") from error
