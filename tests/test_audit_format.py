"""docs/auditors/audit-format.md holds:
a verifier written from it alone judges real exports as the service's own offline verifier does."""

import base64
import hashlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import FastAPI

from tests.support import Tokens

if TYPE_CHECKING:
    from app.models.audit import AuditVerification

# The verifier, from the document alone: the standard library and `cryptography`, nothing from `app`.

FORMAT = "caldicott-audit-export/v1"
GENESIS = "0" * 64
DOMAIN = b"caldicott-audit-checkpoint/v1\n"
EVENT_FIELDS = (
    "seq",
    "occurred_at",
    "actor_sub",
    "actor_org",
    "actor_roles",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "correlation_id",
)
CHECKPOINT_FIELDS = ("number", "log", "seq", "hash", "time", "previous", "kid")
SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


def canonical(value: Any) -> bytes:
    """Canonical JSON as the document states it."""

    def text(item: Any) -> str:
        if item is None or isinstance(item, bool):
            return {None: "null", True: "true", False: "false"}[item]
        if isinstance(item, int):
            return str(item)
        if isinstance(item, str):
            return '"' + "".join(SHORT_ESCAPES.get(c, f"\\u{ord(c):04x}" if ord(c) < 0x20 else c) for c in item) + '"'
        if isinstance(item, list):
            return "[" + ",".join(map(text, item)) + "]"
        if isinstance(item, dict):
            return "{" + ",".join(text(key) + ":" + text(item[key]) for key in sorted(item)) + "}"
        raise TypeError(f"not in the canonical subset: {item!r}")

    return text(value).encode("utf-8")


def b64url_decode(value: str) -> bytes:
    """Base64url without padding, canonical form only."""
    if not isinstance(value, str) or not B64URL.match(value):
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != value:
        raise ValueError("not canonical base64url")
    return raw


def thumbprint(x: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(canonical({"crv": "Ed25519", "kty": "OKP", "x": x})).digest())
        .rstrip(b"=")
        .decode()
    )


def event_hash(event: dict[str, Any]) -> str:
    return hashlib.sha256(
        event["prev_hash"].encode("ascii") + canonical({name: event[name] for name in EVENT_FIELDS})
    ).hexdigest()


def signed_bytes(checkpoint: dict[str, Any]) -> bytes:
    return DOMAIN + canonical({name: checkpoint[name] for name in CHECKPOINT_FIELDS})


def signature_good(checkpoint: dict[str, Any], keys: dict[str, bytes]) -> bool:
    if checkpoint["kid"] not in keys:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(keys[checkpoint["kid"]]).verify(
            b64url_decode(checkpoint["signature"]), signed_bytes(checkpoint)
        )
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass
class Verdict:
    head_seq: int
    head_hash: str | None
    events: int
    problems: list[tuple[int, str]] = field(default_factory=list)

    @property
    def first_seq(self) -> int | None:
        return min((seq for seq, _ in self.problems), default=None)


def read_export(
    text: str,
) -> tuple[dict[str, Any], dict[str, bytes], list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None]:
    """The header, keys by kid, checkpoint lines, event lines and end line (None when missing);
    ValueError when unreadable."""
    records = [json.loads(line) for line in text.splitlines()]
    if not records or records[0].get("kind") != "export" or records[0].get("format") != FORMAT:
        raise ValueError("line 1 is not the header")
    keys: dict[str, bytes] = {}
    lines: dict[str, list[dict[str, Any]]] = {"checkpoint": [], "event": [], "end": []}
    for number, record in enumerate(records[1:], start=2):
        if lines["end"] or record.get("kind") not in {"key", *lines}:
            raise ValueError(f"line {number} follows the end line or has an unknown kind")
        if record["kind"] == "key":
            jwk = record["jwk"]
            if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or len(b64url_decode(jwk["x"])) != 32:
                raise ValueError(f"line {number} is not an Ed25519 key")
            if jwk.get("kid", thumbprint(jwk["x"])) != thumbprint(jwk["x"]):
                raise ValueError(f"line {number}: kid is not the key's thumbprint")
            keys[thumbprint(jwk["x"])] = b64url_decode(jwk["x"])
        else:
            lines[record["kind"]].append(record)
    return records[0], keys, lines["checkpoint"], lines["event"], (lines["end"] or [None])[0]


def check_chain(events: list[dict[str, Any]], since: int, verdict: Verdict) -> dict[int, str]:
    """Each event against the one before; the hash the file gives at each seq."""
    seq, prev_hash, hash_at, broken = since, GENESIS if since == 0 else None, {}, False
    for event in events:
        prev_hash = event["prev_hash"] if prev_hash is None else prev_hash  # after `since`, taken as given
        if not broken and (event["seq"] != seq + 1 or event["prev_hash"] != prev_hash):
            verdict.problems.append((seq + 1, "missing event or broken link"))
            broken = True
        elif not broken and event_hash(event) != event["hash"]:
            verdict.problems.append((event["seq"], "hash does not match"))
            broken = True
        hash_at[event["seq"]] = event["hash"]
        seq, prev_hash = event["seq"], event["hash"]
    verdict.head_seq, verdict.head_hash, verdict.events = seq, prev_hash if events else None, len(events)
    return hash_at


