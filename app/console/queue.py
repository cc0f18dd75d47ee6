"""The guardian's queue: the same listing, filters and cursor as `GET /v1/review-queue`, as a page.

The filters are a GET form, so a filtered queue is an address a guardian can keep, and it works without JavaScript.
A person is the exception: their NHS number must never be in an address (a proxy's log, the browser's history, a
Referer). Their number is posted to `/console/queue/person`, which hashes it with the subject keys as requests' own
identifiers are hashed (app/canonical.py) and sends the browser to the queue with only those keyed hashes in the
address (`person=<key version>:<hash>`, one per configured key, so rows not yet re-keyed are found too). The number
itself is never stored, logged or written back into a page: the page says "a person", and a new search starts empty.
"""

import re
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from app.http.dependencies import PageCursor, SettingsDep
from app.http.session import SessionDep
from app.models.base import STORABLE_TEXT
from app.models.organisation import ORGANISATION_CODE
from app.models.review import QueuePage, ReviewKind
from app.models.vocabulary import PurposeCategory, RequestStatus, Urgency
from app.services.review import queue as review_queue

from .auth import CheckedForm, GuardianUser
from .pages import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
# A person's keyed hash under one key version, as the address carries it.
PERSON_TOKEN = re.compile(r"^[0-9]{1,6}:[0-9a-f]{64}$")
MAX_IDENTIFIER = 64

Blank = Literal[""]


# Vocabulary words that are initials, written as such.
INITIALS = {"dpia": "DPIA", "nhs": "NHS", "uk": "UK", "dspt": "DSPT", "gdpr": "GDPR", "isa": "ISA"}


def words(value: object) -> str:
    """A vocabulary value as words: `direct_care` reads "Direct care", `dpia` "DPIA"."""
    text = " ".join(INITIALS.get(word, word) for word in str(value).split("_"))
    return text[:1].upper() + text[1:]


def options(enum: type[StrEnum], current: object, blank: str) -> list[dict[str, object]]:
    """A select's items: a blank one first, then every value of the vocabulary, the current one selected."""
    return [{"value": "", "text": blank}] + [
        {"value": member.value, "text": words(member.value), "selected": member == current} for member in enum
    ]


def show(
    request: Request,
    *,
    kept: dict[str, str],
    person: list[str],
    errors: list[dict[str, str]],
    page: QueuePage | None = None,
    person_error: str | None = None,
) -> Response:
    """The queue page: the filters as sent (the person only as "a person"), the errors, and a page of the queue."""
    kept_query = [(name, value) for name, value in kept.items() if value] + [("person", token) for token in person]
    next_page = None
    if page is not None and page.next_cursor:
        next_page = "/console/queue?" + urlencode([*kept_query, ("cursor", page.next_cursor)])
    return render(
        request,
        "queue.jinja",
        status_code=400 if errors else 200,
        page=page,
        errors=errors,
        person_error=person_error,
        filters=kept,
        filtered=bool(kept_query),
        person=person,
        without_person="/console/queue?" + urlencode([(name, value) for name, value in kept.items() if value]),
        next_page=next_page,
        purposes=options(PurposeCategory, kept.get("purpose"), "Any purpose"),
        urgencies=options(Urgency, kept.get("urgency"), "Any urgency"),
        statuses=options(RequestStatus, kept.get("status"), "Any status"),
        kinds=options(ReviewKind, kept.get("kind"), "Any kind"),
        words=words,
    )


def person_hashes(tokens: list[str]) -> dict[int, str] | None:
    """The person's keyed hash under each key version, from the address; None if a token is not one."""
    hashes = {}
    for token in tokens:
        if not PERSON_TOKEN.match(token):
            return None
        version, hashed = token.split(":")
        hashes[int(version)] = hashed
    return hashes


@router.get("/console/queue")
async def queue_page(
    request: Request,
    session: SessionDep,
    user: GuardianUser,
    requester: Annotated[str, Query(max_length=32)] = "",
    reference: Annotated[str, Query(max_length=200)] = "",
    purpose: PurposeCategory | Blank = "",
    urgency: Urgency | Blank = "",
    status: RequestStatus | Blank = "",
    kind: ReviewKind | Blank = "",
    person: Annotated[list[str] | None, Query(max_length=10)] = None,
    cursor: PageCursor = None,
) -> Response:
    """The queue, most urgent first, narrowed by the filters the form sends."""
    requester, reference, person = requester.strip(), reference.strip(), person or []
    kept = {
        "requester": requester,
        "reference": reference,
        "purpose": purpose,
        "urgency": urgency,
        "status": status,
        "kind": kind,
    }
    errors = []
    if requester and not re.match(ORGANISATION_CODE, requester):
        errors.append({"text": "Enter an organisation code: letters, digits, dots or dashes", "href": "#requester"})
    if reference and not re.match(STORABLE_TEXT, reference):
        errors.append({"text": "Enter the reference as the requester wrote it", "href": "#reference"})
    hashes = person_hashes(person)
    if hashes is None:
        errors.append({"text": "Search for the person again: the address was changed", "href": "#nhs-number"})
    if errors:
        return show(request, kept=kept, person=[], errors=errors)
    filters = review_queue.QueueFilters(
        status=RequestStatus(status) if status else None,
        urgency=Urgency(urgency) if urgency else None,
        purpose=PurposeCategory(purpose) if purpose else None,
        review=ReviewKind(kind) if kind else None,
        requester=requester or None,
        reference=reference or None,
        person=hashes or {},
    )
    page = await review_queue.queue(session=session, filters=filters, cursor=cursor, limit=PAGE_SIZE)
    return show(request, kept=kept, person=person, errors=[], page=page)


@router.post("/console/queue/person")
async def find_person(request: Request, settings: SettingsDep, user: GuardianUser, form: CheckedForm) -> Response:
    """Hash the NHS number posted and show the queue of the requests naming that person: the address carries only the
    keyed hashes, and the number is written nowhere."""
    identifier = form.get("nhs_number")
    if not isinstance(identifier, str) or not identifier.strip() or len(identifier) > MAX_IDENTIFIER:
        text = "Enter the person's NHS number or local identifier (up to 64 characters)"
        return show(request, kept={}, person=[], errors=[{"text": text, "href": "#nhs-number"}], person_error=text)
    hashes = settings.subject_keyring.every_hash(identifier)
    query = urlencode([("person", f"{version}:{hashed}") for version, hashed in sorted(hashes.items())])
    return RedirectResponse(f"/console/queue?{query}", status_code=303)
