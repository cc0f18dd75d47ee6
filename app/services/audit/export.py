"""The audit trail as JSON Lines for archive storage, and its verification with no database at all
(docs/auditors/audit-format.md).

An export is one snapshot: the checkpoints after `since` are read first, then the chain's head, then the events
after `since` up to that head, streamed in batches, so memory stays flat however long the trail. Its lines are,
in order: the header, each published key, each checkpoint, each event, and an end line that counts them
(a file cut short has none, and says so).
"""

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.canonical import canonical_json
from app.models.audit import AuditFinding, AuditVerification, CheckpointPublic
from app.models.base import utcnow
from app.services.audit import chain as audit
from app.services.audit import proof as audit_proof
from app.services.audit.signing import key_set

FORMAT = "caldicott-audit-export/v1"
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


class ExportError(ValueError):
    """The file is not an export this verifier can read: the line number and what is wrong."""


def _line(record: dict[str, Any]) -> bytes:
    return canonical_json(record) + b"\n"


async def write(
    *, session: AsyncSession, out: IO[bytes], since: int, log_name: str, keys: Mapping[str, dict[str, str]]
) -> dict[str, Any]:
    """Write the events after seq `since`,
    with the checkpoints and public keys that vouch for them; the end line's record."""
    connection = await session.connection()
    # Checkpoints first, then the head: a checkpoint only ever signs a head already chained, so every one read here is
    # at or before the head read next. One beyond it is evidence that events were removed, and is exported as such.
    stored = [audit_proof.from_row(row) for row in await audit.checkpoint_rows(connection) if row.seq > since]
    head = (await connection.execute(audit.HEAD)).first()
    head_seq = head.seq if head is not None else 0
    out.write(
        _line(
            {
                "kind": "export",
                "format": FORMAT,
                "log": log_name,
                "since": since,
                "head_seq": head_seq,
                "exported_at": audit_proof.time_text(utcnow()),
            }
        )
    )
    for jwk in keys.values():
        out.write(_line({"kind": "key", "jwk": jwk}))
    for checkpoint in stored:
        out.write(_line({"kind": "checkpoint", **checkpoint.model_dump()}))
    events, last_hash = 0, None
    async for batch in audit.chain_batches(connection, after=since):
        rows = [
            row for row in batch if row[0] <= head_seq
        ]  # events chained since the head was read wait for the next export
        out.write(b"".join(_line({"kind": "event", **_event(row)}) for row in rows))
        if rows:
            events, last_hash = events + len(rows), rows[-1][-1]
        if len(rows) < len(batch):
            break
    end = {
        "kind": "end",
        "events": events,
        "checkpoints": len(stored),
        "head_seq": head_seq if events else since,
        "head_hash": last_hash,
    }
    out.write(_line(end))
    return end


def _event(row: Sequence[Any]) -> dict[str, Any]:
    """A chain row as its export line has it: the hashed fields in their canonical form, then prev_hash and hash."""
    (
        seq,
        occurred_at,
        actor_sub,
        actor_org,
        roles,
        action,
        target_type,
        target_id,
        outcome,
        correlation_id,
        prev_hash,
        row_hash,
    ) = row
    return {
        "seq": seq,
        "occurred_at": audit.utc_isoformat(occurred_at),
        "actor_sub": actor_sub,
        "actor_org": actor_org,
        "actor_roles": audit.stored_roles(roles),
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "outcome": outcome,
        "correlation_id": correlation_id,
        "prev_hash": prev_hash,
        "hash": row_hash,
    }


