"""Email to people, over a real SMTP server (aiosmtpd on a free loopback port): a guardian named for an opinion or
seated on a panel, a claim about to lapse, and the guardians on duty for an emergency or overdue case; each message has
the case's link and no personal data. The acts are made through the HTTP API; the courier is the worker's."""

import asyncio
import email
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import Message
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from fastapi import FastAPI
from sqlmodel import select

from app.main import create_app
from app.models.base import utcnow
from app.models.notification import EmailKind, EmailMessage
from app.models.opinion import OpinionRequestBody
from app.models.sharing_request import SharingRequest
from app.models.vocabulary import Role
from app.platform import observability
from app.platform.config import Environment
from app.platform.observability import Metrics, ProcessRole
from app.principal import Principal
from app.services.notifications import courier, people
from app.services.review import opinions, queue
from app.services.webhooks import worker
from tests.conftest import fresh_start
from tests.factories import EMERGENCY, REFERRED, register_organisation, submit
from tests.rules.baseline import changed
from tests.support import Tokens, cli, console_client, dev_sign_in, production_settings, settings_for
from tests.test_incidents import incident, made_disclosure
from tests.test_panels import CONSENT_REFUSED, MEMBERS, REASON
from tests.test_review import set_columns
from tests.test_safeguarding_decided import CONSENTED

CONSOLE = "https://console.trust.example"
DUTY = ["caldicott@trust.example", "duty-guardian@trust.example"]
SENDER = "caldicott-service@trust.example"
INCIDENT_DESK = ["siro@trust.example", "caldicott@trust.example"]  # the duty mailbox again: written to once
# What a requester writes, and who the request is about: none of it may leave in an email.
REFERENCE = "REF-Jane-Doe-4471"
DESCRIPTION = "Records of Jane Doe for the housing team at 14 Acacia Avenue"
NHS_NUMBER = "9990000034"
QUESTION = "I propose to refuse: Jane Doe's housing team asks for more than it needs. Do you agree?"
PRIVATE = (REFERENCE, DESCRIPTION, NHS_NUMBER, "Jane", "Acacia", "Grace Guardian", "housing")


@dataclass
class Inbox:
    """What the SMTP server accepted: (envelope recipients, parsed message) per message."""

    received: list[tuple[list[str], Message]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook name)
        self.received.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def inbox(smtp_port: int) -> Iterator[Inbox]:
    """A real SMTP server on the module's port, for this test."""
    handler = Inbox()
    server = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    server.start()
    try:
        yield handler
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def mail_app(database_url: str, smtp_port: int) -> AsyncIterator[FastAPI]:
    """The app with mail on: the module's SMTP server, plain SMTP on loopback, two duty addresses."""
    application = create_app(
        settings_for(
            database_url,
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            smtp_starttls=False,
            notify_from=SENDER,
            notify_duty_addresses=",".join(DUTY),
            notify_incident_addresses=",".join(INCIDENT_DESK),
            console_url=CONSOLE,
        )
    )
    yield application
    await application.state.wiring.engine.dispose()


@pytest.fixture
async def client(mail_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    await fresh_start(mail_app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=mail_app), base_url="http://testserver") as http:
        await register_organisation(http, Tokens(mail_app.state.wiring.settings), "RXT01")
        yield http


@pytest.fixture
def tokens(mail_app: FastAPI) -> Tokens:
    return Tokens(mail_app.state.wiring.settings)


def guardian(tokens: Tokens, number: int) -> dict[str, str]:
    return tokens.headers("CONTROLLER", Role.GUARDIAN, sub=f"guardian-{number}")


def address(number: int) -> str:
    return f"guardian-{number}@trust.example"


async def signed_in(app: FastAPI, *numbers: int) -> None:
    """The guardians signed in to the console once, as its sign-in records them."""
    async with app.state.wiring.sessionmaker() as session:
        for number in numbers:
            await people.seen(
                session=session,
                sub=f"guardian-{number}",
                org="CONTROLLER",
                name="Grace Guardian",
                email=address(number),
                now=utcnow(),
            )
        await session.commit()


async def deliver(app: FastAPI, **at: Any) -> int:
    return await courier.deliver_due(
        sessionmaker=app.state.wiring.sessionmaker, settings=app.state.wiring.settings, **at
    )


