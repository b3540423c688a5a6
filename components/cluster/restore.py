"""Restore: a new CloudNativePG cluster bootstrapped from the primary's backups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.azure.identities import ServiceAccountRef, WorkloadIdentity
from components.builders.cluster_spec import (
    ClusterRef,
    Placement,
    archive_source,
    cluster_spec,
    cnpg_cluster,
    recovery_bootstrap,
    volume_snapshot_source,
)
from components.cluster.backups import Backups, BackupsArgs
from components.cluster.database import PostgresCluster
from settings import BackupSettings, PostgresSettings, RestoreSettings
from settings.names import federated_credential_name

RECOVERY_SOURCE = "origin"
ARCHIVE_SUFFIX_LENGTH = 8


@dataclass(frozen=True)
class RestoredClusterArgs:
    # The source cluster (Ready: its ref, its ObjectStore, the folder it archives to now, which changes
    # with each major upgrade, and its app credentials) and its settings: same image, resources, volumes.
    source: PostgresCluster
    postgres: PostgresSettings
    restore: RestoreSettings
    # The primary's schedule and retention; on-demand backups stay the primary's.
    backup: BackupSettings
    # The cluster's own workload identity (its container's only writer).
    identity: WorkloadIdentity
    oidc_issuer_url: pulumi.Input[str]
    placement: Placement


def recovery_target(restore: RestoreSettings) -> dict[str, Any] | None:
    """None: the latest base backup and every archived WAL (full recovery)."""
    if restore.target == "backup":
        # Stop as soon as that backup is consistent instead of replaying the archive to its end.
        return {"backupID": restore.backup_id, "targetImmediate": True}
    if restore.target == "time":
        return {"targetTime": restore.target_time}
    return None


def archive_keepers(restore: RestoreSettings) -> dict[str, str]:
    """What makes a restore a different restore: a change recreates its archive suffix. The snapshot
    keys are added only for a snapshot restore, so existing restores keep their keepers (and folder)."""
    keepers = {
        "clusterName": restore.cluster_name,
        "target": restore.target,
        "backupId": restore.backup_id or "",
        "targetTime": restore.target_time or "",
    }
    if restore.snapshot_backup:
        keepers["snapshotBackup"] = restore.snapshot_backup
    return keepers


class RestoredCluster(pulumi.ComponentResource):
    """Reads the source's archive under the source's server name and archives its own WAL under
    ``<clusterName>-<random suffix>``: never the source's folder, and never one an earlier restore
    of the same name filled. CNPG refuses to archive into a folder that already holds WAL
    ("Expected empty archive"), so reusing the name after a disable/re-enable would stall.

    The suffix is a RandomString owned by this component: disabling the restore deletes it,
    re-enabling creates a new one, and its keepers renew it when the target changes.

    The recovery cluster gets its own ScheduledBackup (into its own folder): after an incident it
    is the database the applications move to, and an unbacked-up primary is what the mandatory
    cnpg-backups-configured policy exists to prevent, so the policy stays strict for every Cluster."""

    cluster: k8s.apiextensions.CustomResource
    ref: ClusterRef
    archive_server_name: pulumi.Output[str]

    def __init__(self, name: str, args: RestoredClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:RestoredCluster", name, None, opts)
        origin = args.source
        source, restore = args.postgres, args.restore
        trust = args.identity.federate(
            federated_credential_name(source.namespace, restore.cluster_name),
            issuer=args.oidc_issuer_url,
            service_account=ServiceAccountRef(source.namespace, restore.cluster_name),
        )
        recovery = recovery_bootstrap(RECOVERY_SOURCE, source, args.source.app_secret_name)
        target = recovery_target(restore)
        if target:
            recovery["recoveryTarget"] = target
        if restore.snapshot_backup:
            # New disks from the snapshots; WAL from the source's archive (``source``) up to the target.
            recovery["volumeSnapshots"] = volume_snapshot_source(restore.snapshot_backup)
        archive_suffix = random.RandomString(
            f"{name}-archive-suffix",
            length=ARCHIVE_SUFFIX_LENGTH,
            upper=False,
            special=False,
            keepers=archive_keepers(restore),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.archive_server_name = pulumi.Output.concat(restore.cluster_name, "-", archive_suffix.result)
        self.cluster = cnpg_cluster(
            f"{name}-cluster",
            name=restore.cluster_name,
            namespace=source.namespace,
            spec=cluster_spec(
                restore.cluster_name,
                source,
                image_catalog=origin.image_catalog_name,
                placement=args.placement,
                workload_client_id=args.identity.client_id,
                object_store=args.source.object_store_name,
                bootstrap={"recovery": recovery},
                external_clusters=[archive_source(RECOVERY_SOURCE, origin.object_store_name, origin.archive_server_name)],
                archive_server_name=self.archive_server_name,
                volume_snapshot_class=args.backup.volume_snapshot_class,
            ),
            provider=args.source.ref.provider,
            parent=self,
            depends_on=[args.source.ref.resource, trust],
        )
        self.ref = ClusterRef(args.source.ref.provider, source.namespace, restore.cluster_name, self.cluster)
        Backups(
            f"{name}-backups",
            BackupsArgs(cluster=self.ref, settings=args.backup.model_copy(update={"on_demand": []})),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"clusterName": restore.cluster_name, "archiveServerName": self.archive_server_name})
