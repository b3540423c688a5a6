"""PostgreSQL cluster settings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator, model_validator

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

# Parameters CNPG's webhook parses as booleans (validateConfiguration @ v1.30.0; wal_log_hints is CNPG-managed here).
BOOLEAN_PARAMETERS_CNPG_PARSES = ("hot_standby_feedback", "sync_replication_slots")
POSTGRES_TRUE = ("on", "true", "yes", "1")
POSTGRES_BOOLEANS = (*POSTGRES_TRUE, "off", "false", "no", "0")

# Stack output recording the volume sizes by settings key; the next deployment reads it back.
DEPLOYED_STORAGE_SIZES_OUTPUT = "postgresStorageSizes"


class PostgresResources(ContainerResources):
    cpu: CpuQuantity = "2"
    """CPU request = limit of each instance."""
    memory: MemoryQuantity = "8Gi"
    """Memory request = limit of each instance; memory parameters are derived from it."""


class PostgresStorage(SettingsModel):
    storage_class: Dns1123Label = "managed-csi-premium"
    """StorageClass of data and WAL volumes (managed-csi-premium: Premium ZRS on multi-zone AKS)."""
    data_size: StorageQuantity = "64Gi"
    """Data volume size per instance; it can grow (an online expansion) but never shrink."""
    wal_size: StorageQuantity = "16Gi"
    """WAL volume size per instance (can grow, never shrink); max_wal_size is derived to stay within a quarter of it."""

    @property
    def wal_bytes(self) -> int:
        return quantity_bytes(self.wal_size)

    def sizes(self) -> dict[str, str]:
        """Each volume's size by its settings key (exported as DEPLOYED_STORAGE_SIZES_OUTPUT)."""
        return {"dataSize": self.data_size, "walSize": self.wal_size}

    def shrink_problems(self, deployed: Mapping[str, Any] | None) -> list[str]:
        """A volume smaller than this stack deployed (``deployed``: its last deployment's outputs), one line each.

        A larger size is an online expansion (CNPG resizes the PVCs, storage.resizeInUseVolumes defaults to true);
        Kubernetes refuses a smaller PVC request, so CNPG could never apply it."""
        sizes = (deployed or {}).get(DEPLOYED_STORAGE_SIZES_OUTPUT)
        if not isinstance(sizes, Mapping):
            return []  # first deployment, or deployed before the sizes were exported
        return [
            f"postgres.storage.{key}: {wanted!r}, but this stack's volumes are {sizes[key]!r}; a PersistentVolumeClaim "
            "can grow but never shrink: keep at least the deployed size"
            for key, wanted in self.sizes().items()
            if isinstance(sizes.get(key), str) and quantity_bytes(wanted) < quantity_bytes(sizes[key])
        ]


class PostgresSettings(SettingsModel):
    namespace: Dns1123Label = "cnpg-database"
    """Namespace of the database objects, created by the program (not default, kube-*, or an operator's)."""
    cluster_name: CnpgClusterName = "pg-primary"
    """CNPG Cluster name (also its service account and backup server name)."""
    instances: int = Field(default=3, ge=1, le=9)
    """PostgreSQL instances (1 primary + standbys); prod needs at least 3."""
    image: PostgresImage = (
        "ghcr.io/cloudnative-pg/postgresql:18.6-202608170814-standard-trixie"
        "@sha256:771f9eab5225587af259d84680cc69a5b6e374ac32bb24effafde1f3368a1241"
    )
    """PostgreSQL image pinned immutably: timestamped tag and/or digest, standard or minimal flavour."""
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
        if value in PLATFORM_NAMESPACES or value.startswith(PLATFORM_NAMESPACE_PREFIX) or value in OPERATOR_NAMESPACES:
            taken = ", ".join([*PLATFORM_NAMESPACES, f"{PLATFORM_NAMESPACE_PREFIX}*", *OPERATOR_NAMESPACES])
            raise ValueError(f"is a namespace Kubernetes, AKS or the operators already own ({taken}); choose another")
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
