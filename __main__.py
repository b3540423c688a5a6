"""aks-postgres-ha: highly available PostgreSQL (CloudNativePG) on AKS, in one dependency graph.

This file only reads settings, wires components and exports outputs.
"""

import pulumi

from settings import NameScheme, SettingsError, load_settings

try:
    settings = load_settings()
except SettingsError as error:
    raise pulumi.RunError(str(error)) from None

# Imported after validation so bad settings fail fast, before any resource module loads.
from components.azure.aks_cluster import POSTGRES_NODE_LABEL, AksCluster, AksClusterArgs, ClusterMonitoring
from components.azure.backup_storage import BackupStorage, BackupStorageArgs
from components.azure.cluster_access import ClusterAccess, ClusterAccessArgs
from components.azure.identities import Identities, IdentitiesArgs
from components.azure.naming import Naming, NamingArgs
from components.azure.network import Network, NetworkArgs
from components.builders.cluster_spec import Placement
from components.cluster.operators import Operators, OperatorsArgs
from program.clusters import (
    SharedParts,
    deploy_cluster,
    operator_alerting_cluster,
    refuse_protected_removal,
    stack_named_cluster,
)
from program.outputs import StackParts, export_outputs

tags = {"managed-by": "pulumi", "project": "aks-postgres-ha", **settings.tags}
stateful = settings.protect_stateful_resources
clusters = settings.database_clusters()
stack_named = stack_named_cluster(clusters)

naming = Naming("naming", NamingArgs(scheme=settings.names, location=settings.location, tags=tags))
scope = naming.scope

identities = Identities(
    "identities",
    IdentitiesArgs(
        scope=scope,
        network_scope=naming.resource_group_id,
        control_plane_name=naming.name(NameScheme.control_plane_identity),
        workload_name=naming.name(NameScheme.workload_identity) if stack_named is not None else None,
        protect=stateful,
    ),
)

private = settings.network
network = Network(
    "network",
    NetworkArgs(
        scope=scope,
        vnet_name=naming.name(NameScheme.virtual_network),
        settings=private,
        control_plane_principal_id=identities.control_plane_principal_id,
    ),
)

backup_storage = BackupStorage(
    "backup-storage",
    BackupStorageArgs(
        scope=scope,
        account_name=naming.name(NameScheme.storage_account),
        settings=settings.backup,
        protect=stateful,
        private_endpoint_only=private.private_storage,
    ),
)
# Private storage: blob private endpoints in this network, named in one privatelink zone.
blob_endpoint = None
if private.private_storage:
    from components.azure.blob_private_endpoint import BlobPrivateEndpoint, BlobPrivateEndpointArgs

    blob_endpoint = BlobPrivateEndpoint(
        "backup-private-endpoint",
        BlobPrivateEndpointArgs(
            scope=scope,
            endpoint_name=naming.name(NameScheme.blob_private_endpoint),
            storage_account_id=backup_storage.account_id,
            subnet_id=network.private_endpoint_subnet_id,
            vnet_id=network.vnet_id,
            existing_dns_zone_id=private.blob_private_dns_zone_id,
        ),
    )

# The other region's stack: each cluster and the peer's cluster of its name form one CNPG distributed topology.
peer_stack = None
if settings.disaster_recovery:
    from components.azure.peer_stack import PeerStack, PeerStackArgs

    peer_stack = PeerStack(
        "peer-stack",
        PeerStackArgs(
            settings=settings,
            dr=settings.disaster_recovery,
            # The peer's archives through an endpoint in this network, named in this stack's zone.
            private_endpoint=blob_endpoint.another(naming.name(NameScheme.peer_blob_private_endpoint)) if blob_endpoint else None,
        ),
    )

observability = None
if settings.observability.azure_monitoring:
    from components.azure.observability import Observability, ObservabilityArgs

    observability = Observability(
        "observability",
        ObservabilityArgs(
            scope=scope,
            monitor_workspace_name=naming.name(NameScheme.monitor_workspace),
            log_analytics_name=naming.name(NameScheme.log_analytics),
            grafana_name=naming.name(NameScheme.grafana),
            settings=settings.observability,
            alerting=settings.alerting,
            zone_redundant=len(settings.zones) > 1,
        ),
    )

aks = AksCluster(
    "aks",
    AksClusterArgs(
        scope=scope,
        cluster_name=naming.name(NameScheme.aks_cluster),
        dns_prefix=naming.name(NameScheme.aks_dns_prefix),
        node_resource_group=naming.name(NameScheme.node_resource_group),
        zones=settings.zones,
        settings=settings.aks,
        network=network.cluster_network,
        control_plane_identity_id=identities.control_plane_id,
        control_plane_ready=[identities.network_role, *network.control_plane_ready],
        monitoring=ClusterMonitoring(observability.log_analytics_workspace_id) if observability else None,
        protect=stateful,
    ),
)
if observability:
    observability.connect_cluster(aks.cluster_id, aks.cluster_name)

public_ip = None
if any(cluster.settings.public_endpoint.enabled for cluster in clusters.values()):
    from components.azure.public_ip import PublicIp, PublicIpArgs

    public_ip = PublicIp(
        "public-ip",
        PublicIpArgs(
            scope=scope,
            ip_name=naming.name(NameScheme.public_ip),
            dns_label=naming.name(NameScheme.dns_label),
            zones=settings.zones,
            protect=stateful,
        ),
    )

access = ClusterAccess(
    "cluster-access",
    ClusterAccessArgs(
        scope=scope,
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

shared = SharedParts(
    naming=naming,
    identities=identities,
    backup_storage=backup_storage,
    provider=access.provider,
    oidc_issuer_url=aks.oidc_issuer_url,
    placement=Placement(node_label=POSTGRES_NODE_LABEL, taint=aks.postgres_pool_taint),
    operators_ready=operators.database_ready,
    scrapers=operators.scrapers(azure_managed=settings.observability.azure_monitoring),
    node_subnet_name=network.node_subnet_name,
    public_address=public_ip.public_address if public_ip else None,
    observability=observability,
    protect=stateful,
    allow_replacement=settings.allow_database_replacement,
    deployed_outputs=refuse_protected_removal(settings.clusters.keys()) if settings.clusters is not None else None,
    peer_stack=peer_stack,
)
alerting_cluster = operator_alerting_cluster(clusters)
if stack_named is None:
    from components.cluster.platform_monitoring import PlatformMonitoring, PlatformMonitoringArgs

    PlatformMonitoring("platform-monitoring", PlatformMonitoringArgs(provider=access.provider, scrapers=shared.scrapers))
deployed = {
    key: deploy_cluster(cluster, shared, stack_wide_monitoring=key == stack_named, operator_alerts=key == alerting_cluster)
    for key, cluster in clusters.items()
}

private_dns_records = {
    name: ip
    for each in deployed.values()
    if each.endpoints.internal is not None
    for name, ip in each.endpoints.private_dns_records().items()
}
if private_dns_records:
    from components.azure.database_dns import DatabaseDns, DatabaseDnsArgs

    DatabaseDns(
        "database-dns",
        DatabaseDnsArgs(
            scope=scope,
            zone_name=private.private_dns_zone,
            cluster_vnet_id=network.vnet_id,
            peer_vnet_ids=[peering.remote_vnet_id for peering in private.peerings],
            a_records=private_dns_records,
        ),
    )

parts = StackParts(naming, identities, network, backup_storage, aks, access, operators)
export_outputs(settings, parts, deployed, public_ip=public_ip, observability=observability)
