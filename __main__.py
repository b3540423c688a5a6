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
from components.aks_cluster import AksCluster, AksClusterArgs, ClusterMonitoring  # noqa: E402
from components.backup_storage import BackupStorage, BackupStorageArgs  # noqa: E402
from components.cluster_access import ClusterAccess, ClusterAccessArgs  # noqa: E402
from components.identities import Identities, IdentitiesArgs  # noqa: E402
from components.naming import Naming, NamingArgs  # noqa: E402

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
    ),
)

observability = None
if settings.observability.azure_monitoring:
    from components.observability import Observability, ObservabilityArgs

    observability = Observability(
        "observability",
        ObservabilityArgs(
            resource_group_name=naming.resource_group_name,
            location=settings.location,
            monitor_workspace_name=naming.name(NameScheme.monitor_workspace),
            log_analytics_name=naming.name(NameScheme.log_analytics),
            grafana_name=naming.name(NameScheme.grafana),
            settings=settings.observability,
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
        control_plane_identity_id=identities.control_plane_id,
        control_plane_ready=[identities.network_role],
        monitoring=ClusterMonitoring(observability.log_analytics_workspace_id) if observability else None,
        tags=tags,
    ),
)
if observability:
    observability.connect_cluster(aks.cluster_id)

public_ip = None
if settings.public_endpoint.enabled:
    from components.public_ip import PublicIp, PublicIpArgs

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
    ClusterAccessArgs(resource_group_name=naming.resource_group_name, cluster_name=aks.cluster_name),
)

pulumi.export("resourceGroupName", naming.resource_group_name)
pulumi.export("aksClusterName", aks.cluster_name)
pulumi.export("oidcIssuerUrl", aks.oidc_issuer_url)
pulumi.export("workloadIdentityClientId", identities.workload_client_id)
pulumi.export("backupStorageAccountName", backup_storage.account_name)
pulumi.export("backupContainerUrl", backup_storage.container_url)
if public_ip:
    pulumi.export("publicIpAddress", public_ip.address)
    pulumi.export("publicFqdn", public_ip.fqdn)
if observability and observability.grafana_endpoint is not None:
    pulumi.export("grafanaEndpoint", observability.grafana_endpoint)
pulumi.export("kubeconfig", access.kubeconfig)
