"""First-deployment order: each operator waits for what it needs and nothing else (registered depends_on)."""

from __future__ import annotations

import pytest

from offline.engine import Registration, StackRun


def _release(run: StackRun, chart: str) -> Registration:
    return next(r for r in run.registrations if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"] == chart)


def _waits_for(run: StackRun, dependent: Registration, chart: str) -> bool:
    return _release(run, chart).urn in dependent.dependencies


def test_the_barman_cloud_plugin_waits_for_cert_manager_not_for_the_operator(shipped: StackRun) -> None:
    plugin = _release(shipped, "plugin-barman-cloud")

    assert _waits_for(shipped, plugin, "cert-manager")  # its Certificates need cert-manager's CRDs
    assert not _waits_for(shipped, plugin, "cloudnative-pg")


def test_the_cnpg_operator_does_not_wait_for_cert_manager(shipped: StackRun) -> None:
    assert not _waits_for(shipped, _release(shipped, "cloudnative-pg"), "cert-manager")


def test_kube_prometheus_stack_waits_for_cert_manager(prod: StackRun) -> None:
    # Its operator's webhook certificate is a cert-manager Certificate (charts: certmanager.yaml).
    assert _waits_for(prod, _release(prod, "kube-prometheus-stack"), "cert-manager")


@pytest.mark.parametrize("chart", ["cloudnative-pg", "plugin-barman-cloud"])
def test_kube_prometheus_stack_waits_for_no_database_operator(prod: StackRun, chart: str) -> None:
    assert not _waits_for(prod, _release(prod, "kube-prometheus-stack"), chart)


def test_the_cnpg_operator_does_not_wait_for_kube_prometheus_stack(shipped: StackRun) -> None:
    # Its PodMonitor (the one thing that needed the stack's CRDs) is a resource of its own, created after both.
    operator = _release(shipped, "cloudnative-pg")
    assert not _waits_for(shipped, operator, "kube-prometheus-stack")
    (monitor,) = [
        r for r in shipped.of_type("kubernetes:monitoring.coreos.com/v1:PodMonitor") if r.name == "operators-cnpg-pod-monitor"
    ]
    assert operator.urn in monitor.dependencies and _waits_for(shipped, monitor, "kube-prometheus-stack")


def test_cert_manager_waits_for_no_other_release(shipped: StackRun) -> None:
    cert_manager = _release(shipped, "cert-manager")
    releases = {r.urn for r in shipped.registrations if r.type == "kubernetes:helm.sh/v3:Release"}

    assert not releases & set(cert_manager.dependencies)


def test_the_database_waits_for_the_operator_and_the_plugin(shipped: StackRun) -> None:
    cluster = next(r for r in shipped.registrations if r.type == "kubernetes:postgresql.cnpg.io/v1:Cluster")

    assert _waits_for(shipped, cluster, "cloudnative-pg")  # its webhooks validate the Cluster
    assert _waits_for(shipped, cluster, "plugin-barman-cloud")  # WAL archiving from the first WAL
    assert not _waits_for(shipped, cluster, "kube-prometheus-stack")