def check_checkpoints(
    checkpoints: list[dict[str, Any]], keys: dict[str, bytes], hash_at: dict[int, str], since: int, verdict: Verdict
) -> None:
    """Links between checkpoints, their signatures, and the chain's hash at their seq."""
    before: dict[str, Any] | None = None
    for checkpoint in checkpoints:
        seq = checkpoint["seq"]
        expected = (1 if since == 0 else checkpoint["number"]) if before is None else before["number"] + 1
        if checkpoint["number"] != expected:
            verdict.problems.append((seq, "checkpoint numbers missing"))
        elif before is None and since == 0 and checkpoint["previous"] is not None:
            verdict.problems.append((seq, "first checkpoint names a previous one"))
        elif before is not None and checkpoint["previous"] != hashlib.sha256(signed_bytes(before)).hexdigest():
            verdict.problems.append((seq, "previous link broken"))
        if before is not None and seq < before["seq"]:
            verdict.problems.append((seq, "signs an earlier seq"))
        before = checkpoint
        if not signature_good(checkpoint, keys):
            verdict.problems.append((seq, "bad signature or unknown key"))
        elif seq > verdict.head_seq:
            verdict.problems.append((verdict.head_seq + 1, "events missing from the end"))
        elif hash_at.get(seq) != checkpoint["hash"]:
            verdict.problems.append((seq, "no event or another hash at this seq"))


def verify_export(text: str, trusted: dict[str, bytes] | None = None) -> Verdict:
    """The document's verification algorithm over a whole export."""
    header, keys, checkpoints, events, end = read_export(text)
    verdict = Verdict(head_seq=header["since"], head_hash=None, events=0)
    hash_at = check_chain(events, header["since"], verdict)
    check_checkpoints(checkpoints, keys if trusted is None else trusted, hash_at, header["since"], verdict)
    if end is None or end.get("events") != verdict.events or end.get("head_seq") != verdict.head_seq:
        verdict.problems.append((verdict.head_seq + 1, "end line missing or wrong"))
    return verdict


# The service: a trail with two checkpoints, exported in process.

Records = list[dict[str, Any]]
Marks = tuple[int, int, int]  # the first checkpoint's seq, the second's, the chain's head
Alter = Callable[[Records, Marks], int | None]  # edits an export's records; the seq a verifier must report first


async def submissions(client: httpx.AsyncClient, tokens: Tokens, first: int, count: int) -> None:
    from tests.factories import submit
    from tests.rules.baseline import changed

    for number in range(first, first + count):
        response = await submit(client, tokens, changed({"reference": f"CASE-{number}"}))
        assert response.status_code == 201, response.text


async def checkpoint_seq(app: FastAPI) -> int:
    from app.services.audit import checkpoints

    made = await checkpoints.make(
        app.state.wiring.sessionmaker, keys=app.state.wiring.settings.audit_keys(sign=True), log_name="CONTROLLER"
    )
    assert made is not None
    return made.seq


async def export(app: FastAPI, since: int = 0) -> str:
    from app.services.audit import export as audit_export

    buffer = io.BytesIO()
    async with app.state.wiring.sessionmaker() as session:
        await audit_export.write(
            session=session, out=buffer, since=since, log_name="CONTROLLER", keys=app.state.wiring.audit_keys.published
        )
    return buffer.getvalue().decode("utf-8")


async def signed_trail(client: httpx.AsyncClient, tokens: Tokens, app: FastAPI) -> Marks:
    """Submissions, checkpoint, more submissions, checkpoint, and a few events no checkpoint signs yet."""
    from tests.factories import register_organisation

    await register_organisation(client, tokens)
    await submissions(client, tokens, 1, 3)
    first = await checkpoint_seq(app)
    await submissions(client, tokens, 4, 3)
    second = await checkpoint_seq(app)
    await submissions(client, tokens, 7, 2)
    head = json.loads((await export(app)).splitlines()[-1])["head_seq"]
    assert 1 < first < second < head
    return first, second, head


def service_verdict(text: str) -> "AuditVerification":
    from app.services.audit import export as audit_export

    return audit_export.verify(io.StringIO(text))


def parse(text: str) -> Records:
    return [json.loads(line) for line in text.splitlines()]


def render(records: Records) -> str:
    return "".join(canonical(record).decode("utf-8") + "\n" for record in records)


