"""Restore drill: back up, restore into a throwaway Cluster, compare, clean up.

1. A marker table ``drill_restore_marker`` gets rows of this run on the source primary; the marker
   and each ``--table`` are counted and checksummed there (``md5(string_agg(row::text ...))``).
2. An on-demand ``Backup`` is created and awaited: method plugin (Barman Cloud, the default), or with
   ``--method volumeSnapshot`` a volume-snapshot Backup (the stack needs backup.volumeSnapshot.enabled).
3. A recovery Cluster is created from the live source Cluster's spec (what the program's
   ``cluster_spec`` rendered: image, resources, placement, identity), with one instance, no WAL
   archiver (a throwaway writes nothing to the bucket), no extra services, and bootstrap recovery
   from that backup (``targetImmediate``: the state at the backup's end): downloaded from Blob
   storage, or new disks from the snapshots with the WAL from Blob storage.
4. The same queries run on the recovery Cluster; every count and checksum must match.
5. The recovery Cluster, this run's marker rows and a snapshot Backup (its snapshots with it) are
   removed (``keep`` leaves them for inspection). The report has ``backupSeconds`` and ``restoreSeconds``
   per method, to compare the two on the stack's own data.

The recovery Cluster's service account must be trusted by the stack's workload identity
(README "Operate": the drill cluster name), or the restore cannot read the backups.
Queries run through ``kubectl exec`` psql in the instances, so no database password is needed.
"""

from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass
from typing import Any

from components.builders.cluster_spec import BARMAN_CLOUD_PLUGIN, volume_snapshot_source
from tools.drill.kube import Kubectl, wait_until
from tools.drill.writer import DrillError

MARKER_TABLE = "drill_restore_marker"
MARKER_ROWS = 100
RECOVERY_SOURCE = "origin"
# On what a drill creates (Backups, the recovery Cluster): which drill made it.
DRILL_LABEL = "aks-postgres-ha/drill"
BACKUP_KIND = "backups.postgresql.cnpg.io"
TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?")
OBJECT_STORE = "objectStore"
VOLUME_SNAPSHOT = "volumeSnapshot"
METHODS = (OBJECT_STORE, VOLUME_SNAPSHOT)


@dataclass(frozen=True)
class RestoreOptions:
    cluster: str
    recovery_cluster: str
    database: str
    owner: str
    tables: tuple[str, ...]
    timeout: float
    keep: bool = False
    poll_seconds: float = 10.0
    method: str = OBJECT_STORE


def quoted_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quoted_table(name: str) -> str:
    """``schema.table`` as quoted identifiers; names are checked against TABLE_NAME first."""
    if not TABLE_NAME.fullmatch(name):
        raise DrillError(f"{name!r} is not a lowercase table name (schema.table)")
    return ".".join(quoted_identifier(part) for part in name.split("."))


def checksum_query(table: str) -> str:
    quoted = quoted_table(table)
    return f"SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {quoted} t"


def recovery_manifest(
    source: dict[str, Any], name: str, backup_id: str | None, snapshot_backup: str | None = None
) -> dict[str, Any]:
    """A one-instance Cluster restored from ``backup_id`` of ``source`` (or from the volume snapshots of
    the Backup ``snapshot_backup``, WAL from the archive), otherwise shaped like it."""
    spec = copy.deepcopy(source["spec"])
    archiver = next(plugin for plugin in spec.get("plugins", []) if plugin.get("isWALArchiver"))
    initdb = spec["bootstrap"].get("initdb", {})
    spec["instances"] = 1
    spec["postgresql"].pop("synchronous", None)  # CNPG refuses synchronous.number >= instances
    for key in ("plugins", "managed", "certificates", "externalClusters", "backup"):
        spec.pop(key, None)
    recovery: dict[str, Any] = {
        "source": RECOVERY_SOURCE,
        "recoveryTarget": {"targetImmediate": True},
        **{key: initdb[key] for key in ("database", "owner", "secret") if key in initdb},
    }
    if snapshot_backup:
        # CNPG refuses a backupID with volume snapshots; the snapshots' backup_label says where to stop.
        recovery["volumeSnapshots"] = volume_snapshot_source(snapshot_backup)
    else:
        recovery["recoveryTarget"]["backupID"] = backup_id
    spec["bootstrap"] = {"recovery": recovery}
    spec["externalClusters"] = [
        {
            "name": RECOVERY_SOURCE,
            "plugin": {
                "name": BARMAN_CLOUD_PLUGIN,
                "parameters": {
                    "barmanObjectName": archiver["parameters"]["barmanObjectName"],
                    "serverName": archiver["parameters"].get("serverName", source["metadata"]["name"]),
                },
            },
        }
    ]
    for constraint in spec.get("topologySpreadConstraints", []):
        constraint.get("labelSelector", {}).get("matchLabels", {})["cnpg.io/cluster"] = name
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": name, "labels": {DRILL_LABEL: "restore"}},
        "spec": spec,
    }


