"""The legal floor under a derived policy (brief section 7):
each section that reads the law moves only the stricter way.

`floor_problems` compares a derived policy with its baseline's shipped file, section by section, as the brief's
table says, and names each path a change loosens. It runs on upload (policy_admission.py), not when a stored
policy is read again: a policy stored before the floor (one derived from 2027.1, say) must still parse, so that
the decisions made under it replay.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from app.models.vocabulary import OrganisationType, ProvisionKind
from app.rules.engine import DEFAULT_VARIANT, OPTIONAL_RULES
from app.rules.policy import Policy, PolicyPart, Provision, ReasonTexts, ResponseTime, ResponseUnit

Problems = list[tuple[str, str]]

# A derived policy adds registry entries of these kinds only:
# a duty added locally would make the rules require a disclosure.
ADDABLE_KINDS = frozenset(
    {ProvisionKind.DUTY_ON_BELIEF, ProvisionKind.POWER, ProvisionKind.EXEMPTION, ProvisionKind.NO_DUTY}
)
# Every type but `other` gives care or owes professional secrecy (DPA 2018 s.11(1)), or is in the group already.
ONLY_OTHER_JOINS = frozenset({"non_care", "no_professional_secrecy"})
# Thresholds a derived policy may only lower, and the one (UK GDPR recital 26) it may only raise.
LOWER_ONLY = ("bulk_subjects", "retention_days", "emergency_max_subjects")
RAISE_ONLY = ("anonymised_min_subjects",)
# Sections whose parts the baseline may leave out; a derived policy may not give what its baseline does not read.
PARTS = ("thresholds", "requester_groups", "emergency")
SECTIONS = ("requester_groups", "emergency", "article9_purpose_fit", "provisions", "implausible_purposes")
# A working day on the clock: at least 23 hours (the night summer time begins, a Sunday before a Monday), so N working
# days are never shorter than 24N - 1 hours. Hours are compared with working days on that; working days are never
# shown to be shorter than hours (a bank-holiday weekend makes one working day run to four days).
SHORTEST_WORKING_DAY_HOURS = 24
CLOCK_CHANGE_HOURS = 1


def floor_problems(policy: Policy, *, baseline: Policy, evidence_model: Policy | None) -> Problems:
    """Each change of a derived policy that its baseline edition's table does not allow, by path.

    `evidence_model` is the shipped policy whose `evidence` section a derived one may copy and tighten (2028.2 for
    2028.1), or None when the edition has none.
    """
    problems: Problems = []
    if (
        baseline.derived_from is not None
        or baseline.replay_only
        or policy.derived_from is None
        or policy.derived_from.version != baseline.version
    ):
        problems.append(
            (
                "derived_from",
                f"a derived policy names the current edition {baseline.name} {baseline.version}, "
                "never a derived or replay-only one",
            )
        )
    problems += _unread(policy, baseline)
    problems += _definitions(policy, baseline)
    problems += _provisions(policy, baseline)
    problems += _article9(policy, baseline)
    problems += _groups(policy, baseline)
    problems += _implausible(policy, baseline)
    problems += _emergency(policy, baseline)
    problems += _panel(policy, baseline)
    problems += _consultation(policy, baseline)
    problems += _incidents(policy, baseline)
    problems += _evidence(policy, evidence_model)
    problems += _thresholds(policy, baseline)
    problems += _allowed(policy, baseline)
    problems += _response_times(policy, baseline)
    problems += _rules(policy, baseline, evidence_model)
    for name in ("principle_titles", "area_titles"):
        if getattr(policy, name) != getattr(baseline, name):
            problems.append((name, "fixed wording: keep the baseline's"))
    return problems


def _names(values: Iterable[Any]) -> str:
    return ", ".join(sorted(map(str, values)))


def _delta(mine: frozenset[Any], floor: frozenset[Any]) -> str:
    """How a set differs from the baseline's, in words."""
    parts = [
        f"adds {_names(mine - floor)}" if mine - floor else "",
        f"drops {_names(floor - mine)}" if floor - mine else "",
    ]
    return "; ".join(part for part in parts if part)


