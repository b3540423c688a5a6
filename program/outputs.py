"""The stack's output contract: every name `pulumi stack output` shows, in one place.

Users connect with these; the drills, the next deployment (the rename guard) and a
disaster-recovery peer (settings/disaster_recovery.py PEER_OUTPUTS) read them back by name.
Credentials only ever leave as Pulumi secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi

from components.cluster.major_upgrade import DEPLOYED_IMAGE_OUTPUT, DEPLOYED_MAJOR_OUTPUT, DEPLOYED_SERVER_NAME_OUTPUT
from components.deployed import PROTECTED_OUTPUT, STACK_NAMES_OUTPUT
from program.clusters import DeployedCluster
from settings import Settings
from settings.aks import DEPLOYED_VM_SIZES_OUTPUT
from settings.disaster_recovery import PEER_STACK_OUTPUT, PRIMARY_OUTPUT
from settings.platform import CLUSTERS_OUTPUT, CONNECTION_URIS_OUTPUT
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
    from components.cluster.operators import Operators

# Output names of the rw/ro endpoints: direct (<name>Host/Port/Uri), pooled, and the services' keys.
DIRECT = {"rw": "readWrite", "ro": "readOnly"}
POOLED = {"rw": "pooledReadWrite", "ro": "pooledReadOnly"}
PUBLIC_SERVICES = {"rw": "publicReadWrite", "ro": "publicReadOnly"}
INTERNAL_SERVICES = {"rw": "internalReadWrite", "ro": "internalReadOnly"}
# A cluster's values only its clusters entry carries (the one-cluster stack's top level never had them).
PLATFORM_ONLY = (PROTECTED_OUTPUT, STACK_NAMES_OUTPUT)


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


def export_outputs(
    settings: Settings,
    parts: StackParts,
    clusters: Mapping[str, DeployedCluster],
    *,
    public_ip: PublicIp | None,
    observability: Observability | None,
) -> None:
    """Export the stack's outputs; the optional features' only where they are on. The one-cluster stack's
    database keeps its top-level outputs; every cluster has an entry in ``clusters`` (plain values) and
    ``clusterConnectionUris`` (secret)."""
    pulumi.export("resourceGroupName", parts.naming.resource_group_name)
    pulumi.export("aksClusterName", parts.aks.cluster_name)
    pulumi.export("oidcIssuerUrl", parts.aks.oidc_issuer_url)
    pulumi.export("backupStorageAccountName", parts.backup_storage.account_name)
    # Read by a disaster-recovery peer (settings/disaster_recovery.py PEER_OUTPUTS).
    pulumi.export("location", settings.location)
    pulumi.export("namePrefix", settings.name_prefix)
    pulumi.export("backupStorageAccountId", parts.backup_storage.account_id)
    pulumi.export("backupStoragePrivate", settings.network.private_storage)
    pulumi.export("networkAddressSpace", settings.network.address_space)
    pulumi.export("privateDnsZone", settings.network.private_dns_zone)
    pulumi.export("maintenanceWindows", settings.aks.maintenance.exported())
    pulumi.export("tenantId", parts.aks.tenant_id)
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
    # Read back by the next deployment to refuse a VM size change AKS cannot make in place.
    pulumi.export(DEPLOYED_VM_SIZES_OUTPUT, parts.aks.vm_sizes)
    for deployed in clusters.values():
        if deployed.cluster.entry.stack_names:
            for name, value in {**_cluster_values(deployed), **_connection_uris(deployed)}.items():
                if name not in PLATFORM_ONLY:
                    pulumi.export(name, value)
    pulumi.export(CLUSTERS_OUTPUT, {key: _cluster_values(deployed) for key, deployed in clusters.items()})
    pulumi.export(
        CONNECTION_URIS_OUTPUT,
        pulumi.Output.secret({key: _connection_uris(deployed) for key, deployed in clusters.items()}),
    )
    if parts.operators.grafana_admin_password is not None:
        pulumi.export("inClusterGrafanaAdminPassword", pulumi.Output.secret(parts.operators.grafana_admin_password))


def _cluster_values(deployed: DeployedCluster) -> dict[str, Any]:
    """One cluster's plain outputs: where it is, how to reach it, and what its next deployment reads back
    (the names, major, archive folder and volumes that refuse a change Kubernetes or CNPG cannot make)."""
    postgres, database, endpoints = deployed.cluster.settings.postgres, deployed.database, deployed.endpoints
    values: dict[str, Any] = {
        "workloadIdentityClientId": deployed.identity.client_id,
        "backupContainerUrl": deployed.container.url,
        "backupContainerId": deployed.container.id,
        "backupDestinationPath": database.destination_path,
        DEPLOYED_MAJOR_OUTPUT: database.running_major,
        # The image it runs once Ready: an upgrade's catalog lists it beside the new major's.
        DEPLOYED_IMAGE_OUTPUT: database.running_image,
        DEPLOYED_SERVER_NAME_OUTPUT: database.archive_server_name,
        **database.deployed_names,
        DEPLOYED_STORAGE_OUTPUT: postgres.storage.deployed(),
        # Read back by the next deployment: removing a protected cluster is refused (program/clusters.py).
        PROTECTED_OUTPUT: deployed.cluster.settings.protect_stateful_resources,
        STACK_NAMES_OUTPUT: deployed.cluster.entry.stack_names,
        "databaseName": postgres.database,
        "databaseUser": postgres.owner,
        # verify-full needs the cluster's CA; CNPG keeps it in the <cluster>-ca secret.
        "caCertificateCommand": f"kubectl get secret {postgres.cluster_name}-ca -n {postgres.namespace} "
        "-o jsonpath='{.data.ca\\.crt}' | base64 -d > ca.crt",
    }
    for role in ROLES:
        values[f"{DIRECT[role]}Host"] = endpoints.host(role)
        values[f"{DIRECT[role]}Port"] = endpoints.port(role)
    services = {DIRECT[role]: endpoints.service_name(role) for role in ROLES}
    if endpoints.public:
        services |= {PUBLIC_SERVICES[role]: endpoints.public_service_name(role) for role in ROLES}
    if endpoints.internal:
        services |= {INTERNAL_SERVICES[role]: endpoints.internal_service_name(role) for role in ROLES}
    values["cnpgServices"] = services
    if deployed.poolers is not None:
        for pooler_type, prefix in POOLED.items():
            values[f"{prefix}Host"] = deployed.poolers.host(pooler_type)
            values[f"{prefix}Port"] = deployed.poolers.port(pooler_type)
    return values


def _connection_uris(deployed: DeployedCluster) -> dict[str, pulumi.Output[Any]]:
    """The application owner's connection URIs (direct, and pooled through PgBouncer with the same
    credentials and CA) and its password: Pulumi secrets only."""
    postgres, database, endpoints = deployed.cluster.settings.postgres, deployed.database, deployed.endpoints

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

    uris: dict[str, pulumi.Output[Any]] = {"applicationPassword": pulumi.Output.secret(database.app_password)}
    uris |= {f"{DIRECT[role]}Uri": connection_uri(endpoints.host(role), endpoints.port(role)) for role in ROLES}
    if deployed.poolers is not None:
        poolers = deployed.poolers
        uris |= {f"{prefix}Uri": connection_uri(poolers.host(kind), poolers.port(kind)) for kind, prefix in POOLED.items()}
    if database.declared is not None:
        # Each declared login role to each declared database ("<role>@<database>"), read-write.
        uris["declaredRoleUris"] = pulumi.Output.secret(
            pulumi.Output.all(**database.declared.connection_uris(endpoints.host("rw"), endpoints.port("rw")))
        )
    return uris
