"""Panels: the claim holder opens one as its chair, naming the other members;
members vote once, or withdraw; the chair closes it.

The policy the rules decided under says the panel's size and quorum, and which approvals only a panel may make
(app/rules/policy.py, PanelRule). Every member is a guardian of the controller organisation (CALDICOTT_CONTROLLER_ORG),
the chair included: a member is named by subject and organisation, and votes only with a token naming both.

The chair closes the panel (app/services/review/panel_records.py, `verdict`) once every member has voted or withdrawn,
or once the panel's deadline has passed (the request's due time, which runs on while the panel sits), and only with
its quorum of votes for an outcome (abstentions do not count). An outcome chosen by a majority of the panel's
members decides; failing one, the chair's casting vote breaks a real tie between the leading outcomes; otherwise
the close is refused (409) and the panel stays open. The decision record, of kind `panel`, lists every member
and every vote.
"""

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, Forbidden, InvalidInput
from app.models.base import utcnow
from app.models.panel import (
    Panel,
    PanelCloseBody,
    PanelMember,
    PanelOpenBody,
    PanelPublic,
    PanelVote,
    PanelVoteBody,
    PanelWithdrawalBody,
    panel_public,
)
from app.models.sharing_request import STATUS_FOR_OUTCOME, Decision, SharingRequest, new_id
from app.models.vocabulary import DecisionKind, DecisionOutcome, Outcome, PanelVoteChoice, RequestStatus
from app.platform import writes
from app.principal import Principal
from app.services.controller_checks import checks as controller_checks
from app.services.notifications import outbox as notifications
from app.services.policies.registry import PolicyRegistry
from app.services.review import decisions as guardian_decisions
from app.services.review import opinions, panel_records, workflow
from app.services.review.claims import expire_claim
from app.services.review.workflow import Move
from app.services.sharing_requests import adjudication

VOTED = "you have voted on this panel; a vote is not changed, only withdrawn"
WITHDREW = "you have withdrawn from this panel"


async def open_panel(
    *,
    session: AsyncSession,
    registry: PolicyRegistry,
    principal: Principal,
    request: SharingRequest,
    body: PanelOpenBody,
    controller_org: str,
) -> PanelPublic:
    """Send the claimed request to a panel chaired by the claim holder,
    with the members they name; the due time runs on."""
    now = utcnow()
    await expire_claim(session=session, request=request, now=now)
    await workflow.check(session=session, request=request, move=Move.OPEN_PANEL, actor=principal)
    rules = await adjudication.rules_decision_of(session=session, request=request)
    rule = (await registry.get(session=session, name=rules.policy_name, version=rules.policy_version)).panel_rule
    if len(body.members) != rule.size - 1:
        raise InvalidInput(
            "members",
            f"a panel has {rule.size} members under policy {rules.policy_name} {rules.policy_version}: name "
            f"{rule.size - 1} besides yourself",
        )
    if principal.org != controller_org:
        raise Forbidden(f"a panel is chaired by a guardian of the controller organisation, {controller_org}")
    seats = [(principal.sub, principal.org)]
    for index, member in enumerate(body.members):
        if member.org == request.requester_org:
            raise Forbidden(f"members[{index}]: a guardian of the requesting organisation may not sit on its panel")
        if member.org != controller_org:
            raise Forbidden(
                f"members[{index}]: a panel sits only guardians of the controller organisation, "
                f"{controller_org}, not of {member.org}"
            )
        if (member.sub, member.org) in seats:
            raise InvalidInput(f"members[{index}]", "already on the panel: name distinct guardians other than yourself")
        seats.append((member.sub, member.org))
    await workflow.apply(session=session, request=request, move=Move.OPEN_PANEL, actor=principal, now=now)
    panel = Panel(
        id=new_id(),
        request_id=request.id,
        chair_sub=principal.sub,
        chair_org=principal.org,
        reason=body.reason,
        required=rule.needed_for(rules.findings),
        size=rule.size,
        quorum=rule.quorum,
        opened_at=now,
    )
    members = [
        PanelMember(panel_id=panel.id, sub=sub, org=org, seat=seat, chair=seat == 0)
        for seat, (sub, org) in enumerate(seats)
    ]
    session.add(panel)
    await session.flush()
    session.add_all(members)
    await session.flush()
    notifications.seated(session=session, request=request, members=seats[1:], now=now)  # the chair opened it
    return panel_public(panel, members, [])


async def vote(
    *, session: AsyncSession, principal: Principal, request: SharingRequest, body: PanelVoteBody
) -> PanelPublic:
    """Record a member's one vote; conditions come with approve_with_conditions, and only with it."""
    await workflow.check(session=session, request=request, move=Move.VOTE, actor=principal)
    panel, members, votes = await panel_records.open_panel_of(session=session, request=request)
    mine = [row for row in votes if (row.member_sub, row.member_org) == (principal.sub, principal.org)]
    if mine:
        raise Conflict(WITHDREW if any(row.withdrawal for row in mine) else VOTED, current_status=request.status)
    if body.vote == PanelVoteChoice.APPROVE_WITH_CONDITIONS and not body.conditions:
        raise InvalidInput("conditions", "approving with conditions needs at least one condition")
    if body.vote != PanelVoteChoice.APPROVE_WITH_CONDITIONS and body.conditions:
        raise InvalidInput("conditions", f"conditions belong only to approve_with_conditions, not {body.vote}")
    row = PanelVote(
        panel_id=panel.id,
        member_sub=principal.sub,
        member_org=principal.org,
        vote=body.vote,
        conditions=body.conditions,
        rationale=body.rationale,
    )
    return await _record(
        session=session,
        principal=principal,
        request=request,
        move=Move.VOTE,
        row=row,
        panel=panel,
        members=members,
        votes=votes,
    )