async def outbox(app: FastAPI) -> list[EmailMessage]:
    async with app.state.wiring.sessionmaker() as session:
        return list((await session.exec(select(EmailMessage).order_by(EmailMessage.created_at))).all())


def private_request(**changes: Any) -> dict[str, Any]:
    """A request whose free text and identifier name someone."""
    return changed(
        {"reference": REFERENCE, "purpose.description": DESCRIPTION, "subjects.identifiers": [NHS_NUMBER]} | changes
    )


async def claimed(client: httpx.AsyncClient, tokens: Tokens, changes: dict[str, Any]) -> str:
    response = await submit(client, tokens, private_request(**changes))
    assert (response.status_code, response.json()["status"]) == (201, "awaiting_review"), response.text
    request_id = str(response.json()["id"])
    claim = await client.post(f"/v1/sharing-requests/{request_id}/claim", headers=guardian(tokens, 1))
    assert claim.status_code == 200, claim.text
    return request_id


def assert_says_only(message: Message, *, kind: EmailKind, request_id: str) -> str:
    """The message of its kind: the fixed subject, the case's link, and none of the request's text; its body."""
    body = message.get_payload(decode=True).decode().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert message["Subject"] == courier.messages.WORDING[kind].subject
    assert message["From"] == SENDER
    assert message["Auto-Submitted"] == "auto-generated"
    assert f"Open the case: {CONSOLE}/console/cases/{request_id}\n" in body
    whole = message.as_string()
    for text in PRIVATE:
        assert text not in whole, text
    return body


async def test_a_guardian_named_for_an_opinion_is_told_once_with_the_link_and_nothing_personal(
    client: httpx.AsyncClient, tokens: Tokens, mail_app: FastAPI, inbox: Inbox
) -> None:
    await signed_in(mail_app, 1, 2, 3)
    request_id = await claimed(client, tokens, REFERRED)
    asked = await client.post(
        f"/v1/sharing-requests/{request_id}/opinions/requests",
        json={
            "proposed_outcome": "refuse",
            "question": QUESTION,
            "guardian": {"sub": "guardian-2", "org": "CONTROLLER"},
        },
        headers=guardian(tokens, 1),
    )
    assert asked.status_code == 201, asked.text
    assert await deliver(mail_app) == 1
    assert await deliver(mail_app) == 0  # sent once
    [(recipients, message)] = inbox.received
    assert recipients == [address(2)] and message["To"] == address(2)
    body = assert_says_only(message, kind=EmailKind.OPINION_REQUESTED, request_id=request_id)
    assert "The case is due by " in body and QUESTION not in body
    # Asked of any guardian, nobody is named: nobody is written to.
    second = await claimed(client, tokens, REFERRED)
    anyone = await client.post(
        f"/v1/sharing-requests/{second}/opinions/requests",
        json={"proposed_outcome": "refuse", "question": QUESTION},
        headers=guardian(tokens, 1),
    )
    assert anyone.status_code == 201, anyone.text
    assert await deliver(mail_app) == 0 and len(inbox.received) == 1


async def test_each_member_seated_on_a_panel_is_told_and_the_chair_is_not(
    client: httpx.AsyncClient, tokens: Tokens, mail_app: FastAPI, inbox: Inbox
) -> None:
    await signed_in(mail_app, 1, 2, 3)
    request_id = await claimed(client, tokens, CONSENT_REFUSED)
    opened = await client.post(
        f"/v1/sharing-requests/{request_id}/panel",
        json={"reason": REASON, "members": MEMBERS},
        headers=guardian(tokens, 1),
    )
    assert opened.status_code == 201, opened.text
    assert await deliver(mail_app) == 2
    assert sorted(recipients for recipients, _ in inbox.received) == [[address(2)], [address(3)]]
    for _, message in inbox.received:
        body = assert_says_only(message, kind=EmailKind.PANEL_SEAT, request_id=request_id)
        assert "The panel's deadline is " in body and REASON not in body


