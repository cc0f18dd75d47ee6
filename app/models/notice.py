"""A decision notice: the latest final decision on a request, told in plain English, for the requester or the person it is about."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from app.models.vocabulary import DataCategory, DataForm, DecisionKind, DecisionOutcome, PurposeCategory, StorageRegion, Urgency


class NoticeAudience(StrEnum):
    """Whom a notice is addressed to."""

    REQUESTER = "requester"  # the requesting agency (and guardians and auditors, who read what it reads)
    SUBJECT = "subject"  # the person the information is about (Caldicott principle 8)


class NoticeFormat(StrEnum):
    """The media types a notice is given in."""

    JSON = "application/json"
    HTML = "text/html"
    MARKDOWN = "text/markdown"
    PLAIN = "text/plain"


class ConditionSource(StrEnum):
    POLICY = "policy"  # a rule of the policy set it; its wording is the policy's
    GUARDIAN = "guardian"  # the Caldicott Guardian set it in deciding


class EarlierReconsideration(StrEnum):
    """Where a request to reconsider the decision in the notice stands."""

    REQUESTED = "requested"  # asked for; a guardian has yet to answer
    UPHELD = "upheld"  # answered: the decision stands


class NoticeOrganisation(BaseModel):
    code: str
    name: str


class NoticePurpose(BaseModel):
    category: PurposeCategory
    label: str = Field(description="The purpose in plain words")
    description: str | None = Field(description="The requester's own words; never in a notice for the person the information is about")


class NoticeItem(BaseModel):
    """One kind of information asked for, and whether it may be shared."""

    category: DataCategory
    label: str
    form: DataForm
    form_label: str
    justification: str | None = Field(description="Why the requester said it was needed; never in a notice for the person the information is about")
    may_be_shared: bool


class NoticeCondition(BaseModel):
    """An obligation on the recipient."""

    source: ConditionSource
    rule: str | None = Field(description="The policy rule that set it; null for a guardian's condition")
    text: str = Field(description="The obligation as the decision states it")
    explanation: str | None = Field(description="Why the policy asks it, in plain words")


class NoticeFinding(BaseModel):
    """A rule that did not simply pass, and what it found."""

    rule: str
    result: str
    reason: str


class NoticePrinciple(BaseModel):
    """A Caldicott principle (or another area of the policy, such as consent) that the decision engaged."""

    principle: int | None = Field(description="1 to 8; null for an area beside the principles, such as consent")
    title: str = Field(description="The principle as the policy states it")
    plain: str = Field(description="What it means, in plain words")
    findings: list[NoticeFinding]


class NoticeDecider(BaseModel):
    """Who made the decision."""

    kind: DecisionKind
    statement: str = Field(description='"the rules of policy NAME VERSION" or "a Caldicott Guardian of ORGANISATION"')
    organisation: NoticeOrganisation | None = Field(description="A guardian's organisation; null for the rules")
    policy_name: str
    policy_version: str


class NoticeRecipient(BaseModel):
    """How the recipient said it would hold the information (from the request as decided)."""

    retention_days: int
    onward_sharing: bool
    storage_region: StorageRegion
    storage_label: str


class ReconsiderationOffer(BaseModel):
    """How the requester may ask for the decision to be looked at again, and by when."""

    deadline: datetime
    window_days: int
    method: str = "POST"
    path: str = Field(description="Where to ask, giving the grounds")


class DecisionNotice(BaseModel):
    """The latest final decision on a request, in plain English: the JSON form of the notice and what its other forms are rendered from."""

    audience: NoticeAudience
    request_id: str
    decision_id: str
    reference: str | None = Field(description="The requester's own case reference; never in a notice for the person the information is about")
    requester: NoticeOrganisation
    controller: NoticeOrganisation
    issued_at: datetime
    decided_at: datetime
    outcome: DecisionOutcome
    outcome_label: str
    partial: bool = Field(description="Approved for some of the information asked for, not all")
    emergency_share: bool = Field(description="Shared at once because of a risk to life or of serious harm, and reviewed by a guardian afterwards")
    purpose: NoticePurpose
    urgency: Urgency
    urgency_label: str
    subject_count: int
    information: list[NoticeItem] = Field(description="Each kind of information asked for, and whether it may be shared")
    conditions: list[NoticeCondition]
    guardian_conditions_withheld: int = Field(
        0, description="In a notice for the person the information is about: how many of the guardian's own conditions are not quoted"
    )
    recipient: NoticeRecipient
    decided_by: NoticeDecider
    rationale: str | None = Field(description="The guardian's written reasons; never in a notice for the person the information is about")
    principles: list[NoticePrinciple]
    reconsideration: ReconsiderationOffer | None = Field(
        description="How to ask for reconsideration: only for a refusal or an approval with conditions not reconsidered before, and only in the requester's notice"
    )
    reconsidered: EarlierReconsideration | None = Field(None, description="Whether this decision has been put up for reconsideration, and how that stands")
    reconsidered_at: datetime | None = Field(None, description="When reconsideration was asked for, or when the decision was upheld")
