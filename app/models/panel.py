"""Panels: three guardians of the controller (by the 2027.1 defaults) decide a case by a majority of the members;
the chair breaks a real tie."""

from datetime import datetime
from typing import Annotated

import sqlmodel
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Column, ForeignKey, String, UniqueConstraint
from sqlmodel import SQLModel

from app.models.base import JSONValue, UTCDateTime, enum_column
from app.models.deliberation import GuardianRef, VoteRecord
from app.models.review import ConditionText, Rationale
from app.models.sharing_request import new_id
from app.models.vocabulary import FinalOutcome, PanelVoteChoice

VOTE_RATIONALE = (
    "The refusal was by a capable adult, but the risk of serious harm to the child is now immediate and specific."
)


class Panel(SQLModel, table=True):
    """A panel on one request; at most one is open at a time, and it closes with the decision it records."""

    __tablename__ = "panels"

    id: str = sqlmodel.Field(default_factory=new_id, primary_key=True, max_length=36)
    request_id: str = sqlmodel.Field(
        sa_column=Column(String(36), ForeignKey("sharing_requests.id"), nullable=False, index=True)
    )
    chair_sub: str = sqlmodel.Field(max_length=200)
    chair_org: str = sqlmodel.Field(max_length=32)
    reason: str = sqlmodel.Field(max_length=8000)
    required: list[str] = sqlmodel.Field(
        sa_column=Column(JSONValue, nullable=False)
    )  # the findings that made it necessary
    size: int
    quorum: int
    opened_at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))
    closed_at: datetime | None = sqlmodel.Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    decision_id: str | None = sqlmodel.Field(
        default=None, sa_column=Column(String(36), ForeignKey("decisions.id"), nullable=True)
    )


class PanelMember(SQLModel, table=True):
    """A seat on a panel: the chair's, and those of the guardians the chair named."""

    __tablename__ = "panel_members"

    panel_id: str = sqlmodel.Field(sa_column=Column(String(36), ForeignKey("panels.id"), primary_key=True))
    sub: str = sqlmodel.Field(primary_key=True, max_length=200)
    org: str = sqlmodel.Field(primary_key=True, max_length=32)
    seat: int
    chair: bool = False


class PanelVote(SQLModel, table=True):
    """A vote, or its withdrawal: each member has at most one of each, and neither is ever changed or deleted."""

    __tablename__ = "panel_votes"
    __table_args__ = (UniqueConstraint("panel_id", "member_sub", "member_org", "withdrawal"),)

    id: str = sqlmodel.Field(default_factory=new_id, primary_key=True, max_length=36)
    panel_id: str = sqlmodel.Field(sa_column=Column(String(36), ForeignKey("panels.id"), nullable=False, index=True))
    member_sub: str = sqlmodel.Field(max_length=200)
    member_org: str = sqlmodel.Field(max_length=32)
    withdrawal: bool = False  # a withdrawal supersedes the member's vote, or stands for one never cast
    vote: PanelVoteChoice | None = sqlmodel.Field(
        default=None, sa_column=enum_column(PanelVoteChoice, 32, nullable=True)
    )
    conditions: list[str] = sqlmodel.Field(sa_column=Column(JSONValue, nullable=False))
    rationale: str = sqlmodel.Field(max_length=8000)
    at: datetime = sqlmodel.Field(sa_column=Column(UTCDateTime(), nullable=False))


class PanelOpenBody(BaseModel):
    """Why the case goes to a panel, and the guardians of the controller organisation the chair (who opens it) names
    to sit with them."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "reason": "Approving would override a capable adult's refusal of consent; "
                    "the policy asks a panel to decide.",
                    "members": [{"sub": "guardian-2", "org": "CONTROLLER"}, {"sub": "guardian-7", "org": "CONTROLLER"}],
                }
            ]
        },
    )

    reason: Rationale = Field(description="Why the case goes to a panel (20 to 8000 characters).")
    members: Annotated[
        list[GuardianRef],
        Field(
            min_length=1,
            max_length=20,
            description="The other members: the panel's size less one, distinct, each a guardian of the controller "
            "organisation named as their token names them (`sub` and `org`)",
        ),
    ]


class PanelVoteBody(BaseModel):
    """A member's vote, with a rationale; conditions with approve_with_conditions only."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "vote": "approve_with_conditions",
                    "rationale": VOTE_RATIONALE,
                    "conditions": ["Share only with the named social worker"],
                },
                {
                    "vote": "refuse",
                    "rationale": "The risk described is general; it does not yet outweigh a capable adult's refusal.",
                },
            ]
        },
    )

    vote: PanelVoteChoice = Field(
        description="The member's vote: `approve`, `approve_with_conditions`, `refuse` or `abstain`."
    )
    rationale: Rationale = Field(description="The member's reasons (20 to 8000 characters).")
    conditions: Annotated[list[ConditionText], Field(max_length=50)] = Field(
        default=[],
        description=(
            "With `approve_with_conditions` only: the conditions the member would attach (each 1 "
            "to 1000 characters, at most 50)."
        ),
    )


