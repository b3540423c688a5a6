"""The platform: many database clusters on one AKS, each stated as what differs from the shared defaults.

``clusters`` maps a cluster's name to its entry. The stack's top-level ``postgres``, ``backup``,
``pooler``, ``restore`` and ``clients`` sections are the defaults every entry starts from
(``merged_entry``: objects merged key by key, lists and values replaced); an entry's
``publicEndpoint``, ``internalEndpoint``, ``databases`` and ``roles`` are its own (the top-level
``databases`` and ``roles`` belong to the one-cluster stack). A cluster's
namespace and CNPG name default to its name. A stack without ``clusters`` runs one cluster from the
top-level sections, under the names it always had.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import field_validator

from settings.backup import BackupSettings
from settings.databases import DatabaseSettings, RoleSettings
from settings.network import InternalEndpointSettings
from settings.pooler import PoolerSettings
from settings.postgres import OWNED_NAMESPACES, PostgresSettings, owned_namespace
from settings.public_endpoint import PublicEndpointSettings
from settings.restore import RestoreSettings
from settings.rules import Cidr, Dns1123Label, SettingsModel, matching

# The top-level sections every entry starts from (config keys).
SHARED_SECTIONS = ("postgres", "backup", "pooler", "restore", "clients")
# Backup settings of the one storage account all clusters share: an entry cannot differ in them.
ACCOUNT_BACKUP_KEYS = {"storageSku": "storage_sku", "softDeleteDays": "soft_delete_days"}
# The stack output holding each database cluster's values by its name (read back by the next deployment
# and by a disaster-recovery peer), and each cluster's connection URIs by its name (a secret output).
CLUSTERS_OUTPUT = "clusters"
CONNECTION_URIS_OUTPUT = "clusterConnectionUris"
# The most clusters one stack runs: every name derived from a cluster's fits, and the program's
# evaluation stays within its budget (make bench).
MAX_CLUSTERS = 20

# A cluster's name goes into its namespace, CNPG Cluster (a DNS-1035 label, 50 characters with room for
# '-restored'), services ('-pooler-rw'), Azure identity and blob container (no '--').
ClusterKey = Annotated[
    str,
    matching(
        r"[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,29}",
        "must be a cluster name of 1-30 lowercase letters, digits and single '-', starting with a letter and "
        "not ending with '-' (it names the cluster's namespace, CNPG Cluster, identity and blob container)",
    ),
]


class ClientAccess(SettingsModel):
    """Who may connect to a cluster's PostgreSQL and poolers (its NetworkPolicy admits only them)."""

    namespaces: list[Dns1123Label] = []
    """Application namespaces in this AKS whose pods may connect."""
    cidrs: list[Cidr] = []
    """Client networks (peered or on-premises ranges) that may connect through the cluster's load balancers."""

    @field_validator("namespaces")
    @classmethod
    def _application_namespaces(cls, namespaces: list[str]) -> list[str]:
        # Admitting kube-system or monitoring would admit every pod there, the scrapers and add-ons included.
        owned = [namespace for namespace in namespaces if owned_namespace(namespace)]
        if owned:
            raise ValueError(
                f"{owned!r} are namespaces Kubernetes, AKS or the operators own ({OWNED_NAMESPACES}); "
                "name the application namespaces whose pods connect"
            )
        return namespaces

    def problems(self, namespace: str, load_balanced: bool) -> list[str]:
        """What one cluster's clients cannot be: its own namespace, or networks with no load balancer to come through."""
        problems = [
            f"clients.namespaces[{index}]: {name!r} — is the cluster's own namespace (postgres.namespace); name the "
            "application namespaces whose pods connect"
            for index, name in enumerate(self.namespaces)
            if name == namespace
        ]
        if self.cidrs and not load_balanced:
            problems.append(
                f"clients.cidrs: {self.cidrs!r} — client networks arrive through the cluster's load balancers, and it "
                "has none; enable its internalEndpoint (or publicEndpoint), or leave clients.cidrs empty"
            )
        return problems


class ClusterSettings(SettingsModel):
    """One database cluster: the shared defaults with its entry applied (``merged_entry``)."""

    postgres: PostgresSettings
    """The PostgreSQL cluster (namespace and clusterName default to the cluster's name)."""
    backup: BackupSettings
    """Its backups, in its own blob container of the stack's storage account."""
    pooler: PoolerSettings
    """Its PgBouncer poolers."""
    restore: RestoreSettings
    """Restore into a new cluster beside it (restore.clusterName defaults to '<name>-restored')."""
    clients: ClientAccess = ClientAccess()
    """Application namespaces and client networks allowed to connect."""
    public_endpoint: PublicEndpointSettings = PublicEndpointSettings(enabled=False)
    """Opt-in: its endpoints on the stack's public IP (ports differ from every other cluster's)."""
    internal_endpoint: InternalEndpointSettings = InternalEndpointSettings()
    """Opt-in: its endpoints on internal load balancer addresses of network.nodeSubnet, in the private DNS zone."""
    databases: dict[str, DatabaseSettings] = {}
    """Databases CNPG creates beside postgres.database (Database objects; removing one never drops it
    unless its reclaimPolicy is delete)."""
    roles: dict[str, RoleSettings] = {}
    """Roles CNPG manages (spec.managed.roles); each login role gets a generated password (a Pulumi secret)."""
    retired: bool = False
    """Being retired: the program registers none of its resources, so the next pulumi up deletes its database
    and identity (unprotect them first) and keeps its blob container with the backups in Azure. Remove the
    entry after that deployment (README 'Retire or rename a cluster')."""
    stack_names: bool = False
    """This entry is the stack's original one-cluster database: its resources keep the one-cluster names
    (state URNs), its workload identity and the 'backups' container. At most one entry."""


