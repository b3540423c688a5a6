"""Stack settings: Pulumi config turned into frozen, typed, validated models.

Every default lives here, once. ``load_settings()`` reads the project's config namespace,
validates all of it and raises ``SettingsError`` listing every problem (key, value, rule)
before any resource is registered. ``__main__.py`` turns that into ``pulumi.RunError``, which
Pulumi prints without a traceback.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

PROJECT = "aks-postgres-ha"

# AKS minor versions in standard support that CloudNativePG 1.30 also supports (1.34-1.36).
# Review when AKS publishes a new release calendar.
SUPPORTED_KUBERNETES_MINORS = (34, 35, 36)

# Length of the random suffix that makes global names unique (kept in Pulumi state).
SUFFIX_LENGTH = 8

# CNPG's ScheduledBackup parser (robfig/cron v1) takes six fields, seconds first, or a descriptor.
CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


class SettingsError(Exception):
    """All problems found in the stack settings; ``str()`` lists one per line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "invalid stack settings (fix every line, then run again):\n" + "\n".join(f"  - {problem}" for problem in problems)
        )


# --------------------------------------------------------------------------- reusable rules


def _fail(rule: str) -> ValueError:
    return ValueError(rule)


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        raise _fail(f"must be an IPv4/IPv6 address range in CIDR form without host bits ({error})") from None
    if network.prefixlen == 0:
        raise _fail("must not open access to the whole internet (0.0.0.0/0, ::/0)")
    return str(network)


Cidr = Annotated[str, AfterValidator(_cidr)]

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T|m)?$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def quantity_bytes(value: str) -> int:
    """Bytes of a Kubernetes memory/storage quantity such as ``8Gi``."""
    match = _QUANTITY.match(value)
    if not match or match.group(2) == "m":
        raise _fail("must be a Kubernetes quantity such as 512Mi, 8Gi or 64Gi")
    return int(float(match.group(1)) * _BINARY.get(match.group(2) or "", 1))


def cpu_millicores(value: str) -> int:
    """Millicores of a Kubernetes CPU quantity such as ``2`` or ``1500m``."""
    match = _QUANTITY.match(value)
    if not match or match.group(2) not in (None, "m"):
        raise _fail("must be a Kubernetes CPU quantity such as 2 or 1500m")
    number = float(match.group(1))
    return int(number if match.group(2) == "m" else number * 1000)


def _memory(value: str) -> str:
    if quantity_bytes(value) < 2**30:
        raise _fail("must be at least 1Gi")
    return value


def _storage(value: str) -> str:
    if quantity_bytes(value) < 2**30:
        raise _fail("must be at least 1Gi")
    return value


def _cpu(value: str) -> str:
    if cpu_millicores(value) < 500:
        raise _fail("must be at least 500m")
    return value


def retention_days(value: str) -> int:
    """Days covered by a Barman retention policy such as ``7d``, ``4w`` or ``3m``."""
    unit_days = {"d": 1, "w": 7, "m": 31}
    return int(value[:-1]) * unit_days[value[-1]]


def _retention(value: str) -> str:
    if not re.fullmatch(r"[1-9][0-9]*[dwm]", value):
        raise _fail("must be a number followed by d, w or m (days, weeks, months), e.g. 7d")
    if retention_days(value) > 365:
        raise _fail("must not exceed 365 days (the longest Azure blob soft-delete window)")
    return value


def _cron(value: str) -> str:
    text = value.strip()
    if text.startswith("@"):
        if text in CRON_DESCRIPTORS or re.fullmatch(r"@every [0-9]+(ms|s|m|h)([0-9]+(ms|s|m|h))*", text):
            return text
        raise _fail(f"descriptor must be one of {', '.join(CRON_DESCRIPTORS)} or '@every <duration>'")
    fields = text.split()
    if len(fields) == 5:
        raise _fail(
            "has 5 fields, but CloudNativePG schedules take 6 fields with seconds first "
            "('0 0 2 * * *' is daily at 02:00); a 5-field string would run at the wrong time"
        )
    if len(fields) != 6:
        raise _fail("must have 6 fields, seconds first: 'second minute hour day-of-month month day-of-week'")
    if not all(re.fullmatch(r"[0-9A-Za-z*?/,\-]+", field) for field in fields):
        raise _fail("fields may contain only digits, names, '*', '?', '/', ',' and '-'")
    return text


