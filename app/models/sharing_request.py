"""Sharing requests, their versions, subject hashes and decisions."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlmodel
from pydantic import BaseModel, Field
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    and_,
    false,
    or_,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import SQLModel, col

from app.models.actions import RequestAction
from app.models.base import GUARDIAN_UNNAMED, JSONValue, UTCDateTime, enum_column, utcnow
from app.models.decision_facts import DecisionFacts
from app.models.deliberation import OpinionRecord, PanelRecord
from app.models.page import Page
from app.models.vocabulary import (
    DataCategory,
    DecisionKind,
    DecisionOutcome,
    FactsOrigin,
    Outcome,
    PurposeCategory,
    RequestStatus,
    RetrospectiveStatus,
    ReviewVerdict,
    Urgency,
)
from app.rules import Finding


def new_id() -> str:
    return str(uuid.uuid4())


ROW_VERSION = Column("row_version", Integer, nullable=False, server_default="1")


class SharingRequest(SQLModel, table=True):
    """One request from a partner agency; its body lives in versions, its verdicts in decisions."""

    __tablename__ = "sharing_requests"
    __table_args__ = (
        UniqueConstraint("requester_org", "idempotency_key"),
        Index("ix_sharing_requests_requester_created", "requester_org", "created_at", "id"),
        Index("ix_sharing_requests_created", "created_at", "id"),
        Index("ix_sharing_requests_status_created", "status", "created_at"),
        Index("ix_sharing_requests_queue", "in_queue", "review_priority", "due_at", "id"),
        # A lapsed claim reads as returned (status_read_as, claim_held): the queue's filters compare the expiry.
        Index("ix_sharing_requests_claim_expires", "claim_expires_at"),
    )
    # Optimistic locking: two guardians acting on one request at once cannot both win.
    __mapper_args__ = {"version_id_col": ROW_VERSION}

    id: str = sqlmodel.Field(default_factory=new_id, primary_key=True, max_length=36)
    requester_org: str = sqlmodel.Field(sa_column=Column(String(32), ForeignKey("organisations.code"), nullable=False))
    submitted_by: str = sqlmodel.Field(max_length=200)
    reference: str | None = sqlmodel.Field(default=None, max_length=200)
    purpose_category: PurposeCategory = sqlmodel.Field(sa_column=enum_column(PurposeCategory, 32))
    urgency: Urgency = sqlmodel.Field(sa_column=enum_column(Urgency, 16))
    status: RequestStatus = sqlmodel.Field(sa_column=enum_column(RequestStatus, 32))
    review_required: bool = False
    current_version: int = 1
    idempotency_key: str | None = sqlmodel.Field(default=None, max_length=200)
    # The guardian queue: referred requests and emergency shares awaiting retrospective review.
    in_queue: bool = False
    review_priority: int = 0
    referred_at: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    due_at: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    paused_at: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    paused_seconds: int = 0
    assignee_sub: str | None = sqlmodel.Field(default=None, max_length=200)
    assignee_org: str | None = sqlmodel.Field(default=None, max_length=32)
    claim_expires_at: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    retrospective_status: RetrospectiveStatus | None = sqlmodel.Field(
        default=None, sa_column=enum_column(RetrospectiveStatus, 16, nullable=True)
    )
    overdue_flagged_at: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # The controller's checks (app/services/controller_checks/checks.py keeps these): the decision whose checks count
    # now, the names of its checks still open, whether one of them holds the disclosure back, and whether a failed check
    # of an emergency share (already disclosed), or a decision that let unverified evidence clear a condition, calls for
    # the controller's incident process.
    checks_decision_id: str | None = sqlmodel.Field(default=None, max_length=36)
    open_checks: list[str] = sqlmodel.Field(
        default_factory=list, sa_column=Column(JSONValue, nullable=False, server_default="[]")
    )
    checks_blocking: bool = sqlmodel.Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    possible_incident: bool = sqlmodel.Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    row_version: int = sqlmodel.Field(default=1, sa_column=ROW_VERSION)
    created_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class RequestVersion(SQLModel, table=True):
    """The body of a request as submitted or amended; identifiers replaced by keyed hashes."""

    __tablename__ = "sharing_request_versions"
    __table_args__ = (UniqueConstraint("request_id", "version"),)

    id: int | None = sqlmodel.Field(default=None, primary_key=True)
    request_id: str = sqlmodel.Field(
        sa_column=Column(String(36), ForeignKey("sharing_requests.id"), nullable=False, index=True)
    )
    version: int
    body: dict[str, Any] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))
    request_hash: str = sqlmodel.Field(max_length=64)
    # The version of the subject key whose hashes the body holds: the body is never re-keyed (its hash is the one the
    # decision cites), so this tells which key made them.
    subject_key_version: int = sqlmodel.Field(
        default=1, sa_column=Column(Integer(), nullable=False, server_default="1")
    )
    created_by: str = sqlmodel.Field(max_length=200)
    note: str | None = sqlmodel.Field(default=None, max_length=4000)
    created_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class RequestSubject(SQLModel, table=True):
    """A keyed hash of one subject identifier named by a request version, for disclosure reports,
    and the version of the subject key that made it (`caldicott subjects rekey` moves it to the current one)."""

    __tablename__ = "sharing_request_subjects"

    request_id: str = sqlmodel.Field(sa_column=Column(String(36), ForeignKey("sharing_requests.id"), primary_key=True))
    version: int = sqlmodel.Field(primary_key=True)
    subject_hash: str = sqlmodel.Field(primary_key=True, max_length=64, index=True)
    # Indexed: the versions in use are found in a few probes of it (app/services/sharing_requests/subject_keys.py).
    key_version: int = sqlmodel.Field(
        default=1, sa_column=Column(Integer(), nullable=False, server_default="1", index=True)
    )


# A JSON column whose Python None is SQL NULL rather than JSON null,
# so `facts IS NULL` finds every decision without facts.
NullableJSON = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class Decision(SQLModel, table=True):
    """A verdict on one version of a request, by the rules or a guardian; never edited."""

    __tablename__ = "decisions"
    # The agreements report counts the last twelve months' decisions and the decision log reads a period of them in
    # this order: both read a range of this index rather than every decision ever made.
    __table_args__ = (Index("ix_decisions_decided_at", "decided_at", "id"),)

    id: str = sqlmodel.Field(default_factory=new_id, primary_key=True, max_length=36)
    request_id: str = sqlmodel.Field(
        sa_column=Column(String(36), ForeignKey("sharing_requests.id"), nullable=False, index=True)
    )
    version: int
    kind: DecisionKind = sqlmodel.Field(default=DecisionKind.RULES, sa_column=enum_column(DecisionKind, 16))
    outcome: DecisionOutcome = sqlmodel.Field(sa_column=enum_column(DecisionOutcome, 32))
    # A reconsideration's or retrospective review's verdict on the decision it reviewed; `outcome` is what then stands.
    verdict: ReviewVerdict | None = sqlmodel.Field(
        default=None, sa_column=enum_column(ReviewVerdict, 16, nullable=True)
    )
    findings: list[dict[str, Any]] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))
    conditions: list[str] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))
    review_required: bool = False
    decided_by: str = sqlmodel.Field(max_length=200)
    rationale: str | None = None
    # A guardian's reason for the person, for their notice when it overrode a refusal (brief section 6,
    # rule 4); never the rationale.
    subject_reason: str | None = sqlmodel.Field(default=None, max_length=2000)
    approved_items: list[str] | None = sqlmodel.Field(default=None, sa_column=Column(JSONValue, nullable=True))
    # Guardian decisions: seconds from referral, less time paused waiting for information.
    response_seconds: int | None = None
    policy_name: str = sqlmodel.Field(max_length=100)
    policy_version: str = sqlmodel.Field(max_length=50)
    policy_hash: str = sqlmodel.Field(max_length=64)
    request_hash: str = sqlmodel.Field(max_length=64)
    decided_at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    # What the rules saw beyond the body (app.rules.facts.facts_record), so the decision can be replayed exactly;
    # null only for a decision made before facts were recorded whose rows have changed since.
    facts: dict[str, Any] | None = sqlmodel.Field(default=None, sa_column=Column(NullableJSON, nullable=True))
    facts_origin: FactsOrigin = sqlmodel.Field(
        default=FactsOrigin.RECORDED, sa_column=enum_column(FactsOrigin, 16, server_default=FactsOrigin.RECORDED.value)
    )
    # A guardian's decision: the second opinions it weighed (OpinionRecord); a panel's:
    # its members and every vote (PanelRecord).
    opinions: list[dict[str, Any]] | None = sqlmodel.Field(default=None, sa_column=Column(NullableJSON, nullable=True))
    panel: dict[str, Any] | None = sqlmodel.Field(default=None, sa_column=Column(NullableJSON, nullable=True))


class Transition(SQLModel, table=True):
    """One change of a request's state, or of its claim, and who made it."""

    __tablename__ = "sharing_request_transitions"

    id: int | None = sqlmodel.Field(default=None, primary_key=True)
    request_id: str = sqlmodel.Field(
        sa_column=Column(String(36), ForeignKey("sharing_requests.id"), nullable=False, index=True)
    )
    action: RequestAction = sqlmodel.Field(sa_column=enum_column(RequestAction, 32))
    from_status: RequestStatus | None = sqlmodel.Field(
        default=None, sa_column=enum_column(RequestStatus, 32, nullable=True)
    )
    to_status: RequestStatus = sqlmodel.Field(sa_column=enum_column(RequestStatus, 32))
    actor_sub: str = sqlmodel.Field(max_length=200)
    actor_org: str | None = sqlmodel.Field(default=None, max_length=32)
    at: datetime = sqlmodel.Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    # A hand-over only: the colleague (of the actor's organisation) who holds the claim now, and the actor's note.
    handed_to: str | None = sqlmodel.Field(default=None, max_length=200)
    note: str | None = sqlmodel.Field(default=None, max_length=2000)


