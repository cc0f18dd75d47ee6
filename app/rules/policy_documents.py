"""Reading and checking policy documents: the shipped baselines, YAML and JSON, and the checks beyond the schema."""

import json
from functools import lru_cache
from hashlib import sha256
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.models.vocabulary import FindingResult, PurposeCategory, Urgency
from app.rules.engine import OPTIONAL_RULES, RULEBOOKS, Edition, Rule, RuleId
from app.rules.policy import DEFAULT_VARIANT, BaselineRef, Policy, RulePolicy, Thresholds, rule_area
from app.rules.policy_limits import text_problems

BASELINE_NAME = "uk-caldicott-baseline"
POLICY_DIRECTORY = Path(__file__).with_name("policies")
# The SHA-256 of each shipped policy: decisions cite these, so the files may never change. A version that is an
# edition is a baseline; any other (2027.2) is a derived policy shipped beside its baseline and never the default.
SHIPPED_HASHES = {
    "2026.1": "7aadbcd2c4ca8d75e2ad369b113b4d780aa7d0dbb1682c572950451fc75004a1",
    "2027.1": "2ad74ffafa3d2bb5de65a00672f883c3de0dbad2d5efc4ebb4013538f09cbfd0",
    "2027.2": "92d778e5e43e19cf992d961ebf2f5bc237d9af5629782ab55fd14f8f493372ed",
    "2028.1": "f66b7a40acf6ec67f6d033cb217c11c477e25a09b370defa39282a60c896100d",
    "2028.2": "2847d5bec6d7e608dfe785221a8af054d097df7ba0d556039acb46b80249e324",
}


def shipped_path(version: str) -> Path:
    """Where the shipped policy of a version lives in the package."""
    return POLICY_DIRECTORY / f"{BASELINE_NAME}-{version}.yaml"


DEFAULT_POLICY_PATH = shipped_path("2028.1")


class PolicyError(ValueError):
    """A policy that cannot be used; `problems` names each path that is wrong."""

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.problems = problems or [("body", message)]


# The parts of a policy that only some editions read: a policy of another edition must leave them out.
_PARAMETERS_2027 = frozenset(
    {"requester_groups", "emergency", "article9_purpose_fit", "provisions", "thresholds.emergency_max_subjects"}
)
EDITION_PARAMETERS: dict[Edition, frozenset[str]] = {
    Edition.V2026_1: frozenset(),
    Edition.V2027_1: _PARAMETERS_2027,
    Edition.V2028_1: _PARAMETERS_2027
    | {
        "implausible_purposes",
        "thresholds.anonymised_min_subjects",
        "requester_groups.third_party_consent",
        "emergency.waivable_variants",
    },
}
# The parts an edition reads when a policy has them, and does without otherwise.
OPTIONAL_EDITION_PARAMETERS: dict[Edition, frozenset[str]] = {
    Edition.V2026_1: frozenset(),
    Edition.V2027_1: frozenset({"evidence"}),
    Edition.V2028_1: frozenset({"evidence"}),
}
# What a 2028.1 registry entry may say beyond a 2027.1 one; a 2027.1 policy's entries leave them at their defaults.
PROVISION_LIMITS_2028 = ("purposes", "max_subjects", "applies_after_death", "requirement_seen")
ALL_EDITION_PARAMETERS = frozenset().union(*EDITION_PARAMETERS.values(), *OPTIONAL_EDITION_PARAMETERS.values())


def _problems(policy: Policy, *, shipped: bool) -> list[tuple[str, str]]:
    """Everything that makes a well-formed policy unusable, each with the path it concerns."""
    problems = _lineage_problems(policy, shipped=shipped)
    baseline = policy.derived_from or BaselineRef(name=policy.name, version=policy.version)
    if baseline.name != BASELINE_NAME or baseline.version not in set(Edition):
        path = "derived_from" if policy.derived_from else "version"
        return [*problems, (path, f"not a baseline edition: {BASELINE_NAME} {', '.join(Edition)}")]
    edition = Edition(baseline.version)

    problems += _compare("allowed_categories", set(policy.allowed_categories), set(PurposeCategory))
    problems += _compare("principle_titles", set(policy.principle_titles), set(range(1, 9)))
    problems += _compare("response_times", set(policy.response_times), set(Urgency))
    problems += _rule_set_problems(policy, edition)
    if list(policy.bank_holidays) != sorted(set(policy.bank_holidays)):
        problems.append(("bank_holidays", "must be in date order, each date once"))
    problems += _rule_text_problems(policy, edition)
    problems += _edition_problems(policy, edition)
    problems += _emergency_problems(policy, edition)
    problems += _article9_problems(policy)
    problems += _registry_problems(policy)
    return problems + _panel_problems(policy, edition) + _evidence_problems(policy)


