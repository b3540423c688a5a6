"""Cluster access through Entra ID only: no local accounts on AKS, and a Kubernetes provider that
signs in with an exec plugin (kubelogin) instead of a static key, certificate, token or password."""

from __future__ import annotations

from typing import Any

import yaml
from pulumi_policy import ResourceValidationArgs

from .common import Report, as_list, for_types, label, lookup, not_true, plain, resource_policy
from .resource_types import KUBERNETES_PROVIDER, MANAGED_CLUSTER

# kubeconfig user fields that carry a static credential (client-go's AuthInfo).
STATIC_CREDENTIAL_FIELDS = (
    "client-certificate",
    "client-certificate-data",
    "client-key",
    "client-key-data",
    "token",
    "tokenFile",
    "username",
    "password",
    "auth-provider",
)


@for_types(MANAGED_CLUSTER)
def _entra_id_only(args: ResourceValidationArgs, report: Report) -> None:
    missing = not_true(args.props, "disableLocalAccounts", "aadProfile.managed", "aadProfile.enableAzureRBAC")
    if missing:
        report(
            f"{label(args.resource_type, args.name)}: {'; '.join(missing)}. Set disable_local_accounts=True and "
            "aad_profile=ManagedClusterAADProfileArgs(managed=True, enable_azure_rbac=True): a local admin "
            "kubeconfig is a certificate that bypasses Entra ID sign-in and audit, and cannot be revoked per person."
        )


def _user_problems(kubeconfig: Any) -> list[str]:
    """Why the kubeconfig's users are not all exec-plugin users without static credentials."""
    try:
        document = yaml.safe_load(kubeconfig) if isinstance(kubeconfig, str) else None
    except yaml.YAMLError:
        document = None
    if not isinstance(document, dict):
        return ["is not a kubeconfig document"]
    users = as_list(document.get("users"))
    if not users:
        return ["has no user"]
    problems = []
    for index, entry in enumerate(users):
        user = lookup(entry, "user") or {}
        name = lookup(entry, "name") or f"#{index}"
        static = [field for field in STATIC_CREDENTIAL_FIELDS if field in user]
        if static:
            problems.append(f"user '{name}' holds {', '.join(static)}")
        if not isinstance(user.get("exec"), dict):
            problems.append(f"user '{name}' has no exec plugin")
    return problems


@for_types(KUBERNETES_PROVIDER)
def _exec_credentials(args: ResourceValidationArgs, report: Report) -> None:
    kubeconfig = plain(args.props).get("kubeconfig")
    where = label(args.resource_type, args.name)
    if kubeconfig is None:
        report(
            f"{where}: kubeconfig is not set, so the provider uses whatever KUBECONFIG the deploying shell has; "
            "build it from the cluster (server and CA) with a kubelogin exec user."
        )
        return
    problems = _user_problems(kubeconfig)
    if problems:
        report(
            f"{where}: kubeconfig {'; '.join(problems)}. Use an exec user running `kubelogin get-token` "
            "(Entra ID) and no client key, certificate, token or password: a static credential outlives the "
            "person or pipeline it was issued to."
        )


CLUSTER_ACCESS_POLICIES = [
    resource_policy(
        "aks-entra-id-only",
        "AKS clusters disable local accounts and use managed Entra ID with Azure RBAC.",
        _entra_id_only,
    ),
    resource_policy(
        "kubernetes-provider-exec-credentials",
        "The Kubernetes provider signs in through an exec plugin, never with a static credential.",
        _exec_credentials,
    ),
]
