"""Identities: the AKS control-plane identity and each database cluster's workload identity, never shared."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import managedidentity

from components.azure.roles import BuiltInRole, assign_role
from components.azure.scope import AzureScope

TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"


@dataclass(frozen=True)
class IdentitiesArgs:
    scope: AzureScope
    # Scope of the control plane's Network Contributor role: the group that holds the public IP.
    network_scope: pulumi.Input[str]
    control_plane_name: pulumi.Input[str]
    # The one-cluster stack's workload identity; None on a platform whose clusters each have their own.
    workload_name: pulumi.Input[str] | None
    # Prod: a recreated identity gets a new client ID, and every federated credential, role and
    # pod annotation that names the old one stops working; backups stop until all are redone.
    # The credentials and role assignments are not protected: their names derive from the
    # settings, so Pulumi recreates them identically, and restores add and remove them routinely.
    protect: bool


@dataclass(frozen=True)
class ServiceAccountRef:
    """A Kubernetes service account that may act as the workload identity."""

    namespace: str
    name: str

    @property
    def subject(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"


class WorkloadIdentity:
    """A user-assigned identity one database cluster's pods run as (workload identity): only its own
    backup container's role, only its own service accounts trusted (``federate``)."""

    def __init__(
        self,
        identity: managedidentity.UserAssignedIdentity,
        credential_prefix: str,
        parent: pulumi.Resource,
        resource_group_name: pulumi.Input[str],
    ):
        self.id: pulumi.Output[str] = identity.id
        self.name: pulumi.Output[str] = identity.name
        self.client_id: pulumi.Output[str] = identity.client_id
        self.principal_id: pulumi.Output[str] = identity.principal_id
        self.tenant_id: pulumi.Output[str] = identity.tenant_id
        self._identity = identity
        self._credential_prefix = credential_prefix
        self._parent = parent
        self._resource_group_name = resource_group_name
        self._last_credential: managedidentity.FederatedIdentityCredential | None = None

    def federate(
        self,
        credential_name: str,
        *,
        issuer: pulumi.Input[str],
        service_account: ServiceAccountRef,
        opts: pulumi.ResourceOptions | None = None,
    ) -> managedidentity.FederatedIdentityCredential:
        """Let ``service_account`` (of the cluster behind ``issuer``) act as this identity.

        Each credential waits for the previous one: Azure refuses concurrent federated-credential
        writes on one identity (ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity)."""
        after_previous = pulumi.ResourceOptions(
            parent=self._parent, depends_on=[self._last_credential] if self._last_credential else []
        )
        self._last_credential = managedidentity.FederatedIdentityCredential(
            f"{self._credential_prefix}-{credential_name}",
            resource_group_name=self._resource_group_name,
            resource_name_=self.name,
            federated_identity_credential_resource_name=credential_name,
            issuer=issuer,
            subject=service_account.subject,
            audiences=[TOKEN_EXCHANGE_AUDIENCE],
            opts=pulumi.ResourceOptions.merge(after_previous, opts),
        )
        return self._last_credential


class Identities(pulumi.ComponentResource):
    """The identities of the stack, never shared between roles.

    ``control_plane_*``: what AKS runs as (Network Contributor on the public IP's group only).
    ``workload``: what the one-cluster stack's PostgreSQL pods run as (its backup container only; the
    storage component grants that role); ``for_cluster`` adds one per platform database cluster.
    """

    control_plane_id: pulumi.Output[str]
    control_plane_principal_id: pulumi.Output[str]
    workload: WorkloadIdentity | None
    network_role: pulumi.Resource

    def __init__(self, name: str, args: IdentitiesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:Identities", name, None, opts)
        self._name = name
        self._scope = args.scope
        self._stateful = args.protect
        control_plane = self._identity(f"{name}-control-plane", args.control_plane_name)
        self.network_role = assign_role(
            f"{name}-control-plane-network",
            scope=args.network_scope,
            principal_id=control_plane.principal_id,
            role=BuiltInRole.NETWORK_CONTRIBUTOR,
            parent=self,
        )
        self.control_plane_id = control_plane.id
        self.control_plane_principal_id = control_plane.principal_id
        self.workload = (
            WorkloadIdentity(self._identity(f"{name}-workload", args.workload_name), name, self, args.scope.resource_group_name)
            if args.workload_name is not None
            else None
        )
        self.register_outputs(
            {"controlPlaneId": self.control_plane_id}
            | ({"workloadId": self.workload.id, "workloadClientId": self.workload.client_id} if self.workload else {})
        )

    def for_cluster(self, cluster: str, identity_name: pulumi.Input[str]) -> WorkloadIdentity:
        """The workload identity of platform database cluster ``cluster`` (its own, trusted by its own service accounts)."""
        prefix = f"{self._name}-{cluster}"
        return WorkloadIdentity(
            self._identity(f"{prefix}-workload", identity_name), prefix, self, self._scope.resource_group_name
        )

    def _identity(self, resource_name: str, identity_name: pulumi.Input[str]) -> managedidentity.UserAssignedIdentity:
        return managedidentity.UserAssignedIdentity(
            resource_name,
            resource_group_name=self._scope.resource_group_name,
            resource_name_=identity_name,
            location=self._scope.location,
            tags=dict(self._scope.tags),
            opts=pulumi.ResourceOptions(parent=self, protect=self._stateful),
        )
