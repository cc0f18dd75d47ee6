"""The guardian workflow's API schemas: decisions and amendments sent in, the queue and a request's history sent out."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.models.actions import RequestAction
from app.models.base import GUARDIAN_UNNAMED, STORABLE_TEXT
from app.models.consultation import ConsultationPublic
from app.models.controller_check import CheckRecordEntry, DecisionCheckRecord
from app.models.disclosure import DisclosurePublic
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

    outcome: GuardianOutcome = Field(
        description=(
            "The guardian's decision: `approve`, `approve_with_conditions`, `refuse`, or "
            "`request_information` (the request goes back to the requester, who answers with an "
            "amendment)."
        )
    )
    rationale: Rationale = Field(
        description=(
            "The guardian's written reasons (20 to 8000 characters), kept in the decision record "
            "and shown to the requester; never quoted to the person the information is about."
        )
    )
    conditions: Annotated[list[ConditionText], Field(max_length=50)] = Field(
        default=[],
        description=(
            "The conditions of an approval, each 1 to 1000 characters (at most 50), added to those"
            " the rules set; required in substance for `approve_with_conditions`."
        ),
    )
    approved_items: Annotated[list[DataCategory], Field(min_length=1, max_length=30)] | None = Field(
        default=None,
        description=(
            "A partial approval: the data categories approved (1 to 30), every other item asked "
            "for refused; null or left out to decide on every item."
        ),
    )
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


class HandOverBody(BaseModel):
    """A claim handed by the guardian holding it to a named colleague."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "to": "guardian-2",
                    "note": "I am on leave from tomorrow; the requester's answer on retention is due on Friday.",
                }
            ]
        },
    )

    to: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200, pattern=STORABLE_TEXT)] = Field(
        description="The token subject (`sub`) of the colleague, a guardian of the holder's own organisation, who "
        "holds the claim from now for the policy's lease; for a reconsideration, one who took no part in the decision"
    )
    note: Annotated[
        str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=2000, pattern=STORABLE_TEXT)
    ] = Field(description="Why, and what the colleague should know (1 to 2000 characters); kept in the history.")


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

    outcome: RetrospectiveOutcome = Field(
        description="Whether the emergency share was right (`upheld`) or should not have been made (`not_upheld`)."
    )
    rationale: Rationale = Field(
        description="The guardian's written reasons (20 to 8000 characters), kept in the decision record."
    )


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

    request: SharingRequestBody = Field(
        description=(
            "The whole revised request, not a difference: it becomes the request's next version "
            "and is decided again by the rules."
        )
    )
    note: Annotated[
        str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=4000, pattern=STORABLE_TEXT)
    ] = Field(description="What changed and why, in answer to the guardian's question (1 to 4000 characters).")


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
    ] = Field(
        description=(
            "Why the decision should be reconsidered (20 to 8000 characters), read by a guardian "
            "who took no part in it."
        )
    )
    request: SharingRequestBody | None = Field(
        default=None,
        description="A revised request, evaluated by the rules as an amendment is; "
        "a guardian still decides the reconsideration",
    )


class NewDecision(BaseModel):
    """The decision that replaces the one overturned."""

    model_config = ConfigDict(extra="forbid")

    outcome: FinalOutcome = Field(description="The new decision: `approve`, `approve_with_conditions` or `refuse`.")
    conditions: Annotated[list[ConditionText], Field(max_length=50)] = Field(
        default=[], description="The new decision's conditions, each 1 to 1000 characters (at most 50)."
    )
    approved_items: Annotated[list[DataCategory], Field(min_length=1, max_length=30)] | None = Field(
        default=None,
        description=(
            "A partial approval: the data categories approved (1 to 30), every other item refused;"
            " null or left out for every item."
        ),
    )


class ReconsiderationDecisionBody(BaseModel):
    """A guardian's answer to a request for reconsideration:
    the decision stands (`upheld`), or a new one replaces it."""

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

    outcome: ReconsiderationOutcome = Field(
        description="`upheld`: the decision stands; `overturned`: the new decision in `decision` replaces it."
    )
    rationale: Rationale = Field(description="The reconsidering guardian's written reasons (20 to 8000 characters).")
    decision: NewDecision | None = Field(default=None, description="With `overturned` only: the new decision")


class ReviewKind(StrEnum):
    """Why a request is in the guardian queue.

    - `referral`: the rules referred it.
    - `retrospective`: an emergency share, reviewed after it was made.
    - `reconsideration`: the requesting agency asked for a decision to be reconsidered.
    - `panel`: a panel of guardians is deciding it.
    """

    REFERRAL = "referral"
    RETROSPECTIVE = "retrospective"
    RECONSIDERATION = "reconsideration"
    PANEL = "panel"


RECONSIDERING = frozenset({RequestStatus.AWAITING_RECONSIDERATION, RequestStatus.IN_RECONSIDERATION})


def review_kind(request: SharingRequest) -> ReviewKind:
    if request.retrospective_status == RetrospectiveStatus.PENDING:
        return ReviewKind.RETROSPECTIVE
    if request.status == RequestStatus.IN_PANEL:
        return ReviewKind.PANEL
    return ReviewKind.RECONSIDERATION if request.status in RECONSIDERING else ReviewKind.REFERRAL


