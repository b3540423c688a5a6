"""The stack's output contract: every name `pulumi stack output` shows, in one place.

Users connect with these; the drills, the next deployment (the rename guard) and a
disaster-recovery peer (settings/disaster_recovery.py PEER_OUTPUTS) read them back by name.
Credentials only ever leave as Pulumi secrets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi

from components.builders.endpoints import Endpoints
from components.cluster.major_upgrade import DEPLOYED_IMAGE_OUTPUT, DEPLOYED_MAJOR_OUTPUT, DEPLOYED_SERVER_NAME_OUTPUT
from settings import Settings
from settings.aks import DEPLOYED_VM_SIZES_OUTPUT
from settings.disaster_recovery import PEER_STACK_OUTPUT, PRIMARY_OUTPUT
from settings.postgres import DEPLOYED_STORAGE_OUTPUT
from settings.rules import ROLES

if TYPE_CHECKING:  # types only: the optional features' modules load only where they are on
    from components.azure.aks_cluster import AksCluster
    from components.azure.backup_storage import BackupStorage
    from components.azure.cluster_access import ClusterAccess
    from components.azure.identities import Identities
    from components.azure.naming import Naming
    from components.azure.network import Network
    from components.azure.observability import Observability
    from components.azure.public_ip import PublicIp
    from components.cluster.database import PostgresCluster
    from components.cluster.operators import Operators
    from components.cluster.poolers import Poolers

# Output names of the rw/ro endpoints: direct (<name>Host/Port/Uri), pooled, and the services' keys.
DIRECT = {"rw": "readWrite", "ro": "readOnly"}
POOLED = {"rw": "pooledReadWrite", "ro": "pooledReadOnly"}
PUBLIC_SERVICES = {"rw": "publicReadWrite", "ro": "publicReadOnly"}
INTERNAL_SERVICES = {"rw": "internalReadWrite", "ro": "internalReadOnly"}


@dataclass(frozen=True)
class StackParts:
    """The components every stack has, whose values it exports."""

    naming: Naming
    identities: Identities
    network: Network
    backup_storage: BackupStorage
    aks: AksCluster
    access: ClusterAccess
    operators: Operators
    database: PostgresCluster
    endpoints: Endpoints


def export_outputs(
    settings: Settings,
    parts: StackParts,
    *,
    public_ip: PublicIp | None,
    observability: Observability | None,
    poolers: Poolers | None,
) -> None:
    """Export the stack's outputs; the optional features' only where they are on."""
    postgres, database, endpoints = settings.postgres, parts.database, parts.endpoints

    def connection_uri(host: pulumi.Input[str], port: int) -> pulumi.Output[str]:
        return pulumi.Output.secret(
            pulumi.Output.format(
                "postgresql://{0}:{1}@{2}:{3}/{4}?sslmode=verify-full",
                postgres.owner,
                database.app_password,
                host,
                port,
                postgres.database,
            )
        )

    pulumi.export("resourceGroupName", parts.naming.resource_group_name)
    pulumi.export("aksClusterName", parts.aks.cluster_name)
    pulumi.export("oidcIssuerUrl", parts.aks.oidc_issuer_url)
    pulumi.export("workloadIdentityClientId", parts.identities.workload_client_id)
    pulumi.export("backupStorageAccountName", parts.backup_storage.account_name)
    pulumi.export("backupContainerUrl", parts.backup_storage.container_url)
    # Read by a disaster-recovery peer (settings/disaster_recovery.py PEER_OUTPUTS).
    pulumi.export("location", settings.location)
    pulumi.export("namePrefix", settings.name_prefix)
    # Also read back by this stack's next deployment (components/cluster/major_upgrade.py): the major the
    # cluster runs once Ready, its image (kept in the ImageCatalog during an upgrade), and the folder it archives to.
    pulumi.export(DEPLOYED_MAJOR_OUTPUT, database.running_major)
    pulumi.export(DEPLOYED_IMAGE_OUTPUT, database.running_image)
    pulumi.export("backupContainerId", parts.backup_storage.container_id)
    pulumi.export("backupStorageAccountId", parts.backup_storage.account_id)
    pulumi.export("backupStoragePrivate", settings.network.private_storage)
    pulumi.export("backupDestinationPath", database.destination_path)
    pulumi.export(DEPLOYED_SERVER_NAME_OUTPUT, database.archive_server_name)
    pulumi.export("networkAddressSpace", settings.network.address_space)
    pulumi.export("privateDnsZone", settings.network.private_dns_zone)
    pulumi.export("maintenanceWindows", settings.aks.maintenance.exported())
    pulumi.export("tenantId", parts.aks.tenant_id)
    pulumi.export("applicationPassword", pulumi.Output.secret(database.app_password))
    if settings.disaster_recovery:
        pulumi.export(PRIMARY_OUTPUT, settings.disaster_recovery.primary)
        pulumi.export(PEER_STACK_OUTPUT, settings.disaster_recovery.peer_stack)
    pulumi.export("vnetId", parts.network.vnet_id)
    if public_ip:
        pulumi.export("publicIpAddress", public_ip.address)
        pulumi.export("publicFqdn", public_ip.fqdn)
    if observability and observability.grafana_endpoint is not None:
        pulumi.export("grafanaEndpoint", observability.grafana_endpoint)
    # Server, CA and a kubelogin (Entra ID) user: no credential, so a plain output.
    pulumi.export("kubeconfig", parts.access.kubeconfig)
    # Read back by the next deployment to refuse a rename that would replace the database.
    for output_name, deployed_name in database.deployed_names.items():
        pulumi.export(output_name, deployed_name)
    # Read back by the next deployment to refuse a VM size change AKS cannot make in place.
    pulumi.export(DEPLOYED_VM_SIZES_OUTPUT, parts.aks.vm_sizes)
    # Read back by the next deployment to refuse a volume shrink or StorageClass move Kubernetes cannot make.
    pulumi.export(DEPLOYED_STORAGE_OUTPUT, postgres.storage.deployed())
    for role in ROLES:
        pulumi.export(f"{DIRECT[role]}Host", endpoints.host(role))
        pulumi.export(f"{DIRECT[role]}Port", endpoints.port(role))
    services = {DIRECT[role]: endpoints.service_name(role) for role in ROLES}
    if public_ip:
        services |= {PUBLIC_SERVICES[role]: endpoints.public_service_name(role) for role in ROLES}
    if endpoints.internal:
        services |= {INTERNAL_SERVICES[role]: endpoints.internal_service_name(role) for role in ROLES}
    pulumi.export("cnpgServices", services)
    pulumi.export("databaseName", postgres.database)
    pulumi.export("databaseUser", postgres.owner)
    for role in ROLES:
        pulumi.export(f"{DIRECT[role]}Uri", connection_uri(endpoints.host(role), endpoints.port(role)))
    if poolers is not None:
        # Through PgBouncer (pooler.poolMode); the same credentials and CA as the direct endpoints.
        for pooler_type, prefix in POOLED.items():
            pulumi.export(f"{prefix}Host", poolers.host(pooler_type))
            pulumi.export(f"{prefix}Port", poolers.port(pooler_type))
            pulumi.export(f"{prefix}Uri", connection_uri(poolers.host(pooler_type), poolers.port(pooler_type)))
    # verify-full needs the cluster's CA; CNPG keeps it in the <cluster>-ca secret.
    pulumi.export(
        "caCertificateCommand",
        f"kubectl get secret {postgres.cluster_name}-ca -n {postgres.namespace} "
        "-o jsonpath='{.data.ca\\.crt}' | base64 -d > ca.crt",
    )
    if parts.operators.grafana_admin_password is not None:
        pulumi.export("inClusterGrafanaAdminPassword", pulumi.Output.secret(parts.operators.grafana_admin_password))
