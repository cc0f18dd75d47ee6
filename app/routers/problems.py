"""The pages that problem `type` URIs resolve to:
`/problems/{name}`, a short HTML page per problem type, without a token.

The pages are made from the problem classes themselves (title, status) and the texts below (what it means,
what to do), so a new class has a page at once; tests/test_problems.py fails until its texts are written.
"""

from dataclasses import dataclass
from functools import cache
from http import HTTPStatus

from fastapi import APIRouter, Response
from jinja2 import Environment, StrictUndefined, Template
from markupsafe import Markup, escape

from app.errors import PROBLEM_TYPE_BASE, NotFound, ProblemError
from app.routers.notices import HTML_POLICY

# slug: (what it means, what the client should do)
TEXTS: dict[str, tuple[str, str]] = {
    "internal": (
        "Something went wrong inside the service that it did not expect. Nothing was changed: "
        "the transaction of the request was rolled back.",
        "Retry later. If it happens again, tell the service's operators the time and the `instance` of the "
        "problem; the error has been logged.",
    ),
    "bad-request": (
        "The service could not read the request as sent: a query parameter the operation does not take (a misspelt "
        "filter, say, which would otherwise be ignored), a single-value parameter sent more than once, or a body that "
        "is not well-formed UTF-8 JSON. `errors` names each.",
        "Correct the parameters named in `errors` against the OpenAPI document, or send the body as JSON; retrying "
        "the request unchanged will fail the same way.",
    ),
    "unauthorized": (
        "The request carried no bearer token, or one that is expired, not yet valid, wrongly signed, "
        "or issued for another service.",
        "Get a new token from your identity provider and send it as `Authorization: Bearer <token>`.",
    ),
    "forbidden": (
        "The token is valid, but its role or organisation may not do this: an agency acts only on its own "
        "organisation's requests, and guardian, admin and auditor actions need those roles.",
        "Do not retry with the same token. Ask your organisation's administrator for the role, or act as the "
        "organisation that owns the request.",
    ),
    "role-not-honoured": (
        "The token carries a role that is the controller's own, for an organisation that may not hold it: `admin` and "
        "`auditor` are honoured only for the controller organisation, and `guardian` only for it and the guardian "
        "organisations it has configured. The refusal is logged. Any other role the token carries "
        "(such as `agency`) still works.",
        "Do not retry with the same token. Ask the controller's information governance team if your organisation's "
        "guardians should sit in its review; otherwise act with the `agency` role.",
    ),
    "not-found": (
        "There is no such resource, or it belongs to another organisation and may not be seen by the caller.",
        "Check the identifier and the path. Requests of other organisations are answered as not found on purpose.",
    ),
    "conflict": (
        "The resource is not in a state that allows this: a request already decided, claimed by another guardian, "
        "or changed by someone else at the same moment. `current_status`, when present, says the request's state; on a "
        "claim, `held_by` and `held_until` say who holds it and until when.",
        "Read the resource again, see what changed, and decide whether the action still makes sense before retrying.",
    ),
    "policy-replay-only": (
        "The policy is an edition that UK law has overtaken (uk-caldicott-baseline 2026.1 or 2027.1), or derived from "
        "one. The service keeps it to replay the decisions made under it and for dry runs by name, "
        "but never lets it decide again.",
        "Activate uk-caldicott-baseline 2028.1, or a policy derived from it (2028.2 to go on weighing evidence).",
    ),
    "replay-running": (
        "A what-if replay is already running for the caller's organisation; `detail` names it (its id, policy and "
        "start) when this process runs it. One replay per organisation at a time keeps the service answering others.",
        "Wait for the running replay to finish (it is then listed at GET /v1/policy-replays) and try again.",
    ),
    "controller-checks-open": (
        "The request is approved, but the controller's own checks (a court order seen, a statutory requirement traced "
        "to its body, section 251 support confirmed, or a person's review of a significant decision) are not all "
        "recorded done: nothing may be disclosed yet.",
        "Wait for the `sharing_request.ready_to_disclose` webhook, or read the request until `ready_to_disclose` is "
        "true; `detail` names the open checks.",
    ),
    "subject-notice-withheld": (
        "The notice to the person the information is about may not be sent yet. `errors` names each reason (location "
        "`withheld`, field the reason): `prejudice` (telling them would prejudice the purpose), `purpose` (crime "
        "prevention or safeguarding: it could alert a suspect or an abuser), `parental_responsibility` or `proxy` (it "
        "goes to a parent, attorney or deputy whom no guardian has confirmed is not implicated), `deceased` (it goes "
        "to a personal representative no guardian has named), `controller_checks_open` "
        "(a controller's check of the decision is open).",
        "Do not send the notice. A Caldicott Guardian who is not of the requesting organisation may read it with "
        "`preview=true` and release it with `POST /v1/sharing-requests/{id}/notice-releases`; `controller_checks_open` "
        "ends by itself when the last check is recorded done.",
    ),
    "precondition-failed": (
        "The `If-Match` header names a version of the resource that is no longer current: someone changed it since you "
        "read it. Nothing was changed. `current_etag`, when present, is the resource's ETag now.",
        "Read the resource again (GET), see what changed, and if your change still makes sense send it again "
        "with the new `ETag` in `If-Match`.",
    ),
    "precondition-required": (
        "This change must say which version of the resource it was made against, "
        "so that it cannot overwrite someone else's change unseen.",
        "Read the resource (GET), and send its `ETag` in an `If-Match` header with the change.",
    ),
    "validation": (
        "The request does not match the published vocabulary: a missing or unknown field, a value outside its list, "
        "a date in the wrong form. `errors` names each field and `error_count` says how many were found.",
        "Correct each field named in `errors` and send the request again; "
        "retrying it unchanged will fail the same way.",
    ),
    "method-not-allowed": (
        "The path exists, but not with this HTTP method.",
        "Check the method against the API's OpenAPI document (`/openapi.json`).",
    ),
    "not-acceptable": (
        "The `Accept` header allows none of the forms this resource is given in.",
        "Send an `Accept` header naming one of the media types the OpenAPI document lists for "
        "the operation, or none at all.",
    ),
    "too-large": (
        "The request body is larger than the service accepts for this operation.",
        "Send a smaller body: the OpenAPI document gives each operation's limit. A retry of the "
        "same body will fail the same way.",
    ),
    "rate-limited": (
        "The organisation has used its quota for this class of call (writes, reads, reports or uploads) for the "
        "current window.",
        "Wait the number of seconds `Retry-After` gives before retrying; "
        "`RateLimit` and `RateLimit-Policy` say how much is left and the quota.",
    ),
    "attachment-quota": (
        "The request already holds as many attachments as one request may (CALDICOTT_ATTACHMENTS_PER_REQUEST, 20 by "
        "default), or this file would take their bytes past CALDICOTT_ATTACHMENT_BYTES_PER_REQUEST (50 MiB by "
        "default). `quota` names the limit, `quota_limit` its value and `quota_used` what the request holds. Nothing "
        "of this upload was kept.",
        "Waiting does not help: the request is full. Send the evidence that matters most, combined into fewer files, "
        "or ask the controller's administrators whether the limit suits your evidence.",
    ),
    "attachment-day-quota": (
        "Your organisation has attached as many bytes of evidence today, midnight to midnight in London, as it may "
        "(CALDICOTT_ATTACHMENT_BYTES_PER_ORG_PER_DAY, 500 MiB by default). `quota_limit` is the limit and "
        "`quota_used` what was attached today. Nothing of this upload was kept.",
        "Send it again after the seconds `Retry-After` gives (midnight in London).",
    ),
    "unavailable": (
        "The service cannot reach its database just now. Nothing was changed.",
        "Retry after the seconds `Retry-After` gives, with backoff. The request can be sent again as it is.",
    ),
    "calendar-run-out": (
        "A response deadline would fall past the end of the active policy's bank-holiday calendar, so it cannot be "
        "counted. Nothing was recorded.",
        "Tell the controller's administrators: a policy whose calendar reaches further must be "
        "activated. Submit again once it is.",
    ),
    "schema-not-migrated": (
        "The database schema is not at the revision this version of the service needs.",
        "Tell the service's operators: they must run `caldicott migrate`. Retry after the seconds `Retry-After` gives.",
    ),
    "unsupported-media-type": (
        "The body is not in a form the operation takes: an operation that reads JSON was sent something other than "
        "`application/json`; or an upload is not a file the service accepts (a PDF, PNG, JPEG or UTF-8 plain text "
        "file, known by its content whatever its name says), or was not sent as `multipart/form-data` at all.",
        "Send JSON with `Content-Type: application/json`. Send a document as a PDF, PNG, JPEG or UTF-8 text file, in "
        "a `multipart/form-data` body; programs are refused whatever they are called.",
    ),
    "malformed-multipart": (
        "The upload is not a well-formed `multipart/form-data` body: no boundary, a part without its name, "
        "too many parts, or a body cut short.",
        "Send the file and its fields as one `multipart/form-data` body, as the OpenAPI document describes; "
        "most HTTP libraries build it for you.",
    ),
    "invalid-policy": (
        "The uploaded policy document is not valid: `errors` names each path in the document that is wrong.",
        "Correct the document at each path named and upload it again. A policy must be "
        "derived from a shipped baseline.",
    ),
    "gone": (
        "The resource existed but is gone for good: an attachment's content removed at the end of its retention, "
        "say. Its record and hash remain.",
        "Do not retry. Read the resource's record for what remains, or ask the controller for a copy "
        "if one is still held elsewhere.",
    ),
}
# For a class whose texts are not written yet: its page still answers, from its status alone.
FALLBACK = (
    "The request failed with this problem; its `detail` says why in this case.",
    "Read `detail`. Retry a 5xx problem later; correct the request before retrying a 4xx one.",
)
HEADERS = {
    "Content-Language": "en-GB",
    "Cache-Control": "public, max-age=3600",
    "Content-Security-Policy": HTML_POLICY,
    "X-Content-Type-Options": "nosniff",
}

