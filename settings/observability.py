"""Azure monitoring settings."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from settings.rules import SettingsModel


class ObservabilitySettings(SettingsModel):
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
