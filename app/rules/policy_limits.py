"""Limits every uploaded policy meets: names fit a URL path segment, every number has a ceiling,
and texts are safe to format and store.

The ceilings are far above any sensible setting and far below what breaks arithmetic on dates or the database;
the shipped policies sit well inside them (tests/rules/test_policy_limits.py):

| value | at most | why |
|---|---|---|
| `thresholds.bulk_subjects`, `.anonymised_min_subjects` | 1,000,000 | more people
than a national dataset request names |
| `thresholds.emergency_max_subjects` | 1,000 | an emergency share is for a household or an incident, not a population |
| `thresholds.retention_days` | 36,500 | a hundred years |
| `provisions[].max_subjects` | 1,000,000 | as `bulk_subjects` |
| `response_times.*.amount` | 8,760 hours or 260 working days | a year |
| `claim_lease_minutes` | 10,080 | a week: a guardian's claim on a request lapses within one |
| `panel.size`, `panel.quorum` | 9 | the panel model's own ceiling (quorum at most size) |
| `bank_holidays` | 2,000 dates, in the years 1900-2199 | a century of calendars;
date arithmetic stays far from year 9999 |
| a reason text | 2,000 characters | a paragraph of law and a paragraph of local guidance |
| any other text (a title) | 500 characters | |

Names and versions are 1-64 of the characters a URL path segment carries unescaped (letters, digits, `.`, `_`,
`-`, `~`), starting with a letter or digit: the `{name}/{version}` path of every policy route must reach them,
and the `Location` of an upload must be one.
"""

import re
from string import Formatter
from typing import Any

from app.rules.policy import Policy, ResponseUnit

Problems = list[tuple[str, str]]

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,63}")
THRESHOLD_CAPS = {
    "bulk_subjects": 1_000_000,
    "retention_days": 36_500,
    "emergency_max_subjects": 1_000,
    "anonymised_min_subjects": 1_000_000,
}
MAX_SUBJECTS_CAP = 1_000_000
RESPONSE_CAPS = {ResponseUnit.HOURS: 8_760, ResponseUnit.WORKING_DAYS: 260}
CLAIM_LEASE_CAP = 10_080
BANK_HOLIDAYS_CAP = 2_000
CALENDAR_YEARS = range(1900, 2200)
REASON_LENGTH_CAP = 2_000
TITLE_LENGTH_CAP = 500


def name_problems(policy: Policy) -> Problems:
    """A name or version that a `{name}/{version}` path segment could not carry."""
    return [
        (
            field,
            "must be 1-64 letters, digits, '.', '_', '-' or '~', "
            f"starting with a letter or digit (given {value[:80]!r})",
        )
        for field, value in (("name", policy.name), ("version", policy.version))
        if not NAME_PATTERN.fullmatch(value)
    ]


def bound_problems(policy: Policy) -> Problems:
    """Every number above its ceiling (the table above)."""
    problems = [
        (f"thresholds.{name}", f"at most {cap}")
        for name, cap in THRESHOLD_CAPS.items()
        if (value := getattr(policy.thresholds, name)) is not None and value > cap
    ]
    problems += [
        (f"provisions[{index}].max_subjects", f"at most {MAX_SUBJECTS_CAP}")
        for index, entry in enumerate(policy.provisions or ())
        if entry.max_subjects is not None and entry.max_subjects > MAX_SUBJECTS_CAP
    ]
    problems += [
        (f"response_times.{urgency}.amount", f"at most {RESPONSE_CAPS[response.unit]} {response.unit}")
        for urgency, response in policy.response_times.items()
        if response.amount > RESPONSE_CAPS[response.unit]
    ]
    if policy.claim_lease_minutes > CLAIM_LEASE_CAP:
        problems.append(("claim_lease_minutes", f"at most {CLAIM_LEASE_CAP} (a week)"))
    if len(policy.bank_holidays) > BANK_HOLIDAYS_CAP:
        problems.append(("bank_holidays", f"at most {BANK_HOLIDAYS_CAP} dates"))
    problems += [
        (f"bank_holidays[{index}]", f"a year from {CALENDAR_YEARS.start} to {CALENDAR_YEARS.stop - 1}")
        for index, day in enumerate(policy.bank_holidays)
        if day.year not in CALENDAR_YEARS
    ]
    return problems


def text_problems(policy: Policy) -> Problems:
    """Texts that could not be stored or formatted safely: a NUL or a lone surrogate, an over-long text,
    a placeholder that is not a bare threshold."""
    known = set(policy.thresholds.model_dump(exclude_none=True))
    problems: Problems = []
    for rule_id, entry in policy.rules.items():
        for result, texts in entry.reasons.items():
            named = {"": texts} if isinstance(texts, str) else {f".{variant}": text for variant, text in texts.items()}
            for suffix, text in named.items():
                path = f"rules.{rule_id}.reasons.{result}{suffix}"
                problems += [(path, problem) for problem in _text(text, REASON_LENGTH_CAP)]
                problems += [(path, problem) for problem in _placeholders(text, known)]
    titles: dict[str, Any] = {f"principle_titles.{key}": title for key, title in policy.principle_titles.items()}
    titles |= {f"area_titles.{key}": title for key, title in policy.area_titles.items()}
    titles |= {f"provisions[{index}].title": entry.title for index, entry in enumerate(policy.provisions or ())}
    for path, title in titles.items():
        problems += [(path, problem) for problem in _text(title, TITLE_LENGTH_CAP)]
    return problems


def _text(text: str, cap: int) -> list[str]:
    """What makes one text unsafe to store (PostgreSQL refuses NUL;
    JSON and UTF-8 refuse a lone surrogate) or too long."""
    problems = []
    if "\x00" in text:
        problems.append("contains a NUL character")
    if any("\ud800" <= character <= "\udfff" for character in text):
        problems.append("contains a lone surrogate, which is not a character")
    if len(text) > cap:
        problems.append(f"at most {cap} characters (given {len(text)})")
    return problems


def _placeholders(text: str, known: set[str]) -> list[str]:
    """Placeholders other than a bare `{threshold}`: a format spec or conversion can pad a text to any size, an
    attribute or index reads other data."""
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in Formatter().parse(text) if name is not None]
    except ValueError as error:
        return [f"bad placeholder: {error} (write a brace as {{{{ or }}}})"]
    return [
        f"placeholder {{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}: only a bare "
        f"{{name}} of a threshold ({', '.join(sorted(known))})"
        for name, spec, conversion in fields
        if name not in known or spec or conversion
    ]
