"""Azure monitoring settings."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from settings.rules import SettingsModel, matching

EntraObjectId = Annotated[
    str, matching(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", "must be an Entra object ID (a GUID)")
]


class GrafanaAdmin(SettingsModel):
    object_id: EntraObjectId
    """Entra object ID of the user, group or service principal."""
    principal_type: Literal["User", "Group", "ServicePrincipal"]
    """What the object ID is; Azure rejects a role assignment whose type does not match (UnmatchedPrincipalType)."""


class ObservabilitySettings(SettingsModel):
    azure_monitoring: bool = True
    """Azure Monitor workspace (managed Prometheus), Log Analytics (Container insights)."""
    managed_grafana: bool = True
    """Azure Managed Grafana (Standard) linked to the Azure Monitor workspace."""
    log_retention_days: int = Field(default=30, ge=30, le=730)
    """Log Analytics retention in days."""
    grafana_admins: list[GrafanaAdmin] = []
    """Entra principals granted Grafana Admin on the Managed Grafana instance (scoped to it); prod needs one."""

    @model_validator(mode="before")
    @classmethod
    def _renamed_admin_list(cls, values: Any) -> Any:
        if isinstance(values, dict) and "grafanaAdminObjectIds" in values:
            raise ValueError(
                "grafanaAdminObjectIds is replaced by grafanaAdmins, a list of {objectId, principalType} "
                "(principalType User, Group or ServicePrincipal: Azure refuses an assignment whose type does not "
                'match the principal), e.g. grafanaAdmins: [{objectId: "<guid>", principalType: Group}]'
            )
        return values

    @model_validator(mode="after")
    def _grafana_needs_workspace(self) -> ObservabilitySettings:
        if self.managed_grafana and not self.azure_monitoring:
            raise ValueError("managedGrafana needs azureMonitoring: Grafana reads the Azure Monitor workspace")
        return self

    def production_problems(self) -> list[str]:
        if self.managed_grafana and not self.grafana_admins:
            return [
                "observability.grafanaAdmins: empty, but prod's Managed Grafana needs an admin: Owner and Contributor "
                "carry no Grafana data actions, so nobody could sign in to manage it"
            ]
        return []
