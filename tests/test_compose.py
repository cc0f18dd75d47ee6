"""compose.yaml deploys as shipped: every service that runs `caldicott` gets settings production accepts.

No Docker engine here, so compose is read as compose reads it: the YAML with its merge keys (`<<: *caldicott`),
every `${...}` filled in from an operator's sample `.env`, and the image's own `CALDICOTT_ENV=production`
(Dockerfile). Each named volume becomes a folder; the one-shot `keys` service's `caldicott audit keygen` runs for
real into the folders of the volumes it mounts, and each process then loads its settings, and the audit keys it
needs, from the paths the volumes it mounts hold.
"""

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from app.cli import parser as cli_parser
from app.main import create_app
from app.platform.config import Settings
from tests.support import cli

REPO = Path(__file__).resolve().parents[1]
# What an operator puts in `.env` (compose.yaml's first lines list them).
OPERATOR_ENV = {
    "POSTGRES_PASSWORD": "a-database-password",
    "CALDICOTT_SUBJECT_KEY": "s" * 48,
    "CALDICOTT_JWKS_URL": "https://idp.example/.well-known/jwks.json",
    "CALDICOTT_JWT_ISSUER": "https://idp.example/",
    "CALDICOTT_CONTROLLER_ORG": "RX1",
    "CALDICOTT_CONTROLLER_NAME": "Riverside NHS Foundation Trust",
    "CALDICOTT_HOSTNAME": "caldicott.example.org",
}
VARIABLE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<kind>:\?|:-)(?P<rest>[^}]*))?\}")
PATH_SETTINGS = {
    name
    for name, field in Settings.model_fields.items()
    if field.annotation is not None and "Path" in str(field.annotation)
}


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's `${NAME}`, `${NAME:-default}` and `${NAME:?message}` (an error when NAME is unset), throughout."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, kind = match["name"], match["kind"]
        if env.get(name):
            return env[name]
        if kind == ":-":
            return match["rest"]
        raise AssertionError(f"compose would stop: {name} is unset ({match['rest'] or 'no default'})")

    return VARIABLE.sub(one, value).replace("$$", "$")


def compose(env: dict[str, str] = OPERATOR_ENV) -> dict[str, dict[str, Any]]:
    """The services as compose sees them with this `.env`."""
    return interpolate(yaml.safe_load((REPO / "compose.yaml").read_text()), env)["services"]


def image_environment() -> dict[str, str]:
    """The ENV of the Dockerfile's final stage (CALDICOTT_ENV=production among them), every instruction of it."""
    final = (REPO / "Dockerfile").read_text().rsplit("\nFROM ", 1)[1]
    instructions = re.findall(r"^ENV ((?:.*\\\n)*.*)$", final, re.MULTILINE)
    pairs = " ".join(instructions).replace("\\\n", " ").split()
    return {name: value.strip('"') for name, value in (pair.split("=", 1) for pair in pairs)}


def image_user() -> str:
    """The image's user and group (the last USER instruction)."""
    [*_, user] = re.findall(r"^USER\s+(\S+)\s*$", (REPO / "Dockerfile").read_text(), re.MULTILINE)
    return user


def command_line(service: dict[str, Any]) -> str:
    """The service's command; for one of our image without a command, the image's CMD (`caldicott serve`)."""
    command = service.get("command")
    if command is None:
        ours = service.get("build") == "."
        command = (
            json.loads(re.findall(r"^CMD (.+)$", (REPO / "Dockerfile").read_text(), re.MULTILINE)[0]) if ours else ""
        )
    return command if isinstance(command, str) else " ".join(command)


def runs_caldicott(service: dict[str, Any]) -> bool:
    return "caldicott" in command_line(service).split()


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """The service's named volumes: container path -> volume name (read-only or not)."""
    found = {}
    for mount in service.get("volumes", []):
        source, target = mount.split(":")[:2]
        if not source.startswith((".", "/")):
            found[target] = source
    return found


def on_host(path: str, service: dict[str, Any], volumes: Path) -> Path | None:
    """Where a container path of this service lies in the volumes' folders, or None when no volume holds it."""
    for target, volume in mounts(service).items():
        if path == target or path.startswith(target.rstrip("/") + "/"):
            return volumes / volume / Path(path).relative_to(target)
    return None


def keygen_paths(service: dict[str, Any]) -> tuple[str, str]:
    """The key and the public keys file the `keys` service's keygen writes."""
    match = re.search(r"caldicott audit keygen --out (\S+) --public-keys (\S+?);?(?:\s|$)", command_line(service))
    assert match, command_line(service)
    return match[1], match[2]


def make_keys(services: dict[str, dict[str, Any]], volumes: Path) -> None:
    """What the `keys` service does on a first start, into the volumes' folders."""
    keys = services["keys"]
    for volume in mounts(keys).values():  # Docker makes each volume, empty, before the container starts
        (volumes / volume).mkdir(exist_ok=True)
    key, public = keygen_paths(keys)
    host_key, host_public = on_host(key, keys, volumes), on_host(public, keys, volumes)
    assert host_key and host_public, "keygen writes outside the volumes: the key would be lost with the container"
    # keygen reads no settings: it starts under the image's production environment with nothing else set.
    image = {name: value for name, value in image_environment().items() if name.startswith("CALDICOTT_")}
    made = cli("audit", "keygen", "--out", str(host_key), "--public-keys", str(host_public), cwd=volumes, **image)
    assert made.returncode == 0, made.stderr


