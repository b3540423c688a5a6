from offline.engine import StackRun


def test_pod_monitors_select_the_cluster_on_the_metrics_port(prod: StackRun) -> None:
    monitors = prod.of_type("kubernetes:monitoring.coreos.com/v1:PodMonitor") + prod.of_type(
        "kubernetes:azmonitoring.coreos.com/v1:PodMonitor"
    )
    assert len(monitors) == 2
    cluster = prod.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "database-cluster")
    for monitor in monitors:
        assert monitor.inputs["spec"] == {
            "selector": {"matchLabels": {"cnpg.io/cluster": "pg-primary"}},
            "podMetricsEndpoints": [{"port": "metrics"}],
        }
        assert monitor.inputs["metadata"]["namespace"] == "cnpg-database"
        assert cluster.urn in monitor.dependencies
    stack = prod.one("kubernetes:helm.sh/v3:Release", "operators-kube-prometheus-stack")
    assert stack.urn in prod.one("kubernetes:monitoring.coreos.com/v1:PodMonitor").dependencies


def test_alerts_cover_the_failure_modes(prod: StackRun) -> None:
    rule = prod.one("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    (group,) = rule.inputs["spec"]["groups"]
    alerts = {alert["alert"]: alert for alert in group["rules"]}
    assert set(alerts) == {
        "CNPGInstanceDown",
        "CNPGReplicationLagHigh",
        "CNPGWALArchivingFailing",
        "CNPGLastBackupTooOld",
        "CNPGVolumeAlmostFull",
        "CNPGSynchronousStandbysMissing",
    }
    for alert in alerts.values():
        assert 'namespace="cnpg-database"' in alert["expr"]
        assert alert["labels"]["severity"] in ("warning", "critical")
    assert "< 3" in alerts["CNPGInstanceDown"]["expr"]
    assert str(26 * 3600) in alerts["CNPGLastBackupTooOld"]["expr"]


def test_no_self_managed_monitoring_objects_without_kube_prometheus_stack() -> None:
    from offline.engine import run_stack
    from tests.test_settings import _section

    run = run_stack("dev", {"aks-postgres-ha:operators": _section("dev", "operators", selfManagedMonitoring=False)})
    assert not run.of_type("kubernetes:monitoring.coreos.com/v1:PodMonitor")
    assert not run.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    assert {r.inputs["chart"] for r in run.of_type("kubernetes:helm.sh/v3:Release")} == {
        "cert-manager",
        "cloudnative-pg",
        "plugin-barman-cloud",
    }
    assert run.of_type("kubernetes:azmonitoring.coreos.com/v1:PodMonitor")
