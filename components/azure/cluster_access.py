"""Cluster access: Entra ID role assignments on the AKS cluster and the Kubernetes provider that
signs in through kubelogin, so no static credential exists anywhere."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pulumi_azure_native import authorization, containerservice

from components.azure.roles import BuiltInRole, assign_role
from components.azure.scope import AzureScope

# The application ID of the AKS Entra ID server application, the audience of every AKS token
# (the same in every tenant; azure-aks-docs kubelogin-authentication.md).
AKS_SERVER_APP_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
# Azure CLI sign-in on a workstation. kubelogin lets AAD_LOGIN_METHOD override --login, so CI sets
# AAD_LOGIN_METHOD=workloadidentity (with AZURE_CLIENT_ID and AZURE_TENANT_ID) and kubelogin signs
# in with the GitHub Actions OIDC token; the kubeconfig, a provider input, stays the same everywhere.
KUBELOGIN_ARGS = ["get-token", "--login", "azurecli", "--server-id", AKS_SERVER_APP_ID]
# What the deployer and the administrators hold on the cluster: Kubernetes cluster-admin through
# Azure RBAC, and the right to list the (credential-free) user kubeconfig.
CLUSTER_ROLES = (BuiltInRole.AKS_RBAC_CLUSTER_ADMIN, BuiltInRole.AKS_CLUSTER_USER)
USER_NAME = "entra-kubelogin"


@dataclass(frozen=True)
class ClusterAccessArgs:
    scope: AzureScope
    # The stack's own resource group: it holds this AKS cluster and no other.
    resource_group_id: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    cluster_id: pulumi.Input[str]
    # Entra groups that administer the cluster (aks.adminGroupObjectIds).
    admin_group_object_ids: Sequence[str]


def exec_kubeconfig(user_kubeconfig: str) -> str:
    """A kubeconfig for the first cluster of ``user_kubeconfig`` (server and CA only) whose user
    runs kubelogin; whatever user AKS returned is dropped."""
    cluster = (yaml.safe_load(user_kubeconfig).get("clusters") or [{}])[0]
    name = cluster.get("name", "aks")
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster.get("cluster", {})}],
        "users": [
            {
                "name": USER_NAME,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "kubelogin",
                        "args": KUBELOGIN_ARGS,
                        "interactiveMode": "IfAvailable",
                        "provideClusterInfo": False,
                        "installHint": "kubelogin signs in to AKS with Entra ID: https://azure.github.io/kubelogin/install.html",
                    }
                },
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": USER_NAME}}],
        "current-context": name,
    }
    return yaml.safe_dump(config, sort_keys=False)


class ClusterAccess(pulumi.ComponentResource):
    """Grants the deployer and the admin groups their roles on the cluster and holds the provider
    every in-cluster resource uses; the provider waits for those role assignments.

    ``kubeconfig``: server, CA and a kubelogin exec user; no key, certificate, token or password.
    """

    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider

    def __init__(self, name: str, args: ClusterAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:ClusterAccess", name, None, opts)
        self._name = name
        deployer = authorization.get_client_config_output(opts=pulumi.InvokeOptions(parent=self)).object_id
        # The deployer's grants sit on the stack's resource group (whose only cluster is this one), so
        # Azure creates them while the cluster is being created instead of after it: the provider,
        # and everything in Kubernetes, waits for them. The deployer may be a user or a service
        # principal: Azure looks its type up.
        grants = self._grant("deployer", deployer, None, scope=args.resource_group_id)
        # The admins' grants sit on the cluster itself; nothing the program deploys waits for them.
        for index, group in enumerate(args.admin_group_object_ids):
            self._grant(f"admins-{index}", group, "Group", scope=args.cluster_id)
        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=args.scope.resource_group_name,
            resource_name=args.cluster_name,
            format="exec",
            opts=pulumi.InvokeOutputOptions(parent=self, depends_on=grants),
        )
        self.kubeconfig = credentials.kubeconfigs.apply(
            lambda configs: exec_kubeconfig(base64.b64decode(configs[0].value).decode())
        )
        self.provider = k8s.Provider(
            f"{name}-provider",
            # It holds no credential, but the pack treats every kubeconfig input as one, and a
            # secret keeps the state safe should a credential ever be added to it.
            kubeconfig=self.kubeconfig.apply(pulumi.Output.secret),
            # Server-side apply: the CNPG CRDs exceed the client-side annotation limit.
            enable_server_side_apply=True,
            delete_unreachable=False,
            # Role assignments take effect on the cluster's API server only after they exist.
            opts=pulumi.ResourceOptions(parent=self, depends_on=grants),
        )
        self.register_outputs({"kubeconfig": self.kubeconfig})

    def _grant(
        self, principal: str, principal_id: pulumi.Input[str], principal_type: str | None, *, scope: pulumi.Input[str]
    ) -> list[pulumi.Resource]:
        return [
            assign_role(
                f"{self._name}-{principal}-{role.name.lower().replace('_', '-')}",
                scope=scope,
                principal_id=principal_id,
                role=role,
                principal_type=principal_type,
                parent=self,
            )
            for role in CLUSTER_ROLES
        ]