def _unread(policy: Policy, baseline: Policy) -> Problems:
    """Sections and fields the baseline edition does not read (an `evidence` section is judged on its own, below)."""
    problems = [
        (name, f"the baseline {baseline.version} does not read it")
        for name in SECTIONS
        if getattr(baseline, name) is None and getattr(policy, name) is not None
    ]
    for part in PARTS:
        mine, floor = getattr(policy, part), getattr(baseline, part)
        if isinstance(mine, PolicyPart) and isinstance(floor, PolicyPart):
            problems += [
                (f"{part}.{name}", f"the baseline {baseline.version} does not read it")
                for name in type(mine).model_fields
                if getattr(floor, name) is None and getattr(mine, name) is not None
            ]
    return problems


def _definitions(policy: Policy, baseline: Policy) -> Problems:
    mine, floor = policy.definitions, baseline.definitions
    problems = [
        (
            f"definitions.{name}",
            f"fixed by the baseline (a reading of law): {_delta(getattr(mine, name), getattr(floor, name))}",
        )
        for name in ("special", "secondary")
        if getattr(mine, name) != getattr(floor, name)
    ]
    if dropped := floor.restricted - mine.restricted:
        problems.append(
            ("definitions.restricted", f"drops {_names(dropped)}: a derived policy may only add to RESTRICTED")
        )
    return problems


def _provisions(policy: Policy, baseline: Policy) -> Problems:
    """Every baseline entry kept; a duty tightened only by its two flags;
    other entries narrowed; new entries never duties."""
    floor = {entry.code: entry for entry in baseline.provisions or ()}
    mine = list(policy.provisions or ())
    problems: Problems = []
    if dropped := set(floor) - {entry.code for entry in mine}:
        problems.append(("provisions", f"drops {_names(dropped)}: keep every entry of the baseline's registry"))
    for index, entry in enumerate(mine):
        path, base = f"provisions[{index}]", floor.get(entry.code)
        if base is None:
            if entry.kind not in ADDABLE_KINDS:
                problems.append(
                    (
                        f"{path}.kind",
                        f"a new entry may be a duty_on_belief, power, exemption or no_duty, not a {entry.kind}",
                    )
                )
            continue
        changed = [name for name in ("title", "kind") if getattr(entry, name) != getattr(base, name)]
        problems += [
            (
                f"{path}.{name}",
                f"{entry.code}'s {name} is the baseline's reading of the statute: {getattr(base, name)!r}",
            )
            for name in changed
        ]
        if not changed:
            problems += (
                _duty_entry(path, entry, base) if base.kind == ProvisionKind.DUTY else _other_entry(path, entry, base)
            )
    return problems


def _duty_entry(path: str, entry: Provision, base: Provision) -> Problems:
    """A statute's duty is not narrowed locally (the rules would refuse what it requires); only its checks tighten."""
    problems = [
        (f"{path}.{name}", f"a duty's limits are the statute's: keep the baseline's {getattr(base, name)!r}")
        for name in ("requesters", "purposes", "categories", "max_subjects")
        if getattr(entry, name) != getattr(base, name)
    ]
    if base.requirement_seen and not entry.requirement_seen:
        problems.append(
            (f"{path}.requirement_seen", "may be set true, never false: the baseline's controller's check stays")
        )
    if entry.applies_after_death and not base.applies_after_death:
        problems.append(
            (
                f"{path}.applies_after_death",
                "may turn from true to false, never to true: "
                "the baseline's duty does not reach the records of the dead",
            )
        )
    return problems


