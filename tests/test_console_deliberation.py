"""The case's deliberation in the console: second opinions, panels, reconsideration, retrospective review and the
notices, each done through its page by people signed in under their own names, then read back through the API."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.console import deliberation
from app.console.case import BANNERS, Done
from app.models.vocabulary import Role
from tests.factories import EMERGENCY, REFERRED, register_organisation, submit
from tests.rules.baseline import changed
from tests.support import Tokens, console_client, dev_sign_in
from tests.test_console import assert_strict_page
from tests.test_notice_safety import PREJUDICE
from tests.test_notice_safety import decided as decided_by_guardian
from tests.test_opinions import verify
from tests.test_panels import CONSENT_REFUSED
from tests.test_reconsideration import GROUNDS, REFUSED

QUESTION = "I propose to refuse: onward sharing to the whole team is more than the purpose needs. Do you agree?"
RATIONALE = "Weighed the onward sharing against the duty of confidence; the recipient team is named and small."
REASON = "Approving would override a capable adult's refusal of consent; the policy asks a panel to decide."
# Every form of the deliberation, by the path it posts to.
ACTIONS = (
    "opinion-requests",
    "opinions",
    "panel",
    "panel/votes",
    "panel/withdrawals",
    "panel/decision",
    "reconsideration",
    "retrospective-review",
    "notice-releases",
)
WHY = "The investigation has concluded and telling the person can no longer alert anyone."


class Person:
    """Someone signed in to the console under their own name: their browser, form token and token subject."""

    def __init__(self, http: httpx.AsyncClient, token: str, sub: str):
        self.http, self.token, self.sub = http, token, sub

    async def page(self, request_id: str, **params: str) -> httpx.Response:
        """The case page, whose deliberation sections hold the forms."""
        return await self.http.get(f"/console/cases/{request_id}", params=params)

    async def post(self, request_id: str, action: str, data: dict[str, Any], *, token: bool = True) -> httpx.Response:
        sent = data | ({"csrf_token": self.token} if token else {})
        return await self.http.post(f"/console/cases/{request_id}/deliberation/{action}", data=sent)

    async def done(self, request_id: str, action: str, data: dict[str, Any], banner: str) -> httpx.Response:
        """Post a form, follow its redirect back to the case page, and see the banner saying it was done."""
        posted = await self.post(request_id, action, data)
        assert posted.status_code == 303, posted.text
        assert posted.headers["location"].startswith(f"/console/cases/{request_id}?done=")
        page = await self.http.get(posted.headers["location"])
        assert page.status_code == 200 and banner in page.text, page.text
        assert_strict_page(page)
        return page


SignIn = Callable[..., Awaitable[Person]]


@pytest.fixture
async def sign_in(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[SignIn]:
    """Sign people in to the console, each in a browser of their own (the `client` fixture emptied the database)."""
    async with AsyncExitStack() as stack:

        async def signed_in(name: str, role: Role = Role.GUARDIAN) -> Person:
            http = await stack.enter_async_context(console_client(app))
            token = await dev_sign_in(http, role=role, name=name)
            return Person(http, token, "dev-" + name.lower().replace(" ", "-"))

        yield signed_in


@pytest.fixture
async def requester(client: httpx.AsyncClient, tokens: Tokens) -> str:
    await register_organisation(client, tokens, "RXT01")
    return "RXT01"


def api(tokens: Tokens, person: Person) -> dict[str, str]:
    """The API's bearer header for the same person (a guardian of the controller)."""
    return tokens.headers("CONTROLLER", Role.GUARDIAN, sub=person.sub)


async def claimed(client: httpx.AsyncClient, tokens: Tokens, changes: dict[str, Any], by: Person, status: str) -> str:
    response = await submit(client, tokens, changed(changes))
    assert (response.status_code, response.json()["status"]) == (201, status), response.text
    request_id = str(response.json()["id"])
    claim = await client.post(f"/v1/sharing-requests/{request_id}/claim", headers=api(tokens, by))
    assert claim.status_code == 200, claim.text
    return request_id


