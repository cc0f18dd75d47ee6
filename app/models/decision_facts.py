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
    code: str = Field(description="The requesting organisation's code.")
    type: OrganisationType = Field(description="Its type when the rules ran.")
    dspt_status: DsptStatus = Field(description="Its toolkit result when the rules ran.")


class AgreementRecord(BaseModel):
    code: str = Field(description="The agreement's code.")
    parties: list[str] = Field(description="Its parties when the rules ran.")
    purposes: list[PurposeCategory] = Field(description="Its purposes when the rules ran.")
    data_categories: list[DataCategory] = Field(description="Its data categories when the rules ran.")
    valid_from: date = Field(description="Its first day in force when the rules ran.")
    valid_until: date = Field(description="Its last day in force when the rules ran.")
    status: AgreementStatus = Field(description="Its status when the rules ran.")


class CurrentEditionView(BaseModel):
    """How the current edition of the baseline decided a request that a replay-only active policy would have
    approved."""

    version: str = Field(description="The current edition's version, such as `2028.1`.")
    hash: str = Field(description="The SHA-256 (hex) of its policy document.")
    outcome: Outcome = Field(description="What it decided on the same facts.")
    findings: dict[str, FindingResult] = Field(description="Its findings that are not a pass, as {rule: result}")


class EvidenceRecord(BaseModel):
    """An attachment the rules weighed, with the verification that let it count; a decision made before verification
    existed has its kind only."""

    attachment_id: str | None = Field(
        default=None, description="The attachment weighed; null in a decision made before verification existed."
    )
    kind: AttachmentKind = Field(description="What the evidence is.")
    verification_id: int | None = Field(
        default=None,
        description="The verification that let it count; null in a decision made before verification existed.",
    )
    verified_by: str | None = Field(
        default=None, description="The token subject of the guardian who verified it; null as above."
    )
    verified_at: datetime | None = Field(default=None, description="When it was verified (UTC); null as above.")

    @model_validator(mode="before")
    @classmethod
    def _kind_alone(cls, value: Any) -> Any:
        """A record made before verification existed lists kinds alone."""
        return {"kind": value} if isinstance(value, str) else value


class DecisionFacts(BaseModel):
    """The facts the rules saw beyond the request: the requester, the agreement as it stood, the London date, the
    evidence weighed."""

    requester: RequesterRecord = Field(description="The requesting organisation as it stood when the rules ran.")
    agreement: AgreementRecord | None = Field(
        description=(
            "The agreement the request named, as it stood when the rules ran; null when none was "
            "named or it was not registered."
        )
    )
    today: date = Field(description="The date in Europe/London the rules read (agreements' periods, calendars).")
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
    information_assets: list[str] = Field(
        default=[],
        description=(
            "On an approval: the codes of the information assets (`/v1/information-assets`) holding the data "
            "categories it approved, matched when it was made; empty when none did, and on any other decision. "
            "The rules never read them."
        ),
    )
