"""Operations: stateful resources protected from an accidental delete or replace, and AKS upgrades
held to planned-maintenance windows."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, PolicyResource, ReportViolation, StackValidationArgs

from .common import kubernetes_name, kubernetes_namespace, label, lookup, of_type, plain, stack_policy, text
from .resource_types import (
    BLOB_CONTAINER,
    CNPG_CLUSTER,
    KUBERNETES_NAMESPACE,
    MAINTENANCE_CONFIGURATION,
    MANAGED_CLUSTER,
    STORAGE_ACCOUNT,
    USER_ASSIGNED_IDENTITY,
)

# What losing means losing data or the access to it: the cluster, the backups and the identities they
# trust. Recovery clusters are left out: a restore is disabled routinely, and protect would block it.
STATEFUL_AZURE_TYPES = (MANAGED_CLUSTER, STORAGE_ACCOUNT, BLOB_CONTAINER, USER_ASSIGNED_IDENTITY)
# AKS reads planned-maintenance schedules only under these configuration names (planned-maintenance.md).
MAINTENANCE_SCHEDULES = ("aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule")


def _serving_clusters(resources: list[PolicyResource]) -> list[PolicyResource]:
    """CNPG Clusters holding the database: initdb primaries and replica clusters, not restores."""
    clusters = []
    for cluster in of_type(resources, CNPG_CLUSTER):
        spec = lookup(plain(cluster.props), "spec")
        if lookup(spec, "bootstrap", "recovery") is None or lookup(spec, "replica") is not None:
            clusters.append(cluster)
    return clusters


def _validate_protected(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    clusters = _serving_clusters(args.resources)
    database_namespaces = {kubernetes_namespace(plain(cluster.props)) for cluster in clusters}
    namespaces = [
        namespace
        for namespace in of_type(args.resources, KUBERNETES_NAMESPACE)
        if kubernetes_name(plain(namespace.props)) in database_namespaces
    ]
    stateful = [resource for resource in args.resources if resource.resource_type in STATEFUL_AZURE_TYPES]
    for resource in [*stateful, *clusters, *namespaces]:
        if not resource.opts.protect:
            report_violation(
                f"{label(resource.resource_type, resource.name)} is not protected: a replace or delete (a renamed "
                "setting, a destroy) would take the data, the backups or the access to them with it. Set protect "
                "(protectStatefulResources: true); unprotect deliberately with `pulumi state unprotect`.",
                resource.urn,
            )


def _validate_maintenance(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    schedules: dict[str, set[str]] = {}
    for configuration in of_type(args.resources, MAINTENANCE_CONFIGURATION):
        props = plain(configuration.props)
        name, cluster = text(lookup(props, "configName")), text(lookup(props, "resourceName"))
        if name is not None and cluster is not None:
            schedules.setdefault(cluster, set()).add(name)
    for aks in of_type(args.resources, MANAGED_CLUSTER):
        cluster_name = text(lookup(plain(aks.props), "resourceName"))
        if cluster_name is None:
            continue  # computed in this preview: nothing to compare yet
        missing = [schedule for schedule in MAINTENANCE_SCHEDULES if schedule not in schedules.get(cluster_name, set())]
        if missing:
            report_violation(
                f"{label(aks.resource_type, aks.name)} ('{cluster_name}') has no MaintenanceConfiguration "
                f"{', '.join(missing)}: AKS then upgrades Kubernetes and reimages nodes at any hour, and every node "
                "drain switches the PostgreSQL primary over. Add both planned-maintenance windows (aks.maintenance).",
                aks.urn,
            )


OPERATIONS_POLICIES = [
    stack_policy(
        "stateful-resources-protected",
        "The AKS cluster, backup storage, identities, the database's namespace and CNPG Cluster are protected.",
        _validate_protected,
        # Off unless a stack's config turns it on (prod, dr: mandatory); dev may recreate everything.
        level=EnforcementLevel.DISABLED,
    ),
    stack_policy(
        "aks-maintenance-windows",
        "Every AKS cluster has planned-maintenance windows for cluster and node-OS upgrades.",
        _validate_maintenance,
    ),
]