def _other_entry(path: str, entry: Provision, base: Provision) -> Problems:
    """A power, exemption or the like may be narrowed: a non-empty subset of each limit, a lower max_subjects."""
    problems: Problems = []
    for name in ("requesters", "purposes", "categories"):
        mine, floor = getattr(entry, name), getattr(base, name)
        if floor and not mine:
            problems.append(
                (
                    f"{path}.{name}",
                    f"an empty list means any: narrow the baseline's {_names(floor)} to a non-empty subset",
                )
            )
        elif floor and mine - floor:
            problems.append(
                (
                    f"{path}.{name}",
                    f"adds {_names(mine - floor)}: narrow the baseline's {_names(floor)} to a non-empty subset",
                )
            )
    if base.max_subjects is not None and (entry.max_subjects is None or entry.max_subjects > base.max_subjects):
        problems.append((f"{path}.max_subjects", f"may only be lowered: the baseline's is {base.max_subjects}"))
    problems += [
        (f"{path}.{name}", f"read only on a duty: keep the baseline's {getattr(base, name)}")
        for name in ("applies_after_death", "requirement_seen")
        if getattr(entry, name) != getattr(base, name)
    ]
    return problems


def _article9(policy: Policy, baseline: Policy) -> Problems:
    """Only a demotion from PASS to REFER: a condition dropped from both would be refused,
    one added is another reading of Art. 9."""
    problems: Problems = []
    mine = policy.article9_purpose_fit or {}
    for purpose, floor in (baseline.article9_purpose_fit or {}).items():
        if (fit := mine.get(purpose)) is None:
            continue  # the policy's own checks name a missing purpose
        if extra := fit.pass_ - floor.pass_:
            problems.append(
                (
                    f"article9_purpose_fit.{purpose}.pass",
                    f"adds {_names(extra)}: a derived policy may only demote a condition from pass to refer",
                )
            )
        if (fit.pass_ | fit.refer) != (floor.pass_ | floor.refer):
            problems.append(
                (
                    f"article9_purpose_fit.{purpose}.refer",
                    "pass and refer together must be the baseline's: "
                    f"{_delta(fit.pass_ | fit.refer, floor.pass_ | floor.refer)}",
                )
            )
    return problems


def _groups(policy: Policy, baseline: Policy) -> Problems:
    problems: Problems = []
    if policy.requester_groups is None or baseline.requester_groups is None:
        return problems
    for name in type(baseline.requester_groups).model_fields:
        floor, mine = getattr(baseline.requester_groups, name), getattr(policy.requester_groups, name) or frozenset()
        if floor is None:
            continue
        if dropped := floor - mine:
            problems.append(
                (f"requester_groups.{name}", f"drops {_names(dropped)}: a derived policy may only add types to a group")
            )
        if name in ONLY_OTHER_JOINS and (added := mine - floor - {OrganisationType.OTHER}):
            problems.append(
                (
                    f"requester_groups.{name}",
                    f"adds {_names(added)}: only `other` may join "
                    "(every other type gives care or owes professional secrecy)",
                )
            )
    return problems


def _implausible(policy: Policy, baseline: Policy) -> Problems:
    mine = policy.implausible_purposes or {}
    return [
        (
            f"implausible_purposes.{kind}",
            f"drops {_names(floor - mine.get(kind, frozenset()))}: a derived policy may only add purposes",
        )
        for kind, floor in (baseline.implausible_purposes or {}).items()
        if floor - mine.get(kind, frozenset())
    ]


def _emergency(policy: Policy, baseline: Policy) -> Problems:
    """What an emergency goes ahead past is the baseline's reading of principle 7: only remove (the wording is the
    parse-time check's, policy_documents.py)."""
    mine, floor = policy.emergency, baseline.emergency
    if mine is None or floor is None:
        return []
    problems = [
        (
            f"emergency.waivable.{rule_id}",
            f"the baseline {baseline.version} never lets an emergency go ahead past it; "
            "a derived policy may only narrow the set",
        )
        for rule_id in sorted(mine.waivable - floor.waivable)
    ]
    problems += [
        (
            f"emergency.purposes.{purpose}",
            f"the baseline {baseline.version} has no emergency share for it; "
            "a derived policy may only narrow the purposes",
        )
        for purpose in sorted(mine.purposes - floor.purposes)
    ]
    variants, floor_variants = mine.waivable_variants or {}, floor.waivable_variants or {}
    for rule_id, names in variants.items():
        if added := names - floor_variants.get(rule_id, frozenset()):
            problems.append(
                (
                    f"emergency.waivable_variants.{rule_id}",
                    f"adds {_names(added)}: a derived policy may only remove variants",
                )
            )
    return problems


