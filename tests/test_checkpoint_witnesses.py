"""Witnesses and keys: a partner receives each checkpoint by webhook and checks it with the published key alone;
keys are made, refused and rotated."""

import base64
import json
import os
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI

from app.main import create_app
from app.platform.config import Environment
from app.services.audit import checkpoints
from app.services.audit import signing as audit_signing
from app.services.webhooks import worker as delivery
from tests.factories import register_organisation, submit
from tests.rules.baseline import changed
from tests.support import TEST_AUDIT_KEY, Tokens, cli, settings_for
from tests.test_audit import auditor, tamper
from tests.test_webhooks import register_endpoint
from tests.webhook_receiver import Receiver


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_as_a_witness(checkpoint: dict[str, object], jwk_set: dict[str, list[dict[str, str]]]) -> bool:
    """What docs/auditors/audit-trail.md shows a witness: the published key, the domain line and the canonical JSON;
    nothing of the service's code."""
    [jwk] = [key for key in jwk_set["keys"] if key["kid"] == checkpoint["kid"]]
    statement = {name: value for name, value in checkpoint.items() if name != "signature"}
    message = (
        b"caldicott-audit-checkpoint/v1\n"
        + json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    try:
        Ed25519PublicKey.from_public_bytes(b64url(jwk["x"])).verify(b64url(str(checkpoint["signature"])), message)
    except Exception:
        return False
    return True


async def test_a_partner_receives_each_checkpoint_and_checks_it_with_the_published_key_alone(
    hooks: httpx.AsyncClient, tokens: Tokens, receiver: Receiver, hook_app: FastAPI, database_url: str, tmp_path: Path
) -> None:
    await register_organisation(hooks, tokens, "RXT01")
    await register_organisation(hooks, tokens, "NSC01", type="local_authority")
    await register_endpoint(
        hooks, receiver, tokens.agency("NSC01"), event_types=["audit.checkpoint"]
    )  # a witness that sends no requests at all
    for number in range(3):
        assert (await submit(hooks, tokens, changed({"reference": f"CASE-{number}"}))).status_code == 201
    signed = await checkpoints.make(
        hook_app.state.wiring.sessionmaker,
        keys=hook_app.state.wiring.settings.audit_keys(sign=True),
        log_name="CONTROLLER",
    )
    assert signed is not None
    await delivery.drain(sessionmaker=hook_app.state.wiring.sessionmaker, settings=hook_app.state.wiring.settings)

    [received] = receiver.processed.values()  # its Standard Webhooks signature checked by the receiver
    body = received.payload
    assert (body["type"], body["data"]) == ("audit.checkpoint", signed.model_dump())
    keys = await hooks.get("/v1/audit/keys")  # no token
    assert keys.status_code == 200 and keys.headers["content-type"] == "application/jwk-set+json"
    assert check_as_a_witness(body["data"], keys.json())
    assert not check_as_a_witness(body["data"] | {"seq": body["data"]["seq"] - 1}, keys.json())

    kept = tmp_path / "received.json"
    kept.write_text(received.body.decode())
    env = {"CALDICOTT_DATABASE_URL": database_url, "CALDICOTT_AUDIT_SIGNING_KEY_FILE": str(TEST_AUDIT_KEY)}
    assert cli("audit", "verify", "--checkpoint", str(kept), cwd=tmp_path, **env).returncode == 0
    await tamper(hook_app, "DELETE FROM audit_events WHERE seq >= 3")
    refused = cli("audit", "verify", "--checkpoint", str(kept), cwd=tmp_path, **env)
    assert refused.returncode == 1 and "broken at seq 3" in refused.stderr
    found = await hooks.post("/v1/audit/verify", json={"checkpoints": [body["data"]]}, headers=auditor(tokens))
    assert (found.json()["valid"], found.json()["first_broken_seq"]) == (False, 3)


def test_keygen_makes_a_private_file_never_overwrites_it_and_rotation_keeps_old_keys(tmp_path: Path) -> None:
    first, public = tmp_path / "first.pem", tmp_path / "audit-keys.json"
    made = cli("audit", "keygen", "--out", str(first), "--public-keys", str(public), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert first.stat().st_mode & 0o777 == 0o600
    old = json.loads(made.stdout)
    assert (old["kty"], old["crv"]) == ("OKP", "Ed25519") and "d" not in old
    again = cli("audit", "keygen", "--out", str(first), cwd=tmp_path)
    assert again.returncode == 2 and "never overwritten" in again.stderr

    second = tmp_path / "second.pem"
    rotated = cli("audit", "keygen", "--out", str(second), "--public-keys", str(public), cwd=tmp_path)
    new = json.loads(rotated.stdout)
    assert [key["kid"] for key in json.loads(public.read_text())["keys"]] == [old["kid"], new["kid"]]
    keys = settings_for(
        "sqlite+aiosqlite:///:memory:", audit_signing_key_file=second, audit_public_keys_file=public
    ).audit_keys(sign=True)
    assert keys.signer is not None and keys.signer.kid == new["kid"] and set(keys.published) == {old["kid"], new["kid"]}
    with pytest.raises(ValueError, match="is not in CALDICOTT_AUDIT_PUBLIC_KEYS_FILE"):
        settings_for(
            "sqlite+aiosqlite:///:memory:", audit_signing_key_file=TEST_AUDIT_KEY, audit_public_keys_file=public
        ).audit_keys(sign=True)


async def test_old_checkpoints_still_verify_after_the_key_is_rotated(
    client: httpx.AsyncClient, tokens: Tokens, app: FastAPI, tmp_path: Path
) -> None:
    await register_organisation(client, tokens, "RXT01")
    public, new_key = tmp_path / "audit-keys.json", tmp_path / "new.pem"
    made = audit_signing.generate(new_key)
    audit_signing.write_key_set(
        public, app.state.wiring.audit_keys.published | {made.kid: made.jwk}
    )  # published before it signs
    old = await checkpoints.make(
        app.state.wiring.sessionmaker, keys=app.state.wiring.settings.audit_keys(sign=True), log_name="CONTROLLER"
    )
    await submit(client, tokens, changed({"reference": "AFTER"}))
    rotated = settings_for(
        app.state.wiring.settings.database_url, audit_signing_key_file=new_key, audit_public_keys_file=public
    )
    new = await checkpoints.make(
        app.state.wiring.sessionmaker, keys=rotated.audit_keys(sign=True), log_name="CONTROLLER"
    )
    assert old is not None and new is not None and old.kid != new.kid
    served = create_app(rotated)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=served), base_url="http://testserver") as after:
        assert {key["kid"] for key in (await after.get("/v1/audit/keys")).json()["keys"]} == {old.kid, new.kid}
        result = (await after.get("/v1/audit/verify", headers=auditor(tokens))).json()
    await served.state.wiring.engine.dispose()
    assert (result["valid"], result["checkpoints"]) == (True, 2)


