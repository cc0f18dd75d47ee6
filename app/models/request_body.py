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
    category: PurposeCategory = Field(
        description=(
            "Why the information is wanted, from the fixed list; `other` is always referred to a "
            "Caldicott Guardian. The rules compare it with the data items asked for (the "
            "proportionality matrix) and with the requester's type."
        )
    )
    description: Annotated[
        str, StringConstraints(strict=True, min_length=20, max_length=4000, pattern=STORABLE_TEXT)
    ] = Field(
        description=(
            "Why the information is needed, in the requester's words (20 to 4000 characters): what"
            " will be done with it and why it cannot be done without it. A guardian reads it when "
            "the request is referred; the rules do not."
        )
    )


class Subjects(Vocabulary):
    count: Annotated[StrictInt, Field(ge=1, le=100_000_000)] = Field(
        description=(
            "How many people the request covers (at least 1). More than the policy's bulk "
            "threshold (100) with identifiable items is referred for most purposes; more than 10 "
            "rules out an emergency share."
        )
    )
    age_group: AgeGroup = Field(
        description=(
            "The age of the people the information is about: `adult` (18 or over), `young_person` "
            "(16 or 17), `child` (under 16) or `mixed`. It decides which law governs their consent"
            " and capacity (the Mental Capacity Act from 16, Gillick competence under 16)."
        )
    )
    identifiers: Annotated[list[SubjectIdentifier], Field(max_length=MAX_IDENTIFIERS)] = Field(
        default=[],
        description=(
            "NHS numbers or local identifiers of the people, each non-blank and at most 64 "
            "characters; at most `count` of them (and at most 1000). The service stores only keyed"
            " hashes (HMAC) of them, never the values, so a person's disclosures can be found "
            "later. Leave out for a bulk request. The values never change a decision."
        ),
    )
    deceased: StrictBool = Field(
        default=False,
        description=(
            "True when the people have died. UK GDPR covers only the living, but the duty of "
            "confidence continues after death: a request for a deceased person's information that is "
            "not anonymised is referred to a guardian, unless a verified duty reaches it."
        ),
    )

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
    category: DataCategory = Field(
        description=(
            "The kind of information asked for. Categories outside what the purpose allows (or "
            "outside a named agreement) are referred; `sexual_health`, `fertility_treatment` and "
            "`gender_history` are restricted by statute or policy."
        )
    )
    form: DataForm = Field(
        description=(
            "How identifiable this item will be in the recipient's hands: `identifiable`, "
            "`pseudonymised` or `anonymised`. Only `anonymised` items fall outside the Article 9 "
            "and confidentiality rules."
        )
    )
    justification: Annotated[
        str, StringConstraints(strict=True, min_length=10, max_length=2000, pattern=STORABLE_TEXT)
    ] = Field(
        description=(
            "Why this item is needed for the purpose (10 to 2000 characters), for the guardian and"
            " the decision record; the rules do not read it."
        )
    )