def backup_manifest(cluster: str, name: str, drill: str, method: str = OBJECT_STORE) -> dict[str, Any]:
    spec: dict[str, Any] = (
        {"cluster": {"name": cluster}, "method": "volumeSnapshot"}
        if method == VOLUME_SNAPSHOT
        else {"cluster": {"name": cluster}, "method": "plugin", "pluginConfiguration": {"name": BARMAN_CLOUD_PLUGIN}}
    )
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Backup",
        "metadata": {"name": name, "labels": {DRILL_LABEL: drill}},
        "spec": spec,
    }


def _primary_pod(kube: Kubectl, cluster: str) -> str:
    pods = kube.items("pods", f"cnpg.io/cluster={cluster},cnpg.io/instanceRole=primary")
    if len(pods) != 1:
        raise DrillError(f"expected one primary pod of {cluster}, found {len(pods)}")
    name: str = pods[0]["metadata"]["name"]
    return name


def _checks(kube: Kubectl, pod: str, options: RestoreOptions) -> dict[str, dict[str, Any]]:
    results = {}
    for table in (MARKER_TABLE, *options.tables):
        rows = kube.psql(pod, options.database, checksum_query(table))
        results[table] = {"rows": int(rows[0][0]), "md5": rows[0][1]}
    return results


def _backup_phase(kube: Kubectl, name: str) -> str:
    status = kube.get(BACKUP_KIND, name).get("status", {})
    if status.get("phase") == "failed":
        raise DrillError(f"Backup {name} failed: {status.get('error', '')}")
    phase: str = status.get("phase", "")
    return phase


def take_backup(
    kube: Kubectl, cluster: str, name: str, drill: str, timeout: float, poll_seconds: float, method: str = OBJECT_STORE
) -> tuple[str, float]:
    """An on-demand Backup of ``cluster`` named ``name``, awaited: its backupId and the seconds it took."""
    kube.create(backup_manifest(cluster, name, drill, method))
    seconds = wait_until(lambda: _backup_phase(kube, name) == "completed", timeout, f"Backup {name}", poll_seconds)
    backup_id: str = kube.get(BACKUP_KIND, name)["status"].get("backupId", name)
    return backup_id, seconds


def _ready(kube: Kubectl, cluster: str) -> bool:
    conditions = kube.get("clusters.postgresql.cnpg.io", cluster).get("status", {}).get("conditions", [])
    return any(condition.get("type") == "Ready" and condition.get("status") == "True" for condition in conditions)


