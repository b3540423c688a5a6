"""Backup storage: the hardened storage account and container that Barman Cloud writes to."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import storage

from components.azure.roles import BuiltInRole, assign_role
from components.azure.scope import AzureScope
from settings import BackupSettings

# The one-cluster stack's container; a platform cluster's is backup_container_name(cluster).
BACKUP_CONTAINER = "backups"


def backup_container_name(cluster: str) -> str:
    return f"{BACKUP_CONTAINER}-{cluster}"


@dataclass(frozen=True)
class BackupStorageArgs:
    scope: AzureScope
    account_name: pulumi.Input[str]
    settings: BackupSettings
    protect: bool
    # Reached only through a private endpoint (BlobPrivateEndpoint): the public endpoint answers no network.
    private_endpoint_only: bool = False


@dataclass(frozen=True)
class BackupContainer:
    """One database cluster's container: where it archives, and its identity's role on it (archiving fails until it exists)."""

    name: pulumi.Output[str]
    url: pulumi.Output[str]
    id: pulumi.Output[str]
    writer_role: pulumi.Resource


class BackupStorage(pulumi.ComponentResource):
    """StorageV2 account (ZRS, HTTPS/TLS 1.2, Entra ID only, no public blobs) with soft delete,
    versioning, and a container per database cluster (``container``) that only that cluster's workload
    identity can write, its blob versions immutable for the retention window when the settings ask for it."""

    account_name: pulumi.Output[str]
    account_id: pulumi.Output[str]

    def __init__(self, name: str, args: BackupStorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:BackupStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        backup = args.settings
        account = storage.StorageAccount(
            f"{name}-account",
            resource_group_name=args.scope.resource_group_name,
            account_name=args.account_name,
            location=args.scope.location,
            kind=storage.Kind.STORAGE_V2,
            sku=storage.SkuArgs(name=args.settings.storage_sku),
            access_tier=storage.AccessTier.HOT,
            enable_https_traffic_only=True,
            minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
            allow_blob_public_access=False,
            # Entra ID (workload identity) only: no account keys, no SAS signed with them.
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            public_network_access=storage.PublicNetworkAccess.DISABLED
            if args.private_endpoint_only
            else storage.PublicNetworkAccess.ENABLED,
            tags=dict(args.scope.tags),
            opts=stateful,
        )
        blob_service = storage.BlobServiceProperties(
            f"{name}-blob-service",
            resource_group_name=args.scope.resource_group_name,
            account_name=account.name,
            blob_services_name="default",
            is_versioning_enabled=True,
            delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=backup.soft_delete_days),
            container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=backup.blob_retention_days),
            opts=child,
        )
        # Versioning turns every deleted or overwritten blob into a previous version; deleting that
        # version soft-deletes it for soft_delete_days more. The rule deletes previous versions after the
        # rest of the window, so a deleted backup stays recoverable blob_retention_days in all, not twice
        # that (plus up to a day: Azure runs lifecycle rules once a day). 0 days is valid (the storage
        # REST spec's DateAfterCreation minimum) and deletes a previous version at the next run.
        storage.ManagementPolicy(
            f"{name}-lifecycle",
            resource_group_name=args.scope.resource_group_name,
            account_name=account.name,
            management_policy_name="default",
            policy=storage.ManagementPolicySchemaArgs(
                rules=[
                    storage.ManagementPolicyRuleArgs(
                        name="expire-old-versions",
                        type=storage.RuleType.LIFECYCLE,
                        enabled=True,
                        definition=storage.ManagementPolicyDefinitionArgs(
                            filters=storage.ManagementPolicyFilterArgs(blob_types=["blockBlob"]),
                            actions=storage.ManagementPolicyActionArgs(
                                version=storage.ManagementPolicyVersionArgs(
                                    delete=storage.DateAfterCreationArgs(
                                        days_after_creation_greater_than=backup.previous_version_days
                                    )
                                )
                            ),
                        ),
                    )
                ]
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[blob_service]),
        )
        self.account_name = account.name
        self.account_id = account.id
        self._name = name
        self._args = args
        self._account = account
        self._blob_service = blob_service
        self.register_outputs({"accountName": self.account_name})

    def container(
        self, cluster: str | None, container_name: str, writer_principal_id: pulumi.Input[str], backup: BackupSettings
    ) -> BackupContainer:
        """The blob container one database cluster archives to (immutable versions and retention from its
        ``backup`` settings), and its identity's role on it, the only one it has on the account.
        ``cluster`` None: the one-cluster stack's ``backups`` container, under its original names."""
        name = self._name if cluster is None else f"{self._name}-{cluster}"
        args, account, blob_service = self._args, self._account, self._blob_service
        container = storage.BlobContainer(
            f"{name}-container",
            resource_group_name=args.scope.resource_group_name,
            account_name=account.name,
            container_name=container_name,
            public_access=storage.PublicAccess.NONE,
            immutable_storage_with_versioning=storage.ImmutableStorageWithVersioningArgs(enabled=True)
            if backup.immutable_versions
            else None,
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.protect,
                # A retired cluster's backups outlive it: removing the container from the program leaves it in Azure.
                retain_on_delete=True,
                depends_on=[blob_service],
                # Azure sets it only when a container is created: an existing container keeps its
                # state here (no replacement) and is migrated once instead (README "Backup storage").
                ignore_changes=["immutableStorageWithVersioning"],
            ),
        )
        if backup.immutable_versions:
            # The container's default version-level policy: every version barman writes (or turns into a
            # previous version by overwriting or deleting it) is undeletable for the retention's days.
            # Barman's retention deletes only files older than its window, counted like these days
            # (barman retention_policies.py: a month is 31 days), so its deletions are past the policy;
            # overwrites stay possible (they create a new version). Unlocked: it can still be shortened
            # or removed; locking it is irreversible and left to the operator.
            storage.BlobContainerImmutabilityPolicy(
                f"{name}-immutability",
                resource_group_name=args.scope.resource_group_name,
                account_name=account.name,
                container_name=container.name,
                immutability_policy_name="default",
                immutability_period_since_creation_in_days=backup.retention_days,
                allow_protected_append_writes_all=False,
                # Kept with the container: the retained backups stay immutable for their window.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[container], retain_on_delete=True),
            )
        writer_role = assign_role(
            f"{name}-writer",
            scope=container.id,
            principal_id=writer_principal_id,
            role=BuiltInRole.STORAGE_BLOB_DATA_CONTRIBUTOR,
            parent=self,
        )
        url = pulumi.Output.concat("https://", account.name, ".blob.core.windows.net/", container.name)
        return BackupContainer(container.name, url, container.id, writer_role)
