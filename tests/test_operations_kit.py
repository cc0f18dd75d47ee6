"""The operations kit in deploy/kubernetes/: alert rules, the scrape, the dashboard, the worker's probe, the purge.

Rendered by `kubectl kustomize` as tests/test_kubernetes.py renders them. kubernetes-validate has no schemas for the
Prometheus Operator's kinds (PrometheusRule, ServiceMonitor), so their shape is checked here: what the Operator
reads, and what the service publishes (its metrics, its command line, its runbooks).
"""

import json
import re
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app import cli
from app.platform import observability
from tests.test_kubernetes import (
    KUBECTL,
    OVERLAYS,
    component,
    environment,
    pod_labels,
    pod_spec,
    policies_for,
    rendered,
    selects,
)

REPO = Path(__file__).resolve().parents[1]
RUNBOOKS = REPO / "docs" / "operators" / "runbooks"
MONITORING = REPO / "deploy" / "kubernetes" / "components" / "monitoring"
# The service's metrics, as app/platform/observability.py names them (docs/operators/observability.md).
SERVICE_METRICS = {
    "caldicott_http_requests_total",
    "caldicott_http_request_duration_seconds",
    "caldicott_review_queue_depth",
    "caldicott_review_queue_overdue",
    "caldicott_audit_unsigned_events",
    "caldicott_audit_checkpoint_age_seconds",
    "caldicott_webhook_delivery_attempts_total",
    "caldicott_webhook_backlog",
    "caldicott_webhook_oldest_pending_age_seconds",
    "caldicott_webhook_deliveries_failed_total",
    "caldicott_db_pool_connections_in_use",
    "caldicott_db_pool_connections_max",
    "caldicott_rate_limited_total",
    "caldicott_build_info",
    "caldicott_calendar_days_remaining",
}
HISTOGRAMS = {"caldicott_http_request_duration_seconds"}
# Series that are not the service's: Prometheus's own scrape health, and kube-state-metrics.
CLUSTER_METRICS = {"up", "kube_deployment_status_replicas_unavailable"}
SEVERITIES = {"warning", "critical"}
DURATION = re.compile(r"\d+[smhd]")
RUNBOOK_SECTIONS = ("## What it means", "## How to check", "## What to do")

needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed: the overlays cannot be rendered")


@pytest.fixture(params=OVERLAYS)
def documents(request: pytest.FixtureRequest) -> tuple[dict[str, Any], ...]:
    return rendered(request.param)


def metrics_named(expr: str) -> set[str]:
    """The series a PromQL expression reads: the service's by prefix, any other by its `{` selector."""
    names = set(re.findall(r"\bcaldicott_[a-z0-9_]+", expr))
    names |= set(re.findall(r"\b([a-z_:][a-z0-9_:]*)\{", expr))
    return {series(name) for name in names}


def series(name: str) -> str:
    """A histogram's `_bucket`, `_sum` and `_count` are the histogram's series."""
    for histogram in HISTOGRAMS:
        if name in (f"{histogram}_bucket", f"{histogram}_sum", f"{histogram}_count"):
            return histogram
    return name


def known(name: str) -> bool:
    return name in SERVICE_METRICS | CLUSTER_METRICS


