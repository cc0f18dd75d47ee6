"""Where webhooks may go: the SSRF guard, the operator's allowlist of private networks and ports, the egress proxy,
and the audit event when the allowlist changes.

One guard serves registration and every send: `resolve` parses the URL, resolves its host once, checks every
address and the port, and returns the address to connect to. An address is sent to when it is globally reachable
(the IANA special-purpose registries below) or inside a network of CALDICOTT_WEBHOOK_ALLOWED_NETWORKS; a port when
it is 443 or in CALDICOTT_WEBHOOK_ALLOWED_PORTS. Production never opens loopback, link-local (the cloud metadata
service), "this network", multicast or broadcast, whatever the allowlist says; development may allowlist loopback
for a local receiver, and CALDICOTT_WEBHOOK_ALLOW_PRIVATE (development only) lifts the guard altogether.
"""

import asyncio
import hashlib
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

import httpx
import idna
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.canonical import canonical_json
from app.errors import InvalidInput
from app.models.webhook import WebhookEgressRecord
from app.platform.config import Environment, Settings
from app.services.audit import events

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
HTTPS_PORT = 443
NAT64 = ipaddress.ip_network("64:ff9b::/96")
GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
# First key of the advisory lock that serialises the allowlist's recording between processes starting at once ("WHEG").
EGRESS_LOCK_KEY = 0x57484547

# The IANA IPv4 and IPv6 Special-Purpose Address Registries
# (https://www.iana.org/assignments/iana-ipv4-special-registry, .../iana-ipv6-special-registry, as of 2025), each
# block with its "Globally Reachable" column (N/A counted as not), and the multicast blocks of the multicast
# registries. The most specific block an address falls in decides: 192.0.0.9 is reachable though 192.0.0.0/24 is not.
# Python's `is_global` is not used: its lists lag the registry (3fff::/20, 192.88.99.0/24, 192.0.0.8 get through).
SPECIAL_PURPOSE: tuple[tuple[Network, bool], ...] = tuple(
    (ipaddress.ip_network(block), reachable)
    for block, reachable in (
        ("0.0.0.0/8", False),  # "this network"
        ("10.0.0.0/8", False),  # private use
        ("100.64.0.0/10", False),  # shared address space (carrier-grade NAT)
        ("127.0.0.0/8", False),  # loopback
        ("169.254.0.0/16", False),  # link local, the cloud metadata service's 169.254.169.254 among them
        ("172.16.0.0/12", False),  # private use
        ("192.0.0.0/24", False),  # IETF protocol assignments (192.0.0.8, the dummy address, among them)
        ("192.0.0.9/32", True),  # port control protocol anycast
        ("192.0.0.10/32", True),  # traversal using relays around NAT anycast
        ("192.0.2.0/24", False),  # documentation (TEST-NET-1)
        ("192.31.196.0/24", True),  # AS112-v4
        ("192.52.193.0/24", True),  # automatic multicast tunnelling
        ("192.88.99.0/24", False),  # deprecated 6to4 relay anycast
        ("192.168.0.0/16", False),  # private use
        ("192.175.48.0/24", True),  # direct delegation AS112 service
        ("198.18.0.0/15", False),  # benchmarking
        ("198.51.100.0/24", False),  # documentation (TEST-NET-2)
        ("203.0.113.0/24", False),  # documentation (TEST-NET-3)
        ("224.0.0.0/4", False),  # multicast
        ("240.0.0.0/4", False),  # reserved
        ("255.255.255.255/32", False),  # limited broadcast
        ("::/128", False),  # unspecified
        ("::1/128", False),  # loopback
        ("::ffff:0:0/96", False),  # IPv4-mapped: judged by the IPv4 address inside (`embedded`)
        ("64:ff9b::/96", True),  # IPv4-IPv6 translation: judged by the IPv4 address inside
        ("64:ff9b:1::/48", False),  # local-use IPv4-IPv6 translation
        ("100::/64", False),  # discard-only
        ("100:0:0:1::/64", False),  # dummy IPv6 prefix
        ("2001::/23", False),  # IETF protocol assignments
        ("2001::/32", False),  # Teredo
        ("2001:1::1/128", True),  # port control protocol anycast
        ("2001:1::2/128", True),  # traversal using relays around NAT anycast
        ("2001:1::3/128", True),  # DNS-SD service registration protocol anycast
        ("2001:2::/48", False),  # benchmarking
        ("2001:3::/32", True),  # automatic multicast tunnelling
        ("2001:4:112::/48", True),  # AS112-v6
        ("2001:10::/28", False),  # deprecated ORCHID
        ("2001:20::/28", True),  # ORCHIDv2
        ("2001:30::/28", True),  # drone remote ID protocol entity tags
        ("2001:db8::/32", False),  # documentation
        ("2002::/16", False),  # 6to4: judged by the IPv4 address inside
        ("2620:4f:8000::/48", True),  # direct delegation AS112 service
        ("3fff::/20", False),  # documentation
        ("5f00::/16", False),  # segment routing (SRv6) SIDs
        ("fc00::/7", False),  # unique local
        ("fe80::/10", False),  # link-local unicast
        ("ff00::/8", False),  # multicast
    )
)
# What no allowlist opens in production: the host itself, its link (where cloud metadata services answer), "this
# network", multicast and broadcast; an allowlisted network overlapping one of these stops production from starting.
NEVER_ALLOWED: tuple[Network, ...] = tuple(
    ipaddress.ip_network(block)
    for block in (
        "0.0.0.0/8",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "224.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "::1/128",
        "fe80::/10",
        "ff00::/8",
    )
)
# Cloud metadata services inside ranges an allowlist may open (Alibaba's in shared address space, AWS's IPv6 one in
# unique-local space): refused one by one, whatever network around them is allowed.
METADATA_HOSTS: tuple[Network, ...] = tuple(
    ipaddress.ip_network(block) for block in ("100.100.100.200/32", "fd00:ec2::254/128")
)


