"""The guardian workflow's API schemas: decisions and amendments sent in, the queue and a request's history sent out."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.models.actions import RequestAction
from app.models.base import GUARDIAN_UNNAMED, STORABLE_TEXT
from app.models.controller_check import CheckRecordEntry, DecisionCheckRecord
from app.models.page import Page
from app.models.reconsideration import ReconsiderationPublic
from app.models.request_body import POLICE_PERMISSIVE_GATEWAY, SharingRequestBody
from app.models.sharing_request import DecisionPublic, RequestHeadline, SharingRequest, claim_lapsed
from app.models.verification import VerificationPublic
from app.models.vocabulary import (
    DataCategory,
    FinalOutcome,
    GuardianOutcome,
    Outcome,
    ReconsiderationOutcome,
    RequestStatus,
    RetrospectiveOutcome,
    RetrospectiveStatus,
)

Rationale = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=20, max_length=8000, pattern=STORABLE_TEXT)
]
ConditionText = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=1000, pattern=STORABLE_TEXT)
]


class ReviewBody(BaseModel):
    """A guardian's decision on a referred request."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "outcome": "approve_with_conditions",
                    "rationale": "The address is necessary to an investigation of serious violence; the public "
                    "interest outweighs the duty of confidence.",
                    "conditions": ["Use only for this investigation", "Delete the address when the case closes"],
                    "approved_items": ["demographics", "contact_details"],
                },
                {
                    "outcome": "request_information",
                    "rationale": "Please say whether a warrant has been issued and which "
                    "officers will see the address.",
                },
            ]
        },
    )

    outcome: GuardianOutcome
    rationale: Rationale
    conditions: Annotated[list[ConditionText], Field(max_length=50)] = []
    approved_items: Annotated[list[DataCategory], Field(min_length=1, max_length=30)] | None = None
    subject_reason: (
        Annotated[
            str,
            StringConstraints(
                strict=True, strip_whitespace=True, min_length=10, max_length=2000, pattern=STORABLE_TEXT
            ),
        ]
        | None
    ) = Field(
        default=None,
        description="Optional, with an approval: the guardian's reason written for the person the information is "
        "about, quoted in their notice when the approval overrides a refusal of consent (brief section 6, "
        "rule 4); the rationale never is",
    )
    checks: Annotated[list[DecisionCheckRecord], Field(max_length=10)] = Field(
        default=[],
        description=(
            "With an approval, by a guardian of the controller organisation: controller's checks the approval opens, "
            "recorded done with it (each once); the others stay open until recorded at "
            "`POST /v1/sharing-requests/{id}/controller-checks/{check}`"
        ),
    )


class RetrospectiveReviewBody(BaseModel):
    """A guardian's retrospective judgement on an emergency share."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "outcome": "upheld",
                    "rationale": "The medication list was needed by the ambulance crew at once; "
                    "the patient could not consent at the time.",
                }
            ]
        },
    )

    outcome: RetrospectiveOutcome
    rationale: Rationale


class AmendmentBody(BaseModel):
    """The requesting agency's answer to a request for information: the revised request and a note."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "request": POLICE_PERMISSIVE_GATEWAY
                    | {
                        "recipient": POLICE_PERMISSIVE_GATEWAY["recipient"]
                        | {"access_roles": ["investigating officer"]}
                    },
                    "note": "A warrant was issued on 24 November 2026; "
                    "only the investigating officer will see the address.",
                }
            ]
        },
    )

    request: SharingRequestBody
    note: Annotated[
        str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=4000, pattern=STORABLE_TEXT)
    ]


class ReconsiderationBody(BaseModel):
    """The requesting agency's grounds for asking that a refusal, or an approval's conditions, be reconsidered."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "grounds": "The address is needed to serve a warrant issued on 24 November 2026; the risk to the "
                    "officers is set out in the warrant."
                },
                {
                    "grounds": "Retention is now 90 days and only the investigating officer will see the address, "
                    "which meets the reasons for the refusal.",
                    "request": POLICE_PERMISSIVE_GATEWAY
                    | {
                        "recipient": POLICE_PERMISSIVE_GATEWAY["recipient"]
                        | {"retention_days": 90, "access_roles": ["investigating officer"]}
                    },
                },
            ]
        },
    )

    grounds: Annotated[
        str,
        StringConstraints(strict=True, strip_whitespace=True, min_length=20, max_length=8000, pattern=STORABLE_TEXT),
    ]
    request: SharingRequestBody | None = Field(
        default=None,
        description="A revised request, evaluated by the rules as an amendment is; "
        "a guardian still decides the reconsideration",
    )


class NewDecision(BaseModel):
    """The decision that replaces the one overturned."""

    model_config = ConfigDict(extra="forbid")

    outcome: FinalOutcome
    conditions: Annotated[list[ConditionText], Field(max_length=50)] = []
    approved_items: Annotated[list[DataCategory], Field(min_length=1, max_length=30)] | None = None


class ReconsiderationDecisionBody(BaseModel):
    """A guardian's answer to a request for reconsideration: the decision stands (`upheld`), or a new one replaces \
it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "outcome": "overturned",
                    "rationale": "The warrant shows the address is needed now; "
                    "the public interest outweighs the duty of confidence.",
                    "decision": {
                        "outcome": "approve_with_conditions",
                        "conditions": ["Use only to serve the warrant", "Delete the address after 90 days"],
                    },
                },
                {
                    "outcome": "upheld",
                    "rationale": "The grounds add nothing the first decision did not weigh; "
                    "consent was refused and no exception applies.",
                },
            ]
        },
    )

    outcome: ReconsiderationOutcome
    rationale: Rationale
    decision: NewDecision | None = Field(default=None, description="With `overturned` only: the new decision")