def merged_entry(key: str, entry: Mapping[str, Any], top_level: Mapping[str, Any]) -> dict[str, Any]:
    """An entry's config with the shared defaults under it, as config keys (camelCase)."""
    merged: dict[str, Any] = {}
    for section in SHARED_SECTIONS:
        default = copy.deepcopy(top_level.get(section, {}))
        if section == "postgres" and isinstance(default, dict):
            # The one-cluster stack's names are not defaults: every cluster is named by its key.
            default.update({"namespace": key, "clusterName": key})
        if section == "restore" and isinstance(default, dict):
            default["clusterName"] = f"{key}-restored"
        merged[section] = _merge(default, entry.get(section, {}))
    merged.update({name: value for name, value in entry.items() if name not in SHARED_SECTIONS})
    return merged


def _merge(default: Any, override: Any) -> Any:
    if isinstance(default, dict) and isinstance(override, dict):
        return {**default, **{key: _merge(default.get(key), value) for key, value in override.items()}}
    return override


def platform_problems(clusters: Mapping[str, ClusterSettings], shared_backup: BackupSettings) -> list[str]:
    """What no single entry shows: names, addresses and ports the clusters would share, one line each."""
    problems = []
    clusters = {key: cluster for key, cluster in clusters.items() if not cluster.retired}
    if not clusters:
        problems.append("clusters: no cluster that is not retired — a stack runs at least one; destroy the stack instead")
    if len(clusters) > MAX_CLUSTERS:
        problems.append(
            f"clusters: {len(clusters)} clusters — at most {MAX_CLUSTERS} per stack; split the rest into another stack"
        )
    stack_named = [key for key, cluster in clusters.items() if cluster.stack_names]
    if len(stack_named) > 1:
        problems.append(
            f"clusters: {stack_named} all set stackNames — only the stack's original cluster keeps the one-cluster names"
        )
    for key, cluster in clusters.items():
        if cluster.backup.retention_days > shared_backup.retention_days:
            # The account keeps a deleted or overwritten blob max(softDeleteDays, backup.retention) days, for every container.
            problems.append(
                f"clusters.{key}.backup.retention: {cluster.backup.retention!r} — longer than backup.retention "
                f"{shared_backup.retention!r}, which sets how long the shared storage account keeps deleted backups; "
                "raise backup.retention to the longest cluster's"
            )
        for name, field in ACCOUNT_BACKUP_KEYS.items():
            value = getattr(cluster.backup, field)
            if value != getattr(shared_backup, field):
                problems.append(
                    f"clusters.{key}.backup.{name}: {value!r} — every cluster backs up to the stack's one storage "
                    f"account; set backup.{name} at the top level"
                )
    problems += _shared(clusters, "postgres.namespace", lambda cluster: [cluster.postgres.namespace], "its own namespace")
    problems += _clients_in_other_clusters(clusters)
    problems += _shared(clusters, "postgres.clusterName", lambda cluster: [cluster.postgres.cluster_name], "its own CNPG name")
    problems += _shared(clusters, "publicEndpoint ports", _public_ports, "its own ports on the stack's public IP")
    problems += _shared(
        clusters,
        "internalEndpoint addresses",
        lambda cluster: [ip for ip in cluster.internal_endpoint.addresses().values() if ip and cluster.internal_endpoint.enabled],
        "its own internal addresses",
    )
    return problems


def _clients_in_other_clusters(clusters: Mapping[str, ClusterSettings]) -> list[str]:
    # A database namespace's pods are instances, join Jobs and poolers: admitting them as another cluster's
    # clients would let clusters reach each other.
    namespaces = {cluster.postgres.namespace: key for key, cluster in clusters.items()}
    return [
        f"clusters.{key}.clients.namespaces[{index}]: {name!r} — is cluster {namespaces[name]}'s namespace; "
        "clusters must not reach each other, name the application namespaces whose pods connect"
        for key, cluster in clusters.items()
        for index, name in enumerate(cluster.clients.namespaces)
        if namespaces.get(name, key) != key
    ]


def _public_ports(cluster: ClusterSettings) -> list[int]:
    if not cluster.public_endpoint.enabled:
        return []
    ports = [cluster.public_endpoint.read_write_port, cluster.public_endpoint.read_only_port]
    if cluster.pooler.enabled:
        ports += [cluster.pooler.read_write_port, cluster.pooler.read_only_port]
    return ports


def _shared(
    clusters: Mapping[str, ClusterSettings], what: str, values: Callable[[ClusterSettings], list[Any]], rule: str
) -> list[str]:
    owners: dict[Any, list[str]] = {}
    for key, cluster in clusters.items():
        for value in dict.fromkeys(values(cluster)):
            owners.setdefault(value, []).append(key)
    return [
        f"clusters: {', '.join(keys)} share {what} {value!r} — each cluster needs {rule}"
        for value, keys in owners.items()
        if len(keys) > 1
    ]
