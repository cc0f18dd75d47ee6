"""A cheap guard on the container files, read as text (no Docker engine here): not a substitute for building them.

The Caddyfile is read as text, and by Caddy's own adapter where caddy is installed."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.http.limits import MAX_BODY_BYTES, streams_its_own_body
from app.http.multipart import FORM_OVERHEAD
from app.platform.config import Settings

REPO = Path(__file__).resolve().parents[1]
CADDYFILE = REPO / "deploy" / "Caddyfile"
CADDY = shutil.which("caddy")
MIGRATION_DONE = {"migrate": {"condition": "service_completed_successfully"}}


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) per instruction, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile()
    last_from = max(index for index, (instruction, _) in enumerate(instructions) if instruction == "FROM")
    return instructions[last_from:]


def exec_form(arguments: str) -> list[str]:
    return json.loads(arguments)


def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "compose.yaml").read_text())


def test_the_image_is_multi_stage_slim_and_runs_as_a_numeric_non_root_user() -> None:
    bases = [arguments.split()[0] for instruction, arguments in dockerfile() if instruction == "FROM"]
    assert len(bases) == 2 and all(re.fullmatch(r"python:3\.\d+-slim", base) for base in bases)
    final = final_stage()
    [user] = [arguments for instruction, arguments in final if instruction == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    # Only the built virtualenv comes across; nothing is compiled or installed from an index in the final stage.
    runs = " ".join(arguments for instruction, arguments in final if instruction == "RUN")
    assert "pip install" not in runs and "apt-get" not in runs
    copies = [arguments for instruction, arguments in final if instruction == "COPY"]
    assert any(arguments.startswith("--from=build") for arguments in copies)
    assert "alembic ./alembic" in copies and ("WORKDIR", "/srv/caldicott") in final


def test_the_image_serves_on_all_interfaces_and_checks_healthz() -> None:
    final = dict(
        (instruction, arguments)
        for instruction, arguments in final_stage()
        if instruction in ("CMD", "HEALTHCHECK", "ENV")
    )
    assert exec_form(final["CMD"]) == ["caldicott", "serve", "--host", "0.0.0.0", "--port", "8000"]
    check = final["HEALTHCHECK"]
    assert "http://127.0.0.1:8000/healthz" in check and check.split("CMD", 1)[0].split() == [
        "--interval=30s",
        "--timeout=3s",
        "--start-period=10s",
        "--retries=3",
    ]
    assert "CALDICOTT_ENV=production" in final["ENV"]


def test_compose_runs_the_migration_once_before_the_api_and_the_worker() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "keys", "migrate", "api", "worker", "proxy"}
    assert services["db"]["image"].startswith("postgres:") and "pg_isready" in " ".join(
        services["db"]["healthcheck"]["test"]
    )

    assert services["migrate"]["command"] == ["caldicott", "migrate"]
    # The audit keys are made (tests/test_compose.py) before anything that names them starts.
    assert services["migrate"]["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "keys": {"condition": "service_completed_successfully"},
    }
    assert services["migrate"]["restart"] == "no"
    assert services["api"]["command"] == exec_form(dict(final_stage())["CMD"])
    assert services["worker"]["command"][:2] == ["caldicott", "worker"]
    for name in ("api", "worker"):
        assert services[name]["depends_on"] == MIGRATION_DONE, name
    for name in ("keys", "migrate", "worker"):  # no HTTP server there for the image's health check
        assert services[name]["healthcheck"] == {"disable": True}, name
    assert all(port.startswith("127.0.0.1:") for port in services["api"]["ports"])


def test_compose_puts_a_reverse_proxy_in_front_of_the_api() -> None:
    proxy = compose()["services"]["proxy"]
    assert proxy["image"].startswith("caddy:") and proxy["depends_on"] == ["api"]
    assert sorted(proxy["ports"]) == ["443:443", "80:80"]
    [mounted] = [volume for volume in proxy["volumes"] if volume.endswith(":/etc/caddy/Caddyfile:ro")]
    caddyfile = (REPO / mounted.split(":")[0]).read_text()
    assert mounted.split(":")[0] == "./deploy/Caddyfile" and caddyfile == CADDYFILE.read_text()
    assert "reverse_proxy api:8000" in caddyfile and "read_header" in caddyfile


def caddy_bytes(size: str) -> int:
    """A Caddyfile size as Caddy reads it (go-humanize: KB is 1000 bytes, KiB 1024)."""
    number, unit = re.fullmatch(r"(\d+)([KMG]i?B)", size).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if "i" in unit else 1000) ** ("KMG".index(unit[0]) + 1)


def caddy_blocks() -> dict[str, str]:
    """The site's top-level blocks by their opening line (`handle @upload`, `@upload`, `handle`), one level deep."""
    site = CADDYFILE.read_text().split("{$CALDICOTT_HOSTNAME} {", 1)[1]
    return {
        opening.strip(): body
        for opening, body in re.findall(r"^\t([^\t\n#][^\n]*?) \{\n(.*?)^\t\}$", site, re.MULTILINE | re.DOTALL)
    }