class PanelWithdrawalBody(BaseModel):
    """A member's withdrawal from the panel, superseding their vote if they cast one."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"rationale": "I advised the requesting team on this family last year and should not sit on this case."}
            ]
        },
    )

    rationale: Rationale = Field(
        description="Why the member withdraws (20 to 8000 characters), such as a conflict of interest."
    )


class PanelCloseBody(BaseModel):
    """The chair closes the panel once every member has voted or its deadline has passed; on a real tie the chair's
    casting vote decides."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "rationale": "The panel found by majority that the public interest in protecting "
                    "the child outweighs the refusal."
                },
                {
                    "rationale": "The panel was divided; I give my casting vote to refuse, "
                    "as the risk is not yet specific.",
                    "casting_vote": "refuse",
                },
            ]
        },
    )

    rationale: Rationale = Field(description="The chair's reasons for the panel's decision (20 to 8000 characters).")
    casting_vote: FinalOutcome | None = Field(
        default=None,
        description="On a real tie only (no outcome has a majority of the members, and the leading outcomes have equal "
        "votes): the outcome the chair chooses among those tied",
    )
    conditions: Annotated[list[ConditionText], Field(max_length=50)] = Field(
        default=[],
        description="With a casting vote to approve with conditions that no member's vote carried conditions for",
    )


class PanelPublic(BaseModel):
    """A panel as it stands: its members and every vote and withdrawal so far."""

    id: str = Field(description="The panel's id.")
    request_id: str = Field(description="The sharing request it decides.")
    chair: GuardianRef = Field(description="The chair: the guardian who opened it.")
    reason: str = Field(description="Why the case went to a panel.")
    required: list[str] = Field(
        description="The findings that made a panel necessary; empty when a guardian escalated the case"
    )
    size: int = Field(description="How many members sit, the chair included.")
    quorum: int = Field(description="How many standing votes for one outcome a decision needs.")
    members: list[GuardianRef] = Field(description="Every member, the chair first.")
    votes: list[VoteRecord] = Field(description="The votes and withdrawals so far, in seat order.")
    opened_at: datetime = Field(description="When it was opened (UTC).")
    closed_at: datetime | None = Field(description="When the chair closed it (UTC); null while it is open.")
    decision_id: str | None = Field(description="The decision it made; null while it is open.")


def vote_records(members: list[PanelMember], votes: list[PanelVote]) -> list[VoteRecord]:
    """Each member's vote (or their withdrawal without one), in seat order, with its withdrawal if any."""
    records = []
    for member in sorted(members, key=lambda seat: seat.seat):
        mine = [vote for vote in votes if (vote.member_sub, vote.member_org) == (member.sub, member.org)]
        cast = next((vote for vote in mine if not vote.withdrawal), None)
        withdrawn = next((vote for vote in mine if vote.withdrawal), None)
        if cast is None and withdrawn is None:
            continue
        records.append(
            VoteRecord(
                member=member.sub,
                member_org=member.org,
                vote=cast.vote if cast else None,
                conditions=list(cast.conditions) if cast else [],
                rationale=cast.rationale if cast else None,
                cast_at=cast.at if cast else None,
                withdrawn=withdrawn is not None,
                withdrawn_at=withdrawn.at if withdrawn else None,
                withdrawal_rationale=withdrawn.rationale if withdrawn else None,
            )
        )
    return records


def panel_public(panel: Panel, members: list[PanelMember], votes: list[PanelVote]) -> PanelPublic:
    return PanelPublic(
        id=panel.id,
        request_id=panel.request_id,
        chair=GuardianRef(sub=panel.chair_sub, org=panel.chair_org),
        reason=panel.reason,
        required=list(panel.required),
        size=panel.size,
        quorum=panel.quorum,
        members=[GuardianRef(sub=m.sub, org=m.org) for m in sorted(members, key=lambda seat: seat.seat)],
        votes=vote_records(members, votes),
        opened_at=panel.opened_at,
        closed_at=panel.closed_at,
        decision_id=panel.decision_id,
    )