def _records(lines: IO[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, text in enumerate(lines, start=1):
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            raise ExportError(f"line {number} is not JSON: {error.msg}") from error
        if not isinstance(record, dict) or not isinstance(record.get("kind"), str):
            raise ExportError(f"line {number} is not an object with a `kind`")
        yield number, record


def verify(
    lines: IO[str], *, keys: Mapping[str, dict[str, str]] | None = None, witnesses: Sequence[CheckpointPublic] = ()
) -> AuditVerification:
    """Verify an export: the chain from its first event, the checkpoints in it, and any a witness kept,
    against `keys` (else the export's own)."""
    records = _records(lines)
    number, header = next(records, (0, {}))
    if header.get("kind") != "export" or header.get("format") != FORMAT:
        raise ExportError(f"line 1 is not the header of a {FORMAT} file")
    since = header.get("since")
    if not isinstance(since, int) or since < 0:
        raise ExportError("line 1: `since` is not a seq")
    exported: dict[str, dict[str, str]] = {}
    stored: list[CheckpointPublic] = []
    chain = _Chain(since)
    wanted: set[int] | None = None  # the seqs checkpoints name: they all come before the first event
    end = None
    for number, record in records:
        kind = record.pop("kind")
        if end is not None:
            raise ExportError(f"line {number} follows the end line")
        try:
            if kind == "key":
                exported |= key_set({"keys": [record.get("jwk")]}, source=f"line {number}")
            elif kind == "checkpoint":
                if wanted is not None:
                    raise ExportError(f"line {number}: a checkpoint after the events (checkpoints come first)")
                stored.append(CheckpointPublic.model_validate(record))
            elif kind == "event":
                wanted = wanted if wanted is not None else {checkpoint.seq for checkpoint in (*stored, *witnesses)}
                chain.add(record, wanted=wanted)
            elif kind == "end":
                end = record
            else:
                raise ExportError(f"line {number}: unknown kind {kind!r}")
        except (ValidationError, KeyError, TypeError, ValueError) as error:
            raise ExportError(f"line {number} is not a valid {kind} line: {error}") from error
    judge = audit_proof.Judge(
        keys=exported if keys is None else keys,
        hash_at=chain.hash_at,
        head_seq=chain.head_seq,
        first_number=stored[0].number if since and stored else 1,
    )
    judge.stored(stored)
    # A witness's checkpoint at or before `since` is about events this file does not hold:
    # nothing to check it against here.
    witnessed = judge.witnessed(
        [witness for witness in witnesses if witness.seq > since],
        {checkpoint.number: checkpoint for checkpoint in stored},
    )
    counted = (chain.events, len(stored), chain.head_seq, chain.head_hash if chain.events else None)
    whole = (
        end is not None
        and (end.get("events"), end.get("checkpoints"), end.get("head_seq"), end.get("head_hash")) == counted
    )
    cut = [] if whole else [_ends_early(chain.head_seq + 1)]
    return audit_proof.verification(
        judge=judge,
        events=chain.events,
        pending=0,
        head_seq=chain.head_seq,
        head_hash=chain.head_hash,
        chain_break=chain.first_broken,
        stored=stored,
        witnessed=witnessed,
        extra=cut,
    )


def _ends_early(seq: int) -> AuditFinding:
    return AuditFinding(
        seq=seq,
        checkpoint=None,
        source="chain",
        problem="the export ends early: its end line is missing or counts otherwise",
    )


class _Chain:
    """The events of an export, checked one by one as they stream past."""

    def __init__(self, since: int) -> None:
        self.events, self.head_seq, self.first_broken = 0, since, None
        self.head_hash: str = (
            audit.GENESIS_HASH if since == 0 else ""
        )  # after `since`, the first event's prev_hash is taken as given
        self.hash_at: dict[int, str] = {}

    def add(self, record: dict[str, Any], *, wanted: set[int]) -> None:
        fields = {name: record[name] for name in EVENT_FIELDS}
        canonical_time = (
            audit.utc_isoformat(fields["occurred_at"]) == fields["occurred_at"]
        )  # ValueError when it is no date-time
        prev_hash, row_hash = record["prev_hash"], record["hash"]
        if self.events == 0 and self.head_seq:
            self.head_hash = prev_hash
        row = (*fields.values(), prev_hash, row_hash)
        if self.first_broken is None and not canonical_time:
            self.first_broken = record[
                "seq"
            ]  # the hash is of the text as written, which must be the one canonical form
        if self.first_broken is None:
            self.first_broken = audit.first_break(
                [(*row[:4], json.dumps(row[4]), *row[5:])], self.head_seq, self.head_hash
            )
        if record["seq"] in wanted:
            self.hash_at[record["seq"]] = row_hash
        self.events, self.head_seq, self.head_hash = self.events + 1, record["seq"], row_hash
