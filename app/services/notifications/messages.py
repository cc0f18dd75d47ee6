"""The words of each notification: a fixed subject and body per kind, a link to the case in the console and the time
that matters, and nothing else. No name, purpose, identifier or requester's text is ever put in a message: email
leaves the service's control, so it says only that there is something to see, and where."""

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage as Message
from email.utils import format_datetime, make_msgid

from app.models.base import LONDON
from app.models.notification import EmailKind


@dataclass(frozen=True)
class Wording:
    subject: str
    opening: str
    when: str  # how the message names its time: "{time}" is replaced by it
    reader: str = "a Caldicott Guardian"  # why the reader is sent it


WORDING = {
    EmailKind.OPINION_REQUESTED: Wording(
        subject="A case needs your opinion",
        opening="A Caldicott Guardian has asked for your opinion on a case before deciding it.",
        when="The case is due by {time}.",
    ),
    EmailKind.PANEL_SEAT: Wording(
        subject="You are on a panel for a case",
        opening="You have been seated on a panel of Caldicott Guardians to decide a case. Please read it and vote.",
        when="The panel's deadline is {time}.",
    ),
    EmailKind.CLAIM_LAPSING: Wording(
        subject="Your claim on a case lapses soon",
        opening="You hold the claim on a case. Renew the claim or decide the case, or it goes back to the queue.",
        when="The claim lapses at {time}.",
    ),
    EmailKind.EMERGENCY_REFERRED: Wording(
        subject="An emergency case is in the guardian queue",
        opening="An emergency case has arrived in the guardian queue and needs a Caldicott Guardian.",
        when="The case is due by {time}.",
    ),
    EmailKind.OVERDUE: Wording(
        subject="A case in the guardian queue is overdue",
        opening="A case in the guardian queue has passed its response time without a decision.",
        when="The case was due by {time}.",
    ),
    EmailKind.SAFEGUARDING_DECIDED: Wording(
        subject="A safeguarding case has been decided",
        opening="A case whose purpose is safeguarding (a child, or an adult at risk) has been decided.",
        when="It was decided at {time}.",
        reader="a safeguarding lead",
    ),
    EmailKind.INCIDENT_RECORDED: Wording(
        subject="An incident with a disclosure was recorded",
        opening="An incident with data the controller disclosed was recorded, or graded as reportable to the ICO. "
        "You are told as the SIRO, the DPO or a guardian on duty.",
        when="It must be reported to the ICO by {time} (72 hours from awareness).",
    ),
}

CLOSING = (
    "This message holds no details of the case: sign in to the console to read them.\n"
    "You receive it as {reader} of this service; please do not reply."
)


def case_link(console_url: str, request_id: str) -> str:
    """The console's page of the case."""
    return f"{console_url.rstrip('/')}/console/cases/{request_id}"


def said(when: datetime) -> str:
    """A time as people in the UK read it, with its zone: 14:30 GMT on Tuesday 8 December 2026."""
    local = when.astimezone(LONDON)
    return f"{local:%H:%M} {local.tzname()} on {local:%A} {local.day} {local:%B %Y}"


def compose(
    *,
    kind: EmailKind,
    request_id: str,
    due_at: datetime | None,
    console_url: str,
    sender: str,
    recipients: list[str],
    now: datetime,
    incident_id: str | None = None,
) -> Message:
    """The plain-text message of one notification."""
    wording = WORDING[kind]
    if incident_id is not None:  # no console page for incidents yet: the API's, read with a token of the controller
        link = f"Read the incident: {console_url.rstrip('/')}/console/incidents#incident-{incident_id}"
    else:
        link = f"Open the case: {case_link(console_url, request_id)}"
    lines = [wording.opening, "", link]
    if due_at is not None:
        lines.append(wording.when.format(time=said(due_at)))
    message = Message()
    message["Subject"] = wording.subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to it
    message.set_content("\n".join([*lines, "", CLOSING.format(reader=wording.reader)]) + "\n")
    return message