class LegalBasis(Vocabulary):
    article_6: Article6Basis = Field(
        description=(
            "The disclosing controller's lawful basis under UK GDPR Article 6(1). The controller "
            "is a public authority, so `public_task` is usual; `legitimate_interests` and "
            "`recognised_legitimate_interest` are refused."
        )
    )
    article_9: Article9Condition | None = Field(
        default=None,
        description=(
            "The UK GDPR Article 9(2) condition for health and care data; null or left out when "
            "none applies. Needed when the people are living and an item other than demographics "
            "or contact details is not anonymised, or the request is refused."
        ),
    )
    confidentiality: ConfidentialityBasis = Field(
        description=(
            "The basis for setting aside the common-law duty of confidentiality. `implied_consent`"
            " serves direct care only; `legal_requirement` and `permissive_gateway` need "
            "`reference` (and `provision` to be verified); `overriding_public_interest` is always "
            "a guardian's judgement."
        )
    )
    reference: Annotated[str, StringConstraints(strict=True, max_length=500, pattern=STORABLE_TEXT)] | None = Field(
        default=None,
        description=(
            "The citation: the statute and section, the court order or case number, or the "
            "Confidentiality Advisory Group (s251) approval reference; null or left out when none."
            " Required (with a digit in it, from policy 2028.1) for `s251_support`, "
            "`legal_requirement`, `permissive_gateway` and purpose `court_order`."
        ),
    )
    # Policy 2027.1 (brief section 4a); 2026.1 ignores them. A provision code the registry does not hold is
    # accepted and treated as unverified, so it is free text here, not an enum.
    provision: (
        Annotated[str, StringConstraints(strict=True, min_length=1, max_length=100, pattern=STORABLE_TEXT)] | None
    ) = Field(
        default=None,
        description=(
            "The code of a provision in the policy's provisions registry that `confidentiality` "
            "relies on, such as `children_act_1989_s47` or `court_order` (GET "
            "/v1/policies/{name}/{version} lists them); null when none. A code the registry does "
            "not hold is accepted and treated as unverified, so the request is referred. Read from"
            " policy 2027.1."
        ),
    )
    schedule1_paragraph: Annotated[StrictInt, Field(ge=1, le=37)] | None = Field(
        default=None,
        description=(
            "The DPA 2018 Schedule 1 paragraph relied on (1 to 37; Part 2, substantial public "
            "interest, is 6 to 28), such as 18 for safeguarding; null when none. Read with "
            "`article_9` `substantial_public_interest` and for criminal offence data, from policy "
            "2027.1."
        ),
    )
    s251_regulation: S251Regulation | None = Field(
        default=None,
        description=(
            "The regulation of the Control of Patient Information Regulations 2002 under which "
            "s.251 support is given (the integer 2, 3 or 5); null when none. Regulation 3 is "
            "exempt from the national data opt-out. Read from policy 2027.1."
        ),
    )
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
    status: ConsentStatus = Field(
        description=(
            "Where consent to this disclosure stands: `given`, `refused`, `withdrawn`, "
            "`not_sought` or `not_possible`. A basis that relies on consent needs `given`; a "
            "refusal by someone able to decide is refused or referred."
        )
    )
    capacity: Capacity = Field(
        description=(
            "Whether the person the information is about can decide about this disclosure: mental "
            "capacity (Mental Capacity Act 2005) from 16, Gillick competence under 16. For a young"
            " child plainly unable to decide (a six-year-old) send `lacks_capacity`, with "
            "`given_by: parent` when a parent gave or refused consent; `not_assessed` with the "
            "child's own consent is referred for a guardian to judge competence."
        )
    )
    given_by: ConsentGivenBy = Field(
        default=ConsentGivenBy.SUBJECT,
        description=(
            "Who gave or refused the consent: the person (`subject`, the default), a `parent` with"
            " parental responsibility, an `attorney` under a lasting power of attorney, or a Court"
            " of Protection `deputy`. An attorney or deputy decides only when the person lacks "
            "capacity; a parent only for a child who is not competent."
        ),
    )
    best_interests_decision: StrictBool = Field(
        default=False,
        description=(
            "True when a best-interests decision to share has been recorded (Mental Capacity Act "
            "2005 s.4) for a person of 16 or over who lacks capacity; without one, direct care for such "
            "a person is referred. Under 16 the Act does not apply. Default false."
        ),
    )
    # Policy 2028.1 (brief section 4b); earlier editions ignore it.
    proxy_scope: ProxyScope | None = Field(
        default=None,
        description="The authority of the attorney or deputy named in `given_by`: a lasting power of attorney or "
        "deputyship for `health_and_welfare` or for `property_and_affairs` (Mental Capacity Act 2005 ss.9(1), 16-20); "
        "null when not known. Read only when `given_by` is `attorney` or `deputy`.",
    )