class ReviewKind(StrEnum):
    """Why a request is in the guardian queue."""

    REFERRAL = "referral"  # the rules referred it
    RETROSPECTIVE = "retrospective"  # an emergency share, reviewed after it was made
    RECONSIDERATION = "reconsideration"  # the requesting agency asked for a decision to be reconsidered


RECONSIDERING = frozenset({RequestStatus.AWAITING_RECONSIDERATION, RequestStatus.IN_RECONSIDERATION})


def review_kind(request: SharingRequest) -> ReviewKind:
    if request.retrospective_status == RetrospectiveStatus.PENDING:
        return ReviewKind.RETROSPECTIVE
    return ReviewKind.RECONSIDERATION if request.status in RECONSIDERING else ReviewKind.REFERRAL


class QueueEntry(RequestHeadline):
    review: ReviewKind
    assignee: str | None
    claim_expires_at: datetime | None
    referred_at: datetime | None
    due_at: datetime | None
    overdue: bool
    current_edition_outcome: Outcome | None = Field(
        default=None,
        description="For a request held by EDITION.superseded (decided under a replay-only policy): the outcome the "
        "current edition of the baseline would give it",
    )
    possible_incident: bool = Field(
        description="A possible incident: a decision let evidence no guardian had verified clear a condition, or a "
        "controller's check of an emergency share (already disclosed) failed; the controller's incident process applies"
    )

    @classmethod
    def of(
        cls, request: SharingRequest, now: datetime, *, current_edition_outcome: Outcome | None = None
    ) -> "QueueEntry":
        held = not claim_lapsed(request, now)  # a lapsed claim reads as none (returned at the next write)
        return cls(
            current_edition_outcome=current_edition_outcome,
            **cls.fields_of(request),
            possible_incident=request.possible_incident,
            review=review_kind(request),
            assignee=request.assignee_sub if held else None,
            claim_expires_at=request.claim_expires_at if held else None,
            referred_at=request.referred_at,
            due_at=request.due_at,
            overdue=request.due_at is not None and request.due_at < now,
        )


class QueuePage(Page[QueueEntry]):
    warning: str | None = Field(
        default=None,
        description="Set while the active policy is replay-only: new requests are being decided under an edition UK "
        "law has overtaken, those the current edition would not approve are held for a guardian, and an admin should "
        "activate the current edition or a policy derived from it",
    )


class VersionEntry(BaseModel):
    type: Literal["version"] = "version"
    at: datetime
    version: int
    created_by: str
    request_hash: str
    note: str | None
    request: dict[str, Any]


class DecisionEntry(BaseModel):
    type: Literal["decision"] = "decision"
    at: datetime
    decision: DecisionPublic


class TransitionEntry(BaseModel):
    type: Literal["state_change"] = "state_change"
    at: datetime
    action: RequestAction
    from_status: RequestStatus | None
    to_status: RequestStatus
    actor: str = Field(description="The token subject of who made the move, or `system`; " + GUARDIAN_UNNAMED)
    actor_org: str | None


class ReconsiderationEntry(BaseModel):
    type: Literal["reconsideration"] = "reconsideration"
    at: datetime
    reconsideration: ReconsiderationPublic


class VerificationEntry(BaseModel):
    type: Literal["evidence_verification"] = "evidence_verification"
    at: datetime
    verification: VerificationPublic


HistoryEntry = (
    VersionEntry | DecisionEntry | ReconsiderationEntry | TransitionEntry | VerificationEntry | CheckRecordEntry
)


class History(Page[HistoryEntry]):
    """A page of the request's history, oldest first."""

    request_id: str = Field(description="The sharing request whose history this is")
