"""Pod Security Admission: every namespace the program creates enforces its least privileged standard."""

from __future__ import annotations

from typing import Any

import pytest

from components.builders.pod_security import POD_SECURITY_VERSION
from components.cluster.operators import KUBE_PROMETHEUS_STACK_VALUES, NAMESPACE_POD_SECURITY
from offline.charts import helm_releases, render_release, stack_kubernetes_version
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


# Volume types the restricted standard allows (Kubernetes "Pod Security Standards", restricted profile).
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
WORKLOADS = ("Deployment", "DaemonSet", "StatefulSet", "Job")


def _restricted_problems(pod: dict[str, Any]) -> list[str]:
    """What the restricted Pod Security Standard refuses in a pod spec (the checks these charts could trip)."""
    problems = [f"host namespace {key}" for key in ("hostNetwork", "hostPID", "hostIPC") if pod.get(key)]
    problems += [f"volume {v['name']}" for v in pod.get("volumes", []) if set(v) - RESTRICTED_VOLUMES - {"name"}]
    pod_context = pod.get("securityContext", {})
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        context = container.get("securityContext", {})
        seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get("type")
        checks = {
            "allowPrivilegeEscalation is not false": context.get("allowPrivilegeEscalation") is not False,
            "capabilities not dropped": "ALL" not in (context.get("capabilities", {}).get("drop") or []),
            "capabilities added": bool(set(context.get("capabilities", {}).get("add") or []) - {"NET_BIND_SERVICE"}),
            "no seccomp profile": seccomp not in ("RuntimeDefault", "Localhost"),
            "may run as root": not context.get("runAsNonRoot", pod_context.get("runAsNonRoot")),
            "runs as UID 0": context.get("runAsUser", pod_context.get("runAsUser")) == 0,
            "privileged": bool(context.get("privileged")),
            "host port": any(port.get("hostPort") for port in container.get("ports", [])),
        }
        problems += [f"container {container['name']}: {rule}" for rule, broken in checks.items() if broken]
    return problems


def test_chart_workloads_pass_their_namespace_standard(prod: StackRun) -> None:
    # Pods the Prometheus Operator creates (Prometheus, Alertmanager) are not in the chart: their
    # contexts come from prometheusSpec/alertmanagerSpec.securityContext and the operator's defaults.
    kubernetes_version = stack_kubernetes_version(prod)
    checked = 0
    for release in helm_releases(prod):
        assert NAMESPACE_POD_SECURITY[release.namespace] == "restricted", release.namespace
        for rendered in render_release(release, kubernetes_version):
            if rendered.obj["kind"] in WORKLOADS:
                checked += 1
                problems = _restricted_problems(rendered.obj["spec"]["template"]["spec"])
                assert problems == [], (release.chart, rendered.obj["metadata"]["name"], problems)
    # The charts' Deployments, DaemonSets and Jobs (no certgen Jobs: cert-manager issues the webhook certificate).
    assert checked >= 9