class DestinationRefused(Exception):
    """A webhook URL this service will not send to."""


@dataclass(frozen=True, slots=True)
class Destination:
    """Where to connect: the checked address in the URL, the real host in the Host header and TLS SNI."""

    url: httpx.URL
    host_header: str
    sni_hostname: str | None


def embedded(address: Address) -> Address:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), which is where it leads; else the address."""
    if isinstance(address, ipaddress.IPv6Address):
        inside = address.ipv4_mapped or address.sixtofour
        if inside is None and address in NAT64:
            inside = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inside is not None:
            return inside
    return address


def is_public(address: Address) -> bool:
    """Globally reachable by the IANA registries, however written; IPv6 only within global unicast (2000::/3)."""
    address = embedded(address)
    blocks = [(block, reachable) for block, reachable in SPECIAL_PURPOSE if address in block]
    if blocks:
        return max(blocks, key=lambda entry: entry[0].prefixlen)[1]
    return isinstance(address, ipaddress.IPv4Address) or address in GLOBAL_UNICAST


def never_allowed(network: Network) -> bool:
    """Whether an allowlisted network would open something production never sends to."""
    return any(network.overlaps(never) for never in NEVER_ALLOWED if never.version == network.version)


def refusal(address: Address, *, settings: Settings) -> str | None:
    """Why deliveries may not go to this address, or None when they may."""
    target = embedded(address)
    if settings.env is Environment.PRODUCTION and any(
        target in never for never in (*NEVER_ALLOWED, *METADATA_HOSTS) if never.version == target.version
    ):
        return f"the host resolves to {address}, which is not a public address and may never be allowlisted"
    if is_public(target) or any(target in network for network in settings.webhook_allowed_networks):
        return None
    return (
        f"the host resolves to {address}, which is not a public address "
        "and not in a network the operator allowed (CALDICOTT_WEBHOOK_ALLOWED_NETWORKS)"
    )


def parse_url(url: str, *, settings: Settings) -> httpx.URL:
    """A URL we could send to: http(s) with a host and no credentials; https only in production."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, UnicodeError):
        raise DestinationRefused("not a valid URL") from None
    if not _decodes(parsed.raw_host.decode("ascii")):
        raise DestinationRefused("the host has an xn-- (punycode) label that is not a valid IDNA name")
    allowed = {"https"} if settings.env is Environment.PRODUCTION else {"http", "https"}
    if parsed.scheme not in allowed:
        raise DestinationRefused(f"the scheme must be {' or '.join(sorted(allowed))}")
    if not parsed.host:
        raise DestinationRefused("the URL has no host")
    if parsed.userinfo:
        raise DestinationRefused("credentials in the URL are not allowed; deliveries are signed instead")
    return parsed


def _decodes(host: str) -> bool:
    """Whether every xn-- label of the host is a valid IDNA A-label.

    httpx decodes a host whose first label is one when the host is first read (and raised a UnicodeError there: a 500);
    one further in reached the resolver as it was. Both are checked here, with the library httpx decodes with.
    """
    for label in host.split("."):
        if label[:4].lower() == "xn--":
            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError):
                return False
    return True


