"""The alert rules the program registers, run by ``promtool test rules``.

The rules under test are the PrometheusRule spec each shipped stack registers, written to a temporary
rule file: never a copy. Every failure scenario must fire exactly its alerts (every registered alert
name is checked at each evaluation, so an alert that stays silent or one that joins in fails), and
a fresh deployment must fire none. Expected descriptions are written out, so a template that
renders an empty label fails. The dr stack's cluster is a replica cluster (every instance in
recovery, the designated primary replaying the primary region's archive): it is tested with its own
healthy baseline and role scenarios.

promtool comes from PATH or ``.tools/`` (``.ci/run`` unpacks Debian's package there). Without it
the tests skip, except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.engine import PROJECT_DIR, StackRun, run_stack, stack_config

PROMTOOL_IN_PROJECT = PROJECT_DIR / ".tools" / "promtool"
# A healthy replica cluster's designated primary: within a few archive_timeouts of the primary.
ARCHIVE_REPLAY_LAG_SECONDS = 240
# Job pods of the cluster that a scrape of everything labelled cnpg.io/cluster would also see.
JOB_POD_SUFFIXES = ("-1-initdb-x7k2p", "-3-join-q9z4m")
# The operators' Deployments as the charts render them (namespace cnpg-system) and their replicas.
OPERATOR_REPLICAS = {"cloudnative-pg": 2, "plugin-barman-cloud": 1}
OPERATOR_NAMESPACE = "cnpg-system"
GROW = "grow postgres.storage.dataSize or walSize (an online expansion, README 'Operate')"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool") or (str(PROMTOOL_IN_PROJECT) if PROMTOOL_IN_PROJECT.is_file() else None)
    if found:
        return found
    reason = "promtool is neither on PATH nor in .tools/ (.ci/run unpacks it from Debian's prometheus package)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass(frozen=True)
class Cluster:
    """The monitored cluster as the stack declares it (not as the rules spell it)."""

    namespace: str
    name: str
    instances: int
    backup_limit_hours: int
    # A replica cluster of a distributed topology: the first pod is its designated primary.
    replica: bool = False
    # The Poolers (name -> instances) and their default_pool_size.
    poolers: dict[str, int] = field(default_factory=dict)
    pool_size: int = 0

    def pooler_pods(self, pooler: str) -> list[str]:
        """A Pooler's pods, named as a Deployment's: <pooler>-<replica set hash>-<suffix>."""
        return [f"{pooler}-6f9c8d7b5-p{serial}" for serial in range(1, self.poolers[pooler] + 1)]

    @property
    def pods(self) -> list[str]:
        """Instance pods; the first is the primary."""
        return [f"{self.name}-{serial}" for serial in range(1, self.instances + 1)]

    @property
    def volumes(self) -> list[str]:
        return [volume for pod in self.pods for volume in (pod, f"{pod}-wal")]

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.name}"

    def pod_labels(self, pod: str) -> dict[str, str]:
        """Labels a PodMonitor scrape puts on an instance's metrics (``role`` from cnpg.io/instanceRole)."""
        role = "primary" if pod == self.pods[0] else "replica"
        return {"namespace": self.namespace, "pod": pod, "job": f"{self.namespace}/{self.name}", "role": role}

    @property
    def source(self) -> str:
        """What the standbys stream from, as the descriptions name it."""
        return "The designated primary" if self.replica else "The primary"


def _cluster(run: StackRun) -> Cluster:
    declared = run.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "database-cluster").inputs
    backup = stack_config(run.stack)["aks-postgres-ha:backup"]
    replica = declared["spec"].get("replica", {})
    poolers = [p.inputs for p in run.of_type("kubernetes:postgresql.cnpg.io/v1:Pooler")]
    return Cluster(
        namespace=declared["metadata"]["namespace"],
        name=declared["metadata"]["name"],
        instances=int(declared["spec"]["instances"]),
        backup_limit_hours=int(backup["alertAfterHours"]),
        replica=bool(replica) and replica["primary"] != replica["self"],
        poolers={pooler["metadata"]["name"]: int(pooler["spec"]["instances"]) for pooler in poolers},
        pool_size=max((int(p["spec"]["pgbouncer"]["parameters"]["default_pool_size"]) for p in poolers), default=0),
    )


