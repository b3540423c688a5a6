"""aks-postgres-ha: highly available PostgreSQL (CloudNativePG) on AKS, in one dependency graph.

This file only reads settings, wires components and exports outputs.
"""

from functools import partial

import pulumi

from settings import NameScheme, SettingsError, load_settings
from settings.aks import DEPLOYED_VM_SIZES_OUTPUT
from settings.disaster_recovery import PEER_STACK_OUTPUT, PRIMARY_OUTPUT
from settings.pooler import pool_sizes

try:
    settings = load_settings()
except SettingsError as error:
    raise pulumi.RunError(str(error)) from None

# Imported after validation so bad settings fail fast, before any resource module loads.
from components.azure.aks_cluster import POSTGRES_NODE_LABEL, AksCluster, AksClusterArgs, ClusterMonitoring, ClusterNetwork
from components.azure.backup_storage import BackupStorage, BackupStorageArgs
from components.azure.cluster_access import ClusterAccess, ClusterAccessArgs
from components.azure.identities import Identities, IdentitiesArgs
from components.azure.naming import Naming, NamingArgs
from components.azure.network import Network, NetworkArgs
from components.builders.cluster_spec import Placement
from components.builders.endpoints import Endpoints, InternalAddress, PublicAddress
from components.cluster.backups import Backups, BackupsArgs
from components.cluster.database import BackupTarget, PostgresCluster, PostgresClusterArgs
from components.cluster.database_monitoring import DatabaseMonitoring, DatabaseMonitoringArgs, alert_rules
from components.cluster.network_policies import DatabaseNetworkPolicies, DatabaseNetworkPoliciesArgs
from components.cluster.operators import Operators, OperatorsArgs
from components.cluster.poolers import Poolers, PoolersArgs, pooler_name, pooler_names

tags = {"managed-by": "pulumi", "project": "aks-postgres-ha", **settings.tags}
stateful = settings.protect_stateful_resources

naming = Naming("naming", NamingArgs(scheme=settings.names, location=settings.location, tags=tags))

identities = Identities(
    "identities",
    IdentitiesArgs(
        resource_group_name=naming.resource_group_name,
        network_scope=naming.resource_group_id,
        control_plane_name=naming.name(NameScheme.control_plane_identity),
        workload_name=naming.name(NameScheme.workload_identity),
        location=settings.location,
        tags=tags,
        protect=stateful,
    ),
)

private = settings.network
network = Network(
    "network",
    NetworkArgs(
        resource_group_name=naming.resource_group_name,
        vnet_name=naming.name(NameScheme.virtual_network),
        location=settings.location,
        settings=private,
        control_plane_principal_id=identities.control_plane_principal_id,
        tags=tags,
    ),
)

backup_storage = BackupStorage(
    "backup-storage",
    BackupStorageArgs(
        resource_group_name=naming.resource_group_name,
        account_name=naming.name(NameScheme.storage_account),
        location=settings.location,
        settings=settings.backup,
        writer_principal_id=identities.workload_principal_id,
        tags=tags,
        protect=stateful,
        private_endpoint_only=private.private_storage,
    ),
)
# Private storage: blob private endpoints in this network, named in one privatelink zone.
blob_endpoint_args = None
blob_endpoint = None
if private.private_storage:
    from components.azure.blob_private_endpoint import BlobPrivateEndpoint, BlobPrivateEndpointArgs

    blob_endpoint_args = partial(
        BlobPrivateEndpointArgs,
        resource_group_name=naming.resource_group_name,
        location=settings.location,
        subnet_id=network.private_endpoint_subnet_id,
        vnet_id=network.vnet_id,
        tags=tags,
    )
    blob_endpoint = BlobPrivateEndpoint(
        "backup-private-endpoint",
        blob_endpoint_args(
            endpoint_name=naming.name(NameScheme.blob_private_endpoint),
            storage_account_id=backup_storage.account_id,
            existing_dns_zone_id=private.blob_private_dns_zone_id,
        ),
    )

