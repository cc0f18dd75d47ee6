"""Powers belong to the controller (issue 25, item 6), over HTTP.

`admin` and `auditor` are honoured only for the controller organisation; `guardian` for it and the organisations
CALDICOTT_GUARDIAN_ORGS names (LA01 and RXT01 in the tests: tests/support.py). Any other organisation's token carrying
one of them is refused 403 (problem type `role-not-honoured`) and logged; the other roles it carries still work.
An agency never sees a guardian's token subject: "a Caldicott Guardian of <the controller's name>" stands in its place.
"""

import logging
from typing import Any

import httpx
import pytest
import yaml

from app.models.vocabulary import Role
from app.powers import Powers
from app.rules.policy_documents import shipped_path
from tests import test_panels as panels
from tests.factories import REFERRED, register_organisation, submit
from tests.rules.baseline import baseline_request, changed
from tests.support import Tokens

POLICE = "POL01"  # not the controller, not a guardian organisation
# The controller as registered at start (app/services/agreements/organisations.py)
WORDS = "a Caldicott Guardian of CONTROLLER (the controller)"
RATIONALE = "Weighed the onward sharing against the duty of confidence; the recipient team is named and small."
QUESTION = "I propose to refuse: onward sharing to the whole team is more than the purpose needs. Do you agree?"
OPINION = "The onward sharing is to the care team that will treat the patient; refusing would delay care needlessly."
GROUNDS = "The recipient has since named the two clinicians who will see the record, which answers the refusal."
NOT_HONOURED = "/problems/role-not-honoured"


def guardian(tokens: Tokens, number: int, org: str = "CONTROLLER") -> dict[str, str]:
    return tokens.headers(org, Role.GUARDIAN, sub=f"guardian-{number}")


def controller_auditor(tokens: Tokens) -> dict[str, str]:
    return tokens.headers("CONTROLLER", Role.AUDITOR, sub="auditor-1")


def refused(response: httpx.Response, role: Role, org: str = POLICE) -> bool:
    """A 403 problem of type role-not-honoured naming the role and the organisation."""
    body = response.json()
    return (
        response.status_code == 403
        and response.headers["content-type"] == "application/problem+json"
        and body["type"] == NOT_HONOURED
        and body["detail"].startswith(f"role {role} is honoured only for")
        and repr(org) in body["detail"]
    )


