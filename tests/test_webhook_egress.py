"""Webhook egress on real networks: the operator's allowlist of private networks and ports, the IANA special-purpose
ranges, the egress proxy, and the audit event when the allowlist changes.

The private receiver is the tests' real one (tests/webhook_receiver.py) on 127.0.0.1, the only address every test
host can reach: the service runs in development mode with the guard on (CALDICOTT_WEBHOOK_ALLOW_PRIVATE off) and
127.0.0.0/8 allowlisted explicitly; the same address without the allowlist, and with it in production (where no
allowlist opens loopback), is refused. The proxy is a small forward proxy started here on asyncio streams.
"""

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlmodel import col, select

from app.main import create_app, record_egress
from app.models.actions import WebhookAction
from app.models.audit import AuditEvent, AuditPending
from app.models.webhook import WebhookEgressRecord
from app.services.webhooks import egress
from app.services.webhooks import worker as delivery
from tests.conftest import fresh_start
from tests.factories import register_organisation, submit
from tests.rules.baseline import baseline_request
from tests.support import Tokens, production_settings, settings_for
from tests.test_webhooks import ALL_EVENTS, deliveries, drain
from tests.webhook_receiver import Receiver

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


@asynccontextmanager
async def service(database_url: str, **overrides: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The API in development mode with the guard on and these settings, over an empty database."""
    settings = settings_for(database_url, webhook_retry_schedule=[0, 0], webhook_timeout_seconds=5, **overrides)
    application = create_app(settings)
    try:
        await fresh_start(application)
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield application, client
    finally:
        await application.state.wiring.engine.dispose()


def port_of(receiver: Receiver) -> int:
    return int(receiver.base_url.rsplit(":", 1)[1])


async def register(client: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, url: str | None = None) -> Any:
    await register_organisation(client, tokens, "RXT01")
    return await client.post(
        "/v1/webhook-endpoints",
        json={"url": url or receiver.url(), "event_types": ALL_EVENTS},
        headers=tokens.agency("RXT01"),
    )


# --- Which addresses: the IANA registries, the allowlist, and what nothing opens ---

REFUSED = [
    "192.0.0.8",  # the IPv4 dummy address, in 192.0.0.0/24
    "192.0.0.1",
    "192.0.0.170",
    "192.88.99.1",  # the deprecated 6to4 relay anycast
    "192.0.2.1",
    "198.51.100.7",
    "203.0.113.9",
    "198.18.0.1",
    "100.64.0.1",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "127.0.0.1",
    "169.254.169.254",
    "0.0.0.0",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "3fff::1",  # documentation (RFC 9637), which Python's is_global lets through
    "2001:db8::1",
    "2001::1",  # Teredo
    "2001:2::1",
    "2001:10::1",
    "5f00::1",
    "64:ff9b:1::1",
    "100::1",
    "fc00::1",
    "fd00:ec2::254",
    "fe80::1",
    "ff02::1",
    "::1",
    "::",
    "::ffff:192.0.0.8",
    "::ffff:127.0.0.1",
    "2002:c000:0008::1",  # 6to4 around 192.0.0.8
    "64:ff9b::c058:6301",  # NAT64 around 192.88.99.1
    "4000::1",  # outside global unicast
]
REACHABLE = [
    "8.8.8.8",
    "93.184.215.14",
    "192.0.0.9",  # port control protocol anycast: globally reachable, though 192.0.0.0/24 is not
    "192.0.0.10",
    "192.31.196.1",
    "192.175.48.1",
    "2606:4700:4700::1111",
    "2001:1::1",
    "2001:4:112::1",
    "2001:20::1",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
]


def test_the_special_purpose_ranges_are_refused_and_what_iana_marks_reachable_is_not() -> None:
    for address in REFUSED:
        assert not egress.is_public(ipaddress.ip_address(address)), address
    for address in REACHABLE:
        assert egress.is_public(ipaddress.ip_address(address)), address


def test_the_allowlist_opens_private_networks_but_never_loopback_link_local_or_metadata(tmp_path: Path) -> None:
    opened = production_settings(
        tmp_path, webhook_allowed_networks="10.20.0.0/16, 100.64.0.0/10,fd12:3456::/32", webhook_allowed_ports="8443"
    )
    assert [str(network) for network in opened.webhook_allowed_networks] == [
        "10.20.0.0/16",
        "100.64.0.0/10",
        "fd12:3456::/32",
    ]
    for address in ["10.20.3.4", "100.64.0.1", "::ffff:10.20.3.4", "fd12:3456::9"]:
        assert egress.refusal(ipaddress.ip_address(address), settings=opened) is None, address
    for address in ["10.21.0.1", "192.168.1.1", "192.0.0.8", "100.100.100.200"]:
        assert "not a public address" in (egress.refusal(ipaddress.ip_address(address), settings=opened) or ""), address
    for network in ["127.0.0.0/8", "169.254.169.254/32", "0.0.0.0/0", "::1/128", "fe80::/64", "224.0.0.0/24"]:
        with pytest.raises(ValidationError, match="may not open"):
            production_settings(tmp_path, webhook_allowed_networks=network)
    # Settings copied past validation still cannot open them: the guard checks again.
    forced = opened.model_copy(update={"webhook_allowed_networks": [ipaddress.ip_network("127.0.0.0/8")]})
    assert "may never be allowlisted" in (egress.refusal(ipaddress.ip_address("127.0.0.1"), settings=forced) or "")


def test_the_settings_read_networks_ports_and_the_proxy_as_operators_write_them(tmp_path: Path) -> None:
    development = settings_for(
        "sqlite+aiosqlite:///:memory:",
        webhook_allowed_networks='["10.0.0.0/8"]',
        webhook_allowed_ports="8443, 9443",
        webhook_proxy="http://proxy.trust.example:3128",
    )
    assert development.webhook_allowed_ports == [8443, 9443]
    assert str(development.webhook_allowed_networks[0]) == "10.0.0.0/8"
    assert egress.allowlist_of(development) == {
        "networks": ["10.0.0.0/8"],
        "ports": [8443, 9443],
        "proxy": "http://proxy.trust.example:3128",
    }
    for bad in (
        {"webhook_allowed_networks": "10.0.0.1/8"},  # host bits set: a mistake, not a network
        {"webhook_allowed_networks": "not-a-network"},
        {"webhook_allowed_ports": "70000"},
        {"webhook_allowed_ports": "0"},
        {"webhook_proxy": "socks5://proxy.example:1080"},
    ):
        with pytest.raises(ValidationError):
            settings_for("sqlite+aiosqlite:///:memory:", **bad)
    # Development may allowlist loopback, for a receiver on the developer's machine; production may not.
    assert settings_for("sqlite+aiosqlite:///:memory:", webhook_allowed_networks="127.0.0.0/8").webhook_allowed_networks


# --- A private receiver, reached through the allowlist and refused without it ---


async def test_a_private_receiver_is_reached_through_the_allowlist(
    database_url: str, tokens: Tokens, receiver: Receiver
) -> None:
    async with service(database_url, webhook_allowed_networks=LOOPBACK, webhook_allowed_ports=[port_of(receiver)]) as (
        application,
        client,
    ):
        created = await register(client, tokens, receiver)
        assert created.status_code == 201, created.text
        receiver.secrets["/hook"] = created.json()["secret"]
        await submit(client, tokens, baseline_request())
        assert await drain(application) == 1
        [received] = receiver.received
        assert received.verified and received.payload["type"] == "sharing_request.decided"

        # The same address with the allowlist gone: refused when it is sent, as at registration.
        closed = application.state.wiring.settings.model_copy(update={"webhook_allowed_networks": []})
        await submit(client, tokens, baseline_request())
        assert await drain(application, settings=closed) == 2  # both attempts of the schedule, each refused
        assert len(receiver.received) == 1
        latest = (await deliveries(client, tokens.agency("RXT01"), created.json()["id"]))[0]
        assert latest["status"] == "failed"
        assert all(
            "127.0.0.1" in attempt["error"] and "ALLOWED_NETWORKS" in attempt["error"] for attempt in latest["attempts"]
        )


async def test_a_private_receiver_is_refused_without_the_allowlist(
    database_url: str, tokens: Tokens, receiver: Receiver, tmp_path: Path
) -> None:
    async with service(database_url, webhook_allowed_ports=[port_of(receiver)]) as (_, client):
        refused = await register(client, tokens, receiver)
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["field"] == "url" and "127.0.0.1" in error["message"] and "not a public address" in error["message"]
    # Production refuses the same address even when it is allowlisted: loopback is never opened there.
    forced = production_settings(tmp_path).model_copy(
        update={"webhook_allowed_networks": LOOPBACK, "webhook_allowed_ports": [port_of(receiver)]}
    )
    with pytest.raises(egress.DestinationRefused, match="may never be allowlisted"):
        await egress.resolve(f"https://127.0.0.1:{port_of(receiver)}/hook", settings=forced)


async def test_a_port_outside_the_set_is_refused(database_url: str, tokens: Tokens, receiver: Receiver) -> None:
    other_port = port_of(receiver) + 1 if port_of(receiver) < 65535 else port_of(receiver) - 1
    async with service(database_url, webhook_allowed_networks=LOOPBACK, webhook_allowed_ports=[other_port]) as (
        application,
        client,
    ):
        refused = await register(client, tokens, receiver)
        assert refused.status_code == 422
        [error] = refused.json()["errors"]
        assert error["field"] == "url" and f"port {port_of(receiver)} is not allowed" in error["message"]
        # At send time too: an endpoint registered while its port was allowed is refused once it is not.
        allowed = application.state.wiring.settings.model_copy(update={"webhook_allowed_ports": [port_of(receiver)]})
        await egress.check_registrable(receiver.url(), settings=allowed)
        with pytest.raises(egress.DestinationRefused, match="ALLOWED_PORTS"):
            await egress.resolve(receiver.url(), settings=application.state.wiring.settings)
    # 443 is always allowed: the check goes on to the address.
    https_only = settings_for("sqlite+aiosqlite:///:memory:")
    assert (await egress.resolve("https://8.8.8.8/hook", settings=https_only)).url.port is None


# --- The egress proxy ---


@dataclass
class ForwardProxy:
    """An HTTP forward proxy on loopback: it records each request line and relays the request to its target."""

    seen: list[str] = field(default_factory=list)
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *header_lines = head.split("\r\n")[:-2]
        self.seen.append(request_line)
        method, target, version = request_line.split(" ")
        headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in header_lines)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        upstream = httpx.URL(target)
        up_reader, up_writer = await asyncio.open_connection(upstream.host, upstream.port)
        kept = [line for line in header_lines if not line.lower().startswith(("connection:", "proxy-"))]
        forwarded = [f"{method} {upstream.raw_path.decode('ascii')} {version}", *kept, "Connection: close", "", ""]
        up_writer.write("\r\n".join(forwarded).encode("latin-1") + body)
        await up_writer.drain()
        writer.write(await up_reader.read())  # the receiver closes after its answer
        await writer.drain()
        for stream in (up_writer, writer):
            stream.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator["ForwardProxy"]:
        server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with server:
            yield self


async def test_deliveries_go_through_the_proxy_and_the_guard_still_checks_the_destination(
    database_url: str, tokens: Tokens, receiver: Receiver
) -> None:
    async with (
        ForwardProxy().running() as proxy,
        service(
            database_url,
            webhook_allowed_networks=LOOPBACK,
            webhook_allowed_ports=[port_of(receiver)],
            webhook_proxy=proxy.url,
        ) as (application, client),
    ):
        created = await register(client, tokens, receiver)
        assert created.status_code == 201, created.text
        receiver.secrets["/hook"] = created.json()["secret"]
        await submit(client, tokens, baseline_request())
        assert await drain(application) == 1
        assert proxy.seen == [f"POST {receiver.url()} HTTP/1.1"]  # through the proxy, to the receiver's URL
        [received] = receiver.received
        assert received.verified and received.headers["host"] == receiver.base_url.removeprefix("http://")

        # With the network no longer allowed, nothing reaches the proxy: the destination is checked first.
        closed = application.state.wiring.settings.model_copy(update={"webhook_allowed_networks": []})
        await submit(client, tokens, baseline_request())
        assert await drain(application, settings=closed) == 2
        assert len(proxy.seen) == 1 and len(receiver.received) == 1


async def test_the_client_takes_its_proxy_from_the_settings_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://environment-proxy.example:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://environment-proxy.example:3128")
    async with egress.new_client(settings_for("sqlite+aiosqlite:///:memory:")) as client:
        assert client._mounts == {}  # no proxy from the environment
    settings = settings_for("sqlite+aiosqlite:///:memory:", webhook_proxy="http://proxy.trust.example:3128")
    async with egress.new_client(settings) as client:
        [proxied] = client._mounts.values()
        assert proxied is not None and proxied._pool._proxy_url.host == b"proxy.trust.example"  # type: ignore[union-attr]


# --- The allowlist is audited when it changes ---


async def egress_events(application: FastAPI) -> list[tuple[str, str, str]]:
    async with application.state.wiring.sessionmaker() as session:
        chained = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == WebhookAction.EGRESS_CHANGED))
        ).all()
        pending = (
            await session.exec(select(AuditPending).where(AuditPending.action == WebhookAction.EGRESS_CHANGED))
        ).all()
    return [(str(event.target_type), event.target_id, event.outcome) for event in [*chained, *pending]]


async def test_a_changed_allowlist_is_recorded_and_audited_at_start(database_url: str) -> None:
    nothing = egress.digest_of(egress.NOTHING_OPENED)
    async with service(database_url) as (application, _):
        await record_egress(application)  # as the API starts: the default opens nothing, so nothing changed
        assert await egress_events(application) == []
        sessionmaker = application.state.wiring.sessionmaker
        first = application.state.wiring.settings.model_copy(
            update={"webhook_allowed_networks": [ipaddress.ip_network("10.20.0.0/16")], "webhook_allowed_ports": [8443]}
        )
        assert await egress.record_allowlist(sessionmaker=sessionmaker, settings=first)
        assert not await egress.record_allowlist(sessionmaker=sessionmaker, settings=first)  # unchanged: nothing
        second = first.model_copy(update={"webhook_allowed_ports": [8443, 9443]})
        assert await egress.record_allowlist(sessionmaker=sessionmaker, settings=second)
        one, two = egress.digest_of(egress.allowlist_of(first)), egress.digest_of(egress.allowlist_of(second))
        assert sorted(await egress_events(application), key=lambda event: event[2] != f"was {nothing}") == [
            ("webhook_egress", one, f"was {nothing}"),
            ("webhook_egress", two, f"was {one}"),
        ]
        async with sessionmaker() as session:
            records = (await session.exec(select(WebhookEgressRecord).order_by(col(WebhookEgressRecord.id)))).all()
        assert [(record.digest, record.allowlist["ports"]) for record in records] == [
            (one, [8443]),
            (two, [8443, 9443]),
        ]
        assert records[0].allowlist["networks"] == ["10.20.0.0/16"]


async def test_the_api_and_the_worker_record_a_changed_allowlist_as_they_start(
    database_url: str, tokens: Tokens
) -> None:
    opened = {"webhook_allowed_networks": "10.20.0.0/16", "webhook_allowed_ports": "8443"}
    async with service(database_url, **opened) as (application, _):
        await record_egress(application)  # as the API starts
        async with application.state.wiring.sessionmaker() as session:
            chained = (
                await session.exec(select(AuditEvent).where(AuditEvent.action == WebhookAction.EGRESS_CHANGED))
            ).all()
        assert [(event.actor_sub, event.target_id) for event in chained] == [
            ("system", egress.digest_of(egress.allowlist_of(application.state.wiring.settings)))
        ]
        # The worker starting next with the same allowlist finds it recorded; with another, records that.
        worker = application.state.wiring.settings.model_copy(update={"webhook_allowed_ports": [8443, 9443]})
        await delivery.record_egress(sessionmaker=application.state.wiring.sessionmaker, settings=worker)
        await delivery.record_egress(sessionmaker=application.state.wiring.sessionmaker, settings=worker)
        assert len(await egress_events(application)) == 2


# --- Hosts that are not names: xn-- labels that do not decode ---

UNDECODABLE_HOSTS = [
    "https://xn--zz.example/hook",  # not Punycode at all
    "https://xn--.example/",  # nothing after the prefix
    "https://xn--a-ecp.example",  # decodes to U+2488, which IDNA does not allow
    "https://xn--ls8h.example/hook",  # an emoji
    "https://xn--abc-.example/",  # ends with a hyphen
    "https://XN--ZZ.example/hook",  # the prefix in capitals is the same prefix
    "https://hooks.xn--zz.example:443/hook",  # a label further in
]


async def test_a_host_with_an_xn_label_that_does_not_decode_is_a_422_naming_url(
    client: httpx.AsyncClient, hooks: httpx.AsyncClient, tokens: Tokens
) -> None:
    # Each was a 500 (idna's UnicodeError, raised when httpx first reads the host), with the guard on or off.
    await register_organisation(client, tokens, "RXT01")  # both apps are on the one database
    for http in (client, hooks):  # the guard on (production's way), and off (CALDICOTT_WEBHOOK_ALLOW_PRIVATE)
        for url in UNDECODABLE_HOSTS:
            refused = await http.post(
                "/v1/webhook-endpoints", json={"url": url, "event_types": ALL_EVENTS}, headers=tokens.agency("RXT01")
            )
            assert refused.status_code == 422, (url, refused.text)
            assert refused.headers["content-type"] == "application/problem+json", url
            [error] = refused.json()["errors"]
            assert error["field"] == "url" and "xn--" in error["message"], url
        listed = await http.get("/v1/webhook-endpoints", headers=tokens.agency("RXT01"))
        assert listed.json()["items"] == []
    # A valid IDNA name still passes the parse (the guard then resolves it as any other name).
    parsed = egress.parse_url("https://xn--80akhbyknj4f.com/hook", settings=settings_for("sqlite://"))
    assert parsed.host == "испытание.com"


async def test_the_worker_refuses_an_undecodable_host_as_it_refuses_any_destination(tmp_path: Path) -> None:
    # An endpoint stored before registration checked this is refused at send time, not a crash of the worker.
    for settings in (settings_for("sqlite://"), production_settings(tmp_path)):
        for url in UNDECODABLE_HOSTS:
            with pytest.raises(egress.DestinationRefused, match="xn--"):
                await egress.resolve(url, settings=settings)
