"""The workflow table, walked: every stage x every move, over HTTP, against expectations written here.

The expectations below are not read from `app.services.workflow.TRANSITIONS`: if a row goes missing
from the table, the move it allowed is refused and the walk fails; if a stage or move is added, the
walk tries it everywhere and fails until it is written down here.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.errors import Conflict, Forbidden
from app.models.sharing_request import SharingRequest
from app.models.vocabulary import Role
from app.principal import Principal
from app.services.review import workflow
from app.services.review.workflow import TRANSITIONS, Move, Stage
from tests.factories import COURT_ORDER, EMERGENCY, REFERRED, register_organisation, submit
from tests.rules.baseline import baseline_request, changed
from tests.support import Tokens

RATIONALE = "Weighed against the duty of confidence; the recipient and the purpose are as stated."

# Every legal move and the stage it leads to; every other (stage, move) pair is a 409 that changes nothing.
LEGAL = {
    (Stage.AWAITING_REVIEW, Move.CLAIM): Stage.IN_REVIEW,
    (Stage.AWAITING_REVIEW, Move.WITHDRAW): Stage.WITHDRAWN,
    (Stage.IN_REVIEW, Move.RELEASE): Stage.AWAITING_REVIEW,
    (Stage.IN_REVIEW, Move.EXPIRE_CLAIM): Stage.AWAITING_REVIEW,
    (Stage.IN_REVIEW, Move.APPROVE): Stage.DECIDED,
    (Stage.IN_REVIEW, Move.APPROVE_WITH_CONDITIONS): Stage.DECIDED,
    (Stage.IN_REVIEW, Move.REFUSE): Stage.DECIDED,
    (Stage.IN_REVIEW, Move.REQUEST_INFORMATION): Stage.INFORMATION_REQUESTED,
    (Stage.IN_REVIEW, Move.WITHDRAW): Stage.WITHDRAWN,
    (Stage.INFORMATION_REQUESTED, Move.AMEND): Stage.DECIDED,  # the amended body here is one the rules approve
    (Stage.INFORMATION_REQUESTED, Move.WITHDRAW): Stage.WITHDRAWN,
    (Stage.RETROSPECTIVE_REVIEW, Move.CLAIM): Stage.RETROSPECTIVE_IN_REVIEW,
    (Stage.RETROSPECTIVE_IN_REVIEW, Move.RELEASE): Stage.RETROSPECTIVE_REVIEW,
    (Stage.RETROSPECTIVE_IN_REVIEW, Move.EXPIRE_CLAIM): Stage.RETROSPECTIVE_REVIEW,
    (Stage.RETROSPECTIVE_IN_REVIEW, Move.UPHOLD): Stage.DECIDED,
    (Stage.RETROSPECTIVE_IN_REVIEW, Move.NOT_UPHOLD): Stage.DECIDED,
    (
        Stage.DECIDED,
        Move.REQUEST_RECONSIDERATION,
    ): Stage.AWAITING_RECONSIDERATION,  # the decided request here is approved with conditions
    (Stage.DECIDED, Move.WITHDRAW): Stage.WITHDRAWN,  # an approval no longer needed, before anything was disclosed
    (Stage.DECIDED, Move.FAIL_CHECK): Stage.AWAITING_REVIEW,  # its controller's check recorded failed
    (
        Stage.RETROSPECTIVE_REVIEW,
        Move.FAIL_CHECK,
    ): Stage.AWAITING_REVIEW,  # the emergency share's check failed: a guardian decides again
    (Stage.RETROSPECTIVE_IN_REVIEW, Move.FAIL_CHECK): Stage.AWAITING_REVIEW,
    (Stage.AWAITING_RECONSIDERATION, Move.CLAIM): Stage.IN_RECONSIDERATION,
    (Stage.IN_RECONSIDERATION, Move.RELEASE): Stage.AWAITING_RECONSIDERATION,
    (Stage.IN_RECONSIDERATION, Move.EXPIRE_CLAIM): Stage.AWAITING_RECONSIDERATION,
    (Stage.IN_RECONSIDERATION, Move.UPHOLD_DECISION): Stage.DECIDED,
    (Stage.IN_RECONSIDERATION, Move.OVERTURN): Stage.DECIDED,
    (Stage.IN_REVIEW, Move.REQUEST_OPINION): Stage.IN_REVIEW,
    (Stage.IN_REVIEW, Move.GIVE_OPINION): Stage.IN_REVIEW,  # answering the claim holder's request, made first
    (Stage.IN_REVIEW, Move.OPEN_PANEL): Stage.IN_PANEL,
    (Stage.IN_PANEL, Move.VOTE): Stage.IN_PANEL,
    (Stage.IN_PANEL, Move.WITHDRAW_VOTE): Stage.IN_PANEL,
    (Stage.IN_PANEL, Move.CLOSE_PANEL): Stage.DECIDED,  # after every member has voted
    (Stage.IN_PANEL, Move.WITHDRAW): Stage.WITHDRAWN,
    # Renewing a claim, or handing it to a colleague, keeps the stage wherever a claim is held.
    **{
        (stage, move): stage
        for stage in (Stage.IN_REVIEW, Stage.RETROSPECTIVE_IN_REVIEW, Stage.IN_RECONSIDERATION)
        for move in (Move.RENEW_CLAIM, Move.HAND_OVER)
    },
}

# Who makes each move over HTTP: the claim holder is guardian-1, the requester is RXT01's system.
HOLDER = "guardian-1"
# A failed controller's check of a COURT_ORDER request, decided at once
# (approved with conditions) and open to reconsideration.
CHECKED = {"outcome": "failed", "checked": "The sealed order seen is for another case than the one cited."}
GROUNDS = "The recipient now stores the record in the UK, which answers the reason for the refusal."
# The panel the claim holder opens: guardian-1 chairs it, with these two.
MEMBERS = [{"sub": "guardian-2", "org": "CONTROLLER"}, {"sub": "guardian-3", "org": "CONTROLLER"}]
PANEL = {"reason": "The onward sharing is unusual enough that three guardians should decide it.", "members": MEMBERS}
QUESTION = {
    "proposed_outcome": "refuse",
    "question": "I propose to refuse the onward sharing as unnecessary. Do you agree?",
}


def guardian(tokens: Tokens, sub: str = HOLDER, org: str = "CONTROLLER") -> dict[str, str]:
    return tokens.headers(org, Role.GUARDIAN, sub=sub)


async def post(
    client: httpx.AsyncClient, request_id: str, path: str, headers: dict[str, str], body: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.post(f"/v1/sharing-requests/{request_id}/{path}", json=body, headers=headers)


async def request_in(client: httpx.AsyncClient, tokens: Tokens, stage: Stage) -> str:
    """A new request brought to `stage` through the API."""
    if stage in (Stage.DECIDED, Stage.AWAITING_RECONSIDERATION, Stage.IN_RECONSIDERATION):
        request_id = (await submit(client, tokens, changed(COURT_ORDER))).json()["id"]
        if stage is not Stage.DECIDED:
            assert (
                await post(client, request_id, "reconsideration", tokens.agency("RXT01"), {"grounds": GROUNDS})
            ).status_code == 201
        if stage is Stage.IN_RECONSIDERATION:
            assert (await post(client, request_id, "claim", guardian(tokens))).status_code == 200
        return request_id
    if stage in (Stage.RETROSPECTIVE_REVIEW, Stage.RETROSPECTIVE_IN_REVIEW):
        request_id = (await submit(client, tokens, changed(EMERGENCY))).json()["id"]
        if stage is Stage.RETROSPECTIVE_IN_REVIEW:
            assert (await post(client, request_id, "claim", guardian(tokens))).status_code == 200
        return request_id
    request_id = (await submit(client, tokens, changed(REFERRED))).json()["id"]
    if stage is Stage.WITHDRAWN:
        assert (await post(client, request_id, "withdraw", tokens.agency("RXT01"))).status_code == 200
    if stage in (Stage.IN_REVIEW, Stage.INFORMATION_REQUESTED, Stage.IN_PANEL):
        assert (await post(client, request_id, "claim", guardian(tokens))).status_code == 200
    if stage is Stage.IN_PANEL:
        assert (await post(client, request_id, "panel", guardian(tokens), PANEL)).status_code == 201
    if stage is Stage.INFORMATION_REQUESTED:
        asked = await post(
            client, request_id, "review", guardian(tokens), {"outcome": "request_information", "rationale": RATIONALE}
        )
        assert asked.status_code == 200, asked.text
    return request_id


async def stage_seen(client: httpx.AsyncClient, tokens: Tokens, request_id: str) -> tuple[Stage, str]:
    """The stage a reader of the API sees, and the status; worked out here, not by the workflow module."""
    request = (await client.get(f"/v1/sharing-requests/{request_id}", headers=guardian(tokens))).json()
    status = request["status"]
    if request["retrospective_review"] == "pending":
        [entry] = [
            entry
            for entry in (await client.get("/v1/review-queue", headers=guardian(tokens))).json()["items"]
            if entry["id"] == request_id
        ]
        return (Stage.RETROSPECTIVE_IN_REVIEW if entry["assignee"] else Stage.RETROSPECTIVE_REVIEW), status
    if status in ("approved", "approved_with_conditions", "refused"):
        return Stage.DECIDED, status
    return Stage(status), status


async def expire_claim(app: FastAPI, request_id: str, actor: Principal | None = None) -> None:
    """The service's own move: the claim's lease runs out (there is no endpoint for it)."""
    async with app.state.wiring.sessionmaker() as session:  # the service's own sessions, as its sweep uses
        request = await session.get(SharingRequest, request_id)
        assert request is not None
        if request.claim_expires_at is not None:
            request.claim_expires_at = datetime.now(UTC) - timedelta(seconds=1)
        await workflow.apply(
            session=session, request=request, move=Move.EXPIRE_CLAIM, actor=actor, now=datetime.now(UTC)
        )
        await session.commit()


REVIEWS = (Move.APPROVE, Move.APPROVE_WITH_CONDITIONS, Move.REFUSE, Move.REQUEST_INFORMATION)
RETROSPECTIVE_REVIEWS = (Move.UPHOLD, Move.NOT_UPHOLD)
PATHS = {
    Move.CLAIM: "claim",
    Move.RELEASE: "release",
    Move.WITHDRAW: "withdraw",
    Move.AMEND: "amendments",
    Move.REQUEST_RECONSIDERATION: "reconsideration",
    Move.RENEW_CLAIM: "claim/renew",
}
HAND_OVER = {"to": "guardian-2", "note": "On leave from tomorrow; the answer on retention is due Friday."}
BY_THE_REQUESTER = (Move.AMEND, Move.WITHDRAW, Move.REQUEST_RECONSIDERATION)
CREATES = {
    Move.REQUEST_RECONSIDERATION,
    Move.REQUEST_OPINION,
    Move.GIVE_OPINION,
    Move.OPEN_PANEL,
    Move.VOTE,
    Move.WITHDRAW_VOTE,
}  # answered 201
DELIBERATION = {
    Move.REQUEST_OPINION: ("opinions/requests", QUESTION),
    Move.GIVE_OPINION: ("opinions", {"opinion": "agree", "rationale": RATIONALE}),
    Move.OPEN_PANEL: ("panel", PANEL),
    Move.VOTE: ("panel/votes", {"vote": "refuse", "rationale": RATIONALE}),
    Move.WITHDRAW_VOTE: ("panel/withdrawals", {"rationale": RATIONALE}),
    Move.CLOSE_PANEL: ("panel/decision", {"rationale": RATIONALE}),
}


# One return per kind of move: a flat dispatch that reads as the table it is (PLR0911 waived here only).
def http_call(move: Move) -> tuple[str, dict[str, Any] | None]:  # noqa: PLR0911
    """The endpoint a person's move is made at, and the body it sends."""
    if move in REVIEWS:
        conditions = ["Delete when the care episode ends"] if move is Move.APPROVE_WITH_CONDITIONS else []
        return "review", {"outcome": move.value, "rationale": RATIONALE, "conditions": conditions}
    if move in RETROSPECTIVE_REVIEWS:
        return "retrospective-review", {"outcome": move.value, "rationale": RATIONALE}
    if move is Move.AMEND:
        return PATHS[move], {"request": baseline_request(), "note": "The onward sharing is dropped."}
    if move is Move.REQUEST_RECONSIDERATION:
        return PATHS[move], {"grounds": GROUNDS}
    if move is Move.UPHOLD_DECISION:
        return "reconsideration/decision", {"outcome": "upheld", "rationale": RATIONALE}
    if move is Move.OVERTURN:
        return "reconsideration/decision", {
            "outcome": "overturned",
            "rationale": RATIONALE,
            "decision": {"outcome": "approve"},
        }
    if move in DELIBERATION:
        return DELIBERATION[move]
    if move is Move.HAND_OVER:
        return "hand-over", HAND_OVER
    if move is Move.FAIL_CHECK:  # the decided request's check; an emergency share's is CP7.emergency_share
        return "controller-checks/CP6.court_order_verified", CHECKED
    return PATHS[move], None


