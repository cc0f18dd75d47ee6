"""Everything the rules look at, gathered by the caller before evaluation, and its stored record."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from app.models.request_body import SharingRequestBody
from app.models.vocabulary import (
    AgreementStatus,
    AttachmentKind,
    DataCategory,
    DsptStatus,
    OrganisationType,
    PurposeCategory,
)


@dataclass(frozen=True, slots=True)
class RequesterFacts:
    code: str
    type: OrganisationType
    dspt_status: DsptStatus


@dataclass(frozen=True, slots=True)
class AgreementFacts:
    code: str
    parties: frozenset[str]
    purposes: frozenset[PurposeCategory]
    data_categories: frozenset[DataCategory]
    valid_from: date
    valid_until: date
    status: AgreementStatus

    def in_force_on(self, day: date) -> bool:
        """True when the agreement is active and `day` lies within its dates, both inclusive."""
        return self.status == AgreementStatus.ACTIVE and self.valid_from <= day <= self.valid_until


@dataclass(frozen=True, slots=True)
class WeighedEvidence:
    """An attachment the rules weighed, and the verification by a guardian that let it count
    (brief section 7, Evidence)."""

    attachment_id: str
    kind: AttachmentKind
    verification_id: int
    verified_by: str
    verified_at: datetime

    def record(self) -> dict[str, Any]:
        """As stored among a decision's facts."""
        return {
            "attachment_id": self.attachment_id,
            "kind": self.kind.value,
            "verification_id": self.verification_id,
            "verified_by": self.verified_by,
            "verified_at": self.verified_at.isoformat(),
        }

    @classmethod
    def from_record(cls, item: Mapping[str, Any]) -> "WeighedEvidence":
        """Rebuilt from its stored form."""
        return cls(
            attachment_id=item["attachment_id"],
            kind=AttachmentKind(item["kind"]),
            verification_id=int(item["verification_id"]),
            verified_by=item["verified_by"],
            verified_at=datetime.fromisoformat(item["verified_at"]),
        )


def evidence_facts(weighed: Iterable[WeighedEvidence]) -> dict[str, Any]:
    """The `evidence` and `weighed` fields of Facts for these verified attachments,
    in one order whatever order they came in."""
    ordered = tuple(sorted(weighed, key=lambda item: (item.kind.value, item.attachment_id)))
    return {"evidence": frozenset(item.kind for item in ordered), "weighed": ordered}


@dataclass(frozen=True, slots=True)
class Facts:
    request: SharingRequestBody
    requester: RequesterFacts
    agreement: AgreementFacts | None  # None when request.sharing_agreement is null or unregistered
    today: date  # the date in Europe/London at evaluation, supplied by the caller
    # The kinds the rules see: of the attachments on the request whose latest verification by a guardian is `verified`.
    evidence: frozenset[AttachmentKind] = frozenset()
    # Those attachments with their verifications;
    # empty in a record made before verification existed, which has kinds only.
    weighed: tuple[WeighedEvidence, ...] = ()

    def __post_init__(self) -> None:
        """Refuse an agreement that is not the one the request cites,
        and evidence whose kinds are not those of the attachments weighed."""
        if self.agreement is not None and self.agreement.code != self.request.sharing_agreement:
            raise ValueError(
                f"agreement {self.agreement.code!r} is not the one the request cites "
                f"({self.request.sharing_agreement!r})"
            )
        if self.weighed and self.evidence != frozenset(item.kind for item in self.weighed):
            raise ValueError("the evidence's kinds are not those of the attachments weighed")


def facts_record(facts: Facts) -> dict[str, Any]:
    """The facts beyond the request body, as JSON-ready data to store with a decision."""
    agreement = facts.agreement
    return {
        "requester": {
            "code": facts.requester.code,
            "type": facts.requester.type.value,
            "dspt_status": facts.requester.dspt_status.value,
        },
        "agreement": None
        if agreement is None
        else {
            "code": agreement.code,
            # Sorted, so that one set of facts always gives one record.
            "parties": sorted(agreement.parties),
            "purposes": sorted(purpose.value for purpose in agreement.purposes),
            "data_categories": sorted(category.value for category in agreement.data_categories),
            "valid_from": agreement.valid_from.isoformat(),
            "valid_until": agreement.valid_until.isoformat(),
            "status": agreement.status.value,
        },
        "today": facts.today.isoformat(),
    } | _evidence_record(facts)


def _evidence_record(facts: Facts) -> dict[str, Any]:
    """Only when there is any, so that a decision without evidence keeps the record it had before attachments existed.

    Each attachment weighed with its verification; kinds alone only where the facts have no verification
    (as recorded before it existed)."""
    if facts.weighed:
        return {"evidence": [item.record() for item in facts.weighed]}
    return {"evidence": sorted(kind.value for kind in facts.evidence)} if facts.evidence else {}


def recorded_evidence(record: Mapping[str, Any]) -> dict[str, Any]:
    """The `evidence` and `weighed` fields of Facts from a stored record:
    attachments with verifications, or (recorded before them) kinds alone."""
    items = record.get("evidence", ())
    if any(isinstance(item, str) for item in items):
        return {"evidence": frozenset(AttachmentKind(item) for item in items), "weighed": ()}
    return evidence_facts(WeighedEvidence.from_record(item) for item in items)


def facts_from_record(
    record: Mapping[str, Any], request: SharingRequestBody, *, evidence: Iterable[WeighedEvidence] | None = None
) -> Facts:
    """The facts a stored decision's rules saw, rebuilt from its record and the request body.

    `evidence`, when given, is the verified evidence on the request now, in place of what the decision weighed (a
    replay's question: what would the candidate decide today). Records made before
    attachments existed have no evidence."""
    requester = record["requester"]
    agreement = record["agreement"]
    return Facts(
        request=request,
        requester=RequesterFacts(
            code=requester["code"],
            type=OrganisationType(requester["type"]),
            dspt_status=DsptStatus(requester["dspt_status"]),
        ),
        agreement=None
        if agreement is None
        else AgreementFacts(
            code=agreement["code"],
            parties=frozenset(agreement["parties"]),
            purposes=frozenset(PurposeCategory(purpose) for purpose in agreement["purposes"]),
            data_categories=frozenset(DataCategory(category) for category in agreement["data_categories"]),
            valid_from=date.fromisoformat(agreement["valid_from"]),
            valid_until=date.fromisoformat(agreement["valid_until"]),
            status=AgreementStatus(agreement["status"]),
        ),
        today=date.fromisoformat(record["today"]),
        **(recorded_evidence(record) if evidence is None else evidence_facts(evidence)),
    )