def alert_rules(documents: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    rules = component(documents, "PrometheusRule", "caldicott")
    return [rule for group in rules["spec"]["groups"] for rule in group["rules"]]


@needs_kubectl
def test_the_monitoring_objects_are_in_both_overlays() -> None:
    wanted = {
        ("PrometheusRule", "caldicott"),
        ("ServiceMonitor", "caldicott"),
        ("ConfigMap", "caldicott-dashboard"),
        ("Service", "caldicott-worker"),
    }
    for overlay in OVERLAYS:
        found = {(document["kind"], document["metadata"]["name"]) for document in rendered(overlay)}
        assert wanted <= found, overlay
    assert alert_rules(rendered("production")) == alert_rules(rendered("staging"))


@needs_kubectl
def test_every_alert_rule_has_the_shape_the_operator_reads(documents: tuple[dict[str, Any], ...]) -> None:
    rule = component(documents, "PrometheusRule", "caldicott")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1" and set(rule["spec"]) == {"groups"}
    names = [group["name"] for group in rule["spec"]["groups"]]
    assert len(names) == len(set(names))
    for group in rule["spec"]["groups"]:
        assert set(group) == {"name", "rules"} and group["rules"], group["name"]
        for alert in group["rules"]:
            assert set(alert) <= {"alert", "expr", "for", "labels", "annotations"}, alert
            assert re.fullmatch(r"Caldicott[A-Za-z]+", alert["alert"]) and alert["expr"].strip(), alert
            assert "for" not in alert or DURATION.fullmatch(alert["for"]), alert
            assert alert["labels"]["severity"] in SEVERITIES, alert
            assert {"summary", "description", "runbook_url"} <= set(alert["annotations"]), alert
            # Template markers balance, or the Operator's rule reload fails.
            assert all(text.count("{{") == text.count("}}") for text in alert["annotations"].values()), alert


@needs_kubectl
def test_the_alerts_cover_what_the_on_call_needs(documents: tuple[dict[str, Any], ...]) -> None:
    """Readiness, the checkpoint while events are unsigned, the webhook backlog's age, the overdue queue, 5xx,
    pool saturation, the calendar's end: each at least one alert reading its series."""
    expressions = {alert["alert"]: alert["expr"] for alert in alert_rules(documents)}

    def reads(*series: str) -> bool:
        return any(set(series) <= metrics_named(expr) for expr in expressions.values())

    assert reads("up") and reads("kube_deployment_status_replicas_unavailable")
    assert reads("caldicott_audit_checkpoint_age_seconds", "caldicott_audit_unsigned_events")
    assert reads("caldicott_webhook_oldest_pending_age_seconds")
    assert reads("caldicott_review_queue_overdue")
    assert any('status=~"5.."' in expr for expr in expressions.values())
    assert reads("caldicott_db_pool_connections_in_use", "caldicott_db_pool_connections_max")
    assert reads("caldicott_calendar_days_remaining")


@needs_kubectl
def test_every_metric_an_alert_or_the_dashboard_reads_is_one_the_service_publishes(
    documents: tuple[dict[str, Any], ...],
) -> None:
    expressions = [alert["expr"] for alert in alert_rules(documents)]
    dashboard = json.loads(component(documents, "ConfigMap", "caldicott-dashboard")["data"]["caldicott-dashboard.json"])
    expressions += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    named = set().union(*(metrics_named(expr) for expr in expressions))
    assert named and {name for name in named if not known(name)} == set()
    assert metrics_named('rate(caldicott_http_request_duration_seconds_bucket{a="b"}[5m])') == {
        "caldicott_http_request_duration_seconds"
    }
    assert not known("caldicott_webhook_backlog_total")  # a misspelt series would never fire


@needs_kubectl
def test_every_alert_has_a_runbook(documents: tuple[dict[str, Any], ...]) -> None:
    for alert in alert_rules(documents):
        url = alert["annotations"]["runbook_url"]
        assert url == f"docs/operators/runbooks/{alert['alert']}.md", alert["alert"]
        text = (REPO / url).read_text()
        assert text.startswith(f"# {alert['alert']}\n"), url
        positions = [text.find(section) for section in RUNBOOK_SECTIONS]
        assert -1 not in positions and positions == sorted(positions), f"{url} needs {RUNBOOK_SECTIONS} in order"
    # Every runbook there is an alert's, or listed in the index as a procedure.
    alerts = {alert["alert"] for alert in alert_rules(documents)}
    index = (RUNBOOKS / "README.md").read_text()
    for path in RUNBOOKS.glob("*.md"):
        assert path.stem in alerts or path.name == "README.md" or f"({path.name})" in index, path
        assert path.name == "README.md" or f"({path.name})" in index, f"{path.name} is not in runbooks/README.md"


@needs_kubectl
def test_the_service_monitor_scrapes_the_api_and_each_worker(documents: tuple[dict[str, Any], ...]) -> None:
    monitor = component(documents, "ServiceMonitor", "caldicott")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    services = [
        document
        for document in documents
        if document["kind"] == "Service" and selects(monitor["spec"]["selector"], document["metadata"]["labels"])
    ]
    assert {service["metadata"]["name"] for service in services} == {"caldicott-api", "caldicott-worker"}
    endpoints = {endpoint["port"]: endpoint for endpoint in monitor["spec"]["endpoints"]}
    assert set(endpoints) == {"http", "metrics"}
    for endpoint in endpoints.values():
        assert endpoint["path"] == "/metrics" and DURATION.fullmatch(endpoint["interval"])
    # The API's /metrics wants the token the API is given (CALDICOTT_METRICS_TOKEN), from the same Secret key.
    api = component(documents, "Deployment", "caldicott-api")
    [api_container] = pod_spec(api)["containers"]
    token = environment(documents, api_container)["CALDICOTT_METRICS_TOKEN"]["secretKeyRef"]
    assert endpoints["http"]["authorization"] == {"type": "Bearer", "credentials": token}
    # Each endpoint's port is a Service port that reaches the pod's port of that name, and the pods let it in.
    worker = component(documents, "Deployment", "caldicott-worker")
    for service in services:
        [target] = [
            workload
            for workload in (api, worker)
            if selects({"matchLabels": service["spec"]["selector"]}, pod_labels(workload))
        ]
        [container] = pod_spec(target)["containers"]
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        [port] = [port for port in service["spec"]["ports"] if port["name"] in endpoints]
        assert port["targetPort"] in ports, service["metadata"]["name"]
        opened = {
            entry["port"]
            for policy in policies_for(documents, target)
            for rule in policy["spec"].get("ingress", [])
            for entry in rule["ports"]
        }
        assert ports[port["targetPort"]] in opened, service["metadata"]["name"]


@needs_kubectl
def test_the_dashboard_is_the_file_in_deploy_and_grafana_finds_it(documents: tuple[dict[str, Any], ...]) -> None:
    config_map = component(documents, "ConfigMap", "caldicott-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    [(name, text)] = config_map["data"].items()
    assert text == (MONITORING / name).read_text()
    dashboard = json.loads(text)
    assert dashboard["uid"] == "caldicott" and dashboard["panels"]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    assert all(panel["targets"] and panel["title"] for panel in dashboard["panels"])


@needs_kubectl
def test_the_purge_cronjob_runs_a_real_command_as_the_worker_runs() -> None:
    for overlay in OVERLAYS:
        documents = rendered(overlay)
        purge = component(documents, "CronJob", "caldicott-attachments-purge")
        [container] = pod_spec(purge)["containers"]
        # The command line as `caldicott` itself parses it: the purge, and not a dry run.
        assert container["args"][0] == "caldicott" and "command" not in container
        parsed = cli.parser().parse_args(container["args"][1:])
        assert parsed.run is cli.cmd_attachments_purge and parsed.dry_run is False
        assert purge["spec"]["concurrencyPolicy"] == "Forbid"
        assert pod_spec(purge)["restartPolicy"] in ("Never", "OnFailure")
        # The worker's settings, hardening and public keys; never the audit signing key, which is the worker's alone.
        worker = component(documents, "Deployment", "caldicott-worker")
        [worker_container] = pod_spec(worker)["containers"]
        worker_env = environment(documents, worker_container)
        assert environment(documents, container) == {
            name: value for name, value in worker_env.items() if name != "CALDICOTT_AUDIT_SIGNING_KEY_FILE"
        }
        assert container["securityContext"] == worker_container["securityContext"]
        worker_pod = {key: value for key, value in pod_spec(worker)["securityContext"].items() if key != "fsGroup"}
        assert pod_spec(purge)["securityContext"] == worker_pod
        signing = {volume["name"] for volume in pod_spec(worker)["volumes"] if "secret" in volume}
        assert signing and not signing & {volume["name"] for volume in pod_spec(purge)["volumes"]}
        assert {volume["name"] for volume in pod_spec(purge)["volumes"]} == {
            volume["name"] for volume in pod_spec(worker)["volumes"]
        } - signing


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@needs_kubectl
def test_the_worker_is_probed_on_the_metrics_port_it_serves(documents: tuple[dict[str, Any], ...]) -> None:
    worker = component(documents, "Deployment", "caldicott-worker")
    [container] = pod_spec(worker)["containers"]
    args = cli.parser().parse_args(container["args"][1:])
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    probe = container["livenessProbe"]["httpGet"]
    assert ports[probe["port"]] == args.metrics_port and args.run is cli.cmd_worker
    # What the probe asks is what `caldicott worker --metrics-port` serves: a scrape, from the worker's own thread.
    port = free_port()
    server = observability.serve_worker_metrics(observability.Metrics(), port, host="127.0.0.1")
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}{probe['path']}", timeout=5)
    finally:
        server.shutdown()
    assert answer.status_code == 200 and "# TYPE" in answer.text
    assert "readinessProbe" not in container  # nothing sends the worker requests to hold back


@needs_kubectl
def test_no_workload_in_the_kit_holds_the_signing_key_but_the_worker() -> None:
    for overlay in OVERLAYS:
        documents = rendered(overlay)
        holders = {
            workload["metadata"]["name"]
            for workload in documents
            if workload["kind"] in {"Deployment", "Job", "CronJob"}
            and any(
                volume.get("secret", {}).get("secretName") == "caldicott-audit-signing-key"
                for volume in pod_spec(workload).get("volumes", [])
            )
        }
        assert holders == {"caldicott-worker"}, overlay


def test_the_component_is_one_both_overlays_include() -> None:
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Component"
    for overlay in OVERLAYS:
        overlay_file = REPO / "deploy" / "kubernetes" / "overlays" / overlay / "kustomization.yaml"
        assert "../../components/monitoring" in yaml.safe_load(overlay_file.read_text())["components"], overlay


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize(
    "page",
    [
        *sorted(RUNBOOKS.glob("*.md")),
        *(REPO / "docs" / "operators" / name for name in ("database.md", "monitoring.md")),
    ],
    ids=lambda path: path.name,
)
def test_the_operations_pages_link_to_pages_and_headings_that_exist(page: Path) -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.is_file(), f"{page.name}: {target}"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", linked.read_text(), re.MULTILINE)
            assert anchor in {slug(heading) for heading in headings}, f"{page.name}: {target}"


PROMTOOL = shutil.which("promtool")
NS = {"namespace": "caldicott"}


def held(name: str, values: str, **labels: str) -> dict[str, str]:
    """One input series of a promtool rule test: `values` in promtool's expanding notation (`0+10x30`)."""
    selector = ",".join(f'{key}="{value}"' for key, value in ({**NS, **labels}).items())
    return {"series": f"{name}{{{selector}}}", "values": values}


def fires(alert: str, at: str, *expected: dict[str, str]) -> dict[str, Any]:
    return {"eval_time": at, "alertname": alert, "exp_alerts": [{"exp_labels": labels} for labels in expected]}


# Each case: the series Prometheus would hold, and which alerts fire (and with which labels) at a given time.
# The staging namespace's series sit beside production's to show the alerts stay apart by namespace.
RULE_CASES: dict[str, dict[str, Any]] = {
    "api down": {
        "input_series": [
            held("up", "0x20", job="caldicott-api", pod="api-1"),
            held("up", "1x20", job="caldicott-api", pod="api-1", namespace="caldicott-staging"),
        ],
        "alert_rule_test": [
            fires("CaldicottAPIDown", "2m"),
            fires("CaldicottAPIDown", "5m", {**NS, "severity": "critical"}),
        ],
    },
    "pods not ready": {
        "input_series": [
            held("kube_deployment_status_replicas_unavailable", "1x20", deployment="caldicott-api"),
            held("kube_deployment_status_replicas_unavailable", "1x20", deployment="someone-else"),
        ],
        "alert_rule_test": [
            fires("CaldicottPodsNotReady", "11m", {**NS, "deployment": "caldicott-api", "severity": "warning"})
        ],
    },
    "5xx": {
        "input_series": [
            held("caldicott_http_requests_total", "0+100x30", method="GET", route="/v1/x", status="200"),
            held("caldicott_http_requests_total", "0+10x30", method="GET", route="/v1/x", status="503"),
            held("caldicott_http_requests_total", "0+100x30", status="200", namespace="caldicott-staging"),
            held("caldicott_http_requests_total", "0+1x30", status="500", namespace="caldicott-staging"),
        ],
        "alert_rule_test": [fires("CaldicottHighErrorRate", "20m", {**NS, "severity": "critical"})],
    },
    "pool": {
        "input_series": [
            held("caldicott_db_pool_connections_in_use", "19x20", pod="api-1", process="api"),
            held("caldicott_db_pool_connections_max", "20x20", pod="api-1", process="api"),
            held("caldicott_db_pool_connections_in_use", "4x20", pod="worker-1", process="worker"),
            held("caldicott_db_pool_connections_max", "20x20", pod="worker-1", process="worker"),
        ],
        "alert_rule_test": [
            fires(
                "CaldicottDatabasePoolSaturated",
                "11m",
                {**NS, "pod": "api-1", "process": "api", "severity": "warning"},
            )
        ],
    },
    "checkpoint while events are unsigned": {
        "input_series": [
            held("caldicott_audit_checkpoint_age_seconds", "2000+60x30", pod="api-1"),
            held("caldicott_audit_unsigned_events", "5x30", pod="api-1"),
            # Staging: as old a checkpoint, but nothing waits to be signed (no events since): no alert.
            held("caldicott_audit_checkpoint_age_seconds", "2000+60x30", namespace="caldicott-staging"),
            held("caldicott_audit_unsigned_events", "0x30", namespace="caldicott-staging"),
        ],
        "alert_rule_test": [
            fires("CaldicottAuditCheckpointStale", "5m"),
            fires("CaldicottAuditCheckpointStale", "11m", {**NS, "severity": "warning"}),
        ],
    },
    "webhooks": {
        "input_series": [
            held("caldicott_webhook_oldest_pending_age_seconds", "4000+60x80", pod="api-1"),
            held("caldicott_webhook_backlog", "3x80", pod="api-1"),
            held("caldicott_webhook_deliveries_failed_total", "0x10 1x70", pod="worker-1"),
        ],
        "alert_rule_test": [
            fires("CaldicottWebhookBacklogStale", "16m", {**NS, "severity": "warning"}),
            fires("CaldicottWebhookDeliveriesFailed", "5m"),
            fires("CaldicottWebhookDeliveriesFailed", "20m", {**NS, "severity": "warning"}),
            fires("CaldicottWebhookDeliveriesFailed", "75m"),  # an hour after the last gave up
        ],
    },
    "overdue queue": {
        "input_series": [held("caldicott_review_queue_overdue", "0x10 2x60", pod="api-1")],
        "alert_rule_test": [
            fires("CaldicottReviewQueueOverdue", "30m"),
            fires("CaldicottReviewQueueOverdue", "45m", {**NS, "severity": "warning"}),
        ],
    },
    "calendar": {
        "input_series": [
            held("caldicott_calendar_days_remaining", "60x90", pod="api-1"),
            held("caldicott_calendar_days_remaining", "20x90", namespace="caldicott-staging"),
        ],
        "alert_rule_test": [
            fires(
                "CaldicottCalendarEnding",
                "70m",
                {**NS, "severity": "warning"},
                {"namespace": "caldicott-staging", "severity": "warning"},
                {"namespace": "caldicott-staging", "severity": "critical"},
            )
        ],
    },
}


@needs_kubectl
@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian's prometheus package has it)")
def test_the_alerts_fire_when_they_should_and_not_otherwise(tmp_path: Path) -> None:
    """Prometheus's own rule checker and unit tests (`promtool check rules`, `promtool test rules`) on the rules
    as rendered; the annotations are left out of the unit tests, which compare labels."""
    groups = component(rendered("production"), "PrometheusRule", "caldicott")["spec"]["groups"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    checked = subprocess.run(
        [PROMTOOL or "promtool", "check", "rules", str(tmp_path / "rules.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    bare = [
        {
            **group,
            "rules": [{key: value for key, value in rule.items() if key != "annotations"} for rule in group["rules"]],
        }
        for group in groups
    ]
    (tmp_path / "bare.yaml").write_text(yaml.safe_dump({"groups": bare}))
    tests = [{"interval": "1m", **case} for case in RULE_CASES.values()]
    (tmp_path / "tests.yaml").write_text(
        yaml.safe_dump({"rule_files": ["bare.yaml"], "evaluation_interval": "1m", "tests": tests})
    )
    tested = subprocess.run(
        [PROMTOOL or "promtool", "test", "rules", str(tmp_path / "tests.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # Every alert is exercised by at least one case that expects it to fire.
    exercised = {
        test["alertname"] for case in RULE_CASES.values() for test in case["alert_rule_test"] if test["exp_alerts"]
    }
    assert exercised == {alert["alert"] for alert in alert_rules(rendered("production"))}
