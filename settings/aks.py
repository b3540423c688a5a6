"""AKS cluster and node pool settings."""

from __future__ import annotations

import re
from typing import Literal

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
# AKS asks for at least 4 vCPU on system nodes in production (azure-aks-docs use-system-pools.md).
MIN_PRODUCTION_SYSTEM_VCPUS = 4


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

    @property
    def kubernetes_minor(self) -> str:
        return ".".join(self.kubernetes_version.split(".")[:2])
