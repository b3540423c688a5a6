"""PostgreSQL cluster settings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator, model_validator

from settings.images import POSTGRES_IMAGE
from settings.operators import OPERATOR_NAMESPACES
from settings.rules import (
    CnpgClusterName,
    ContainerResources,
    CpuQuantity,
    DatabaseName,
    Dns1123Label,
    MemoryQuantity,
    PostgresImage,
    RoleName,
    SettingsModel,
    StorageQuantity,
    postgres_major,
    quantity_bytes,
)
from sizing.postgres_parameters import CNPG_MANAGED_PARAMETERS, derive_parameters, memory_budget, wal_size_problems

# Namespaces Kubernetes or AKS already have (kube-system, kube-public, kube-node-lease, default;
# gatekeeper-system with the Azure Policy add-on): the program creates postgres.namespace, and
# creating an existing one fails at deploy time.
PLATFORM_NAMESPACES = ("default", "gatekeeper-system")
PLATFORM_NAMESPACE_PREFIX = "kube-"


def owned_namespace(namespace: str) -> bool:
    """A namespace Kubernetes, AKS or the operators own: no database lives there, and no client of one."""
    return namespace in PLATFORM_NAMESPACES or namespace.startswith(PLATFORM_NAMESPACE_PREFIX) or namespace in OPERATOR_NAMESPACES


OWNED_NAMESPACES = ", ".join([*PLATFORM_NAMESPACES, f"{PLATFORM_NAMESPACE_PREFIX}*", *OPERATOR_NAMESPACES])

# Parameters CNPG's webhook parses as booleans (validateConfiguration @ v1.30.0; wal_log_hints is CNPG-managed here).
BOOLEAN_PARAMETERS_CNPG_PARSES = ("hot_standby_feedback", "sync_replication_slots")
POSTGRES_TRUE = ("on", "true", "yes", "1")
POSTGRES_BOOLEANS = (*POSTGRES_TRUE, "off", "false", "no", "0")

# Stack output recording the volumes' sizes and StorageClasses; the next deployment reads it back.
DEPLOYED_STORAGE_OUTPUT = "postgresStorage"
# AKS ships no Premium SSD v2 StorageClass; the program creates this one (azure-aks-docs use-premium-v2-disks.md:
# disk.csi.azure.com, skuName PremiumV2_LRS, cachingMode None, allowVolumeExpansion).
PREMIUM_V2_STORAGE_CLASS = "premium2-disk-sc"
# Premium SSD v2 performance (Azure disks-types.md): 3,000 IOPS and 125 MB/s come free; at most 500 IOPS per GiB
# and 80,000 a disk, 0.25 MB/s per provisioned IOPS and 1,200 MB/s a disk. Azure refuses a disk outside them.
PREMIUM_V2_BASELINE_IOPS = 3000
PREMIUM_V2_IOPS_PER_GIB = 500
PREMIUM_V2_BASELINE_MBPS = 125
PREMIUM_V2_MBPS_PER_IOPS = 0.25


class PostgresResources(ContainerResources):
    cpu: CpuQuantity = "2"
    """CPU request = limit of each instance."""
    memory: MemoryQuantity = "8Gi"
    """Memory request = limit of each instance; memory parameters are derived from it."""


class PremiumV2Disk(SettingsModel):
    iops: int = Field(default=PREMIUM_V2_BASELINE_IOPS, ge=PREMIUM_V2_BASELINE_IOPS, le=80_000)
    """Provisioned IOPS of each data disk (3,000 free; at most 500 per GiB of dataSize)."""
    throughput_mbps: int = Field(default=PREMIUM_V2_BASELINE_MBPS, ge=PREMIUM_V2_BASELINE_MBPS, le=1200)
    """Provisioned throughput of each data disk in MB/s (125 free; at most 0.25 per provisioned IOPS)."""


class PostgresStorage(SettingsModel):
    storage_class: Dns1123Label = "managed-csi-premium"
    """StorageClass of the WAL volumes, and of the data volumes without premiumV2 (managed-csi-premium: Premium ZRS on
    multi-zone AKS)."""
    premium_v2: PremiumV2Disk | None = None
    """Set: data volumes on Premium SSD v2 (zonal LRS disks, no host caching) through the StorageClass premium2-disk-sc
    the program creates. Only in regions that offer Premium SSD v2 in every zone of zones; the postgres pool's
    premium-storage sizes take it."""
    data_size: StorageQuantity = "64Gi"
    """Data volume size per instance; it can grow (an online expansion) but never shrink."""
    wal_size: StorageQuantity = "16Gi"
    """WAL volume size per instance (can grow, never shrink); max_wal_size is derived to stay within a quarter of it."""

    @model_validator(mode="after")
    def _premium_v2_performance(self) -> PostgresStorage:
        disk = self.premium_v2
        if disk is None:
            return self
        max_iops = max(PREMIUM_V2_BASELINE_IOPS, PREMIUM_V2_IOPS_PER_GIB * (quantity_bytes(self.data_size) // 2**30))
        if disk.iops > max_iops:
            raise ValueError(
                f"premiumV2.iops: {disk.iops}, but a {self.data_size} Premium SSD v2 disk takes at most {max_iops} "
                f"({PREMIUM_V2_IOPS_PER_GIB} per GiB): lower it or grow dataSize"
            )
        if disk.throughput_mbps > disk.iops * PREMIUM_V2_MBPS_PER_IOPS:
            raise ValueError(
                f"premiumV2.throughputMbps: {disk.throughput_mbps}, but Premium SSD v2 takes at most "
                f"{PREMIUM_V2_MBPS_PER_IOPS} MB/s per provisioned IOPS ({disk.iops * PREMIUM_V2_MBPS_PER_IOPS:g} for "
                f"{disk.iops}): lower it or raise premiumV2.iops"
            )
        return self

    @property
    def wal_bytes(self) -> int:
        return quantity_bytes(self.wal_size)

    @property
    def data_storage_class(self) -> str:
        return PREMIUM_V2_STORAGE_CLASS if self.premium_v2 else self.storage_class

    def deployed(self) -> dict[str, str]:
        """Each volume's size and StorageClass by its settings key (exported as DEPLOYED_STORAGE_OUTPUT)."""
        return {
            "dataSize": self.data_size,
            "walSize": self.wal_size,
            "dataStorageClass": self.data_storage_class,
            "walStorageClass": self.storage_class,
        }

    def change_problems(self, deployed: Mapping[str, Any] | None) -> list[str]:
        """A volume smaller than this stack deployed, or on another StorageClass (``deployed``: its last
        deployment's outputs), one line each.

        A larger size is an online expansion (CNPG resizes the PVCs, storage.resizeInUseVolumes defaults to true);
        Kubernetes refuses a smaller PVC request, so CNPG could never apply it. A PVC's StorageClass is immutable:
        CNPG would give only new instances' PVCs the new one."""
        volumes = (deployed or {}).get(DEPLOYED_STORAGE_OUTPUT)
        if not isinstance(volumes, Mapping):
            return []  # first deployment, or deployed before the volumes were exported
        wanted = self.deployed()
        shrinks = [
            f"postgres.storage.{key}: {wanted[key]!r}, but this stack's volumes are {volumes[key]!r}; a "
            "PersistentVolumeClaim can grow but never shrink: keep at least the deployed size"
            for key in ("dataSize", "walSize")
            if isinstance(volumes.get(key), str) and quantity_bytes(wanted[key]) < quantity_bytes(volumes[key])
        ]
        moves = [
            f"postgres.storage ({key} {wanted[key]!r}): this stack's volumes are on {volumes[key]!r}; a "
            "PersistentVolumeClaim keeps its StorageClass, so only new instances would get the new one: keep the "
            "deployed one, or restore into a new stack on the new one (README 'Restore')"
            for key in ("dataStorageClass", "walStorageClass")
            if isinstance(volumes.get(key), str) and volumes[key] != wanted[key]
        ]
        return shrinks + moves


