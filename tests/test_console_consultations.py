"""The consulted person's page in the console: a safeguarding lead signed in sees the consultations asked of their
role (not the DPO's), answers one on the page, and the API then shows it answered by them, audited; a refused answer
changes nothing and names the field; a guardian is refused the page. And the lead's read-only case page: what the API
lets them read of a safeguarding case or one their role is consulted on, no more; any other case is a 404. Both
databases, in-process."""

import html
import re

import httpx
from fastapi import FastAPI
from sqlmodel import select

from app.models.notification import Person
from app.models.vocabulary import Role
from tests.factories import REFERRED, register_organisation
from tests.rules.baseline import changed
from tests.support import Tokens, console_client, dev_sign_in
from tests.test_console import assert_strict_page
from tests.test_consultations import ANSWER, QUESTION, answer, ask, audit_actions, claimed, person, verify

DPO_QUESTION = "Does the onward sharing to the community team need a new entry in the record of processing?"


def words(page: httpx.Response) -> str:
    return " ".join(html.unescape(page.text).split())


async def answers(client: httpx.AsyncClient, tokens: Tokens, request_id: str) -> list[tuple[str, str | None]]:
    """Each consultation's role and who answered it, as the API reads them to a guardian."""
    listed = await client.get(
        f"/v1/sharing-requests/{request_id}/consultations",
        headers=tokens.headers("CONTROLLER", Role.GUARDIAN, sub="guardian-1"),
    )
    assert listed.status_code == 200, listed.text
    return [(item["role"], item["answered_by"]) for item in listed.json()["items"]]


