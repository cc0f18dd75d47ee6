"""The person's notice is safe to send (brief section 6, rules 1 to 8):
withheld until released, the law in words, rights, checks."""

from typing import Any

import httpx
import yaml

from app.models.vocabulary import Role
from app.rules.policy_documents import shipped_path
from tests.factories import COURT_ORDER, register_organisation, submit
from tests.rules.baseline import changed
from tests.support import Tokens

RATIONALE = "The public interest in protecting the person outweighs the duty of confidence here; MARKER-RATIONALE-77."
WHY = "The investigation has concluded and telling the person can no longer alert anyone."
PREJUDICE = {"transparency.subject_informed": "would_prejudice_purpose"}
CRIME = {
    "purpose.category": "crime_prevention",
    "legal_basis.confidentiality": "overriding_public_interest",
    "legal_basis.article_9": "substantial_public_interest",
    "legal_basis.schedule1_paragraph": 10,
    "data_items": [
        {"category": "contact_details", "form": "identifiable", "justification": "to find the suspect of a murder"}
    ],
}
S47 = {
    "purpose.category": "safeguarding_child",
    "subjects.age_group": "child",
    "consent.capacity": "not_assessed",
    "legal_basis.confidentiality": "legal_requirement",
    "legal_basis.provision": "children_act_1989_s47",
    "legal_basis.reference": "Section 47 enquiry 2028/55",
    "legal_basis.article_9": "substantial_public_interest",
    "legal_basis.schedule1_paragraph": 18,
}
DOMESTIC_ABUSE = {
    "purpose.category": "safeguarding_adult",
    "legal_basis.confidentiality": "overriding_public_interest",
    "legal_basis.article_9": "substantial_public_interest",
    "legal_basis.schedule1_paragraph": 18,
    "consent.capacity": "lacks_capacity",
}


def guardian(tokens: Tokens, org: str = "CONTROLLER") -> dict[str, str]:
    return tokens.headers(org, Role.GUARDIAN, sub=f"guardian-{org.lower()}")


async def notice(
    client: httpx.AsyncClient, request_id: str, headers: dict[str, str], accept: str = "application/json", **params: str
) -> httpx.Response:
    return await client.get(
        f"/v1/sharing-requests/{request_id}/notice", params=params, headers=headers | {"Accept": accept}
    )