async def history(client: httpx.AsyncClient, tokens: Tokens, request_id: str) -> list[tuple[str, str]]:
    """The request's history as the API reports it: each state change's action and who acted, each other entry's type
    (a version, a decision, a reconsideration)."""
    response = await client.get(
        f"/v1/sharing-requests/{request_id}/history", params={"limit": 200}, headers=tokens.admin()
    )
    assert response.status_code == 200, response.text
    return [
        (entry["action"], entry["actor"]) if entry["type"] == "state_change" else (entry["type"], "")
        for entry in response.json()["items"]
    ]


async def audited(client: httpx.AsyncClient, tokens: Tokens, request_id: str) -> list[tuple[str, str]]:
    """The audit trail's events about the request: each action and who acted."""
    auditor = tokens.headers("CONTROLLER", Role.AUDITOR, sub="auditor-1")
    response = await client.get("/v1/audit/events", params={"request_id": request_id, "limit": 200}, headers=auditor)
    assert response.status_code == 200, response.text
    return [(event["action"], event["actor_sub"]) for event in response.json()["items"]]


async def test_an_opinion_is_asked_and_given_through_the_console_and_no_one_else_may_give_it(
    client: httpx.AsyncClient, tokens: Tokens, sign_in: SignIn, requester: str
) -> None:
    grace, olu, pat = await sign_in("Grace Guardian"), await sign_in("Olu Opinion"), await sign_in("Pat Passerby")
    request_id = await claimed(client, tokens, REFERRED, grace, "awaiting_review")
    page = await grace.page(request_id)
    assert page.status_code == 200 and 'id="ask"' in page.text
    assert_strict_page(page)
    asked = {"guardian": olu.sub, "guardian_org": "CONTROLLER", "proposed_outcome": "refuse", "question": QUESTION}
    await grace.done(request_id, "opinion-requests", asked, "Opinion asked for")

    # Pat was not asked: the service refuses, as the API would, and the page says so with the form kept.
    before = await history(client, tokens, request_id)
    refused = await pat.post(request_id, "opinions", {"opinion": "agree", "rationale": RATIONALE})
    assert refused.status_code == 403, refused.text
    assert "nhsuk-error-summary" in refused.text and "No opinion has been asked of you" in refused.text
    # Nor may the guardian who holds the claim and will decide.
    own_case = await grace.post(request_id, "opinions", {"opinion": "agree", "rationale": RATIONALE})
    assert own_case.status_code == 403 and "not the one holding the claim" in own_case.text
    assert await history(client, tokens, request_id) == before

    own = await olu.page(request_id)
    assert 'id="opinion"' in own.text and QUESTION in own.text
    await olu.done(request_id, "opinions", {"opinion": "disagree", "rationale": RATIONALE}, "Your opinion is recorded")

    assert (await history(client, tokens, request_id))[-2:] == [
        ("opinion_requested", grace.sub),
        ("opinion_given", olu.sub),
    ]
    assert ("opinion_given", olu.sub) in await audited(client, tokens, request_id)
    shown = await grace.page(request_id)
    assert "Disagree" in shown.text and RATIONALE in shown.text


async def test_every_form_refuses_a_post_without_its_token_and_an_auditor_and_changes_nothing(
    client: httpx.AsyncClient, tokens: Tokens, sign_in: SignIn, requester: str
) -> None:
    grace, audrey = await sign_in("Grace Guardian"), await sign_in("Audrey Auditor", Role.AUDITOR)
    request_id = await claimed(client, tokens, REFERRED, grace, "awaiting_review")
    before = await history(client, tokens, request_id)
    asked = {"proposed_outcome": "refuse", "question": QUESTION}
    forged = await grace.post(request_id, "opinion-requests", asked, token=False)
    assert forged.status_code == 403 and "This form has expired" in forged.text
    assert_strict_page(forged)

    readable = await audrey.page(request_id)
    assert readable.status_code == 200 and "<form" not in readable.text.split('id="deliberation"')[1]
    posted = {route.path.split("/deliberation/")[1] for route in deliberation.router.routes if "POST" in route.methods}
    assert posted == set(ACTIONS)  # a new form is tried here too
    for action in ACTIONS:
        refused = await audrey.post(request_id, action, asked)
        assert refused.status_code == 403 and "You cannot use this page" in refused.text, action
        untokened = await grace.post(request_id, action, asked, token=False)
        assert untokened.status_code == 403 and "This form has expired" in untokened.text, action
    assert await history(client, tokens, request_id) == before


