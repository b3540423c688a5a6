"""Workload isolation policies: Pod Security labels on every namespace, default-deny where PostgreSQL runs."""

from __future__ import annotations

import pytest

from .baseline import NAMESPACE, compliant_stack
from .expectations import Analyze, flagged, only
from .synthetic import Resource

ENFORCE = ("metadata", "labels", "pod-security.kubernetes.io/enforce")
ENFORCE_VERSION = ("metadata", "labels", "pod-security.kubernetes.io/enforce-version")


@pytest.mark.parametrize("level", ["enforced", "", None])
def test_namespace_without_a_valid_enforced_level_is_refused(analyze: Analyze, level: str | None) -> None:
    stack = compliant_stack().with_value("namespace", ENFORCE, level)
    report = analyze(stack)
    assert "pod-security.kubernetes.io/enforce=" in flagged(report, "namespace-pod-security", stack.urn("namespace")).message
    # Not restricted either.
    flagged(report, "namespace-pod-security-restricted", stack.urn("namespace"))
    assert len(report.violations) == 2, report.describe()


def test_namespace_without_labels_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().without("namespace", "metadata.labels")
    report = analyze(stack)
    messages = sorted(v.message for v in report.of_policy("namespace-pod-security") if v.urn == stack.urn("namespace"))
    assert len(messages) == 2, report.describe()
    assert "enforce-version=None" in messages[0] and "enforce=None" in messages[1]
    flagged(report, "namespace-pod-security-restricted", stack.urn("namespace"))
    assert len(report.violations) == 3, report.describe()


@pytest.mark.parametrize("version", ["1.34", "v2", None])
def test_unpinned_standard_version_is_refused(analyze: Analyze, version: str | None) -> None:
    stack = compliant_stack().with_value("namespace", ENFORCE_VERSION, version)
    assert "enforce-version" in only(analyze(stack), "namespace-pod-security", stack.urn("namespace")).message


@pytest.mark.parametrize("version", ["latest", "v1.36"])
def test_latest_or_pinned_versions_are_accepted(analyze: Analyze, version: str) -> None:
    assert analyze(compliant_stack().with_value("namespace", ENFORCE_VERSION, version)).violations == ()


def test_helm_creating_its_namespace_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().with_value("monitoring", "createNamespace", True)
    assert "createNamespace: true" in only(analyze(stack), "namespace-pod-security", stack.urn("monitoring")).message


def test_cnpg_namespace_without_default_deny_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().without("default-deny")
    violation = only(analyze(stack), "cnpg-namespace-default-deny", stack.urn("cluster"))
    assert f"namespace '{NAMESPACE}'" in violation.message


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.podSelector", {"matchLabels": {"cnpg.io/cluster": "pg-primary"}}),
        ("spec.policyTypes", ["Egress"]),
        ("spec.ingress", [{"from": [{"podSelector": {}}]}]),
        ("metadata.namespace", "default"),
    ],
)
def test_a_policy_that_does_not_deny_all_ingress_in_the_namespace_does_not_count(
    analyze: Analyze, path: str, value: object
) -> None:
    stack = compliant_stack().with_value("default-deny", path, value)
    only(analyze(stack), "cnpg-namespace-default-deny", stack.urn("cluster"))


def test_allow_policies_next_to_the_deny_are_accepted(analyze: Analyze) -> None:
    allow = Resource(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "allow-operator",
        {
            "metadata": {"name": "allow-operator", "namespace": NAMESPACE},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "operator"}}}], "ports": [{"port": 8000}]}],
            },
        },
    )
    assert analyze(compliant_stack().plus(allow)).violations == ()


def test_every_namespace_with_a_pod_selector_is_not_allow_all(analyze: Analyze) -> None:
    peer = {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}
    allow = Resource(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "allow-metrics",
        {
            "metadata": {"name": "allow-metrics", "namespace": NAMESPACE},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [peer]}]},
        },
    )
    assert analyze(compliant_stack().plus(allow)).violations == ()
    everyone = compliant_stack().plus(allow).with_value("allow-metrics", "spec.ingress.0.from.0.podSelector", {})
    violation = only(analyze(everyone), "network-policy-no-allow-all", everyone.urn("allow-metrics"))
    assert "every pod of every namespace" in violation.message
