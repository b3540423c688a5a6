"""Identities: the AKS control-plane identity and the database workload identity, never shared."""

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
    workload_name: pulumi.Input[str]
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


class Identities(pulumi.ComponentResource):
    """Two user-assigned identities.

    ``control_plane_*``: what AKS runs as (Network Contributor on the public IP's group only).
    ``workload_*``: what the PostgreSQL pods run as through workload identity (backup storage only;
    the storage component grants that role). ``federate()`` trusts one service account.
    """

    control_plane_id: pulumi.Output[str]
    control_plane_principal_id: pulumi.Output[str]
    workload_id: pulumi.Output[str]
    workload_name: pulumi.Output[str]
    workload_client_id: pulumi.Output[str]
    workload_principal_id: pulumi.Output[str]
    workload_tenant_id: pulumi.Output[str]
    network_role: pulumi.Resource

    def __init__(self, name: str, args: IdentitiesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:Identities", name, None, opts)
        self._name = name
        self._resource_group_name = args.scope.resource_group_name
        self._last_credential: managedidentity.FederatedIdentityCredential | None = None
        control_plane, workload = (
            managedidentity.UserAssignedIdentity(
                f"{name}-{role}",
                resource_group_name=args.scope.resource_group_name,
                resource_name_=identity_name,
                location=args.scope.location,
                tags=dict(args.scope.tags),
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
            )
            for role, identity_name in (("control-plane", args.control_plane_name), ("workload", args.workload_name))
        )
        self.network_role = assign_role(
            f"{name}-control-plane-network",
            scope=args.network_scope,
            principal_id=control_plane.principal_id,
            role=BuiltInRole.NETWORK_CONTRIBUTOR,
            parent=self,
        )
        self.control_plane_id = control_plane.id
        self.control_plane_principal_id = control_plane.principal_id
        self.workload_id = workload.id
        self.workload_name = workload.name
        self.workload_client_id = workload.client_id
        self.workload_principal_id = workload.principal_id
        self.workload_tenant_id = workload.tenant_id
        self.register_outputs(
            {
                "controlPlaneId": self.control_plane_id,
                "workloadId": self.workload_id,
                "workloadClientId": self.workload_client_id,
            }
        )

    def federate(
        self,
        credential_name: str,
        *,
        issuer: pulumi.Input[str],
        service_account: ServiceAccountRef,
        opts: pulumi.ResourceOptions | None = None,
    ) -> managedidentity.FederatedIdentityCredential:
        """Let ``service_account`` (of the cluster behind ``issuer``) act as the workload identity.

        Each credential waits for the previous one: Azure refuses concurrent federated-credential
        writes on one identity (ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity)."""
        after_previous = pulumi.ResourceOptions(parent=self, depends_on=[self._last_credential] if self._last_credential else [])
        self._last_credential = managedidentity.FederatedIdentityCredential(
            f"{self._name}-{credential_name}",
            resource_group_name=self._resource_group_name,
            resource_name_=self.workload_name,
            federated_identity_credential_resource_name=credential_name,
            issuer=issuer,
            subject=service_account.subject,
            audiences=[TOKEN_EXCHANGE_AUDIENCE],
            opts=pulumi.ResourceOptions.merge(after_previous, opts),
        )
        return self._last_credential