async def test_a_refused_form_is_kept_with_an_error_summary_naming_the_field(
    client: httpx.AsyncClient, tokens: Tokens, sign_in: SignIn, requester: str
) -> None:
    grace = await sign_in("Grace Guardian")
    request_id = await claimed(client, tokens, REFERRED, grace, "awaiting_review")
    before = await history(client, tokens, request_id)
    short = await grace.post(request_id, "opinion-requests", {"proposed_outcome": "refuse", "question": "Agree?"})
    assert short.status_code == 422, short.text
    assert 'href="#ask-question"' in short.text and ">Agree?</textarea>" in short.text
    assert "nhsuk-textarea--error" in short.text  # the message beside the field too
    assert_strict_page(short)
    assert await history(client, tokens, request_id) == before
    # Another agency's request, or none, is a page that is not there.
    assert (await grace.page("no-such-request")).status_code == 404


async def test_a_panel_is_opened_voted_on_withdrawn_from_and_closed_through_the_console(
    client: httpx.AsyncClient, tokens: Tokens, sign_in: SignIn, requester: str
) -> None:
    chair, ann, bob, eve = (
        await sign_in("Cleo Chair"),
        await sign_in("Ann Member"),
        await sign_in("Bob Member"),
        await sign_in("Eve Outsider"),
    )
    request_id = await claimed(client, tokens, CONSENT_REFUSED, chair, "awaiting_review")
    page = await chair.page(request_id)
    assert "A panel decides approval" in page.text and 'id="panel"' in page.text
    members = f"{ann.sub}\n{bob.sub}\n"
    await chair.done(request_id, "panel", {"reason": REASON, "members": members}, "Panel opened")

    refused = await eve.post(request_id, "panel/votes", {"vote": "refuse", "rationale": RATIONALE})
    assert refused.status_code == 403 and "Only a member of the panel may do this" in refused.text
    too_soon = await chair.post(request_id, "panel/decision", {"rationale": RATIONALE})
    assert too_soon.status_code == 409 and "nhsuk-error-summary" in too_soon.text

    await chair.done(request_id, "panel/votes", {"vote": "refuse", "rationale": RATIONALE}, "Your vote is recorded")
    await ann.done(request_id, "panel/votes", {"vote": "refuse", "rationale": RATIONALE}, "Your vote is recorded")
    withdrawn = await bob.done(
        request_id, "panel/withdrawals", {"rationale": RATIONALE}, "You have withdrawn from the panel"
    )
    assert "(withdrawn)" in withdrawn.text
    await chair.done(request_id, "panel/decision", {"rationale": RATIONALE, "casting_vote": ""}, "Panel closed")

    panel = (await client.get(f"/v1/sharing-requests/{request_id}/panel", headers=api(tokens, chair))).json()
    assert panel["closed_at"] and [(vote["member"], vote["vote"], vote["withdrawn"]) for vote in panel["votes"]] == [
        (chair.sub, "refuse", False),
        (ann.sub, "refuse", False),
        (bob.sub, None, True),
    ]
    actions = await history(client, tokens, request_id)
    assert actions[-6:] == [
        ("panel_opened", chair.sub),
        ("panel_voted", chair.sub),
        ("panel_voted", ann.sub),
        ("panel_vote_withdrawn", bob.sub),
        ("decision", ""),
        ("panel_decided", chair.sub),
    ]
    read = await client.get(f"/v1/sharing-requests/{request_id}", headers=tokens.agency("RXT01"))
    assert read.json()["status"] == "refused"
    assert ("panel_decided", chair.sub) in await audited(client, tokens, request_id)
    await verify(client, tokens)  # the refusals, undone to their savepoints, left no gap in the chain