# The other region's stack: this cluster and its cluster form one CNPG distributed topology.
topology = None
if settings.disaster_recovery:
    from components.azure.peer_stack import PeerStack, PeerStackArgs

    topology = PeerStack(
        "peer-stack",
        PeerStackArgs(
            settings=settings,
            dr=settings.disaster_recovery,
            reader_principal_id=identities.workload_principal_id,
            # The peer's archive through an endpoint in this network, named in this stack's zone.
            private_endpoint=partial(
                blob_endpoint_args,
                endpoint_name=naming.name(NameScheme.peer_blob_private_endpoint),
                existing_dns_zone_id=blob_endpoint.dns_zone_id,
            )
            if blob_endpoint_args and blob_endpoint
            else None,
        ),
    ).topology

observability = None
if settings.observability.azure_monitoring:
    from components.azure.observability import Observability, ObservabilityArgs

    observability = Observability(
        "observability",
        ObservabilityArgs(
            resource_group_name=naming.resource_group_name,
            location=settings.location,
            monitor_workspace_name=naming.name(NameScheme.monitor_workspace),
            log_analytics_name=naming.name(NameScheme.log_analytics),
            grafana_name=naming.name(NameScheme.grafana),
            settings=settings.observability,
            alerting=settings.alerting,
            zone_redundant=len(settings.zones) > 1,
            tags=tags,
        ),
    )

aks = AksCluster(
    "aks",
    AksClusterArgs(
        resource_group_name=naming.resource_group_name,
        cluster_name=naming.name(NameScheme.aks_cluster),
        dns_prefix=naming.name(NameScheme.aks_dns_prefix),
        node_resource_group=naming.name(NameScheme.node_resource_group),
        location=settings.location,
        zones=settings.zones,
        settings=settings.aks,
        network=ClusterNetwork(
            node_subnet_id=network.node_subnet_id,
            pod_cidr=private.pod_cidr,
            service_cidr=private.service_cidr,
            dns_service_ip=private.dns_service_ip,
        ),
        control_plane_identity_id=identities.control_plane_id,
        control_plane_ready=[identities.network_role, *network.control_plane_ready],
        monitoring=ClusterMonitoring(observability.log_analytics_workspace_id) if observability else None,
        tags=tags,
        protect=stateful,
    ),
)
# A replica cluster of a distributed topology is monitored for its own role.
replica_cluster = bool(settings.disaster_recovery and settings.disaster_recovery.replica_here)
if observability:
    observability.connect_cluster(
        aks.cluster_id,
        aks.cluster_name,
        alert_rules(
            settings.postgres.namespace,
            settings.postgres.cluster_name,
            settings.postgres.instances,
            settings.backup.alert_after_hours,
            replica_cluster=replica_cluster,
        ),
    )

public_ip = None
if settings.public_endpoint.enabled:
    from components.azure.public_ip import PublicIp, PublicIpArgs

    public_ip = PublicIp(
        "public-ip",
        PublicIpArgs(
            resource_group_name=naming.resource_group_name,
            ip_name=naming.name(NameScheme.public_ip),
            dns_label=naming.name(NameScheme.dns_label),
            location=settings.location,
            zones=settings.zones,
            tags=tags,
            protect=stateful,
        ),
    )

access = ClusterAccess(
    "cluster-access",
    ClusterAccessArgs(
        resource_group_name=naming.resource_group_name,
        resource_group_id=naming.resource_group_id,
        cluster_name=aks.cluster_name,
        cluster_id=aks.cluster_id,
        admin_group_object_ids=settings.aks.admin_group_object_ids,
    ),
)

operators = Operators(
    "operators",
    OperatorsArgs(provider=access.provider, settings=settings.operators, alert_webhook_url=settings.alerting.webhook_url),
)