def port_of(parsed: httpx.URL) -> int:
    return parsed.port or (HTTPS_PORT if parsed.scheme == "https" else 80)


async def resolve(url: str, *, settings: Settings) -> Destination:
    """Resolve the URL's host once and check every address and the port; the first address is the one to connect to
    (through the proxy, when one is set, the proxy connects to the host by name: see `new_client`)."""
    parsed = parse_url(url, settings=settings)
    host, port = parsed.raw_host.decode("ascii"), port_of(parsed)
    try:
        answers = await asyncio.to_thread(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise DestinationRefused(f"the host {host!r} does not resolve") from None
    addresses = [ipaddress.ip_address(str(answer[4][0]).split("%")[0]) for answer in answers]
    if not addresses:
        raise DestinationRefused(f"the host {host!r} does not resolve")
    if not settings.webhook_allow_private:
        # Every answer must pass: a name that also resolves inward could be re-resolved inward later.
        for address in addresses:
            if (why := refusal(address, settings=settings)) is not None:
                raise DestinationRefused(why)
        if port != HTTPS_PORT and port not in settings.webhook_allowed_ports:
            raise DestinationRefused(
                f"port {port} is not allowed: receivers listen on 443 or a port the operator allowed "
                "(CALDICOTT_WEBHOOK_ALLOWED_PORTS)"
            )
    literal = _is_ip_literal(host)
    if settings.webhook_proxy is not None:
        # A proxy's CONNECT names the host, so TLS checks the receiver's certificate for that name.
        return Destination(url=parsed, host_header=parsed.netloc.decode("ascii"), sni_hostname=None)
    return Destination(
        url=parsed.copy_with(host=str(addresses[0])),
        host_header=parsed.netloc.decode("ascii"),
        sni_hostname=None if literal or parsed.scheme != "https" else host,
    )


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def check_registrable(url: str, *, settings: Settings) -> None:
    """Refuse, as a 422 naming `url`, a URL the worker would refuse to send to: the same checks as every send."""
    try:
        if settings.webhook_allow_private:
            parse_url(url, settings=settings)
        else:
            await resolve(url, settings=settings)
    except DestinationRefused as refused:
        raise InvalidInput("url", str(refused)) from None


def new_client(settings: Settings) -> httpx.AsyncClient:
    """The worker's client: no redirects, no proxy from the environment (only CALDICOTT_WEBHOOK_PROXY), no reused
    connections."""
    # No keep-alive: a pooled connection is keyed by address, and TLS was checked for one host name.
    proxy = str(settings.webhook_proxy) if settings.webhook_proxy is not None else None
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        proxy=proxy,
        timeout=settings.webhook_timeout_seconds,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


# --- The allowlist's record: audited when it changes ---


def allowlist_of(settings: Settings) -> dict[str, Any]:
    """What the operator opened: networks, ports, and the proxy (its host and port only: never its credentials)."""
    proxy = None
    if settings.webhook_proxy is not None:
        proxy = f"{settings.webhook_proxy.scheme}://{settings.webhook_proxy.host}:{settings.webhook_proxy.port}"
    return {
        "networks": sorted(str(network) for network in settings.webhook_allowed_networks),
        "ports": sorted(set(settings.webhook_allowed_ports)),
        "proxy": proxy,
    }


def digest_of(allowlist: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(allowlist)).hexdigest()


# What a database that never recorded one had: nothing opened.
NOTHING_OPENED = {"networks": [], "ports": [], "proxy": None}


async def record_allowlist(*, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> bool:
    """At start: if the allowlist differs from the last one recorded, record it and audit the change (old and new by
    digest; the record keeps each one's text). Whether it changed."""
    allowlist = allowlist_of(settings)
    async with sessionmaker() as session, session.begin():
        connection = await session.connection()
        if connection.dialect.name == "postgresql":
            # The API and the worker may start at once: one records the change, the other then finds it recorded.
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EGRESS_LOCK_KEY})
        last = (
            await session.exec(select(WebhookEgressRecord).order_by(col(WebhookEgressRecord.id).desc()).limit(1))
        ).first()
        previous = last.digest if last is not None else digest_of(NOTHING_OPENED)
        current = digest_of(allowlist)
        if current == previous:
            return False
        session.add(WebhookEgressRecord(allowlist=allowlist, digest=current))
        await session.flush()
        await events.webhook_egress_changed(session=session, digest=current, previous=previous)
    return True