def test_production_refuses_a_missing_or_shared_signing_key(tmp_path: Path) -> None:
    production = {
        "env": Environment.PRODUCTION,
        "jwks_file": tmp_path / "jwks.json",
        "subject_key": "k" * 32,
        "controller_org": "RX1",
        "controller_name": "Riverside NHS Foundation Trust",
        "jwt_secret": None,
        "console_dev_sign_in": False,
    }
    missing = settings_for(
        "postgresql+asyncpg://db/caldicott", **production, audit_signing_key_file=tmp_path / "absent.pem"
    )
    with pytest.raises(FileNotFoundError):
        missing.audit_keys(sign=True)
    assert not (tmp_path / "absent.pem").exists()  # production never makes one
    shared = tmp_path / "shared.pem"
    audit_signing.generate(shared)
    os.chmod(shared, 0o644)  # noqa: PTH101 (the mode is the point)
    with pytest.raises(ValueError, match="may be read by others"):
        settings_for("postgresql+asyncpg://db/caldicott", **production, audit_signing_key_file=shared).audit_keys(
            sign=True
        )
    os.chmod(shared, 0o440)  # noqa: PTH101 (as a Kubernetes Secret with an fsGroup mounts it)
    assert (
        settings_for("postgresql+asyncpg://db/caldicott", **production, audit_signing_key_file=shared)
        .audit_keys(sign=True)
        .signer
        is not None
    )
    with pytest.raises(ValueError, match="CALDICOTT_AUDIT_SIGNING_KEY_FILE"):
        settings_for(
            "postgresql+asyncpg://db/caldicott",
            **production,
            audit_signing_key_file=None,
            audit_public_keys_file=shared,
        ).audit_keys(sign=True)  # the API's settings cannot sign
