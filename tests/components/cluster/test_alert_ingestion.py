"""Every alert can fire where it is evaluated: each metric its PromQL reads is ingested by that Prometheus.

Two flavours evaluate the database alerts: the in-cluster Prometheus (kube-prometheus-stack; the
program's PrometheusRule and the chart's own rules) and Azure managed Prometheus (the
``DatabaseAlerts-`` rule group). Each reads what its scrape configuration keeps:

- in-cluster: the program's PodMonitors (``monitoring.coreos.com``) and the chart's ServiceMonitors as
  rendered from charts/ (kube-state-metrics, the kubelet), minus their ``metricRelabelings`` drops;
- Azure: the program's ``azmonitoring.coreos.com`` PodMonitors (custom jobs, not filtered) and the
  add-on's default targets, which keep only their minimal-ingestion list plus what the program's
  ``ama-metrics-settings-configmap`` adds (tests/fixtures/azure-prometheus-collector).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from components.builders.cluster_spec import INSTANCE_POD_ROLE
from components.cluster.database_monitoring import AZURE_METRICS_SETTINGS
from components.cluster.poolers import POOLER_NAME_LABEL
from offline.charts import ChartObject, render_releases
from offline.engine import StackRun, run_stack

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "azure-prometheus-collector" / "minimal-ingestion-profile.json"
AZURE_RULE_GROUP = "azure-native:alertsmanagement:PrometheusRuleGroup"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
POD_MONITOR = {
    "in-cluster": "kubernetes:monitoring.coreos.com/v1:PodMonitor",
    "azure": "kubernetes:azmonitoring.coreos.com/v1:PodMonitor",
}

# Which exporter serves a metric, by name. CNPG's instance exporter also serves the Barman Cloud plugin's
# metrics (the plugin reports them through the instance manager, plugin-barman-cloud metrics.go).
EXPORTERS = (
    ("cnpg_pgbouncer_", "pooler"),
    ("cnpg_", "instance"),
    ("barman_cloud_", "instance"),
    ("kube_", "kube-state-metrics"),
    ("kubelet_", "kubelet"),
)
# The Azure add-on's default target for each exporter it scrapes itself.
AZURE_TARGETS = {"kube-state-metrics": "kubestate", "kubelet": "kubelet"}
# kube-prometheus-stack's ServiceMonitors for them (release kube-prometheus-stack), and the endpoint path.
IN_CLUSTER_SERVICE_MONITORS = {
    "kube-state-metrics": ("kube-prometheus-stack-kube-state-metrics", "/metrics"),
    "kubelet": ("kube-prometheus-stack-kubelet", "/metrics"),
}

PROMQL_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions, aggregations,
    keywords, label names (inside ``{}`` or grouping lists), durations or numbers."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values, e.g. pod=~"x-[0-9]+"
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)\s*(\()?", text):
        name, call = match.groups()
        if not call and name not in PROMQL_KEYWORDS and not re.fullmatch(r"(?i)inf|nan", name):
            names.add(name)
    return names


def test_metric_names_reads_selectors_not_functions_labels_or_keywords() -> None:
    expr = (
        '(max(last_backup{namespace="a", pod=~"x-[0-9]+"}) or vector(0)) == 0 and on () time() '
        '- min(kube_pvc_created{persistentvolumeclaim=~"x"}) > 93600 unless max by (datname) (xid_age offset 5m) > 1e9'
        " and rate(requests_total[5m]) > bool 2"
    )
    assert metric_names(expr) == {"last_backup", "kube_pvc_created", "xid_age", "requests_total"}


def _exporter(metric: str) -> str:
    exporter = next((exporter for prefix, exporter in EXPORTERS if metric.startswith(prefix)), None)
    assert exporter, f"{metric}: no exporter known for it; add it to EXPORTERS with the scrape that ingests it"
    return exporter


def _scrapes_exporter(run: StackRun, flavour: str, exporter: str) -> bool:
    """A PodMonitor of this flavour selects the instance pods (or the poolers) on their metrics port."""
    for monitor in run.of_type(POD_MONITOR[flavour]):
        selector = monitor.inputs["spec"]["selector"]
        ports = [endpoint["port"] for endpoint in monitor.inputs["spec"]["podMetricsEndpoints"]]
        if exporter == "instance" and INSTANCE_POD_ROLE.items() <= selector.get("matchLabels", {}).items():
            return ports == ["metrics"]
        if exporter == "pooler" and any(e["key"] == POOLER_NAME_LABEL for e in selector.get("matchExpressions", [])):
            return ports == ["metrics"]
    return False


def _relabelled_away(metric: str, relabelings: list[dict[str, Any]]) -> bool:
    """Whether ``metricRelabelings`` drop every series of the metric (rules on ``__name__`` alone)."""
    for rule in relabelings:
        if rule.get("sourceLabels") != ["__name__"]:
            continue  # a rule on other labels drops some series only
        matches = re.fullmatch(rule["regex"], metric) is not None
        if (rule["action"] == "drop" and matches) or (rule["action"] == "keep" and not matches):
            return True
    return False


def parse_metrics_settings(text: str) -> dict[str, dict[str, str]]:
    """A settings file as the add-on reads it (Azure/prometheus-collector shared/helpers.go
    parseMetricsFileInto): a line ending in ``: |-`` opens a section, then ``key = value`` lines."""
    sections: dict[str, dict[str, str]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith(": |-"):
            current = sections.setdefault(line.removesuffix(": |-"), {})
        elif "=" in line and current is not None:
            key, value = (part.strip() for part in line.split("=", 1))
            current[key] = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    return sections


def _azure_keeps(run: StackRun, target: str, metric: str) -> bool:
    profile = json.loads(FIXTURE.read_text())
    settings = [c for c in run.of_type("kubernetes:core/v1:ConfigMap") if c.inputs["metadata"]["name"] == AZURE_METRICS_SETTINGS]
    configured = ""
    enabled = profile["defaultTargetsScrapeEnabled"][target]
    minimal = True
    for config_map in settings:
        assert config_map.inputs["metadata"]["namespace"] == "kube-system"
        assert config_map.inputs["data"]["schema-version"] == "v2"
        sections = parse_metrics_settings(config_map.inputs["data"]["cluster-metrics"])
        configured = sections.get("default-targets-metrics-keep-list", {}).get(target, "")
        enabled = sections.get("default-targets-scrape-enabled", {}).get(target, str(enabled).lower()) in ("true", True)
        minimal = sections.get("minimal-ingestion-profile", {}).get("enabled", "true") != "false"
    # tomlparser-default-targets-metrics-keep-list.go: "<keep list>|<minimal list>" with the profile on.
    keep = f"{configured}|{profile['minimalIngestionKeepLists'][target]}" if minimal else configured
    return enabled and (not keep or re.fullmatch(keep, metric) is not None)


def _in_cluster_keeps(rendered: Mapping[str, list[ChartObject]], exporter: str, metric: str) -> bool:
    name, path = IN_CLUSTER_SERVICE_MONITORS[exporter]
    monitors = [
        item.obj
        for items in rendered.values()
        for item in items
        if item.obj["kind"] == "ServiceMonitor" and item.obj["metadata"]["name"] == name
    ]
    return any(
        (endpoint.get("path") or "/metrics") == path and not _relabelled_away(metric, endpoint.get("metricRelabelings") or [])
        for monitor in monitors
        for endpoint in monitor["spec"]["endpoints"]
    )


def ingested(run: StackRun, rendered: Mapping[str, list[ChartObject]], flavour: str) -> Callable[[str], bool]:
    def check(metric: str) -> bool:
        exporter = _exporter(metric)
        if exporter in ("instance", "pooler"):
            return _scrapes_exporter(run, flavour, exporter)
        if flavour == "azure":
            return _azure_keeps(run, AZURE_TARGETS[exporter], metric)
        return _in_cluster_keeps(rendered, exporter, metric)

    return check


def alerts(run: StackRun, rendered: Mapping[str, list[ChartObject]], flavour: str) -> Iterator[tuple[str, str]]:
    """(alert, PromQL) of every alerting rule the flavour evaluates."""
    if flavour == "azure":
        for group in run.of_type(AZURE_RULE_GROUP):
            yield from ((rule["alert"], rule["expression"]) for rule in group.inputs["rules"] if rule.get("alert"))
        return
    rules: list[Any] = [r.inputs for r in run.of_type(PROMETHEUS_RULE)]
    rules += [item.obj for items in rendered.values() for item in items if item.obj["kind"] == "PrometheusRule"]
    for rule in rules:
        yield from ((a["alert"], a["expr"]) for group in rule["spec"]["groups"] for a in group["rules"] if a.get("alert"))


def _not_ingested(run: StackRun, flavour: str) -> list[str]:
    rendered = render_releases(run) if flavour == "in-cluster" else {}
    keeps = ingested(run, rendered, flavour)
    found = list(alerts(run, rendered, flavour))
    assert found, f"no alert evaluated in {flavour}"
    return [
        f"{alert} reads {metric}, which the {flavour} Prometheus does not ingest"
        for alert, expr in found
        for metric in sorted(metric_names(expr))
        if not keeps(metric)
    ]


@pytest.mark.parametrize("flavour", ["in-cluster", "azure"])
def test_every_alert_reads_only_metrics_its_prometheus_ingests(prod: StackRun, flavour: str) -> None:
    assert _not_ingested(prod, flavour) == []


def test_a_replica_clusters_alerts_read_ingested_metrics_too() -> None:
    run = run_stack("dr")
    assert _not_ingested(run, "azure") == []


def test_azure_keeps_the_pvc_creation_time_only_through_the_settings(prod: StackRun) -> None:
    # The minimal profile alone drops it (what the check above would report without the ConfigMap) ...
    assert not re.fullmatch(
        f"|{json.loads(FIXTURE.read_text())['minimalIngestionKeepLists']['kubestate']}", "kube_persistentvolumeclaim_created"
    )
    # ... and the ConfigMap adds it, leaving every default target and the profile as they were.
    (settings,) = [
        c for c in prod.of_type("kubernetes:core/v1:ConfigMap") if c.inputs["metadata"]["name"] == AZURE_METRICS_SETTINGS
    ]
    sections = parse_metrics_settings(settings.inputs["data"]["cluster-metrics"])
    assert sections == {
        "default-targets-metrics-keep-list": {"kubestate": "kube_persistentvolumeclaim_created"},
        "minimal-ingestion-profile": {"enabled": "true"},
    }
    assert _azure_keeps(prod, "kubestate", "kube_persistentvolumeclaim_created")
    assert _azure_keeps(prod, "kubestate", "kube_pod_info")  # the minimal list still applies
    assert not _azure_keeps(prod, "kubestate", "kube_secret_info")


def test_no_azure_metrics_settings_without_azure_monitoring(dev: StackRun) -> None:
    from tests.test_settings import _section

    run = run_stack("dev", {"aks-postgres-ha:observability": _section("dev", "observability", azureMonitoring=False)})
    assert not [c for c in run.of_type("kubernetes:core/v1:ConfigMap") if c.inputs["metadata"]["name"] == AZURE_METRICS_SETTINGS]
    assert [c for c in dev.of_type("kubernetes:core/v1:ConfigMap") if c.inputs["metadata"]["name"] == AZURE_METRICS_SETTINGS]