async def make(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, request_id: str, move: Move
) -> httpx.Response | None:
    """Make `move` as the actor it belongs to; None for the service's own move, which raises on refusal."""
    if move is Move.EXPIRE_CLAIM:
        await expire_claim(app, request_id)
        return None
    path, body = http_call(move)
    if move is Move.GIVE_OPINION:  # asked by the claim holder first, and answered by another guardian
        await post(client, request_id, DELIBERATION[Move.REQUEST_OPINION][0], guardian(tokens), QUESTION)
        return await post(client, request_id, path, guardian(tokens, "guardian-2"), body)
    if move is Move.FAIL_CHECK:
        request = (await client.get(f"/v1/sharing-requests/{request_id}", headers=guardian(tokens))).json()
        check = (request["open_checks"] or ["CP6.court_order_verified"])[0]
        return await post(
            client, request_id, f"controller-checks/{check}", tokens.headers("CONTROLLER", Role.IG_MANAGER), CHECKED
        )
    if (
        move is Move.CLOSE_PANEL
    ):  # every member, the chair too, votes first: the panel closes before its deadline only then
        for other in (HOLDER, "guardian-2", "guardian-3"):
            await post(
                client, request_id, DELIBERATION[Move.VOTE][0], guardian(tokens, other), DELIBERATION[Move.VOTE][1]
            )
    return await post(
        client, request_id, path, tokens.agency("RXT01") if move in BY_THE_REQUESTER else guardian(tokens), body
    )


