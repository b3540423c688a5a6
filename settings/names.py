"""Azure names: the guide's naming scheme, checked against Azure's rules."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Length of the random suffix that makes global names unique (kept in Pulumi state).
SUFFIX_LENGTH = 8


# Azure's federated identity credential names: 3-120 letters, digits, '-' and '_'.
FEDERATED_CREDENTIAL_MAX_LENGTH = 120


def drill_cluster_name(cluster: str) -> str:
    """The throwaway recovery cluster of the restore drill (tools/drill); its service account is trusted too."""
    return f"{cluster}-drill"


def federated_credential_name(namespace: str, cluster: str) -> str:
    """The credential that lets ``cluster``'s service account in ``namespace`` act as its workload identity."""
    return f"fic-{namespace}-{cluster}"


def federated_credential_problems(namespace: str, clusters: list[str]) -> list[str]:
    """The credentials of these CNPG clusters' service accounts that Azure would refuse as too long."""
    return [
        f"postgres.namespace: {namespace!r} — with cluster {cluster!r} the federated credential "
        f"{name!r} has {len(name)} characters, but Azure allows {FEDERATED_CREDENTIAL_MAX_LENGTH}: shorten the "
        "namespace or the cluster name"
        for cluster in clusters
        if len(name := federated_credential_name(namespace, cluster)) > FEDERATED_CREDENTIAL_MAX_LENGTH
    ]


@dataclass(frozen=True)
class NameScheme:
    """The guide's naming scheme (``rg-cnpg-<sfx>`` ...), made valid under Azure's rules."""

    prefix: str

    def resource_group(self, suffix: str) -> str:
        return f"rg-{self.prefix}-{suffix}"

    def node_resource_group(self, suffix: str) -> str:
        return f"rg-{self.prefix}-primary-aksmanaged-{suffix}"

    def aks_cluster(self, suffix: str) -> str:
        return f"aks-primary-{self.prefix}-{suffix}"

    def aks_dns_prefix(self, suffix: str) -> str:
        return f"aks-{self.prefix}-{suffix}"

    def control_plane_identity(self, suffix: str) -> str:
        return f"mi-aks-{self.prefix}-{suffix}"

    def workload_identity(self, suffix: str) -> str:
        return f"mi-db-{self.prefix}-{suffix}"

    def cluster_workload_identity(self, cluster: str, suffix: str) -> str:
        """A platform database cluster's own workload identity (3-128 characters: fits any cluster name)."""
        return f"mi-db-{self.prefix}-{cluster}-{suffix}"

    def storage_account(self, suffix: str) -> str:
        return f"{self.prefix.replace('-', '')}pgbak{suffix}"

    def virtual_network(self, suffix: str) -> str:
        return f"vnet-{self.prefix}-{suffix}"

    def blob_private_endpoint(self, suffix: str) -> str:
        return f"pe-blob-{self.prefix}-{suffix}"

    def peer_blob_private_endpoint(self, suffix: str) -> str:
        return f"pe-peer-blob-{self.prefix}-{suffix}"

    def public_ip(self, suffix: str) -> str:
        return f"pip-pg-{self.prefix}-{suffix}"

    def dns_label(self, suffix: str) -> str:
        return f"pg-{self.prefix}-{suffix}"

    def grafana(self, suffix: str) -> str:
        return f"gf-{self.prefix}-{suffix}"

    def monitor_workspace(self, suffix: str) -> str:
        return f"amw-{self.prefix}-{suffix}"

    def log_analytics(self, suffix: str) -> str:
        return f"ala-{self.prefix}-{suffix}"

    def problems(self) -> list[str]:
        """Azure naming rules checked on the names this prefix produces (suffix at full length)."""
        sample = "a" * SUFFIX_LENGTH
        checks = [
            (self.storage_account(sample), r"[a-z0-9]{3,24}", "storage account names are 3-24 lowercase letters and digits"),
            (self.resource_group(sample), r"[-\w._()]{1,89}[-\w_()]", "resource group names are at most 90 characters"),
            (
                self.node_resource_group(sample),
                r"[-\w._()]{1,79}[-\w_()]",
                "the AKS node resource group name is at most 80 characters",
            ),
            (
                self.aks_dns_prefix(sample),
                r"[a-zA-Z0-9][-a-zA-Z0-9]{0,52}[a-zA-Z0-9]",
                "AKS DNS prefixes are 1-54 letters, digits and '-'",
            ),
            (
                self.dns_label(sample),
                r"[a-z][a-z0-9-]{1,61}[a-z0-9]",
                "public IP DNS labels are 3-63 lowercase letters, digits and '-', starting with a letter",
            ),
            (
                self.grafana(sample),
                r"[a-zA-Z][a-zA-Z0-9-]{0,21}[a-zA-Z0-9]",
                "Managed Grafana names are 2-23 letters, digits and '-'",
            ),
        ]
        return [
            f"namePrefix: {self.prefix!r} gives {name!r}, but {rule}"
            for name, pattern, rule in checks
            if not re.fullmatch(pattern, name)
        ]