class QueueEntry(RequestHeadline):
    review: ReviewKind = Field(
        description=(
            "Why the request is in the queue: a `referral`, a `retrospective` review of an "
            "emergency share, a `reconsideration`, or a `panel` deciding it."
        )
    )
    referred_for: list[str] = Field(
        default=[],
        description="Why the rules referred it: the ids of the rules whose finding on the current version was not a "
        "pass (`condition`, `refer` or `refuse`), in the decision's order; the request's `decision` explains each",
    )
    assignee: str | None = Field(
        description="The token subject of the guardian holding the claim; null when nobody has claimed it."
    )
    claim_expires_at: datetime | None = Field(
        description="When the current claim lapses and the request returns to the queue (UTC); null when unclaimed."
    )
    referred_at: datetime | None = Field(description="When the request entered the queue (UTC).")
    due_at: datetime | None = Field(
        description=(
            "When a guardian's answer is due (UTC), by the policy's response time for the urgency;"
            " null for a retrospective review."
        )
    )
    overdue: bool = Field(description="True when `due_at` has passed without a decision.")
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
        cls,
        request: SharingRequest,
        now: datetime,
        *,
        current_edition_outcome: Outcome | None = None,
        referred_for: list[str] | None = None,
    ) -> "QueueEntry":
        held = not claim_lapsed(request, now)  # a lapsed claim reads as none (returned at the next write)
        return cls(
            current_edition_outcome=current_edition_outcome,
            referred_for=referred_for or [],
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
    type: Literal["version"] = Field(
        default="version", description="Always `version`: a version of the request was submitted or amended."
    )
    at: datetime = Field(description="When the version was recorded (UTC).")
    version: int = Field(description="The version number: 1 when submitted, one more with each amendment.")
    created_by: str = Field(description="The token subject of who submitted or amended it.")
    request_hash: str = Field(description="The SHA-256 (hex) of this version's body in canonical JSON.")
    note: str | None = Field(description="The amendment's note; null for the version submitted first.")
    request: dict[str, Any] = Field(
        description="The version's body as kept: subject identifiers replaced by their keyed hashes."
    )


class DecisionEntry(BaseModel):
    type: Literal["decision"] = Field(default="decision", description="Always `decision`: a decision was made.")
    at: datetime = Field(description="When the decision was made (UTC).")
    decision: DecisionPublic = Field(description="The decision, as the request's `decision` shows one.")


class TransitionEntry(BaseModel):
    type: Literal["state_change"] = Field(
        default="state_change", description="Always `state_change`: the request's state or claim changed."
    )
    at: datetime = Field(description="When the change happened (UTC).")
    action: RequestAction = Field(description="What happened, such as `claimed` or `withdrawn`.")
    from_status: RequestStatus | None = Field(description="The status before the change; null for the submission.")
    to_status: RequestStatus = Field(description="The status after the change.")
    actor: str = Field(description="The token subject of who made the move, or `system`; " + GUARDIAN_UNNAMED)
    actor_org: str | None = Field(
        description="The organisation of who made the change; null when the service made it (`system`)."
    )
    handed_to: str | None = Field(
        default=None,
        description="With `handed_over` only: the colleague, of the same organisation, who holds the claim now; "
        + GUARDIAN_UNNAMED,
    )
    note: str | None = Field(
        default=None, description="With `handed_over` only: the note the guardian left for the colleague."
    )


class ReconsiderationEntry(BaseModel):
    type: Literal["reconsideration"] = Field(
        default="reconsideration", description="Always `reconsideration`: a reconsideration was asked for or answered."
    )
    at: datetime = Field(description="When the reconsideration was asked for (UTC).")
    reconsideration: ReconsiderationPublic = Field(description="The reconsideration, with its answer once given.")


class VerificationEntry(BaseModel):
    type: Literal["evidence_verification"] = Field(
        default="evidence_verification",
        description="Always `evidence_verification`: a guardian verified or rejected an attachment.",
    )
    at: datetime = Field(description="When the verification was recorded (UTC).")
    verification: VerificationPublic = Field(description="The verification.")


class ConsultationEntry(BaseModel):
    """A consultation in a request's history (shown to the controller's people, never to the requesting agency)."""

    type: Literal["consultation"] = Field(
        default="consultation",
        description="Always `consultation`: the claim holder consulted a role of the controller.",
    )
    at: datetime = Field(description="When it was asked (UTC).")
    consultation: ConsultationPublic = Field(description="The consultation, with its answer once given.")


class DisclosureEntry(BaseModel):
    """A disclosure recorded (sent or not) or cancelled, in a request's history; the requesting agency sees it without
    the controller's internals."""

    type: Literal["disclosure"] = Field(
        default="disclosure",
        description="Always `disclosure`: an asset's owner recorded what was sent, or that nothing was, or the "
        "disclosure was cancelled.",
    )
    at: datetime = Field(description="When it was recorded or cancelled (UTC).")
    disclosure: DisclosurePublic = Field(description="The disclosure as it was recorded.")


HistoryEntry = (
    VersionEntry
    | DecisionEntry
    | ReconsiderationEntry
    | TransitionEntry
    | VerificationEntry
    | CheckRecordEntry
    | ConsultationEntry
    | DisclosureEntry
)


class History(Page[HistoryEntry]):
    """A page of the request's history, oldest first."""

    request_id: str = Field(description="The request's id.")
