"""A webhook receiver for the resilience check and the webhook benchmark:
a small ASGI app under uvicorn, in its own process.

It checks each delivery's signature with the `standardwebhooks` package (not our code),
answers 204 (and a GET, the readiness probe, 200), and appends one JSON line per delivery to a log file (which survives
the receiver being killed and started again): its name, the `webhook-id`, whether the
signature verified, the event's type, request id and `timestamp` (when the event was written), and
`received_at`, the Unix time the delivery's body had arrived. Each line is fsynced unless
`--no-fsync` (the benchmark's, so that the disk does not set the delivery rate).

    .venv/bin/python -m bench.receiver --name a --port 9001 --secret whsec_... --log received.jsonl [--no-fsync]
"""

import argparse
import json
import os
import time
from typing import Any

import uvicorn
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


def receiver(*, name: str, secret: str, log_path: str, fsync: bool = True) -> Any:
    """The ASGI app: verify, record, answer 204."""
    checker = Webhook(secret)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":  # the readiness probe
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ready"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        received_at = time.time()
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        try:
            checker.verify(body, headers)
            verified = True
        except WebhookVerificationError:
            verified = False
        payload = json.loads(body) if body else {}
        line = {
            "receiver": name,
            "webhook_id": headers.get("webhook-id"),
            "verified": verified,
            "type": payload.get("type"),
            "request_id": payload.get("data", {}).get("id"),
            "timestamp": payload.get("timestamp"),
            "received_at": received_at,
        }
        with open(log_path, "a") as log:
            log.write(json.dumps(line) + "\n")
            log.flush()
            if fsync:
                os.fsync(log.fileno())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--no-fsync", action="store_true", help="do not fsync each line (the benchmark: the disk is not what is measured)")
    args = parser.parse_args()
    app = receiver(name=args.name, secret=args.secret, log_path=args.log, fsync=not args.no_fsync)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, lifespan="off")


if __name__ == "__main__":
    main()