UPLOADS = ("/v1/sharing-requests/0b7c/attachments", "/v1/sharing-agreements/DSA-1/attachments")
NOT_UPLOADS = (
    "/v1/sharing-requests",
    "/v1/sharing-requests/0b7c",
    "/v1/sharing-requests/0b7c/attachments/9a1f",
    "/v1/sharing-requests/0b7c/attachments/9a1f/verifications",
    "/v1/sharing-agreements/DSA-1/attachments/9a1f",
    "/v1/policies",
)


def test_the_proxy_allows_uploads_their_size_and_every_other_body_the_small_limit() -> None:
    blocks = caddy_blocks()
    assert list(blocks) == ["handle @metrics", "@upload", "handle @upload", "handle"]
    assert "respond 404" in blocks["handle @metrics"]  # the scrape stays on the internal network
    # The upload routes are exactly those that stream their own body in the API (POST only).
    upload = dict(line.strip().split(None, 1) for line in blocks["@upload"].strip().splitlines())
    assert upload["method"] == "POST"
    for path in UPLOADS + NOT_UPLOADS:
        assert bool(re.search(upload["path_regexp"], path)) == streams_its_own_body({"method": "POST", "path": path}), (
            path
        )
    [small] = re.findall(r"max_size (\S+)", blocks["handle"])
    [large] = re.findall(r"max_size (\S+)", blocks["handle @upload"])
    assert caddy_bytes(small) == MAX_BODY_BYTES
    assert caddy_bytes(large) == Settings.model_fields["attachment_max_bytes"].default + FORM_OVERHEAD
    # Small bodies are read whole by the proxy before the API sees them; uploads stream to the API.
    assert caddy_bytes(re.findall(r"request_buffers (\S+)", blocks["handle"])[0]) == MAX_BODY_BYTES
    assert "request_buffers" not in blocks["handle @upload"]


