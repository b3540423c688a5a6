"""Azure RBAC: built-in role IDs and role assignments with stable names."""

from __future__ import annotations

import uuid
from enum import Enum

import pulumi
from pulumi_azure_native import authorization


class BuiltInRole(Enum):
    """Built-in role definition GUIDs (identical in every Azure public-cloud tenant)."""

    STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
    STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
    NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
    MONITORING_DATA_READER = "b0d8363b-8ddd-447d-831f-62ca05bff136"
    GRAFANA_ADMIN = "22926164-76b3-42b3-bc55-97df8dab3e41"
    AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693396e6cf5"
    # Lets a principal list the user kubeconfig (listClusterUserCredential); grants no Kubernetes rights.
    AKS_CLUSTER_USER = "4abbcc35-e782-43d8-92c5-2d3f1bd2253f"


def _subscription_of(scope: str) -> str:
    parts = scope.split("/")
    if len(parts) < 3 or parts[1].lower() != "subscriptions":
        raise ValueError(f"role scope {scope!r} is not below a subscription")
    return parts[2]


def assign_role(
    name: str,
    *,
    scope: pulumi.Input[str],
    principal_id: pulumi.Input[str],
    role: BuiltInRole,
    principal_type: str | None = "ServicePrincipal",
    parent: pulumi.Resource,
    depends_on: list[pulumi.Resource] | None = None,
) -> authorization.RoleAssignment:
    """Grant ``role`` on ``scope`` (never a whole subscription) to one principal.

    The assignment's GUID is derived from scope, principal and role, so it is stable across runs
    and a second identical assignment is impossible.
    """
    scope_output = pulumi.Output.from_input(scope)
    return authorization.RoleAssignment(
        name,
        scope=scope_output,
        principal_id=principal_id,
        # ServicePrincipal skips the directory lookup that fails for freshly created identities.
        # None: the type is not known here (the deployer is a user or a service principal), so none
        # is sent and Azure looks it up; an Output because the SDK would turn a plain None into "User".
        principal_type=principal_type or pulumi.Output.from_input(None),
        role_definition_id=scope_output.apply(
            lambda s: f"/subscriptions/{_subscription_of(s)}/providers/Microsoft.Authorization/roleDefinitions/{role.value}"
        ),
        role_assignment_name=pulumi.Output.all(scope_output, principal_id).apply(
            lambda values: str(uuid.uuid5(uuid.NAMESPACE_URL, f"{values[0]}|{values[1]}|{role.value}"))
        ),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
    )
