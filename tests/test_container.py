"""A cheap guard on the container files, read as text (no Docker engine here): not a substitute for building them."""

import json
import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
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
    assert set(services) == {"db", "migrate", "api", "worker", "proxy"}
    assert services["db"]["image"].startswith("postgres:") and "pg_isready" in " ".join(
        services["db"]["healthcheck"]["test"]
    )

    assert services["migrate"]["command"] == ["caldicott", "migrate"]
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["migrate"]["restart"] == "no"
    assert services["api"]["command"] == exec_form(dict(final_stage())["CMD"])
    assert services["worker"]["command"][:2] == ["caldicott", "worker"]
    for name in ("api", "worker"):
        assert services[name]["depends_on"] == MIGRATION_DONE, name
    for name in ("migrate", "worker"):  # no HTTP server there for the image's health check
        assert services[name]["healthcheck"] == {"disable": True}, name
    assert all(port.startswith("127.0.0.1:") for port in services["api"]["ports"])


def test_compose_puts_a_reverse_proxy_in_front_of_the_api() -> None:
    proxy = compose()["services"]["proxy"]
    assert proxy["image"].startswith("caddy:") and proxy["depends_on"] == ["api"]
    assert sorted(proxy["ports"]) == ["443:443", "80:80"]
    [mounted] = [volume for volume in proxy["volumes"] if volume.endswith(":/etc/caddy/Caddyfile:ro")]
    caddyfile = (REPO / mounted.split(":")[0]).read_text()
    assert "reverse_proxy api:8000" in caddyfile and "read_header" in caddyfile and "max_size 256KB" in caddyfile
    assert "respond @metrics 404" in caddyfile  # the scrape stays on the internal network


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
