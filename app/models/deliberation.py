"""What a decision record keeps of the deliberation behind it: the second opinions weighed, and a panel's every vote."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.models.base import GUARDIAN_UNNAMED, STORABLE_TEXT
from app.models.vocabulary import FinalOutcome, OpinionChoice, PanelVoteChoice


class GuardianRef(BaseModel):
    """A guardian, as their token names them: the subject and the organisation."""

    model_config = ConfigDict(extra="forbid")

    sub: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200, pattern=STORABLE_TEXT)] = Field(
        description="The guardian's token subject (`sub` claim)."
    )
    org: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=32, pattern=STORABLE_TEXT)] = Field(
        description="The guardian's organisation code (`org` claim)."
    )


class OpinionRecord(BaseModel):
    """A second opinion as the claim holder's decision weighed it."""

    id: str = Field(description="The opinion's id.")
    opinion_request_id: str = Field(description="The id of the request for an opinion it answered.")
    proposed_outcome: FinalOutcome = Field(description="The outcome the claim holder proposed when asking")
    given_by: str = Field(description="The guardian who gave it, by token subject; " + GUARDIAN_UNNAMED)
    given_by_org: str = Field(description="The organisation of the guardian who gave it.")
    opinion: OpinionChoice = Field(description="`agree`, `disagree` or `abstain`.")
    rationale: str = Field(description="The second guardian's reasons.")
    given_at: datetime = Field(description="When it was given (UTC).")


class VoteRecord(BaseModel):
    """One member's vote on a panel, and its withdrawal if it was withdrawn; a member who withdrew without voting
    has no vote."""

    member: str = Field(description="The member, by token subject; " + GUARDIAN_UNNAMED)
    member_org: str = Field(description="The member's organisation.")
    vote: PanelVoteChoice | None = Field(description="The vote cast; null when the member withdrew without voting.")
    conditions: list[str] = Field(
        description="The conditions the member would attach, with `approve_with_conditions`; empty otherwise."
    )
    rationale: str | None = Field(description="The member's reasons; null when no vote was cast.")
    cast_at: datetime | None = Field(description="When the vote was cast (UTC); null when none was.")
    withdrawn: bool = Field(
        description="True when the member withdrew from the panel (their vote, if any, no longer counts)."
    )
    withdrawn_at: datetime | None = Field(
        default=None, description="When the member withdrew (UTC); null when they did not."
    )
    withdrawal_rationale: str | None = Field(
        default=None, description="Why the member withdrew; null when they did not."
    )


class PanelRecord(BaseModel):
    """A panel's decision as recorded: its rule, its deadline, every member and every vote, the count, and the
    chair's casting vote on a tie."""

    id: str = Field(description="The panel's id.")
    chair: str = Field(description="The chair, by token subject; " + GUARDIAN_UNNAMED)
    chair_org: str = Field(description="The chair's organisation.")
    reason: str = Field(description="Why the case went to a panel, as the chair wrote.")
    required: list[str] = Field(
        description="The findings that made a panel necessary under the policy; "
        "empty when a guardian escalated the case"
    )
    size: int = Field(description="How many members sat, the chair included.")
    quorum: int = Field(description="How many standing votes for an outcome a decision needed.")
    opened_at: datetime = Field(description="When the panel was opened (UTC).")
    due_at: datetime | None = Field(
        default=None,
        description="The panel's deadline, the request's due time: "
        "before it the chair closes only once every member has voted",
    )
    closed_at: datetime = Field(description="When the chair closed it (UTC).")
    members: list[GuardianRef] = Field(description="Every member, the chair first.")
    votes: list[VoteRecord] = Field(description="Every member's vote, withdrawn ones too.")
    tally: dict[PanelVoteChoice, int] = Field(
        description="Standing votes of each kind; withdrawn votes are not counted"
    )
    casting_vote: FinalOutcome | None = Field(
        description="The chair's choice on a tie; null when a majority of the panel's members chose the outcome"
    )
