"""Database monitoring: PodMonitors for Prometheus (self-managed and Azure managed), the alert rules a
PostgreSQL on-call needs, and CloudNativePG's Grafana dashboard."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.builders.cluster_spec import INSTANCE_POD_ROLE, ClusterRef
from components.builders.endpoints import pooler_names
from components.cluster.operators import GRAFANA_DASHBOARD_LABEL, Scrapers
from settings import Settings
from settings.operators import MONITORING_NAMESPACE, OPERATOR_NAMESPACE
from settings.pooler import pool_sizes
from sizing.postgres_parameters import REGIONAL_LOSS_BOUND_SECONDS

METRICS_PORT = "metrics"

# grafana-dashboards main: its backup panels read the Barman Cloud plugin's metrics (assets/SOURCES.md).
DASHBOARD_FILE = Path(__file__).resolve().parent.parent / "assets" / "cnpg-grafana-dashboard.json"

# The Barman Cloud plugin's metrics (plugin-barman-cloud internal/cnpgi/instance/metrics.go); each is 0
# until the ObjectStore reports a recovery window for the cluster, e.g. before the first backup.
LAST_BACKUP_METRIC = "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp"
LAST_FAILED_BACKUP_METRIC = "barman_cloud_cloudnative_pg_io_last_failed_backup_timestamp"
# kube-state-metrics' PVC creation time: the cluster's age, from its oldest volume (pods come and go).
PVC_CREATED_METRIC = "kube_persistentvolumeclaim_created"

# Azure managed Prometheus keeps only a minimal list of each default target's metrics unless told more
# (Azure/prometheus-collector tomlparser-default-targets-metrics-keep-list.go; kubestateRegex_minimal_mac
# has no kube_persistentvolumeclaim_created). Its settings ConfigMap adds to a target's list; every other
# default (targets, intervals, the minimal profile itself) stays, as sections left out keep theirs.
AZURE_METRICS_NAMESPACE = "kube-system"
AZURE_METRICS_SETTINGS = "ama-metrics-settings-configmap"
AZURE_KEEP_LIST_ADDITIONS: dict[str, tuple[str, ...]] = {"kubestate": (PVC_CREATED_METRIC,)}

REPLICATION_LAG_SECONDS = 300
# A completed segment waits (.ready) while nothing has reached the archive for this long: the archiver
# is behind, and a paired primary's region lost now would lose more than its 60 s bound.
ARCHIVE_LAG_SECONDS = REGIONAL_LOSS_BOUND_SECONDS
# A replica cluster replays the primary region's archive, a segment at least every archive_timeout
# (50 s while paired) while the primary writes: an hour without a replayed transaction means the archive is not
# reaching it (or the primary has written nothing for an hour).
REPLICA_CLUSTER_LAG_SECONDS = 3600
# The instance's role (cnpg.io/instanceRole) as a label on its metrics: in a replica cluster every
# instance is in recovery, and only this label tells the designated primary from its standbys.
ROLE_RELABELING = {"sourceLabels": ["__meta_kubernetes_pod_label_cnpg_io_instanceRole"], "targetLabel": "role"}
LONG_TRANSACTION_SECONDS = 3600
CONNECTIONS_USED_RATIO = 0.9
# A data or WAL volume this full warns, then pages; growing it (postgres.storage) is an online expansion.
VOLUME_USED_WARNING_RATIO = 0.8
VOLUME_USED_CRITICAL_RATIO = 0.9
# A volume whose free space, extrapolated from its last hours, runs out within the horizon.
VOLUME_TREND_WINDOW = "6h"
VOLUME_FULL_HORIZON_HOURS = 24
# PgBouncer's oldest waiting client (SHOW POOLS maxwait, whole seconds): over this, the pool is too small
# or the database too slow to answer.
POOLER_MAX_WAIT_SECONDS = 1
# A pool this close to default_pool_size server connections makes the next clients wait.
POOL_USED_RATIO = 0.9
# The operators' Deployments (Helm releases named after their charts, components/cluster/operators.py):
# CloudNativePG fails over, switches over and applies every change; the Barman Cloud plugin serves the
# backups, WAL archiving setup and restores.
OPERATOR_DEPLOYMENTS = ("cloudnative-pg", "plugin-barman-cloud")
# Autovacuum freezes a table from 200 million (autovacuum_freeze_max_age); PostgreSQL stops
# accepting writes about 2.1 billion transactions after the oldest unfrozen one.
XID_AGE_WARNING = 300_000_000
XID_AGE_CRITICAL = 1_000_000_000


GROW_VOLUMES = "grow postgres.storage.dataSize or walSize (an online expansion, README 'Operate')"
OPERATOR_CONSEQUENCE = (
    "no failover, switchover or change reaches the cluster (CloudNativePG) or no backup or restore runs "
    "(the Barman Cloud plugin)."
)


@dataclass(frozen=True)
class DatabaseMonitoringArgs:
    # Monitors start after the cluster: its pods must exist to be scraped.
    cluster: ClusterRef
    scrapers: Scrapers
    # The cluster's alert_rules(): the same rules the Azure Monitor rule groups evaluate.
    alert_rules: Sequence[Mapping[str, Any]]
    # Also the stack's stack_wide_objects(): the one-cluster stack's database ships them (a platform
    # without one has PlatformMonitoring).
    stack_wide: bool = True


@dataclass(frozen=True)
class MonitoredPoolers:
    """The cluster's PgBouncer Poolers (their Deployments share their names) and each one's pool size."""

    names: Sequence[str]
    # default_pool_size: server connections each PgBouncer opens per database/user pair.
    pool_size: int


def cluster_alert_rules(settings: Settings, *, operators: bool = True) -> list[dict[str, Any]]:
    """A cluster's alerts, the same in both Prometheus flavours: a replica cluster of a distributed
    topology gets those of its role, and the poolers are alerted on with the database. ``operators``:
    also the operators' (the stack-wide cluster's only, so a platform pages once for them)."""
    postgres, dr = settings.postgres, settings.disaster_recovery
    poolers = (
        MonitoredPoolers(pooler_names(postgres.cluster_name), pool_sizes(settings).default_pool_size)
        if settings.pooler.enabled
        else None
    )
    return alert_rules(
        postgres.namespace,
        postgres.cluster_name,
        postgres.instances,
        settings.backup.alert_after_hours,
        replica_cluster=bool(dr and dr.replica_here),
        poolers=poolers,
        operators=operators,
    )


def alert_rules(
    namespace: str,
    cluster: str,
    instances: int,
    backup_alert_after_hours: int,
    *,
    replica_cluster: bool = False,
    poolers: MonitoredPoolers | None = None,
    operators: bool = True,
) -> list[dict[str, Any]]:
    """Alerts scoped to this cluster's instance pods and volumes.

    The pod regex is anchored, so Job pods (``<cluster>-1-initdb-…``, ``<cluster>-2-join-…``) never
    count as instances. Descriptions template only labels their expression keeps; aggregated
    alerts name the cluster literally. A replica cluster (every instance in recovery, the designated
    primary replaying the primary region's archive with no WAL receiver) gets the alerts of its own
    role, told apart by the ``role`` label the PodMonitors copy from the pod. The operators' and (with
    ``poolers``) the poolers' alerts name the cluster they serve.
    """
    pods = f'namespace="{namespace}", pod=~"{cluster}-[0-9]+"'
    volumes = f'namespace="{namespace}", persistentvolumeclaim=~"{cluster}-[0-9]+(-wal)?"'
    where = f"{namespace}/{cluster}"
    backup_limit_seconds = backup_alert_after_hours * 3600

    def alert(name: str, severity: str, duration: str, expr: str, summary: str, description: str) -> dict[str, Any]:
        return {
            "alert": name,
            "expr": expr,
            "for": duration,
            # Every alert names its cluster, whatever its expression aggregates away (routing, silences).
            "labels": {"severity": severity, "namespace": namespace, "cnpg_cluster": cluster},
            "annotations": {"summary": summary, "description": description},
        }

    used = f"1 - kubelet_volume_stats_available_bytes{{{volumes}}} / kubelet_volume_stats_capacity_bytes{{{volumes}}}"

    def volume_used_alert(name: str, severity: str, expr: str, consequence: str) -> dict[str, Any]:
        return alert(
            name,
            severity,
            "5m",
            expr,
            f"A volume of {where} is almost full",
            "Volume {{ $labels.persistentvolumeclaim }} is {{ $value | humanizePercentage }} full: "
            f"{consequence}; {GROW_VOLUMES}.",
        )

    def operator_alerts() -> list[dict[str, Any]]:
        deployments = f'namespace="{OPERATOR_NAMESPACE}", deployment=~"{"|".join(OPERATOR_DEPLOYMENTS)}"'
        return [
            alert(
                "CNPGOperatorDown",
                "critical",
                "5m",
                f"kube_deployment_status_replicas_available{{{deployments}}} < 1",
                f"An operator serving {where} is down",
                "Deployment {{ $labels.deployment }} has no available replica: until it has, " + OPERATOR_CONSEQUENCE,
            ),
            alert(
                "CNPGOperatorDegraded",
                "warning",
                "15m",
                f"kube_deployment_status_replicas_available{{{deployments}}}"
                f" < on (namespace, deployment) kube_deployment_spec_replicas{{{deployments}}}",
                f"An operator serving {where} runs short of replicas",
                "Deployment {{ $labels.deployment }} has {{ $value }} available replicas, fewer than it asks for.",
            ),
        ]

    def pooler_alerts(monitored: MonitoredPoolers) -> list[dict[str, Any]]:
        names = "|".join(monitored.names)
        deployments = f'namespace="{namespace}", deployment=~"{names}"'
        # A Pooler's pods are <pooler>-<replica set hash>-<suffix> (a Deployment's).
        pooler_pods = f'namespace="{namespace}", pod=~"({names})-[a-z0-9]+-[a-z0-9]+"'
        return [
            alert(
                "CNPGPoolerDown",
                "critical",
                "5m",
                f"kube_deployment_status_replicas_available{{{deployments}}} < 1",
                f"A PgBouncer pooler of {where} is down",
                "Pooler {{ $labels.deployment }} has no available instance: clients of its endpoint cannot connect.",
            ),
            alert(
                "CNPGPoolerClientsWaiting",
                "warning",
                "5m",
                f"max by (namespace, pod, database) (cnpg_pgbouncer_pools_maxwait{{{pooler_pods}}}) > {POOLER_MAX_WAIT_SECONDS}",
                f"Clients of a PgBouncer pooler of {where} wait for a server connection",
                "The oldest client of database {{ $labels.database }} on {{ $labels.pod }} has waited "
                "{{ $value }} seconds for a server connection: the pool is too small or the database slow to answer.",
            ),
            alert(
                "CNPGPoolerPoolSaturated",
                "warning",
                "10m",
                f"max by (namespace, pod, database) (cnpg_pgbouncer_pools_sv_active{{{pooler_pods}}})"
                f" / {monitored.pool_size} > {POOL_USED_RATIO}",
                f"A PgBouncer pool of {where} is nearly exhausted",
                "{{ $labels.pod }} uses {{ $value | humanizePercentage }} of the "
                f"{monitored.pool_size} server connections of database {{{{ $labels.database }}}}'s pool: further "
                "clients wait (pooler.defaultPoolSize, or maxDbConnections, sizes it).",
            ),
        ]

    def xid_age_alert(name: str, severity: str, threshold: int, consequence: str) -> dict[str, Any]:
        return alert(
            name,
            severity,
            "15m",
            f"max by (datname) (cnpg_pg_database_xid_age{{{pods}}}) > {threshold}",
            f"Transaction ID wraparound is approaching in {where}",
            "Database {{ $labels.datname }} is {{ $value | humanize }} transactions past its oldest unfrozen "
            "transaction ID: " + consequence,
        )

    def primary_role_alerts() -> list[dict[str, Any]]:
        on_primary = f"and on (namespace, pod) cnpg_pg_replication_in_recovery{{{pods}}} == 0"
        return [
            alert(
                "CNPGPrimaryMissing",
                "critical",
                "5m",
                f"(count(cnpg_pg_replication_in_recovery{{{pods}}} == 0) or vector(0)) < 1",
                f"{where} has no primary",
                f"No instance of {where} runs as primary: writes fail until one is promoted.",
            ),
            alert(
                # With quorum "any 1" and dataDurability required, commits need one streaming standby.
                "CNPGSynchronousStandbysMissing",
                "critical",
                "2m",
                f"max(cnpg_pg_replication_streaming_replicas{{{pods}}} {on_primary}) < 1",
                f"The primary of {where} has no streaming standby",
                f"No standby streams from the primary of {where}: commits wait for a synchronous standby.",
            ),
            streaming_replicas_missing(f"{{{pods}}} {on_primary}", "The primary"),
            alert(
                "CNPGStandbyNotStreaming",
                "warning",
                "5m",
                f"cnpg_pg_replication_in_recovery{{{pods}}} == 1"
                f" and on (namespace, pod) cnpg_pg_replication_is_wal_receiver_up{{{pods}}} == 0",
                f"A standby of {where} is not streaming from the primary",
                "Standby {{ $labels.pod }} has no WAL receiver: it falls behind the primary and cannot be a synchronous standby.",
            ),
            replication_lag_high(pods),
            alert(
                # The archiver reports on the primary only; .ready counts segments Postgres has not archived yet.
                "CNPGWALArchiveBehind",
                "warning",
                "2m",
                f'max by (namespace, pod) (cnpg_collector_pg_wal_archive_status{{{pods}, value="ready"}}) > 0'
                f" and on (namespace, pod) (time() - cnpg_pg_stat_archiver_last_archived_time{{{pods}}}) > {ARCHIVE_LAG_SECONDS}",
                f"The WAL archive of {where} lags behind the primary",
                "{{ $labels.pod }} has {{ $value }} WAL segments waiting and archived none for over "
                f"{ARCHIVE_LAG_SECONDS} seconds: a region lost now loses more than that (uploads slower than WAL "
                "generation, or the storage is slow to answer).",
            ),
        ]

    def replica_role_alerts() -> list[dict[str, Any]]:
        designated = f'{pods}, role="primary"'
        standbys = f'{pods}, role="replica"'
        return [
            alert(
                "CNPGDesignatedPrimaryMissing",
                "critical",
                "5m",
                f"(count(cnpg_collector_up{{{designated}}} == 1) or vector(0)) < 1",
                f"Replica cluster {where} has no designated primary",
                f"No instance of {where} is its designated primary: it stops replaying the primary region's "
                "WAL and cannot be promoted until one is.",
            ),
            streaming_replicas_missing(f"{{{designated}}}", "The designated primary"),
            alert(
                # The designated primary replays the archive and has no WAL receiver by design.
                "CNPGStandbyNotStreaming",
                "warning",
                "5m",
                f"cnpg_pg_replication_is_wal_receiver_up{{{standbys}}} == 0",
                f"A standby of {where} is not streaming from the designated primary",
                "Standby {{ $labels.pod }} has no WAL receiver: it falls behind the designated primary.",
            ),
            replication_lag_high(standbys),
            alert(
                "CNPGReplicaClusterBehind",
                "warning",
                "15m",
                f"max(cnpg_pg_replication_lag{{{designated}}}) > {REPLICA_CLUSTER_LAG_SECONDS}",
                f"Replica cluster {where} is behind the primary region",
                f"The designated primary of {where} last replayed a transaction {{{{ $value | humanizeDuration }}}} "
                "ago: the primary region's WAL archive is not reaching it (or the primary has written nothing "
                "since). A promotion now would lose what it has not replayed.",
            ),
        ]

    def streaming_replicas_missing(selector: str, source: str) -> dict[str, Any]:
        # Replication lag reads 0 on a disconnected standby once replay catches up: count the streams.
        return alert(
            "CNPGStreamingReplicasMissing",
            "warning",
            "5m",
            f"max(cnpg_pg_replication_streaming_replicas{selector}) < {instances - 1}",
            f"Standbys of {where} are not streaming",
            f"{source} of {where} streams to {{{{ $value }}}} of {instances - 1} standbys.",
        )

    def replication_lag_high(selector: str) -> dict[str, Any]:
        return alert(
            "CNPGReplicationLagHigh",
            "warning",
            "5m",
            f"max by (namespace, pod) (cnpg_pg_replication_lag{{{selector}}}) > {REPLICATION_LAG_SECONDS}",
            f"A standby of {where} replays WAL late",
            "Standby {{ $labels.pod }} replays WAL {{ $value | humanizeDuration }} behind the primary.",
        )

    return [
        alert(
            "CNPGInstanceDown",
            "critical",
            "5m",
            f"(count(cnpg_collector_up{{{pods}}} == 1) or vector(0)) < {instances}",
            f"PostgreSQL instances of {where} are down",
            f"{{{{ $value }}}} of {instances} instances of {where} report PostgreSQL up.",
        ),
        *(replica_role_alerts() if replica_cluster else primary_role_alerts()),
        xid_age_alert(
            "CNPGTransactionIdAgeHigh",
            "warning",
            XID_AGE_WARNING,
            "autovacuum is not freezing it fast enough (a long transaction or an abandoned slot may hold it back).",
        ),
        xid_age_alert(
            "CNPGTransactionIdWraparoundNear",
            "critical",
            XID_AGE_CRITICAL,
            "PostgreSQL stops accepting writes at about 2.1 billion; vacuum it now.",
        ),
        alert(
            "CNPGLongRunningTransaction",
            "warning",
            "5m",
            f"max by (namespace, pod, datname, usename) (cnpg_backends_max_tx_duration_seconds{{{pods}}})"
            f" > {LONG_TRANSACTION_SECONDS}",
            f"A transaction in {where} has been open for over {LONG_TRANSACTION_SECONDS // 60} minutes",
            "A transaction of {{ $labels.usename }} on database {{ $labels.datname }} ({{ $labels.pod }}) "
            "has been open for {{ $value | humanizeDuration }}: it holds back vacuum and bloats tables.",
        ),
        alert(
            # Replication connections do not count against max_connections.
            "CNPGConnectionsNearLimit",
            "warning",
            "5m",
            f'sum by (namespace, pod) (cnpg_backends_total{{{pods}, usename!="streaming_replica"}})'
            f" / on (namespace, pod)"
            f' max by (namespace, pod) (cnpg_pg_settings_setting{{{pods}, name="max_connections"}})'
            f" > {CONNECTIONS_USED_RATIO}",
            f"Connections to {where} are near max_connections",
            "{{ $labels.pod }} uses {{ $value | humanizePercentage }} of max_connections: new connections will soon be refused.",
        ),
        alert(
            "CNPGWALArchivingFailing",
            "critical",
            "10m",
            f"(cnpg_pg_stat_archiver_last_failed_time{{{pods}}} - cnpg_pg_stat_archiver_last_archived_time{{{pods}}}) > 1",
            f"WAL archiving of {where} to Azure Blob is failing",
            "{{ $labels.pod }} has failed to archive WAL since its last success: point-in-time recovery "
            "is at risk and WAL accumulates on its volume.",
        ),
        alert(
            # "> 0": the plugin reports 0 until the first backup completes (CNPGNoBackupCompleted covers that).
            "CNPGLastBackupTooOld",
            "critical",
            "15m",
            f"time() - max({LAST_BACKUP_METRIC}{{{pods}}} > 0) > {backup_limit_seconds}",
            f"The newest base backup of {where} is too old",
            f"The newest base backup of {where} is {{{{ $value | humanizeDuration }}}} old "
            f"(limit {backup_alert_after_hours} hours).",
        ),
        alert(
            # Cluster age from its oldest volume (kube-state-metrics): a new cluster has no backup yet.
            "CNPGNoBackupCompleted",
            "critical",
            "15m",
            f"(max({LAST_BACKUP_METRIC}{{{pods}}}) or vector(0)) == 0"
            f" and on () time() - min({PVC_CREATED_METRIC}{{{volumes}}}) > {backup_limit_seconds}",
            f"{where} has no base backup",
            f"No base backup of {where} has completed although its volumes are more than {backup_alert_after_hours} hours old.",
        ),
        alert(
            "CNPGLastBackupFailed",
            "warning",
            "5m",
            f"max({LAST_FAILED_BACKUP_METRIC}{{{pods}}}) > max({LAST_BACKUP_METRIC}{{{pods}}})",
            f"The last base backup of {where} failed",
            f"The most recent base backup of {where} failed; see the Backup objects and the plugin sidecar logs.",
        ),
        volume_used_alert(
            "CNPGVolumeUsageHigh",
            "warning",
            f"{used} > {VOLUME_USED_WARNING_RATIO} <= {VOLUME_USED_CRITICAL_RATIO}",
            "it fills up soon",
        ),
        volume_used_alert(
            "CNPGVolumeUsageCritical",
            "critical",
            f"{used} > {VOLUME_USED_CRITICAL_RATIO}",
            "PostgreSQL stops when it is full",
        ),
        alert(
            "CNPGVolumeFillingUp",
            "warning",
            "1h",
            f"predict_linear(kubelet_volume_stats_available_bytes{{{volumes}}}[{VOLUME_TREND_WINDOW}],"
            f" {VOLUME_FULL_HORIZON_HOURS * 3600}) < 0",
            f"A volume of {where} is predicted to fill up",
            "Volume {{ $labels.persistentvolumeclaim }} fills up within "
            f"{VOLUME_FULL_HORIZON_HOURS} hours at the rate it filled over the last {VOLUME_TREND_WINDOW}: "
            f"{GROW_VOLUMES}.",
        ),
        *(operator_alerts() if operators else []),
        *(pooler_alerts(poolers) if poolers else []),
    ]


def azure_metrics_settings() -> dict[str, str]:
    """The data of Azure's ``ama-metrics-settings-configmap`` (schema v2, otelcollector/configmaps/
    ama-metrics-settings-configmap.yaml): the keep-list additions, with the minimal profile on. The agent
    reads a section header only as a line ending in ``: |-`` (shared/helpers.go ParseMetricsFiles)."""
    keep_lists = "\n".join(f'  {target} = "{"|".join(metrics)}"' for target, metrics in sorted(AZURE_KEEP_LIST_ADDITIONS.items()))
    return {
        "schema-version": "v2",
        "config-version": "ver1",
        "cluster-metrics": "\n".join(
            ["default-targets-metrics-keep-list: |-", keep_lists, "minimal-ingestion-profile: |-", "  enabled = true"]
        ),
    }


def dashboard_json() -> str:
    """The dashboard, minified: half the bytes of the upstream file, far below the 1 MiB ConfigMap limit."""
    return json.dumps(json.loads(DASHBOARD_FILE.read_text()), separators=(",", ":"))


def stack_wide_objects(
    name: str,
    dashboard_name: str,
    scrapers: Scrapers,
    provider: pulumi.ProviderResource,
    parent: pulumi.Resource,
    after: Sequence[pulumi.Resource] = (),
) -> None:
    """What a stack has once, whatever its clusters: the CNPG Grafana dashboard (its namespace and cluster
    variables pick a cluster) and the Azure metrics add-on's settings (a fixed-name kube-system ConfigMap)."""
    if scrapers.prometheus_operator is not None:
        # kube-prometheus-stack's Grafana sidecar loads labelled ConfigMaps from Grafana's namespace only.
        # The provider applies server-side, so no last-applied annotation copies the 125 kB.
        k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata={"name": dashboard_name, "namespace": MONITORING_NAMESPACE, "labels": GRAFANA_DASHBOARD_LABEL},
            data={"cloudnative-pg.json": dashboard_json()},
            opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=[*after, *scrapers.prometheus_operator]),
        )
    if scrapers.azure_managed:
        # So that the alert rules' kube-state-metrics series reach the workspace (the add-on picks it up).
        k8s.core.v1.ConfigMap(
            f"{name}-azure-metrics-settings",
            metadata={"name": AZURE_METRICS_SETTINGS, "namespace": AZURE_METRICS_NAMESPACE},
            data=azure_metrics_settings(),
            opts=pulumi.ResourceOptions(parent=parent, provider=provider),
        )