STATUS_FOR_OUTCOME = {
    Outcome.APPROVE: RequestStatus.APPROVED,
    Outcome.APPROVE_WITH_CONDITIONS: RequestStatus.APPROVED_WITH_CONDITIONS,
    Outcome.REFUSE: RequestStatus.REFUSED,
    Outcome.REFER: RequestStatus.AWAITING_REVIEW,
}


class PolicyRef(BaseModel):
    name: str = Field(description="The policy's name, such as `uk-caldicott-baseline`.")
    version: str = Field(description="The policy's version, such as `2028.1`: with the name, which policy decided.")
    hash: str = Field(
        description=(
            "The SHA-256 (hex) of the policy document as held, so a decision can be replayed under exactly that text."
        )
    )


class Verdict(BaseModel):
    """What the rules found, shared by stored decisions and dry runs."""

    outcome: Outcome = Field(
        description=(
            "What the rules decided: `approve`, `approve_with_conditions`, `refer` (a Caldicott "
            "Guardian decides) or `refuse`."
        )
    )
    review_required: bool = Field(
        description=(
            "True when an emergency share was approved at once and a guardian must review it "
            "afterwards (the retrospective review); false otherwise, a referral included."
        )
    )
    findings: list[Finding] = Field(
        description="What each rule of the policy found, one finding per rule in the policy's order, passes included."
    )
    conditions: list[str] = Field(
        description=(
            "The conditions an approval carries, in the order of the findings that set them; empty"
            " when there are none. The recipient must meet every one."
        )
    )
    policy: PolicyRef = Field(description="The policy that decided: its name, version and content hash.")
    request_hash: str = Field(
        description=(
            "The SHA-256 (hex) of the request body in canonical JSON, identifiers replaced by "
            "their keyed hashes: which version of the request was decided."
        )
    )