def _registered_rules(run: StackRun) -> dict[str, Any]:
    (rule,) = run.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    return {"groups": rule.inputs["spec"]["groups"]}


def _alerts_by_name(rules: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule}


def _series(metric: str, labels: dict[str, str]) -> str:
    return metric + "{" + ", ".join(f'{name}="{value}"' for name, value in labels.items()) + "}"


def _timeline(*segments: tuple[str | float, int]) -> str:
    """promtool values, one sample a minute: (value, minutes) segments; "_" is no sample, "a+b" grows by b."""
    return " ".join(f"{value}x{minutes - 1}" for value, minutes in segments if minutes)


def _duration_text(seconds: int) -> str:
    """Prometheus' humanizeDuration for whole seconds of a minute or more."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m {secs}s"
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s"


@dataclass(frozen=True)
class Fired:
    """An alert expected to fire: the labels its expression keeps and its rendered description.

    ``description=None``: the rule's description is static text (asserted to have no template).
    """

    alert: str
    labels: dict[str, str] = field(default_factory=dict)
    description: str | None = None


@dataclass
class Scenario:
    """Series that differ from a healthy cluster, and which alerts fire at which minute.

    The cluster exists from ``deployed_at``. Scenarios that run for a day evaluate the rules every
    5 minutes instead of every minute, to keep the test fast.
    """

    name: str
    minutes: int
    series: dict[str, str]
    checks: list[tuple[int, list[Fired]]]
    deployed_at: int = 0
    evaluation_minutes: int = 1


def _healthy(cluster: Cluster, minutes: int, deployed_at: int) -> dict[str, str]:
    """A steady cluster from ``deployed_at``: every instance up, standbys streaming, WAL archived, a
    backup a minute old."""
    primary, *standbys = cluster.pods
    series: dict[str, str] = {}
    deployed = deployed_at * 60  # seconds, as the timestamp metrics read

    def put(metric: str, labels: dict[str, str], values: str) -> None:
        series[_series(metric, labels)] = values

    def constant(value: float) -> str:
        return _timeline(("_", deployed_at), (value, minutes - deployed_at))

    for volume in cluster.volumes:
        pvc = {"namespace": cluster.namespace, "persistentvolumeclaim": volume}
        put("kubelet_volume_stats_capacity_bytes", pvc, constant(10 * 2**30))
        put("kubelet_volume_stats_available_bytes", pvc, constant(8 * 2**30))
        put("kube_persistentvolumeclaim_created", pvc, constant(deployed))
    for pod in cluster.pods:
        labels = cluster.pod_labels(pod)
        is_primary = pod == primary
        put("cnpg_collector_up", labels, constant(1))
        # A replica cluster's designated primary is in recovery too, replaying the primary region's
        # archive (no WAL receiver) a few minutes behind it.
        put("cnpg_pg_replication_in_recovery", labels, constant(0 if is_primary and not cluster.replica else 1))
        put("cnpg_pg_replication_is_wal_receiver_up", labels, constant(0 if is_primary else 1))
        put("cnpg_pg_replication_streaming_replicas", labels, constant(len(standbys) if is_primary else 0))
        put("cnpg_pg_replication_lag", labels, constant(ARCHIVE_REPLAY_LAG_SECONDS if is_primary and cluster.replica else 0))
        for datname in ("app", "postgres"):
            put("cnpg_pg_database_xid_age", {**labels, "datname": datname}, constant(250_000))
        backends = {**labels, "datname": "app", "usename": "app", "application_name": "api"}
        put("cnpg_backends_total", {**backends, "state": "active"}, constant(4))
        put("cnpg_backends_total", {**backends, "state": "idle"}, constant(6))
        put("cnpg_backends_max_tx_duration_seconds", {**backends, "state": "active"}, constant(2))
        put("cnpg_backends_max_tx_duration_seconds", {**backends, "state": "idle"}, constant(0))
        put("cnpg_pg_settings_setting", {**labels, "name": "max_connections"}, constant(100))
        put("cnpg_pg_settings_setting", {**labels, "name": "max_wal_senders"}, constant(10))
        put("barman_cloud_cloudnative_pg_io_last_available_backup_timestamp", labels, constant(deployed + 60))
        put("barman_cloud_cloudnative_pg_io_first_recoverability_point", labels, constant(deployed + 60))
        put("barman_cloud_cloudnative_pg_io_last_failed_backup_timestamp", labels, constant(0))
    # Walsenders: pg_stat_activity rows that do not count against max_connections.
    put(
        "cnpg_backends_total",
        {**cluster.pod_labels(primary), "usename": "streaming_replica", "application_name": standbys[0], "state": "active"},
        constant(len(standbys)),
    )
    # The archiver reports on the primary only; its timestamps advance with the clock.
    put(
        "cnpg_pg_stat_archiver_last_archived_time",
        cluster.pod_labels(primary),
        _timeline(("_", deployed_at), (f"{deployed}+60", minutes - deployed_at)),
    )
    put("cnpg_pg_stat_archiver_last_failed_time", cluster.pod_labels(primary), constant(-1))
    # kube-state-metrics: every operator and pooler Deployment has all its replicas available.
    deployments = [(OPERATOR_NAMESPACE, name, replicas) for name, replicas in OPERATOR_REPLICAS.items()]
    deployments += [(cluster.namespace, name, instances) for name, instances in cluster.poolers.items()]
    for namespace, deployment, replicas in deployments:
        labels = {"namespace": namespace, "deployment": deployment}
        put("kube_deployment_spec_replicas", labels, constant(replicas))
        put("kube_deployment_status_replicas_available", labels, constant(replicas))
    # The poolers' PgBouncer exporter: a few server connections busy, nobody waiting.
    for pooler in cluster.poolers:
        for pod in cluster.pooler_pods(pooler):
            pool = {"namespace": cluster.namespace, "pod": pod, "database": "app", "user": "app"}
            put("cnpg_pgbouncer_pools_sv_active", pool, constant(2))
            put("cnpg_pgbouncer_pools_maxwait", pool, constant(0))
    return series


def _scenarios(cluster: Cluster) -> Iterator[Scenario]:
    primary, *standbys = cluster.pods
    last = standbys[-1]
    where = cluster.where
    limit_minutes = cluster.backup_limit_hours * 60

    def metric(name: str, pod: str, **extra: str) -> str:
        return _series(name, {**cluster.pod_labels(pod), **extra})

    def not_streaming(pod: str) -> Fired:
        consequence = (
            "it falls behind the designated primary."
            if cluster.replica
            else "it falls behind the primary and cannot be a synchronous standby."
        )
        return Fired("CNPGStandbyNotStreaming", cluster.pod_labels(pod), f"Standby {pod} has no WAL receiver: {consequence}")

    def streams_to(count: int) -> Fired:
        return Fired(
            "CNPGStreamingReplicasMissing",
            description=f"{cluster.source} of {where} streams to {count} of {len(standbys)} standbys.",
        )

    primary_missing = Fired("CNPGDesignatedPrimaryMissing" if cluster.replica else "CNPGPrimaryMissing")

    def stop_after(minute: int, total: int, pod: str, prefix: str = "") -> dict[str, str]:
        """The pod's healthy series of metrics named ``prefix…``, cut off after ``minute``."""
        healthy = _healthy(cluster, total, 0)
        return {
            key: _timeline((values.split("x")[0], minute), ("_", total - minute))
            for key, values in healthy.items()
            if f'pod="{pod}"' in key and key.startswith(prefix)
        }

    # Deployed once the clock reads more than the backup limit, as any real clock does: the plugin's
    # zeros then read as ancient backups unless the rules ignore them.
    deployed = limit_minutes + 15
    first_backup = deployed + 90
    end = deployed + 121
    yield Scenario(
        "fresh deployment: plugin metrics absent, then 0, first backup after 90 minutes",
        end,
        {
            **{
                metric(name, pod): _timeline(("_", deployed + 10), (0, 80), (first_backup * 60, end - first_backup))
                for pod in cluster.pods
                for name in (
                    "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp",
                    "barman_cloud_cloudnative_pg_io_first_recoverability_point",
                )
            },
            **{
                metric("barman_cloud_cloudnative_pg_io_last_failed_backup_timestamp", pod): _timeline(
                    ("_", deployed + 10), (0, end - deployed - 10)
                )
                for pod in cluster.pods
            },
            # Nothing archived yet for the first minutes: both archiver timestamps read -1.
            metric("cnpg_pg_stat_archiver_last_archived_time", primary): _timeline(
                ("_", deployed), (-1, 3), (f"{(deployed + 3) * 60}+60", end - deployed - 3)
            ),
            # A Job pod of the bootstrap, were it scraped: its metrics never count.
            metric("cnpg_collector_up", cluster.name + JOB_POD_SUFFIXES[0]): _timeline(("_", deployed), (0, 5)),
        },
        [(deployed + minute, []) for minute in (5, 20, 60, 100, 120)],
        deployed_at=deployed,
        evaluation_minutes=5,
    )

    yield Scenario(
        "an instance pod is gone while its join Job pod reports up",
        40,
        {
            **stop_after(10, 40, last),
            metric("cnpg_collector_up", cluster.name + JOB_POD_SUFFIXES[1]): _timeline((1, 40)),
            metric("cnpg_pg_replication_streaming_replicas", primary): _timeline((len(standbys), 10), (len(standbys) - 1, 30)),
        },
        [
            (10, []),
            (
                30,
                [
                    Fired(
                        "CNPGInstanceDown",
                        description=f"{cluster.instances - 1} of {cluster.instances} instances of {where} report PostgreSQL up.",
                    ),
                    streams_to(len(standbys) - 1),
                ],
            ),
        ],
    )

    yield Scenario(
        "PostgreSQL is down on every instance",
        40,
        {
            # The exporter's queries fail; the plugin's metrics do not come from PostgreSQL.
            **{key: values for pod in cluster.pods for key, values in stop_after(10, 40, pod, "cnpg_").items()},
            **{metric("cnpg_collector_up", pod): _timeline((1, 10), (0, 30)) for pod in cluster.pods},
        },
        [
            (
                30,
                [
                    Fired("CNPGInstanceDown", description=f"0 of {cluster.instances} instances of {where} report PostgreSQL up."),
                    primary_missing,
                ],
            )
        ],
    )

    if not cluster.replica:
        yield Scenario(
            "every instance is a standby and none streams",
            40,
            {
                metric("cnpg_pg_replication_in_recovery", primary): _timeline((0, 10), (1, 30)),
                metric("cnpg_pg_replication_streaming_replicas", primary): _timeline((len(standbys), 10), (0, 30)),
                **{metric("cnpg_pg_replication_is_wal_receiver_up", pod): _timeline((1, 10), (0, 30)) for pod in standbys},
            },
            [(30, [primary_missing, *(not_streaming(pod) for pod in cluster.pods)])],
        )
    else:
        # Replay lag of the designated primary grows by a minute every minute from minute 10.
        yield Scenario(
            "the primary region's archive stops reaching the designated primary",
            100,
            {
                metric("cnpg_pg_replication_lag", primary): _timeline(
                    (ARCHIVE_REPLAY_LAG_SECONDS, 10), (f"{ARCHIVE_REPLAY_LAG_SECONDS}+60", 90)
                )
            },
            [
                (60, []),
                (
                    90,
                    [
                        Fired(
                            "CNPGReplicaClusterBehind",
                            description=f"The designated primary of {where} last replayed a transaction 1h 24m 0s ago: "
                            "the primary region's WAL archive is not reaching it (or the primary has written nothing "
                            "since). A promotion now would lose what it has not replayed.",
                        )
                    ],
                ),
            ],
        )

    yield Scenario(
        "a standby disconnects; its replication lag still reads 0",
        40,
        {
            metric("cnpg_pg_replication_is_wal_receiver_up", last): _timeline((1, 10), (0, 30)),
            metric("cnpg_pg_replication_streaming_replicas", primary): _timeline((len(standbys), 10), (len(standbys) - 1, 30)),
        },
        [(30, [not_streaming(last), streams_to(len(standbys) - 1)])],
    )

    yield Scenario(
        "every standby disconnects" + ("" if cluster.replica else ": commits wait"),
        40,
        {
            **{metric("cnpg_pg_replication_is_wal_receiver_up", pod): _timeline((1, 10), (0, 30)) for pod in standbys},
            metric("cnpg_pg_replication_streaming_replicas", primary): _timeline((len(standbys), 10), (0, 30)),
        },
        [
            (
                30,
                [
                    # A replica cluster commits nothing: no synchronous standby to wait for.
                    *([] if cluster.replica else [Fired("CNPGSynchronousStandbysMissing")]),
                    streams_to(0),
                    *(not_streaming(pod) for pod in standbys),
                ],
            )
        ],
    )

    yield Scenario(
        "a standby replays 15 minutes late",
        40,
        {metric("cnpg_pg_replication_lag", last): _timeline((0, 10), (900, 30))},
        [
            (
                30,
                [
                    Fired(
                        "CNPGReplicationLagHigh",
                        {"namespace": cluster.namespace, "pod": last},
                        f"Standby {last} replays WAL 15m 0s behind the primary.",
                    )
                ],
            )
        ],
    )

    def xid_age(value: int) -> dict[str, str]:
        return {metric("cnpg_pg_database_xid_age", pod, datname="app"): _timeline((value, 40)) for pod in cluster.pods}

    yield Scenario(
        "autovacuum falls behind on freezing",
        40,
        xid_age(400_000_000),
        [
            (
                30,
                [
                    Fired(
                        "CNPGTransactionIdAgeHigh",
                        {"datname": "app"},
                        "Database app is 400M transactions past its oldest unfrozen transaction ID: autovacuum is not "
                        "freezing it fast enough (a long transaction or an abandoned slot may hold it back).",
                    )
                ],
            )
        ],
    )
    yield Scenario(
        "transaction ID wraparound is near",
        40,
        xid_age(1_200_000_000),
        [
            (
                30,
                [
                    Fired(
                        "CNPGTransactionIdAgeHigh",
                        {"datname": "app"},
                        "Database app is 1.2G transactions past its oldest unfrozen transaction ID: autovacuum is not "
                        "freezing it fast enough (a long transaction or an abandoned slot may hold it back).",
                    ),
                    Fired(
                        "CNPGTransactionIdWraparoundNear",
                        {"datname": "app"},
                        "Database app is 1.2G transactions past its oldest unfrozen transaction ID: PostgreSQL stops "
                        "accepting writes at about 2.1 billion; vacuum it now.",
                    ),
                ],
            )
        ],
    )

    yield Scenario(
        "a transaction has been open for two hours",
        40,
        {
            metric(
                "cnpg_backends_max_tx_duration_seconds",
                primary,
                datname="app",
                usename="report",
                state="idle in transaction",
            ): _timeline((7200, 40))
        },
        [
            (
                30,
                [
                    Fired(
                        "CNPGLongRunningTransaction",
                        {"namespace": cluster.namespace, "pod": primary, "datname": "app", "usename": "report"},
                        f"A transaction of report on database app ({primary}) has been open for 2h 0m 0s: it holds back "
                        "vacuum and bloats tables.",
                    )
                ],
            )
        ],
    )

    client_backends = metric("cnpg_backends_total", primary, datname="app", usename="app", application_name="api", state="idle")
    yield Scenario(
        "client connections approach max_connections (walsenders do not count)",
        60,
        # 4 active + 86 idle = 90% (not above the limit, with the walsenders it would be); then 95%.
        {client_backends: _timeline((86, 30), (91, 30))},
        [
            (25, []),
            (
                55,
                [
                    Fired(
                        "CNPGConnectionsNearLimit",
                        {"namespace": cluster.namespace, "pod": primary},
                        f"{primary} uses 95% of max_connections: new connections will soon be refused.",
                    )
                ],
            ),
        ],
    )

    yield Scenario(
        "WAL archiving fails",
        40,
        {
            metric("cnpg_pg_stat_archiver_last_archived_time", primary): _timeline(("0+60", 10), (540, 30)),
            metric("cnpg_pg_stat_archiver_last_failed_time", primary): _timeline((-1, 10)) + " 600+60x29",
        },
        [
            (
                30,
                [
                    Fired(
                        "CNPGWALArchivingFailing",
                        cluster.pod_labels(primary),
                        f"{primary} has failed to archive WAL since its last success: point-in-time recovery is at risk "
                        "and WAL accumulates on its volume.",
                    )
                ],
            )
        ],
    )

    if not cluster.replica:
        # Uploads slower than WAL generation: segments wait, nothing reaches the archive, nothing fails.
        yield Scenario(
            "the WAL archive falls behind a busy primary",
            30,
            {
                metric("cnpg_collector_pg_wal_archive_status", primary, value="ready"): _timeline((0, 10), (3, 20)),
                metric("cnpg_pg_stat_archiver_last_archived_time", primary): _timeline(("0+60", 10), (540, 20)),
            },
            [
                (11, []),
                (
                    20,
                    [
                        Fired(
                            "CNPGWALArchiveBehind",
                            {"namespace": cluster.namespace, "pod": primary},
                            f"{primary} has 3 WAL segments waiting and archived none for over 60 seconds: a region "
                            "lost now loses more than that (uploads slower than WAL generation, or the storage is slow "
                            "to answer).",
                        )
                    ],
                ),
            ],
        )

    # The healthy series' backup completed at minute 1 and none since.
    stale_backup_minutes = limit_minutes + 60
    yield Scenario(
        "no base backup for longer than the limit",
        stale_backup_minutes + 1,
        {},
        [
            (limit_minutes - 5, []),
            (
                stale_backup_minutes,
                [
                    Fired(
                        "CNPGLastBackupTooOld",
                        description=f"The newest base backup of {where} is {_duration_text(stale_backup_minutes * 60 - 60)} "
                        f"old (limit {cluster.backup_limit_hours} hours).",
                    )
                ],
            ),
        ],
        evaluation_minutes=5,
    )

    # Volumes created an hour more than the limit before the clock starts.
    old_volumes = {
        _series("kube_persistentvolumeclaim_created", {"namespace": cluster.namespace, "persistentvolumeclaim": volume}): (
            _timeline((-3600 * (cluster.backup_limit_hours + 1), 40))
        )
        for volume in cluster.volumes
    }
    never_backed_up = {
        "the plugin reports 0": "0",
        "the plugin reports nothing": "_",
    }
    for reason, value in never_backed_up.items():
        yield Scenario(
            f"no base backup ever completed: {reason}",
            40,
            {
                **old_volumes,
                **{
                    metric(name, pod): _timeline((value, 40))
                    for pod in cluster.pods
                    for name in (
                        "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp",
                        "barman_cloud_cloudnative_pg_io_first_recoverability_point",
                        "barman_cloud_cloudnative_pg_io_last_failed_backup_timestamp",
                    )
                },
            },
            [
                (10, []),
                (
                    30,
                    [
                        Fired(
                            "CNPGNoBackupCompleted",
                            description=f"No base backup of {where} has completed although its volumes are more than "
                            f"{cluster.backup_limit_hours} hours old.",
                        )
                    ],
                ),
            ],
        )

    yield Scenario(
        "the latest base backup failed",
        40,
        {
            metric("barman_cloud_cloudnative_pg_io_last_failed_backup_timestamp", pod): _timeline((0, 10), (600, 30))
            for pod in cluster.pods
        },
        [(30, [Fired("CNPGLastBackupFailed")])],
    )

    wal_volume = f"{last}-wal"
    wal_available = _series(
        "kubelet_volume_stats_available_bytes", {"namespace": cluster.namespace, "persistentvolumeclaim": wal_volume}
    )
    wal_labels = {"namespace": cluster.namespace, "persistentvolumeclaim": wal_volume}
    yield Scenario(
        "a WAL volume is 85 % full",
        40,
        {wal_available: _timeline((8 * 2**30, 10), (1.5 * 2**30, 30))},
        [
            (
                30,
                [Fired("CNPGVolumeUsageHigh", wal_labels, f"Volume {wal_volume} is 85% full: it fills up soon; {GROW}.")],
            )
        ],
    )
    yield Scenario(
        "a WAL volume is almost full",
        40,
        {wal_available: _timeline((8 * 2**30, 10), (2**29, 30))},
        [
            (
                30,
                [
                    Fired(
                        "CNPGVolumeUsageCritical",
                        wal_labels,
                        f"Volume {wal_volume} is 95% full: PostgreSQL stops when it is full; {GROW}.",
                    )
                ],
            )
        ],
    )
    # 8 GiB of 10 free, then 8 MiB less a minute from minute 60: at that rate it is empty 17 hours later, but
    # 80 % used only after 12.8 hours. The 6-hour trend predicts it empty within a day some 95 minutes in.
    data_volume = {"namespace": cluster.namespace, "persistentvolumeclaim": primary}
    yield Scenario(
        "a data volume fills at a steady rate",
        310,
        {
            _series("kubelet_volume_stats_available_bytes", data_volume): _timeline(
                (8 * 2**30, 60), (f"{8 * 2**30}-{8 * 2**20}", 250)
            )
        },
        [
            (120, []),
            (
                300,
                [
                    Fired(
                        "CNPGVolumeFillingUp",
                        data_volume,
                        f"Volume {primary} fills up within 24 hours at the rate it filled over the last 6h: {GROW}.",
                    )
                ],
            ),
        ],
        evaluation_minutes=5,
    )

    def deployment_available(namespace: str, deployment: str, before: int, after: int) -> dict[str, str]:
        labels = {"namespace": namespace, "deployment": deployment}
        return {_series("kube_deployment_status_replicas_available", labels): _timeline((before, 10), (after, 30))}

    def operator_short(deployment: str, available: int) -> Fired:
        return Fired(
            "CNPGOperatorDegraded",
            {"deployment": deployment},
            f"Deployment {deployment} has {available} available replicas, fewer than it asks for.",
        )

    yield Scenario(
        "the CloudNativePG operator has no available replica",
        40,
        deployment_available(OPERATOR_NAMESPACE, "cloudnative-pg", 2, 0),
        [
            (
                30,
                [
                    Fired(
                        "CNPGOperatorDown",
                        {"deployment": "cloudnative-pg"},
                        "Deployment cloudnative-pg has no available replica: until it has, no failover, switchover or "
                        "change reaches the cluster (CloudNativePG) or no backup or restore runs (the Barman Cloud plugin).",
                    ),
                    operator_short("cloudnative-pg", 0),
                ],
            )
        ],
    )
    yield Scenario(
        "one of the CloudNativePG operator's two replicas is gone",
        40,
        deployment_available(OPERATOR_NAMESPACE, "cloudnative-pg", 2, 1),
        [(20, []), (30, [operator_short("cloudnative-pg", 1)])],
    )
    yield Scenario(
        "the Barman Cloud plugin is not ready",
        40,
        deployment_available(OPERATOR_NAMESPACE, "plugin-barman-cloud", 1, 0),
        [
            (
                30,
                [
                    Fired(
                        "CNPGOperatorDown",
                        {"deployment": "plugin-barman-cloud"},
                        "Deployment plugin-barman-cloud has no available replica: until it has, no failover, "
                        "switchover or change reaches the cluster (CloudNativePG) or no backup or restore runs "
                        "(the Barman Cloud plugin).",
                    ),
                    operator_short("plugin-barman-cloud", 0),
                ],
            )
        ],
    )

    if cluster.poolers:
        pooler = next(iter(cluster.poolers))
        pod = cluster.pooler_pods(pooler)[0]
        pool = {"namespace": cluster.namespace, "pod": pod, "database": "app", "user": "app"}
        yield Scenario(
            "a pooler has no available instance",
            40,
            deployment_available(cluster.namespace, pooler, cluster.poolers[pooler], 0),
            [
                (
                    30,
                    [
                        Fired(
                            "CNPGPoolerDown",
                            {"deployment": pooler},
                            f"Pooler {pooler} has no available instance: clients of its endpoint cannot connect.",
                        )
                    ],
                )
            ],
        )
        yield Scenario(
            "clients of a pooler wait seconds for a server connection",
            40,
            {_series("cnpg_pgbouncer_pools_maxwait", pool): _timeline((0, 10), (3, 30))},
            [
                (
                    30,
                    [
                        Fired(
                            "CNPGPoolerClientsWaiting",
                            {"namespace": cluster.namespace, "pod": pod, "database": "app"},
                            f"The oldest client of database app on {pod} has waited 3 seconds for a server connection: "
                            "the pool is too small or the database slow to answer.",
                        )
                    ],
                )
            ],
        )
        yield Scenario(
            "a pooler uses its whole pool",
            40,
            {_series("cnpg_pgbouncer_pools_sv_active", pool): _timeline((2, 10), (cluster.pool_size, 30))},
            [
                (
                    30,
                    [
                        Fired(
                            "CNPGPoolerPoolSaturated",
                            {"namespace": cluster.namespace, "pod": pod, "database": "app"},
                            f"{pod} uses 100% of the {cluster.pool_size} server connections of database app's pool: "
                            "further clients wait (pooler.defaultPoolSize, or maxDbConnections, sizes it).",
                        )
                    ],
                )
            ],
        )


