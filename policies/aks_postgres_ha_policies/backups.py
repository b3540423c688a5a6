"""Every CNPG Cluster is backed up: a ScheduledBackup through its plugin, ObjectStores that exist,
and a WAL archive folder of its own.

A recovery cluster is held to the same rules: after an incident it is the database applications
use, so it needs base backups too, into its own folder (never the one it recovers from)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, StackValidationArgs

from .cnpg_objects import named_clusters, referenced_object_stores, wal_archivers
from .common import as_list, kubernetes_name, kubernetes_namespace, label, lookup, of_type, plain, stack_policy, text
from .resource_types import BARMAN_OBJECT_STORE, CNPG_SCHEDULED_BACKUP


def archive_folder(cluster_props: Any, cluster_name: str) -> tuple[str, str] | None:
    """(ObjectStore, serverName) the WAL archiver writes to; the plugin's serverName defaults to the
    cluster's name. None when there is no archiver or a value is unknown in this preview."""
    for plugin in wal_archivers(cluster_props):
        store = text(lookup(plugin, "parameters", "barmanObjectName"))
        server = lookup(plugin, "parameters", "serverName")
        server_name = cluster_name if server is None else text(server)
        if store and server_name:
            return store, server_name
    return None


def recovery_folders(cluster_props: Any) -> dict[tuple[str, str], str]:
    """(ObjectStore, serverName) -> external cluster name, for every source read with an explicit
    serverName. In a distributed topology the entry named by spec.replica.self is the cluster's own
    archive: it archives there and only the peer cluster reads it."""
    folders = {}
    own = text(lookup(cluster_props, "spec", "replica", "self"))
    for source in as_list(lookup(cluster_props, "spec", "externalClusters")):
        if own and lookup(source, "name") == own:
            continue
        store = text(lookup(source, "plugin", "parameters", "barmanObjectName"))
        server = text(lookup(source, "plugin", "parameters", "serverName"))
        if store and server:
            folders[(store, server)] = str(lookup(source, "name"))
    return folders


def _validate_archive_folders(args: StackValidationArgs, props: dict[str, Any], report_violation: ReportViolation) -> None:
    """CNPG refuses to archive into a folder that already holds WAL ("Expected empty archive"), and two
    clusters in one folder would interleave their histories."""
    archivers: dict[tuple[str, str, str], str] = {}
    for cluster, name, namespace in named_clusters(args.resources, props):
        folder = archive_folder(props[cluster.urn], name)
        if folder is None:
            continue
        store, server = folder
        where = label(cluster.resource_type, cluster.name)
        source = recovery_folders(props[cluster.urn]).get(folder)
        if source is not None:
            report_violation(
                f"{where} archives WAL into ObjectStore '{store}' folder '{server}', the folder it recovers from "
                f"(spec.externalClusters '{source}'): CNPG refuses to archive into a non-empty folder, so the "
                "cluster never becomes Ready; give the WAL archiver plugin its own parameters.serverName.",
                cluster.urn,
            )
        first = archivers.setdefault((namespace, store, server), where)
        if first != where:
            report_violation(
                f"{where} archives WAL into ObjectStore '{store}' folder '{server}', which {first} archives into "
                "too: the second cluster fails CNPG's empty-archive check and their histories would mix; give "
                "each cluster's WAL archiver plugin its own parameters.serverName.",
                cluster.urn,
            )


def _validate_backups(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    props = {resource.urn: plain(resource.props) for resource in args.resources}
    stores = {
        (kubernetes_namespace(props[store.urn]), kubernetes_name(props[store.urn]))
        for store in of_type(args.resources, BARMAN_OBJECT_STORE)
    }
    schedules = of_type(args.resources, CNPG_SCHEDULED_BACKUP)
    for cluster, name, namespace in named_clusters(args.resources, props):
        where = label(cluster.resource_type, cluster.name)
        archiver_plugins = wal_archivers(props[cluster.urn])
        archivers = [str(lookup(plugin, "name")) for plugin in archiver_plugins]
        own_schedules = [
            schedule
            for schedule in schedules
            if lookup(props[schedule.urn], "spec", "cluster", "name") == name
            and kubernetes_namespace(props[schedule.urn]) == namespace
        ]
        if not own_schedules:
            report_violation(
                f"{where} has no ScheduledBackup (spec.cluster.name: {name} in namespace {namespace}): without base "
                "backups a recovery replays every WAL file since the cluster was created and the retention policy "
                "cannot expire anything. Add a ScheduledBackup with method: plugin.",
                cluster.urn,
            )
        object_store_schedules = 0
        for schedule in own_schedules:
            if lookup(props[schedule.urn], "spec", "suspend") is True:
                report_violation(
                    f"{label(schedule.resource_type, schedule.name)}: spec.suspend is true, so {where} takes no base "
                    "backup: recoveries replay ever longer WAL and the retention policy expires nothing; remove suspend.",
                    schedule.urn,
                )
            method = lookup(props[schedule.urn], "spec", "method")
            plugin = lookup(props[schedule.urn], "spec", "pluginConfiguration", "name")
            if method == "volumeSnapshot":
                # Beside the plugin's backups: CNPG snapshots with the Cluster's spec.backup.volumeSnapshot.
                if lookup(props[cluster.urn], "spec", "backup", "volumeSnapshot", "className") is None:
                    report_violation(
                        f"{label(schedule.resource_type, schedule.name)}: spec.method is volumeSnapshot, but {where} has "
                        "no spec.backup.volumeSnapshot.className, so every snapshot backup fails; set the "
                        "VolumeSnapshotClass there.",
                        schedule.urn,
                    )
                continue
            object_store_schedules += 1
            if archivers and (method != "plugin" or plugin not in archivers):
                report_violation(
                    f"{label(schedule.resource_type, schedule.name)}: spec.method is {method or 'unset (barmanObjectStore)'} "
                    f"and spec.pluginConfiguration.name is {plugin or 'unset'}, but {where} archives through the plugin "
                    f"'{archivers[0]}': set method: plugin and pluginConfiguration.name: {archivers[0]}, or every "
                    "scheduled backup fails.",
                    schedule.urn,
                )
        if own_schedules and not object_store_schedules:
            report_violation(
                f"{where} has only volume-snapshot ScheduledBackups: snapshots stay with the disks in this region "
                "and the retention policy of the object store expires nothing; add a ScheduledBackup with method: plugin.",
                cluster.urn,
            )
        if all(lookup(plugin, "parameters", "barmanObjectName") is None for plugin in archiver_plugins):
            report_violation(
                f"{where}: no WAL archiver plugin names an ObjectStore (parameters.barmanObjectName), so nothing says "
                "where WAL and base backups go; reference the Barman Cloud ObjectStore from the plugin entry.",
                cluster.urn,
            )
        for source, store in referenced_object_stores(props[cluster.urn]):
            if (namespace, store) not in stores:
                report_violation(
                    f"{where}: {source} names ObjectStore '{store}', but this stack has no ObjectStore of that name in "
                    f"namespace {namespace} (the ObjectStore must live in the Cluster's namespace); create it there.",
                    cluster.urn,
                )
    _validate_archive_folders(args, props, report_violation)


BACKUP_POLICIES = [
    stack_policy(
        "cnpg-backups-configured",
        "Every CNPG Cluster has an active ScheduledBackup, the ObjectStores it references and a WAL archive folder of its own.",
        _validate_backups,
    ),
]