async def release(client: httpx.AsyncClient, request_id: str, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post(
        f"/v1/sharing-requests/{request_id}/notice-releases",
        json={"audience": "subject", "why": WHY} | body,
        headers=headers,
    )


async def decided(
    client: httpx.AsyncClient, tokens: Tokens, changes: dict[str, Any], org: str = "RXT01", **review: Any
) -> str:
    """A request decided finally: approved by the rules, or referred and approved by a guardian of the controller."""
    response = await submit(client, tokens, changed(changes), org=org)
    assert response.status_code == 201, response.text
    request = response.json()
    if request["status"] == "awaiting_review":
        assert (
            await client.post(f"/v1/sharing-requests/{request['id']}/claim", headers=guardian(tokens))
        ).status_code == 200
        body = {"outcome": "approve", "rationale": RATIONALE} | review
        reviewed = await client.post(
            f"/v1/sharing-requests/{request['id']}/review", json=body, headers=guardian(tokens)
        )
        assert reviewed.status_code == 200, reviewed.text
    else:
        assert request["status"].startswith("approved"), request
    return str(request["id"])


def reasons_of(response: httpx.Response) -> list[str]:
    assert response.status_code == 409, response.text
    problem = response.json()
    assert problem["type"] == "/problems/subject-notice-withheld"
    assert all(error["location"] == "withheld" for error in problem["errors"])
    return [error["field"] for error in problem["errors"]]


async def test_each_reason_withholds_the_notice_until_a_guardian_releases_it(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "POL01", type="police")
    await register_organisation(client, tokens, "LA01", type="local_authority")
    cases = [
        (PREJUDICE, "RXT01", ["prejudice"], {}),
        (CRIME | PREJUDICE, "POL01", ["prejudice", "purpose"], {}),
        (S47, "LA01", ["purpose", "parental_responsibility"], {"not_implicated": True}),
        (DOMESTIC_ABUSE, "LA01", ["purpose"], {}),
    ]
    for changes, org, expected, extra in cases:
        request_id = await decided(client, tokens, changes, org)
        for accept in ("application/json", "text/html", "text/plain"):
            assert (
                reasons_of(await notice(client, request_id, tokens.agency(org), accept, audience="subject")) == expected
            ), (org, accept)
        assert reasons_of(await notice(client, request_id, guardian(tokens), audience="subject")) == expected
        # The requester's own notice is never withheld.
        assert (await notice(client, request_id, tokens.agency(org))).status_code == 200
        if "not_implicated" in extra:
            refused = await release(client, request_id, guardian(tokens))
            assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "not_implicated"
        released = await release(client, request_id, guardian(tokens), **extra)
        assert released.status_code == 201, released.text
        assert released.json()["still_withheld"] == [] and released.json()["released_by_org"] == "CONTROLLER"
        sent = await notice(client, request_id, tokens.agency(org), audience="subject")
        assert sent.status_code == 200, sent.text
        assert sent.json()["basis"]["confidentiality"] and sent.json()["withheld"] is False
        text = (await notice(client, request_id, tokens.agency(org), "text/plain", audience="subject")).text
        assert "THE LEGAL BASIS" in text and "MARKER-RATIONALE-77" not in text


async def test_a_guardian_of_another_organisation_previews_and_no_one_else_may(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "LA-NSH", type="local_authority")
    request_id = await decided(client, tokens, PREJUDICE)
    preview = await notice(client, request_id, guardian(tokens), audience="subject", preview="true")
    assert preview.status_code == 200 and preview.json()["withheld"] is True
    assert [reason["reason"] for reason in preview.json()["withheld_reasons"]] == ["prejudice"]
    for accept in ("text/html", "text/markdown", "text/plain"):
        assert (
            "Withheld: do not send"
            in (await notice(client, request_id, guardian(tokens), accept, audience="subject", preview="true")).text
        )
    assert (
        await notice(client, request_id, tokens.agency("RXT01"), audience="subject", preview="true")
    ).status_code == 403
    assert (
        await notice(client, request_id, guardian(tokens, "RXT01"), audience="subject", preview="true")
    ).status_code == 403
    assert (
        await notice(client, request_id, tokens.agency("LA-NSH"), audience="subject", preview="true")
    ).status_code == 404
    # Releasing is for the same guardians.
    assert (await release(client, request_id, tokens.agency("RXT01"))).status_code == 403
    assert (await release(client, request_id, guardian(tokens, "RXT01"))).status_code == 403
    assert (await release(client, request_id, tokens.agency("LA-NSH"))).status_code in (403, 404)
    auditor = tokens.headers("CONTROLLER", Role.AUDITOR, sub="auditor-1")
    events = await client.get(
        "/v1/audit/events", params={"request_id": request_id, "action": "notice_previewed"}, headers=auditor
    )
    assert [event["outcome"] for event in events.json()["items"]] == ["subject: prejudice"] * 4
    assert (await release(client, request_id, guardian(tokens))).status_code == 201
    released = await client.get(
        "/v1/audit/events", params={"request_id": request_id, "action": "notice_released"}, headers=auditor
    )
    assert [event["actor_org"] for event in released.json()["items"]] == ["CONTROLLER"]


async def test_a_release_does_not_survive_an_amendment(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    response = await submit(client, tokens, changed(PREJUDICE))
    request_id = response.json()["id"]
    assert (await release(client, request_id, guardian(tokens))).status_code == 201
    assert (await client.post(f"/v1/sharing-requests/{request_id}/claim", headers=guardian(tokens))).status_code == 200
    asked = {
        "outcome": "request_information",
        "rationale": "Please say when the person can be told about this sharing.",
    }
    assert (
        await client.post(f"/v1/sharing-requests/{request_id}/review", json=asked, headers=guardian(tokens))
    ).status_code == 200
    amendment = {
        "request": changed(PREJUDICE | {"reference": "CASE-1 amended"}),
        "note": "The person cannot be told until the enquiry ends.",
    }
    amended = await client.post(
        f"/v1/sharing-requests/{request_id}/amendments", json=amendment, headers=tokens.agency("RXT01")
    )
    assert amended.status_code == 200, amended.text
    assert (await client.post(f"/v1/sharing-requests/{request_id}/claim", headers=guardian(tokens))).status_code == 200
    body = {"outcome": "approve", "rationale": RATIONALE}
    assert (
        await client.post(f"/v1/sharing-requests/{request_id}/review", json=body, headers=guardian(tokens))
    ).status_code == 200
    assert reasons_of(await notice(client, request_id, tokens.agency("RXT01"), audience="subject")) == ["prejudice"]


async def test_open_controller_checks_withhold_the_notice_until_recorded_and_a_release_never_clears_them(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "POL01", type="police")
    request_id = await decided(client, tokens, COURT_ORDER, "POL01")
    assert reasons_of(await notice(client, request_id, tokens.agency("POL01"), audience="subject")) == [
        "controller_checks_open"
    ]
    assert (await release(client, request_id, guardian(tokens))).status_code == 409  # nothing a release clears
    requester = (await notice(client, request_id, tokens.agency("POL01"))).json()
    assert requester["checks_pending"] is True
    assert [(check["check"], check["status"]) for check in requester["controller_checks"]] == [
        ("CP6.court_order_verified", "open")
    ]
    assert all(condition["rule"] != "CP6.court_order_verified" for condition in requester["conditions"])
    text = (await notice(client, request_id, tokens.agency("POL01"), "text/plain")).text
    assert "Nothing will be disclosed until the controller's checks are complete" in text

    body = {"outcome": "done", "checked": "Sealed order 2028/123 seen; it covers the diagnoses asked for."}
    ig = tokens.headers("CONTROLLER", Role.IG_MANAGER, sub="ig-1")
    recorded = await client.post(
        f"/v1/sharing-requests/{request_id}/controller-checks/CP6.court_order_verified", json=body, headers=ig
    )
    assert recorded.status_code == 200, recorded.text
    person = await notice(client, request_id, tokens.agency("POL01"), audience="subject")
    assert person.status_code == 200, person.text
    notice_body = person.json()
    assert notice_body["controller_checks"][0]["status"] is None and notice_body["conditions"] == []
    assert (
        notice_body["basis"]["provision"]
        and notice_body["basis"]["provision"] != "a provision the controller has not verified"
    )
    assert notice_body["rights"]["automated"]["checked_by_person"] is True
    assert (await notice(client, request_id, tokens.agency("POL01"))).json()["controller_checks"][0]["status"] == "done"


async def test_rights_follow_the_article_6_basis_the_opt_out_and_a_decision_by_the_rules(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    public_task = (
        await notice(client, await decided(client, tokens, {}), tokens.agency("RXT01"), audience="subject")
    ).json()
    assert any("Article 21" in statement for statement in public_task["rights"]["statements"])
    assert public_task["rights"]["opt_out"] is None
    assert public_task["rights"]["ico_contact"].startswith("Information Commissioner's Office")
    automated = public_task["rights"]["automated"]
    assert automated["checked_by_person"] is False and any("22A" in statement for statement in automated["statements"])
    consent = {"legal_basis.article_6": "consent", "consent.status": "given"}
    consented = (
        await notice(client, await decided(client, tokens, consent), tokens.agency("RXT01"), audience="subject")
    ).json()
    assert any("withdraw your consent" in statement for statement in consented["rights"]["statements"])
    assert not any("Article 21" in statement for statement in consented["rights"]["statements"])
    # A guardian's decision carries no automated-decision text.
    guardian_decided = await decided(client, tokens, {"recipient.onward_sharing": True})
    assert (await notice(client, guardian_decided, tokens.agency("RXT01"), audience="subject")).json()["rights"][
        "automated"
    ] is None
    text = (await notice(client, guardian_decided, tokens.agency("RXT01"), "text/plain", audience="subject")).text
    assert "Article 15" in text and "Data Protection Officer" in text


async def test_a_person_who_has_died_gets_a_notice_for_their_representative(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    request_id = await decided(client, tokens, {"subjects.deceased": True})
    assert reasons_of(await notice(client, request_id, tokens.agency("RXT01"), audience="subject")) == ["deceased"]
    missing = await release(client, request_id, guardian(tokens))
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "personal_representative"
    body = {"personal_representative": "The executor named in the will", "access_to_health_records_checked": True}
    assert (await release(client, request_id, guardian(tokens), **body)).status_code == 201
    sent = (await notice(client, request_id, tokens.agency("RXT01"), audience="subject")).json()
    assert sent["addressed_to"] == "personal_representative" and sent["information"] == [] and sent["rights"] is None
    assert (
        sent["basis"]["article_6"] is None and sent["basis"]["article_9"] is None and sent["basis"]["confidentiality"]
    )
    text = " ".join(
        (await notice(client, request_id, tokens.agency("RXT01"), "text/plain", audience="subject")).text.split()
    )
    assert "Access to Health Records Act 1990" in text and "social care records have no statutory route" in text
    assert "diagnoses" not in text.lower() and "Article 15" not in text and "22A" not in text


async def test_a_mixed_group_gets_two_notices_and_other_audiences_are_404(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    mixed = await decided(client, tokens, {"subjects.age_group": "mixed", "subjects.count": 3})
    assert reasons_of(await notice(client, mixed, tokens.agency("RXT01"), audience="subject")) == [
        "parental_responsibility"
    ]
    adults = (await notice(client, mixed, tokens.agency("RXT01"), audience="subject_adults")).json()
    assert adults["addressed_to"] == "adults" and adults["rights"] is not None
    assert (await notice(client, mixed, tokens.agency("RXT01"), audience="subject_proxy")).status_code == 404
    assert (await release(client, mixed, guardian(tokens), not_implicated=True)).status_code == 201
    assert (await notice(client, mixed, tokens.agency("RXT01"), audience="subject")).json()["addressed_to"] == "parent"

    adult = await decided(client, tokens, {})
    for audience in ("subject_adults", "subject_proxy"):
        assert (await notice(client, adult, tokens.agency("RXT01"), audience=audience)).status_code == 404, audience
    competent = await decided(client, tokens, {"subjects.age_group": "child"})
    assert (await notice(client, competent, tokens.agency("RXT01"), audience="subject")).json()[
        "addressed_to"
    ] == "person"


async def test_an_attorney_for_health_and_welfare_gets_their_own_notice(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    proxy = {
        "consent.capacity": "lacks_capacity",
        "consent.given_by": "attorney",
        "consent.proxy_scope": "health_and_welfare",
        "consent.status": "given",
        "legal_basis.confidentiality": "explicit_consent",
        "legal_basis.article_9": "explicit_consent",
        "legal_basis.article_6": "consent",
    }
    request_id = await decided(client, tokens, proxy)
    assert reasons_of(await notice(client, request_id, tokens.agency("RXT01"), audience="subject_proxy")) == ["proxy"]
    assert (await notice(client, request_id, tokens.agency("RXT01"), audience="subject")).status_code == 200
    assert (
        await release(client, request_id, guardian(tokens), audience="subject_proxy", not_implicated=True)
    ).status_code == 201
    assert (await notice(client, request_id, tokens.agency("RXT01"), audience="subject_proxy")).json()[
        "addressed_to"
    ] == "proxy"


async def test_a_refusal_overridden_by_a_guardian_is_explained_with_their_reason_for_the_person(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    no_authority = {
        "consent.status": "refused",
        "consent.capacity": "lacks_capacity",
        "consent.given_by": "attorney",
        "consent.proxy_scope": "property_and_affairs",
    }
    reason = "Your care team needed your medicines list to treat you safely."
    request_id = await decided(client, tokens, no_authority, subject_reason=reason)
    person = (await notice(client, request_id, tokens.agency("RXT01"), audience="subject")).json()
    override = person["refusal_not_followed"]
    # An attorney for property and affairs refused;
    # the rules referred it, and a guardian approved in the public interest.
    assert override == {
        "by": "a Caldicott Guardian",
        "ground": "the public interest in the person's own health or social care",
        "subject_reason": reason,
    }
    # The rules' referrals (a guardian must decide) are not repeated in a guardian's notice.
    assert all(finding["result"] != "refer" for principle in person["principles"] for finding in principle["findings"])
    text = (await notice(client, request_id, tokens.agency("RXT01"), "text/html", audience="subject")).text
    assert "MARKER-RATIONALE-77" not in text and "refusal was not followed" in text


async def test_a_refusal_the_rules_did_not_follow_names_the_first_ground_that_holds(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    await register_organisation(client, tokens, "LA01", type="local_authority")
    notification = {
        "purpose.category": "public_health",
        "legal_basis.article_6": "legal_obligation",
        "legal_basis.article_9": "public_health",
        "legal_basis.confidentiality": "legal_requirement",
        "legal_basis.provision": "health_protection_notification_2010",
        "legal_basis.reference": "Health Protection (Notification) Regulations 2010 reg. 2",
        "consent.status": "refused",
    }
    required = await decided(client, tokens, notification, org="LA01")
    override = (await notice(client, required, tokens.agency("LA01"), audience="subject")).json()[
        "refusal_not_followed"
    ]
    assert override == {
        "by": "the rules of the policy",
        "ground": "the law requires the disclosure: Health Protection (Notification) Regulations 2010",
        "subject_reason": None,
    }
    # An attorney of unknown scope refuses care in an emergency: the share goes ahead (MCA s.6(7)), and the emergency is
    # the ground named, before the person's lack of capacity.
    emergency = {
        "urgency": "emergency",
        "consent.status": "refused",
        "consent.capacity": "lacks_capacity",
        "consent.given_by": "attorney",
        "consent.best_interests_decision": True,
    }
    shared = await decided(client, tokens, emergency)
    # The person's notice waits for the retrospective review, a check the controller records afterwards.
    assert reasons_of(await notice(client, shared, tokens.agency("RXT01"), audience="subject")) == [
        "controller_checks_open"
    ]
    ig_manager = tokens.headers("CONTROLLER", Role.IG_MANAGER, sub="ig-1")
    checked = {
        "outcome": "done",
        "checked": "Reviewed the emergency share with the Caldicott Guardian the morning after; justified.",
    }
    recorded = await client.post(
        f"/v1/sharing-requests/{shared}/controller-checks/CP7.emergency_share", json=checked, headers=ig_manager
    )
    assert recorded.status_code == 200, recorded.text
    person = (await notice(client, shared, tokens.agency("RXT01"), audience="subject")).json()
    assert person["refusal_not_followed"]["by"] == "an emergency share"
    assert person["refusal_not_followed"]["ground"].startswith(
        "the information was needed at once to protect life or health"
    )


async def test_local_guidance_in_a_derived_policy_never_reaches_the_person(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    document = yaml.safe_load(shipped_path("2028.1").read_bytes())
    document.update(
        name="northshire-trust",
        version="2028.1-guidance.1",
        derived_from={"name": "uk-caldicott-baseline", "version": "2028.1"},
    )
    baseline_text = document["rules"]["CP4.named_access"]["reasons"]["condition"]
    document["rules"]["CP4.named_access"]["reasons"]["condition"] = (
        f"{baseline_text} Call the IG team on extension 4410."
    )
    uploaded = await client.post(
        "/v1/policies",
        content=yaml.safe_dump(document).encode(),
        headers=tokens.admin() | {"Content-Type": "application/yaml"},
    )
    assert uploaded.status_code == 201, uploaded.text
    assert (
        await client.post("/v1/policies/northshire-trust/2028.1-guidance.1/activate", headers=tokens.admin())
    ).status_code == 200

    request_id = await decided(client, tokens, {"recipient.access_roles": []})
    requester = (await notice(client, request_id, tokens.agency("RXT01"), "text/plain")).text
    assert "extension 4410" in requester  # the requester's notice keeps the controller's local guidance
    person = (await notice(client, request_id, tokens.agency("RXT01"), "text/plain", audience="subject")).text
    assert "4410" not in person
    assert " ".join(baseline_text.split()) in " ".join(person.split())
