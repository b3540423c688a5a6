"""AKS planned-maintenance windows: when auto-upgrades and node OS upgrades may drain nodes."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from settings.rules import SettingsModel, matching

WeekDay = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


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


class MaintenanceSettings(SettingsModel):
    auto_upgrade: MaintenanceWindowSettings = MaintenanceWindowSettings(day_of_week="Sunday")
    """Window of Kubernetes patch auto-upgrades (aksManagedAutoUpgradeSchedule)."""
    node_os_upgrade: MaintenanceWindowSettings = MaintenanceWindowSettings(day_of_week="Saturday")
    """Window of weekly node image upgrades (aksManagedNodeOSUpgradeSchedule)."""