async def test_a_reconsideration_is_decided_through_the_console_with_the_reasons_the_api_requires(
    client: httpx.AsyncClient, tokens: Tokens, sign_in: SignIn, requester: str
) -> None:
    rita = await sign_in("Rita Reconsider")
    response = await submit(client, tokens, changed(REFUSED))
    assert response.json()["status"] == "refused", response.text
    request_id = str(response.json()["id"])
    asked = await client.post(
        f"/v1/sharing-requests/{request_id}/reconsideration", json={"grounds": GROUNDS}, headers=tokens.agency("RXT01")
    )
    assert asked.status_code == 201, asked.text
    waiting = await rita.page(request_id)
    assert GROUNDS in waiting.text and "Claim the case to decide" in waiting.text
    claim = await client.post(f"/v1/sharing-requests/{request_id}/claim", headers=api(tokens, rita))
    assert claim.status_code == 200, claim.text

    # Overturning needs the new decision: refused naming the field, the reasons kept.
    missing = await rita.post(request_id, "reconsideration", {"outcome": "overturned", "rationale": RATIONALE})
    assert missing.status_code == 422 and 'href="#reconsider-decision"' in missing.text and RATIONALE in missing.text
    await rita.done(
        request_id, "reconsideration", {"outcome": "upheld", "rationale": RATIONALE}, "Reconsideration decided"
    )
    read = await client.get(f"/v1/sharing-requests/{request_id}", headers=tokens.agency("RXT01"))
    assert read.json()["status"] == "refused"
    assert (await history(client, tokens, request_id))[-1] == ("reconsidered", rita.sub)
    assert ("reconsidered", rita.sub) in await audited(client, tokens, request_id)


async def test_an_emergency_share_is_reviewed_retrospectively_through_the_console(
    client: httpx.AsyncClient, tokens: Tokens, sign_in: SignIn, requester: str
) -> None:
    rose = await sign_in("Rose Review")
    request_id = await claimed(client, tokens, EMERGENCY, rose, "approved_with_conditions")
    page = await rose.page(request_id)
    assert "Retrospective review" in page.text and 'id="retrospective"' in page.text
    short = await rose.post(request_id, "retrospective-review", {"outcome": "upheld", "rationale": "Fine."})
    assert short.status_code == 422 and 'href="#retrospective-rationale"' in short.text
    await rose.done(
        request_id,
        "retrospective-review",
        {"outcome": "not_upheld", "rationale": RATIONALE},
        "Retrospective review recorded",
    )
    read = await client.get(f"/v1/sharing-requests/{request_id}", headers=tokens.agency("RXT01"))
    assert read.json()["retrospective_review"] == "not_upheld"
    assert (await history(client, tokens, request_id))[-1] == ("retrospective_reviewed", rose.sub)


async def test_notices_are_read_in_the_page_and_a_withheld_one_released_with_its_reason(
    client: httpx.AsyncClient, tokens: Tokens, sign_in: SignIn, requester: str
) -> None:
    nia, audrey = await sign_in("Nia Notice"), await sign_in("Audrey Auditor", Role.AUDITOR)
    request_id = await decided_by_guardian(client, tokens, PREJUDICE)
    page = await nia.page(request_id)
    assert "Withheld" in page.text and 'id="release-subject"' in page.text
    requester_notice = await nia.http.get(f"/console/cases/{request_id}/notices/requester")
    assert requester_notice.status_code == 200 and "<pre" in requester_notice.text
    assert_strict_page(requester_notice)
    preview = await nia.http.get(f"/console/cases/{request_id}/notices/subject")
    assert preview.status_code == 200 and "Withheld: do not send" in preview.text
    assert_strict_page(preview)
    # An auditor reads what the API lets them read: the person's notice stays withheld.
    assert (await audrey.http.get(f"/console/cases/{request_id}/notices/subject")).status_code == 409
    assert 'id="release-subject"' not in (await audrey.page(request_id)).text

    short = await nia.post(request_id, "notice-releases", {"audience": "subject", "why": "Now."})
    assert short.status_code == 422 and 'href="#release-subject-why"' in short.text
    refused = await nia.post(request_id, "notice-releases", {"audience": "requester", "why": WHY})
    assert refused.status_code == 422 and "never withheld" in refused.text
    released = await nia.done(request_id, "notice-releases", {"audience": "subject", "why": WHY}, "Notice released")
    assert 'id="release-subject"' not in released.text
    sent = await client.get(
        f"/v1/sharing-requests/{request_id}/notice",
        params={"audience": "subject"},
        headers=tokens.agency("RXT01"),
    )
    assert sent.status_code == 200, sent.text
    assert ("notice_released", nia.sub) in await audited(client, tokens, request_id)
    await verify(client, tokens)


def test_every_act_of_the_case_page_has_its_banner() -> None:
    """One vocabulary of what was done, for every form of the case page: each value its banner, none without."""
    assert set(BANNERS) == set(Done)
    assert not any(route.path.endswith("/deliberation") for route in deliberation.router.routes)  # the case page's