def _lineage_problems(policy: Policy, *, shipped: bool) -> list[tuple[str, str]]:
    """A shipped baseline derives from nothing; every other policy names the baseline it tunes."""
    is_baseline = shipped and policy.version in set(Edition)
    if is_baseline and policy.derived_from is not None:
        return [("derived_from", "a shipped baseline derives from nothing")]
    if not is_baseline and policy.derived_from is None:
        return [
            ("derived_from", "a policy that is not a shipped baseline names the baseline it tunes: {name, version}")
        ]
    return []


def _rule_text_problems(policy: Policy, edition: Edition) -> list[tuple[str, str]]:
    """Each of the edition's rules has a principle (or a titled area) and a reason for every result it can give."""
    rulebook = RULEBOOKS[edition]
    problems: list[tuple[str, str]] = []
    for rule_id, entry in policy.rules.items():
        if rule_id not in rulebook:
            continue
        if entry.principle is None and rule_area(rule_id) not in policy.area_titles:
            problems.append(
                (
                    f"rules.{rule_id}.principle",
                    f"the rule has no principle and area {rule_area(rule_id)!r} has no title in area_titles",
                )
            )
        problems += _reason_problems(f"rules.{rule_id}.reasons", entry, rulebook[RuleId(rule_id)], policy.thresholds)
    return problems


def _emergency_problems(policy: Policy, edition: Edition) -> list[tuple[str, str]]:
    """An emergency waives only rules of the edition it can waive, and a derived policy never more than its baseline."""
    if policy.emergency is None:
        return []
    rulebook = RULEBOOKS[edition]
    problems = [
        (f"emergency.waivable.{rule_id}", "not a rule of this edition that an emergency can waive")
        for rule_id in sorted(
            (policy.emergency.waivable - set(rulebook)) | ({RuleId.CP7_EMERGENCY_SHARE} & policy.emergency.waivable)
        )
    ]
    if policy.derived_from is None or edition not in SHIPPED_HASHES or (floor := _baseline(edition).emergency) is None:
        return problems
    # What an emergency may go ahead past is the baseline's reading of the law:
    # a derived policy may narrow it, never widen it.
    problems += [
        (
            f"emergency.waivable.{rule_id}",
            f"the baseline {edition} never lets an emergency go ahead past it; "
            "a derived policy may only narrow the set",
        )
        for rule_id in sorted(policy.emergency.waivable & set(rulebook) - floor.waivable - {RuleId.CP7_EMERGENCY_SHARE})
    ]
    problems += [
        (
            f"emergency.purposes.{purpose}",
            f"the baseline {edition} has no emergency share for it; a derived policy may only narrow the purposes",
        )
        for purpose in sorted(policy.emergency.purposes - floor.purposes)
    ]
    return problems


def _article9_problems(policy: Policy) -> list[tuple[str, str]]:
    """Article 9 fit covers each purpose, with no condition both passed and referred."""
    if policy.article9_purpose_fit is None:
        return []
    problems = _compare("article9_purpose_fit", set(policy.article9_purpose_fit), set(PurposeCategory))
    for purpose, fit in policy.article9_purpose_fit.items():
        for condition in sorted(fit.pass_ & fit.refer):
            problems.append((f"article9_purpose_fit.{purpose}", f"{condition} is both in pass and in refer"))
    return problems


def _registry_problems(policy: Policy) -> list[tuple[str, str]]:
    """Each provision code is in the registry once."""
    codes = [entry.code for entry in policy.provisions or ()]
    return [
        (f"provisions[{index}].code", f"{code} is in the registry twice")
        for index, code in enumerate(codes)
        if code in codes[:index]
    ]


