"""Workload isolation inside the cluster: Pod Security Admission on every namespace, and
default-deny ingress where PostgreSQL runs."""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

from .common import (
    Report,
    as_list,
    for_types,
    kubernetes_name,
    kubernetes_namespace,
    label,
    lookup,
    of_type,
    plain,
    resource_policy,
    stack_policy,
)
from .resource_types import CNPG_CLUSTER, HELM_RELEASE, KUBERNETES_NAMESPACE, NETWORK_POLICY

PSA_ENFORCE = "pod-security.kubernetes.io/enforce"
PSA_LEVELS = ("restricted", "baseline", "privileged")
PSA_VERSION = re.compile(r"latest|v1\.[0-9]+")


@for_types(KUBERNETES_NAMESPACE, HELM_RELEASE)
def _pod_security(args: ResourceValidationArgs, report: Report) -> None:
    where = label(args.resource_type, args.name)
    if args.resource_type == HELM_RELEASE:
        if lookup(args.props, "createNamespace") is True:
            report(
                f"{where} creates its namespace (createNamespace: true), which then carries no Pod Security "
                "labels; create the Namespace with its pod-security.kubernetes.io labels and install into it."
            )
        return
    labels = lookup(args.props, "metadata", "labels")
    level = lookup(labels, PSA_ENFORCE)
    if level not in PSA_LEVELS:
        report(
            f"{where} has label {PSA_ENFORCE}={level!r}; set it to the least privileged Pod Security Standard its pods "
            f"pass ({', '.join(PSA_LEVELS)}), so the API server refuses pods that ask for more."
        )
    version = lookup(labels, f"{PSA_ENFORCE}-version")
    if not isinstance(version, str) or not PSA_VERSION.fullmatch(version):
        report(
            f"{where} has label {PSA_ENFORCE}-version={version!r}; pin the standard's version (v1.<minor>) so a "
            "cluster upgrade cannot tighten it under running pods."
        )


def _denies_all_ingress(policy: Any) -> bool:
    """A NetworkPolicy selecting every pod, of type Ingress, admitting nothing."""
    spec = lookup(policy, "spec")
    selector = lookup(spec, "podSelector")
    selects_all = isinstance(selector, dict) and not lookup(selector, "matchLabels") and not lookup(selector, "matchExpressions")
    return selects_all and "Ingress" in as_list(lookup(spec, "policyTypes")) and not as_list(lookup(spec, "ingress"))


def _validate_default_deny(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    denied = {
        kubernetes_namespace(props)
        for props in (plain(policy.props) for policy in of_type(args.resources, NETWORK_POLICY))
        if _denies_all_ingress(props)
    }
    for cluster in of_type(args.resources, CNPG_CLUSTER):
        props = plain(cluster.props)
        namespace = kubernetes_namespace(props)
        if namespace not in denied:
            report_violation(
                f"{label(cluster.resource_type, cluster.name)} ('{kubernetes_name(props)}') runs in namespace "
                f"'{namespace}', which has no default-deny ingress NetworkPolicy (podSelector {{}}, policyTypes "
                "[Ingress], no ingress rules): every pod in the cluster can reach PostgreSQL and the instance manager. "
                "Deny by default, then admit the operator, the instances, the metrics scrapers and the clients.",
                cluster.urn,
            )


WORKLOAD_ISOLATION_POLICIES = [
    resource_policy(
        "namespace-pod-security",
        "Every namespace enforces a pinned Pod Security Standard; Helm never creates unlabelled namespaces.",
        _pod_security,
    ),
    stack_policy(
        "cnpg-namespace-default-deny",
        "A namespace holding a CloudNativePG Cluster denies ingress by default (NetworkPolicy).",
        _validate_default_deny,
    ),
]
