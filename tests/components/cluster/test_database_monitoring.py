import json

from offline.engine import StackRun
from tests.components.helpers import children

POD_MONITOR_TYPES = ("kubernetes:monitoring.coreos.com/v1:PodMonitor", "kubernetes:azmonitoring.coreos.com/v1:PodMonitor")
INSTANCE_PODS = {"matchLabels": {"cnpg.io/cluster": "pg-primary", "cnpg.io/podRole": "instance"}}


def test_pod_monitors_select_the_clusters_instance_pods_on_the_metrics_port(prod: StackRun) -> None:
    # The cluster's PodMonitors: one per Prometheus flavour. Other PodMonitors (the PgBouncer poolers',
    # test_poolers.py; the operator's, test_operators.py) live elsewhere and none selects the instances.
    monitors = [r for r in children(prod, "database-monitoring") if r.type in POD_MONITOR_TYPES]
    assert sorted(r.type for r in monitors) == sorted(POD_MONITOR_TYPES)
    others = [r for t in POD_MONITOR_TYPES for r in prod.of_type(t) if r not in monitors]
    assert all(r.inputs["spec"]["selector"] != INSTANCE_PODS for r in others)
    cluster = prod.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "database-cluster")
    for monitor in monitors:
        assert monitor.inputs["spec"] == {
            # Not the initdb/join Job pods, which carry the cluster label too.
            "selector": {"matchLabels": {"cnpg.io/cluster": "pg-primary", "cnpg.io/podRole": "instance"}},
            # The instance's role on its metrics: a replica cluster's designated primary is in recovery too.
            "podMetricsEndpoints": [
                {
                    "port": "metrics",
                    "relabelings": [
                        {"sourceLabels": ["__meta_kubernetes_pod_label_cnpg_io_instanceRole"], "targetLabel": "role"}
                    ],
                }
            ],
        }
        assert monitor.inputs["metadata"]["namespace"] == "cnpg-database"
        assert cluster.urn in monitor.dependencies
    stack = prod.one("kubernetes:helm.sh/v3:Release", "operators-kube-prometheus-stack")
    (self_managed,) = (r for r in monitors if r.type == "kubernetes:monitoring.coreos.com/v1:PodMonitor")
    assert stack.urn in self_managed.dependencies


def test_alerts_cover_the_failure_modes(prod: StackRun) -> None:
    rule = prod.one("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    (group,) = rule.inputs["spec"]["groups"]
    alerts = {alert["alert"]: alert for alert in group["rules"]}
    assert set(alerts) == {
        "CNPGInstanceDown",
        "CNPGPrimaryMissing",
        "CNPGSynchronousStandbysMissing",
        "CNPGStreamingReplicasMissing",
        "CNPGStandbyNotStreaming",
        "CNPGReplicationLagHigh",
        "CNPGWALArchiveBehind",
        "CNPGTransactionIdAgeHigh",
        "CNPGTransactionIdWraparoundNear",
        "CNPGLongRunningTransaction",
        "CNPGConnectionsNearLimit",
        "CNPGWALArchivingFailing",
        "CNPGLastBackupTooOld",
        "CNPGNoBackupCompleted",
        "CNPGLastBackupFailed",
        "CNPGVolumeUsageHigh",
        "CNPGVolumeUsageCritical",
        "CNPGVolumeFillingUp",
        "CNPGOperatorDown",
        "CNPGOperatorDegraded",
        "CNPGPoolerDown",
        "CNPGPoolerClientsWaiting",
        "CNPGPoolerPoolSaturated",
    }
    for name, alert in alerts.items():
        # The operators run in their own namespace; the alerts name the cluster they serve.
        assert ('namespace="cnpg-system"' if name.startswith("CNPGOperator") else 'namespace="cnpg-database"') in alert["expr"]
        assert alert["labels"] == {
            "severity": alert["labels"]["severity"],
            "namespace": "cnpg-database",
            "cnpg_cluster": "pg-primary",
        }
        assert alert["labels"]["severity"] in ("warning", "critical")
        # Summaries are static: an aggregated alert has no per-pod label to fill in.
        assert "{{" not in alert["annotations"]["summary"]
    # The instance count and the backup limit come from the stack (3 instances, alertAfterHours 26).
    assert "< 3" in alerts["CNPGInstanceDown"]["expr"]
    assert "< 2" in alerts["CNPGStreamingReplicasMissing"]["expr"]
    assert str(26 * 3600) in alerts["CNPGLastBackupTooOld"]["expr"]
    assert str(26 * 3600) in alerts["CNPGNoBackupCompleted"]["expr"]
    # What each alert means is tested by promtool scenarios (test_database_alerts.py).


def test_grafana_dashboard_reads_the_barman_cloud_plugin_backup_metrics(shipped: StackRun) -> None:
    dashboard = shipped.one("kubernetes:core/v1:ConfigMap", "database-monitoring-dashboard")
    # kube-prometheus-stack's Grafana sidecar loads ConfigMaps with this label from every namespace.
    assert dashboard.inputs["metadata"]["labels"] == {"grafana_dashboard": "1"}
    # Grafana's namespace: its sidecar reads ConfigMaps there only (test_operators.py).
    assert dashboard.inputs["metadata"]["namespace"] == "monitoring"
    (content,) = dashboard.inputs["data"].values()
    # Minified: under the 1 MiB ConfigMap limit, and even under the 256 KiB annotation limit that a
    # client-side apply's last-applied annotation would hit.
    assert len(content.encode()) < 256 * 1024
    model = json.loads(content)
    assert model["uid"] == "cloudnative-pg"
    queries = json.dumps(model)
    for metric in (
        "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp",
        "barman_cloud_cloudnative_pg_io_first_recoverability_point",
    ):
        assert metric in queries
    stack = shipped.one("kubernetes:helm.sh/v3:Release", "operators-kube-prometheus-stack")
    assert stack.urn in dashboard.dependencies


def test_no_self_managed_monitoring_objects_without_kube_prometheus_stack() -> None:
    from offline.engine import run_stack
    from tests.test_settings import _section

    run = run_stack("dev", {"aks-postgres-ha:operators": _section("dev", "operators", selfManagedMonitoring=False)})
    assert not run.of_type("kubernetes:monitoring.coreos.com/v1:PodMonitor")
    assert not run.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    assert not [r for r in run.of_type("kubernetes:core/v1:ConfigMap") if r.name == "database-monitoring-dashboard"]
    assert {r.inputs["chart"] for r in run.of_type("kubernetes:helm.sh/v3:Release")} == {
        "cert-manager",
        "cloudnative-pg",
        "plugin-barman-cloud",
    }
    assert run.of_type("kubernetes:azmonitoring.coreos.com/v1:PodMonitor")