@pytest.fixture
async def requester(client: httpx.AsyncClient, tokens: Tokens) -> str:
    await register_organisation(client, tokens, "RXT01")
    return "RXT01"


def test_the_table_holds_exactly_the_moves_written_down_here() -> None:
    assert {pair: step.to for pair, step in TRANSITIONS.items()} == LEGAL | {
        (Stage.INFORMATION_REQUESTED, Move.AMEND): None
    }


@pytest.mark.parametrize(("stage", "move"), sorted(LEGAL), ids=lambda value: str(value))
async def test_every_legal_move_leads_to_the_stage_written_here(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, requester: str, stage: Stage, move: Move
) -> None:
    request_id = await request_in(client, tokens, stage)
    assert (await stage_seen(client, tokens, request_id))[0] is stage
    response = await make(client, tokens, app, request_id, move)
    assert response is None or response.status_code == (201 if move in CREATES else 200), response.text
    assert (await stage_seen(client, tokens, request_id))[0] is LEGAL[stage, move]


@pytest.mark.parametrize("stage", list(Stage), ids=str)
async def test_every_other_move_from_every_stage_is_a_409_that_changes_nothing(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, requester: str, stage: Stage
) -> None:
    # One request in the stage is tried with each move not written down for it, in turn: a refusal changes nothing,
    # which is checked after each, so each move finds the request as a new one in the stage is. Every move let
    # through is named, not only the first.
    request_id = await request_in(client, tokens, stage)
    before = await stage_seen(client, tokens, request_id)
    assert before[0] is stage
    let_through: dict[Move, str] = {}
    for move in (move for move in Move if (stage, move) not in LEGAL):
        if move is Move.EXPIRE_CLAIM:
            try:
                await expire_claim(app, request_id)
                let_through[move] = "the service's own move was made"
            except Conflict:
                pass
        else:
            response = await make(client, tokens, app, request_id, move)
            assert response is not None
            problem = response.headers["content-type"] == "application/problem+json"
            if not (response.status_code == 409 and problem and response.json()["current_status"] == before[1]):
                let_through[move] = f"{response.status_code} {response.text}"
        if (after := await stage_seen(client, tokens, request_id)) != before:
            let_through[move] = f"{let_through.get(move, 'refused')}, and the request is now at {after}"
            break  # the moves after this one would be tried from another stage
    assert not let_through, let_through


