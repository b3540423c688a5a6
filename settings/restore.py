"""Restore (recovery cluster) settings."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import field_validator, model_validator

from settings.rules import Dns1123Label, SettingsModel


class RestoreSettings(SettingsModel):
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
