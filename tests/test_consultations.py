"""Consultations inside a case over HTTP: the claim holder asks a safeguarding lead, the DPO, the SIRO or a named IAO;
only the role asked answers; a local policy makes an approval wait for the answer; the agency never sees them."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col

from app.models.consultation import Consultation
from app.models.vocabulary import Role
from app.rules.policy_documents import shipped_path
from tests.factories import REFERRED, register_organisation, submit
from tests.rules.baseline import changed
from tests.support import Tokens

RATIONALE = "Weighed the onward sharing against the duty of confidence; the recipient team is named and small."
QUESTION = "Is this adult known to the safeguarding team, and does the risk described meet your threshold for sharing?"
ANSWER = "Known to us since March under a section 42 enquiry; the risk meets the threshold. Share with the team."
# A safeguarding request on the person's consent, referred for its onward sharing (CP4.onward_sharing).
SAFEGUARDING = changed(
    REFERRED
    | {
        "purpose.category": "safeguarding_adult",
        "legal_basis.confidentiality": "explicit_consent",
        "legal_basis.article_6": "consent",
        "legal_basis.article_9": "explicit_consent",
        "consent.status": "given",
    }
)
LEAD = ("CONTROLLER", Role.SAFEGUARDING_LEAD, "lead-1")


def person(org: str, role: Role, sub: str, tokens: Tokens) -> dict[str, str]:
    return tokens.headers(org, role, sub=sub)


def guardian(tokens: Tokens, number: int = 1) -> dict[str, str]:
    return tokens.headers("CONTROLLER", Role.GUARDIAN, sub=f"guardian-{number}")


def due(hours: int = 48) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def claimed(client: httpx.AsyncClient, tokens: Tokens, body: dict[str, Any] = SAFEGUARDING) -> str:
    response = await submit(client, tokens, body)
    assert (response.status_code, response.json()["status"]) == (201, "awaiting_review"), response.text
    request_id = str(response.json()["id"])
    claim = await client.post(f"/v1/sharing-requests/{request_id}/claim", headers=guardian(tokens))
    assert claim.status_code == 200, claim.text
    return request_id


async def ask(
    client: httpx.AsyncClient, tokens: Tokens, request_id: str, role: str = "safeguarding_lead", **extra: Any
) -> httpx.Response:
    body = {"role": role, "question": QUESTION, "due_at": due()} | extra
    return await client.post(f"/v1/sharing-requests/{request_id}/consultations", json=body, headers=guardian(tokens))


async def answer(
    client: httpx.AsyncClient, request_id: str, consultation_id: str, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(
        f"/v1/sharing-requests/{request_id}/consultations/{consultation_id}/answer",
        json={"answer": ANSWER},
        headers=headers,
    )


async def approve(client: httpx.AsyncClient, tokens: Tokens, request_id: str) -> httpx.Response:
    return await client.post(
        f"/v1/sharing-requests/{request_id}/review",
        json={"outcome": "approve", "rationale": RATIONALE},
        headers=guardian(tokens),
    )


async def audit_actions(client: httpx.AsyncClient, tokens: Tokens, request_id: str) -> list[str]:
    auditor = tokens.headers("CONTROLLER", Role.AUDITOR, sub="auditor-1")
    actions, params = [], {"limit": 200}
    while True:
        page = (await client.get("/v1/audit/events", params=params, headers=auditor)).json()
        actions += [event["action"] for event in page["items"] if event["target_id"] == request_id]
        if page["next_cursor"] is None:
            return actions
        params["cursor"] = page["next_cursor"]


async def verify(client: httpx.AsyncClient, tokens: Tokens) -> None:
    verified = await client.get("/v1/audit/verify", headers=tokens.headers("CONTROLLER", Role.AUDITOR, sub="auditor-1"))
    assert (verified.status_code, verified.json()["valid"]) == (200, True), verified.text


async def local_policy(client: httpx.AsyncClient, tokens: Tokens, required: dict[str, list[str]]) -> httpx.Response:
    document = yaml.safe_load(shipped_path("2028.1").read_bytes())
    document.update(
        name="northshire-trust",
        version="2028.1-local.consult",
        derived_from={"name": "uk-caldicott-baseline", "version": "2028.1"},
        consultation={"required_for_approval": required},
    )
    return await client.post(
        "/v1/policies",
        content=yaml.safe_dump(document).encode(),
        headers={"Content-Type": "application/yaml"} | tokens.admin(),
    )


@pytest.fixture
async def requester(client: httpx.AsyncClient, tokens: Tokens) -> str:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "RXT02")
    return "RXT01"


async def test_a_required_consultation_blocks_approval_until_the_safeguarding_lead_answers(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    uploaded = await local_policy(client, tokens, {"CP4.onward_sharing": ["safeguarding_lead"]})
    assert uploaded.status_code == 201, uploaded.text
    activated = await client.post("/v1/policies/northshire-trust/2028.1-local.consult/activate", headers=tokens.admin())
    assert activated.status_code == 200, activated.text
    request_id = await claimed(client, tokens)

    blocked = await approve(client, tokens, request_id)
    assert (blocked.status_code, blocked.headers["content-type"]) == (409, "application/problem+json"), blocked.text
    assert "CP4.onward_sharing needs the safeguarding_lead's answer" in blocked.json()["detail"]

    asked = await ask(client, tokens, request_id)
    assert asked.status_code == 201, asked.text
    consultation = asked.json()
    assert (consultation["role"], consultation["status"], consultation["asked_by"], consultation["answer"]) == (
        "safeguarding_lead",
        "open",
        "guardian-1",
        None,
    )
    assert (await approve(client, tokens, request_id)).status_code == 409  # asked is not answered

    # Only the role asked answers: not the DPO, not a guardian, not the agency, not a partner's safeguarding lead.
    for headers in (
        person("CONTROLLER", Role.DPO, "dpo-1", tokens),
        guardian(tokens, 2),
        tokens.agency("RXT01"),
        person("RXT01", Role.SAFEGUARDING_LEAD, "rxt-lead", tokens),
    ):
        refused = await answer(client, request_id, consultation["id"], headers)
        assert (refused.status_code, refused.headers["content-type"]) == (403, "application/problem+json"), refused.text
    # The agency never reads the consultations: its own request 403, another agency's 404.
    listing = f"/v1/sharing-requests/{request_id}/consultations"
    assert (await client.get(listing, headers=tokens.agency("RXT01"))).status_code == 403
    assert (await client.get(listing, headers=tokens.agency("RXT02"))).status_code == 404
    assert (await answer(client, request_id, consultation["id"], tokens.agency("RXT02"))).status_code == 403

    lead = person(*LEAD, tokens)
    # The safeguarding lead reads the safeguarding request, its history and what was asked of them.
    assert (await client.get(f"/v1/sharing-requests/{request_id}", headers=lead)).status_code == 200
    assert [item["id"] for item in (await client.get(listing, headers=lead)).json()["items"]] == [consultation["id"]]
    answered = await answer(client, request_id, consultation["id"], lead)
    assert answered.status_code == 200, answered.text
    assert (answered.json()["status"], answered.json()["answer"], answered.json()["answered_by"]) == (
        "answered",
        ANSWER,
        "lead-1",
    )
    again = await answer(
        client, request_id, consultation["id"], person("CONTROLLER", Role.SAFEGUARDING_LEAD, "lead-2", tokens)
    )
    assert again.status_code == 409, again.text

    approved = await approve(client, tokens, request_id)
    assert (approved.status_code, approved.json()["outcome"]) == (200, "approve"), approved.text

    # The question and answer are in the history the controller's people read, and never in the agency's.
    history = await client.get(f"/v1/sharing-requests/{request_id}/history", headers=lead)
    assert history.status_code == 200, history.text
    entries = [entry for entry in history.json()["items"] if entry["type"] == "consultation"]
    assert [(e["consultation"]["question"], e["consultation"]["answer"]) for e in entries] == [(QUESTION, ANSWER)]
    theirs = await client.get(f"/v1/sharing-requests/{request_id}/history", headers=tokens.agency("RXT01"))
    assert theirs.status_code == 200 and "consultation" not in theirs.text
    actions = await audit_actions(client, tokens, request_id)
    assert actions.count("consultation_requested") == 1 and actions.count("consultation_answered") == 1
    await verify(client, tokens)


async def test_a_safeguarding_lead_reads_only_safeguarding_requests_and_those_asked_of_them(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request_id = await claimed(client, tokens, changed(REFERRED))  # direct care
    lead = person(*LEAD, tokens)
    for path in ("", "/history", "/consultations"):
        assert (await client.get(f"/v1/sharing-requests/{request_id}{path}", headers=lead)).status_code == 404, path
    asked = await ask(client, tokens, request_id)
    assert asked.status_code == 201, asked.text
    for path in ("", "/history", "/consultations"):
        assert (await client.get(f"/v1/sharing-requests/{request_id}{path}", headers=lead)).status_code == 200, path
    # With no consultation required by the shipped policy, the guardian approves without waiting for the answer.
    assert (await approve(client, tokens, request_id)).status_code == 200


async def test_a_named_iao_alone_answers_and_the_question_is_checked_field_by_field(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    request_id = await claimed(client, tokens)
    for extra, field in (
        ({"role": "iao"}, "iao"),
        ({"role": "dpo", "iao": "iao-pas"}, "iao"),
        ({"due_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}, "due_at"),
        ({"question": "too short"}, "question"),
    ):
        refused = await ask(client, tokens, request_id, **extra)
        assert (refused.status_code, refused.headers["content-type"]) == (422, "application/problem+json"), extra
        assert field in refused.text, refused.text
    # Only the claim holder consults.
    other = await client.post(
        f"/v1/sharing-requests/{request_id}/consultations",
        json={"role": "dpo", "question": QUESTION, "due_at": due()},
        headers=guardian(tokens, 2),
    )
    assert other.status_code == 403, other.text
    asked = await ask(client, tokens, request_id, role="iao", iao="iao-pas")
    assert (asked.status_code, asked.json()["iao"]) == (201, "iao-pas"), asked.text
    cid = asked.json()["id"]
    assert (
        await answer(client, request_id, cid, person("CONTROLLER", Role.IAO, "iao-other", tokens))
    ).status_code == 403
    assert (
        await answer(client, request_id, "0000-0000", person("CONTROLLER", Role.IAO, "iao-pas", tokens))
    ).status_code == 404
    assert (await answer(client, request_id, cid, person("CONTROLLER", Role.IAO, "iao-pas", tokens))).status_code == 200
    await verify(client, tokens)


async def test_a_local_policy_may_only_name_rules_it_runs(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    refused = await local_policy(client, tokens, {"CP99.no_such_rule": ["siro"]})
    assert refused.status_code == 422, refused.text
    assert "consultation.required_for_approval.CP99.no_such_rule" in refused.text
    unknown_role = await local_policy(client, tokens, {"CP4.onward_sharing": ["guardian"]})
    assert unknown_role.status_code == 422, unknown_role.text


async def test_a_panels_approval_waits_for_the_consultation_its_chair_asks(
    client: httpx.AsyncClient, tokens: Tokens, requester: str
) -> None:
    uploaded = await local_policy(client, tokens, {"CONSENT.refusal": ["siro"]})
    assert uploaded.status_code == 201, uploaded.text
    activated = await client.post("/v1/policies/northshire-trust/2028.1-local.consult/activate", headers=tokens.admin())
    assert activated.status_code == 200, activated.text
    # A capable adult's refusal overridden: a panel's decision (CONSENT.refusal), and under this policy the SIRO's.
    request_id = await claimed(
        client,
        tokens,
        changed({"legal_basis.confidentiality": "overriding_public_interest", "consent.status": "refused"}),
    )
    members = [{"sub": "guardian-2", "org": "CONTROLLER"}, {"sub": "guardian-3", "org": "CONTROLLER"}]
    base = f"/v1/sharing-requests/{request_id}"
    reason = {"reason": "Approving would override a capable adult's refusal of consent.", "members": members}
    assert (await client.post(f"{base}/panel", json=reason, headers=guardian(tokens))).status_code == 201
    for number in (1, 2, 3):
        voted = await client.post(
            f"{base}/panel/votes", json={"vote": "approve", "rationale": RATIONALE}, headers=guardian(tokens, number)
        )
        assert voted.status_code == 201, voted.text
    close = {"rationale": RATIONALE}
    blocked = await client.post(f"{base}/panel/decision", json=close, headers=guardian(tokens))
    assert blocked.status_code == 409 and "CONSENT.refusal needs the siro's answer" in blocked.text, blocked.text
    # The chair consults (a member does not), the SIRO answers, and the panel's approval stands.
    assert (await ask(client, tokens, request_id, role="siro")).status_code == 201
    member = await client.post(
        f"{base}/consultations",
        json={"role": "siro", "question": QUESTION, "due_at": due()},
        headers=guardian(tokens, 2),
    )
    assert member.status_code == 403, member.text
    cid = (await client.get(f"{base}/consultations", headers=guardian(tokens))).json()["items"][0]["id"]
    assert (await answer(client, request_id, cid, person("CONTROLLER", Role.SIRO, "siro-1", tokens))).status_code == 200
    decided = await client.post(f"{base}/panel/decision", json=close, headers=guardian(tokens))
    assert (decided.status_code, decided.json()["outcome"]) == (200, "approve"), decided.text
    await verify(client, tokens)


async def to_answer(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    """Every page of GET /v1/consultations for this caller, walked one item at a time."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": 1} | params
    while True:
        page = await client.get("/v1/consultations", params=query, headers=headers)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        if page.json()["next_cursor"] is None:
            return items
        query["cursor"] = page.json()["next_cursor"]