def _panel(policy: Policy, baseline: Policy) -> Problems:
    mine, floor = policy.panel_rule, baseline.panel_rule
    problems = [
        (f"panel.{name}", f"at least the baseline's {getattr(floor, name)}")
        for name in ("size", "quorum")
        if getattr(mine, name) < getattr(floor, name)
    ]
    problems += [
        (
            f"panel.required_for_approval.{rule_id}",
            f"drops {_names(results - mine.required_for_approval.get(rule_id, frozenset()))}: only add findings",
        )
        for rule_id, results in floor.required_for_approval.items()
        if results - mine.required_for_approval.get(rule_id, frozenset())
    ]
    return problems


def _consultation(policy: Policy, baseline: Policy) -> Problems:
    """Consultations only added, each named rule one the policy runs."""
    mine, floor = policy.consultation_rule.required_for_approval, baseline.consultation_rule.required_for_approval
    problems = [
        (f"consultation.required_for_approval.{rule_id}", "no such rule in this policy")
        for rule_id in mine
        if rule_id not in policy.rules
    ]
    problems += [
        (
            f"consultation.required_for_approval.{rule_id}",
            f"drops {_names(roles - mine.get(rule_id, frozenset()))}: only add consultations",
        )
        for rule_id, roles in floor.items()
        if roles - mine.get(rule_id, frozenset())
    ]
    return problems


def _incidents(policy: Policy, baseline: Policy) -> Problems:
    """The baseline's grading scales kept, and the reporting threshold only lowered (report more, never fewer)."""
    mine, floor = policy.incident_grading, baseline.incident_grading
    problems = [
        (f"incidents.{scale}", "fixed wording: keep the baseline's scale (the NHS guide's)")
        for scale in ("likelihood", "severity")
        if getattr(mine, scale) != getattr(floor, scale)
    ]
    problems += [
        (f"incidents.{name}", f"raised above the baseline's {getattr(floor, name)}: only lower it (report more)")
        for name in ("report_likelihood", "report_severity")
        if getattr(mine, name) > getattr(floor, name)
    ]
    return problems


def _evidence(policy: Policy, model: Policy | None) -> Problems:
    """An evidence section in the shipped evidence policy's shape, asking no less than it does."""
    if policy.evidence is None:
        return []
    if model is None or model.evidence is None:
        return [("evidence", "the baseline edition has no evidence section to follow")]
    mine, floor = policy.evidence, model.evidence
    problems: Problems = []
    if added := mine.court_order_seen - floor.court_order_seen:
        problems.append(
            ("evidence.court_order_seen", f"adds {_names(added)}: an attachment clears no more than in {model.version}")
        )
    if floor.police_request_form is not None:
        form, floor_form = mine.police_request_form, floor.police_request_form
        if form is None:
            return [
                *problems,
                (
                    "evidence.police_request_form",
                    f"keep {model.version}'s: a derived policy asks for the form where it does",
                ),
            ]
        for name in ("requesters", "provisions"):
            if dropped := getattr(floor_form, name) - getattr(form, name):
                problems.append(
                    (f"evidence.police_request_form.{name}", f"drops {_names(dropped)}: only add to {model.version}'s")
                )
        if form.attachment != floor_form.attachment:
            problems.append(
                ("evidence.police_request_form.attachment", f"keep {model.version}'s {floor_form.attachment}")
            )
    return problems


