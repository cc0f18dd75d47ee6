"""Canonical JSON and the hashes built on it: request fingerprints and keyed subject hashes."""

import hashlib
import hmac
import json
from typing import Any

# Built once: json.dumps with these options builds a new encoder on every call (bench/RESULTS.md, audit verification).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the same value always gives the same bytes."""
    return _ENCODER.encode(value).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def subject_hash(key: bytes, identifier: str) -> str:
    """HMAC-SHA256 of a subject identifier; the identifier itself is never stored."""
    normalised = "".join(identifier.split()).upper()
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()
