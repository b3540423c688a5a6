"""Restore: a new CloudNativePG cluster bootstrapped from the primary's backups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cluster_spec import BARMAN_CLOUD_PLUGIN, ClusterRef, Placement, cluster_spec, cnpg_cluster
from components.database import federated_credential_name
from components.identities import Identities, ServiceAccountRef
from settings import PostgresSettings, RestoreSettings

RECOVERY_SOURCE = "origin"


@dataclass(frozen=True)
class RestoredClusterArgs:
    # The source cluster (Ready) and its settings: same image (PostgreSQL major), resources, volume sizes.
    source: ClusterRef
    postgres: PostgresSettings
    restore: RestoreSettings
    identities: Identities
    oidc_issuer_url: pulumi.Input[str]
    object_store_name: str
    app_secret_name: str
    placement: Placement


def recovery_target(restore: RestoreSettings) -> dict[str, Any] | None:
    """None: the latest base backup and every archived WAL (full recovery)."""
    if restore.target == "backup":
        # Stop as soon as that backup is consistent instead of replaying the archive to its end.
        return {"backupID": restore.backup_id, "targetImmediate": True}
    if restore.target == "time":
        return {"targetTime": restore.target_time}
    return None


class RestoredCluster(pulumi.ComponentResource):
    """Reads the source's archive under the source's server name and archives its own WAL under
    its own name, so it never trips CNPG's empty-WAL-archive check nor overwrites the source."""

    cluster: k8s.apiextensions.CustomResource

    def __init__(self, name: str, args: RestoredClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:RestoredCluster", name, None, opts)
        source, restore = args.postgres, args.restore
        trust = args.identities.federate(
            federated_credential_name(source.namespace, restore.cluster_name),
            issuer=args.oidc_issuer_url,
            service_account=ServiceAccountRef(source.namespace, restore.cluster_name),
        )
        recovery: dict[str, Any] = {
            "source": RECOVERY_SOURCE,
            "database": source.database,
            "owner": source.owner,
            "secret": {"name": args.app_secret_name},
        }
        target = recovery_target(restore)
        if target:
            recovery["recoveryTarget"] = target
        self.cluster = cnpg_cluster(
            f"{name}-cluster",
            name=restore.cluster_name,
            namespace=source.namespace,
            spec=cluster_spec(
                restore.cluster_name,
                source,
                placement=args.placement,
                workload_client_id=args.identities.workload_client_id,
                object_store=args.object_store_name,
                bootstrap={"recovery": recovery},
                external_clusters=[
                    {
                        "name": RECOVERY_SOURCE,
                        "plugin": {
                            "name": BARMAN_CLOUD_PLUGIN,
                            "parameters": {"barmanObjectName": args.object_store_name, "serverName": source.cluster_name},
                        },
                    }
                ],
            ),
            provider=args.source.provider,
            parent=self,
            depends_on=[args.source.resource, trust],
        )
        self.register_outputs({"clusterName": restore.cluster_name})