postgres = settings.postgres
poolers_enabled = settings.pooler.enabled
endpoints = Endpoints(
    cluster_name=postgres.cluster_name,
    namespace=postgres.namespace,
    settings=settings.public_endpoint,
    public=PublicAddress(public_ip.ip_name, public_ip.resource_group_name, public_ip.dns_label, public_ip.fqdn)
    if public_ip
    else None,
    internal=InternalAddress(
        read_write_ip=str(private.internal_endpoint.read_write_ip),
        read_only_ip=str(private.internal_endpoint.read_only_ip),
        subnet_name=network.node_subnet_name,
        allowed_client_cidrs=private.client_cidrs,
        dns_zone=private.private_dns_zone,
        # Validated: both are set when the internal endpoint and the poolers are on.
        pooler_ips={
            pooler_name(postgres.cluster_name, "rw"): str(private.internal_endpoint.pooler_read_write_ip),
            pooler_name(postgres.cluster_name, "ro"): str(private.internal_endpoint.pooler_read_only_ip),
        }
        if poolers_enabled
        else {},
    )
    if private.internal_endpoint.enabled
    else None,
    pooler_services=pooler_names(postgres.cluster_name) if poolers_enabled else (),
)
if endpoints.internal is not None:
    from components.azure.database_dns import DatabaseDns, DatabaseDnsArgs

    DatabaseDns(
        "database-dns",
        DatabaseDnsArgs(
            resource_group_name=naming.resource_group_name,
            zone_name=private.private_dns_zone,
            cluster_vnet_id=network.vnet_id,
            peer_vnet_ids=[peering.remote_vnet_id for peering in private.peerings],
            a_records=endpoints.private_dns_records(),
            tags=tags,
        ),
    )
placement = Placement(node_label=POSTGRES_NODE_LABEL, taint=aks.postgres_pool_taint)

database = PostgresCluster(
    "database",
    PostgresClusterArgs(
        provider=access.provider,
        postgres=postgres,
        backup=settings.backup,
        identities=identities,
        oidc_issuer_url=aks.oidc_issuer_url,
        backup_target=BackupTarget(backup_storage.container_url, backup_storage.writer_role),
        placement=placement,
        endpoints=endpoints,
        operators_ready=operators.database_ready,
        protect=stateful,
        allow_replacement=settings.allow_database_replacement,
        topology=topology,
    ),
)

DatabaseNetworkPolicies(
    "network-policies",
    DatabaseNetworkPoliciesArgs(
        provider=access.provider,
        namespace=postgres.namespace,
        cluster_name=postgres.cluster_name,
        cluster=database.ref.resource,
        # Every network a load balancer admits: public clients and the internal endpoint's.
        client_cidrs=[
            *(settings.public_endpoint.allowed_client_cidrs if public_ip else []),
            *(private.client_cidrs if endpoints.internal else []),
        ],
        self_managed_prometheus=operators.prometheus_operator is not None,
        azure_managed_prometheus=settings.observability.azure_monitoring,
        poolers=pooler_names(postgres.cluster_name) if poolers_enabled else (),
        # The networks the poolers' own load balancers admit (internal when that endpoint is on).
        pooler_client_cidrs=endpoints.pooler_client_cidrs() if poolers_enabled else [],
    ),
)

Backups("backups", BackupsArgs(cluster=database.ref, settings=settings.backup))

DatabaseMonitoring(
    "database-monitoring",
    DatabaseMonitoringArgs(
        cluster=database.ref,
        instances=postgres.instances,
        backup_alert_after_hours=settings.backup.alert_after_hours,
        prometheus_operator=operators.prometheus_operator,
        azure_managed_prometheus=settings.observability.azure_monitoring,
        replica_cluster=replica_cluster,
    ),
)

poolers = None
if poolers_enabled:
    poolers = Poolers(
        "poolers",
        PoolersArgs(
            cluster=database.ref,
            settings=settings.pooler,
            sizes=pool_sizes(settings),
            database=postgres.database,
            placement=placement,
            endpoints=endpoints,
            prometheus_operator=operators.prometheus_operator,
            azure_managed_prometheus=settings.observability.azure_monitoring,
        ),
    )

if settings.restore.enabled:
    from components.cluster.restore import RestoredCluster, RestoredClusterArgs

    RestoredCluster(
        "restore",
        RestoredClusterArgs(
            source=database.ref,
            postgres=postgres,
            restore=settings.restore,
            backup=settings.backup,
            identities=identities,
            oidc_issuer_url=aks.oidc_issuer_url,
            object_store_name=database.object_store_name,
            app_secret_name=database.app_secret_name,
            placement=placement,
        ),
    )


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