async def test_a_claim_about_to_lapse_is_warned_once_and_a_renewed_claim_again(
    client: httpx.AsyncClient, tokens: Tokens, mail_app: FastAPI, inbox: Inbox
) -> None:
    await signed_in(mail_app, 1)
    request_id = await claimed(client, tokens, REFERRED)
    lapses = utcnow() + timedelta(minutes=20)  # within the 30 minutes' warning
    await set_columns(mail_app, request_id, claim_expires_at=lapses)
    assert await deliver(mail_app, now=lapses - timedelta(minutes=45)) == 0  # not yet
    assert await deliver(mail_app) == 1
    assert await deliver(mail_app) == 0  # once per claim, however often the worker looks
    [(recipients, message)] = inbox.received
    assert recipients == [address(1)]
    body = assert_says_only(message, kind=EmailKind.CLAIM_LAPSING, request_id=request_id)
    assert f"The claim lapses at {courier.messages.said(lapses)}." in body
    # The same claim with a new expiry (renewed) is another claim to warn of.
    await set_columns(mail_app, request_id, claim_expires_at=lapses + timedelta(minutes=5))
    assert await deliver(mail_app) == 1
    # A claim given back warns of nothing.
    released = await client.post(f"/v1/sharing-requests/{request_id}/release", headers=guardian(tokens, 1))
    assert released.status_code == 200, released.text
    assert await deliver(mail_app) == 0 and len(inbox.received) == 2


async def test_the_guardians_on_duty_are_told_of_an_emergency_arriving_and_of_a_case_gone_overdue(
    client: httpx.AsyncClient, tokens: Tokens, mail_app: FastAPI, inbox: Inbox
) -> None:
    emergency = await submit(client, tokens, private_request(**EMERGENCY))
    assert emergency.status_code == 201 and emergency.json()["due_at"] is not None, emergency.text
    routine = await submit(client, tokens, private_request(**REFERRED))
    assert routine.status_code == 201, routine.text  # a routine referral tells nobody as it arrives
    assert await deliver(mail_app) == 1
    [(recipients, message)] = inbox.received
    assert recipients == DUTY and message["To"] == ", ".join(DUTY)
    assert_says_only(message, kind=EmailKind.EMERGENCY_REFERRED, request_id=emergency.json()["id"])
    # The routine request's time runs out: the worker's clock flags it once, and the duty guardians hear once.
    await set_columns(mail_app, routine.json()["id"], due_at=utcnow() - timedelta(minutes=1))
    for _ in range(2):
        async with mail_app.state.wiring.sessionmaker() as session:
            await queue.flag_overdue(session=session)
            await session.commit()
    assert await deliver(mail_app) == 1
    recipients, message = inbox.received[1]
    assert recipients == DUTY
    body = assert_says_only(message, kind=EmailKind.OVERDUE, request_id=routine.json()["id"])
    assert "The case was due by " in body


async def test_the_safeguarding_leads_are_told_of_a_safeguarding_decision_and_of_no_other(
    client: httpx.AsyncClient, tokens: Tokens, mail_app: FastAPI, inbox: Inbox
) -> None:
    await signed_in(mail_app, 1)  # a guardian, whose sign-in held no lead's role
    leads = {"lead-1": "lead-1@trust.example", "lead-2": "lead-2@trust.example"}
    async with mail_app.state.wiring.sessionmaker() as session:
        for sub, email_address in leads.items():
            roles = [Role.SAFEGUARDING_LEAD] + ([Role.DPO] if sub == "lead-2" else [])
            await people.seen(
                session=session,
                sub=sub,
                org="CONTROLLER",
                name="Sam Lead",
                email=email_address,
                now=utcnow(),
                roles=roles,
            )
        await session.commit()
    other = await submit(client, tokens, private_request())  # direct care, decided by the rules
    assert other.json()["status"] == "approved", other.text
    assert await deliver(mail_app) == 0

    decided = await submit(client, tokens, private_request(**CONSENTED))
    assert decided.json()["status"] == "approved", decided.text
    assert await deliver(mail_app) == 2
    assert sorted(recipients for recipients, _ in inbox.received) == [[address] for address in sorted(leads.values())]
    for _, message in inbox.received:
        body = assert_says_only(message, kind=EmailKind.SAFEGUARDING_DECIDED, request_id=decided.json()["id"])
        assert "It was decided at " in body and "You receive it as a safeguarding lead" in body
    # The link opens the case for a lead signed in to the console (its read-only page, app/console/case.py).
    [link] = [line.removeprefix("Open the case: ") for line in body.splitlines() if line.startswith("Open the case: ")]
    async with console_client(mail_app) as console:
        await dev_sign_in(console, Role.SAFEGUARDING_LEAD, name="Sam Lead")
        opened = await console.get(link.removeprefix(CONSOLE))
    assert opened.status_code == 200, opened.text
    assert "Safeguarding adult" in opened.text and "<form" not in opened.text