def _edition_problems(policy: Policy, edition: Edition) -> list[tuple[str, str]]:
    """The parameters the edition's rules read, each present, and none that they do not."""
    present = {name for name in ALL_EDITION_PARAMETERS if _parameter(policy, name) is not None}
    problems = [
        (name, f"edition {edition} has no rule that reads it")
        for name in sorted(present - EDITION_PARAMETERS[edition] - OPTIONAL_EDITION_PARAMETERS[edition])
    ]
    problems += [(name, f"edition {edition} needs it") for name in sorted(EDITION_PARAMETERS[edition] - present)]
    if edition == Edition.V2027_1:
        problems += [
            (f"provisions[{index}].{name}", f"edition {edition} has no rule that reads it")
            for index, entry in enumerate(policy.provisions or ())
            for name in PROVISION_LIMITS_2028
            if name in entry.model_fields_set
        ]
    return problems


def _evidence_problems(policy: Policy) -> list[tuple[str, str]]:
    """The provisions a police-form rule names must be in the policy's registry."""
    form = policy.evidence_rule.police_request_form
    if form is None:
        return []
    return [
        (f"evidence.police_request_form.provisions.{code}", "not in the provisions registry")
        for code in sorted(form.provisions)
        if policy.provision(code) is None
    ]


def _rule_set_problems(policy: Policy, edition: Edition) -> list[tuple[str, str]]:
    """Every rule of the edition but the optional ones, nothing else;
    an optional rule listed needs the section it reads."""
    rulebook = RULEBOOKS[edition]
    optional = {rule_id for rule_id in policy.rules if rule_id in OPTIONAL_RULES and rule_id in rulebook}
    problems = _compare(
        "rules",
        set(policy.rules) - optional,
        set(rulebook) - set(OPTIONAL_RULES),
        unknown_means=f"not a rule of edition {edition}",
    )
    for rule_id in sorted(optional):
        if _parameter(policy, OPTIONAL_RULES[RuleId(rule_id)]) is None:
            problems.append(
                (
                    f"rules.{rule_id}",
                    f"the rule reads {OPTIONAL_RULES[RuleId(rule_id)]}, which the policy does not have",
                )
            )
    return problems


def _panel_problems(policy: Policy, edition: Edition) -> list[tuple[str, str]]:
    """A panel section's quorum must be reachable and the findings it names must be the edition's rules."""
    if policy.panel is None:
        return []
    problems = [
        (f"panel.required_for_approval.{rule_id}", f"not a rule of edition {edition}")
        for rule_id in sorted(set(policy.panel.required_for_approval) - set(RULEBOOKS[edition]))
    ]
    if policy.panel.quorum > policy.panel.size:
        problems.append(
            ("panel.quorum", f"a panel of {policy.panel.size} cannot reach a quorum of {policy.panel.quorum}")
        )
    return problems


@lru_cache
def _baseline(edition: Edition) -> Policy:
    """The shipped baseline of an edition, which a derived policy tunes."""
    return load_policy(shipped_path(edition))


def _reason_problems(path: str, entry: RulePolicy, rule: Rule, thresholds: Thresholds) -> list[tuple[str, str]]:
    """A text for exactly the results (and their variants) the rule can give, each with placeholders that exist."""
    problems = _compare(path, set(entry.reasons), {FindingResult.PASS, *(found.result for found in rule.yields)})
    for result, texts in entry.reasons.items():
        variants = {found.variant or DEFAULT_VARIANT for found in rule.yields if found.result == result} or {
            DEFAULT_VARIANT
        }
        if isinstance(texts, str):
            if variants != {DEFAULT_VARIANT}:
                problems.append(
                    (
                        f"{path}.{result}",
                        f"the rule explains this result in several ways: give a text for each of {sorted(variants)}",
                    )
                )
            named = {DEFAULT_VARIANT: texts}
        else:
            problems += _compare(f"{path}.{result}", set(texts), variants)
            named = texts
        for variant, text in named.items():
            try:
                text.format_map(
                    thresholds.model_dump(exclude_none=True)
                )  # a threshold of another edition is no placeholder here
            except (KeyError, IndexError, ValueError) as error:
                problems.append(
                    (f"{path}.{result}" + ("" if isinstance(texts, str) else f".{variant}"), f"bad placeholder {error}")
                )
    return problems


def _parameter(policy: Policy, dotted: str) -> Any:
    value: Any = policy
    for part in dotted.split("."):
        value = getattr(value, part, None)
    return value