def matching(pattern: str, rule: str, flags: int = 0) -> AfterValidator:
    """A validator that accepts values matching ``pattern`` entirely and otherwise states ``rule``."""
    compiled = re.compile(pattern, flags)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise _fail(rule)
        return value

    return AfterValidator(check)


def _image(value: str) -> str:
    match = re.fullmatch(r"[a-z0-9.\-/:]+/postgresql:(?P<tag>[A-Za-z0-9._\-]+)(@sha256:[a-f0-9]{64})?", value)
    if not match:
        raise _fail(
            "must be a CloudNativePG PostgreSQL image pinned by tag, e.g. ghcr.io/cloudnative-pg/postgresql:18.4-standard-trixie"
        )
    tag = match.group("tag")
    if tag == "latest":
        raise _fail("must be pinned to a version tag, never 'latest'")
    if "system" in tag:
        raise _fail(
            "must be a 'standard' or 'minimal' image: the Barman Cloud plugin replaces the in-tree tools of 'system' images"
        )
    return value


def postgres_major(image: str) -> int:
    """PostgreSQL major version from an image tag such as ``18.4-standard-trixie``."""
    tag = image.split("/postgresql:")[1]
    return int(re.match(r"[0-9]+", tag).group(0))  # type: ignore[union-attr]


AzureRegion = Annotated[
    str, matching(r"[a-z][a-z0-9]{2,30}", "must be an Azure region name in lowercase without spaces, e.g. swedencentral")
]
NamePrefix = Annotated[
    str,
    matching(
        r"[a-z][a-z0-9]{1,9}", "must be 2-10 lowercase letters and digits, starting with a letter (it goes into every Azure name)"
    ),
]
CronSchedule = Annotated[str, AfterValidator(_cron)]
Retention = Annotated[str, AfterValidator(_retention)]
VmSize = Annotated[str, matching(r"Standard_[A-Za-z0-9_]+", "must be an Azure VM size such as Standard_D4s_v3", re.IGNORECASE)]
PoolName = Annotated[
    str, matching(r"[a-z][a-z0-9]{0,11}", "Linux node pool names are 1-12 lowercase letters and digits, starting with a letter")
]
Dns1123Label = Annotated[
    str,
    matching(
        r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?",
        "must be a DNS-1123 label: lowercase letters, digits and '-', at most 63 characters",
    ),
]
MemoryQuantity = Annotated[str, AfterValidator(_memory)]
StorageQuantity = Annotated[str, AfterValidator(_storage)]
CpuQuantity = Annotated[str, AfterValidator(_cpu)]
SqlIdentifier = Annotated[
    str,
    matching(r"[a-z_][a-z0-9_]{0,62}", "must be a lowercase PostgreSQL identifier (letters, digits, '_'; at most 63 characters)"),
]
PostgresImage = Annotated[str, AfterValidator(_image)]
ChartVersion = Annotated[str, matching(r"v?[0-9]+\.[0-9]+\.[0-9]+", "must be an exact chart version such as 0.29.0 (no ranges)")]