async def test_a_safeguarding_lead_answers_on_the_consultations_page(
    app: FastAPI, client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    request_id = await claimed(client, tokens)
    lead_question = await ask(client, tokens, request_id)
    dpo_question = await ask(client, tokens, request_id, role="dpo", question=DPO_QUESTION)
    assert (lead_question.status_code, dpo_question.status_code) == (201, 201)
    consultation_id = lead_question.json()["id"]

    async with console_client(app) as console:
        token = await dev_sign_in(console, Role.SAFEGUARDING_LEAD, name="Sam Lead")
        home = await console.get("/console/")
        assert 'href="/console/consultations"' in home.text  # offered to the role
        page = await console.get("/console/consultations")
        assert page.status_code == 200, page.text
        assert_strict_page(page)
        shown = words(page)
        assert lead_question.json()["question"] in shown and DPO_QUESTION not in shown
        assert f"Case {request_id}" in shown and "Open" in shown
        action = f'action="/console/consultations/{consultation_id}/answer"'
        assert action in page.text and page.text.count('action="/console/consultations/') == 1

        # An answer too short is refused on the page, linked to its field, and nothing is recorded.
        short = await console.post(
            f"/console/consultations/{consultation_id}/answer", data={"csrf_token": token, "answer": "Yes."}
        )
        assert short.status_code == 422, short.text
        assert f'href="#answer-{consultation_id}-answer"' in short.text
        assert re.search(r"Yes\.\s*</textarea>", short.text)  # the answer as sent, to correct
        # Without the form's token: refused, nothing recorded.
        forged = await console.post(f"/console/consultations/{consultation_id}/answer", data={"answer": ANSWER})
        assert forged.status_code == 403
        assert await answers(client, tokens, request_id) == [("safeguarding_lead", None), ("dpo", None)]

        done = await console.post(
            f"/console/consultations/{consultation_id}/answer", data={"csrf_token": token, "answer": ANSWER}
        )
        assert (done.status_code, done.headers["location"]) == (303, "/console/consultations?done=answered")
        after = await console.get(done.headers["location"])
        assert "Your answer is recorded" in words(after) and "Nothing is waiting for your answer." in words(after)
        # Answered once: a second post is refused on the page.
        again = await console.post(
            f"/console/consultations/{consultation_id}/answer", data={"csrf_token": token, "answer": ANSWER}
        )
        assert again.status_code == 409 and "answered" in words(again)

    assert await answers(client, tokens, request_id) == [("safeguarding_lead", "dev-sam-lead"), ("dpo", None)]
    assert (await audit_actions(client, tokens, request_id)).count("consultation_answered") == 1
    await verify(client, tokens)
    # The sign-in recorded the lead's role: they are told of safeguarding decisions by email.
    async with app.state.wiring.sessionmaker() as session:
        person = (await session.exec(select(Person).where(Person.sub == "dev-sam-lead"))).one()
    assert person.roles == "safeguarding_lead"


async def test_the_page_is_the_consulted_roles_own(app: FastAPI, client: httpx.AsyncClient, tokens: Tokens) -> None:
    await register_organisation(client, tokens, "RXT01")
    request_id = await claimed(client, tokens)
    asked = await ask(client, tokens, request_id, role="dpo", question=DPO_QUESTION)
    assert asked.status_code == 201, asked.text
    async with console_client(app) as console:
        await dev_sign_in(console, Role.DPO, name="Dee Officer")
        page = await console.get("/console/consultations")
        assert page.status_code == 200 and DPO_QUESTION in words(page)
    async with console_client(app) as console:
        await dev_sign_in(console, Role.GUARDIAN)
        refused = await console.get("/console/consultations")
        assert refused.status_code == 403
        assert 'href="/console/consultations"' not in (await console.get("/console/")).text


PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
# What the lead's case page must never carry: a form, the evidence, the claim, the requester's registration, the
# deliberation (each section's id, as the guardian's page has it).
NOT_THE_LEADS = ("<form", 'id="evidence"', 'id="claim"', 'id="requester"', 'id="deliberation"', 'id="actions"')


async def test_a_safeguarding_lead_reads_a_safeguarding_case_read_only(
    app: FastAPI, client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    request_id = await claimed(client, tokens)  # safeguarding_adult, referred (CP4.onward_sharing), claimed
    uploaded = await client.post(
        f"/v1/sharing-requests/{request_id}/attachments",
        data={"kind": "consent_form"},
        files={"file": ("consent-of-the-adult.pdf", PDF, "application/pdf")},
        headers=tokens.agency("RXT01"),
    )
    assert uploaded.status_code == 201, uploaded.text
    open_question = (await ask(client, tokens, request_id)).json()
    answered = (await ask(client, tokens, request_id, question=QUESTION.replace("Is this", "Was this"))).json()
    lead = person("CONTROLLER", Role.SAFEGUARDING_LEAD, "lead-2", tokens)
    assert (await answer(client, request_id, answered["id"], lead)).status_code == 200
    assert (await ask(client, tokens, request_id, role="dpo", question=DPO_QUESTION)).status_code == 201
    url = f"/console/cases/{request_id}"

    async with console_client(app) as console:
        token = await dev_sign_in(console, Role.SAFEGUARDING_LEAD, name="Sam Lead")
        page = await console.get(url)
        assert page.status_code == 200, page.text
        assert_strict_page(page)
        shown = words(page)
        # The request in plain words, what did not pass and why, and the history.
        assert "Safeguarding adult" in shown and "CP4.onward_sharing" in shown and "Submitted by" in shown
        assert 'id="history"' in page.text and "Principle 4" in shown
        # The consultations asked of the role: the open one linked to the answer form, the answered one with its answer.
        assert open_question["question"] in shown and ANSWER in shown and "From lead-2" in shown
        assert f'href="/console/consultations#answer-{open_question["id"]}"' in page.text
        assert page.text.count('href="/console/consultations#answer-') == 1
        assert DPO_QUESTION not in shown  # the DPO's is not the lead's to read here
        for kept_back in (*NOT_THE_LEADS, "consent-of-the-adult.pdf", "/attachments/", "guardian-1 holds"):
            assert kept_back not in page.text, kept_back
        # Nothing the page does not offer is theirs either: the evidence, the notices, the case's actions.
        download = await console.get(f"{url}/attachments/{uploaded.json()['id']}")
        assert download.status_code == 403
        assert (await console.get(f"{url}/notices/requester")).status_code == 403
        claim = await console.post(f"{url}/claim", data={"csrf_token": token, "version": "x"})
        assert claim.status_code == 403

    actions = await audit_actions(client, tokens, request_id)
    assert "history_read" in actions and "attachment_read" not in actions  # read as the API reads, and only that
    # The guardian's page of the same case is the whole file, as before.
    async with console_client(app) as console:
        await dev_sign_in(console)
        whole = await console.get(url)
        assert whole.status_code == 200, whole.text
        for section in ('id="evidence"', 'id="claim"', 'id="requester"', 'id="deliberation"', "consent-of-the-adult"):
            assert section in whole.text, section
        assert 'id="consulted"' not in whole.text
    await verify(client, tokens)


async def test_another_case_is_the_leads_only_when_their_role_is_consulted_on_it(
    app: FastAPI, client: httpx.AsyncClient, tokens: Tokens
) -> None:
    await register_organisation(client, tokens, "RXT01")
    request_id = await claimed(client, tokens, changed(REFERRED))  # direct care: not a safeguarding request
    url = f"/console/cases/{request_id}"

    async def not_found(console: httpx.AsyncClient) -> None:
        missing = await console.get(url)
        assert (missing.status_code, missing.headers["content-type"]) == (404, "text/html; charset=utf-8")
        assert "Not found" in words(missing) and "Direct care" not in words(missing)

    async with console_client(app) as console:
        await dev_sign_in(console, Role.SAFEGUARDING_LEAD, name="Sam Lead")
        await not_found(console)
        # A consultation of another role does not open it to the lead.
        assert (await ask(client, tokens, request_id, role="dpo", question=DPO_QUESTION)).status_code == 201
        await not_found(console)
        # The API answers the lead as the console does.
        lead = person("CONTROLLER", Role.SAFEGUARDING_LEAD, "lead-1", tokens)
        assert (await client.get(f"/v1/sharing-requests/{request_id}", headers=lead)).status_code == 404

        asked = await ask(client, tokens, request_id)
        assert asked.status_code == 201, asked.text
        page = await console.get(url)
        assert page.status_code == 200, page.text
        assert_strict_page(page)
        shown = words(page)
        assert "Direct care" in shown and asked.json()["question"] in shown and DPO_QUESTION not in shown
        assert "Back to your consultations" in shown  # the page where they answer
        for kept_back in NOT_THE_LEADS:
            assert kept_back not in page.text, kept_back
        assert (await client.get(f"/v1/sharing-requests/{request_id}", headers=lead)).status_code == 200
