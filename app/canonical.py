"""Canonical JSON and the hashes built on it: request fingerprints and keyed subject hashes (and their keys).

The canonical bytes are the standard library's (sorted keys, no whitespace, UTF-8, nothing escaped
beyond what JSON requires); every stored hash was made from them. orjson writes the same bytes
several times faster for the values it renders identically: strings (every code point, checked in
tests/test_canonical.py), integers in its 64-bit range, booleans, null, and lists, tuples and
string-keyed dicts of these, of exact built-in types. Anything else (floats, NaN, enums and other
subclasses, larger integers, lone surrogates, cycles) goes to the standard library, so its bytes,
or its error, are what they always were.
"""

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

# Built once: json.dumps with these options builds a new encoder on every call (bench/RESULTS.md, audit verification).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# Exact types only: subclasses (enums among them) may render differently. An integer outside orjson's
# 64-bit range makes it raise, which sends the value to the standard library too.
_PLAIN = frozenset({str, int, bool, type(None)})
_STR = frozenset({str})


def _orjson_agrees(value: Any) -> bool:
    """True when orjson renders `value` byte for byte as the standard library does (or refuses it)."""
    kind = type(value)
    if kind is dict:
        if not _STR.issuperset(map(type, value)):
            return False
        value = value.values()
    elif kind is not list and kind is not tuple:
        return kind in _PLAIN
    for item in value:  # noqa: SIM110 (all() over a generator is slower, and this runs once per audit event verified)
        if type(item) not in _PLAIN and not _orjson_agrees(item):
            return False
    return True


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the same value always gives the same bytes."""
    try:
        if _orjson_agrees(value):
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, RecursionError):
        pass  # a lone surrogate, nesting orjson refuses, or a cycle: the standard library decides
    return _ENCODER.encode(value).encode()


def stored_json(text: str) -> Any:
    """What json.loads makes of stored JSON text, through orjson when that cannot differ.

    Only text without an object (so no duplicate keys to resolve) whose value is plain in the sense
    above (so no float to round) is taken from orjson; anything else is json.loads's value, or error.
    """
    if "{" not in text:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # NaN, a lone surrogate escape and the like
        else:
            if _orjson_agrees(value):
                return value
    return json.loads(text)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def subject_hash(key: bytes, identifier: str) -> str:
    """HMAC-SHA256 of a subject identifier; the identifier itself is never stored."""
    normalised = "".join(identifier.split()).upper()
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, eq=False)
class SubjectKeys:
    """The subject keys by version: new hashes are made with `current`; a search tries every version.

    The keys never appear in a repr, a log line or an error; only their versions do.
    """

    keys: Mapping[int, bytes] = field(repr=False)
    current: int

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ValueError(f"subject key version {self.current} is made current but not configured")

    @property
    def versions(self) -> frozenset[int]:
        return frozenset(self.keys)

    def hash(self, identifier: str, *, version: int | None = None) -> str:
        """The identifier's hash under one version's key (by default the current one)."""
        return subject_hash(self.keys[self.current if version is None else version], identifier)

    def every_hash(self, identifier: str) -> dict[int, str]:
        """The identifier's hash under each configured version, for a search that must find every one."""
        return {version: subject_hash(key, identifier) for version, key in self.keys.items()}
