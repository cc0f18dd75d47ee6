"""What a signed checkpoint says, and whether the chain agrees with it
(docs/auditors/audit-format.md is the same thing in prose).

Pure functions over checkpoints and the chain's hashes, used alike by the API's verification, the
command's and the offline verifier of an export, so that all three judge by one rule.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from app.canonical import canonical_json, sha256_hex
from app.models.audit import AuditFinding, AuditVerification, CheckpointPublic, RejectedWitness
from app.services.audit import signing as audit_signing

SIGNING_DOMAIN = b"caldicott-audit-checkpoint/v1\n"
MAX_FINDINGS = 100


def time_text(moment: datetime) -> str:
    """A checkpoint's time: UTC, microseconds, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_row(row: Any) -> CheckpointPublic:
    """A stored checkpoint (a row or an AuditCheckpoint) as it is published."""
    return CheckpointPublic(
        number=row.number,
        log=row.log,
        seq=row.seq,
        hash=row.hash,
        time=time_text(row.time),
        previous=row.previous,
        kid=row.kid,
        signature=row.signature,
    )


def signed_bytes(checkpoint: CheckpointPublic) -> bytes:
    """The domain line, then the canonical JSON of every member but the signature."""
    return SIGNING_DOMAIN + canonical_json(checkpoint.model_dump(exclude={"signature"}))


def digest(checkpoint: CheckpointPublic) -> str:
    """What the next checkpoint names as `previous`: SHA-256 of the signed bytes, as hex."""
    return sha256_hex(signed_bytes(checkpoint))


def signature_problem(checkpoint: CheckpointPublic, keys: Mapping[str, dict[str, str]]) -> str | None:
    """Why the checkpoint's signature is not good evidence, or None when a published key made it."""
    jwk = keys.get(checkpoint.kid)
    if jwk is None:
        return f"it is signed by key {checkpoint.kid}, which is not published"
    if not audit_signing.verify(jwk, signed_bytes(checkpoint), checkpoint.signature):
        return "its signature does not verify"
    return None


