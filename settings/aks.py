"""AKS cluster and node pool settings."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from settings.maintenance import MaintenanceSettings
from settings.rules import Cidr, EntraObjectId, PoolName, SettingsModel, VmSize
from sizing.nodes import vm_shape

# The one table of Kubernetes minors the program deploys: in AKS standard support for new clusters
# AND supported by CloudNativePG 1.30.
# - AKS supports 1.35-1.37; 1.34 reaches end of life on 2026-11-30 and new clusters then fail, so it
#   is refused already (AKS release calendar, azure-aks-docs articles/aks/supported-kubernetes-versions.md).
# - CloudNativePG 1.30 supports Kubernetes 1.34-1.36 (cloudnative-pg v1.30.0 docs/src/supported_releases.md).
# Review when either calendar changes.
SUPPORTED_KUBERNETES_MINORS = (35, 36)
# Nodes each pool adds during an upgrade (AgentPoolUpgradeSettings.maxSurge; components/azure/aks_cluster.py):
# the system pool a third of its nodes, the PostgreSQL pool one node at a time.
SYSTEM_POOL_MAX_SURGE = "33%"
POSTGRES_POOL_MAX_SURGE = "1"
# AKS asks for at least 4 vCPU on system nodes in production (azure-aks-docs use-system-pools.md).
MIN_PRODUCTION_SYSTEM_VCPUS = 4


# Stack output recording each pool's VM size (by its settings key); the next deployment reads it back.
DEPLOYED_VM_SIZES_OUTPUT = "nodePoolVmSizes"


def surge_nodes(max_surge: str, nodes: int) -> int:
    """Nodes AKS adds to a pool of ``nodes`` during an upgrade: a count, or a percentage of the pool rounded up
    (AKS "customize node surge upgrade"; counted at maxCount, the most the pool can hold)."""
    if max_surge.endswith("%"):
        return math.ceil(nodes * int(max_surge[:-1]) / 100)
    return int(max_surge)


@dataclass(frozen=True)
class NodeCeiling:
    """The most nodes the cluster runs at once: every pool at its maxCount, upgrading with its surge."""

    nodes: int
    explanation: str


class NodePoolSettings(SettingsModel):
    name: PoolName
    vm_size: VmSize
    min_count: int = Field(ge=1, le=1000)
    max_count: int = Field(ge=1, le=1000)

    @model_validator(mode="after")
    def _min_not_above_max(self) -> NodePoolSettings:
        if self.min_count > self.max_count:
            raise ValueError(f"minCount ({self.min_count}) must not exceed maxCount ({self.max_count})")
        return self


class PostgresPoolSettings(NodePoolSettings):
    name: PoolName = "postgres"
    """Node pool name (Linux: 1-12 lowercase letters and digits)."""
    vm_size: VmSize = "Standard_D4s_v3"
    """VM size of the PostgreSQL nodes (the guide: Standard_D4s_v3, 4 vCPU / 16 GiB)."""
    min_count: int = Field(default=3, ge=1, le=1000)
    """Autoscaler minimum; at least the number of zones."""
    max_count: int = Field(default=6, ge=1, le=1000)
    """Autoscaler maximum; at least postgres.instances."""
    dedicated: bool = True
    """Taint the pool (workload=postgres:NoSchedule) so only PostgreSQL pods land on it."""


class SystemPoolSettings(NodePoolSettings):
    name: PoolName = "systempool"
    """System node pool name."""
    vm_size: VmSize = "Standard_D4s_v5"
    """VM size of the system nodes; prod needs at least 4 vCPU (AKS system pool guidance)."""
    min_count: int = Field(default=2, ge=1, le=1000)
    """Autoscaler minimum."""
    max_count: int = Field(default=3, ge=1, le=1000)
    """Autoscaler maximum."""


class AksSettings(SettingsModel):
    kubernetes_version: str = "1.35"
    """AKS Kubernetes version (1.35 or 1.36: supported by both AKS and CloudNativePG 1.30)."""
    sku_tier: Literal["Free", "Standard", "Premium"] = "Standard"
    """AKS tier: Free (dev only), Standard (uptime SLA) or Premium."""
    api_server_authorized_ip_ranges: list[Cidr] = Field(min_length=1)
    """Required. CIDRs allowed to reach the Kubernetes API; never 0.0.0.0/0."""
    system_pool: SystemPoolSettings = SystemPoolSettings()
    """System node pool."""
    postgres_pool: PostgresPoolSettings = PostgresPoolSettings()
    """Dedicated PostgreSQL node pool (label workload=postgres)."""
    admin_group_object_ids: list[EntraObjectId] = []
    """Entra group object IDs that administer the cluster (Azure RBAC Cluster Admin); prod needs one."""
    maintenance: MaintenanceSettings = MaintenanceSettings()
    """Planned-maintenance windows of Kubernetes and node OS upgrades."""

    @field_validator("kubernetes_version")
    @classmethod
    def _supported_version(cls, value: str) -> str:
        match = re.fullmatch(r"1\.([0-9]+)(\.[0-9]+)?", value)
        if not match:
            raise ValueError("must look like 1.35 or 1.35.2")
        if int(match.group(1)) not in SUPPORTED_KUBERNETES_MINORS:
            supported = ", ".join(f"1.{minor}" for minor in SUPPORTED_KUBERNETES_MINORS)
            raise ValueError(f"must be a minor that AKS supports for new clusters and CloudNativePG 1.30 supports: {supported}")
        return value

    def production_problems(self) -> list[str]:
        """What prod needs beyond the general rules: named administrators and a system pool fit for its job."""
        problems = []
        if not self.admin_group_object_ids:
            problems.append(
                "aks.adminGroupObjectIds: [], but prod needs at least one Entra group that administers the "
                "cluster (local accounts are disabled, so nobody else can reach it in an emergency)"
            )
        known = vm_shape(self.system_pool.vm_size)
        vcpus = f"{known[1].vcpus} vCPU" if known else "a vCPU count the VM size table (sizing/nodes.py) does not know"
        if known is None or known[1].vcpus < MIN_PRODUCTION_SYSTEM_VCPUS:
            problems.append(
                f"aks.systemPool.vmSize: {self.system_pool.vm_size!r} has {vcpus}, but prod system nodes need at "
                f"least {MIN_PRODUCTION_SYSTEM_VCPUS} vCPU (AKS system pool guidance; they also host the operators "
                "and monitoring), e.g. Standard_D4s_v5"
            )
        return problems

    def node_ceiling(self) -> NodeCeiling:
        """Every pool at maxCount plus the nodes AKS surges into each during an upgrade (each takes a node
        subnet address and a /24 of the overlay pod range)."""
        pools = (
            ("aks.systemPool", self.system_pool, SYSTEM_POOL_MAX_SURGE),
            ("aks.postgresPool", self.postgres_pool, POSTGRES_POOL_MAX_SURGE),
        )
        surge = sum(surge_nodes(max_surge, pool.max_count) for _, pool, max_surge in pools)
        counts = " + ".join(f"{key}.maxCount {pool.max_count}" for key, pool, _ in pools)
        return NodeCeiling(
            nodes=sum(pool.max_count for _, pool, _ in pools) + surge, explanation=f"{counts} + {surge} upgrade surge nodes"
        )

    def vm_sizes(self) -> dict[str, str]:
        """Each pool's VM size by its settings key (exported as DEPLOYED_VM_SIZES_OUTPUT)."""
        return {"systemPool": self.system_pool.vm_size, "postgresPool": self.postgres_pool.vm_size}

    def vm_size_change_problems(self, deployed: Mapping[str, Any] | None) -> list[str]:
        """A pool's VM size changed on a live stack (``deployed``: its last deployment's outputs), one line each.

        AKS changes a VMSS pool's VM size in place only through a preview API version (azure-aks-docs
        resize-node-pool.md: 2026-01-preview or later); azure-native's containerservice uses 2025-09-01, so the
        update would fail."""
        sizes = (deployed or {}).get(DEPLOYED_VM_SIZES_OUTPUT)
        if not isinstance(sizes, Mapping):
            return []  # first deployment, or deployed before the sizes were exported
        return [
            f"aks.{key}.vmSize: {wanted!r}, but this stack's pool runs {sizes[key]!r}; AKS changes a pool's VM size in "
            "place only through a preview API version, which this program's SDK does not use, so the update would fail: "
            "keep the deployed size (README 'Deploy': resizing a node pool)"
            for key, wanted in self.vm_sizes().items()
            if isinstance(sizes.get(key), str) and sizes[key].lower() != wanted.lower()
        ]

    @property
    def kubernetes_minor(self) -> str:
        return ".".join(self.kubernetes_version.split(".")[:2])
