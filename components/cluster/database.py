"""Database: namespace, application credentials, backup object store, workload-identity trust
and the CloudNativePG ``Cluster`` itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.azure.identities import ServiceAccountRef, WorkloadIdentity
from components.azure.peer_stack import Topology
from components.builders.cluster_spec import (
    ClusterRef,
    Placement,
    archive_source,
    cluster_spec,
    cnpg_cluster,
    distributed_topology,
    recovery_bootstrap,
)
from components.builders.endpoints import Endpoints
from components.builders.image_catalog import catalog_spec, image_catalog, image_catalog_name
from components.builders.migration import CA_KEY, PASSWORD_KEY, import_bootstrap, import_source, source_secret_name
from components.builders.pod_security import pod_security_labels
from components.cluster.databases import DatabasesAndRoles, DatabasesAndRolesArgs
from components.cluster.major_upgrade import (
    ArchivePlan,
    archive_plan,
    catalog_images,
    first_backup_name,
    major_refusal,
    pre_upgrade_backup_name,
    upgrade_backup,
)
from components.deployed import own_outputs
from settings import BackupSettings, MigrationSettings, PostgresSettings
from settings.databases import DatabaseSettings, RoleSettings
from settings.names import drill_cluster_name, federated_credential_name
from settings.postgres import PREMIUM_V2_STORAGE_CLASS, PremiumV2Disk


@dataclass(frozen=True)
class BackupTarget:
    """Where the cluster archives WAL and base backups (from the backup storage component)."""

    container_url: pulumi.Input[str]
    # The workload identity's role on the container: archiving fails until it exists.
    writer_role: pulumi.Resource


@dataclass(frozen=True)
class PostgresClusterArgs:
    provider: k8s.Provider
    postgres: PostgresSettings
    backup: BackupSettings
    # The cluster's own workload identity (its container's only writer).
    identity: WorkloadIdentity
    oidc_issuer_url: pulumi.Input[str]
    backup_target: BackupTarget
    placement: Placement
    endpoints: Endpoints
    # The CNPG operator and the Barman Cloud plugin with their webhooks serving.
    operators_ready: Sequence[pulumi.Resource]
    # Prod: deleting the Namespace or the Cluster deletes the PostgreSQL volumes with them.
    protect: bool
    # allowDatabaseReplacement: a rename may replace the live Namespace/Cluster (their data goes).
    allow_replacement: bool
    # Set (disasterRecovery): this cluster and the peer stack's form one CNPG distributed topology.
    topology: Topology | None = None
    # Set (migration): the cluster is created by importing an existing PostgreSQL.
    migration: MigrationSettings | None = None
    # restore.enabled: a restore cluster reads this cluster's archive folder.
    restoring: bool = False
    # On a platform: this cluster's values from the stack's last deployment (its clusters entry, read once
    # for every cluster and checked for removals first); None: this component reads the stack's outputs.
    deployed: pulumi.Output[Any] | None = None
    # Declared databases and roles beside the application database (CNPG Database objects, managed roles).
    databases: Mapping[str, DatabaseSettings] = field(default_factory=dict)
    roles: Mapping[str, RoleSettings] = field(default_factory=dict)


# barman-cloud-wal-restore (barman 3.19.x, plugin v0.13.0 on) spools every extra object its listing
# returns, and an archive holding both X and X.partial (CNPG's demotion, any promotion) returns two
# even without prefetch; its default spool /var/tmp/walrestore is on the sidecar's read-only root,
# so the restore exits 2 and is retried forever (plugin-barman-cloud #1113). /controller is CNPG's
# writable scratch-data emptyDir, which the plugin mounts into its sidecar and spools to itself
# (plugin v0.14.0 internal/cnpgi/operator/lifecycle.go: SPOOL_DIRECTORY=/controller/wal-restore-spool).
# Not --no-partial: a switchover replays the .partial. tests/components/cluster/test_wal_restore_spool.py
# runs barman's own restore on these arguments.
WAL_RESTORE_SPOOL_DIR = "/controller/barman-walrestore"
WAL_RESTORE_ARGS = (f"--spool-dir={WAL_RESTORE_SPOOL_DIR}",)

# Stack outputs recording the names this stack deployed; the next deployment reads them back.
DEPLOYED_NAMESPACE_OUTPUT = "postgresNamespace"
DEPLOYED_CLUSTER_OUTPUT = "postgresClusterName"


def rename_refusal(deployed: Mapping[str, Any] | None, postgres: PostgresSettings) -> str | None:
    """Why the settings may not rename the Namespace or Cluster this stack already deployed, or None."""
    deployed = deployed or {}
    renamed = [
        f"postgres.{key}: {wanted!r}, but this stack runs {deployed[output]!r}"
        for key, output, wanted in (
            ("namespace", DEPLOYED_NAMESPACE_OUTPUT, postgres.namespace),
            ("clusterName", DEPLOYED_CLUSTER_OUTPUT, postgres.cluster_name),
        )
        if deployed.get(output) not in (None, wanted)
    ]
    if not renamed:
        return None
    return (
        "; ".join(renamed) + ". A new name replaces the Namespace and the CloudNativePG Cluster: Kubernetes deletes "
        "their PersistentVolumeClaims and disks (reclaim policy Delete), and the new cluster starts empty (initdb). "
        "Keep the deployed names; to move the data, recover it from the backups into a cluster with the new name "
        "(README 'Restore'), check it, then deploy the rename once with allowDatabaseReplacement: true "
        "(and, where protectStatefulResources is on, after `pulumi state unprotect` of the old Namespace and Cluster)."
    )


class PostgresCluster(pulumi.ComponentResource):
    """A 3-instance, quorum-synchronous CNPG cluster archiving to Azure Blob through the Barman
    Cloud plugin and workload identity. ``cluster`` is Ready before anything depends on it."""

    ref: ClusterRef
    deployed_names: dict[str, pulumi.Input[str]]
    object_store_name: str
    destination_path: pulumi.Output[str]
    # The folder under destination_path the cluster archives to (the plugin's serverName).
    archive_server_name: pulumi.Output[str]
    # The major the cluster runs: known once the Cluster is Ready on it (a failed upgrade leaves the last one).
    running_major: pulumi.Output[int]
    running_image: pulumi.Output[str]
    # The namespace's ImageCatalog the Cluster (and a restore or drill cluster of it) takes its image from.
    image_catalog_name: str
    app_password: pulumi.Output[str]
    app_secret_name: str
    # The declared databases and roles (their passwords and connection URIs), None without any.
    declared: DatabasesAndRoles | None

    def __init__(self, name: str, args: PostgresClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:PostgresCluster", name, None, opts)
        postgres = args.postgres
        # The names, the major and the volume sizes this stack deployed last time (none on its first
        # deployment), read back from its own outputs: the Namespace (and through it the Cluster) is
        # registered only after the check, so a refused rename, major change or shrink touches nothing.
        deployed = args.deployed if args.deployed is not None else own_outputs(f"{name}-deployed-names", self)
        topology = args.topology
        # In a topology, also wait for the check of the peer's outputs (PeerStack).
        plan = pulumi.Output.all(deployed, topology.checked if topology else None).apply(
            lambda checked: self._checked_plan(checked[0], args)
        )
        namespace_name = plan.apply(lambda _: postgres.namespace)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            # CloudNativePG's pods and the Barman Cloud sidecar pass the restricted Pod Security Standard.
            metadata={"name": namespace_name, "labels": pod_security_labels("restricted")},
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider, protect=args.protect),
        )
        self.deployed_names = {DEPLOYED_NAMESPACE_OUTPUT: namespace_name, DEPLOYED_CLUSTER_OUTPUT: postgres.cluster_name}
        in_namespace = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[namespace])
        peer_app_password = topology.peer_app_password if topology else None
        self.app_password = (
            peer_app_password
            if peer_app_password is not None
            else random.RandomPassword(
                f"{name}-app-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=self)
            ).result
        )
        self.app_secret_name = f"{postgres.cluster_name}-app-credentials"
        app_secret = k8s.core.v1.Secret(
            f"{name}-app-credentials",
            metadata={"name": self.app_secret_name, "namespace": postgres.namespace},
            type="kubernetes.io/basic-auth",
            string_data={"username": postgres.owner, "password": self.app_password},
            opts=in_namespace,
        )

        trust = args.identity.federate(
            federated_credential_name(postgres.namespace, postgres.cluster_name),
            issuer=args.oidc_issuer_url,
            service_account=ServiceAccountRef(postgres.namespace, postgres.cluster_name),
            # After the rename check: a refused rename must not trust a new service account either.
            opts=pulumi.ResourceOptions(depends_on=[namespace]),
        )
        # The restore drill reads the backups through its throwaway cluster's service account.
        args.identity.federate(
            federated_credential_name(postgres.namespace, drill_cluster_name(postgres.cluster_name)),
            issuer=args.oidc_issuer_url,
            service_account=ServiceAccountRef(postgres.namespace, drill_cluster_name(postgres.cluster_name)),
            opts=pulumi.ResourceOptions(depends_on=[namespace]),
        )

        self.object_store_name = f"{postgres.cluster_name}-backups"
        # A generation prefix: a recreated cluster starts on an empty WAL archive.
        self.destination_path = pulumi.Output.concat(args.backup_target.container_url, "/", args.backup.archive_generation)
        # The plugin must be serving, and the identity able to write, before the store is used.
        store_ready = [namespace, *args.operators_ready, trust, args.backup_target.writer_role]
        object_store = self._object_store(
            f"{name}-object-store", self.object_store_name, self.destination_path, args, store_ready, args.backup.retention
        )
        stores = [object_store]
        self.image_catalog_name = image_catalog_name(postgres.cluster_name)
        catalog = image_catalog(
            f"{name}-image-catalog",
            name=self.image_catalog_name,
            namespace=postgres.namespace,
            spec=plan.apply(lambda planned: catalog_spec(catalog_images(planned, postgres))),
            provider=args.provider,
            parent=self,
            # After the store, which waits for the namespace and the operators (the CNPG chart installs the
            # ImageCatalog CRD): one edge where three would say the same.
            depends_on=[object_store],
        )

        # A major upgrade: the Cluster gets the new image and folder only once the backup completed.
        self.archive_server_name = plan.apply(
            lambda planned: self._after_pre_upgrade_backup(name, planned, args, [namespace, object_store])
        )
        bootstrap: dict[str, Any] = {
            "initdb": {
                "database": postgres.database,
                "owner": postgres.owner,
                "secret": {"name": self.app_secret_name},
                "dataChecksums": True,
            }
        }
        external_clusters: list[dict[str, Any]] = []
        # Besides the namespace, operators and stores; the catalog lists the image the Cluster names by major.
        prerequisites: list[pulumi.Resource] = [app_secret, catalog]
        # The login roles' password Secrets before the Cluster (its managed roles read them).
        self.declared = (
            DatabasesAndRoles(
                f"{name}-declared",
                DatabasesAndRolesArgs(
                    provider=args.provider,
                    namespace=postgres.namespace,
                    cluster_name=postgres.cluster_name,
                    databases=args.databases,
                    roles=args.roles,
                    secrets_depend_on=[namespace],
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            if args.databases or args.roles
            else None
        )
        if self.declared:
            prerequisites += self.declared.secrets
        if postgres.storage.premium_v2:
            prerequisites.append(self._premium_v2_storage_class(f"{name}-premium-v2", postgres.storage.premium_v2, in_namespace))
        if args.migration:
            source_secret = self._migration_source_secret(f"{name}-migration-source", postgres, args.migration, in_namespace)
            prerequisites.append(source_secret)
            bootstrap["initdb"]["import"] = import_bootstrap(args.migration)
            external_clusters.append(import_source(args.migration, source_secret_name(postgres.cluster_name)))
        replication: dict[str, Any] = {}
        if topology:
            peer_store_name = f"{postgres.cluster_name}-peer-archive"
            # Read only (Storage Blob Data Reader); no retention policy, so this stack never prunes the peer's backups.
            stores.append(
                self._object_store(
                    f"{name}-peer-archive",
                    peer_store_name,
                    topology.peer_destination_path,
                    args,
                    [namespace, *args.operators_ready, trust, *topology.peer_access],
                    retention=None,
                )
            )
            if peer_app_password is not None:  # created as a replica of the peer
                bootstrap = {"recovery": recovery_bootstrap(topology.peer_name, postgres, self.app_secret_name)}
            # Both archives, named by stack: whichever is primary, the other replays its WAL.
            external_clusters += [
                archive_source(topology.self_name, self.object_store_name, self.archive_server_name),
                archive_source(topology.peer_name, peer_store_name, topology.peer_server_name),
            ]
            replication = {
                "replica": distributed_topology(
                    topology.self_name, topology.peer_name, topology.primary, topology.promotion_token
                ),
            }

        cluster = cnpg_cluster(
            f"{name}-cluster",
            name=postgres.cluster_name,
            namespace=postgres.namespace,
            spec=cluster_spec(
                postgres.cluster_name,
                postgres,
                image_catalog=self.image_catalog_name,
                placement=args.placement,
                workload_client_id=args.identity.client_id,
                object_store=self.object_store_name,
                archive_server_name=self.archive_server_name,
                bootstrap=bootstrap,
                server_alt_dns_names=args.endpoints.server_alt_dns_names(),
                managed_services=args.endpoints.managed_services(),
                managed_roles=self.declared.managed_roles() if self.declared else (),
                external_clusters=external_clusters,
                volume_snapshot_class=args.backup.volume_snapshot_class,
                **replication,
            ),
            provider=args.provider,
            parent=self,
            depends_on=[namespace, *args.operators_ready, *prerequisites, *stores, trust, args.backup_target.writer_role],
            protect=args.protect,
        )
        self.ref = ClusterRef(args.provider, postgres.namespace, postgres.cluster_name, cluster)
        if self.declared:
            self.declared.declare_databases(self.ref)
        self.running_major = cluster.id.apply(lambda _: postgres.major_version)
        self.running_image = cluster.id.apply(lambda _: postgres.image)
        plan.apply(lambda planned: self._first_backup_after_upgrade(name, planned, args, cluster))
        self.register_outputs({"clusterName": postgres.cluster_name, "objectStore": self.object_store_name})

    def _object_store(
        self,
        resource_name: str,
        store_name: str,
        destination_path: pulumi.Input[str],
        args: PostgresClusterArgs,
        depends_on: list[pulumi.Resource],
        retention: str | None,
    ) -> k8s.apiextensions.CustomResource:
        """A Barman Cloud ObjectStore on ``destination_path``; ``retention`` None: this stack never prunes it."""
        spec: dict[str, Any] = {
            "configuration": {
                "destinationPath": destination_path,
                # Workload identity through the mode the settings chose (backup.azureCredentials).
                "azureCredentials": {args.backup.azure_credentials: True},
                # Every store is restored from (the own one by a restore, the peer's by the replica).
                "wal": {"compression": "zstd", "maxParallel": 8, "restoreAdditionalCommandArgs": list(WAL_RESTORE_ARGS)},
                "data": {"compression": "snappy", "jobs": 2, "immediateCheckpoint": False},
            },
            # The plugin's sidecar in every instance pod and in a restore's recovery job: keeps those
            # pods Guaranteed QoS.
            "instanceSidecarConfiguration": {"resources": args.backup.sidecar.guaranteed()},
        }
        if retention:
            spec["retentionPolicy"] = retention
        return k8s.apiextensions.CustomResource(
            resource_name,
            api_version="barmancloud.cnpg.io/v1",
            kind="ObjectStore",
            metadata={"name": store_name, "namespace": args.postgres.namespace},
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=depends_on),
        )

    @staticmethod
    def _premium_v2_storage_class(
        resource_name: str, disk: PremiumV2Disk, opts: pulumi.ResourceOptions
    ) -> k8s.storage.v1.StorageClass:
        """The data volumes' Premium SSD v2 StorageClass, with azure-aks-docs use-premium-v2-disks.md's parameters
        (AKS ships none). WaitForFirstConsumer rather than the article's Immediate: the disks are zonal, so each is
        created in the zone its instance was scheduled to, and the instances stay spread over the zones."""
        return k8s.storage.v1.StorageClass(
            resource_name,
            metadata={"name": PREMIUM_V2_STORAGE_CLASS},
            provisioner="disk.csi.azure.com",
            parameters={
                "skuName": "PremiumV2_LRS",
                # Premium SSD v2 has no host caching.
                "cachingMode": "None",
                "DiskIOPSReadWrite": str(disk.iops),
                "DiskMBpsReadWrite": str(disk.throughput_mbps),
            },
            reclaim_policy="Delete",
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            # A StorageClass's parameters are immutable: a new performance replaces it (same name, so delete
            # first); disks already created keep theirs.
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(delete_before_replace=True)),
        )

    @staticmethod
    def _migration_source_secret(
        resource_name: str, postgres: PostgresSettings, migration: MigrationSettings, opts: pulumi.ResourceOptions
    ) -> k8s.core.v1.Secret:
        """The import source's password (a Pulumi secret from the stack's secret config) and CA."""
        data: dict[str, pulumi.Input[str]] = {PASSWORD_KEY: pulumi.Output.secret(migration.source.password.get_secret_value())}
        if migration.source.ca_certificate:
            data[CA_KEY] = migration.source.ca_certificate
        return k8s.core.v1.Secret(
            resource_name,
            metadata={"name": source_secret_name(postgres.cluster_name), "namespace": postgres.namespace},
            type="Opaque",
            string_data=data,
            opts=opts,
        )

    @staticmethod
    def _checked_plan(deployed: Mapping[str, Any] | None, args: PostgresClusterArgs) -> ArchivePlan:
        renamed = rename_refusal(deployed, args.postgres)
        if renamed is None:
            refusal = major_refusal(deployed, args.postgres, in_pair=args.topology is not None, restoring=args.restoring)
        else:
            # An acknowledged rename replaces the cluster with a new one (initdb): no upgrade, any major.
            refusal = None if args.allow_replacement else renamed
        if refusal:
            raise pulumi.RunError(refusal)
        changes = args.postgres.storage.change_problems(deployed)
        if changes:
            raise pulumi.RunError("; ".join(changes))
        return archive_plan(deployed, args.postgres, same_cluster=renamed is None)

    def _after_pre_upgrade_backup(
        self, name: str, plan: ArchivePlan, args: PostgresClusterArgs, depends_on: list[pulumi.Resource]
    ) -> pulumi.Output[str]:
        """The plan's folder, once the pre-upgrade backup (registered only when this deployment upgrades) completed."""
        if plan.upgrade_from is None:
            return pulumi.Output.from_input(plan.server_name)
        major = args.postgres.major_version
        backup = upgrade_backup(
            f"{name}-before-pg{major}",
            pre_upgrade_backup_name(args.postgres.cluster_name, major),
            args.postgres,
            awaited=True,
            provider=args.provider,
            parent=self,
            depends_on=depends_on,
        )
        return backup.id.apply(lambda _: plan.server_name)

    def _first_backup_after_upgrade(
        self, name: str, plan: ArchivePlan, args: PostgresClusterArgs, cluster: pulumi.Resource
    ) -> None:
        """A base backup into the new folder once the upgraded cluster is Ready (not awaited)."""
        if plan.upgrade_from is not None:
            major = args.postgres.major_version
            upgrade_backup(
                f"{name}-first-pg{major}",
                first_backup_name(args.postgres.cluster_name, major),
                args.postgres,
                awaited=False,
                provider=args.provider,
                parent=self,
                depends_on=[cluster],
            )