class Judge:
    """Checks checkpoints against the chain: their signatures, their links to each other,
    and the chain's hash at their seq.

    `hash_at` holds the chain's hash at every seq a checkpoint names (where the chain has one); `head_seq` is
    the chain's last seq; `first_number` is the number the stored checkpoints should start at (1, or the first
    one an export holds, whose link to the one before it cannot be checked there).
    """

    def __init__(
        self, *, keys: Mapping[str, dict[str, str]], hash_at: Mapping[int, str], head_seq: int, first_number: int = 1
    ) -> None:
        self.keys, self.hash_at, self.head_seq, self.first_number = keys, hash_at, head_seq, first_number
        self.findings: list[AuditFinding] = []
        self.rejected: list[RejectedWitness] = []  # witnesses' copies that fail their own signature
        self._agreed = 0  # the newest seq a good stored checkpoint vouches for, so far

    def stored(self, checkpoints: Iterable[CheckpointPublic]) -> int:
        """Check stored checkpoints in number order; how many there were."""
        before: CheckpointPublic | None = None
        count = 0
        for checkpoint in checkpoints:
            count += 1
            self._link(checkpoint, before)
            if self._against_chain(checkpoint, "stored"):
                self._agreed = max(self._agreed, checkpoint.seq)
            before = checkpoint
        return count

    def witnessed(self, witnesses: Iterable[CheckpointPublic], stored: Mapping[int, CheckpointPublic]) -> int:
        """Check checkpoints a witness kept whose signature verifies, and that the stored one of the same number is
        the same; how many were checked. One whose signature fails is listed as rejected and proves nothing: anyone
        could have written it, naming any seq, so it never makes the trail broken."""
        count = 0
        for witness in witnesses:
            problem = signature_problem(witness, self.keys)
            if problem is not None:
                self.rejected.append(
                    RejectedWitness(number=witness.number, seq=witness.seq, kid=witness.kid, problem=problem)
                )
                continue
            count += 1
            self._against_chain(witness, "witness")
            kept = stored.get(witness.number)
            if kept is None:
                self._find(witness.seq, witness, "witness", "no stored checkpoint has this number: it was removed")
            elif digest(kept) != digest(witness):
                self._find(
                    witness.seq,
                    witness,
                    "witness",
                    "the stored checkpoint of this number differs from the witness's copy: it was replaced",
                )
        return count

    def result(self) -> list[AuditFinding]:
        return sorted(self.findings, key=lambda finding: finding.seq)[:MAX_FINDINGS]

    def _find(self, seq: int, checkpoint: CheckpointPublic | None, source: str, problem: str) -> None:
        self.findings.append(
            AuditFinding(seq=seq, checkpoint=checkpoint.number if checkpoint else None, source=source, problem=problem)
        )

    def _link(self, checkpoint: CheckpointPublic, before: CheckpointPublic | None) -> None:
        expected = self.first_number if before is None else before.number + 1
        if checkpoint.number != expected:
            self._find(
                checkpoint.seq, checkpoint, "stored", f"checkpoints {expected} to {checkpoint.number - 1} are missing"
            )
        elif before is None and self.first_number == 1 and checkpoint.previous is not None:
            self._find(checkpoint.seq, checkpoint, "stored", "the first checkpoint names a previous one")
        elif before is not None and checkpoint.previous != digest(before):
            self._find(
                checkpoint.seq, checkpoint, "stored", f"it does not name checkpoint {before.number} as its previous one"
            )
        if before is not None and checkpoint.seq < before.seq:
            self._find(checkpoint.seq, checkpoint, "stored", f"it signs an earlier seq than checkpoint {before.number}")

    def _against_chain(self, checkpoint: CheckpointPublic, source: str) -> bool:
        """Record what disagrees between a checkpoint and the chain; True when nothing does."""
        problem = signature_problem(checkpoint, self.keys)
        if problem is not None:
            self._find(checkpoint.seq, checkpoint, source, problem)
            return False
        if checkpoint.seq > self.head_seq:
            missing = self.head_seq + 1
            self._find(
                missing,
                checkpoint,
                source,
                f"it signs seq {checkpoint.seq}, but the chain ends at seq {self.head_seq}: "
                f"events from seq {missing} on are missing",
            )
            return False
        actual = self.hash_at.get(checkpoint.seq)
        if actual is None:
            self._find(checkpoint.seq, checkpoint, source, f"the chain has no event at seq {checkpoint.seq}")
            return False
        if actual != checkpoint.hash:
            where = f"after seq {self._agreed} and " if self._agreed else ""
            self._find(
                checkpoint.seq,
                checkpoint,
                source,
                f"it signs another hash at seq {checkpoint.seq} than the chain has: "
                f"an event {where}at or before seq {checkpoint.seq} was changed",
            )
            return False
        return True


def verification(
    *,
    judge: Judge,
    events: int,
    pending: int,
    head_seq: int,
    head_hash: str,
    chain_break: int | None,
    stored: list[CheckpointPublic],
    witnessed: int,
    extra: Sequence[AuditFinding] = (),
) -> AuditVerification:
    """The report of one verification: the chain's own break (if any) and every finding, first seq first."""
    findings = judge.result() + list(extra)
    if chain_break is not None:
        findings.append(AuditFinding(seq=chain_break, checkpoint=None, source="chain", problem="the hashes break here"))
    findings.sort(key=lambda finding: finding.seq)
    return AuditVerification(
        valid=not findings,
        events=events,
        pending=pending,
        head_seq=head_seq,
        head_hash=head_hash,
        first_broken_seq=findings[0].seq if findings else None,
        checkpoints=len(stored),
        witnessed=witnessed,
        last_checkpoint_seq=max((checkpoint.seq for checkpoint in stored), default=None),
        findings=findings[:MAX_FINDINGS],
        rejected_witnesses=judge.rejected[:MAX_FINDINGS],
    )
