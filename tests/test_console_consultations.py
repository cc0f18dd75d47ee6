"""The consulted person's page in the console: a safeguarding lead signed in sees the consultations asked of their
role (not the DPO's), answers one on the page, and the API then shows it answered by them, audited; a refused answer
changes nothing and names the field; a guardian is refused the page. Both databases, in-process."""

import html
import re

import httpx
from fastapi import FastAPI
from sqlmodel import select

from app.models.notification import Person
from app.models.vocabulary import Role
from tests.factories import register_organisation
from tests.support import Tokens, console_client, dev_sign_in
from tests.test_console import assert_strict_page
from tests.test_consultations import ANSWER, ask, audit_actions, claimed, verify

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
