"""Backup and backup storage settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from settings.rules import CronSchedule, Dns1123Label, Retention, SettingsModel, retention_days


class BackupSettings(SettingsModel):
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