@pytest.mark.parametrize("since", ["all", "after the first checkpoint"])
async def test_an_untouched_export_verifies_alike(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, since: str
) -> None:
    first, second, head = await signed_trail(client, tokens, app)
    text = await export(app, 0 if since == "all" else first)
    mine, theirs = verify_export(text), service_verdict(text)
    assert render(parse(text)) == text  # every line is canonical JSON as the document states it
    assert mine.problems == [] and theirs.valid
    assert (mine.head_seq, mine.head_hash, mine.events) == (theirs.head_seq, theirs.head_hash, theirs.events)
    assert (mine.head_seq, mine.events) == (head, head if since == "all" else head - first)
    assert [record["seq"] for record in parse(text) if record["kind"] == "checkpoint"] == (
        [first, second] if since == "all" else [second]
    )
    assert verify_export(text, trusted={}).first_seq == (
        first if since == "all" else second
    )  # keys the reader holds, not the file's


def events_of(records: Records) -> dict[int, dict[str, Any]]:
    return {record["seq"]: record for record in records if record["kind"] == "event"}


def rehash_from(records: Records, seq: int) -> None:
    """Recompute every hash and prev_hash from `seq` on, as someone who knows the rule would."""
    events = events_of(records)
    for number in range(seq, max(events) + 1):
        events[number]["prev_hash"] = events[number - 1]["hash"] if number > 1 else GENESIS
        events[number]["hash"] = event_hash(events[number])
    next(record for record in records if record["kind"] == "end")["head_hash"] = events[max(events)]["hash"]


def alter_edit_field(records: Records, marks: Marks) -> int | None:
    events_of(records)[2]["outcome"] = "forged"
    return 2


def alter_delete_event(records: Records, marks: Marks) -> int | None:
    records.remove(events_of(records)[marks[0] + 1])
    return marks[0] + 1


def cut_before(records: Records, seq: int) -> None:
    """Delete the events from `seq` on, and the end line."""
    records[:] = [
        record
        for record in records
        if record["kind"] not in {"event", "end"} or (record["kind"] == "event" and record["seq"] < seq)
    ]


def alter_cut_short(records: Records, marks: Marks) -> int | None:
    cut_before(records, marks[1])
    return marks[1]  # the second checkpoint signs a seq past the end, and the end line is gone


def alter_cut_unsigned_tail(records: Records, marks: Marks) -> int | None:
    cut_before(records, marks[2])
    return marks[2]  # only the missing end line tells


def alter_flip_signature(records: Records, marks: Marks) -> int | None:
    checkpoint = next(record for record in records if record["kind"] == "checkpoint")
    signature = checkpoint["signature"]  # a character in the middle: the last one's low bits are unused
    checkpoint["signature"] = signature[:40] + ("B" if signature[40] == "A" else "A") + signature[41:]
    return marks[0]


def alter_foreign_key(records: Records, marks: Marks) -> int | None:
    raw = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    for record in records:
        if record["kind"] == "key":
            record["jwk"] = {"crv": "Ed25519", "kty": "OKP", "x": x, "kid": thumbprint(x), "alg": "EdDSA", "use": "sig"}
    return marks[0]


def alter_drop_first_checkpoint(records: Records, marks: Marks) -> int | None:
    records.remove(next(record for record in records if record["kind"] == "checkpoint"))
    return marks[1]  # checkpoint 2 is now first, and numbers start at 1


def alter_rewrite_before_first(records: Records, marks: Marks) -> int | None:
    events_of(records)[2]["actor_sub"] = "someone-else"
    rehash_from(records, 2)
    return marks[0]


def alter_rewrite_between(records: Records, marks: Marks) -> int | None:
    events_of(records)[marks[0] + 1]["outcome"] = "forged"
    rehash_from(records, marks[0] + 1)
    return marks[1]


def alter_rewrite_unsigned(records: Records, marks: Marks) -> int | None:
    events_of(records)[marks[2]]["outcome"] = "forged"
    rehash_from(records, marks[2])
    return None  # past the last checkpoint: nothing in the file can tell


CASES: list[Alter] = [value for name, value in list(globals().items()) if name.startswith("alter_")]


@pytest.mark.parametrize("alter", CASES, ids=[case.__name__.removeprefix("alter_") for case in CASES])
async def test_an_altered_export_is_reported_at_the_same_seq(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, alter: Alter
) -> None:
    marks = await signed_trail(client, tokens, app)
    records = parse(await export(app))
    expected = alter(records, marks)
    text = render(records)
    mine, theirs = verify_export(text), service_verdict(text)
    assert mine.first_seq == theirs.first_broken_seq == expected, (mine.problems, theirs.findings)
    assert (mine.first_seq is None) == theirs.valid


@pytest.mark.parametrize(
    "value",
    [
        "".join(map(chr, range(0x20))) + '"\\/\x7f',
        "é ü 😀 \u2028\u2029 \ufeff",
        {"b": [1, None, True, False, -7], "a": {"z": "", "Z": 0}, "é": "x", "_": []},
        [2**63 - 1, -(2**63), "CASE-1"],
    ],
)
def test_the_canonical_json_rules_are_the_services(value: Any) -> None:
    from app.canonical import canonical_json

    assert canonical(value) == canonical_json(value)