def _thresholds(policy: Policy, baseline: Policy) -> Problems:
    problems: Problems = []
    for name in (*LOWER_ONLY, *RAISE_ONLY):
        mine, floor = getattr(policy.thresholds, name), getattr(baseline.thresholds, name)
        if floor is None or mine is None:
            continue  # read by no rule of the edition, or required by the edition's own checks
        if (mine > floor) if name in LOWER_ONLY else (mine < floor):
            problems.append(
                (
                    f"thresholds.{name}",
                    f"may only be {'lowered' if name in LOWER_ONLY else 'raised'}: the baseline's is {floor}",
                )
            )
    return problems


def _allowed(policy: Policy, baseline: Policy) -> Problems:
    return [
        (
            f"allowed_categories.{purpose}",
            f"adds {_names(categories - baseline.allowed_categories.get(purpose, frozenset()))}: only remove "
            "categories",
        )
        for purpose, categories in policy.allowed_categories.items()
        if categories - baseline.allowed_categories.get(purpose, frozenset())
    ]


def no_longer(mine: ResponseTime, floor: ResponseTime) -> bool:
    """Whether a response time is never later than the baseline's, whatever the day it starts
    (see SHORTEST_WORKING_DAY_HOURS)."""
    if mine.unit == floor.unit:
        return mine.amount <= floor.amount
    if mine.unit is ResponseUnit.HOURS:
        return mine.amount <= SHORTEST_WORKING_DAY_HOURS * floor.amount - CLOCK_CHANGE_HOURS
    return False


def _response_times(policy: Policy, baseline: Policy) -> Problems:
    return [
        (
            f"response_times.{urgency}",
            f"may only be shortened: the baseline's is {floor.amount} {floor.unit} "
            "(a working day counts as 23 hours at the least)",
        )
        for urgency, floor in baseline.response_times.items()
        if (mine := policy.response_times.get(urgency)) is not None and not no_longer(mine, floor)
    ]


def _rules(policy: Policy, baseline: Policy, model: Policy | None) -> Problems:
    """The baseline's rules with their principles (plus an optional rule the evidence section enables),
    each reason beginning with the baseline's text."""
    problems: Problems = []
    for rule_id, section in OPTIONAL_RULES.items():
        enabled = _section(policy, section) is not None
        if enabled and rule_id not in policy.rules:
            problems.append((f"rules.{rule_id}", f"the policy's {section} asks for it: list the rule"))
    for rule_id, entry in policy.rules.items():
        reference = baseline.rules.get(rule_id) or (
            model.rules.get(rule_id) if model is not None and rule_id in OPTIONAL_RULES else None
        )
        if reference is None:
            continue  # not a rule of the edition: the policy's own checks name it
        if entry.principle != reference.principle:
            problems.append((f"rules.{rule_id}.principle", f"keep the baseline's {reference.principle}"))
        floor = _texts(reference.reasons)
        for key, (path_suffix, text) in _texts(entry.reasons).items():
            if key in floor and not text.startswith(floor[key][1]):
                problems.append(
                    (
                        f"rules.{rule_id}.reasons.{path_suffix}",
                        "must begin with the baseline's text, character for character; local guidance follows it",
                    )
                )
    return problems


def _texts(reasons: Mapping[Any, ReasonTexts]) -> dict[tuple[str, str], tuple[str, str]]:
    """Each reason by (result, variant), with its path below `reasons`: a plain text is the `default` variant."""
    found = {}
    for result, texts in reasons.items():
        if isinstance(texts, str):
            found[str(result), DEFAULT_VARIANT] = (str(result), texts)
        else:
            found |= {(str(result), variant): (f"{result}.{variant}", text) for variant, text in texts.items()}
    return found


def _section(policy: Policy, dotted: str) -> Any:
    value: Any = policy
    for part in dotted.split("."):
        value = getattr(value, part, None)
    return value
