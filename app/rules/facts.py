"""Everything the rules look at, gathered by the caller before evaluation, and its stored record."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
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
class Facts:
    request: SharingRequestBody
    requester: RequesterFacts
    agreement: AgreementFacts | None  # None when request.sharing_agreement is null or unregistered
    today: date  # the date in Europe/London at evaluation, supplied by the caller
    evidence: frozenset[AttachmentKind] = frozenset()  # the kinds of attachment on the request when it is evaluated

    def __post_init__(self) -> None:
        """Refuse an agreement that is not the one the request cites."""
        if self.agreement is not None and self.agreement.code != self.request.sharing_agreement:
            raise ValueError(f"agreement {self.agreement.code!r} is not the one the request cites ({self.request.sharing_agreement!r})")


def facts_record(facts: Facts) -> dict[str, Any]:
    """The facts beyond the request body, as JSON-ready data to store with a decision."""
    agreement = facts.agreement
    return {
        "requester": {"code": facts.requester.code, "type": facts.requester.type.value, "dspt_status": facts.requester.dspt_status.value},
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
        # Only when there is any, so that a decision without evidence keeps the record it had before attachments existed.
    } | ({"evidence": sorted(kind.value for kind in facts.evidence)} if facts.evidence else {})


def facts_from_record(record: Mapping[str, Any], request: SharingRequestBody, *, attached_since: frozenset[AttachmentKind] = frozenset()) -> Facts:
    """The facts a stored decision's rules saw, rebuilt from its record and the request body, with any evidence attached since.

    Records made before attachments existed have no evidence."""
    requester = record["requester"]
    agreement = record["agreement"]
    return Facts(
        request=request,
        requester=RequesterFacts(code=requester["code"], type=OrganisationType(requester["type"]), dspt_status=DsptStatus(requester["dspt_status"])),
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
        evidence=frozenset(AttachmentKind(kind) for kind in record.get("evidence", ())) | attached_since,
    )