class Recipient(Vocabulary):
    retention_days: Annotated[StrictInt, Field(ge=1, le=36500)] = Field(
        description=(
            "How many days the recipient will keep the information (1 to 36500). Outside direct "
            "care, more than the policy's limit (2555 days, seven years) gets a condition."
        )
    )
    onward_sharing: StrictBool = Field(
        description=(
            "True when the recipient intends to pass the information on to anyone else; always "
            "referred to a guardian (principle 4)."
        )
    )
    storage_region: StorageRegion = Field(
        description=(
            "Where the recipient will store the information: `uk`, `adequate_country` (UK adequacy"
            " regulations), `safeguarded` (UK GDPR Art. 46 safeguards) or `other` (refused)."
        )
    )
    access_roles: Annotated[list[ShortText], Field(max_length=100)] = Field(
        description=(
            'The roles at the recipient who will see the information, such as "investigating '
            'officer" (at most 100, each at most 200 characters). An empty list (or only blank '
            "names) gets a condition to name them (principle 4, need to know)."
        )
    )
    staff_trained: StrictBool = Field(
        description=(
            "True when the recipient's staff who will see the information have current "
            "data-protection training; false gets a condition (principle 5)."
        )
    )


class Transparency(Vocabulary):
    privacy_notice_covers_use: StrictBool = Field(
        description="True when the controller's privacy notice covers this use of the information."
    )
    subject_informed: SubjectInformed = Field(
        description=(
            "Whether the person has been or will be told of this disclosure. `no` with a privacy "
            "notice that does not cover the use gets a condition to inform them; "
            "`would_prejudice_purpose` is referred unless the purpose is safeguarding, crime "
            "prevention or a court order."
        )
    )


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

    reference: ShortText | None = Field(
        default=None,
        description=(
            "The requester's own case reference (at most 200 characters), returned with the "
            "request, in its webhooks and in the decision log so you can match them to your case; "
            "null or left out when none. Never read by the rules."
        ),
    )
    purpose: Purpose = Field(
        description=(
            "Why the information is wanted: its category from the fixed list and a description in "
            "the requester's words."
        )
    )
    urgency: Urgency = Field(
        default=Urgency.ROUTINE,
        description=(
            "How soon an answer is needed: `routine` (the default), `urgent`, or `emergency` (risk"
            " to life or of serious harm now). It sets the guardian queue's order and response "
            "time; an emergency may be shared at once and reviewed afterwards."
        ),
    )
    sharing_agreement: (
        Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64, pattern=STORABLE_TEXT)] | None
    ) = Field(
        default=None,
        description=(
            "The code of the registered information sharing agreement the request is made under; "
            'null or left out when none (a blank string is invalid, not "none"). An unregistered '
            "code, or a request outside the agreement's parties, purposes, data or dates, is "
            "referred; a systematic share of several people without one gets a condition."
        ),
    )
    subjects: Subjects = Field(
        description=(
            "The people the information is about: how many, their age group, whether they have "
            "died, and optionally their identifiers."
        )
    )
    data_items: Annotated[list[DataItem], Field(min_length=1, max_length=30)] = Field(
        description=(
            "The information asked for, 1 to 30 items, each a category, a form and a "
            "justification: principle 3 (the minimum necessary) is judged item by item."
        )
    )
    legal_basis: LegalBasis = Field(
        description=(
            "The lawful basis (UK GDPR Articles 6 and 9) and the basis for setting aside the duty "
            "of confidence, with the citation the rules may need."
        )
    )
    consent: Consent = Field(
        description=(
            "Consent to this disclosure: its status, the person's capacity, who gave or refused it"
            " and with what authority."
        )
    )
    national_data_opt_out_applied: StrictBool = Field(
        default=False,
        description=(
            "True when people who have registered a national data opt-out have already been "
            "removed from what will be disclosed. Outside direct care, an identifiable or "
            "pseudonymised share for research or planning (or under s.251 support) without it gets"
            " a condition unless exempt. Default false."
        ),
    )
    recipient: Recipient = Field(
        description=(
            "How the recipient will hold the information: retention, onward sharing, storage "
            "region, who will see it and their training."
        )
    )
    transparency: Transparency = Field(
        description="Whether the person knows, or will know, of this disclosure (principle 8)."
    )