async def withdraw(
    *, session: AsyncSession, principal: Principal, request: SharingRequest, body: PanelWithdrawalBody
) -> PanelPublic:
    """Record a member's withdrawal, which supersedes their vote;
    refused when too few members would be left to reach a decision."""
    await workflow.check(session=session, request=request, move=Move.WITHDRAW_VOTE, actor=principal)
    panel, members, votes = await panel_records.open_panel_of(session=session, request=request)
    withdrawn = {(row.member_sub, row.member_org) for row in votes if row.withdrawal}
    if (principal.sub, principal.org) in withdrawn:
        raise Conflict(WITHDREW, current_status=request.status)
    needed = max(panel.quorum, panel_records.majority_of(members))
    if len(members) - len(withdrawn) - 1 < needed:
        raise Conflict(
            f"the panel would have fewer members than the {needed} its quorum and a majority of its {len(members)} "
            "members need: vote, or abstain, instead",
            current_status=request.status,
        )
    row = PanelVote(
        panel_id=panel.id,
        member_sub=principal.sub,
        member_org=principal.org,
        withdrawal=True,
        conditions=[],
        rationale=body.rationale,
    )
    return await _record(
        session=session,
        principal=principal,
        request=request,
        move=Move.WITHDRAW_VOTE,
        row=row,
        panel=panel,
        members=members,
        votes=votes,
    )


async def _record(
    *,
    session: AsyncSession,
    principal: Principal,
    request: SharingRequest,
    move: Move,
    row: PanelVote,
    panel: Panel,
    members: list[PanelMember],
    votes: list[PanelVote],
) -> PanelPublic:
    now = utcnow()
    row.id, row.at = new_id(), now
    await workflow.apply(session=session, request=request, move=move, actor=principal, now=now)
    session.add(row)
    try:
        await session.flush()  # the unique constraint answers a member voting twice at the same moment
    except IntegrityError:
        raise Conflict(WITHDREW if row.withdrawal else VOTED, current_status=RequestStatus.IN_PANEL) from None
    return panel_public(panel, members, [*votes, row])


async def close(
    *,
    session: AsyncSession,
    registry: PolicyRegistry,
    principal: Principal,
    request: SharingRequest,
    body: PanelCloseBody,
) -> Decision:
    """The chair records the panel's decision: a majority of its members', or on a real tie the chair's casting vote."""
    now = utcnow()
    await workflow.check(session=session, request=request, move=Move.CLOSE_PANEL, actor=principal)
    panel, members, votes = await panel_records.open_panel_of(session=session, request=request)
    standing = panel_records.standing_votes(votes)
    deadline = request.due_at  # the panel's deadline: the request's due time runs on while it sits
    outcome, casting = panel_records.verdict(
        panel=panel, members=members, votes=votes, body=body, now=now, deadline=deadline, status=request.status
    )
    conditions = panel_records.conditions_for(outcome, standing, body)
    if outcome in guardian_decisions.APPROVALS:  # a panel's approval waits for the policy's consultations too
        await guardian_decisions.check_consultations_answered(session=session, registry=registry, request=request)
    rules = await adjudication.rules_decision_of(session=session, request=request)
    weighed = await opinions.to_weigh(session=session, request=request)
    record = panel_records.record(
        panel=panel, members=members, votes=votes, standing=standing, casting=casting, now=now, deadline=deadline
    )

    async def decide() -> Decision:
        request.status = STATUS_FOR_OUTCOME[Outcome(outcome)]
        decision = await guardian_decisions.record_decision(
            session=session,
            request=request,
            rules=rules,
            kind=DecisionKind.PANEL,
            outcome=DecisionOutcome(outcome),
            principal=principal,
            rationale=body.rationale,
            response_seconds=guardian_decisions.waited_seconds(request, now),
            now=now,
            conditions=conditions,
            opinions=opinions.records(weighed),
            panel=record,
        )
        await controller_checks.open_for(
            session=session, request=request, decision=decision
        )  # a panel's approval opens its checks too
        return decision

    decision = await workflow.apply(
        session=session, request=request, move=Move.CLOSE_PANEL, actor=principal, now=now, decide=decide
    )
    assert decision is not None
    await writes.write(session)  # the decision row exists before the panel and the opinions name it
    panel.closed_at, panel.decision_id = now, decision.id
    await opinions.weighed(session=session, request=request, weighed=weighed, decision_id=decision.id, now=now)
    return decision