class _Model(BaseModel):
    """Frozen, camelCase-keyed, no unknown keys."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True, use_attribute_docstrings=True
    )


# --------------------------------------------------------------------------- names


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

    def storage_account(self, suffix: str) -> str:
        return f"{self.prefix.replace('-', '')}pgbak{suffix}"

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


# --------------------------------------------------------------------------- sections


class NodePoolSettings(_Model):
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
    vm_size: VmSize = "Standard_D2s_v3"
    """VM size of the system nodes (the guide: Standard_D2s_v3)."""
    min_count: int = Field(default=2, ge=1, le=1000)
    """Autoscaler minimum."""
    max_count: int = Field(default=3, ge=1, le=1000)
    """Autoscaler maximum."""


class AksSettings(_Model):
    kubernetes_version: str = "1.35"
    """AKS Kubernetes version (1.34-1.36: supported by AKS and CloudNativePG 1.30)."""
    sku_tier: Literal["Free", "Standard", "Premium"] = "Standard"
    """AKS tier: Free (dev only), Standard (uptime SLA) or Premium."""
    api_server_authorized_ip_ranges: list[Cidr] = Field(min_length=1)
    """Required. CIDRs allowed to reach the Kubernetes API; never 0.0.0.0/0."""
    system_pool: SystemPoolSettings = SystemPoolSettings()
    """System node pool."""
    postgres_pool: PostgresPoolSettings = PostgresPoolSettings()
    """Dedicated PostgreSQL node pool (label workload=postgres)."""

    @field_validator("kubernetes_version")
    @classmethod
    def _supported_version(cls, value: str) -> str:
        match = re.fullmatch(r"1\.([0-9]+)(\.[0-9]+)?", value)
        if not match:
            raise ValueError("must look like 1.35 or 1.35.2")
        if int(match.group(1)) not in SUPPORTED_KUBERNETES_MINORS:
            supported = ", ".join(f"1.{minor}" for minor in SUPPORTED_KUBERNETES_MINORS)
            raise ValueError(f"must be a minor that AKS supports and CloudNativePG 1.30 supports: {supported}")
        return value

    @property
    def kubernetes_minor(self) -> str:
        return ".".join(self.kubernetes_version.split(".")[:2])


class BackupSettings(_Model):
    retention: Retention = "7d"
    """Barman retention policy of the object store: <n>d, <n>w or <n>m."""
    schedule: CronSchedule = "0 0 2 * * *"
    """ScheduledBackup cron: 6 fields, seconds first (0 0 2 * * * = daily 02:00 UTC), or a descriptor."""
    storage_sku: Literal["Standard_ZRS", "Standard_GZRS", "Standard_RAGZRS", "Standard_LRS", "Standard_GRS"] = "Standard_ZRS"
    """Backup storage account redundancy."""
    soft_delete_days: int = Field(default=14, ge=1, le=365)
    """Blob/container soft delete and old-version lifetime; raised to the retention when shorter."""
    archive_generation: Dns1123Label = "gen-1"
    """Path under the container; change it (e.g. gen-2) when recreating a cluster so its WAL archive starts
    empty (CNPG refuses to archive into a non-empty path)."""
    on_demand: list[Dns1123Label] = []
    """Names of on-demand Backup objects to create (each becomes one backup)."""
    alert_after_hours: int = Field(default=26, ge=1, le=24 * 31)
    """Alert when the newest base backup is older than this (a daily schedule plus slack)."""

    @property
    def retention_days(self) -> int:
        return retention_days(self.retention)

    @property
    def blob_retention_days(self) -> int:
        return max(self.soft_delete_days, self.retention_days)


class ObservabilitySettings(_Model):
    azure_monitoring: bool = True
    """Azure Monitor workspace (managed Prometheus), Log Analytics (Container insights)."""
    managed_grafana: bool = True
    """Azure Managed Grafana (Standard) linked to the Azure Monitor workspace."""
    log_retention_days: int = Field(default=30, ge=30, le=730)
    """Log Analytics retention in days."""
    grafana_admin_object_ids: list[str] = []
    """Entra object IDs granted Grafana Admin on the Managed Grafana instance (scoped to it)."""

    @field_validator("grafana_admin_object_ids")
    @classmethod
    def _guids(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.fullmatch(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", value):
                raise ValueError(f"{value!r} is not an Entra object ID (a GUID)")
        return values

    @model_validator(mode="after")
    def _grafana_needs_workspace(self) -> ObservabilitySettings:
        if self.managed_grafana and not self.azure_monitoring:
            raise ValueError("managedGrafana needs azureMonitoring: Grafana reads the Azure Monitor workspace")
        return self


class PublicEndpointSettings(_Model):
    enabled: bool = True
    """Public load balancers on the static IP; false for internal-only stacks."""
    allowed_client_cidrs: list[Cidr] = []
    """Required when enabled. Client CIDRs allowed to connect (loadBalancerSourceRanges); never 0.0.0.0/0."""
    read_write_port: int = Field(default=5432, ge=1024, le=65535)
    """Public port of the read-write (primary) endpoint."""
    read_only_port: int = Field(default=5433, ge=1024, le=65535)
    """Public port of the read-only (replicas) endpoint."""

    @model_validator(mode="after")
    def _ranges_when_public(self) -> PublicEndpointSettings:
        if self.enabled and not self.allowed_client_cidrs:
            raise ValueError("allowedClientCidrs must list the client ranges allowed to connect when enabled is true")
        if self.read_write_port == self.read_only_port:
            raise ValueError("readWritePort and readOnlyPort must differ (they share one IP address)")
        return self


class OperatorSettings(_Model):
    cert_manager_version: ChartVersion = "v1.19.1"
    """cert-manager chart version (jetstack)."""
    cnpg_chart_version: ChartVersion = "0.29.0"
    """cloudnative-pg chart version (0.29.0 = CloudNativePG 1.30.0)."""
    barman_cloud_chart_version: ChartVersion = "0.7.0"
    """plugin-barman-cloud chart version."""
    kube_prometheus_stack_version: ChartVersion = "88.5.3"
    """kube-prometheus-stack chart version."""
    self_managed_monitoring: bool = True
    """Self-managed Prometheus/Grafana/Alertmanager in the cluster (kube-prometheus-stack)."""


class PostgresResources(_Model):
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


class PostgresStorage(_Model):
    storage_class: Dns1123Label = "managed-csi-premium"
    """StorageClass of data and WAL volumes (managed-csi-premium: Premium ZRS on multi-zone AKS)."""
    data_size: StorageQuantity = "64Gi"
    """Data volume size per instance."""
    wal_size: StorageQuantity = "16Gi"
    """WAL volume size per instance."""


class PostgresSettings(_Model):
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


class RestoreSettings(_Model):
    enabled: bool = False
    """Create a recovery cluster from the primary's backups."""
    target: Literal["latest", "backup", "time"] = "latest"
    """latest: newest base backup + all WAL; backup: a named Barman backup ID; time: point in time."""
    backup_id: str | None = None
    """Barman backup ID, for target backup."""
    target_time: str | None = None
    """RFC 3339 time, for target time."""
    cluster_name: Dns1123Label = "pg-restored"
    """Name of the recovery cluster."""

    @field_validator("backup_id")
    @classmethod
    def _barman_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9]{8}T[0-9]{6}", value):
            raise ValueError("must be a Barman backup ID such as 20261123T020000 (see kubectl get backups)")
        return value

    @field_validator("target_time")
    @classmethod
    def _rfc3339(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError("must be an RFC 3339 timestamp such as 2026-11-23T10:00:00Z") from None
            if parsed.tzinfo is None:
                raise ValueError("must carry a time zone (Z or +hh:mm)")
        return value

    @model_validator(mode="after")
    def _target_fields(self) -> RestoreSettings:
        if self.target == "backup" and not self.backup_id:
            raise ValueError("target 'backup' needs backupId (a Barman backup ID such as 20261123T020000)")
        if self.target == "time" and not self.target_time:
            raise ValueError("target 'time' needs targetTime (RFC 3339)")
        return self


class Settings(_Model):
    """The whole stack configuration."""

    environment: Literal["dev", "prod"]
    """dev or prod (prod enforces 3 zones, a paid tier, 3 instances)."""
    location: AzureRegion
    """Required. Azure region with availability zones."""
    name_prefix: NamePrefix = "cnpg"
    """Prefix of every Azure name (2-10 lowercase letters/digits)."""
    zones: list[Literal["1", "2", "3"]] = ["1", "2", "3"]
    """Availability zones of node pools and the public IP."""
    tags: dict[str, str] = {}
    """Tags on every Azure resource."""
    protect_stateful_resources: bool = False
    """Pulumi protect on storage account, backup container and public IP."""
    aks: AksSettings
    """AKS cluster."""
    backup: BackupSettings = BackupSettings()
    """Backups and backup storage."""
    observability: ObservabilitySettings = ObservabilitySettings()
    """Azure monitoring."""
    public_endpoint: PublicEndpointSettings
    """Required. Public database endpoints."""
    operators: OperatorSettings = OperatorSettings()
    """Operator chart versions."""
    postgres: PostgresSettings = PostgresSettings()
    """The PostgreSQL cluster."""
    restore: RestoreSettings = RestoreSettings()
    """Restore into a new cluster."""

    @field_validator("zones")
    @classmethod
    def _distinct_zones(cls, zones: list[str]) -> list[str]:
        if len(set(zones)) != len(zones) or not zones:
            raise ValueError("must list distinct availability zones, at least one")
        return zones

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        problems = NameScheme(self.name_prefix).problems()
        if self.environment == "prod":
            if len(self.zones) != 3:
                problems.append(f"zones: {self.zones!r}, but prod spreads over 3 distinct zones")
            if self.aks.sku_tier == "Free":
                problems.append("aks.skuTier: 'Free', but prod needs the Standard or Premium tier (uptime SLA)")
            if self.postgres.instances < 3:
                problems.append(f"postgres.instances: {self.postgres.instances}, but prod runs at least 3 instances")
        if self.aks.postgres_pool.min_count < len(self.zones):
            problems.append(
                f"aks.postgresPool.minCount: {self.aks.postgres_pool.min_count}, but it must be at least the "
                f"number of zones ({len(self.zones)}) so every zone has a PostgreSQL node"
            )
        if self.aks.postgres_pool.max_count < self.postgres.instances:
            problems.append(
                f"aks.postgresPool.maxCount: {self.aks.postgres_pool.max_count}, but it must be at least "
                f"postgres.instances ({self.postgres.instances})"
            )
        if self.restore.enabled and self.restore.cluster_name == self.postgres.cluster_name:
            problems.append("restore.clusterName: must differ from postgres.clusterName")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def names(self) -> NameScheme:
        return NameScheme(self.name_prefix)


# --------------------------------------------------------------------------- loading


def _config_keys(project: str) -> dict[str, Any]:
    """Raw config values of this project's namespace, from the runtime (CLI or mocks)."""
    from pulumi.runtime import config as runtime_config

    raw: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{project}:"
    return {key[len(prefix) :]: value for key, value in raw.items() if key.startswith(prefix)}


def _decode(value: Any) -> Any:
    """Config values arrive as strings; objects, lists, numbers and booleans are JSON."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + part)
    return "".join(parts)


def _lookup(data: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def parse_settings(values: Mapping[str, Any], project: str = PROJECT) -> Settings:
    """Validate decoded config values; raise SettingsError listing every problem."""
    problems: list[str] = []
    try:
        return Settings.model_validate(dict(values))
    except ValidationError as error:
        for item in error.errors():
            loc = tuple(
                part for part in item["loc"] if not isinstance(part, str) or not part.startswith(("function-", "constrained-"))
            )
            key = f"{project}:{_location(loc)}" if loc else f"{project}"
            message = str(item["msg"]).removeprefix("Value error, ")
            if item["type"] == "missing":
                problems.append(f"{key}: required setting is missing")
            elif item["type"] == "extra_forbidden":
                problems.append(f"{key}: unknown setting (check the spelling against the README configuration reference)")
            elif not loc or (item["type"] == "value_error" and "\n" in message):
                problems.extend(f"{project}:{line}" for line in message.splitlines())
            else:
                value = _lookup(values, loc)
                # An object-level rule names its fields itself; repeating the whole object adds noise.
                problems.append(f"{key}: {message}" if isinstance(value, dict) else f"{key}: {value!r} — {message}")
    raise SettingsError(problems)


def load_settings(project: str | None = None) -> Settings:
    """Read and validate this stack's config (call inside the Pulumi program)."""
    import pulumi

    project = project or pulumi.get_project()
    values = {key: _decode(value) for key, value in _config_keys(project).items()}
    return parse_settings(values, project)
