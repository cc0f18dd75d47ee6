"""Reading a panel back and counting its votes: what app/services/panels.py decides from and the decision record keeps."""

from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import InvalidInput, NotFound
from app.models.deliberation import GuardianRef, PanelRecord
from app.models.panel import Panel, PanelCloseBody, PanelMember, PanelPublic, PanelVote, panel_public, vote_records
from app.models.sharing_request import SharingRequest
from app.models.vocabulary import FinalOutcome, PanelVoteChoice


async def open_panel_of(*, session: AsyncSession, request: SharingRequest) -> tuple[Panel, list[PanelMember], list[PanelVote]]:
    """The request's open panel, its members and its votes and withdrawals in the order recorded (the workflow has checked one is open)."""
    panel = (await session.exec(select(Panel).where(Panel.request_id == request.id, col(Panel.closed_at).is_(None)))).one()
    return panel, *await _seats_and_votes(session=session, panel=panel)


async def latest_panel(*, session: AsyncSession, request: SharingRequest) -> PanelPublic:
    """The request's most recent panel, open or closed, with every vote and withdrawal; 404 when it has never gone to one."""
    newest = select(Panel).where(Panel.request_id == request.id).order_by(col(Panel.opened_at).desc()).limit(1)
    panel = (await session.exec(newest)).first()
    if panel is None:
        raise NotFound("this request has not gone to a panel")
    return panel_public(panel, *await _seats_and_votes(session=session, panel=panel))


async def _seats_and_votes(*, session: AsyncSession, panel: Panel) -> tuple[list[PanelMember], list[PanelVote]]:
    members = (await session.exec(select(PanelMember).where(PanelMember.panel_id == panel.id).order_by(col(PanelMember.seat)))).all()
    votes = (await session.exec(select(PanelVote).where(PanelVote.panel_id == panel.id).order_by(col(PanelVote.at), col(PanelVote.id)))).all()
    return list(members), list(votes)


def standing_votes(votes: list[PanelVote]) -> list[PanelVote]:
    """The votes not superseded by their member's withdrawal, abstentions included."""
    withdrawn = {(row.member_sub, row.member_org) for row in votes if row.withdrawal}
    return [row for row in votes if not row.withdrawal and (row.member_sub, row.member_org) not in withdrawn]


def conditions_for(outcome: FinalOutcome, standing: list[PanelVote], body: PanelCloseBody) -> list[str]:
    """An approval with conditions carries every condition its votes set (and the chair's, with a casting vote); other outcomes none."""
    if outcome != FinalOutcome.APPROVE_WITH_CONDITIONS:
        if body.conditions:
            raise InvalidInput("conditions", f"conditions belong only to approve_with_conditions, not {outcome}")
        return []
    conditions = [text for row in standing if row.vote == PanelVoteChoice.APPROVE_WITH_CONDITIONS for text in row.conditions]
    conditions = list(dict.fromkeys([*conditions, *body.conditions]))
    if not conditions:
        raise InvalidInput("conditions", "approving with conditions needs at least one condition")
    return conditions


def record(
    *, panel: Panel, members: list[PanelMember], votes: list[PanelVote], standing: list[PanelVote], casting: FinalOutcome | None, now: datetime
) -> dict[str, Any]:
    """The panel as its decision record keeps it: every member, every vote (withdrawn ones marked), the count and any casting vote."""
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
        closed_at=now,
        members=[GuardianRef(sub=member.sub, org=member.org) for member in members],
        votes=vote_records(members, votes),
        tally=tally,
        casting_vote=casting,
    ).model_dump(mode="json")