async def test_an_incident_is_emailed_to_the_guardians_on_duty_and_the_siro_and_dpo_with_its_link_only(
    client: httpx.AsyncClient, tokens: Tokens, mail_app: FastAPI, inbox: Inbox
) -> None:
    body = incident(await made_disclosure(client, tokens))
    recorded = await client.post("/v1/incidents", json=body, headers=tokens.headers("CONTROLLER", Role.IAO))
    assert recorded.status_code == 201, recorded.text
    assert [(told["channel"], told["reason"]) for told in recorded.json()["told"]] == [
        ("webhook", "recorded"),
        ("email", "recorded"),
        ("webhook", "recall_requested"),
    ]
    assert await deliver(mail_app) == 1
    [(recipients, message)] = inbox.received
    assert recipients == [*DUTY, "siro@trust.example"]
    text = message.get_payload(decode=True).decode().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert message["Subject"] == courier.messages.WORDING[EmailKind.INCIDENT_RECORDED].subject
    assert f"Read the incident: {CONSOLE}/console/incidents#incident-{recorded.json()['id']}\n" in text
    assert "It must be reported to the ICO by " in text
    assert body["description"] not in message.as_string()


async def test_an_incident_is_emailed_to_the_people_who_signed_in_as_siro_or_dpo_each_address_once(
    client: httpx.AsyncClient, tokens: Tokens, mail_app: FastAPI, inbox: Inbox
) -> None:
    signed_in = [
        ("siro-1", "CONTROLLER", "risk.owner@trust.example", [Role.SIRO]),
        ("dpo-1", "CONTROLLER", "siro@trust.example", [Role.DPO, Role.AUDITOR]),  # an incident address already
        ("lead-1", "CONTROLLER", "lead@trust.example", [Role.SAFEGUARDING_LEAD]),  # not told of incidents
        ("siro-x", "RXT01", "partner.siro@partner.example", [Role.SIRO]),  # another organisation's
    ]
    async with mail_app.state.wiring.sessionmaker() as session:
        for sub, org, address, roles in signed_in:
            await people.seen(session=session, sub=sub, org=org, name=None, email=address, now=utcnow(), roles=roles)
        await session.commit()
    body = incident(await made_disclosure(client, tokens))
    recorded = await client.post("/v1/incidents", json=body, headers=tokens.headers("CONTROLLER", Role.IAO))
    assert recorded.status_code == 201, recorded.text
    assert await deliver(mail_app) == 1
    [(recipients, _)] = inbox.received
    assert recipients == [*DUTY, "siro@trust.example", "risk.owner@trust.example"]


async def test_a_rolled_back_act_sends_nothing(
    client: httpx.AsyncClient, tokens: Tokens, mail_app: FastAPI, inbox: Inbox
) -> None:
    await signed_in(mail_app, 1, 2)
    request_id = await claimed(client, tokens, REFERRED)
    async with mail_app.state.wiring.sessionmaker() as session:
        request = await session.get(SharingRequest, request_id)
        assert request is not None
        asked = await opinions.request_opinion(
            session=session,
            principal=Principal(sub="guardian-1", org="CONTROLLER", roles=frozenset({Role.GUARDIAN})),
            request=request,
            body=OpinionRequestBody.model_validate(
                {
                    "proposed_outcome": "refuse",
                    "question": QUESTION,
                    "guardian": {"sub": "guardian-2", "org": "CONTROLLER"},
                }
            ),
        )
        assert asked.guardian is not None
        await session.flush()
        assert [row.kind for row in (await session.exec(select(EmailMessage))).all()] == [
            EmailKind.OPINION_REQUESTED
        ]  # written with the act, in its transaction
        await session.rollback()
    assert await outbox(mail_app) == []
    assert await deliver(mail_app) == 0 and inbox.received == []


