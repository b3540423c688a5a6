"""Restore drill: back up, restore into a throwaway Cluster, compare, clean up.

1. A marker table ``drill_restore_marker`` gets rows of this run on the source primary; the marker
   and each ``--table`` are counted and checksummed there (``md5(string_agg(row::text ...))``).
2. An on-demand ``Backup`` (method plugin, Barman Cloud) is created and awaited.
3. A recovery Cluster is created from the live source Cluster's spec (what the program's
   ``cluster_spec`` rendered: image, resources, placement, identity), with one instance, no WAL
   archiver (a throwaway writes nothing to the bucket), no extra services, and bootstrap recovery
   from that backup (``targetImmediate``: the state at the backup's end).
4. The same queries run on the recovery Cluster; every count and checksum must match.
5. The recovery Cluster and this run's marker rows are removed (``keep`` leaves them for inspection).

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

from components.builders.cluster_spec import BARMAN_CLOUD_PLUGIN
from tools.drill.kube import Kubectl, wait_until
from tools.drill.writer import DrillError

MARKER_TABLE = "drill_restore_marker"
MARKER_ROWS = 100
RECOVERY_SOURCE = "origin"
# On what a drill creates (Backups, the recovery Cluster): which drill made it.
DRILL_LABEL = "aks-postgres-ha/drill"
BACKUP_KIND = "backups.postgresql.cnpg.io"
TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?")


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


def recovery_manifest(source: dict[str, Any], name: str, backup_id: str) -> dict[str, Any]:
    """A one-instance Cluster restored from ``backup_id`` of ``source``, otherwise shaped like it."""
    spec = copy.deepcopy(source["spec"])
    archiver = next(plugin for plugin in spec.get("plugins", []) if plugin.get("isWALArchiver"))
    initdb = spec["bootstrap"].get("initdb", {})
    spec["instances"] = 1
    spec["postgresql"].pop("synchronous", None)  # CNPG refuses synchronous.number >= instances
    for key in ("plugins", "managed", "certificates", "externalClusters"):
        spec.pop(key, None)
    spec["bootstrap"] = {
        "recovery": {
            "source": RECOVERY_SOURCE,
            "recoveryTarget": {"backupID": backup_id, "targetImmediate": True},
            **{key: initdb[key] for key in ("database", "owner", "secret") if key in initdb},
        }
    }
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


def backup_manifest(cluster: str, name: str, drill: str) -> dict[str, Any]:
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Backup",
        "metadata": {"name": name, "labels": {DRILL_LABEL: drill}},
        "spec": {"cluster": {"name": cluster}, "method": "plugin", "pluginConfiguration": {"name": BARMAN_CLOUD_PLUGIN}},
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


def take_backup(kube: Kubectl, cluster: str, name: str, drill: str, timeout: float, poll_seconds: float) -> tuple[str, float]:
    """An on-demand plugin Backup of ``cluster`` named ``name``, awaited: its backupId and the seconds it took."""
    kube.create(backup_manifest(cluster, name, drill))
    seconds = wait_until(lambda: _backup_phase(kube, name) == "completed", timeout, f"Backup {name}", poll_seconds)
    backup_id: str = kube.get(BACKUP_KIND, name)["status"]["backupId"]
    return backup_id, seconds


def _ready(kube: Kubectl, cluster: str) -> bool:
    conditions = kube.get("clusters.postgresql.cnpg.io", cluster).get("status", {}).get("conditions", [])
    return any(condition.get("type") == "Ready" and condition.get("status") == "True" for condition in conditions)


def run_restore(kube: Kubectl, options: RestoreOptions) -> dict[str, Any]:
    if kube.exists("clusters.postgresql.cnpg.io", options.recovery_cluster):
        raise DrillError(f"Cluster {options.recovery_cluster} exists already; remove it or choose --recovery-cluster")
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    backup_name = f"{options.cluster}-drill-{stamp}"
    source_pod = _primary_pod(kube, options.cluster)
    kube.psql(
        source_pod, options.database,
        f"SET ROLE {quoted_identifier(options.owner)}; "
        f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (run text, n integer, PRIMARY KEY (run, n)); "
        f"INSERT INTO {MARKER_TABLE} SELECT '{stamp}', n FROM generate_series(1, {MARKER_ROWS}) n",
    )  # fmt: skip
    report: dict[str, Any] = {"drill": "restore", "backup": backup_name, "recoveryCluster": options.recovery_cluster}
    try:
        report["source"] = _checks(kube, source_pod, options)
        backup_id, backup_seconds = take_backup(
            kube, options.cluster, backup_name, "restore", options.timeout, options.poll_seconds
        )
        report["backupSeconds"] = round(backup_seconds, 1)
        report["backupId"] = backup_id
        source = kube.get("clusters.postgresql.cnpg.io", options.cluster)
        kube.create(recovery_manifest(source, options.recovery_cluster, backup_id))
        report["restoreSeconds"] = round(
            wait_until(lambda: _ready(kube, options.recovery_cluster), options.timeout,
                       f"recovery Cluster {options.recovery_cluster} Ready", options.poll_seconds), 1,
        )  # fmt: skip
        report["restored"] = _checks(kube, _primary_pod(kube, options.recovery_cluster), options)
        report["mismatches"] = sorted(table for table in report["source"] if report["source"][table] != report["restored"][table])
        report["passed"] = not report["mismatches"]
        report["summary"] = (
            f"drill: restore of backup {backup_id} verified {len(report['source'])} tables, "
            f"{len(report['mismatches'])} mismatches (backup {report['backupSeconds']} s, restore {report['restoreSeconds']} s)"
        )
    finally:
        if not options.keep:
            kube.delete("clusters.postgresql.cnpg.io", options.recovery_cluster)
            kube.psql(source_pod, options.database, f"DELETE FROM {MARKER_TABLE} WHERE run = '{stamp}'")
    return report
