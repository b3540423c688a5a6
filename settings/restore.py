"""Restore (recovery cluster) settings."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import field_validator

from settings.rules import CnpgClusterName, Dns1123Label, SettingsModel

# The settings each target reads; any other target field is a leftover that would be ignored.
TARGET_FIELDS = {"latest": (), "backup": ("backup_id",), "time": ("target_time",)}
FIELD_KEYS = {"backup_id": "backupId", "target_time": "targetTime"}


class RestoreSettings(SettingsModel):
    enabled: bool = False
    """Create a recovery cluster from the primary's backups."""
    target: Literal["latest", "backup", "time"] = "latest"
    """latest: newest base backup + all WAL; backup: a named Barman backup ID; time: point in time."""
    backup_id: str | None = None
    """Barman backup ID, for target backup (only)."""
    target_time: str | None = None
    """RFC 3339 time in the past, for target time (only)."""
    method: Literal["objectStore", "volumeSnapshot"] = "objectStore"
    """objectStore: download a base backup from Blob storage; volumeSnapshot: new disks from the volume
    snapshots of snapshotBackup (minutes, whatever the size), then WAL from Blob storage. Target latest or time."""
    snapshot_backup: Dns1123Label | None = None
    """For method volumeSnapshot (only): the name of a completed Backup of method volumeSnapshot
    (kubectl get backups); its snapshots are <name> (data) and <name>-wal."""
    cluster_name: CnpgClusterName = "pg-restored"
    """Name of the recovery cluster (DNS-1035, at most 50 characters; not postgres.clusterName)."""

    @field_validator("backup_id")
    @classmethod
    def _barman_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9]{8}T[0-9]{6}", value):
            raise ValueError("must be a Barman backup ID such as 20261123T020000 (see kubectl get backups)")
        return value

    @field_validator("target_time")
    @classmethod
    def _rfc3339_in_the_past(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError("must be an RFC 3339 timestamp such as 2026-11-23T10:00:00Z") from None
            if parsed.tzinfo is None:
                raise ValueError("must carry a time zone (Z or +hh:mm)")
            now = datetime.now(UTC)
            if parsed > now:
                raise ValueError(
                    f"is in the future (now is {now:%Y-%m-%dT%H:%M:%SZ}): recovery can only stop at a time the WAL "
                    "archive already holds"
                )
        return value

    def problems(self, primary_cluster_name: str) -> list[str]:
        """Cross-field problems, one line each, naming the key, the value and the rule."""
        problems = []
        needed = TARGET_FIELDS[self.target]
        for field, key in FIELD_KEYS.items():
            value = getattr(self, field)
            if field in needed and value is None:
                example = "a Barman backup ID such as 20261123T020000" if field == "backup_id" else "an RFC 3339 time"
                problems.append(f"restore.{key}: missing, but target '{self.target}' needs it ({example})")
            elif field not in needed and value is not None:
                problems.append(
                    f"restore.{key}: {value!r} — only target '{_target_of(field)}' reads it, but target is "
                    f"'{self.target}': remove it or change restore.target"
                )
        if self.method == "volumeSnapshot":
            if self.snapshot_backup is None:
                problems.append(
                    "restore.snapshotBackup: missing, but method 'volumeSnapshot' needs the name of a completed "
                    "volumeSnapshot Backup (kubectl get backups)"
                )
            if self.target == "backup":
                # cloudnative-pg v1.30.0 validateBootstrapRecoveryDataSource.
                problems.append(
                    "restore.target: 'backup' — a restore from volume snapshots starts from snapshotBackup; CloudNativePG "
                    "refuses a backupID with it: use target latest or time"
                )
        elif self.snapshot_backup is not None:
            problems.append(
                f"restore.snapshotBackup: {self.snapshot_backup!r} — only method 'volumeSnapshot' reads it, but method "
                f"is {self.method!r}: remove it or set restore.method volumeSnapshot"
            )
        if self.enabled and self.cluster_name == primary_cluster_name:
            problems.append(
                f"restore.clusterName: {self.cluster_name!r} — must differ from postgres.clusterName: the recovery "
                "cluster is a second Cluster next to the primary"
            )
        return problems


def _target_of(field: str) -> str:
    return next(target for target, fields in TARGET_FIELDS.items() if field in fields)
