"""Workload isolation inside the cluster: Pod Security Admission on every namespace, and
default-deny ingress where PostgreSQL runs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

from .cidrs import RANGE_BREADTH_SCHEMA, range_problems
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

PSA_PREFIX = "pod-security.kubernetes.io/"
PSA_ENFORCE = f"{PSA_PREFIX}enforce"
PSA_MODES = ("enforce", "audit", "warn")
# What the program sets on every namespace it creates (components/builders/pod_security.py).
REQUIRED_PSA_LEVEL = "restricted"
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


@for_types(KUBERNETES_NAMESPACE)
def _restricted_levels(args: ResourceValidationArgs, report: Report) -> None:
    labels = lookup(args.props, "metadata", "labels")
    levels = {f"{PSA_PREFIX}{mode}": lookup(labels, f"{PSA_PREFIX}{mode}") for mode in PSA_MODES}
    weaker = [f"{key}={level!r}" for key, level in levels.items() if level != REQUIRED_PSA_LEVEL]
    if weaker:
        report(
            f"{label(args.resource_type, args.name)} has {', '.join(weaker)}; every namespace of this program runs pods "
            f"that pass the '{REQUIRED_PSA_LEVEL}' Pod Security Standard, so enforce, audit and warn at "
            f"'{REQUIRED_PSA_LEVEL}' and a pod asking for more privileges is refused."
        )


def _selects_everything(selector: Any) -> bool:
    return isinstance(selector, Mapping) and not lookup(selector, "matchLabels") and not lookup(selector, "matchExpressions")


def _peer_problem(peer: Any, args: ResourceValidationArgs) -> list[str]:
    """Why one ``from`` entry admits every source, or the whole internet."""
    block = lookup(peer, "ipBlock")
    if block is not None:
        return [f"ipBlock.cidr {problem}" for problem in range_problems([lookup(block, "cidr")], args)]
    namespaces, pods = lookup(peer, "namespaceSelector"), lookup(peer, "podSelector")
    if namespaces is None and pods is None:
        return ["is empty, so it admits every source"]
    if _selects_everything(namespaces) and (pods is None or _selects_everything(pods)):
        return ["selects every pod of every namespace"]
    return []


@for_types(NETWORK_POLICY)
def _no_allow_all(args: ResourceValidationArgs, report: Report) -> None:
    where = label(args.resource_type, args.name)
    for index, rule in enumerate(as_list(lookup(args.props, "spec", "ingress"))):
        peers = as_list(lookup(rule, "from"))
        if not peers:
            report(
                f"{where}: spec.ingress[{index}] has no 'from', so it admits every source (any pod, any address); "
                "name the pods, namespaces or client networks it is for."
            )
        for peer_index, peer in enumerate(peers):
            for problem in _peer_problem(peer, args):
                report(f"{where}: spec.ingress[{index}].from[{peer_index}] {problem}; admit only the clients it is for.")


def _denies_all_ingress(policy: Any) -> bool:
    """A NetworkPolicy selecting every pod, of type Ingress, admitting nothing."""
    spec = lookup(policy, "spec")
    selector = lookup(spec, "podSelector")
    denies = "Ingress" in as_list(lookup(spec, "policyTypes")) and not as_list(lookup(spec, "ingress"))
    return denies and _selects_everything(selector)


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
    resource_policy(
        "namespace-pod-security-restricted",
        "Namespaces enforce, audit and warn at the restricted Pod Security Standard, as the program sets them.",
        _restricted_levels,
    ),
    resource_policy(
        "network-policy-no-allow-all",
        "NetworkPolicy ingress rules name their sources: no empty rule or peer, no rule open to the internet.",
        _no_allow_all,
        settings=RANGE_BREADTH_SCHEMA,
    ),
    stack_policy(
        "cnpg-namespace-default-deny",
        "A namespace holding a CloudNativePG Cluster denies ingress by default (NetworkPolicy).",
        _validate_default_deny,
    ),
]
