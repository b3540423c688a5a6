"""Cluster access: the Kubernetes provider built from the AKS cluster's credentials."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_azure_native import containerservice


@dataclass(frozen=True)
class ClusterAccessArgs:
    resource_group_name: pulumi.Input[str]
    cluster_name: pulumi.Input[str]


class ClusterAccess(pulumi.ComponentResource):
    """Holds the kubeconfig (a Pulumi secret end to end) and the provider every in-cluster
    resource uses, so nothing reaches the cluster before it exists."""

    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider

    def __init__(self, name: str, args: ClusterAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:ClusterAccess", name, None, opts)
        # Admin credential: installing CRDs, operators and webhooks needs cluster-admin.
        credentials = containerservice.list_managed_cluster_admin_credentials_output(
            resource_group_name=args.resource_group_name,
            resource_name=args.cluster_name,
        )
        self.kubeconfig = pulumi.Output.secret(
            credentials.kubeconfigs.apply(lambda configs: base64.b64decode(configs[0].value).decode())
        )
        self.provider = k8s.Provider(
            f"{name}-provider",
            kubeconfig=self.kubeconfig,
            # Server-side apply: the CNPG CRDs exceed the client-side annotation limit.
            enable_server_side_apply=True,
            delete_unreachable=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"kubeconfig": self.kubeconfig})
