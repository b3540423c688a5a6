"""One database cluster of the platform, wired from the shared parts: its identity, container, CNPG
cluster, network policies, backups, monitoring, poolers and restore.

Every resource a cluster adds is named with its ``resource_prefix`` (none for the one-cluster stack's,
so those keep their URNs): adding a cluster adds only its own resources.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi

from components.azure.backup_storage import BACKUP_CONTAINER, BackupContainer, BackupStorage, backup_container_name
from components.azure.identities import Identities, WorkloadIdentity
from components.builders.cluster_spec import Placement
from components.builders.endpoints import Endpoints, PublicAddress, exposed_endpoints
from components.cluster.backups import Backups, BackupsArgs
from components.cluster.database import BackupTarget, PostgresCluster, PostgresClusterArgs
from components.cluster.database_monitoring import DatabaseMonitoring, DatabaseMonitoringArgs, cluster_alert_rules
from components.cluster.network_policies import DatabaseNetworkPolicies, DatabaseNetworkPoliciesArgs
from components.cluster.operators import Scrapers
from components.cluster.poolers import Poolers, PoolersArgs
from components.deployed import PROTECTED_OUTPUT, STACK_NAMES_OUTPUT, cluster_outputs, own_outputs
from settings import DatabaseCluster
from settings.platform import CLUSTERS_OUTPUT
from settings.pooler import pool_sizes

if TYPE_CHECKING:  # types only: the optional features' modules load only where they are on
    import pulumi_kubernetes as k8s

    from components.azure.naming import Naming
    from components.azure.observability import Observability
    from components.azure.peer_stack import PeerStack


@dataclass(frozen=True)
class SharedParts:
    """What every database cluster of the stack uses."""

    naming: Naming
    identities: Identities
    backup_storage: BackupStorage
    provider: k8s.Provider
    oidc_issuer_url: pulumi.Output[str]
    placement: Placement
    operators_ready: Sequence[pulumi.Resource]
    scrapers: Scrapers
    node_subnet_name: str
    public_address: PublicAddress | None
    observability: Observability | None
    protect: bool
    allow_replacement: bool
    # On a platform: the stack's last outputs, once refuse_protected_removal() passed (every cluster's
    # Namespace waits for it); None: each cluster reads its own.
    deployed_outputs: pulumi.Output[Mapping[str, Any]] | None
    # disasterRecovery: the other region's stack; each cluster joins a topology with its cluster of the same name.
    peer_stack: PeerStack | None


@dataclass(frozen=True)
class DeployedCluster:
    """One database cluster as deployed: what the outputs and the private DNS zone need."""

    cluster: DatabaseCluster
    identity: WorkloadIdentity
    container: BackupContainer
    database: PostgresCluster
    endpoints: Endpoints
    poolers: Poolers | None


def deploy_cluster(
    cluster: DatabaseCluster, shared: SharedParts, *, stack_wide_monitoring: bool, operator_alerts: bool
) -> DeployedCluster:
    """Register one database cluster. ``stack_wide_monitoring``: this cluster's monitoring also ships the
    stack's Grafana dashboard and Azure's metrics settings (exactly one cluster's does)."""
    settings, prefix = cluster.settings, cluster.resource_prefix
    postgres = settings.postgres
    own = cluster.own_key
    identity = (
        shared.identities.for_cluster(
            own, shared.naming.name(lambda scheme, suffix: scheme.cluster_workload_identity(own, suffix))
        )
        if own is not None
        else shared.identities.workload
    )
    assert identity is not None, "the one-cluster stack has the stack's workload identity"
    container = shared.backup_storage.container(
        own,
        backup_container_name(own) if own is not None else BACKUP_CONTAINER,
        identity.principal_id,
        settings.backup,
    )
    # Its own identity reads the peer's namesake's archive.
    topology = shared.peer_stack.topology_for(cluster, identity.principal_id) if shared.peer_stack else None
    endpoints = exposed_endpoints(
        settings, shared.public_address if settings.public_endpoint.enabled else None, shared.node_subnet_name
    )
    database = PostgresCluster(
        f"{prefix}database",
        PostgresClusterArgs(
            provider=shared.provider,
            postgres=postgres,
            backup=settings.backup,
            identity=identity,
            oidc_issuer_url=shared.oidc_issuer_url,
            backup_target=BackupTarget(container.url, container.writer_role),
            placement=shared.placement,
            endpoints=endpoints,
            operators_ready=shared.operators_ready,
            protect=shared.protect,
            allow_replacement=shared.allow_replacement,
            topology=topology,
            migration=settings.migration,
            restoring=settings.restore.enabled,
            deployed=_last_deployed(cluster, shared.deployed_outputs),
            databases=cluster.entry.databases,
            roles=cluster.entry.roles,
        ),
    )
    DatabaseNetworkPolicies(
        f"{prefix}network-policies",
        DatabaseNetworkPoliciesArgs(
            provider=shared.provider,
            endpoints=endpoints,
            cluster=database.ref.resource,
            scrapers=shared.scrapers,
            client_namespaces=settings.clients.namespaces,
        ),
    )
    Backups(f"{prefix}backups", BackupsArgs(cluster=database.ref, settings=settings.backup))
    rules = cluster_alert_rules(settings, operators=operator_alerts)  # in-cluster and in Azure Monitor alike
    if shared.observability:
        shared.observability.alert_on(own, rules)
    DatabaseMonitoring(
        f"{prefix}database-monitoring",
        DatabaseMonitoringArgs(
            cluster=database.ref, scrapers=shared.scrapers, alert_rules=rules, stack_wide=stack_wide_monitoring
        ),
    )
    poolers = None
    if settings.pooler.enabled:
        poolers = Poolers(
            f"{prefix}poolers",
            PoolersArgs(
                cluster=database.ref,
                settings=settings.pooler,
                sizes=pool_sizes(settings),
                database=postgres.database,
                placement=shared.placement,
                endpoints=endpoints,
                scrapers=shared.scrapers,
            ),
        )
    if settings.restore.enabled:
        from components.cluster.restore import RestoredCluster, RestoredClusterArgs

        RestoredCluster(
            f"{prefix}restore",
            RestoredClusterArgs(
                source=database,
                postgres=postgres,
                restore=settings.restore,
                backup=settings.backup,
                identity=identity,
                oidc_issuer_url=shared.oidc_issuer_url,
                placement=shared.placement,
            ),
        )
    return DeployedCluster(cluster, identity, container, database, endpoints, poolers)


def stack_named_cluster(clusters: Mapping[str, DatabaseCluster]) -> str | None:
    """The one-cluster stack's database (a stack without clusters, or the entry that keeps its names): it has the
    stack's workload identity, and its monitoring ships the stack-wide objects (their URNs stay); None on a
    platform without one (PlatformMonitoring ships them)."""
    return next((key for key, cluster in clusters.items() if cluster.own_key is None), None)


def operator_alerting_cluster(clusters: Mapping[str, DatabaseCluster]) -> str:
    """The cluster whose alert rules also watch the operators (so they page once): the one-cluster stack's
    database, else the first by name (the Pulumi CLI hands config maps over sorted, whatever the file's order)."""
    return stack_named_cluster(clusters) or min(clusters)


def _last_deployed(cluster: DatabaseCluster, outputs: pulumi.Output[Mapping[str, Any]] | None) -> pulumi.Output[Any] | None:
    """A cluster's values from the stack's last deployment: the top level for the one with the stack's names."""
    own = cluster.own_key
    if outputs is None or own is None:
        return outputs
    return outputs.apply(lambda values: cluster_outputs(values, own))


def refuse_protected_removal(clusters: Collection[str]) -> pulumi.Output[Mapping[str, Any]]:
    """The stack's last outputs (one read for every cluster), once no cluster its last deployment protected
    is missing from ``clusters`` (the entries, retired ones included: removed, or renamed, since a new name is
    a new cluster); else the steps that retire one."""

    def checked(outputs: Mapping[str, Any] | None) -> Mapping[str, Any]:
        previous = (outputs or {}).get(CLUSTERS_OUTPUT) or {}
        gone = sorted(key for key, values in previous.items() if key not in clusters and values.get(PROTECTED_OUTPUT))
        if gone:
            raise pulumi.RunError("\n".join(retirement_steps(key, previous[key]) for key in gone))
        return outputs or {}

    return own_outputs("deployed-clusters", None).apply(checked)


def retirement_steps(key: str, deployed: Mapping[str, Any]) -> str:
    """Why a protected cluster cannot just disappear from clusters, and how to retire it."""
    urn = f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::aks-postgres-ha:components:"
    named = "" if deployed.get(STACK_NAMES_OUTPUT) else f"{key}-"
    unprotect = [
        f"{urn}PostgresCluster$kubernetes:core/v1:Namespace::{named}database-namespace",
        f"{urn}PostgresCluster$kubernetes:postgresql.cnpg.io/v1:Cluster::{named}database-cluster",
        f"{urn}Identities$azure-native:managedidentity:UserAssignedIdentity::identities-{named}workload",
        f"{urn}BackupStorage$azure-native:storage:BlobContainer::backup-storage-{named}container",
    ]
    return (
        f"clusters.{key}: removed (or renamed), but its last deployment protected its data (protectStatefulResources): "
        "removing the entry deletes its Namespace, Cluster and volumes. To retire it: 1) take a final backup "
        f"(keep the entry, add a name to clusters.{key}.backup.onDemand, pulumi up); 2) unprotect it: "
        + " && ".join(f"pulumi state unprotect '{each}'" for each in unprotect)
        + f"; 3) set clusters.{key}.retired: true and pulumi up (its database and identity go; its container stays in "
        "Azure with the backups, immutable for their window); 4) remove the entry. To rename a cluster, restore it "
        "into a new entry first (README 'Restore')."
    )
