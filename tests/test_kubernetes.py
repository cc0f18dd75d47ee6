"""deploy/kubernetes/: every overlay rendered by kustomize, valid against the Kubernetes schemas, hardened, and fenced.

No cluster here: `kubectl kustomize` renders offline, kubernetes_validate checks each document against the
published schemas of one Kubernetes version (strict: an unknown or misspelt field fails), and the rest is
read from the rendered documents, as the API server would see them.
"""

import functools
import ipaddress
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from app.platform.config import Settings

REPO = Path(__file__).resolve().parents[1]
KUBERNETES = REPO / "deploy" / "kubernetes"
OVERLAYS = sorted(path.parent.name for path in (KUBERNETES / "overlays").glob("*/kustomization.yaml"))
KUBERNETES_VERSION = "1.30"
KUBECTL = shutil.which("kubectl")
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
SETTINGS = {f"CALDICOTT_{name.upper()}" for name in Settings.model_fields}
# Besides the settings, `caldicott serve` reads its process count from the environment itself (CALDICOTT_WORKERS).
VARIABLES = SETTINGS | set(
    re.findall(r"os\.environ\.get\(\"(CALDICOTT_[A-Z0-9_]+)\"\)", (REPO / "app" / "cli.py").read_text())
)
SECRET = "caldicott"  # the Secret the installation creates; no file here holds it
# What production refuses to start without (app/platform/config.py), besides CALDICOTT_ENV;
# the metrics token is the API's.
REQUIRED_SECRET_KEYS = {
    "CALDICOTT_DATABASE_URL",
    "CALDICOTT_SUBJECT_KEY",
    "CALDICOTT_JWKS_URL",
    "CALDICOTT_JWT_ISSUER",
    "CALDICOTT_CONTROLLER_ORG",
    "CALDICOTT_CONTROLLER_NAME",
}
DNS = {("UDP", 53), ("TCP", 53)}
POSTGRES, HTTPS = ("TCP", 5432), ("TCP", 443)
# The release's first step (docs/operators/kubernetes.md): the settings and the migration, before the API and worker.
FIRST_STEP = {"config", "migration"}
# Kinds of the Prometheus Operator (deploy/kubernetes/components/monitoring), whose schemas kubernetes_validate lacks.
CUSTOM_API_GROUPS = {"monitoring.coreos.com"}

pytestmark = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed, so the overlays cannot be rendered (`kubectl kustomize`)"
)