def _promtool_test_files(cluster: Cluster, alerts: dict[str, dict[str, Any]], rule_file: str) -> dict[str, dict[str, Any]]:
    """promtool test files by name, one per evaluation interval (promtool sets it per file)."""
    files: dict[str, dict[str, Any]] = {}
    for scenario in _scenarios(cluster):
        series = {**_healthy(cluster, scenario.minutes, scenario.deployed_at), **scenario.series}
        checks = []
        for minute, fired in scenario.checks:
            assert minute % scenario.evaluation_minutes == 0 and minute < scenario.minutes, (scenario.name, minute)
            for name, rule in alerts.items():
                expected = []
                for alert in (alert for alert in fired if alert.alert == name):
                    description = alert.description
                    if description is None:
                        assert "{{" not in rule["annotations"]["description"], f"{name}: write out the rendered description"
                        description = rule["annotations"]["description"]
                    expected.append(
                        {
                            "exp_labels": {**rule["labels"], **alert.labels},
                            "exp_annotations": {"summary": rule["annotations"]["summary"], "description": description},
                        }
                    )
                checks.append({"eval_time": f"{minute}m", "alertname": name, "exp_alerts": expected})
        interval = f"{scenario.evaluation_minutes}m"
        test_file = files.setdefault(
            f"tests-every-{interval}.yaml", {"rule_files": [rule_file], "evaluation_interval": interval, "tests": []}
        )
        test_file["tests"].append(
            {
                "name": scenario.name,
                "interval": "1m",
                "input_series": [{"series": key, "values": values} for key, values in series.items()],
                "alert_rule_test": checks,
            }
        )
    return files


