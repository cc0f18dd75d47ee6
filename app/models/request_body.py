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

from app.models.base import STORABLE_TEXT
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
    PersonAtRisk,
    ProxyScope,
    PurposeCategory,
    S251Regulation,
    StorageRegion,
    SubjectInformed,
    Urgency,
)

ShortText = Annotated[str, StringConstraints(strict=True, max_length=200, pattern=STORABLE_TEXT)]
SubjectIdentifier = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]
# Each identifier is a row written with the request; a bulk request names a count and lists none
# (CALDICOTT_MAX_IDENTIFIERS_PER_REQUEST may lower this ceiling, checked where the request is decided).
MAX_IDENTIFIERS = 1000


class Vocabulary(BaseModel):
    """Unknown fields are refused: a misspelt field must not silently change a decision."""

    model_config = ConfigDict(extra="forbid")


class Purpose(Vocabulary):
    category: PurposeCategory
    description: Annotated[str, StringConstraints(strict=True, min_length=20, max_length=4000, pattern=STORABLE_TEXT)]


class Subjects(Vocabulary):
    count: Annotated[StrictInt, Field(ge=1, le=100_000_000)]
    age_group: AgeGroup
    identifiers: Annotated[list[SubjectIdentifier], Field(max_length=MAX_IDENTIFIERS)] = []
    deceased: StrictBool = False

    @field_validator("identifiers", mode="before")
    @classmethod
    def few_enough_identifiers(cls, identifiers: object) -> object:
        # Before the items are checked, so ten thousand bad items are one error, and a message that says what to do.
        if isinstance(identifiers, list) and len(identifiers) > MAX_IDENTIFIERS:
            raise ValueError(too_many_identifiers(MAX_IDENTIFIERS))
        return identifiers

    @field_validator("identifiers")
    @classmethod
    def identifiers_within_count(cls, identifiers: list[str], info: ValidationInfo) -> list[str]:
        count = info.data.get("count")
        if count is not None and len(identifiers) > count:
            raise ValueError(f"at most subjects.count ({count}) identifiers may be given")
        return identifiers


def too_many_identifiers(limit: int) -> str:
    """What a request listing more than `limit` identifiers is told."""
    return (
        f"at most {limit} identifiers may be listed in one request; for more subjects give subjects.count and list none"
    )


class DataItem(Vocabulary):
    category: DataCategory
    form: DataForm
    justification: Annotated[str, StringConstraints(strict=True, min_length=10, max_length=2000, pattern=STORABLE_TEXT)]


class LegalBasis(Vocabulary):
    article_6: Article6Basis
    article_9: Article9Condition | None = None
    confidentiality: ConfidentialityBasis
    reference: Annotated[str, StringConstraints(strict=True, max_length=500, pattern=STORABLE_TEXT)] | None = None
    # Policy 2027.1 (brief section 4a); 2026.1 ignores them. A provision code the registry does not hold is
    # accepted and treated as unverified, so it is free text here, not an enum.
    provision: (
        Annotated[str, StringConstraints(strict=True, min_length=1, max_length=100, pattern=STORABLE_TEXT)] | None
    ) = None
    schedule1_paragraph: Annotated[StrictInt, Field(ge=1, le=37)] | None = None
    s251_regulation: S251Regulation | None = None
    # Policy 2028.1 (brief section 4b); earlier editions ignore it.
    person_at_risk: PersonAtRisk = Field(
        default=PersonAtRisk.SUBJECT,
        description="Whom a safeguarding disclosure protects: the person the information is about (`subject`, the "
        "default), or someone else (`other`: a victim, a child in the household). Policy 2028.1 reads it with "
        "DPA 2018 Schedule 1 paragraph 18.",
    )

    @field_validator("s251_regulation", mode="before")
    @classmethod
    def regulation_is_a_number(cls, value: object) -> object:
        # An IntEnum would also take "3" or 3.0 in JSON; the vocabulary is the integers 2, 3 and 5.
        if value is not None and type(value) is not int:
            raise ValueError("must be one of the integers 2, 3 or 5")
        return value