class DecisionPublic(Verdict):
    """A stored decision: by the rules, a guardian, or a retrospective review."""

    id: str = Field(description="The decision's id (a UUID).")
    version: int = Field(
        description="The version of the request this decision is on (1 when submitted, one more with each amendment)."
    )
    kind: DecisionKind = Field(
        description=(
            "Who decided: the `rules`, a `guardian`, a `retrospective` review, a `reconsideration`, or a `panel`."
        )
    )
    outcome: DecisionOutcome = Field(  # type: ignore[assignment]  (wider than the rules' outcomes)
        description=(
            "The decision: the rules' outcome, a guardian's (`request_information` included), or a"
            " retrospective review's `upheld` or `not_upheld`."
        )
    )
    decided_by: str = Field(
        description="`rules`, or the guardian's token subject (a panel's: its chair's); " + GUARDIAN_UNNAMED
    )
    verdict: ReviewVerdict | None = Field(
        default=None,
        description="With kind `reconsideration` or `retrospective`: the guardian's verdict on the decision reviewed "
        "(`upheld`, `overturned` on reconsideration, `not_upheld` on a retrospective review); `outcome` stays the "
        "approve or refuse outcome that stands. Null for any other decision",
    )
    rationale: str | None = Field(
        default=None, description="The guardian's written reasons; null for a decision of the rules."
    )
    approved_items: list[DataCategory] | None = Field(
        default=None,
        description=(
            "A partial approval: the data categories a guardian approved, the others refused; null"
            " when the decision covers every item asked for."
        ),
    )
    decided_at: datetime = Field(description="When the decision was made (UTC).")
    facts: DecisionFacts | None = Field(
        description="What the rules saw beyond the request; null when it could not be recovered for an older decision"
    )
    facts_origin: FactsOrigin = Field(
        description="`recorded` with the decision, `recovered` later from unchanged rows, or `unrecoverable`"
    )
    opinions: list[OpinionRecord] = Field(default=[], description="The second opinions a guardian's decision weighed")
    panel: PanelRecord | None = Field(
        default=None, description="With kind `panel`: the panel, every vote (withdrawn ones too) and the count"
    )

    @classmethod
    def of(cls, decision: Decision, *, findings: Sequence[Finding] | None = None) -> "DecisionPublic":
        """The stored decision; `findings` when the caller still holds them as the
        rules gave them (else read from the row)."""
        return cls(
            id=decision.id,
            version=decision.version,
            kind=decision.kind,
            outcome=decision.outcome,
            verdict=decision.verdict,
            review_required=decision.review_required,
            findings=list(findings)
            if findings is not None
            else [Finding.model_validate(finding) for finding in decision.findings],
            conditions=decision.conditions,
            policy=PolicyRef(name=decision.policy_name, version=decision.policy_version, hash=decision.policy_hash),
            request_hash=decision.request_hash,
            decided_by=decision.decided_by,
            rationale=decision.rationale,
            approved_items=decision.approved_items,
            decided_at=decision.decided_at,
            facts=DecisionFacts.model_validate(decision.facts) if decision.facts is not None else None,
            facts_origin=decision.facts_origin,
            opinions=[OpinionRecord.model_validate(opinion) for opinion in decision.opinions or ()],
            panel=PanelRecord.model_validate(decision.panel) if decision.panel is not None else None,
        )