def settings_of(
    service: dict[str, Any], volumes: Path, monkeypatch: pytest.MonkeyPatch, *, drop: str | None = None
) -> Settings:
    """The settings the service's process reads from its environment, with its paths found in its volumes."""
    environment = {
        name: value
        for name, value in (image_environment() | service.get("environment", {})).items()
        if name.startswith(("CALDICOTT_", "OTEL_"))  # what the settings read; PATH and the like stay the test's
    }
    environment.pop(drop or "", None)
    for name, value in environment.items():
        if name.startswith("CALDICOTT_") and value.startswith("/"):
            host = on_host(value, service, volumes)
            assert host is not None, f"{name}={value}: no volume of the service holds it"
            environment[name] = str(host)
    for name in [name for name in os.environ if name.startswith(("CALDICOTT_", "OTEL_"))]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_every_service_that_runs_caldicott_starts_with_production_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose()
    runners = {name for name, service in services.items() if runs_caldicott(service)}
    assert runners == {"keys", "migrate", "api", "worker"}
    make_keys(services, tmp_path)
    for name in sorted(runners - {"keys"}):
        settings = settings_of(services[name], tmp_path, monkeypatch)
        assert settings.env.value == "production" and not settings.uses_sqlite, name
        for field in PATH_SETTINGS:  # every file a setting names is in one of the service's volumes
            path = getattr(settings, field)
            assert path is None or path.is_relative_to(tmp_path), (name, field, path)
        command = services[name]["command"]
        if command[:2] == ["caldicott", "worker"]:
            # The worker signs checkpoints: the key keygen made, readable by its owner alone, and published.
            keys = settings.audit_keys(sign=True)
            assert keys.signer is not None and keys.signer.kid in keys.published, name
        elif command[:2] == ["caldicott", "serve"]:
            # Its process count as `serve` reads it from the environment (CALDICOTT_WORKERS), then what it builds
            # before it touches the database, with the key set the API serves.
            workers = cli_parser().parse_args(command[1:]).workers
            assert workers == "auto" or workers >= 1, name
            app = create_app(settings)
            assert app.state.wiring.audit_keys.signer is None and app.state.wiring.audit_keys.published, name
        else:
            assert command == ["caldicott", "migrate"], name


def test_without_the_audit_keys_compose_would_not_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The failure compose shipped with (`caldicott migrate` exited 2): no setting naming the audit keys."""
    services = compose()
    make_keys(services, tmp_path)
    with pytest.raises(ValidationError, match="CALDICOTT_AUDIT_SIGNING_KEY_FILE"):
        settings_of(services["migrate"], tmp_path, monkeypatch, drop="CALDICOTT_AUDIT_PUBLIC_KEYS_FILE")
    worker = settings_of(services["worker"], tmp_path, monkeypatch, drop="CALDICOTT_AUDIT_SIGNING_KEY_FILE")
    with pytest.raises(ValueError, match="set CALDICOTT_AUDIT_SIGNING_KEY_FILE"):
        worker.audit_keys(sign=True)


def test_a_missing_operator_variable_stops_compose_before_anything_starts() -> None:
    for name in OPERATOR_ENV:
        with pytest.raises(AssertionError, match=f"{name} is unset"):
            compose({key: value for key, value in OPERATOR_ENV.items() if key != name})


def test_the_signing_key_is_the_workers_alone_and_made_once() -> None:
    services = compose()
    key, public = keygen_paths(services["keys"])
    holders = {name for name, service in services.items() if on_host(key, service, Path("/volumes")) is not None}
    assert holders == {"keys", "worker"}, "only the worker (and the one-shot that makes it) may mount the signing key"
    assert services["worker"]["environment"]["CALDICOTT_AUDIT_SIGNING_KEY_FILE"] == key
    assert "CALDICOTT_AUDIT_SIGNING_KEY_FILE" not in services["api"]["environment"]
    for name in ("migrate", "api", "worker"):
        assert services[name]["environment"]["CALDICOTT_AUDIT_PUBLIC_KEYS_FILE"] == public, name
        assert all(
            mount.endswith(":ro") for mount in services[name]["volumes"] if mount.split(":")[0].startswith("audit-")
        ), name
    # A restart keeps the key (keygen refuses to overwrite, so it is not even tried), and the files end as the
    # image's user's, the key readable by it alone (production refuses a key others may read).
    script = shlex.split(services["keys"]["command"][-1].replace(";", " ; "))
    assert script[:5] == ["set", "-e", ";", "test", "-e"] and script[5] == key and script[6] == "||"
    assert f"chown {image_user()} {key} {public}" in " ".join(script)
    assert f"chmod 0600 {key}" in " ".join(script)
    assert services["keys"]["restart"] == "no" and services["keys"]["healthcheck"] == {"disable": True}
    assert services["migrate"]["depends_on"]["keys"] == {"condition": "service_completed_successfully"}


def test_a_rotated_subject_key_reaches_every_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset, the later subject keys are none; set in `.env`, every process hashes with the newest and still finds
    hashes made with the first (docs/operators/keys.md)."""
    services = compose()
    make_keys(services, tmp_path)
    assert settings_of(services["api"], tmp_path, monkeypatch).subject_keyring.current == 1
    rotated = compose(OPERATOR_ENV | {"CALDICOTT_SUBJECT_KEYS": "2:" + "t" * 40})
    for name in ("migrate", "api", "worker"):
        keyring = settings_of(rotated[name], tmp_path, monkeypatch).subject_keyring
        assert (keyring.current, sorted(keyring.keys)) == (2, [1, 2]), name
