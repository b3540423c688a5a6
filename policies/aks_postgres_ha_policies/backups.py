"""Every CNPG Cluster is backed up: a ScheduledBackup through its plugin, and ObjectStores that exist."""

from __future__ import annotations

from pulumi_policy import ReportViolation, StackValidationArgs

from .cnpg_objects import named_clusters, referenced_object_stores, wal_archivers
from .common import kubernetes_name, kubernetes_namespace, label, lookup, of_type, plain, stack_policy
from .resource_types import BARMAN_OBJECT_STORE, CNPG_SCHEDULED_BACKUP


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
        for schedule in own_schedules:
            method = lookup(props[schedule.urn], "spec", "method")
            plugin = lookup(props[schedule.urn], "spec", "pluginConfiguration", "name")
            if archivers and (method != "plugin" or plugin not in archivers):
                report_violation(
                    f"{label(schedule.resource_type, schedule.name)}: spec.method is {method or 'unset (barmanObjectStore)'} "
                    f"and spec.pluginConfiguration.name is {plugin or 'unset'}, but {where} archives through the plugin "
                    f"'{archivers[0]}': set method: plugin and pluginConfiguration.name: {archivers[0]}, or every "
                    "scheduled backup fails.",
                    schedule.urn,
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


BACKUP_POLICIES = [
    stack_policy(
        "cnpg-backups-configured",
        "Every CNPG Cluster has a ScheduledBackup and the ObjectStores it references.",
        _validate_backups,
    ),
]
