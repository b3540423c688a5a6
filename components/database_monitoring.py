"""Database monitoring: PodMonitors for Prometheus (self-managed and Azure managed) and the
alert rules a PostgreSQL on-call needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cluster_spec import ClusterRef

METRICS_PORT = "metrics"


@dataclass(frozen=True)
class DatabaseMonitoringArgs:
    # Monitors start after the cluster: its pods must exist to be scraped.
    cluster: ClusterRef
    instances: int
    backup_alert_after_hours: int
    # Prometheus Operator CRDs from kube-prometheus-stack; None: no self-managed Prometheus.
    prometheus_operator: list[pulumi.Resource] | None
    azure_managed_prometheus: bool


def _alert(name: str, expr: str, summary: str, severity: str, duration: str = "5m") -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": summary + " (cluster {{ $labels.namespace }}/{{ $labels.pod }})"},
    }


def alert_rules(namespace: str, cluster: str, instances: int, backup_alert_after_hours: int) -> list[dict[str, Any]]:
    """Alerts scoped to this cluster's pods and volumes."""
    pods = f'namespace="{namespace}", pod=~"{cluster}-[0-9]+"'
    volumes = f'namespace="{namespace}", persistentvolumeclaim=~"{cluster}-[0-9]+(-wal)?"'
    return [
        _alert(
            "CNPGInstanceDown",
            f"count(cnpg_collector_up{{{pods}}} == 1) < {instances} or absent(cnpg_collector_up{{{pods}}})",
            f"Fewer than {instances} PostgreSQL instances are up",
            "critical",
        ),
        _alert(
            "CNPGReplicationLagHigh",
            f"max by (namespace, pod) (cnpg_pg_replication_lag{{{pods}}}) > 300",
            "A standby is more than 5 minutes behind the primary",
            "warning",
        ),
        _alert(
            "CNPGWALArchivingFailing",
            f"(cnpg_pg_stat_archiver_last_failed_time{{{pods}}} - cnpg_pg_stat_archiver_last_archived_time{{{pods}}}) > 1",
            "WAL archiving to Azure Blob is failing: point-in-time recovery is at risk",
            "critical",
            "10m",
        ),
        _alert(
            "CNPGLastBackupTooOld",
            # The plugin's metric: CNPG's own backup metrics are not updated for plugin backups.
            f"time() - max(barman_cloud_cloudnative_pg_io_last_available_backup_timestamp{{{pods}}})"
            f" > {backup_alert_after_hours * 3600}",
            f"The newest base backup is older than {backup_alert_after_hours} hours",
            "critical",
            "15m",
        ),
        _alert(
            "CNPGVolumeAlmostFull",
            f"kubelet_volume_stats_available_bytes{{{volumes}}} / kubelet_volume_stats_capacity_bytes{{{volumes}}} < 0.1",
            "A PostgreSQL data or WAL volume has less than 10% free space",
            "warning",
        ),
        _alert(
            # With quorum "any 1", commits need at least one streaming standby on the primary.
            "CNPGSynchronousStandbysMissing",
            f"max(cnpg_pg_replication_streaming_replicas{{{pods}}}"
            f" and on (pod) cnpg_pg_replication_in_recovery{{{pods}}} == 0) < 1",
            "Fewer synchronous standbys than required: commits on the primary are blocked",
            "critical",
            "2m",
        ),
    ]


class DatabaseMonitoring(pulumi.ComponentResource):
    """Created after the cluster (the operator-managed pods must exist to be scraped)."""

    def __init__(self, name: str, args: DatabaseMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:DatabaseMonitoring", name, None, opts)
        cluster = args.cluster
        metadata = {"name": cluster.name, "namespace": cluster.namespace}
        pod_monitor_spec = {
            "selector": {"matchLabels": {"cnpg.io/cluster": cluster.name}},
            "podMetricsEndpoints": [{"port": METRICS_PORT}],
        }
        if args.prometheus_operator is not None:
            after = pulumi.ResourceOptions(
                parent=self, provider=cluster.provider, depends_on=[cluster.resource, *args.prometheus_operator]
            )
            k8s.apiextensions.CustomResource(
                f"{name}-pod-monitor",
                api_version="monitoring.coreos.com/v1",
                kind="PodMonitor",
                metadata=metadata,
                spec=pod_monitor_spec,
                opts=after,
            )
            k8s.apiextensions.CustomResource(
                f"{name}-alerts",
                api_version="monitoring.coreos.com/v1",
                kind="PrometheusRule",
                metadata={"name": f"{cluster.name}-alerts", "namespace": cluster.namespace},
                spec={
                    "groups": [
                        {
                            "name": f"{cluster.name}.rules",
                            "rules": alert_rules(cluster.namespace, cluster.name, args.instances, args.backup_alert_after_hours),
                        }
                    ]
                },
                opts=after,
            )
        if args.azure_managed_prometheus:
            # Azure managed Prometheus reads only its own API group (installed by the AKS add-on).
            k8s.apiextensions.CustomResource(
                f"{name}-azure-pod-monitor",
                api_version="azmonitoring.coreos.com/v1",
                kind="PodMonitor",
                metadata=metadata,
                spec=pod_monitor_spec,
                opts=pulumi.ResourceOptions(parent=self, provider=cluster.provider, depends_on=[cluster.resource]),
            )
        self.register_outputs({})