class Consent(Vocabulary):
    status: ConsentStatus
    capacity: Capacity
    given_by: ConsentGivenBy = ConsentGivenBy.SUBJECT
    best_interests_decision: StrictBool = False
    # Policy 2028.1 (brief section 4b); earlier editions ignore it.
    proxy_scope: ProxyScope | None = Field(
        default=None,
        description="The authority of the attorney or deputy named in `given_by`: a lasting power of attorney or "
        "deputyship for `health_and_welfare` or for `property_and_affairs` (Mental Capacity Act 2005 ss.9(1), 16-20); "
        "null when not known. Read only when `given_by` is `attorney` or `deputy`.",
    )


class Recipient(Vocabulary):
    retention_days: Annotated[StrictInt, Field(ge=1, le=36500)]
    onward_sharing: StrictBool
    storage_region: StorageRegion
    access_roles: Annotated[list[ShortText], Field(max_length=100)]
    staff_trained: StrictBool


class Transparency(Vocabulary):
    privacy_notice_covers_use: StrictBool
    subject_informed: SubjectInformed


# Realistic requests, published as the examples of the OpenAPI document.
DIRECT_CARE_REFERRAL = {
    "reference": "CASE-0001",
    "purpose": {
        "category": "direct_care",
        "description": "Referral to the community mental health team for continuing treatment after discharge",
    },
    "urgency": "routine",
    "sharing_agreement": None,
    "subjects": {"count": 1, "age_group": "adult", "identifiers": ["9990000018"], "deceased": False},
    "data_items": [
        {"category": "demographics", "form": "identifiable", "justification": "to identify the patient correctly"},
        {"category": "diagnoses", "form": "identifiable", "justification": "clinical context needed to plan care"},
    ],
    "legal_basis": {
        "article_6": "public_task",
        "article_9": "health_social_care",
        "confidentiality": "implied_consent",
        "reference": None,
    },
    "consent": {
        "status": "not_sought",
        "capacity": "has_capacity",
        "given_by": "subject",
        "best_interests_decision": False,
    },
    "national_data_opt_out_applied": False,
    "recipient": {
        "retention_days": 730,
        "onward_sharing": False,
        "storage_region": "uk",
        "access_roles": ["community nurse"],
        "staff_trained": True,
    },
    "transparency": {"privacy_notice_covers_use": True, "subject_informed": "yes"},
}
# The guardian weighs the public interest: the rules refer it.
POLICE_PERMISSIVE_GATEWAY = {
    "reference": "NSP-2026-118734",
    "purpose": {
        "category": "crime_prevention",
        "description": "Investigation of a serious assault on 21 November 2026: the current address of a named "
        "suspect treated at the urgent treatment centre",
    },
    "urgency": "urgent",
    "sharing_agreement": None,
    "subjects": {"count": 1, "age_group": "adult", "identifiers": ["9990000026"], "deceased": False},
    "data_items": [
        {"category": "demographics", "form": "identifiable", "justification": "to identify the suspect with certainty"},
        {"category": "contact_details", "form": "identifiable", "justification": "to locate the suspect for interview"},
    ],
    "legal_basis": {
        "article_6": "public_task",
        "article_9": None,
        "confidentiality": "permissive_gateway",
        "reference": "Crime and Disorder Act 1998 s.115; Data Protection Act 2018 Sch. 2 para. 2",
    },
    "consent": {
        "status": "not_sought",
        "capacity": "has_capacity",
        "given_by": "subject",
        "best_interests_decision": False,
    },
    "national_data_opt_out_applied": False,
    "recipient": {
        "retention_days": 2190,
        "onward_sharing": False,
        "storage_region": "uk",
        "access_roles": ["investigating officer", "disclosure officer"],
        "staff_trained": True,
    },
    "transparency": {"privacy_notice_covers_use": True, "subject_informed": "would_prejudice_purpose"},
}


class SharingRequestBody(Vocabulary):
    """What a partner agency asks for; the requester comes from the token, never from here."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [DIRECT_CARE_REFERRAL, POLICE_PERMISSIVE_GATEWAY]}
    )

    reference: ShortText | None = None
    purpose: Purpose
    urgency: Urgency = Urgency.ROUTINE
    sharing_agreement: (
        Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64, pattern=STORABLE_TEXT)] | None
    ) = None
    subjects: Subjects
    data_items: Annotated[list[DataItem], Field(min_length=1, max_length=30)]
    legal_basis: LegalBasis
    consent: Consent
    national_data_opt_out_applied: StrictBool = False
    recipient: Recipient
    transparency: Transparency