PAGE = """<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ page.title }}: problem type</title>
<style>
body { font-family: Arial, Helvetica, sans-serif; line-height: 1.5; color: #0b0c0c; background: #fff; max-width: 44rem;
  margin: 0 auto; padding: 1rem; }
code { font-family: Consolas, monospace; background: #f3f2f1; padding: 0 0.2rem; }
dt { font-weight: bold; } dd { margin: 0 0 0.6rem 0; }
</style>
</head>
<body>
<main>
<h1>{{ page.title }}</h1>
<dl>
<dt>Problem type</dt><dd><code>{{ page.type }}</code></dd>
<dt>HTTP status</dt><dd>{{ page.status }} {{ page.reason }}</dd>
</dl>
<h2>What it means</h2>
<p>{{ page.meaning | code }}</p>
<h2>What to do</h2>
<p>{{ page.advice | code }}</p>
<p>The answer is an RFC 9457 problem document (<code>application/problem+json</code>): <code>detail</code> says
what went wrong with this request, and <code>instance</code> names the path that was asked for.</p>
</main>
</body>
</html>
"""


@dataclass(frozen=True)
class ProblemPage:
    """What the page of one problem type says."""

    type: str
    title: str
    status: int
    reason: str
    meaning: str
    advice: str


def problem_classes() -> list[type[ProblemError]]:
    """Every problem class imported so far (app.main imports them all), the base first."""
    found: list[type[ProblemError]] = [ProblemError]
    for known in found:  # the list grows as it is walked: subclasses of subclasses too
        found.extend(subclass for subclass in known.__subclasses__() if subclass not in found)
    return found