# For each kind of actor, someone who is not it, and the answer they get.
WRONG_ACTOR = {
    workflow.Actor.GUARDIAN: lambda tokens: guardian(
        tokens, "guardian-rxt", org="RXT01"
    ),  # of the requesting organisation
    workflow.Actor.CLAIM_HOLDER: lambda tokens: guardian(tokens, "guardian-2"),
    workflow.Actor.REQUESTER: lambda tokens: guardian(tokens),
    workflow.Actor.SECOND_GUARDIAN: lambda tokens: guardian(tokens),  # the claim holder, on their own claim
    workflow.Actor.PANEL_MEMBER: lambda tokens: guardian(tokens, "guardian-4"),  # not on the panel
    workflow.Actor.PANEL_CHAIR: lambda tokens: guardian(tokens, "guardian-2"),  # a member, not the chair
    workflow.Actor.CONTROLLER: lambda tokens: tokens.headers(
        "RXT01", Role.IG_MANAGER
    ),  # not of the controller organisation
}


@pytest.mark.parametrize(("stage", "move"), sorted(LEGAL), ids=lambda value: str(value))
async def test_a_legal_move_by_the_wrong_actor_is_refused(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, requester: str, stage: Stage, move: Move
) -> None:
    request_id = await request_in(client, tokens, stage)
    before = await stage_seen(client, tokens, request_id)
    actor = TRANSITIONS[stage, move].actor
    if actor is workflow.Actor.SERVICE:
        with pytest.raises(Forbidden):
            await expire_claim(
                app, request_id, actor=Principal(sub=HOLDER, org="CONTROLLER", roles=frozenset({Role.GUARDIAN}))
            )
    else:
        path, body = http_call(move)
        response = await post(client, request_id, path, WRONG_ACTOR[actor](tokens), body)
        assert response.status_code == 403, response.text
    assert await stage_seen(client, tokens, request_id) == before