def run_restore(kube: Kubectl, options: RestoreOptions) -> dict[str, Any]:
    if kube.exists("clusters.postgresql.cnpg.io", options.recovery_cluster):
        raise DrillError(f"Cluster {options.recovery_cluster} exists already; remove it or choose --recovery-cluster")
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    backup_name = f"{options.cluster}-drill-{stamp}"
    snapshots = options.method == VOLUME_SNAPSHOT
    if snapshots and "volumeSnapshot" not in kube.get("clusters.postgresql.cnpg.io", options.cluster)["spec"].get("backup", {}):
        raise DrillError(
            f"--method volumeSnapshot: Cluster {options.cluster} takes no volume-snapshot backups; set "
            "backup.volumeSnapshot.enabled true on the stack and pulumi up first"
        )
    source_pod = _primary_pod(kube, options.cluster)
    kube.psql(
        source_pod, options.database,
        f"SET ROLE {quoted_identifier(options.owner)}; "
        f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (run text, n integer, PRIMARY KEY (run, n)); "
        f"INSERT INTO {MARKER_TABLE} SELECT '{stamp}', n FROM generate_series(1, {MARKER_ROWS}) n",
    )  # fmt: skip
    report: dict[str, Any] = {
        "drill": "restore", "method": options.method, "backup": backup_name, "recoveryCluster": options.recovery_cluster,
    }  # fmt: skip
    try:
        report["source"] = _checks(kube, source_pod, options)
        backup_id, backup_seconds = take_backup(
            kube, options.cluster, backup_name, "restore", options.timeout, options.poll_seconds, options.method
        )
        report["backupSeconds"] = round(backup_seconds, 1)
        report["backupId"] = backup_id
        source = kube.get("clusters.postgresql.cnpg.io", options.cluster)
        kube.create(recovery_manifest(source, options.recovery_cluster, backup_id, backup_name if snapshots else None))
        report["restoreSeconds"] = round(
            wait_until(lambda: _ready(kube, options.recovery_cluster), options.timeout,
                       f"recovery Cluster {options.recovery_cluster} Ready", options.poll_seconds), 1,
        )  # fmt: skip
        report["restored"] = _checks(kube, _primary_pod(kube, options.recovery_cluster), options)
        report["mismatches"] = sorted(table for table in report["source"] if report["source"][table] != report["restored"][table])
        report["passed"] = not report["mismatches"]
        report["summary"] = (
            f"drill: restore ({options.method}) of backup {backup_id} verified {len(report['source'])} tables, "
            f"{len(report['mismatches'])} mismatches (backup {report['backupSeconds']} s, restore {report['restoreSeconds']} s)"
        )
    finally:
        if not options.keep:
            kube.delete("clusters.postgresql.cnpg.io", options.recovery_cluster)
            kube.psql(source_pod, options.database, f"DELETE FROM {MARKER_TABLE} WHERE run = '{stamp}'")
            if snapshots:
                # Its snapshots are owned by it (snapshotOwnerReference: backup) and go with it.
                kube.delete(BACKUP_KIND, backup_name)
    return report


def snapshot_backups_to_prune(backups: list[dict[str, Any]], cluster: str, keep: int) -> list[str]:
    """Completed volume-snapshot Backups of ``cluster`` beyond the newest ``keep`` (by when they stopped)."""
    snapshot_backups = [
        backup
        for backup in backups
        if backup.get("spec", {}).get("method") == VOLUME_SNAPSHOT
        and backup.get("spec", {}).get("cluster", {}).get("name") == cluster
        and backup.get("status", {}).get("phase") == "completed"
    ]
    snapshot_backups.sort(key=lambda backup: backup["status"].get("stoppedAt") or backup["metadata"]["creationTimestamp"])
    stale = snapshot_backups[: max(0, len(snapshot_backups) - keep)]
    return [backup["metadata"]["name"] for backup in stale]


def prune_snapshots(kube: Kubectl, cluster: str, keep: int) -> dict[str, Any]:
    """Delete the volume-snapshot Backups of ``cluster`` beyond the newest ``keep``: CNPG never prunes
    them, and deleting a Backup deletes its VolumeSnapshots (snapshotOwnerReference: backup), whose
    class's Delete policy removes the Azure snapshots."""
    deleted = snapshot_backups_to_prune(kube.items(BACKUP_KIND, f"cnpg.io/cluster={cluster}"), cluster, keep)
    for name in deleted:
        kube.delete(BACKUP_KIND, name)
    return {
        "drill": "prune-snapshots",
        "keep": keep,
        "deleted": deleted,
        "passed": True,
        "summary": f"drill: prune-snapshots kept the newest {keep} snapshot backups of {cluster}, deleted {len(deleted)}",
    }