def _compare(
    path: str, present: set[Any], expected: set[Any], *, unknown_means: str = "unknown key"
) -> list[tuple[str, str]]:
    """A problem for each unknown key (at its own path) and one naming the missing keys."""
    problems = [(f"{path}.{key}", unknown_means) for key in sorted(map(str, present - expected))]
    missing = sorted(map(str, expected - present))
    if missing:
        problems.append((path, f"missing {', '.join(missing)}"))
    return problems


# A policy document is a few levels deep and a few thousand values: anything far beyond is a bomb, not a policy.
MAX_DEPTH = 32  # mappings and lists inside one another
MAX_VALUES = 100_000  # values visited, an alias counted each time it is used (a "billion laughs" stops here)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key written twice, a key that is a list or a map, and deep nesting."""

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """Compose a node, refusing nesting deeper than a policy has (the composer recurses:
        a deep document would exhaust the stack)."""
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH + 1:
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping, refusing duplicate keys and keys that are lists or maps."""
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a name or a number, not a list or a map", key_node.start_mark
                )
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def _read(content: bytes, *, source: str, media_type: str) -> Any:
    """The document's values, or a PolicyError naming the body:
    unparseable, or nested or aliased far beyond any policy."""
    kind = "JSON" if media_type == "application/json" else "YAML"
    try:
        document = (
            json.loads(content) if media_type == "application/json" else yaml.load(content, Loader=_UniqueKeyLoader)
        )  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, ValueError) as error:
        raise PolicyError(f"policy {source} is not valid {kind}: {error}", [("body", "cannot be parsed")]) from error
    except RecursionError:
        raise PolicyError(
            f"policy {source} is nested too deeply", [("body", f"nested more than {MAX_DEPTH} levels deep")]
        ) from None
    problem = _shape_problem(document)
    if problem is not None:
        raise PolicyError(f"policy {source}: {problem}", [("body", problem)])
    return document


def _shape_problem(document: Any) -> str | None:
    """Why the values cannot be a policy document, before any field is read: depth, size, keys."""
    visited = 0
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        visited += 1
        if visited > MAX_VALUES:
            return f"more than {MAX_VALUES} values (aliases counted each time they are used)"
        if depth > MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} levels deep"
        if isinstance(value, dict):
            if any(isinstance(key, bool) or not isinstance(key, str | int) for key in value):
                return "a mapping key must be a name or a number"
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return None


def parse_policy(content: bytes, *, source: str, shipped: bool, media_type: str = "application/yaml") -> Policy:
    """Validate a policy document (YAML or JSON); its content hash is the SHA-256 of exactly these bytes."""
    document = _read(content, source=source, media_type=media_type)
    if not isinstance(document, dict):
        raise PolicyError(f"policy {source} must hold a mapping", [("body", "must be a mapping")])
    if "content_hash" in document:
        raise PolicyError(
            f"policy {source}: content_hash is computed from the content, not written in it",
            [("content_hash", "is computed, not given")],
        )
    try:
        policy = Policy.model_validate({**document, "content_hash": sha256(content).hexdigest()})
    except ValidationError as error:
        problems = [(_dotted(problem["loc"]), _message(problem)) for problem in error.errors()]
        raise PolicyError(
            f"invalid policy {source}: " + "; ".join(f"{path}: {message}" for path, message in problems), problems
        ) from None
    problems = _problems(policy, shipped=shipped)
    if shipped:
        problems += text_problems(policy)  # the checks every upload also meets (policy_admission.py)
    if problems:
        raise PolicyError(
            f"invalid policy {source}: " + "; ".join(f"{path}: {message}" for path, message in problems), problems
        )
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
    """Every policy this service ships, each checked against its pinned content hash:
    a shipped version never changes."""
    policies = {}
    for version, expected_hash in SHIPPED_HASHES.items():
        path = shipped_path(version)
        policy = load_policy(path)
        if (policy.name, policy.version) != (BASELINE_NAME, version) or policy.content_hash != expected_hash:
            raise PolicyError(
                f"shipped policy {path} is not {BASELINE_NAME} {version} with SHA-256 {expected_hash}: a shipped "
                "version is immutable, add a new one"
            )
        policies[policy.name, policy.version] = policy
    return policies
