"""PostgreSQL cluster settings."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from settings.rules import (
    CpuQuantity,
    Dns1123Label,
    MemoryQuantity,
    PostgresImage,
    SettingsModel,
    SqlIdentifier,
    StorageQuantity,
    cpu_millicores,
    postgres_major,
    quantity_bytes,
)


class PostgresResources(SettingsModel):
    cpu: CpuQuantity = "2"
    """CPU request = limit of each instance."""
    memory: MemoryQuantity = "8Gi"
    """Memory request = limit of each instance; memory parameters are derived from it."""

    @property
    def memory_bytes(self) -> int:
        return quantity_bytes(self.memory)

    @property
    def millicores(self) -> int:
        return cpu_millicores(self.cpu)


class PostgresStorage(SettingsModel):
    storage_class: Dns1123Label = "managed-csi-premium"
    """StorageClass of data and WAL volumes (managed-csi-premium: Premium ZRS on multi-zone AKS)."""
    data_size: StorageQuantity = "64Gi"
    """Data volume size per instance."""
    wal_size: StorageQuantity = "16Gi"
    """WAL volume size per instance."""


class PostgresSettings(SettingsModel):
    namespace: Dns1123Label = "cnpg-database"
    """Namespace of the database objects."""
    cluster_name: Dns1123Label = "pg-primary"
    """CNPG Cluster name (also its service account and backup server name)."""
    instances: int = Field(default=3, ge=1, le=9)
    """PostgreSQL instances (1 primary + standbys); prod needs at least 3."""
    image: PostgresImage = "ghcr.io/cloudnative-pg/postgresql:18.4-standard-trixie"
    """PostgreSQL image pinned by tag (standard or minimal flavour, never latest)."""
    database: SqlIdentifier = "appdb"
    """Application database created by initdb."""
    owner: SqlIdentifier = "app"
    """Owner of the application database (the app user)."""
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
            if not re.fullmatch(r"[a-z_][a-z0-9_.]*", name):
                raise ValueError(f"{name!r} is not a PostgreSQL parameter name")
        return values

    @model_validator(mode="after")
    def _parameters_fit_the_pod(self) -> PostgresSettings:
        from components.postgres_parameters import CNPG_MANAGED_PARAMETERS, derive_parameters, memory_budget

        managed = sorted(set(self.parameters) & CNPG_MANAGED_PARAMETERS)
        if managed:
            raise ValueError(f"parameters {managed} are managed by CloudNativePG and cannot be set")
        memory = self.resources.memory_bytes
        budget = memory_budget(
            derive_parameters(memory, self.resources.millicores, self.max_connections, self.parameters), memory
        )
        if not budget.fits:
            raise ValueError(
                f"memory {self.resources.memory} does not hold maxConnections {self.max_connections} and the "
                f"parameters ({budget}); raise resources.memory or lower maxConnections/work_mem"
            )
        return self

    @property
    def major_version(self) -> int:
        return postgres_major(self.image)
