"""Everything the rules look at, gathered by the caller before evaluation."""

from dataclasses import dataclass
from datetime import date

from app.models.request_body import SharingRequestBody
from app.models.vocabulary import (
    AgreementStatus,
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

    def __post_init__(self) -> None:
        """Refuse an agreement that is not the one the request cites."""
        if self.agreement is not None and self.agreement.code != self.request.sharing_agreement:
            raise ValueError(f"agreement {self.agreement.code!r} is not the one the request cites ({self.request.sharing_agreement!r})")