@pytest.mark.skipif(CADDY is None, reason="caddy is not installed: the Caddyfile is read as text only")
def test_caddy_reads_the_caddyfile_as_the_text_test_does(tmp_path: Path) -> None:
    """Caddy's own adapter: one route per block, in order, with the body limits the text says."""
    text = CADDYFILE.read_text()
    version = subprocess.run([CADDY or "caddy", "version"], capture_output=True, text=True, check=True).stdout
    if re.match(r"v?2\.[0-6]\.", version):
        # Debian's caddy 2.6 predates `request_buffers` (Caddy 2.7); the image caddy:2 has it.
        text = re.sub(r"\n\t*request_buffers .*", "", text)
    (tmp_path / "Caddyfile").write_text(text)
    adapted = subprocess.run(
        [CADDY or "caddy", "adapt", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "CALDICOTT_HOSTNAME": "caldicott.example.org"},
        timeout=60,
    )
    assert adapted.returncode == 0, adapted.stderr
    [site] = json.loads(adapted.stdout)["apps"]["http"]["servers"]["srv0"]["routes"]
    assert site["match"] == [{"host": ["caldicott.example.org"]}]
    routes = site["handle"][0]["routes"]

    def handlers(route: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {
            handler["handler"]: handler
            for inner in route["handle"]
            for sub in inner["routes"]
            for handler in sub["handle"]
        }

    metrics, upload, rest = routes
    assert metrics["match"] == [{"path": ["/metrics"]}] and handlers(metrics)["static_response"]["status_code"] == 404
    assert upload["match"][0]["method"] == ["POST"]
    assert handlers(upload)["request_body"]["max_size"] == Settings.model_fields["attachment_max_bytes"].default + (
        FORM_OVERHEAD
    )
    assert "match" not in rest and handlers(rest)["request_body"]["max_size"] == MAX_BODY_BYTES
    assert handlers(upload)["reverse_proxy"]["upstreams"] == handlers(rest)["reverse_proxy"]["upstreams"]


def test_compose_configures_the_service_by_environment_for_production() -> None:
    services = compose()["services"]
    for name in ("migrate", "api", "worker"):
        environment = services[name]["environment"]
        assert services[name]["build"] == "." and services[name]["image"] == services["api"]["image"]
        assert (
            environment["CALDICOTT_DATABASE_URL"].startswith("postgresql+asyncpg://caldicott:")
            and "@db:5432/caldicott" in environment["CALDICOTT_DATABASE_URL"]
        )
        for required in (
            "CALDICOTT_SUBJECT_KEY",
            "CALDICOTT_JWKS_URL",
            "CALDICOTT_JWT_ISSUER",
            "CALDICOTT_CONTROLLER_ORG",
            "CALDICOTT_CONTROLLER_NAME",
        ):
            assert environment[required] == f"${{{required}:?set {required}}}", (name, required)
        # Development shortcuts are never passed in; the image's CALDICOTT_ENV=production would refuse them anyway.
        assert not {"CALDICOTT_JWT_SECRET", "CALDICOTT_ENV"} & set(environment)


def test_the_build_context_leaves_out_secrets_the_virtualenv_and_uploaded_evidence() -> None:
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines() if not line.startswith("#")}
    # `**/` so that a database or key beside a nested working directory stays out too.
    assert {".env", ".venv", ".git", "**/caldicott.db*", "**/*.pem", "attachments", "tests", "bench"} <= ignored


def test_the_runtime_image_has_no_installer() -> None:
    build = dockerfile()[: len(dockerfile()) - len(final_stage())]
    build_runs = [arguments for instruction, arguments in build if instruction == "RUN"]
    # The shipped virtualenv is made without pip and filled by the build stage's pip, and loses the build backend.
    assert "python -m venv --without-pip /opt/caldicott" in build_runs
    assert all("/opt/caldicott/bin/pip" not in run for run in build_runs)
    assert any("uninstall --yes setuptools" in run for run in build_runs)
    # The base image's own pip, setuptools and wheel are removed from the runtime stage, before the user drops root.
    final = final_stage()
    runs = [arguments for instruction, arguments in final if instruction == "RUN"]
    removal = next(run for run in runs if "rm -rf pip " in run)
    for name in ("pip-*.dist-info", "setuptools", "pkg_resources", "wheel", "/usr/local/bin/pip", "_bundled"):
        assert name in removal, name
    instructions = [instruction for instruction, _ in final]
    assert instructions.index("RUN") < instructions.index("USER")


def test_the_image_carries_oci_labels() -> None:
    labels = " ".join(arguments for instruction, arguments in final_stage() if instruction == "LABEL")
    found = dict(re.findall(r'(org\.opencontainers\.image\.[a-z]+)="([^"]*)"', labels))
    assert found == {
        "org.opencontainers.image.title": "caldicott",
        "org.opencontainers.image.description": "Caldicott sharing adjudication service",
        "org.opencontainers.image.version": "${VERSION}",
        "org.opencontainers.image.revision": "${REVISION}",
        "org.opencontainers.image.source": "${SOURCE}",
        "org.opencontainers.image.licenses": "Apache-2.0",
    }
    arguments = {arguments.split("=")[0] for instruction, arguments in final_stage() if instruction == "ARG"}
    assert {"VERSION", "REVISION", "SOURCE"} <= arguments
