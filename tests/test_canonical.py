"""Canonical JSON: orjson's fast path gives the standard library's bytes, or defers to it, for any value.

Every stored hash (audit chain, request fingerprints, webhook bodies) was made from the standard
library's bytes, so this is the property that keeps them all valid.
"""

import json
import math
import sys
from enum import IntEnum, StrEnum
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.canonical import canonical_json, stored_json


def reference(value: Any) -> bytes:
    """What canonical_json always returned: the standard library with these options."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def same_outcome(value: Any) -> None:
    """Both give the same bytes, or both refuse the value with the same kind of error."""
    try:
        expected: bytes | type[BaseException] = reference(value)
    except (TypeError, ValueError) as error:  # UnicodeEncodeError is a ValueError
        expected = type(error)
    try:
        got: bytes | type[BaseException] = canonical_json(value)
    except (TypeError, ValueError) as error:
        got = type(error)
    assert got == expected


class Colour(StrEnum):
    RED = "réd"


class Size(IntEnum):
    BIG = 7


any_text = st.text(
    st.characters(codec=None, exclude_categories=()), max_size=12
)  # every code point, lone surrogates too
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**64) - 5, max_value=2**64 + 5),
    st.integers(min_value=-(2**63) - 2, max_value=-(2**63) + 2),
    st.integers(min_value=2**64 - 2, max_value=2**64 + 2),
    st.floats(allow_nan=True, allow_infinity=True),
    any_text,
    st.sampled_from(
        [Colour.RED, Size.BIG, "\u2028\u2029", "\x7f\x00\x1f", '"\\/', "\U0001f600", 1e16, 1e-7, -0.0, 2**53 + 1]
    ),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(any_text, inner, max_size=4),
        st.dictionaries(st.one_of(any_text, st.integers(), st.booleans(), st.none(), st.floats()), inner, max_size=3),
    ),
    max_leaves=12,
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_any_value_gives_the_standard_librarys_bytes_or_its_error(value: Any) -> None:
    same_outcome(value)


@settings(max_examples=1000, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "seq": st.integers(min_value=1, max_value=2**63 - 1),
            "occurred_at": any_text,
            "actor_sub": any_text,
            "actor_org": st.none() | any_text,
            "actor_roles": st.lists(any_text, max_size=4),
            "action": any_text,
            "target_type": any_text,
            "target_id": any_text,
            "outcome": any_text,
            "correlation_id": st.none() | any_text,
        }
    )
)
def test_audit_event_fields_give_the_standard_librarys_bytes(fields: dict[str, Any]) -> None:
    same_outcome(fields)


def test_every_code_point_is_written_as_the_standard_library_writes_it() -> None:
    every = "".join(chr(point) for point in range(sys.maxunicode + 1) if not 0xD800 <= point <= 0xDFFF)
    assert canonical_json(every) == reference(every)
    assert canonical_json({every[i : i + 3]: i for i in range(0, len(every), 997)}) == reference(
        {every[i : i + 3]: i for i in range(0, len(every), 997)}
    )


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        [math.inf, -math.inf],
        {"a": 1.0, "b": 0.1, "c": 1e16, "d": 1e-7, "e": 5e-324},
        2**64,
        -(2**63) - 1,
        {1: "int key", "1": "str key"},
        {True: 1, None: 2},
        [Colour.RED, Size.BIG],
        "DEEP",
        "lone \ud800 surrogate",
        ["a", ("b", None, False)],
    ],
)
def test_values_orjson_would_write_differently_or_refuse_go_to_the_standard_library(value: Any) -> None:
    if value == "DEEP":  # deeper than orjson's limit of 254 levels
        value = {"deep": []}
        for _ in range(300):
            value = [value]
    same_outcome(value)


def test_a_cycle_is_refused_as_before() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular reference"):
        canonical_json(cycle)


def same_load(text: str) -> None:
    try:
        expected: Any = json.loads(text)
    except ValueError as error:
        expected = type(error)
    try:
        got: Any = stored_json(text)
    except ValueError as error:
        got = type(error)
    assert repr(got) == repr(expected)  # the same values of the same types: 1 is not 1.0, a list is not a tuple


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, st.booleans(), st.booleans())
def test_stored_json_reads_what_json_loads_reads(value: Any, ascii_only: bool, spaced: bool) -> None:
    try:
        text = json.dumps(value, ensure_ascii=ascii_only, separators=(", ", ": ") if spaced else (",", ":"))
    except (TypeError, ValueError):
        return
    same_load(text)


@pytest.mark.parametrize(
    "text",
    [
        '["agency", "guardian"]',
        "[]",
        "NaN",
        "[Infinity]",
        '["\\ud800"]',
        "[123456789012345678901234567890]",
        "[1.5, 1e400]",
        '{"a": 1, "a": 2}',
        "[1",
        '["\x01"]',
        "null",
        '"x"',
    ],
)
def test_stored_json_of_odd_text_is_json_loads(text: str) -> None:
    same_load(text)
