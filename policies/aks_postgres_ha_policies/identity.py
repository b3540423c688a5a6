"""Least privilege for identities: narrow role scopes, and no identity shared by AKS and workloads."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from .common import (
    Report,
    as_list,
    depends_on_type,
    depends_through,
    for_types,
    label,
    lookup,
    of_type,
    plain,
    resource_policy,
    stack_policy,
    text,
    texts_setting,
)
from .resource_types import (
    BLOB_CONTAINER,
    FEDERATED_IDENTITY_CREDENTIAL,
    MANAGED_CLUSTER,
    ROLE_ASSIGNMENT,
    STORAGE_ACCOUNT,
    USER_ASSIGNED_IDENTITY,
)

BROAD_SCOPES = (
    (re.compile(r"^/*$"), "the tenant root"),
    (re.compile(r"^/subscriptions/[^/]+/*$", re.IGNORECASE), "a whole subscription"),
    (re.compile(r"^/providers/Microsoft\.Management/managementGroups/[^/]+/*$", re.IGNORECASE), "a management group"),
)

# Built-in roles that own, reassign or unlock what they cover: nothing this program deploys needs
# one (components/azure/roles.py BuiltInRole lists what it grants). GUIDs as in Microsoft's built-in roles
# reference (learn.microsoft.com/azure/role-based-access-control/built-in-roles), identical in every tenant.
PRIVILEGED_ROLE_IDS = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
    "81a9662b-bebf-436f-a333-f67b29880f12": "Storage Account Key Operator Service Role",
    "0ab0b1a8-8aac-4efd-b8c2-3ee1fb270be8": "Azure Kubernetes Service Cluster Admin Role",
    "ed7f3fbd-7b88-4dd4-9017-9adb7ce333f8": "Azure Kubernetes Service Contributor Role",
    "e40ec5ca-96e0-45a2-b4ff-59039f2c2b59": "Managed Identity Contributor",
    "f1a07417-d97a-45cb-824c-7a7467783830": "Managed Identity Operator",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
}

# Storage roles that reach blobs: the data-plane roles directly, the account roles through the
# account keys (Storage Account Contributor can also turn shared-key access back on).
BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
BLOB_DATA_ROLES = {
    BLOB_DATA_READER: "Storage Blob Data Reader",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
}
ACCOUNT_KEY_ROLES = {
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
    "81a9662b-bebf-436f-a333-f67b29880f12": "Storage Account Key Operator Service Role",
}
# Whoever holds one of these works with storage, whatever the scope.
_STORAGE_ROLE_IDS = (*BLOB_DATA_ROLES, *ACCOUNT_KEY_ROLES)


def role_guid(role_definition_id: Any) -> str:
    """The built-in role's GUID, lower case: the last segment of a roleDefinitionId ('' when unset or unknown)."""
    return (text(role_definition_id) or "").rstrip("/").rsplit("/", 1)[-1].lower()


@for_types(ROLE_ASSIGNMENT)
def _narrow_scope(args: ResourceValidationArgs, report: Report) -> None:
    scope = text(lookup(args.props, "scope"))
    if scope is None:
        return
    for pattern, breadth in BROAD_SCOPES:
        if pattern.match(scope.strip()):
            report(
                f"{label(args.resource_type, args.name)}: scope '{scope}' is {breadth}; grant the role on the resource "
                "group or the single resource that needs it, so the principal reaches nothing beyond this deployment."
            )


@for_types(ROLE_ASSIGNMENT)
def _no_privileged_role(args: ResourceValidationArgs, report: Report) -> None:
    role = text(lookup(args.props, "roleDefinitionId"))
    forbidden = {guid.lower() for guid in texts_setting(args, "forbiddenRoleIds", list(PRIVILEGED_ROLE_IDS))}
    guid = role_guid(role)
    if guid in forbidden:
        name = PRIVILEGED_ROLE_IDS.get(guid, "a role the pack configuration forbids")
        report(
            f"{label(args.resource_type, args.name)}: roleDefinitionId '{role}' is {name}, a role that owns, "
            "reassigns or unlocks everything in its scope (at any scope); grant the narrow built-in role the "
            "principal needs (e.g. Storage Blob Data Contributor on the backup container)."
        )


def _identity_name(props: dict[str, Any]) -> str | None:
    return text(props.get("resourceName")) or text(props.get("name"))


def _same_identity(identity: dict[str, Any], arm_id: Any) -> bool:
    """Whether an ARM resource ID names ``identity``: by its ID when known, else by group and name."""
    if not isinstance(arm_id, str):
        return False
    own_id = text(identity.get("id"))
    if own_id is not None:
        return own_id.lower() == arm_id.lower()
    path = "/" + arm_id.strip("/").lower() + "/"
    group = (text(identity.get("resourceGroupName")) or "").lower()
    name = (_identity_name(identity) or "").lower()
    return bool(group and name) and path.endswith(f"/{name}/") and f"/resourcegroups/{group}/" in path


