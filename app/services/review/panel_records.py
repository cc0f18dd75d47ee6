"""Reading a panel back and counting its votes:
what app/services/review/panels.py decides from and the decision record keeps."""

from collections import Counter
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, InvalidInput, NotFound
from app.models.deliberation import GuardianRef, PanelRecord
from app.models.panel import Panel, PanelCloseBody, PanelMember, PanelPublic, PanelVote, panel_public, vote_records
from app.models.sharing_request import SharingRequest
from app.models.vocabulary import FinalOutcome, PanelVoteChoice, RequestStatus


async def open_panel_of(
    *, session: AsyncSession, request: SharingRequest
) -> tuple[Panel, list[PanelMember], list[PanelVote]]:
    """The request's open panel, its members and its votes and withdrawals in the order recorded
    (the workflow has checked one is open)."""
    panel = (
        await session.exec(select(Panel).where(Panel.request_id == request.id, col(Panel.closed_at).is_(None)))
    ).one()
    return panel, *await _seats_and_votes(session=session, panel=panel)


async def latest_panel(*, session: AsyncSession, request: SharingRequest) -> PanelPublic:
    """The request's most recent panel, open or closed, with every vote and withdrawal;
    404 when it has never gone to one."""
    newest = select(Panel).where(Panel.request_id == request.id).order_by(col(Panel.opened_at).desc()).limit(1)
    panel = (await session.exec(newest)).first()
    if panel is None:
        raise NotFound("this request has not gone to a panel")
    return panel_public(panel, *await _seats_and_votes(session=session, panel=panel))


async def _seats_and_votes(*, session: AsyncSession, panel: Panel) -> tuple[list[PanelMember], list[PanelVote]]:
    members = (
        await session.exec(select(PanelMember).where(PanelMember.panel_id == panel.id).order_by(col(PanelMember.seat)))
    ).all()
    votes = (
        await session.exec(
            select(PanelVote).where(PanelVote.panel_id == panel.id).order_by(col(PanelVote.at), col(PanelVote.id))
        )
    ).all()
    return list(members), list(votes)


def standing_votes(votes: list[PanelVote]) -> list[PanelVote]:
    """The votes not superseded by their member's withdrawal, abstentions included."""
    withdrawn = {(row.member_sub, row.member_org) for row in votes if row.withdrawal}
    return [row for row in votes if not row.withdrawal and (row.member_sub, row.member_org) not in withdrawn]


def majority_of(members: list[PanelMember]) -> int:
    """How many members' votes an outcome needs to decide without a casting vote:
    more than half the panel, not of the votes cast."""
    return len(members) // 2 + 1


def verdict(
    *,
    panel: Panel,
    members: list[PanelMember],
    votes: list[PanelVote],
    body: PanelCloseBody,
    now: datetime,
    deadline: datetime | None,
    status: RequestStatus,
) -> tuple[FinalOutcome, FinalOutcome | None]:
    """The outcome the panel closes with, and the casting vote if one decided it;
    a 409 while it cannot close, a 422 naming a bad field."""
    standing = standing_votes(votes)
    cast = [row for row in standing if row.vote != PanelVoteChoice.ABSTAIN]
    if len(cast) < panel.quorum:
        raise Conflict(
            f"{len(cast)} votes for an outcome: the panel closes once its quorum of {panel.quorum} have voted for "
            "one (abstentions do not count)",
            current_status=status,
        )
    done = {(row.member_sub, row.member_org) for row in votes}  # a vote, an abstention or a withdrawal
    waiting = [member.sub for member in members if (member.sub, member.org) not in done]
    if waiting and (deadline is None or now < deadline):
        due = (
            f"the request's due time, {deadline.isoformat(timespec='seconds')}"
            if deadline
            else "the request's due time"
        )
        raise Conflict(
            f"not yet voted: {', '.join(waiting)}; "
            f"the panel closes once every member has voted, or at its deadline, {due}",
            current_status=status,
        )
    ranked = Counter(FinalOutcome(str(row.vote)) for row in cast).most_common()
    needed = majority_of(members)
    if ranked[0][1] >= needed:
        if body.casting_vote is not None:
            raise InvalidInput(
                "casting_vote",
                f"{ranked[0][1]} of the panel's {len(members)} members voted {ranked[0][0]}: "
                "a casting vote is only for a tie",
            )
        return ranked[0][0], None
    if len(ranked) < 2 or ranked[0][1] != ranked[1][1]:
        counts = ", ".join(f"{outcome} {count}" for outcome, count in ranked)
        raise Conflict(
            f"no outcome has the votes of a majority of the panel's {len(members)} members ({needed}), and the leading "
            f"outcomes are not tied ({counts}): the panel stays open for the members yet to vote, "
            "and the casting vote breaks only a tie",
            current_status=status,
        )
    tied = sorted(outcome for outcome, count in ranked if count == ranked[0][1])
    if body.casting_vote is None:
        raise InvalidInput(
            "casting_vote", f"the votes cast are tied between {', '.join(tied)}: the chair's casting vote decides"
        )
    if body.casting_vote not in tied:
        raise InvalidInput("casting_vote", f"the casting vote chooses among the outcomes tied: {', '.join(tied)}")
    return body.casting_vote, body.casting_vote


def conditions_for(outcome: FinalOutcome, standing: list[PanelVote], body: PanelCloseBody) -> list[str]:
    """An approval with conditions carries every condition its votes set (and the chair's,
    with a casting vote); other outcomes none."""
    if outcome != FinalOutcome.APPROVE_WITH_CONDITIONS:
        if body.conditions:
            raise InvalidInput("conditions", f"conditions belong only to approve_with_conditions, not {outcome}")
        return []
    conditions = [
        text for row in standing if row.vote == PanelVoteChoice.APPROVE_WITH_CONDITIONS for text in row.conditions
    ]
    conditions = list(dict.fromkeys([*conditions, *body.conditions]))
    if not conditions:
        raise InvalidInput("conditions", "approving with conditions needs at least one condition")
    return conditions


def record(
    *,
    panel: Panel,
    members: list[PanelMember],
    votes: list[PanelVote],
    standing: list[PanelVote],
    casting: FinalOutcome | None,
    now: datetime,
    deadline: datetime | None,
) -> dict[str, Any]:
    """The panel as its decision record keeps it: every member, every vote (withdrawn ones marked),
    the count and any casting vote."""
    tally = {choice: sum(1 for row in standing if row.vote == choice) for choice in PanelVoteChoice}
    return PanelRecord(
        id=panel.id,
        chair=panel.chair_sub,
        chair_org=panel.chair_org,
        reason=panel.reason,
        required=list(panel.required),
        size=panel.size,
        quorum=panel.quorum,
        opened_at=panel.opened_at,
        due_at=deadline,
        closed_at=now,
        members=[GuardianRef(sub=member.sub, org=member.org) for member in members],
        votes=vote_records(members, votes),
        tally=tally,
        casting_vote=casting,
    ).model_dump(mode="json")