async def test_each_consulted_person_lists_only_what_is_asked_of_them(
    client: httpx.AsyncClient, tokens: Tokens, requester: str, app: FastAPI
) -> None:
    first = await claimed(client, tokens)
    asked = {
        "lead": await ask(client, tokens, first, due_at=due(24)),
        "dpo": await ask(client, tokens, first, role="dpo", due_at=due(48)),
        "iao-pas": await ask(client, tokens, first, role="iao", iao="iao-pas", due_at=due(72)),
    }
    second = await claimed(client, tokens)
    asked["lead-2"] = await ask(client, tokens, second, due_at=due(12))
    asked["siro"] = await ask(client, tokens, second, role="siro", due_at=due(96))
    ids = {name: response.json()["id"] for name, response in asked.items()}
    assert all(response.status_code == 201 for response in asked.values())

    lead = person(*LEAD, tokens)
    listed = await to_answer(client, lead)
    assert [item["id"] for item in listed] == [ids["lead-2"], ids["lead"]]  # soonest due first
    assert [(item["request_id"], item["due_at"]) for item in listed] == [
        (second, asked["lead-2"].json()["due_at"]),
        (first, asked["lead"].json()["due_at"]),
    ]
    assert [item["id"] for item in await to_answer(client, person("CONTROLLER", Role.DPO, "dpo-1", tokens))] == [
        ids["dpo"]
    ]
    assert [item["id"] for item in await to_answer(client, person("CONTROLLER", Role.SIRO, "siro-1", tokens))] == [
        ids["siro"]
    ]
    assert [item["id"] for item in await to_answer(client, person("CONTROLLER", Role.IAO, "iao-pas", tokens))] == [
        ids["iao-pas"]
    ]
    assert await to_answer(client, person("CONTROLLER", Role.IAO, "iao-other", tokens)) == []
    everything = sorted(ids.values())
    for reader in (guardian(tokens, 2), tokens.headers("CONTROLLER", Role.AUDITOR, sub="auditor-1")):
        assert sorted(item["id"] for item in await to_answer(client, reader)) == everything
    for refused in (tokens.agency(requester), tokens.admin(), tokens.headers(requester, Role.SAFEGUARDING_LEAD)):
        response = await client.get("/v1/consultations", headers=refused)
        assert (response.status_code, response.headers["content-type"]) == (403, "application/problem+json")

    # Answered, open and overdue: the lead's answered one leaves the open list; a past due time makes one overdue.
    assert (await answer(client, first, ids["lead"], lead)).status_code == 200
    async with app.state.wiring.sessionmaker() as session:
        await session.exec(
            update(Consultation)
            .where(col(Consultation.id) == ids["lead-2"])
            .values(due_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        await session.commit()
    assert [item["id"] for item in await to_answer(client, lead, status="answered")] == [ids["lead"]]
    assert [item["id"] for item in await to_answer(client, lead, status="overdue")] == [ids["lead-2"]]
    assert await to_answer(client, lead, status="open") == []
    assert [item["id"] for item in await to_answer(client, guardian(tokens), status="open")] == [
        ids["dpo"],
        ids["iao-pas"],
        ids["siro"],
    ]
    for bad in ({"status": "closed"}, {"cursor": "not-a-cursor"}, {"limit": 0}):
        response = await client.get("/v1/consultations", params=bad, headers=lead)
        assert (response.status_code, response.json()["errors"][0]["field"]) == (422, next(iter(bad))), response.text
