"""Azure Managed Grafana: sign-in through Entra ID only."""

from __future__ import annotations

from pulumi_policy import ResourceValidationArgs

from .common import Report, described, for_types, label, lookup, resource_policy
from .resource_types import MANAGED_GRAFANA


@for_types(MANAGED_GRAFANA)
def _no_api_keys(args: ResourceValidationArgs, report: Report) -> None:
    value = lookup(args.props, "properties", "apiKey")
    if value not in (None, "Disabled"):
        report(
            f"{label(args.resource_type, args.name)}: {described('properties.apiKey', value)}; set it to 'Disabled': "
            "Grafana API keys are bearer tokens that bypass Entra ID sign-in and conditional access, and outlive "
            "the person who made them."
        )


GRAFANA_POLICIES = [
    resource_policy("grafana-api-keys-disabled", "Managed Grafana refuses API keys (Entra ID sign-in only).", _no_api_keys),
]