class DatabaseMonitoring(pulumi.ComponentResource):
    """Created after the cluster (the operator-managed pods must exist to be scraped)."""

    def __init__(self, name: str, args: DatabaseMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:DatabaseMonitoring", name, None, opts)
        cluster = args.cluster
        metadata = {"name": cluster.name, "namespace": cluster.namespace}
        pod_monitor_spec = {
            "selector": {"matchLabels": {"cnpg.io/cluster": cluster.name, **INSTANCE_POD_ROLE}},
            "podMetricsEndpoints": [{"port": METRICS_PORT, "relabelings": [ROLE_RELABELING]}],
        }
        after = pulumi.ResourceOptions(
            parent=self, provider=cluster.provider, depends_on=[cluster.resource, *(args.scrapers.prometheus_operator or [])]
        )
        if args.scrapers.prometheus_operator is not None:
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
                            "rules": list(args.alert_rules),
                        }
                    ]
                },
                opts=after,
            )
        if args.scrapers.azure_managed:
            # Azure managed Prometheus reads only its own API group (installed by the AKS add-on).
            k8s.apiextensions.CustomResource(
                f"{name}-azure-pod-monitor",
                api_version="azmonitoring.coreos.com/v1",
                kind="PodMonitor",
                metadata=metadata,
                spec=pod_monitor_spec,
                opts=pulumi.ResourceOptions(parent=self, provider=cluster.provider, depends_on=[cluster.resource]),
            )
        if args.stack_wide:
            stack_wide_objects(
                name, f"{cluster.name}-grafana-dashboard", args.scrapers, cluster.provider, self, [cluster.resource]
            )
        self.register_outputs({})
