"""Backup and backup storage settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from settings.rules import (
    ContainerResources,
    CronSchedule,
    Dns1123Label,
    Retention,
    SettingsModel,
    cpu_millicores,
    quantity_bytes,
    retention_days,
)

# Below this the sidecar is OOM-killed during base backups and restores (plugin-barman-cloud
# issues #765, #385, #711 report it at 512Mi); prod refuses less than PROD_SIDECAR_MEMORY.
MIN_SIDECAR_MEMORY = 512 * 2**20
PROD_SIDECAR_MEMORY = 2**30
MIN_SIDECAR_MILLICORES = 250


def _sidecar_memory(value: str) -> str:
    if quantity_bytes(value) < MIN_SIDECAR_MEMORY:
        raise ValueError("must be at least 512Mi (even 512Mi is reported to be OOM-killed during base backups and restores)")
    return value


def _sidecar_cpu(value: str) -> str:
    if cpu_millicores(value) < MIN_SIDECAR_MILLICORES:
        raise ValueError("must be at least 250m (slower archiving than WAL generation fills the WAL volume)")
    return value


class BackupSidecarSettings(ContainerResources):
    """The Barman Cloud plugin's sidecar in every instance pod (and in a restore's recovery job):
    requests = limits, added to the pod's, so the pod stays Guaranteed QoS."""

    cpu: Annotated[str, AfterValidator(_sidecar_cpu)] = "500m"
    """CPU request = limit. Compression (zstd for WAL, snappy for base backups) is the CPU cost; too
    little only slows archiving, so 500m keeps 8 parallel WAL uploads ahead of a busy primary."""
    memory: Annotated[str, AfterValidator(_sidecar_memory)] = "1Gi"
    """Memory request = limit. Up to 8 parallel barman-cloud-wal-archive processes (wal.maxParallel,
    about 60-100 MiB each) plus barman-cloud-backup's 2 upload jobs with their block buffers, or
    barman-cloud-restore during a recovery: 512Mi is reported to OOM there (plugin-barman-cloud
    #765, #385, #711), hence 1Gi; at least 512Mi, and prod at least 1Gi. Uploads stream, so a bigger
    database needs time rather than memory; raise it if `kubectl describe pod` shows OOMKilled."""


class VolumeSnapshotSettings(SettingsModel):
    """Base backups as Azure Disk snapshots of the data and WAL volumes (CNPG method volumeSnapshot),
    beside the object-store ones; WAL stays in Blob storage, which a snapshot restore replays from."""

    enabled: bool = False
    """Add a ScheduledBackup of method volumeSnapshot (hot: pg_backup_start/stop on a standby, no fencing).
    CNPG never prunes them: `python -m tools.drill prune-snapshots --keep N` deletes all but the newest N
    (README 'Restore'); deleting a Backup deletes its VolumeSnapshots and, through the class's Delete
    policy, the Azure snapshots."""
    schedule: CronSchedule = "0 0 3 * * *"
    """Its cron: 6 fields, seconds first (0 0 3 * * * = daily 03:00 UTC, an hour after the object-store backup)."""
    class_name: Dns1123Label = "csi-azuredisk-vsc"
    """VolumeSnapshotClass of the data and WAL volumes: AKS ships csi-azuredisk-vsc (disk.csi.azure.com,
    incremental snapshots, deletionPolicy Delete)."""


class BackupSettings(SettingsModel):
    retention: Retention = "7d"
    """Barman retention policy of the object store: <n>d, <n>w or <n>m."""
    schedule: CronSchedule = "0 0 2 * * *"
    """ScheduledBackup cron: 6 fields, seconds first (0 0 2 * * * = daily 02:00 UTC), or a descriptor."""
    storage_sku: Literal["Standard_ZRS", "Standard_GZRS", "Standard_RAGZRS", "Standard_LRS", "Standard_GRS"] = "Standard_ZRS"
    """Backup storage account redundancy."""
    soft_delete_days: int = Field(default=14, ge=1, le=365)
    """Blob/container soft delete. A deleted or overwritten backup file stays recoverable for this or the
    retention, whichever is longer, in all: first as a previous version, then soft-deleted for these days."""
    immutable_versions: bool = False
    """Version-level immutability (WORM) on the backups container: every blob version stays undeletable
    for the retention's days after it was written (an unlocked default policy). Barman's retention deletes
    only files older than that. A container with it can be deleted only when empty, so a stack with it
    cannot be destroyed until its versions expired; an existing container needs a one-time migration
    (README 'Backup storage')."""
    archive_generation: Dns1123Label = "gen-1"
    """Path under the container; change it (e.g. gen-2) when recreating a cluster so its WAL archive starts
    empty (CNPG refuses to archive into a non-empty path)."""
    on_demand: list[Dns1123Label] = []
    """Names of on-demand Backup objects to create (each becomes one backup)."""
    alert_after_hours: int = Field(default=26, ge=1, le=24 * 31)
    """Alert when the newest base backup is older than this (a daily schedule plus slack)."""
    volume_snapshot: VolumeSnapshotSettings = VolumeSnapshotSettings()
    """Optional volume-snapshot base backups for a faster restore of a large database (README 'Restore')."""
    sidecar: BackupSidecarSettings = BackupSidecarSettings()
    """Resources of the Barman Cloud plugin sidecar (instance pods and the restore job)."""
    azure_credentials: Literal["inheritFromAzureAD", "useDefaultAzureCredentials"] = "inheritFromAzureAD"
    """How the sidecar authenticates to Blob storage. inheritFromAzureAD (barman-cloud's
    managed-identity credential, the default): azure-identity's ManagedIdentityCredential, which
    switches to workload identity when the AKS webhook has injected AZURE_CLIENT_ID, AZURE_TENANT_ID
    and AZURE_FEDERATED_TOKEN_FILE into the pod's containers (sidecar included); a narrow chain.
    useDefaultAzureCredentials: DefaultAzureCredential's chain (environment secrets, workload
    identity, managed identity, Azure CLI, ...), the mode upstream's workload-identity work targets
    (plugin-barman-cloud #649 and PR #816, open); a wider chain that may pick another credential
    when the token file is missing. Upstream tests neither with workload identity; change it only
    when a plugin release documents the other mode for workload identity."""

    @property
    def volume_snapshot_class(self) -> str | None:
        """The VolumeSnapshotClass the clusters back up with, None without volume-snapshot backups."""
        return self.volume_snapshot.class_name if self.volume_snapshot.enabled else None

    @property
    def retention_days(self) -> int:
        return retention_days(self.retention)

    @property
    def blob_retention_days(self) -> int:
        """Days a deleted or overwritten blob stays recoverable, previous version and soft delete together."""
        return max(self.soft_delete_days, self.retention_days)

    @property
    def previous_version_days(self) -> int:
        """Days a deleted or overwritten blob stays a previous version before the lifecycle rule deletes it;
        soft delete then keeps it soft_delete_days more, so the two add up to blob_retention_days."""
        return self.blob_retention_days - self.soft_delete_days
