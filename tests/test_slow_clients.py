"""Slow and greedy clients against `caldicott serve` as it runs: a real process, spoken to over raw sockets.

A client that opens connections and sends request heads a byte at a time must not be able
to hold them for ever, nor send a head of any size; clients that are merely slow still get answers.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.platform import server
from tests.support import PROCESS_GROUP, TEST_SECRET, settings_for

REPO = Path(__file__).resolve().parents[1]
HEAD_TIMEOUT, KEEP_ALIVE, MAX_HEAD = 1, 1, 8192
GET = b"GET /healthz HTTP/1.1\r\nHost: caldicott\r\n"
pytestmark = PROCESS_GROUP  # deadlines of a second, measured against a real server


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """`caldicott serve` on a free loopback port, with short limits so the tests need not wait long."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CALDICOTT_")}
    env = clean | {
        "PYTHONPATH": str(REPO),
        "CALDICOTT_JWT_SECRET": TEST_SECRET,
        "CALDICOTT_HTTP_HEADER_TIMEOUT_SECONDS": str(HEAD_TIMEOUT),
        "CALDICOTT_HTTP_KEEP_ALIVE_SECONDS": str(KEEP_ALIVE),
        "CALDICOTT_HTTP_MAX_HEADER_BYTES": str(MAX_HEAD),
    }
    argv = [
        sys.executable,
        "-m",
        "app.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(
        argv, cwd=tmp_path_factory.mktemp("serve"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("caldicott serve did not come up")
        yield "127.0.0.1", port
    finally:
        process.terminate()
        process.wait(timeout=30)


def connect(address: tuple[str, int]) -> socket.socket:
    connection = socket.create_connection(address)
    connection.settimeout(HEAD_TIMEOUT + 5)
    return connection


def closed_after(connection: socket.socket) -> float:
    """Seconds until the server closes the connection, reading (and dropping) whatever it sends first."""
    started = time.monotonic()
    try:
        while connection.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def answer(connection: socket.socket) -> bytes:
    """One whole response to a GET /healthz (its body is short and known)."""
    received = b""
    while not received.endswith(b'{"status":"ok"}'):
        chunk = connection.recv(65536)
        assert chunk, received
        received += chunk
    return received


def test_request_heads_that_never_finish_are_dropped(serving: tuple[str, int]) -> None:
    # Fifty clients: one sends nothing, the others part of a head, then a header line now and then.
    connections = [connect(serving) for _ in range(50)]
    for connection in connections[1:]:
        connection.sendall(GET)
    time.sleep(HEAD_TIMEOUT / 2)
    for index, connection in enumerate(connections[1:]):
        connection.sendall(b"X-Slow-%d: 1\r\n" % index)
    # Meanwhile everyone else is served.
    assert httpx.get(f"http://{serving[0]}:{serving[1]}/healthz", timeout=5).status_code == 200
    waits = [closed_after(connection) for connection in connections]
    for connection in connections:
        connection.close()
    assert max(waits) < HEAD_TIMEOUT + 1, waits


def test_a_slow_but_whole_head_is_answered(serving: tuple[str, int]) -> None:
    with connect(serving) as connection:
        for piece in (GET, b"Accept: */*\r\n", b"\r\n"):
            connection.sendall(piece)
            time.sleep(HEAD_TIMEOUT / 4)
        assert answer(connection).startswith(b"HTTP/1.1 200 ")


def test_a_kept_alive_connection_gets_the_same_deadline_for_each_head(serving: tuple[str, int]) -> None:
    with connect(serving) as connection:
        connection.sendall(GET + b"\r\n")
        assert answer(connection).startswith(b"HTTP/1.1 200 ")
        connection.sendall(GET)  # the second request's head, never finished
        assert closed_after(connection) < HEAD_TIMEOUT + 1
    with connect(serving) as idle:
        idle.sendall(GET + b"\r\n")
        assert answer(idle).startswith(b"HTTP/1.1 200 ")
        assert closed_after(idle) < KEEP_ALIVE + 1  # nothing more sent: the keep-alive timeout closes it


def test_a_head_growing_past_the_limit_is_refused_and_a_token_sized_one_is_not(serving: tuple[str, int]) -> None:
    base_url = f"http://{serving[0]}:{serving[1]}"
    assert (
        httpx.get(f"{base_url}/healthz", headers={"Authorization": "Bearer " + "a" * 2000}, timeout=5).status_code
        == 200
    )
    with connect(serving) as connection:
        # More of a head than the server will hold while it waits for the rest: refused at once, not at the deadline.
        connection.sendall(GET + b"X-Big: " + b"a" * (MAX_HEAD * 2))
        started = time.monotonic()
        reply = connection.recv(65536)
        assert reply.startswith(b"HTTP/1.1 400 "), reply[:100]
        assert time.monotonic() - started < HEAD_TIMEOUT / 2


def test_the_settings_reach_uvicorn() -> None:
    settings = settings_for(
        "sqlite+aiosqlite:///:memory:",
        http_header_timeout_seconds=2.5,
        http_keep_alive_seconds=7,
        http_max_header_bytes=32768,
        http_limit_concurrency=50,
        http_graceful_shutdown_seconds=20,
    )
    options = server.uvicorn_options(settings)
    assert issubclass(options["http"], server.HeadDeadlineProtocol) and options["http"].head_timeout == 2.5
    assert (
        options["timeout_keep_alive"],
        options["h11_max_incomplete_event_size"],
        options["limit_concurrency"],
        options["timeout_graceful_shutdown"],
    ) == (
        7,
        32768,
        50,
        20,
    )
    defaults = server.uvicorn_options(settings_for("sqlite+aiosqlite:///:memory:"))
    assert (
        defaults["http"].head_timeout == 10
        and defaults["timeout_keep_alive"] == 5
        and defaults["h11_max_incomplete_event_size"] == 16384
    )
