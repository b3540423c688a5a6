"""Pod Security Admission: every namespace the program creates enforces its least privileged standard."""

from __future__ import annotations

import pytest

from components.operators import KUBE_PROMETHEUS_STACK_VALUES
from components.pod_security import POD_SECURITY_VERSION
from offline.engine import StackRun
from tests.components.helpers import depends_on

NAMESPACE = "kubernetes:core/v1:Namespace"
RELEASE = "kubernetes:helm.sh/v3:Release"
EXPECTED_LEVELS = {
    "cert-manager": "restricted",
    "cnpg-system": "restricted",
    "monitoring": "restricted",
    "cnpg-database": "restricted",
}


def test_every_namespace_enforces_audits_and_warns_at_its_level(shipped: StackRun) -> None:
    labels = {r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"] for r in shipped.of_type(NAMESPACE)}
    assert set(labels) == set(EXPECTED_LEVELS)
    for namespace, level in EXPECTED_LEVELS.items():
        assert labels[namespace] == {
            **{f"pod-security.kubernetes.io/{mode}": level for mode in ("enforce", "audit", "warn")},
            **{f"pod-security.kubernetes.io/{mode}-version": POD_SECURITY_VERSION for mode in ("enforce", "audit", "warn")},
        }, namespace


def test_the_pinned_standard_is_known_to_the_stack_kubernetes_version(shipped: StackRun) -> None:
    cluster_minor = int(shipped.one("azure-native:containerservice:ManagedCluster").inputs["kubernetesVersion"].split(".")[1])
    assert POD_SECURITY_VERSION.startswith("v1.") and int(POD_SECURITY_VERSION.removeprefix("v1.")) <= cluster_minor


def test_monitoring_is_restricted_because_node_exporter_is_off() -> None:
    # node-exporter needs hostNetwork, hostPID and hostPath: turning it on must make monitoring privileged.
    assert KUBE_PROMETHEUS_STACK_VALUES["nodeExporter"]["enabled"] is False


@pytest.mark.parametrize(
    ("chart", "namespace"),
    [
        ("cert-manager", "cert-manager"),
        ("cloudnative-pg", "cnpg-system"),
        ("plugin-barman-cloud", "cnpg-system"),
        ("kube-prometheus-stack", "monitoring"),
    ],
)
def test_helm_installs_into_the_labelled_namespace(prod: StackRun, chart: str, namespace: str) -> None:
    release = next(r for r in prod.of_type(RELEASE) if r.inputs["chart"] == chart)
    assert release.inputs["createNamespace"] is False
    created = next(r for r in prod.of_type(NAMESPACE) if r.inputs["metadata"]["name"] == namespace)
    assert depends_on(prod, release, created) or any(
        depends_on(prod, release, other) and depends_on(prod, other, created) for other in prod.of_type(RELEASE)
    )