class EvaluationPublic(Verdict):
    """A dry run's answer: what the decision would be today; nothing was stored."""

    status: RequestStatus = Field(description="The status the request would take if it were submitted now.")
    evaluated_at: datetime = Field(
        description="When the dry run was evaluated (UTC); the rules read today's date in Europe/London."
    )


# The status a claimed request returns to when its claim lapses (the workflow's EXPIRE_CLAIM rows; a retrospective
# review keeps its status). A lapsed claim reads as returned from the moment it lapses, though the row is changed
# only at the next write on the request: no read changes anything (tests/test_review.py checks the two agree).
LAPSED_CLAIM_STATUS = {
    RequestStatus.IN_REVIEW: RequestStatus.AWAITING_REVIEW,
    RequestStatus.IN_RECONSIDERATION: RequestStatus.AWAITING_RECONSIDERATION,
}


def claim_lapsed(request: SharingRequest, now: datetime | None = None) -> bool:
    """True when the request's claim outlived its lease without the guardian acting."""
    return request.claim_expires_at is not None and request.claim_expires_at <= (now or utcnow())


def status_as_read(request: SharingRequest, now: datetime | None = None) -> RequestStatus:
    """The request's status as a reader sees it: a lapsed claim's request is back in the queue."""
    if claim_lapsed(request, now):
        return LAPSED_CLAIM_STATUS.get(request.status, request.status)
    return request.status


def claim_held(now: datetime) -> ColumnElement[bool]:
    """Rows whose claim, if any, has not lapsed."""
    expires = col(SharingRequest.claim_expires_at)
    return or_(expires.is_(None), expires > now)


def status_read_as(status: RequestStatus, now: datetime) -> ColumnElement[bool]:
    """Rows that read as `status` (status_as_read): a claimed status only while the claim is
    held; any other, also the claimed rows whose lapsed claim returns them to it."""
    if status in LAPSED_CLAIM_STATUS:
        return and_(col(SharingRequest.status) == status, claim_held(now))
    returning = [claimed for claimed, returned in LAPSED_CLAIM_STATUS.items() if returned == status]
    lapsed = col(SharingRequest.claim_expires_at) <= now
    return or_(col(SharingRequest.status) == status, and_(lapsed, col(SharingRequest.status).in_(returning)))