def _run(promtool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def dr_run() -> StackRun:
    return run_stack("dr")


@pytest.fixture(params=("dev", "prod", "dr"))
def monitored(request: pytest.FixtureRequest, stack_runs: dict[str, StackRun], dr_run: StackRun) -> StackRun:
    """Each shipped stack's cluster: dev and prod primaries, dr's replica cluster."""
    return dr_run if request.param == "dr" else stack_runs[request.param]


def test_the_dr_cluster_is_monitored_as_a_replica_cluster(dr_run: StackRun) -> None:
    assert _cluster(dr_run).replica
    alerts = _alerts_by_name(_registered_rules(dr_run))
    assert "CNPGPrimaryMissing" not in alerts and "CNPGSynchronousStandbysMissing" not in alerts
    assert 'role="replica"' in alerts["CNPGStandbyNotStreaming"]["expr"]


def test_registered_rules_pass_promtool_check(monitored: StackRun, promtool: str, tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(_registered_rules(monitored)))
    checked = _run(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_each_failure_fires_its_alerts_and_a_fresh_deployment_none(monitored: StackRun, promtool: str, tmp_path: Path) -> None:
    rules = _registered_rules(monitored)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    test_files = _promtool_test_files(_cluster(monitored), _alerts_by_name(rules), "rules.yaml")
    for name, content in test_files.items():
        (tmp_path / name).write_text(yaml.safe_dump(content, width=1000))
    tested = _run(promtool, "test", "rules", *test_files, cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_registered_alert_has_a_scenario_that_fires_it(monitored: StackRun) -> None:
    fired = {alert.alert for scenario in _scenarios(_cluster(monitored)) for _, alerts in scenario.checks for alert in alerts}
    assert fired == set(_alerts_by_name(_registered_rules(monitored)))
