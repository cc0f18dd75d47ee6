"""Panels over HTTP: a case the policy leaves to a panel, votes once each, a majority of the members or the chair's
casting vote on a real tie, every vote on the record."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from sqlalchemy import select

from app.models.vocabulary import Role
from app.models.webhook import OutboxEvent
from app.rules import PolicyError
from app.rules.policy import DEFAULT_PANEL
from app.rules.policy_documents import parse_policy, shipped_path
from tests.factories import REFERRED, register_organisation, submit
from tests.rules.baseline import POLICY_2027, changed
from tests.support import Tokens
from tests.test_review import set_columns

RATIONALE = "Weighed the refusal of consent against the risk of serious harm set out in the request."
REASON = "Approving would override a capable adult's refusal of consent; the policy asks a panel to decide."
CONSENT_REFUSED = {
    "legal_basis.confidentiality": "overriding_public_interest",
    "consent.status": "refused",
}  # CONSENT.refusal refers it
MEMBERS = [
    {"sub": "guardian-2", "org": "CONTROLLER"},
    {"sub": "guardian-3", "org": "CONTROLLER"},
]  # a panel sits the controller's guardians only


def guardian(tokens: Tokens, number: int = 1, org: str = "CONTROLLER") -> dict[str, str]:
    return tokens.headers(org, Role.GUARDIAN, sub=f"guardian-{number}")


def member(tokens: Tokens, number: int) -> dict[str, str]:
    return guardian(tokens, number)


async def post(
    client: httpx.AsyncClient, request_id: str, path: str, headers: dict[str, str], body: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.post(f"/v1/sharing-requests/{request_id}/{path}", json=body, headers=headers)


async def claimed(client: httpx.AsyncClient, tokens: Tokens, changes: dict[str, Any] = CONSENT_REFUSED) -> str:
    response = await submit(client, tokens, changed(changes))
    assert (response.status_code, response.json()["status"]) == (201, "awaiting_review"), response.text
    request_id = str(response.json()["id"])
    assert (await post(client, request_id, "claim", guardian(tokens))).status_code == 200
    return request_id


async def opened(client: httpx.AsyncClient, tokens: Tokens, changes: dict[str, Any] = CONSENT_REFUSED) -> str:
    request_id = await claimed(client, tokens, changes)
    response = await post(client, request_id, "panel", guardian(tokens), {"reason": REASON, "members": MEMBERS})
    assert response.status_code == 201, response.text
    return request_id


async def vote(
    client: httpx.AsyncClient, tokens: Tokens, request_id: str, number: int, choice: str, **extra: Any
) -> httpx.Response:
    return await post(
        client, request_id, "panel/votes", member(tokens, number), {"vote": choice, "rationale": RATIONALE} | extra
    )


async def close(client: httpx.AsyncClient, tokens: Tokens, request_id: str, **extra: Any) -> httpx.Response:
    return await post(client, request_id, "panel/decision", guardian(tokens), {"rationale": RATIONALE} | extra)


async def verify(client: httpx.AsyncClient, tokens: Tokens) -> None:
    verified = await client.get("/v1/audit/verify", headers=tokens.headers("CONTROLLER", Role.AUDITOR, sub="auditor-1"))
    assert (verified.status_code, verified.json()["valid"]) == (200, True), verified.text


@pytest.fixture
async def requester(client: httpx.AsyncClient, tokens: Tokens) -> str:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(
        client, tokens, "LA-NSH", type="local_authority"
    )  # its guardians are not the controller's: never on a panel
    return "RXT01"


def test_a_policy_without_a_panel_section_has_the_2027_1_defaults() -> None:
    assert POLICY_2027.panel is None and POLICY_2027.panel_rule == DEFAULT_PANEL
    assert (DEFAULT_PANEL.size, DEFAULT_PANEL.quorum) == (3, 2)
    findings = [
        {"rule": "CONSENT.refusal", "result": "refer"},
        {"rule": "CP4.onward_sharing", "result": "refer"},
        {"rule": "CP3.bulk_identifiable", "result": "pass"},
    ]
    assert DEFAULT_PANEL.needed_for(findings) == ["CONSENT.refusal"]


async def test_approving_a_panel_case_through_the_review_endpoint_is_a_409_that_says_how_to_open_a_panel(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request_id = await claimed(client, tokens)
    for outcome, conditions in (
        ("approve", []),
        ("approve_with_conditions", ["Share only with the named social worker"]),
    ):
        response = await post(
            client,
            request_id,
            "review",
            guardian(tokens),
            {"outcome": outcome, "rationale": RATIONALE, "conditions": conditions},
        )
        assert (response.status_code, response.headers["content-type"], response.json()["current_status"]) == (
            409,
            "application/problem+json",
            "in_review",
        )
        assert (
            "panel" in response.json()["detail"]
            and f"POST /v1/sharing-requests/{request_id}/panel" in response.json()["detail"]
        )
        assert "CONSENT.refusal" in response.json()["detail"]
    refused = await post(client, request_id, "review", guardian(tokens), {"outcome": "refuse", "rationale": RATIONALE})
    assert refused.status_code == 200, refused.text  # a single guardian may still refuse
    await verify(client, tokens)


async def test_a_panel_of_three_votes_two_to_one_and_the_panel_decision_lists_every_vote(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, requester: str
) -> None:
    request_id = await claimed(client, tokens)
    response = await post(client, request_id, "panel", guardian(tokens), {"reason": REASON, "members": MEMBERS})
    assert response.status_code == 201, response.text
    panel = response.json()
    assert (panel["chair"], panel["required"], panel["size"], panel["quorum"], panel["votes"]) == (
        {"sub": "guardian-1", "org": "CONTROLLER"},
        ["CONSENT.refusal"],
        3,
        2,
        [],
    )
    details = (await client.get(f"/v1/sharing-requests/{request_id}", headers=tokens.agency("RXT01"))).json()
    assert (details["status"], details["due_at"]) == (
        "in_panel",
        (await client.get("/v1/review-queue", headers=guardian(tokens))).json()["items"][0]["due_at"],
    )
    conditions = ["Share only with the named social worker"]
    assert (
        await vote(client, tokens, request_id, 1, "approve_with_conditions", conditions=conditions)
    ).status_code == 201
    assert (await vote(client, tokens, request_id, 2, "refuse")).status_code == 201
    still_open = await client.get(f"/v1/sharing-requests/{request_id}/notice", headers=tokens.agency("RXT01"))
    assert still_open.status_code == 409, still_open.text  # no decision stands while the panel sits
    early = await close(client, tokens, request_id, casting_vote="approve_with_conditions")
    assert (early.status_code, early.json()["current_status"]) == (
        409,
        "in_panel",
    )  # 1-1 so far, before the deadline: the chair waits for the third
    assert "not yet voted: guardian-3" in early.json()["detail"] and details["due_at"][:19] in early.json()["detail"]
    sitting = await client.get(f"/v1/sharing-requests/{request_id}/panel", headers=member(tokens, 3))
    assert (sitting.status_code, [v["member"] for v in sitting.json()["votes"]], sitting.json()["closed_at"]) == (
        200,
        ["guardian-1", "guardian-2"],
        None,
    )
    assert (
        await client.get(f"/v1/sharing-requests/{request_id}/panel", headers=tokens.agency("RXT01"))
    ).status_code == 403  # votes are the guardians'
    third = await vote(
        client, tokens, request_id, 3, "approve_with_conditions", conditions=[*conditions, "Delete after 90 days"]
    )
    assert third.status_code == 201, third.text
    assert [(v["member"], v["vote"], v["withdrawn"]) for v in third.json()["votes"]] == [
        ("guardian-1", "approve_with_conditions", False),
        ("guardian-2", "refuse", False),
        ("guardian-3", "approve_with_conditions", False),
    ]

    decided = await close(client, tokens, request_id)
    assert decided.status_code == 200, decided.text
    decision = decided.json()
    assert (decision["kind"], decision["outcome"], decision["decided_by"], decision["conditions"]) == (
        "panel",
        "approve_with_conditions",
        "guardian-1",
        [*conditions, "Delete after 90 days"],
    )
    record = decision["panel"]
    assert [(v["member"], v["member_org"], v["vote"], v["rationale"], v["withdrawn"]) for v in record["votes"]] == [
        ("guardian-1", "CONTROLLER", "approve_with_conditions", RATIONALE, False),
        ("guardian-2", "CONTROLLER", "refuse", RATIONALE, False),
        ("guardian-3", "CONTROLLER", "approve_with_conditions", RATIONALE, False),
    ]
    assert all(v["cast_at"] for v in record["votes"]) and record["due_at"] == details["due_at"]
    assert (record["tally"], record["casting_vote"]) == (
        {"approve": 0, "approve_with_conditions": 2, "refuse": 1, "abstain": 0},
        None,
    )
    auditor = tokens.headers("CONTROLLER", Role.AUDITOR, sub="auditor-1")
    closed = (await client.get(f"/v1/sharing-requests/{request_id}/panel", headers=auditor)).json()
    assert (closed["decision_id"], len(closed["votes"])) == (decision["id"], 3) and closed["closed_at"] is not None
    notice = (await client.get(f"/v1/sharing-requests/{request_id}/notice", headers=tokens.agency("RXT01"))).json()
    assert notice["decided_by"]["statement"].startswith("a panel of Caldicott Guardians, chaired by a guardian of ")
    details = (await client.get(f"/v1/sharing-requests/{request_id}", headers=tokens.agency("RXT01"))).json()
    assert (details["status"], details["decision"]["id"], details["decision"]["panel"]["id"]) == (
        "approved_with_conditions",
        decision["id"],
        panel["id"],
    )
    assert request_id not in [
        e["id"] for e in (await client.get("/v1/review-queue", headers=guardian(tokens))).json()["items"]
    ]

    history = (await client.get(f"/v1/sharing-requests/{request_id}/history", headers=guardian(tokens))).json()["items"]
    changes = [(e["action"], e["to_status"], e["actor"]) for e in history if e["type"] == "state_change"]
    assert changes[2:] == [
        ("panel_opened", "in_panel", "guardian-1"),
        ("panel_voted", "in_panel", "guardian-1"),
        ("panel_voted", "in_panel", "guardian-2"),
        ("panel_voted", "in_panel", "guardian-3"),
        ("panel_decided", "approved_with_conditions", "guardian-1"),
    ]
    async with app.state.wiring.engine.connect() as connection:
        events = (
            (await connection.execute(select(OutboxEvent.type).where(OutboxEvent.request_id == request_id)))
            .scalars()
            .all()
        )
    assert sorted(map(str, events)) == [
        "sharing_request.panel_opened",
        "sharing_request.referred",
        "sharing_request.reviewed",
    ]
    await verify(client, tokens)


@pytest.mark.parametrize("third", ["abstain", "withdraw"])
async def test_a_tie_with_the_quorum_met_is_decided_by_the_chairs_casting_vote(
    client: httpx.AsyncClient, tokens: Tokens, requester: str, third: str
) -> None:
    request_id = await opened(client, tokens)
    assert (await vote(client, tokens, request_id, 2, "approve")).status_code == 201
    if third == "withdraw":
        assert (await vote(client, tokens, request_id, 3, "approve")).status_code == 201
        withdrawn = await post(
            client,
            request_id,
            "panel/withdrawals",
            member(tokens, 3),
            {"rationale": "I advised the requesting team on this family last year."},
        )
        assert withdrawn.status_code == 201, withdrawn.text
    else:
        assert (await vote(client, tokens, request_id, 3, "abstain")).status_code == 201
    assert (await vote(client, tokens, request_id, 1, "refuse")).status_code == 201
    unsaid = await close(client, tokens, request_id)
    assert (unsaid.status_code, [e["field"] for e in unsaid.json()["errors"]]) == (422, ["casting_vote"])
    assert (
        await close(client, tokens, request_id, casting_vote="approve_with_conditions")
    ).status_code == 422  # not among those tied
    assert (
        await post(
            client, request_id, "panel/decision", member(tokens, 2), {"rationale": RATIONALE, "casting_vote": "approve"}
        )
    ).status_code == 403

    decided = await close(client, tokens, request_id, casting_vote="refuse")
    assert decided.status_code == 200, decided.text
    decision = decided.json()
    assert (decision["kind"], decision["outcome"], decision["panel"]["casting_vote"]) == ("panel", "refuse", "refuse")
    votes = {v["member"]: v for v in decision["panel"]["votes"]}
    assert votes["guardian-3"]["withdrawn"] is (third == "withdraw")
    assert votes["guardian-3"]["vote"] == (
        "approve" if third == "withdraw" else "abstain"
    )  # a withdrawn vote stays on the record
    assert (decision["panel"]["tally"]["approve"], decision["panel"]["tally"]["refuse"]) == (1, 1)
    await verify(client, tokens)


async def test_each_member_votes_once_and_only_members_outside_the_requesting_organisation_sit(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request_id = await claimed(client, tokens)
    own_org = await post(
        client,
        request_id,
        "panel",
        guardian(tokens),
        {"reason": REASON, "members": [MEMBERS[0], {"sub": "guardian-9", "org": "RXT01"}]},
    )
    assert own_org.status_code == 403, own_org.text
    for members, field in (
        ([MEMBERS[0]], "members"),
        ([MEMBERS[0], MEMBERS[0]], "members[1]"),
        ([MEMBERS[0], {"sub": "guardian-1", "org": "CONTROLLER"}], "members[1]"),
    ):
        bad = await post(client, request_id, "panel", guardian(tokens), {"reason": REASON, "members": members})
        assert (bad.status_code, [e["field"] for e in bad.json()["errors"]]) == (422, [field]), bad.text
    assert (
        await post(client, request_id, "panel", guardian(tokens), {"reason": REASON, "members": MEMBERS})
    ).status_code == 201

    assert (await vote(client, tokens, request_id, 2, "refuse")).status_code == 201
    twice = await vote(client, tokens, request_id, 2, "approve")
    assert (twice.status_code, twice.json()["current_status"]) == (409, "in_panel")
    outsider = await post(
        client, request_id, "panel/votes", guardian(tokens, 9, org="RXT01"), {"vote": "approve", "rationale": RATIONALE}
    )
    assert outsider.status_code == 403, outsider.text
    assert (
        await post(client, request_id, "panel/votes", guardian(tokens, 4), {"vote": "approve", "rationale": RATIONALE})
    ).status_code == 403
    assert (await close(client, tokens, request_id)).status_code == 409  # one standing vote: below the quorum of two
    missing = await vote(client, tokens, request_id, 3, "approve_with_conditions")
    assert (missing.status_code, [e["field"] for e in missing.json()["errors"]]) == (422, ["conditions"])
    # A withdrawal supersedes a vote; it is not a second vote, and the panel cannot be left without its quorum.
    assert (
        await post(client, request_id, "panel/withdrawals", member(tokens, 2), {"rationale": RATIONALE})
    ).status_code == 201
    assert (await vote(client, tokens, request_id, 2, "approve")).status_code == 409
    last = await post(client, request_id, "panel/withdrawals", member(tokens, 3), {"rationale": RATIONALE})
    assert last.status_code == 409, last.text
    await verify(client, tokens)


async def test_a_request_that_never_went_to_a_panel_has_none_to_read(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request_id = await claimed(client, tokens)
    none = await client.get(f"/v1/sharing-requests/{request_id}/panel", headers=guardian(tokens))
    assert (none.status_code, none.headers["content-type"]) == (404, "application/problem+json")


async def test_any_case_may_be_escalated_to_a_panel(client: httpx.AsyncClient, tokens: Tokens, requester: str) -> None:
    request_id = await opened(client, tokens, REFERRED)
    assert (await vote(client, tokens, request_id, 2, "approve")).status_code == 201
    assert (await vote(client, tokens, request_id, 3, "approve")).status_code == 201
    early = await close(client, tokens, request_id)
    assert (
        early.status_code == 409 and "not yet voted: guardian-1" in early.json()["detail"]
    )  # the chair is a member, and votes too
    assert (await vote(client, tokens, request_id, 1, "approve")).status_code == 201
    decided = await close(client, tokens, request_id)
    assert (decided.status_code, decided.json()["outcome"], decided.json()["panel"]["required"]) == (200, "approve", [])
    await verify(client, tokens)


def test_a_derived_policy_may_set_its_own_panel_rule_checked_as_strictly_as_the_rest() -> None:
    document = yaml.safe_load(shipped_path("2027.1").read_bytes())
    document.update(
        name="northshire-trust",
        version="2027.1-local.1",
        derived_from={"name": "uk-caldicott-baseline", "version": "2027.1"},
    )
    document["panel"] = {"size": 5, "quorum": 3, "required_for_approval": {"DEC.deceased": ["refer"]}}
    policy = parse_policy(yaml.safe_dump(document).encode(), source="test", shipped=False)
    assert (policy.panel_rule.size, policy.panel_rule.needed_for([{"rule": "CONSENT.refusal", "result": "refer"}])) == (
        5,
        [],
    )
    document["panel"] = {"size": 3, "quorum": 4, "required_for_approval": {"CP9.unknown": ["refer"]}}
    with pytest.raises(PolicyError) as refused:
        parse_policy(yaml.safe_dump(document).encode(), source="test", shipped=False)
    assert sorted(path for path, _ in refused.value.problems) == [
        "panel.quorum",
        "panel.required_for_approval.CP9.unknown",
    ]


async def test_a_reconsideration_cannot_approve_a_panels_case_on_one_guardians_word(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request_id = await claimed(client, tokens)
    refused = await post(client, request_id, "review", guardian(tokens), {"outcome": "refuse", "rationale": RATIONALE})
    assert refused.status_code == 200, refused.text
    grounds = {
        "grounds": "The risk of serious harm has grown since the refusal; the police report of 26 November sets it out."
    }
    assert (await post(client, request_id, "reconsideration", tokens.agency("RXT01"), grounds)).status_code == 201
    assert (await post(client, request_id, "claim", member(tokens, 2))).status_code == 200
    for outcome, extra in (
        ("approve", {}),
        ("approve_with_conditions", {"conditions": ["Share only with the named social worker"]}),
    ):
        overturn = {"outcome": "overturned", "rationale": RATIONALE, "decision": {"outcome": outcome} | extra}
        answered = await post(client, request_id, "reconsideration/decision", member(tokens, 2), overturn)
        assert answered.status_code == 409, answered.text
        assert "panel" in answered.json()["detail"] and "CONSENT.refusal" in answered.json()["detail"]
    upheld = await post(
        client, request_id, "reconsideration/decision", member(tokens, 2), {"outcome": "upheld", "rationale": RATIONALE}
    )
    assert upheld.status_code == 200, upheld.text
    await verify(client, tokens)


async def past_deadline(app: FastAPI, request_id: str) -> None:
    """The panel's deadline, the request's due time, passes (moved in the database, as time passing would)."""
    await set_columns(app, request_id, due_at=datetime.now(UTC) - timedelta(minutes=1))


async def test_the_chair_and_one_abstention_cannot_decide_a_panel_of_three(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, requester: str
) -> None:
    request_id = await opened(client, tokens)
    assert (await vote(client, tokens, request_id, 1, "approve")).status_code == 201
    assert (await vote(client, tokens, request_id, 2, "abstain")).status_code == 201
    for extra in ({}, {"casting_vote": "approve"}):
        refused = await close(client, tokens, request_id, **extra)
        assert (refused.status_code, refused.json()["current_status"]) == (409, "in_panel"), refused.text
        assert (
            "1 votes for an outcome" in refused.json()["detail"]
            and "abstentions do not count" in refused.json()["detail"]
        )
    await past_deadline(app, request_id)  # nor once the deadline has passed: an abstention is no vote for an outcome
    late = await close(client, tokens, request_id, casting_vote="approve")
    assert late.status_code == 409 and "quorum of 2" in late.json()["detail"], late.text
    sitting = (await client.get(f"/v1/sharing-requests/{request_id}", headers=tokens.agency("RXT01"))).json()
    assert (sitting["status"], sitting["decision"]["kind"]) == ("in_panel", "rules")
    assert (await vote(client, tokens, request_id, 3, "approve")).status_code == 201
    decided = await close(client, tokens, request_id)  # two of the three members now approve
    assert (decided.status_code, decided.json()["outcome"], decided.json()["panel"]["casting_vote"]) == (
        200,
        "approve",
        None,
    ), decided.text
    assert decided.json()["panel"]["tally"] == {"approve": 2, "approve_with_conditions": 0, "refuse": 0, "abstain": 1}
    await verify(client, tokens)


async def test_a_majority_of_members_waits_for_every_vote_until_the_deadline(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, requester: str
) -> None:
    request_id = await opened(client, tokens)
    assert (await vote(client, tokens, request_id, 1, "refuse")).status_code == 201
    assert (await vote(client, tokens, request_id, 2, "refuse")).status_code == 201
    early = await close(client, tokens, request_id)
    assert (early.status_code, early.json()["current_status"]) == (409, "in_panel")
    assert "not yet voted: guardian-3" in early.json()["detail"] and "deadline" in early.json()["detail"]
    await past_deadline(app, request_id)
    decided = await close(client, tokens, request_id)
    assert (decided.status_code, decided.json()["outcome"], decided.json()["panel"]["casting_vote"]) == (
        200,
        "refuse",
        None,
    ), decided.text
    record = decided.json()["panel"]
    assert record["due_at"] < record["closed_at"] and [v["member"] for v in record["votes"]] == [
        "guardian-1",
        "guardian-2",
    ]
    await verify(client, tokens)


async def test_the_casting_vote_breaks_a_tie_only_when_every_member_has_voted_or_at_the_deadline(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, requester: str
) -> None:
    request_id = await opened(client, tokens)
    assert (await vote(client, tokens, request_id, 1, "approve")).status_code == 201
    assert (await vote(client, tokens, request_id, 2, "refuse")).status_code == 201
    early = await close(client, tokens, request_id, casting_vote="approve")
    assert early.status_code == 409 and "not yet voted: guardian-3" in early.json()["detail"], early.text
    await past_deadline(app, request_id)
    unsaid = await close(client, tokens, request_id)  # 1-1 with the deadline passed: a real tie
    assert (unsaid.status_code, [e["field"] for e in unsaid.json()["errors"]]) == (422, ["casting_vote"])
    decided = await close(client, tokens, request_id, casting_vote="refuse")
    assert (decided.status_code, decided.json()["outcome"], decided.json()["panel"]["casting_vote"]) == (
        200,
        "refuse",
        "refuse",
    ), decided.text
    await verify(client, tokens)


async def test_a_panel_of_five_needs_three_votes_for_an_outcome_not_a_majority_of_those_cast(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, requester: str
) -> None:
    document = yaml.safe_load(shipped_path("2028.1").read_bytes())
    document.update(
        name="northshire-trust",
        version="2028.1-local.5",
        derived_from={"name": "uk-caldicott-baseline", "version": "2028.1"},
    )
    # A derived policy may only add to the findings that need a panel (brief section 7): the baseline's three stay.
    required = {"CONSENT.refusal": ["refer"], "STAT.restricted_category": ["refer"], "CP3.bulk_identifiable": ["refer"]}
    document["panel"] = {"size": 5, "quorum": 3, "required_for_approval": required}
    uploaded = await client.post(
        "/v1/policies",
        content=yaml.safe_dump(document).encode(),
        headers={"Content-Type": "application/yaml"} | tokens.admin(),
    )
    assert uploaded.status_code == 201, uploaded.text
    assert (
        await client.post("/v1/policies/northshire-trust/2028.1-local.5/activate", headers=tokens.admin())
    ).status_code == 200
    request_id = await claimed(client, tokens)
    five = [*MEMBERS, {"sub": "guardian-4", "org": "CONTROLLER"}, {"sub": "guardian-5", "org": "CONTROLLER"}]
    assert (
        await post(client, request_id, "panel", guardian(tokens), {"reason": REASON, "members": five})
    ).status_code == 201
    for number, choice in ((1, "approve"), (2, "approve"), (3, "refuse")):
        assert (await vote(client, tokens, request_id, number, choice)).status_code == 201
    await past_deadline(app, request_id)
    for extra in (
        {},
        {"casting_vote": "approve"},
    ):  # two of three votes cast, but not three of five members; and no tie
        undecided = await close(client, tokens, request_id, **extra)
        assert (undecided.status_code, undecided.json()["current_status"]) == (409, "in_panel"), undecided.text
        assert (
            "majority of the panel's 5 members (3)" in undecided.json()["detail"]
            and "stays open" in undecided.json()["detail"]
        )
    assert (await vote(client, tokens, request_id, 4, "approve")).status_code == 201
    decided = await close(client, tokens, request_id)
    assert (decided.status_code, decided.json()["outcome"], decided.json()["panel"]["size"]) == (200, "approve", 5), (
        decided.text
    )
    await verify(client, tokens)


async def test_only_guardians_of_the_controller_sit_on_a_panel(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, requester: str
) -> None:
    request_id = await claimed(client, tokens)
    outsider = await post(
        client,
        request_id,
        "panel",
        guardian(tokens),
        {"reason": REASON, "members": [MEMBERS[0], {"sub": "guardian-7", "org": "LA-NSH"}]},
    )
    assert (outsider.status_code, outsider.headers["content-type"]) == (403, "application/problem+json"), outsider.text
    assert (
        outsider.json()["detail"].startswith("members[1]:")
        and "controller organisation, CONTROLLER" in outsider.json()["detail"]
    )
    # Nor does another organisation's guardian chair one, holding the claim (set in the database:
    # the API may not give it them).
    await set_columns(app, request_id, assignee_sub="guardian-7", assignee_org="LA-NSH")
    chaired = await post(
        client, request_id, "panel", guardian(tokens, 7, org="LA-NSH"), {"reason": REASON, "members": MEMBERS}
    )
    assert chaired.status_code == 403, chaired.text
    assert (await client.get(f"/v1/sharing-requests/{request_id}", headers=tokens.agency("RXT01"))).json()[
        "status"
    ] == "in_review"