class RequestHeadline(BaseModel):
    """What every list of requests shows of each."""

    id: str = Field(description="The request's id (a UUID), assigned by the service.")
    reference: str | None = Field(
        description="The requester's own case reference, as submitted; null when none was given."
    )
    requester: str = Field(
        description="The code of the requesting organisation, taken from the submitting token's `org` claim."
    )
    purpose: PurposeCategory = Field(description="The purpose category of the request's current version.")
    urgency: Urgency = Field(description="The urgency of the request's current version.")
    status: RequestStatus = Field(description="Where the request stands now.")

    @staticmethod
    def fields_of(request: SharingRequest) -> dict[str, Any]:
        return {
            "id": request.id,
            "reference": request.reference,
            "requester": request.requester_org,
            "purpose": request.purpose_category,
            "urgency": request.urgency,
            "status": status_as_read(request),
        }


APPROVING_STATUSES = frozenset({RequestStatus.APPROVED, RequestStatus.APPROVED_WITH_CONDITIONS})


def ready_to_disclose(request: SharingRequest) -> bool:
    """Approved, and no controller's check that holds the disclosure back is open (brief section 5)."""
    return request.status in APPROVING_STATUSES and not request.checks_blocking


class SharingRequestSummary(RequestHeadline):
    review_required: bool = Field(
        description="True when the current decision is an emergency share that a guardian must review afterwards."
    )
    retrospective_review: RetrospectiveStatus | None = Field(
        description=(
            "Where the retrospective review of an emergency share stands: `pending`, `upheld` or "
            "`not_upheld`; null when none is needed."
        )
    )
    due_at: datetime | None = Field(
        description=(
            "When a guardian's answer is due (UTC), by the policy's response time for the urgency (hours, or "
            "working days of its bank-holiday calendar); null when the request is not waiting for a guardian."
        )
    )
    created_at: datetime = Field(description="When the request was submitted (UTC).")
    updated_at: datetime = Field(
        description="When the request last changed (UTC): a decision, a claim, an amendment or a check."
    )
    ready_to_disclose: bool = Field(
        description=(
            "True when the request is approved (with or without conditions) and no controller's check that holds the "
            "disclosure back is open: an emergency share that is not a significant decision is ready at once, "
            "its checks recorded afterwards"
        )
    )
    open_checks: list[str] = Field(
        description=(
            "The controller's checks of the standing decision still open: rule ids (`CP6.court_order_verified`, "
            "`CP6.legal_requirement_verified`, `CP6.s251_verified`, `CP6.gateway_kind`, `CP7.emergency_share`) and "
            "`human_involvement`, recorded at `POST /v1/sharing-requests/{id}/controller-checks/{check}`"
        )
    )
    possible_incident: bool = Field(
        description="A possible incident: a decision let evidence no guardian had verified clear a condition, or a "
        "controller's check of an emergency share (already disclosed) failed; the controller's incident process applies"
    )

    @staticmethod
    def fields_of(request: SharingRequest) -> dict[str, Any]:
        return {
            **RequestHeadline.fields_of(request),
            "review_required": request.review_required,
            "retrospective_review": request.retrospective_status,
            "due_at": request.due_at,
            "created_at": request.created_at,
            "updated_at": request.updated_at,
            "ready_to_disclose": ready_to_disclose(request),
            "open_checks": list(request.open_checks),
            "possible_incident": request.possible_incident,
        }

    @classmethod
    def of(cls, request: SharingRequest) -> "SharingRequestSummary":
        return cls(**cls.fields_of(request))


class SharingRequestPublic(SharingRequestSummary):
    version: int = Field(description="The request's current version: 1 when submitted, one more with each amendment.")
    decision: DecisionPublic = Field(description="The current decision, on the current version.")
    request: dict[str, Any] = Field(
        description=(
            "The current version's body as the service keeps it: as submitted or amended, subject "
            "identifiers replaced by their keyed hashes."
        )
    )


class SharingRequestPage(Page[SharingRequestSummary]):
    pass