async def test_an_smtp_outage_is_retried_after_a_pause_and_then_delivered(
    client: httpx.AsyncClient, tokens: Tokens, mail_app: FastAPI, smtp_port: int
) -> None:
    emergency = await submit(client, tokens, private_request(**EMERGENCY))
    assert emergency.status_code == 201, emergency.text
    now, metrics = utcnow(), Metrics(process=ProcessRole.WORKER)
    with observability.counting(metrics):
        assert await deliver(mail_app, now=now) == 0  # nothing listens on the port
        [row] = await outbox(mail_app)
        assert (row.attempts, row.sent_at, row.last_error) == (1, None, "ConnectionRefusedError")
        handler = Inbox()
        server = Controller(handler, hostname="127.0.0.1", port=smtp_port)
        server.start()
        try:
            pause = timedelta(seconds=courier.RETRY_SECONDS[0])
            assert await deliver(mail_app, now=now + pause / 2) == 0  # backing off
            assert await deliver(mail_app, now=now + pause) == 1
        finally:
            server.stop()
    for result, count in (("failed", 1), ("sent", 1), ("given_up", None)):
        assert metrics.registry.get_sample_value("caldicott_email_attempts_total", {"result": result}) == count
    [(recipients, message)] = handler.received
    assert recipients == DUTY
    assert_says_only(message, kind=EmailKind.EMERGENCY_REFERRED, request_id=emergency.json()["id"])
    [row] = await outbox(mail_app)
    assert (row.attempts, row.sent_at, row.last_error) == (2, now + pause, None)


