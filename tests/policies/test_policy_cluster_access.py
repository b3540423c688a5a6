"""Cluster-access policies: Entra ID only on AKS, exec-plugin credentials on the Kubernetes provider."""

from __future__ import annotations

import pytest

from .baseline import compliant_stack
from .expectations import Analyze, only, passes
from .synthetic import Secret

CLUSTER = "aks"
PROVIDER = "kubernetes"
ENTRA = "aks-entra-id-only"
EXEC = "kubernetes-provider-exec-credentials"
CLUSTER_TEXT = "apiVersion: v1\nkind: Config\nclusters: [{name: aks, cluster: {server: 'https://aks:443'}}]\n"


def test_the_baseline_passes(analyze: Analyze) -> None:
    report = analyze(compliant_stack())
    passes(report, ENTRA)
    passes(report, EXEC)


@pytest.mark.parametrize("path", ["disableLocalAccounts", "aadProfile.managed", "aadProfile.enableAzureRBAC"])
def test_local_accounts_and_kubernetes_rbac_are_refused(analyze: Analyze, path: str) -> None:
    stack = compliant_stack().with_value(CLUSTER, path, False)
    assert f"{path} is false" in only(analyze(stack), ENTRA, stack.urn(CLUSTER)).message


def test_cluster_without_entra_profile_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().without(CLUSTER, "aadProfile")
    only(analyze(stack), ENTRA, stack.urn(CLUSTER))


@pytest.mark.parametrize(
    ("user", "named"),
    [
        ("{token: t0ken}", "holds token"),
        ("{client-certificate-data: Y2VydA==, client-key-data: a2V5}", "holds client-certificate-data, client-key-data"),
        ("{username: admin, password: pw}", "holds username, password"),
        ("{auth-provider: {name: azure}}", "holds auth-provider"),
        ("{exec: {command: kubelogin}, token: t0ken}", "holds token"),
    ],
)
def test_static_credentials_in_the_provider_kubeconfig_are_refused(analyze: Analyze, user: str, named: str) -> None:
    # Secret or not: a static credential outlives whoever it was issued to.
    kubeconfig = Secret(f"{CLUSTER_TEXT}users:\n- name: admin\n  user: {user}\n")
    stack = compliant_stack().with_value(PROVIDER, "kubeconfig", kubeconfig)
    assert f"user 'admin' {named}" in only(analyze(stack), EXEC, stack.urn(PROVIDER)).message


def test_a_user_without_exec_plugin_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().with_value(PROVIDER, "kubeconfig", Secret(f"{CLUSTER_TEXT}users: [{{name: me, user: {{}}}}]\n"))
    assert "user 'me' has no exec plugin" in only(analyze(stack), EXEC, stack.urn(PROVIDER)).message


@pytest.mark.parametrize(
    ("kubeconfig", "named"), [(f"{CLUSTER_TEXT}users: []\n", "has no user"), ("- not a kubeconfig", "is not")]
)
def test_kubeconfig_without_users_or_not_a_kubeconfig_is_refused(analyze: Analyze, kubeconfig: str, named: str) -> None:
    stack = compliant_stack().with_value(PROVIDER, "kubeconfig", Secret(kubeconfig))
    assert named in only(analyze(stack), EXEC, stack.urn(PROVIDER)).message


def test_a_provider_without_kubeconfig_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().without(PROVIDER, "kubeconfig")
    assert "kubeconfig is not set" in only(analyze(stack), EXEC, stack.urn(PROVIDER)).message
