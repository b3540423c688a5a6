"""AKS planned-maintenance windows: when auto-upgrades and node OS upgrades may drain nodes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from settings.rules import SettingsModel, matching

WeekDay = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_WEEK_DAYS: tuple[str, ...] = WeekDay.__args__  # type: ignore[attr-defined]
_WEEK_MINUTES = 7 * 24 * 60


def _utc_offset(value: str) -> str:
    # Real time zones run from UTC-12:00 to UTC+14:00 in whole, half or quarter hours.
    match = re.fullmatch(r"([+-])([0-9]{2}):(00|15|30|45)", value)
    minutes = int(match.group(2)) * 60 + int(match.group(3)) if match else None
    if match is None or minutes is None or minutes > (14 * 60 if match.group(1) == "+" else 12 * 60):
        raise ValueError("must be a UTC offset from -12:00 to +14:00 in the form +HH:MM, e.g. +01:00")
    return value


UtcOffset = Annotated[str, AfterValidator(_utc_offset)]
StartTime = Annotated[str, matching(r"([01][0-9]|2[0-3]):[0-5][0-9]", "must be a time of day HH:MM from 00:00 to 23:59")]


class MaintenanceWindowSettings(SettingsModel):
    day_of_week: WeekDay
    """Day the window opens (Monday ... Sunday)."""
    start_time: StartTime = "02:00"
    """Local start time HH:MM (in utcOffset)."""
    duration_hours: int = Field(default=4, ge=4, le=24)
    """Window length in hours; AKS accepts 4-24."""
    utc_offset: UtcOffset = "+00:00"
    """Offset of startTime from UTC, +HH:MM or -HH:MM."""
    interval_weeks: int = Field(default=1, ge=1, le=4)
    """Open the window every N weeks (AKS accepts 1-4)."""

    def _utc_start(self) -> int:
        """Minutes from Monday 00:00 UTC to the window's opening."""
        hours, minutes = (int(part) for part in self.start_time.split(":"))
        sign = -1 if self.utc_offset.startswith("-") else 1
        offset = sign * (int(self.utc_offset[1:3]) * 60 + int(self.utc_offset[4:6]))
        return (_WEEK_DAYS.index(self.day_of_week) * 24 * 60 + hours * 60 + minutes - offset) % _WEEK_MINUTES

    def overlaps(self, other: MaintenanceWindowSettings) -> bool:
        """Whether the two windows share a moment of the week (in UTC). Windows opening every few weeks are
        compared as weekly: when their weeks coincide is not known from the settings alone."""
        start, other_start = self._utc_start(), other._utc_start()
        return (other_start - start) % _WEEK_MINUTES < self.duration_hours * 60 or (
            start - other_start
        ) % _WEEK_MINUTES < other.duration_hours * 60

    def describe(self) -> str:
        return f"{self.day_of_week} {self.start_time} {self.utc_offset} for {self.duration_hours} h"


class MaintenanceSettings(SettingsModel):
    auto_upgrade: MaintenanceWindowSettings = MaintenanceWindowSettings(day_of_week="Sunday")
    """Window of Kubernetes patch auto-upgrades (aksManagedAutoUpgradeSchedule)."""
    node_os_upgrade: MaintenanceWindowSettings = MaintenanceWindowSettings(day_of_week="Saturday")
    """Window of weekly node image upgrades (aksManagedNodeOSUpgradeSchedule)."""

    def windows(self) -> dict[str, MaintenanceWindowSettings]:
        """Each window by its key under aks.maintenance."""
        return {"autoUpgrade": self.auto_upgrade, "nodeOsUpgrade": self.node_os_upgrade}

    def exported(self) -> dict[str, dict[str, Any]]:
        """The windows as settings (camelCase), for a disaster-recovery peer's check."""
        return {key: window.model_dump(by_alias=True) for key, window in self.windows().items()}

    def overlap_problems(self, peer: Mapping[str, Any]) -> list[str]:
        """Windows that open while one of the peer's is open (``peer``: its exported windows), one line each:
        both regions' nodes would be drained at once."""
        peer_windows = MaintenanceSettings.model_validate(peer).windows()
        return [
            f"aks.maintenance.{key}: {window.describe()} overlaps the peer's {peer_key} window ({peer_window.describe()}): "
            "AKS would drain both regions' nodes at once; move one stack's windows apart"
            for key, window in self.windows().items()
            for peer_key, peer_window in peer_windows.items()
            if window.overlaps(peer_window)
        ]
