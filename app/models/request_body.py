"""The body of a sharing request, exactly as the brief's vocabulary (section 3)."""

from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from app.models.vocabulary import (
    AgeGroup,
    Article6Basis,
    Article9Condition,
    Capacity,
    ConfidentialityBasis,
    ConsentGivenBy,
    ConsentStatus,
    DataCategory,
    DataForm,
    PurposeCategory,
    StorageRegion,
    SubjectInformed,
    Urgency,
)

ShortText = Annotated[str, StringConstraints(strict=True, max_length=200)]
SubjectIdentifier = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]


class Vocabulary(BaseModel):
    """Unknown fields are refused: a misspelt field must not silently change a decision."""

    model_config = ConfigDict(extra="forbid")


class Purpose(Vocabulary):
    category: PurposeCategory
    description: Annotated[str, StringConstraints(strict=True, min_length=20, max_length=4000)]


class Subjects(Vocabulary):
    count: Annotated[StrictInt, Field(ge=1, le=100_000_000)]
    age_group: AgeGroup
    identifiers: Annotated[list[SubjectIdentifier], Field(max_length=10_000)] = []
    deceased: StrictBool = False

    @field_validator("identifiers")
    @classmethod
    def identifiers_within_count(cls, identifiers: list[str], info: ValidationInfo) -> list[str]:
        count = info.data.get("count")
        if count is not None and len(identifiers) > count:
            raise ValueError(f"at most subjects.count ({count}) identifiers may be given")
        return identifiers


class DataItem(Vocabulary):
    category: DataCategory
    form: DataForm
    justification: Annotated[str, StringConstraints(strict=True, min_length=10, max_length=2000)]


class LegalBasis(Vocabulary):
    article_6: Article6Basis
    article_9: Article9Condition | None = None
    confidentiality: ConfidentialityBasis
    reference: Annotated[str, StringConstraints(strict=True, max_length=500)] | None = None


class Consent(Vocabulary):
    status: ConsentStatus
    capacity: Capacity
    given_by: ConsentGivenBy = ConsentGivenBy.SUBJECT
    best_interests_decision: StrictBool = False


class Recipient(Vocabulary):
    retention_days: Annotated[StrictInt, Field(ge=1, le=36500)]
    onward_sharing: StrictBool
    storage_region: StorageRegion
    access_roles: Annotated[list[ShortText], Field(max_length=100)]
    staff_trained: StrictBool


class Transparency(Vocabulary):
    privacy_notice_covers_use: StrictBool
    subject_informed: SubjectInformed


class SharingRequestBody(Vocabulary):
    """What a partner agency asks for; the requester comes from the token, never from here."""

    reference: ShortText | None = None
    purpose: Purpose
    urgency: Urgency = Urgency.ROUTINE
    sharing_agreement: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)] | None = None
    subjects: Subjects
    data_items: Annotated[list[DataItem], Field(min_length=1, max_length=30)]
    legal_basis: LegalBasis
    consent: Consent
    national_data_opt_out_applied: StrictBool = False
    recipient: Recipient
    transparency: Transparency
