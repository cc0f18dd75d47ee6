"""The facts a decision's rules saw beyond the request, as the API shows them:
requester, agreement, date, evidence, and the current edition's view."""

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator

from app.models.vocabulary import (
    AgreementStatus,
    AttachmentKind,
    DataCategory,
    DsptStatus,
    FindingResult,
    OrganisationType,
    Outcome,
    PurposeCategory,
)


class RequesterRecord(BaseModel):
    code: str
    type: OrganisationType
    dspt_status: DsptStatus


class AgreementRecord(BaseModel):
    code: str
    parties: list[str]
    purposes: list[PurposeCategory]
    data_categories: list[DataCategory]
    valid_from: date
    valid_until: date
    status: AgreementStatus


class CurrentEditionView(BaseModel):
    """How the current edition of the baseline decided a request that a replay-only active policy would have
    approved."""

    version: str
    hash: str
    outcome: Outcome
    findings: dict[str, FindingResult] = Field(description="Its findings that are not a pass, as {rule: result}")


class EvidenceRecord(BaseModel):
    """An attachment the rules weighed, with the verification that let it count; a decision made before verification
    existed has its kind only."""

    attachment_id: str | None = None
    kind: AttachmentKind
    verification_id: int | None = None
    verified_by: str | None = None
    verified_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _kind_alone(cls, value: Any) -> Any:
        """A record made before verification existed lists kinds alone."""
        return {"kind": value} if isinstance(value, str) else value


class DecisionFacts(BaseModel):
    """The facts the rules saw beyond the request: the requester, the agreement as it stood, the London date, the
    evidence weighed."""

    requester: RequesterRecord
    agreement: AgreementRecord | None
    today: date
    current_edition: CurrentEditionView | None = Field(
        default=None,
        description="Only on a decision held by EDITION.superseded: "
        "the current edition's outcome and non-pass findings on the same facts",
    )
    evidence: list[EvidenceRecord] = Field(
        default=[],
        description="The verified attachments the rules weighed, each with its verification (kinds alone in a "
        "decision made before verification)",
    )