async def post(
    client: httpx.AsyncClient, request_id: str, path: str, headers: dict[str, str], body: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.post(f"/v1/sharing-requests/{request_id}/{path}", json=body, headers=headers)


async def referred(client: httpx.AsyncClient, tokens: Tokens, org: str = "RXT01") -> str:
    response = await submit(client, tokens, changed(REFERRED), org=org)
    assert (response.status_code, response.json()["status"]) == (201, "awaiting_review"), response.text
    return str(response.json()["id"])


@pytest.fixture
async def organisations(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, POLICE, type="police")
    await register_organisation(client, tokens, "LA01", type="local_authority")


async def test_a_police_admin_can_neither_upload_nor_activate_a_policy_nor_register_an_organisation(
    client: httpx.AsyncClient, tokens: Tokens, organisations: None
) -> None:
    before = (await client.get("/v1/policies", headers=tokens.admin())).json()
    document = yaml.safe_load(shipped_path("2027.1").read_bytes())
    document.update(name="police-own", version="1", derived_from={"name": "uk-caldicott-baseline", "version": "2027.1"})
    police_admin = tokens.headers(POLICE, Role.ADMIN, sub="pol-admin")

    upload = await client.post(
        "/v1/policies",
        content=yaml.safe_dump(document).encode(),
        headers={"Content-Type": "application/yaml"} | police_admin,
    )
    assert refused(upload, Role.ADMIN), upload.text
    activate = await client.post("/v1/policies/uk-caldicott-baseline/2026.1/activate", headers=police_admin)
    assert refused(activate, Role.ADMIN), activate.text
    body = {"code": "EVIL", "name": "Not allowed", "type": "other", "dspt_status": "standards_met"}
    assert refused(await client.post("/v1/organisations", json=body, headers=police_admin), Role.ADMIN)

    # Nothing changed; the controller's own admin still works.
    assert (await client.get("/v1/policies", headers=tokens.admin())).json() == before
    assert (await client.get("/v1/organisations/EVIL", headers=tokens.admin())).status_code == 404
    assert (await client.post("/v1/organisations", json=body, headers=tokens.admin())).status_code == 201


async def test_a_police_guardian_has_no_queue_and_cannot_decide_another_agencys_request(
    client: httpx.AsyncClient, tokens: Tokens, organisations: None
) -> None:
    request_id = await referred(client, tokens)
    police_guardian = guardian(tokens, 9, org=POLICE)
    assert refused(await client.get("/v1/review-queue", headers=police_guardian), Role.GUARDIAN)
    assert refused(await post(client, request_id, "claim", police_guardian), Role.GUARDIAN)
    # Claimed by the controller's guardian, the request is where a decision may be made:
    # only the role stands in the way.
    assert (await post(client, request_id, "claim", guardian(tokens, 1))).status_code == 200
    review = await post(client, request_id, "review", police_guardian, {"outcome": "approve", "rationale": RATIONALE})
    assert refused(review, Role.GUARDIAN), review.text
    # Nor can a police guardian read every agency's requests as a guardian would.
    assert (await client.get(f"/v1/sharing-requests/{request_id}", headers=police_guardian)).status_code == 403

    after = (await client.get(f"/v1/sharing-requests/{request_id}", headers=controller_auditor(tokens))).json()
    assert (after["status"], after["decision"]["decided_by"]) == ("in_review", "rules")
    assert (await client.get("/v1/review-queue", headers=guardian(tokens, 1))).status_code == 200


async def test_a_trust_auditor_reads_neither_the_trail_nor_what_was_disclosed_about_a_person(
    client: httpx.AsyncClient, tokens: Tokens, organisations: None
) -> None:
    trust_auditor = tokens.headers("RXT01", Role.AUDITOR, sub="rxt-auditor")
    person = {"identifier": "9990000018"}
    for method, path, body in (
        ("GET", "/v1/audit/events", None),
        ("GET", "/v1/audit/verify", None),
        ("GET", "/v1/audit/checkpoints", None),
        ("POST", "/v1/reports/subject-disclosures", person),
        ("GET", "/v1/reports/decision-log", None),
    ):
        response = await client.request(method, path, json=body, headers=trust_auditor)
        assert refused(response, Role.AUDITOR, "RXT01"), (path, response.text)
        assert (await client.request(method, path, json=body, headers=controller_auditor(tokens))).status_code == 200, (
            path
        )


async def test_a_guardian_of_a_configured_guardian_organisation_is_honoured_and_its_admin_is_not(
    client: httpx.AsyncClient, tokens: Tokens, organisations: None
) -> None:
    request_id = await referred(client, tokens)
    council = guardian(tokens, 5, org="LA01")
    assert (await client.get("/v1/review-queue", headers=council)).status_code == 200
    assert (await post(client, request_id, "claim", council)).status_code == 200
    decided = await post(client, request_id, "review", council, {"outcome": "approve", "rationale": RATIONALE})
    assert (decided.status_code, decided.json()["decided_by"]) == (200, "guardian-5"), decided.text
    # The list makes its guardians the controller's reviewers, nothing more.
    assert refused(
        await client.get("/v1/organisations", headers=tokens.headers("LA01", Role.ADMIN)), Role.ADMIN, "LA01"
    )
    assert refused(
        await client.get("/v1/audit/events", headers=tokens.headers("LA01", Role.AUDITOR)), Role.AUDITOR, "LA01"
    )
    # A guardian organisation's guardian still never decides its own organisation's request.
    own = await referred(client, tokens, org="LA01")
    assert (await post(client, own, "claim", council)).status_code == 403


async def test_an_agency_token_that_also_claims_admin_works_as_the_agency_alone(
    client: httpx.AsyncClient, tokens: Tokens, organisations: None
) -> None:
    theirs = await referred(client, tokens)  # RXT01's
    both = tokens.headers(POLICE, Role.AGENCY, Role.ADMIN, sub="pol-both")
    mine = await client.post("/v1/sharing-requests", json=baseline_request(), headers=both)
    assert mine.status_code == 201, mine.text
    assert (await client.get(f"/v1/sharing-requests/{mine.json()['id']}", headers=both)).status_code == 200
    # Not an admin: another agency's request stays out of sight, and the admin endpoints refuse the role.
    assert (await client.get(f"/v1/sharing-requests/{theirs}", headers=both)).status_code == 404
    assert [row["id"] for row in (await client.get("/v1/sharing-requests", headers=both)).json()["items"]] == [
        mine.json()["id"]
    ]
    assert refused(await client.get("/v1/organisations", headers=both), Role.ADMIN)
    assert (
        await client.post("/v1/evaluate", params={"requester": "RXT01"}, json=baseline_request(), headers=both)
    ).status_code == 403


THE_GUARDIANS_RELATIONSHIPS = (Role.SIRO, Role.DPO, Role.IAO, Role.SAFEGUARDING_LEAD)


@pytest.mark.parametrize("role", THE_GUARDIANS_RELATIONSHIPS)
def test_the_siro_dpo_iao_and_safeguarding_lead_are_the_controllers_alone(role: Role) -> None:
    powers = Powers(controller="CONTROLLER", guardian_orgs=frozenset({"LA01"}))
    assert powers.split("CONTROLLER", frozenset({role})) == (frozenset({role}), frozenset())
    # Not even for an organisation whose guardians sit in the controller's review.
    for partner in (POLICE, "LA01"):
        assert powers.split(partner, frozenset({role, Role.AGENCY})) == (frozenset({Role.AGENCY}), frozenset({role}))


@pytest.mark.parametrize("role", THE_GUARDIANS_RELATIONSHIPS)
async def test_the_controllers_new_roles_read_nothing_their_work_does_not_need(
    client: httpx.AsyncClient, tokens: Tokens, organisations: None, role: Role
) -> None:
    request_id = await referred(client, tokens)
    theirs = tokens.headers("CONTROLLER", role, sub=f"controller-{role}")
    for path in ("/v1/sharing-requests", "/v1/review-queue", "/v1/audit/events"):
        assert (await client.get(path, headers=theirs)).status_code == 403, path
    # A case they are not consulted on (and, for a safeguarding lead, not a safeguarding one) is not theirs to read.
    for path in (f"/v1/sharing-requests/{request_id}", f"/v1/sharing-requests/{request_id}/history"):
        assert (await client.get(path, headers=theirs)).status_code == 404, path
    # A partner's token claiming the role is refused it, and logged, like any inside role.
    assert (await client.get("/v1/sharing-requests", headers=tokens.headers(POLICE, role))).status_code == 403


async def test_a_refused_role_is_logged_with_organisation_sub_and_role_but_not_the_token(
    client: httpx.AsyncClient, tokens: Tokens, organisations: None, caplog: pytest.LogCaptureFixture
) -> None:
    police_admin = tokens.headers(POLICE, Role.ADMIN, sub="pol-admin")
    with caplog.at_level(logging.WARNING, logger="caldicott.auth"):
        assert refused(await client.get("/v1/organisations", headers=police_admin), Role.ADMIN)
    [record] = [record for record in caplog.records if record.name == "caldicott.auth"]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert POLICE in message and "pol-admin" in message and "admin" in message, message
    assert (record.org, record.sub, record.refused_roles) == (POLICE, "pol-admin", ["admin"])  # type: ignore[attr-defined]
    assert police_admin["Authorization"].removeprefix("Bearer ") not in caplog.text


async def decided_by_guardians(client: httpx.AsyncClient, tokens: Tokens) -> str:
    """A request refused by guardian-1 after guardian-2's opinion, with guardian-1's evidence,
    then upheld on reconsideration by guardian-3."""
    request_id = await referred(client, tokens)
    assert (await post(client, request_id, "claim", guardian(tokens, 1))).status_code == 200
    asked = await post(
        client,
        request_id,
        "opinions/requests",
        guardian(tokens, 1),
        {"proposed_outcome": "refuse", "question": QUESTION},
    )
    assert asked.status_code == 201, asked.text
    assert (
        await post(client, request_id, "opinions", guardian(tokens, 2), {"opinion": "agree", "rationale": OPINION})
    ).status_code == 201
    evidence = await client.post(
        f"/v1/sharing-requests/{request_id}/attachments",
        data={"kind": "other"},
        files={"file": ("note.txt", b"Telephone note of the call with the recipient team.\n", "text/plain")},
        headers=guardian(tokens, 1),
    )
    assert evidence.status_code == 201, evidence.text
    assert (
        await post(client, request_id, "review", guardian(tokens, 1), {"outcome": "refuse", "rationale": RATIONALE})
    ).status_code == 200
    assert (
        await post(client, request_id, "reconsideration", tokens.agency("RXT01"), {"grounds": GROUNDS})
    ).status_code == 201
    assert (await post(client, request_id, "claim", guardian(tokens, 3))).status_code == 200
    upheld = await post(
        client,
        request_id,
        "reconsideration/decision",
        guardian(tokens, 3),
        {"outcome": "upheld", "rationale": RATIONALE},
    )
    assert upheld.status_code == 200, upheld.text
    return request_id


async def test_an_agency_reads_a_caldicott_guardian_of_the_controller_where_the_controller_reads_the_subject(
    client: httpx.AsyncClient, tokens: Tokens, organisations: None
) -> None:
    request_id = await decided_by_guardians(client, tokens)
    agency = tokens.agency("RXT01")
    paths = ("", "/history", "/fhir", "/attachments", "/notice")
    seen = {
        path: await client.get(
            f"/v1/sharing-requests/{request_id}{path}", headers=agency | {"Accept": "application/json"}
        )
        for path in paths
    }
    for path, response in seen.items():
        assert response.status_code == 200, (path, response.text)
        assert "guardian-" not in response.text, path  # no guardian's subject, anywhere in any of them

    read = seen[""].json()
    assert (read["decision"]["kind"], read["decision"]["decided_by"]) == ("reconsideration", WORDS)
    entries = seen["/history"].json()["items"]
    by_guardian = [
        entry["decision"] for entry in entries if entry["type"] == "decision" and entry["decision"]["kind"] != "rules"
    ]
    assert [decision["decided_by"] for decision in by_guardian] == [WORDS, WORDS]
    assert [opinion["given_by"] for decision in by_guardian for opinion in decision["opinions"]] == [WORDS]
    [reconsideration] = [entry["reconsideration"] for entry in entries if entry["type"] == "reconsideration"]
    assert (reconsideration["requested_by"], reconsideration["decided_by"]) == ("user-rxt01", WORDS)
    actors = {(entry["actor"], entry["actor_org"]) for entry in entries if entry["type"] == "state_change"}
    assert actors == {("user-rxt01", "RXT01"), (WORDS, "CONTROLLER")}
    deciders = [
        entry["resource"]["agent"][1]["who"]
        for entry in seen["/fhir"].json()["entry"]
        if entry["resource"]["resourceType"] == "AuditEvent"
    ]
    assert deciders[1:] == [{"type": "Practitioner", "display": WORDS}] * 2
    assert [item["uploaded_by"] for item in seen["/attachments"].json()["items"]] == [WORDS]

    # The controller's own people see who it was.
    auditor = controller_auditor(tokens)
    assert (await client.get(f"/v1/sharing-requests/{request_id}", headers=auditor)).json()["decision"][
        "decided_by"
    ] == "guardian-3"
    history = (await client.get(f"/v1/sharing-requests/{request_id}/history", headers=auditor)).json()["items"]
    assert [entry["decision"]["decided_by"] for entry in history if entry["type"] == "decision"] == [
        "rules",
        "guardian-1",
        "guardian-3",
    ]
    assert {entry["actor"] for entry in history if entry["type"] == "state_change"} == {
        "user-rxt01",
        "guardian-1",
        "guardian-2",
        "guardian-3",
    }
    fhir = (await client.get(f"/v1/sharing-requests/{request_id}/fhir", headers=auditor)).json()
    subjects = [
        entry["resource"]["agent"][1]["who"].get("identifier", {}).get("value")
        for entry in fhir["entry"]
        if entry["resource"]["resourceType"] == "AuditEvent"
    ]
    assert subjects[1:] == ["guardian-1", "guardian-3"]  # the first, the rules: the service itself
    attachments = await client.get(f"/v1/sharing-requests/{request_id}/attachments", headers=guardian(tokens, 2))
    assert [item["uploaded_by"] for item in attachments.json()["items"]] == ["guardian-1"]


async def test_the_controllers_registered_name_is_the_one_an_agency_reads(
    client: httpx.AsyncClient, tokens: Tokens, organisations: None
) -> None:
    request_id = await referred(client, tokens)
    assert (await post(client, request_id, "claim", guardian(tokens, 1))).status_code == 200
    assert (
        await post(client, request_id, "review", guardian(tokens, 1), {"outcome": "approve", "rationale": RATIONALE})
    ).status_code == 200
    current = await client.get("/v1/organisations/CONTROLLER", headers=tokens.admin())
    renamed = await client.patch(
        "/v1/organisations/CONTROLLER",
        json={"name": "Northshire Hospitals NHS Foundation Trust"},
        headers=tokens.admin() | {"If-Match": current.headers["ETag"]},
    )
    assert renamed.status_code == 200, renamed.text
    read = (await client.get(f"/v1/sharing-requests/{request_id}", headers=tokens.agency("RXT01"))).json()
    assert read["decision"]["decided_by"] == "a Caldicott Guardian of Northshire Hospitals NHS Foundation Trust"


async def test_an_agency_reads_a_panels_decision_with_no_member_named(
    client: httpx.AsyncClient, tokens: Tokens, organisations: None
) -> None:
    request_id = await panels.opened(
        client, tokens, REFERRED
    )  # chaired by guardian-1 with the controller's guardian-2 and guardian-3
    for number in (1, 2, 3):
        assert (await panels.vote(client, tokens, request_id, number, "approve")).status_code == 201
    assert (await panels.close(client, tokens, request_id)).status_code == 200

    read = await client.get(f"/v1/sharing-requests/{request_id}", headers=tokens.agency("RXT01"))
    decision = read.json()["decision"]
    assert (decision["kind"], decision["decided_by"], decision["panel"]["chair"]) == ("panel", WORDS, WORDS)
    assert [(member["sub"], member["org"]) for member in decision["panel"]["members"]] == [(WORDS, "CONTROLLER")] * 3
    assert [vote["member"] for vote in decision["panel"]["votes"]] == [WORDS, WORDS, WORDS]
    assert "guardian-" not in read.text
    seen = (await client.get(f"/v1/sharing-requests/{request_id}", headers=controller_auditor(tokens))).json()[
        "decision"
    ]["panel"]
    assert [member["sub"] for member in seen["members"]] == ["guardian-1", "guardian-2", "guardian-3"]