def pages() -> dict[str, ProblemPage]:
    """The page of every problem type the service's classes emit, by slug."""
    found: dict[str, ProblemPage] = {}
    for problem in problem_classes():
        meaning, advice = TEXTS.get(problem.slug, FALLBACK)
        reason = HTTPStatus(problem.status_code).phrase
        page = ProblemPage(
            PROBLEM_TYPE_BASE + problem.slug, problem.title, problem.status_code, reason, meaning, advice
        )
        found.setdefault(problem.slug, page)
    return found


def with_code(text: str) -> str:
    """The text HTML-escaped, with each `quoted` span set as code."""
    parts = str(escape(text)).split("`")
    return Markup("".join(f"<code>{part}</code>" if index % 2 else part for index, part in enumerate(parts)))


@cache
def template() -> Template:
    """The page's template, compiled once, every value escaped."""
    environment = Environment(autoescape=True, undefined=StrictUndefined)
    environment.filters["code"] = with_code
    return environment.from_string(PAGE)


router = APIRouter(tags=["problems"])


@router.get("/problems/{name}", include_in_schema=False)
async def problem_page(name: str) -> Response:
    """The page of one problem type, or 404 for a name the service does not emit."""
    page = pages().get(name)
    if page is None:
        raise NotFound("the service emits no problem type of this name")
    return Response(template().render(page=page), media_type="text/html; charset=utf-8", headers=HEADERS)
