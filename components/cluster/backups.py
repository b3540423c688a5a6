"""Backups: the scheduled base backup and on-demand backups, all through the Barman Cloud plugin."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.builders.cluster_spec import BARMAN_CLOUD_PLUGIN, ClusterRef
from settings import BackupSettings


@dataclass(frozen=True)
class BackupsArgs:
    # Backups start once the cluster is Ready: a backup of a cluster still bootstrapping would fail.
    cluster: ClusterRef
    settings: BackupSettings


def backup_method() -> dict[str, object]:
    return {"method": "plugin", "pluginConfiguration": {"name": BARMAN_CLOUD_PLUGIN}}


class Backups(pulumi.ComponentResource):
    """``ScheduledBackup`` on the settings' 6-field cron, plus one ``Backup`` per on-demand name."""

    def __init__(self, name: str, args: BackupsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:Backups", name, None, opts)
        cluster = args.cluster
        cluster_ref = {"name": cluster.name}

        def schedule(suffix: str, cron: str, immediate: bool, method: dict[str, object]) -> None:
            k8s.apiextensions.CustomResource(
                f"{name}-{suffix}",
                api_version="postgresql.cnpg.io/v1",
                kind="ScheduledBackup",
                metadata={"name": f"{cluster.name}-{suffix}", "namespace": cluster.namespace},
                spec={
                    "schedule": cron,
                    "cluster": cluster_ref,
                    # Backups are owned by the schedule: deleting it deletes their Backup objects.
                    "backupOwnerReference": "self",
                    "immediate": immediate,
                    "target": "prefer-standby",
                    **method,
                },
                opts=pulumi.ResourceOptions(
                    parent=self, provider=cluster.provider, depends_on=[cluster.resource], replace_on_changes=["spec.cluster"]
                ),
            )

        schedule("scheduled", args.settings.schedule, True, backup_method())
        snapshots = args.settings.volume_snapshot
        if snapshots.enabled:
            # Beside the object-store schedule, never instead of it: snapshots live in this region's
            # subscription, with the disks, and are restorable only together with the WAL archive.
            schedule("snapshots", snapshots.schedule, False, {"method": "volumeSnapshot"})
        for backup_name in args.settings.on_demand:
            k8s.apiextensions.CustomResource(
                f"{name}-on-demand-{backup_name}",
                api_version="postgresql.cnpg.io/v1",
                kind="Backup",
                metadata={"name": backup_name, "namespace": cluster.namespace},
                spec={"cluster": cluster_ref, "target": "prefer-standby", **backup_method()},
                # Backup.spec is immutable: any change is a new backup.
                opts=pulumi.ResourceOptions(
                    parent=self, provider=cluster.provider, depends_on=[cluster.resource], replace_on_changes=["spec"]
                ),
            )
        self.register_outputs({})