pulumi.export("resourceGroupName", naming.resource_group_name)
pulumi.export("aksClusterName", aks.cluster_name)
pulumi.export("oidcIssuerUrl", aks.oidc_issuer_url)
pulumi.export("workloadIdentityClientId", identities.workload_client_id)
pulumi.export("backupStorageAccountName", backup_storage.account_name)
pulumi.export("backupContainerUrl", backup_storage.container_url)
# Read by a disaster-recovery peer (settings/disaster_recovery.py PEER_OUTPUTS).
pulumi.export("location", settings.location)
pulumi.export("namePrefix", settings.name_prefix)
pulumi.export("postgresMajorVersion", postgres.major_version)
pulumi.export("backupContainerId", backup_storage.container_id)
pulumi.export("backupStorageAccountId", backup_storage.account_id)
pulumi.export("backupStoragePrivate", private.private_storage)
pulumi.export("backupDestinationPath", database.destination_path)
pulumi.export("backupServerName", postgres.cluster_name)
pulumi.export("networkAddressSpace", private.address_space)
pulumi.export("privateDnsZone", private.private_dns_zone)
pulumi.export("maintenanceWindows", settings.aks.maintenance.exported())
pulumi.export("tenantId", aks.tenant_id)
pulumi.export("applicationPassword", pulumi.Output.secret(database.app_password))
if settings.disaster_recovery:
    pulumi.export(PRIMARY_OUTPUT, settings.disaster_recovery.primary)
    pulumi.export(PEER_STACK_OUTPUT, settings.disaster_recovery.peer_stack)
pulumi.export("vnetId", network.vnet_id)
if public_ip:
    pulumi.export("publicIpAddress", public_ip.address)
    pulumi.export("publicFqdn", public_ip.fqdn)
if observability and observability.grafana_endpoint is not None:
    pulumi.export("grafanaEndpoint", observability.grafana_endpoint)
# Server, CA and a kubelogin (Entra ID) user: no credential, so a plain output.
pulumi.export("kubeconfig", access.kubeconfig)
# Read back by the next deployment to refuse a rename that would replace the database.
for output_name, deployed_name in database.deployed_names.items():
    pulumi.export(output_name, deployed_name)
# Read back by the next deployment to refuse a VM size change AKS cannot make in place.
pulumi.export(DEPLOYED_VM_SIZES_OUTPUT, aks.vm_sizes)
pulumi.export("readWriteHost", endpoints.host("rw"))
pulumi.export("readWritePort", endpoints.port("rw"))
pulumi.export("readOnlyHost", endpoints.host("ro"))
pulumi.export("readOnlyPort", endpoints.port("ro"))
pulumi.export(
    "cnpgServices",
    {
        "readWrite": endpoints.service_name("rw"),
        "readOnly": endpoints.service_name("ro"),
        **(
            {"publicReadWrite": endpoints.public_service_name("rw"), "publicReadOnly": endpoints.public_service_name("ro")}
            if public_ip
            else {}
        ),
        **(
            {
                "internalReadWrite": endpoints.internal_service_name("rw"),
                "internalReadOnly": endpoints.internal_service_name("ro"),
            }
            if endpoints.internal
            else {}
        ),
    },
)
pulumi.export("databaseName", postgres.database)
pulumi.export("databaseUser", postgres.owner)
pulumi.export("readWriteUri", connection_uri(endpoints.host("rw"), endpoints.port("rw")))
pulumi.export("readOnlyUri", connection_uri(endpoints.host("ro"), endpoints.port("ro")))
if poolers is not None:
    # Through PgBouncer (pooler.poolMode); the same credentials and CA as the direct endpoints.
    for pooler_type, output_prefix in (("rw", "pooledReadWrite"), ("ro", "pooledReadOnly")):
        pulumi.export(f"{output_prefix}Host", poolers.host(pooler_type))
        pulumi.export(f"{output_prefix}Port", poolers.port(pooler_type))
        pulumi.export(f"{output_prefix}Uri", connection_uri(poolers.host(pooler_type), poolers.port(pooler_type)))
# verify-full needs the cluster's CA; CNPG keeps it in the <cluster>-ca secret.
pulumi.export(
    "caCertificateCommand",
    f"kubectl get secret {postgres.cluster_name}-ca -n {postgres.namespace} "
    "-o jsonpath='{.data.ca\\.crt}' | base64 -d > ca.crt",
)
if operators.grafana_admin_password is not None:
    pulumi.export("inClusterGrafanaAdminPassword", pulumi.Output.secret(operators.grafana_admin_password))