@functools.cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    """The overlay's documents as `kubectl kustomize` renders them."""
    result = subprocess.run(
        [KUBECTL or "kubectl", "kustomize", str(KUBERNETES / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return tuple(document for document in yaml.safe_load_all(result.stdout) if document)


@pytest.fixture(params=OVERLAYS)
def documents(request: pytest.FixtureRequest) -> tuple[dict[str, Any], ...]:
    return rendered(request.param)


def dockerfile_user() -> tuple[int, int]:
    """The image's numeric user and group (the last USER instruction)."""
    [*_, user] = re.findall(r"^USER\s+(\d+):(\d+)\s*$", (REPO / "Dockerfile").read_text(), re.MULTILINE)
    return int(user[0]), int(user[1])


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    spec = workload["spec"]["jobTemplate"]["spec"] if workload["kind"] == "CronJob" else workload["spec"]
    return spec["template"]["metadata"]["labels"]


def workloads(documents: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    return [document for document in documents if document["kind"] in WORKLOADS]


def containers(workload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = pod_spec(workload)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def component(documents: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    [found] = [document for document in documents if document["kind"] == kind and document["metadata"]["name"] == name]
    return found


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "only matchLabels selectors are read here"
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def environment(documents: tuple[dict[str, Any], ...], container: dict[str, Any]) -> dict[str, Any]:
    """The container's variables: literal values, ConfigMap values (envFrom), and secretKeyRef entries as they stand."""
    values: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        assert set(source) == {"configMapRef"}, "Secrets are referenced key by key, so every name is checked"
        values |= component(documents, "ConfigMap", source["configMapRef"]["name"])["data"]
    for variable in container.get("env", []):
        values[variable["name"]] = variable.get("value", variable.get("valueFrom"))
    return values


def test_both_overlays_render() -> None:
    assert {"production", "staging"} <= set(OVERLAYS)
    for overlay in OVERLAYS:
        kinds = {document["kind"] for document in rendered(overlay)}
        assert {
            "Deployment",
            "Job",
            "CronJob",
            "Service",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "HorizontalPodAutoscaler",
            "ConfigMap",
            "PrometheusRule",
            "ServiceMonitor",
        } <= kinds, overlay


def test_every_document_is_valid_against_the_kubernetes_schemas(documents: tuple[dict[str, Any], ...]) -> None:
    """Every built-in kind; the Prometheus Operator's kinds are not in Kubernetes' schemas
    (tests/test_operations_kit.py checks their shape)."""
    problems = []
    for document in documents:
        if document["apiVersion"].split("/")[0] in CUSTOM_API_GROUPS:
            continue
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(
                f"{document['kind']}/{document['metadata']['name']}: {error.message} at "
                f"{'.'.join(map(str, error.path))}"
            )
    assert not problems, "\n".join(problems)


def test_every_container_is_hardened(documents: tuple[dict[str, Any], ...]) -> None:
    uid, gid = dockerfile_user()
    for workload in workloads(documents):
        spec = pod_spec(workload)
        pod = spec.get("securityContext", {})
        assert spec.get("automountServiceAccountToken") is False, workload["metadata"]["name"]
        assert not {"hostNetwork", "hostPID", "hostIPC"} & {key for key, value in spec.items() if value}
        assert pod.get("seccompProfile") == {"type": "RuntimeDefault"}
        temporary = {volume["name"] for volume in spec.get("volumes", []) if "emptyDir" in volume}
        for container in containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            own = container.get("securityContext", {})
            effective = pod | own  # the container's own setting wins, as the kubelet applies them
            assert (
                effective.get("runAsNonRoot") is True
                and effective.get("runAsUser") == uid
                and effective.get("runAsGroup") == gid
            ), where
            assert own.get("readOnlyRootFilesystem") is True and own.get("allowPrivilegeEscalation") is False, where
            assert not own.get("privileged") and own.get("capabilities") == {"drop": ["ALL"]}, where
            assert effective.get("seccompProfile") == {"type": "RuntimeDefault"}, where
            resources = container.get("resources", {})
            assert all(set(resources.get(kind, {})) >= {"cpu", "memory"} for kind in ("requests", "limits")), where
            # A read-only root still needs a writable /tmp (Python's tempfile), and it must not be the node's disk.
            assert any(
                mount["mountPath"] == "/tmp" and mount["name"] in temporary
                for mount in container.get("volumeMounts", [])
            ), where


def test_the_api_is_probed_and_rolls_out_without_losing_capacity(documents: tuple[dict[str, Any], ...]) -> None:
    api = component(documents, "Deployment", "caldicott-api")
    [container] = pod_spec(api)["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": 8000}
    image_command = re.search(r"^CMD (.+)$", (REPO / "Dockerfile").read_text(), re.MULTILINE)
    assert image_command and container["args"] == yaml.safe_load(image_command.group(1)) and "command" not in container

    def probed(probe: str) -> str:
        check = container[probe]["httpGet"]
        assert ports.get(check["port"], check["port"]) == 8000, probe
        return check["path"]

    assert (probed("readinessProbe"), probed("livenessProbe"), probed("startupProbe")) == (
        "/readyz",
        "/healthz",
        "/healthz",
    )
    assert api["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert (
        pod_spec(api)["terminationGracePeriodSeconds"] > Settings.model_fields["http_graceful_shutdown_seconds"].default
    )


def test_the_service_and_the_disruption_budget_cover_the_api_pods(documents: tuple[dict[str, Any], ...]) -> None:
    labels = pod_labels(component(documents, "Deployment", "caldicott-api"))
    service = component(documents, "Service", "caldicott-api")
    assert (
        all(labels.get(key) == value for key, value in service["spec"]["selector"].items())
        and service["spec"]["selector"]
    )
    assert [(port["port"], port["targetPort"]) for port in service["spec"]["ports"]] == [(8000, "http")]
    budget = component(documents, "PodDisruptionBudget", "caldicott-api")
    assert selects(budget["spec"]["selector"], labels) and budget["spec"]["maxUnavailable"] == 1


def test_the_migration_job_runs_first_with_the_same_image(documents: tuple[dict[str, Any], ...]) -> None:
    job = component(documents, "Job", "caldicott-migrate")
    [migrate] = pod_spec(job)["containers"]
    assert migrate["args"] == ["caldicott", "migrate"] and pod_spec(job)["restartPolicy"] == "Never"
    images = {container["image"] for workload in workloads(documents) for container in containers(workload)}
    assert len(images) == 1, f"the migration must run the code the API runs: {images}"
    # `kubectl apply -k OVERLAY -l 'app.kubernetes.io/component in (config,migration)'` takes exactly what the Job
    # needs.
    first = {
        (document["kind"], document["metadata"]["name"])
        for document in documents
        if document["metadata"]["labels"].get("app.kubernetes.io/component") in FIRST_STEP
    }
    needed = {("Job", "caldicott-migrate"), ("ServiceAccount", pod_spec(job)["serviceAccountName"])}
    needed |= {("ConfigMap", source["configMapRef"]["name"]) for source in migrate["envFrom"]}
    needed |= {("NetworkPolicy", policy["metadata"]["name"]) for policy in policies_for(documents, job)}
    assert needed <= first and not {kind for kind, _ in first} & {"Deployment", "Service", "PodDisruptionBudget"}


def test_the_production_overlay_runs_several_api_pods_and_workers() -> None:
    documents = rendered("production")
    assert component(documents, "HorizontalPodAutoscaler", "caldicott-api")["spec"]["minReplicas"] >= 2
    assert component(documents, "Deployment", "caldicott-worker")["spec"]["replicas"] >= 2


def test_the_api_scales_on_cpu_and_the_worker_drains_one_at_a_time(documents: tuple[dict[str, Any], ...]) -> None:
    api = component(documents, "Deployment", "caldicott-api")
    autoscaler = component(documents, "HorizontalPodAutoscaler", "caldicott-api")["spec"]
    assert autoscaler["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "caldicott-api"}
    assert [metric["resource"]["name"] for metric in autoscaler["metrics"]] == ["cpu"]
    assert 1 <= autoscaler["minReplicas"] < autoscaler["maxReplicas"]
    # The autoscaler owns the count: a Deployment that named one would be reset to it by every release.
    assert "replicas" not in api["spec"]
    # CPU utilisation is measured against the request, so every API container needs one.
    assert all(container["resources"]["requests"]["cpu"] for container in containers(api))
    worker = component(documents, "Deployment", "caldicott-worker")
    budget = component(documents, "PodDisruptionBudget", "caldicott-worker")
    assert selects(budget["spec"]["selector"], pod_labels(worker)) and budget["spec"]["maxUnavailable"] == 1
    assert not selects(budget["spec"]["selector"], pod_labels(api))


def test_the_base_autoscaler_keeps_two_api_pods() -> None:
    """The base's floor is two pods (availability); only staging's one-CPU overlay lowers it."""
    [base] = yaml.safe_load_all((KUBERNETES / "base" / "api-hpa.yaml").read_text())
    assert base["spec"]["minReplicas"] == 2
    assert component(rendered("production"), "HorizontalPodAutoscaler", "caldicott-api")["spec"]["minReplicas"] >= 2


def test_no_secret_is_kept_in_the_repository(documents: tuple[dict[str, Any], ...]) -> None:
    assert not [document for document in documents if document["kind"] == "Secret"]
    for path in KUBERNETES.rglob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            assert document and document.get("kind") != "Secret" and "secretGenerator" not in document, path


def test_every_setting_named_is_a_real_one_and_production_has_what_it_needs(
    documents: tuple[dict[str, Any], ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [path.read_text() for path in KUBERNETES.rglob("*") if path.is_file()] + [yaml.safe_dump_all(documents)]
    named = {name for text in texts for name in re.findall(r"CALDICOTT_[A-Z0-9_]*[A-Z0-9]", text)}
    assert named and named <= VARIABLES, f"not settings in app/platform/config.py: {sorted(named - VARIABLES)}"
    for name in [name for name in os.environ if name.startswith("CALDICOTT_")]:
        monkeypatch.delenv(name)
    for workload in workloads(documents):
        for container in containers(workload):
            values = environment(documents, container)
            secret = {
                name: reference["secretKeyRef"] for name, reference in values.items() if isinstance(reference, dict)
            }
            assert all(
                ref["name"] == SECRET and ref["key"] == name and not ref.get("optional") for name, ref in secret.items()
            ), container["name"]
            assert set(secret) >= REQUIRED_SECRET_KEYS and values["CALDICOTT_ENV"] == "production", container["name"]
            # With the Secret's keys filled in, these are settings production accepts
            # (app/platform/config.py refuses otherwise).
            stand_ins = {
                "CALDICOTT_DATABASE_URL": "postgresql+asyncpg://caldicott:password@postgres/caldicott",
                "CALDICOTT_SUBJECT_KEY": "k" * 32,
                "CALDICOTT_JWKS_URL": "https://idp.example/.well-known/jwks.json",
                "CALDICOTT_CONTROLLER_ORG": "RXX",
                "CALDICOTT_CONTROLLER_NAME": "Riverside NHS Foundation Trust",
            }
            literal = {name: value for name, value in values.items() if name not in secret} | {
                name: stand_ins.get(name, "x") for name in secret
            }
            settings = Settings(
                _env_file=None, **{name.removeprefix("CALDICOTT_").lower(): value for name, value in literal.items()}
            )
            assert settings.env.value == "production" and not settings.uses_sqlite


def policies_for(documents: tuple[dict[str, Any], ...], workload: dict[str, Any]) -> list[dict[str, Any]]:
    """The NetworkPolicies whose pod selector takes this workload's pods."""
    labels = pod_labels(workload)
    return [
        document
        for document in documents
        if document["kind"] == "NetworkPolicy" and selects(document["spec"]["podSelector"], labels)
    ]


def allowed(policies: list[dict[str, Any]], direction: str) -> set[tuple[str, int]]:
    """(protocol, port) pairs the policies open in one direction;
    a rule without ports would open them all, and fails."""
    rules = [rule for policy in policies for rule in policy["spec"].get(direction, [])]
    assert all(rule.get("ports") for rule in rules), f"a {direction} rule without ports opens every port"
    return {(port.get("protocol", "TCP"), port["port"]) for rule in rules for port in rule["ports"]}


def test_each_pod_is_fenced_by_a_network_policy(documents: tuple[dict[str, Any], ...]) -> None:
    expected = {
        "caldicott-api": ({("TCP", 8000)}, DNS | {POSTGRES, HTTPS}),
        "caldicott-worker": ({("TCP", 9100)}, DNS | {POSTGRES, HTTPS}),
        "caldicott-migrate": (set(), DNS | {POSTGRES}),
        "caldicott-attachments-purge": (set(), DNS | {POSTGRES}),
    }
    assert {workload["metadata"]["name"] for workload in workloads(documents)} == set(expected)
    for workload in workloads(documents):
        policies = policies_for(documents, workload)
        assert policies and all(set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"} for policy in policies), (
            workload["metadata"]["name"]
        )
        assert (allowed(policies, "ingress"), allowed(policies, "egress")) == expected[workload["metadata"]["name"]]
        for rule in [rule for policy in policies for rule in policy["spec"].get("egress", [])]:
            ports = {(port.get("protocol", "TCP"), port["port"]) for port in rule["ports"]}
            if ports <= DNS:  # DNS only to the cluster's resolver
                assert [peer["podSelector"] for peer in rule["to"]] == [{"matchLabels": {"k8s-app": "kube-dns"}}]
            elif HTTPS in ports:  # HTTPS only to public addresses: no cloud metadata, no private ranges
                assert ports == {HTTPS} and rule["to"] and all(set(peer) == {"ipBlock"} for peer in rule["to"])
                for address in ("169.254.169.254", "10.0.0.1", "172.16.0.1", "192.168.0.1", "127.0.0.1", "fd00::1"):
                    assert not any(admits(peer["ipBlock"], address) for peer in rule["to"]), address
                assert any(admits(peer["ipBlock"], "203.0.113.10") for peer in rule["to"])
            else:
                assert ports == {POSTGRES}, ports


def admits(block: dict[str, Any], address: str) -> bool:
    """Whether an ipBlock lets this address through."""
    ip = ipaddress.ip_address(address)

    def inside(cidr: str) -> bool:
        network = ipaddress.ip_network(cidr)
        return ip.version == network.version and ip in network

    return inside(block["cidr"]) and not any(inside(cidr) for cidr in block.get("except", []))