async def test_a_guardian_with_no_known_address_is_skipped_and_logged(
    client: httpx.AsyncClient, tokens: Tokens, mail_app: FastAPI, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    request_id = await claimed(client, tokens, REFERRED)
    asked = await client.post(
        f"/v1/sharing-requests/{request_id}/opinions/requests",
        json={
            "proposed_outcome": "refuse",
            "question": QUESTION,
            "guardian": {"sub": "guardian-9", "org": "CONTROLLER"},
        },
        headers=guardian(tokens, 1),
    )
    assert asked.status_code == 201, asked.text  # never an error for the guardian who asked
    with caplog.at_level(logging.WARNING, logger="caldicott.notifications"):
        assert await deliver(mail_app) == 0
    assert "no address known for guardian guardian-9 of CONTROLLER" in caplog.text
    [row] = await outbox(mail_app)
    assert row.given_up_at is not None and inbox.received == []


async def test_with_no_smtp_host_nothing_is_sent(
    client: httpx.AsyncClient, tokens: Tokens, mail_app: FastAPI, database_url: str, inbox: Inbox
) -> None:
    emergency = await submit(client, tokens, private_request(**EMERGENCY))
    assert emergency.status_code == 201, emergency.text
    off = settings_for(database_url, notify_duty_addresses=",".join(DUTY), console_url=CONSOLE)
    assert await courier.deliver_due(sessionmaker=mail_app.state.wiring.sessionmaker, settings=off) == 0
    await asyncio.sleep(0.1)
    assert inbox.received == []
    [row] = await outbox(mail_app)
    assert (row.attempts, row.sent_at) == (0, None)


async def test_the_worker_command_sends_the_mail(
    client: httpx.AsyncClient, tokens: Tokens, database_url: str, smtp_port: int, inbox: Inbox, tmp_path: Any
) -> None:
    emergency = await submit(client, tokens, private_request(**EMERGENCY))
    assert emergency.status_code == 201, emergency.text
    ran = cli(
        "worker",
        "--once",
        cwd=tmp_path,
        CALDICOTT_DATABASE_URL=database_url,
        CALDICOTT_SMTP_HOST="127.0.0.1",
        CALDICOTT_SMTP_PORT=str(smtp_port),
        CALDICOTT_SMTP_STARTTLS="false",
        CALDICOTT_NOTIFY_FROM=SENDER,
        CALDICOTT_NOTIFY_DUTY_ADDRESSES=",".join(DUTY),
        CALDICOTT_CONSOLE_URL=CONSOLE,
    )
    assert ran.returncode == 0, ran.stderr
    [(recipients, message)] = inbox.received
    assert recipients == DUTY
    assert_says_only(message, kind=EmailKind.EMERGENCY_REFERRED, request_id=emergency.json()["id"])


async def test_a_message_failing_every_retry_is_given_up(
    client: httpx.AsyncClient, tokens: Tokens, mail_app: FastAPI
) -> None:
    emergency = await submit(client, tokens, private_request(**EMERGENCY))
    assert emergency.status_code == 201, emergency.text
    now = utcnow()
    for pause in (0, *courier.RETRY_SECONDS):  # nothing listens on the port at any attempt
        now += timedelta(seconds=pause)
        assert await deliver(mail_app, now=now) == 0
    [row] = await outbox(mail_app)
    assert (row.attempts, row.given_up_at, row.sent_at) == (len(courier.RETRY_SECONDS) + 1, now, None)
    assert await deliver(mail_app, now=now + timedelta(hours=1)) == 0  # never tried again


def test_mail_needs_a_sender_and_in_production_a_console_address_and_tls_for_a_password(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="CALDICOTT_NOTIFY_FROM"):
        settings_for("sqlite+aiosqlite://", smtp_host="smtp.trust.example")
    with pytest.raises(ValueError, match="CALDICOTT_CONSOLE_URL"):
        production_settings(tmp_path, smtp_host="smtp.trust.example", notify_from=SENDER)
    with pytest.raises(ValueError, match="STARTTLS"):
        production_settings(
            tmp_path,
            smtp_host="smtp.trust.example",
            notify_from=SENDER,
            console_url=CONSOLE,
            smtp_user="caldicott",
            smtp_password="secret",
            smtp_starttls=False,
        )
    with pytest.raises(ValueError, match="notify_duty_addresses"):
        settings_for("sqlite+aiosqlite://", notify_duty_addresses="caldicott@trust.example, not an address")
    accepted = production_settings(
        tmp_path,
        smtp_host="smtp.trust.example",
        notify_from=SENDER,
        console_url=CONSOLE,
        notify_duty_addresses="caldicott@trust.example,duty@trust.example",
    )
    assert (accepted.env, accepted.notify_duty_addresses, accepted.smtp_port, accepted.smtp_starttls) == (
        Environment.PRODUCTION,
        ["caldicott@trust.example", "duty@trust.example"],
        587,
        True,
    )
    assert settings_for("sqlite+aiosqlite://").notify_claim_warning_minutes == 30


async def test_the_worker_loop_sends_the_mail_beside_the_webhooks(
    client: httpx.AsyncClient, tokens: Tokens, mail_app: FastAPI, inbox: Inbox
) -> None:
    emergency = await submit(client, tokens, private_request(**EMERGENCY))
    assert emergency.status_code == 201, emergency.text
    stop = asyncio.Event()
    wiring = mail_app.state.wiring
    running = asyncio.create_task(
        worker.run(sessionmaker=wiring.sessionmaker, settings=wiring.settings, keys=wiring.audit_keys, stop=stop)
    )
    try:
        for _ in range(500):
            if inbox.received:
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=30)
    [(recipients, message)] = inbox.received
    assert recipients == DUTY
    assert_says_only(message, kind=EmailKind.EMERGENCY_REFERRED, request_id=emergency.json()["id"])


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_the_worker_signs_in_to_a_mail_server_that_asks(
    client: httpx.AsyncClient, tokens: Tokens, mail_app: FastAPI, database_url: str, smtp_port: int
) -> None:
    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"caldicott", b"the-password"))

    emergency = await submit(client, tokens, private_request(**EMERGENCY))
    assert emergency.status_code == 201, emergency.text
    handler = Inbox()
    # Plain SMTP on loopback: aiosmtpd otherwise (rightly) offers AUTH only over TLS.
    server = Controller(
        handler,
        hostname="127.0.0.1",
        port=smtp_port,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
    )
    server.start()
    now = utcnow()
    try:
        # Without credentials the server refuses the sender; with them, the message goes.
        for credentials, pause, sent, error in (
            ({}, 0, 0, "SMTPSenderRefused: 530"),
            ({"smtp_user": "caldicott", "smtp_password": "the-password"}, courier.RETRY_SECONDS[0], 1, None),
        ):
            settings = settings_for(
                database_url,
                smtp_host="127.0.0.1",
                smtp_port=smtp_port,
                smtp_starttls=False,
                notify_from=SENDER,
                notify_duty_addresses=",".join(DUTY),
                console_url=CONSOLE,
                **credentials,
            )
            now += timedelta(seconds=pause)
            sessionmaker = mail_app.state.wiring.sessionmaker
            assert await courier.deliver_due(sessionmaker=sessionmaker, settings=settings, now=now) == sent
            [row] = await outbox(mail_app)
            assert row.last_error == error
    finally:
        server.stop()
    [(recipients, _)] = handler.received
    assert recipients == DUTY
