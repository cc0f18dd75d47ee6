"""A real webhook receiver for the tests: a small ASGI app under uvicorn on loopback, in its own thread.

It checks every delivery with the `standardwebhooks` package (not our code), answers from a
script of statuses, and processes each `webhook-id` once, as a careful receiver would. An answer
can also be late, stop after its headers, or carry a body of its own, as a careless one's might.
"""

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None  # default: `answered <status>`
    delay: float = 0.0  # seconds before anything is answered
    stall: float = 0.0  # seconds between the first half of the body and the rest


class Receiver:
    """Records every request; answers the scripted statuses first, then each path's standing answer or 200;
    de-duplicates by webhook-id."""

    def __init__(self) -> None:
        self.base_url = ""
        self.secrets: dict[str, str] = {}  # path -> signing secret
        self.script: list[Answer] = []
        self.standing: dict[str, Answer] = {}  # path -> the answer once the script is used up
        self.received: list[Received] = []
        self.statuses: list[int] = []  # the status answered to each request received, in the same order
        self.processed: dict[str, Received] = {}  # webhook-id -> the first verified delivery, acted on once
        self._lock = threading.Lock()

    def url(self, path: str = "/hook") -> str:
        return self.base_url + path

    def answer(self, *answers: int | Answer) -> None:
        """Script the next answers, in order, before the default 200."""
        self.script.extend(answer if isinstance(answer, Answer) else Answer(answer) for answer in answers)

    def always(self, path: str, answer: Answer) -> None:
        """Answer every request to `path` this way once the script is used up."""
        self.standing[path] = answer

    def at(self, path: str) -> list[Received]:
        return [delivery for delivery in self.received if delivery.path == path]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        delivery = Received(
            path=scope["path"], headers=headers, body=body, verified=self._verify(scope["path"], body, headers)
        )
        with self._lock:
            self.received.append(delivery)
            answer = self.script.pop(0) if self.script else self.standing.get(delivery.path, Answer(200))
            self.statuses.append(answer.status)
            if delivery.verified and 200 <= answer.status < 300:
                self.processed.setdefault(delivery.webhook_id, delivery)
        reply = [(b"content-type", b"text/plain")] + [
            (name.lower().encode(), value.encode()) for name, value in answer.headers.items()
        ]
        body = f"answered {answer.status}".encode() if answer.body is None else answer.body
        await asyncio.sleep(answer.delay)
        await send({"type": "http.response.start", "status": answer.status, "headers": reply})
        await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
        await asyncio.sleep(answer.stall)
        await send({"type": "http.response.body", "body": body[len(body) // 2 :]})

    def _verify(self, path: str, body: bytes, headers: dict[str, str]) -> bool:
        secret = self.secrets.get(path)
        if secret is None:
            return False
        try:
            Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True


@contextmanager
def running(receiver: Receiver) -> Iterator[Receiver]:
    """Serve the receiver on 127.0.0.1 on a free port until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(receiver, loop="asyncio", http="h11", lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(1000):
        if server.started:
            break
        time.sleep(0.01)
    else:
        raise RuntimeError("the test receiver did not start")
    receiver.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield receiver
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
