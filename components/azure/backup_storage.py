"""Backup storage: the hardened storage account and container that Barman Cloud writes to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import storage

from components.azure.roles import BuiltInRole, assign_role
from settings import BackupSettings

BACKUP_CONTAINER = "backups"


@dataclass(frozen=True)
class BackupStorageArgs:
    resource_group_name: pulumi.Input[str]
    account_name: pulumi.Input[str]
    location: str
    settings: BackupSettings
    # The database workload identity: the only principal that may read and write backups.
    writer_principal_id: pulumi.Input[str]
    tags: Mapping[str, str]
    protect: bool
    # Reached only through a private endpoint (BlobPrivateEndpoint): the public endpoint answers no network.
    private_endpoint_only: bool = False


class BackupStorage(pulumi.ComponentResource):
    """StorageV2 account (ZRS, HTTPS/TLS 1.2, Entra ID only, no public blobs) with soft delete,
    versioning and a ``backups`` container that only the workload identity can write."""

    account_name: pulumi.Output[str]
    account_id: pulumi.Output[str]
    container_name: pulumi.Output[str]
    container_url: pulumi.Output[str]
    container_id: pulumi.Output[str]
    writer_role: pulumi.Resource

    def __init__(self, name: str, args: BackupStorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:BackupStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        keep_days = args.settings.blob_retention_days
        account = storage.StorageAccount(
            f"{name}-account",
            resource_group_name=args.resource_group_name,
            account_name=args.account_name,
            location=args.location,
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
            tags=dict(args.tags),
            opts=stateful,
        )
        blob_service = storage.BlobServiceProperties(
            f"{name}-blob-service",
            resource_group_name=args.resource_group_name,
            account_name=account.name,
            blob_services_name="default",
            is_versioning_enabled=True,
            delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=keep_days),
            container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=keep_days),
            opts=child,
        )
        # Versioning keeps every overwritten/deleted blob; expire old versions after the same window.
        storage.ManagementPolicy(
            f"{name}-lifecycle",
            resource_group_name=args.resource_group_name,
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
                                    delete=storage.DateAfterCreationArgs(days_after_creation_greater_than=keep_days)
                                )
                            ),
                        ),
                    )
                ]
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[blob_service]),
        )
        container = storage.BlobContainer(
            f"{name}-container",
            resource_group_name=args.resource_group_name,
            account_name=account.name,
            container_name=BACKUP_CONTAINER,
            public_access=storage.PublicAccess.NONE,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, depends_on=[blob_service]),
        )
        self.writer_role = assign_role(
            f"{name}-writer",
            scope=container.id,
            principal_id=args.writer_principal_id,
            role=BuiltInRole.STORAGE_BLOB_DATA_CONTRIBUTOR,
            parent=self,
        )
        self.account_name = account.name
        self.account_id = account.id
        self.container_name = container.name
        self.container_url = pulumi.Output.concat("https://", account.name, ".blob.core.windows.net/", container.name)
        self.container_id = container.id
        self.register_outputs(
            {"accountName": self.account_name, "containerName": self.container_name, "containerUrl": self.container_url}
        )
