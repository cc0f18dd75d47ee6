"""What a decision record keeps of the deliberation behind it: the second opinions weighed, and a panel's every vote."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.models.base import GUARDIAN_UNNAMED, STORABLE_TEXT
from app.models.vocabulary import FinalOutcome, OpinionChoice, PanelVoteChoice


class GuardianRef(BaseModel):
    """A guardian, as their token names them: the subject and the organisation."""

    model_config = ConfigDict(extra="forbid")

    sub: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200, pattern=STORABLE_TEXT)]
    org: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=32, pattern=STORABLE_TEXT)]


class OpinionRecord(BaseModel):
    """A second opinion as the claim holder's decision weighed it."""

    id: str
    opinion_request_id: str
    proposed_outcome: FinalOutcome = Field(description="The outcome the claim holder proposed when asking")
    given_by: str = Field(description="The guardian who gave it, by token subject; " + GUARDIAN_UNNAMED)
    given_by_org: str
    opinion: OpinionChoice
    rationale: str
    given_at: datetime


class VoteRecord(BaseModel):
    """One member's vote on a panel, and its withdrawal if it was withdrawn; a member who withdrew without voting
    has no vote."""

    member: str = Field(description="The member, by token subject; " + GUARDIAN_UNNAMED)
    member_org: str
    vote: PanelVoteChoice | None
    conditions: list[str]
    rationale: str | None
    cast_at: datetime | None
    withdrawn: bool
    withdrawn_at: datetime | None = None
    withdrawal_rationale: str | None = None


class PanelRecord(BaseModel):
    """A panel's decision as recorded: its rule, its deadline, every member and every vote, the count, and the
    chair's casting vote on a tie."""

    id: str
    chair: str = Field(description="The chair, by token subject; " + GUARDIAN_UNNAMED)
    chair_org: str
    reason: str
    required: list[str] = Field(
        description="The findings that made a panel necessary under the policy; "
        "empty when a guardian escalated the case"
    )
    size: int
    quorum: int
    opened_at: datetime
    due_at: datetime | None = Field(
        default=None,
        description="The panel's deadline, the request's due time: "
        "before it the chair closes only once every member has voted",
    )
    closed_at: datetime
    members: list[GuardianRef]
    votes: list[VoteRecord]
    tally: dict[PanelVoteChoice, int] = Field(
        description="Standing votes of each kind; withdrawn votes are not counted"
    )
    casting_vote: FinalOutcome | None = Field(
        description="The chair's choice on a tie; null when a majority of the panel's members chose the outcome"
    )