class PostgresSettings(SettingsModel):
    namespace: Dns1123Label = "cnpg-database"
    """Namespace of the database objects, created by the program (not default, kube-*, or an operator's)."""
    cluster_name: CnpgClusterName = "pg-primary"
    """CNPG Cluster name (also its service account and backup server name)."""
    instances: int = Field(default=3, ge=1, le=9)
    """PostgreSQL instances (1 primary + standbys); prod needs at least 3."""
    image: PostgresImage = POSTGRES_IMAGE
    """PostgreSQL image pinned by digest (a timestamped tag may precede it), standard or minimal, listed in the Cluster's
    ImageCatalog; a higher major upgrades."""
    database: DatabaseName = "appdb"
    """Application database created by initdb (not postgres, template0 or template1)."""
    owner: RoleName = "app"
    """Owner of the application database (the app user; not a role CloudNativePG or PostgreSQL reserves)."""
    resources: PostgresResources = PostgresResources()
    """Pod resources (Guaranteed QoS)."""
    storage: PostgresStorage = PostgresStorage()
    """Volumes."""
    max_connections: int = Field(default=200, ge=10, le=5000)
    """max_connections; work_mem is derived from it."""
    parameters: dict[str, str] = {}
    """Overrides for the derived postgresql.conf parameters (name -> value, as strings)."""

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, values: dict[str, str]) -> dict[str, str]:
        for name in values:
            # CNPG's postgresParameterNameRegex (lowercase here): a GUC name, at most one namespace dot.
            if not re.fullmatch(r"[a-z_][a-z0-9_$]*(\.[a-z_][a-z0-9_$]*)?", name):
                raise ValueError(f"{name!r} is not a PostgreSQL parameter name (a GUC name, at most one '.')")
        for name in BOOLEAN_PARAMETERS_CNPG_PARSES:
            if name in values and values[name].strip().lower() not in POSTGRES_BOOLEANS:
                raise ValueError(f"{name} {values[name]!r} is not a PostgreSQL boolean (on/off, true/false, ...)")
        uses_failover_slots = any(name.startswith("pg_failover_slots.") for name in values)
        if uses_failover_slots and values.get("hot_standby_feedback", "off").strip().lower() not in POSTGRES_TRUE:
            raise ValueError("pg_failover_slots.* parameters need hot_standby_feedback: 'on' (CloudNativePG refuses otherwise)")
        return values

    @field_validator("instances")
    @classmethod
    def _room_for_a_synchronous_standby(cls, value: int) -> int:
        # The Cluster asks for 1 synchronous standby; CNPG refuses synchronous.number >= instances.
        if value < 2:
            raise ValueError("must be at least 2: the cluster commits synchronously to 1 standby (CloudNativePG refuses fewer)")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace_not_taken(cls, value: str) -> str:
        if owned_namespace(value):
            raise ValueError(f"is a namespace Kubernetes, AKS or the operators already own ({OWNED_NAMESPACES}); choose another")
        return value

    @model_validator(mode="after")
    def _parameters_fit_the_pod(self) -> PostgresSettings:
        managed = sorted(set(self.parameters) & CNPG_MANAGED_PARAMETERS)
        if managed:
            raise ValueError(f"parameters {managed} are managed by CloudNativePG and cannot be set")
        memory = self.resources.memory_bytes
        parameters = self.derived_parameters
        wal_problems = wal_size_problems(parameters, self.storage.wal_bytes)
        if wal_problems:
            raise ValueError(f"{'; '.join(wal_problems)} (CloudNativePG refuses the Cluster otherwise)")
        budget = memory_budget(parameters, memory)
        if not budget.fits:
            raise ValueError(
                f"memory {self.resources.memory} does not hold maxConnections {self.max_connections} and the "
                f"parameters ({budget}); raise resources.memory or lower maxConnections/work_mem"
            )
        return self

    @property
    def derived_parameters(self) -> dict[str, str]:
        """``postgresql.parameters`` of the Cluster: derived from the pod and the WAL volume, overrides applied."""
        return self.parameters_for(paired_region=False)

    def parameters_for(self, *, paired_region: bool) -> dict[str, str]:
        """``derived_parameters`` of a cluster whose archive a replica cluster in another region replays
        (``paired_region``: the shorter archive_timeout) or not."""
        return derive_parameters(
            self.resources.memory_bytes,
            self.resources.millicores,
            self.max_connections,
            self.parameters,
            wal_volume_bytes=self.storage.wal_bytes,
            paired_region=paired_region,
        )

    @property
    def major_version(self) -> int:
        return postgres_major(self.image)