def _control_plane_users(
    identity: PolicyResource, props: Mapping[str, dict[str, Any]], clusters: list[PolicyResource]
) -> list[str]:
    users = []
    for cluster in clusters:
        assigned = lookup(props[cluster.urn], "identity", "userAssignedIdentities")
        # Inputs list the identity IDs; a deployed cluster's outputs key a map by them.
        assigned_ids = list(assigned) if isinstance(assigned, Mapping) else as_list(assigned)
        if depends_through(cluster, "identity", identity) or any(_same_identity(props[identity.urn], i) for i in assigned_ids):
            users.append(f"the control-plane identity of {label(cluster.resource_type, cluster.name)}")
    return users


def _is_storage_role(assignment: PolicyResource, props: dict[str, Any]) -> bool:
    scope = text(props.get("scope")) or ""
    return (
        "/providers/microsoft.storage/" in scope.lower()
        or depends_on_type(assignment, "scope", STORAGE_ACCOUNT)
        or depends_on_type(assignment, "scope", BLOB_CONTAINER)
        or role_guid(props.get("roleDefinitionId")) in _STORAGE_ROLE_IDS
    )


# Correlation runs on property dependencies first: they are known in every preview, while identity IDs
# and principal IDs are outputs that a first preview cannot know.


def trusted_by(credential: PolicyResource, identity: PolicyResource, props: Mapping[str, dict[str, Any]]) -> bool:
    """Whether a FederatedIdentityCredential sits on ``identity``: by dependency, else by name and resource group."""
    credential_props, own = props[credential.urn], props[identity.urn]
    trusted_name = text(credential_props.get("resourceName"))
    by_name = (
        trusted_name is not None
        and trusted_name == _identity_name(own)
        and text(credential_props.get("resourceGroupName")) == text(own.get("resourceGroupName"))
    )
    return depends_through(credential, "resourceName", identity) or by_name


def granted_to(assignment: PolicyResource, identity: PolicyResource, props: Mapping[str, dict[str, Any]]) -> bool:
    """Whether a RoleAssignment's principal is ``identity``: by dependency, else by its known principalId output."""
    principal = text(props[assignment.urn].get("principalId"))
    by_value = principal is not None and principal == text(props[identity.urn].get("principalId"))
    return depends_through(assignment, "principalId", identity) or by_value


def _workload_uses(identity: PolicyResource, props: Mapping[str, dict[str, Any]], resources: list[PolicyResource]) -> list[str]:
    uses = [
        f"trusted by {label(credential.resource_type, credential.name)}"
        for credential in of_type(resources, FEDERATED_IDENTITY_CREDENTIAL)
        if trusted_by(credential, identity, props)
    ]
    uses += [
        f"granted storage access by {label(assignment.resource_type, assignment.name)}"
        for assignment in of_type(resources, ROLE_ASSIGNMENT)
        if granted_to(assignment, identity, props) and _is_storage_role(assignment, props[assignment.urn])
    ]
    return uses


def _validate_separation(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    props = {resource.urn: plain(resource.props) for resource in args.resources}
    clusters = of_type(args.resources, MANAGED_CLUSTER)
    for identity in of_type(args.resources, USER_ASSIGNED_IDENTITY):
        control_plane = _control_plane_users(identity, props, clusters)
        workload = _workload_uses(identity, props, args.resources)
        if control_plane and workload:
            report_violation(
                f"{label(identity.resource_type, identity.name)} is both {' and '.join(control_plane)} and a workload "
                f"identity ({'; '.join(workload)}). Any pod allowed to use it could then act with the control plane's "
                "Azure permissions; give the database workload its own user-assigned identity.",
                identity.urn,
            )


IDENTITY_POLICIES = [
    resource_policy(
        "role-assignment-no-privileged-role",
        "Role assignments never grant an owner-like role (Owner, Contributor, User Access Administrator, ...).",
        _no_privileged_role,
        settings={
            "forbiddenRoleIds": {
                "type": "array",
                "items": {"type": "string", "pattern": "^[0-9a-fA-F-]{36}$"},
                "default": list(PRIVILEGED_ROLE_IDS),
                "description": "Built-in role definition GUIDs no assignment may grant.",
            }
        },
    ),
    resource_policy(
        "role-assignment-scope",
        "Role assignments never cover a whole subscription, management group or the tenant root.",
        _narrow_scope,
    ),
    stack_policy(
        "identity-separation",
        "No user-assigned identity is both an AKS control-plane identity and a workload identity.",
        _validate_separation,
    ),
]
