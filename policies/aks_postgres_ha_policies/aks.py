"""The AKS cluster: workload identity, a locked-down API server, zone-spread node pools, support."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs

from .cidrs import RANGE_BREADTH_SCHEMA, range_problems
from .common import (
    Report,
    as_list,
    described,
    for_types,
    int_setting,
    integer_schema,
    label,
    lookup,
    not_true,
    resource_policy,
    text_setting,
)
from .resource_types import AGENT_POOL, MANAGED_CLUSTER

MIN_ZONES = 3
# The oldest minor both AKS (1.34 retired 2026-11-30) and CloudNativePG 1.30 (1.34-1.36) support; the
# settings table (settings/aks.py SUPPORTED_KUBERNETES_MINORS) is the source, a test keeps them equal.
MIN_KUBERNETES_VERSION = "1.35"
PAID_SKU_TIERS = ("Standard", "Premium")
# AKS network policy engines (networkProfile.networkPolicy); 'none' or unset: NetworkPolicies are ignored.
NETWORK_POLICY_ENGINES = ("cilium", "calico", "azure")


@for_types(MANAGED_CLUSTER)
def _workload_identity(args: ResourceValidationArgs, report: Report) -> None:
    missing = not_true(args.props, "oidcIssuerProfile.enabled", "securityProfile.workloadIdentity.enabled")
    if missing:
        report(
            f"{label(args.resource_type, args.name)}: {'; '.join(missing)}. Set oidc_issuer_profile.enabled=True and "
            "security_profile.workload_identity.enabled=True: the Barman Cloud plugin reaches Blob Storage through "
            "a federated workload identity, which needs both."
        )


@for_types(MANAGED_CLUSTER)
def _authorized_ranges(args: ResourceValidationArgs, report: Report) -> None:
    if lookup(args.props, "apiServerAccessProfile", "enablePrivateCluster") is True:
        return
    ranges = as_list(lookup(args.props, "apiServerAccessProfile", "authorizedIPRanges"))
    where = label(args.resource_type, args.name)
    if not ranges:
        report(
            f"{where}: apiServerAccessProfile.authorizedIPRanges is empty, so the Kubernetes API server is reachable "
            "from any address. Set api_server_access_profile.authorized_ip_ranges to the office/VPN/CI egress ranges "
            "(or make the cluster private)."
        )
    for problem in range_problems(ranges, args):
        report(
            f"{where}: apiServerAccessProfile.authorizedIPRanges entry {problem}; "
            "list only the networks that administer the cluster."
        )


def _pools(args: ResourceValidationArgs) -> Iterator[tuple[str, Any]]:
    """(description, pool properties) of every node pool the resource declares."""
    if args.resource_type == MANAGED_CLUSTER:
        for index, pool in enumerate(as_list(lookup(args.props, "agentPoolProfiles"))):
            name = lookup(pool, "name") or f"#{index}"
            yield f"node pool '{name}' (agentPoolProfiles[{index}]) of {label(args.resource_type, args.name)}", pool
    else:
        name = lookup(args.props, "agentPoolName") or args.name
        yield f"{label(args.resource_type, args.name)} (pool '{name}')", args.props


@for_types(MANAGED_CLUSTER, AGENT_POOL)
def _zone_spread(args: ResourceValidationArgs, report: Report) -> None:
    required = int_setting(args, "minZones", MIN_ZONES)
    for where, pool in _pools(args):
        zones = sorted({str(zone) for zone in as_list(lookup(pool, "availabilityZones"))})
        if len(zones) < required:
            report(
                f"{where} spans {len(zones)} availability zone(s) {zones}; set availability_zones to at least {required} "
                f"zones (e.g. {[str(zone) for zone in range(1, required + 1)]}) so a zone outage leaves nodes for the "
                "PostgreSQL instances to fail over to."
            )


def _minor_version(version: str) -> tuple[int, int] | None:
    match = re.match(r"^\s*v?(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else None


@for_types(MANAGED_CLUSTER, AGENT_POOL)
def _supported_version(args: ResourceValidationArgs, report: Report) -> None:
    minimum_text = text_setting(args, "minKubernetesVersion", MIN_KUBERNETES_VERSION)
    minimum = _minor_version(minimum_text)
    where = label(args.resource_type, args.name)

    def check(subject: str, key: str, version: Any) -> None:
        found = _minor_version(str(version))
        if found is None or minimum is None or found < minimum:
            report(
                f"{subject}: {key} is '{version}'; CloudNativePG 1.30 supports Kubernetes {minimum_text} and newer, "
                f"so use {minimum_text} or later."
            )

    if args.resource_type == MANAGED_CLUSTER:
        version = lookup(args.props, "kubernetesVersion")
        if version is None:
            report(
                f"{where}: kubernetesVersion is not set, so AKS picks its current default; "
                f"pin kubernetes_version >= {minimum_text}."
            )
        else:
            check(where, "kubernetesVersion", version)
        # Inline pools (the postgres pool among them) may pin their own node version; unset follows the cluster.
        for subject, pool in _pools(args):
            if lookup(pool, "orchestratorVersion") is not None:
                check(subject, "orchestratorVersion", lookup(pool, "orchestratorVersion"))
        return
    version = lookup(args.props, "orchestratorVersion")
    if version is not None:
        check(where, "orchestratorVersion", version)


@for_types(MANAGED_CLUSTER)
def _paid_tier(args: ResourceValidationArgs, report: Report) -> None:
    tier = lookup(args.props, "sku", "tier")
    if tier not in PAID_SKU_TIERS:
        report(
            f"{label(args.resource_type, args.name)}: {described('sku.tier', tier)} (Free: no API server uptime SLA); "
            "use sku.tier='Standard' for a production database platform."
        )


@for_types(MANAGED_CLUSTER)
def _network_policy_engine(args: ResourceValidationArgs, report: Report) -> None:
    engine = lookup(args.props, "networkProfile", "networkPolicy")
    if engine not in NETWORK_POLICY_ENGINES:
        report(
            f"{label(args.resource_type, args.name)}: {described('networkProfile.networkPolicy', engine)}, so no engine "
            "enforces NetworkPolicies and the database namespace's default-deny is decoration; set it to 'cilium' "
            "(with networkDataplane 'cilium', as the program does)."
        )


AKS_POLICIES = [
    resource_policy("aks-workload-identity", "AKS clusters enable the OIDC issuer and workload identity.", _workload_identity),
    resource_policy(
        "aks-api-server-authorized-ranges",
        "The AKS API server is reachable only from authorized address ranges (or privately).",
        _authorized_ranges,
        settings=RANGE_BREADTH_SCHEMA,
    ),
    resource_policy(
        "aks-network-policy-engine",
        "AKS clusters run a NetworkPolicy engine (Cilium), so NetworkPolicies are enforced.",
        _network_policy_engine,
    ),
    resource_policy(
        "aks-zone-redundant-node-pools",
        "Every AKS node pool spans enough availability zones.",
        _zone_spread,
        settings={"minZones": integer_schema(MIN_ZONES, 1, 3)},
    ),
    resource_policy(
        "aks-supported-kubernetes-version",
        "AKS runs a pinned Kubernetes version that CloudNativePG supports.",
        _supported_version,
        level=EnforcementLevel.ADVISORY,
        settings={"minKubernetesVersion": {"type": "string", "pattern": r"^\d+\.\d+$", "default": MIN_KUBERNETES_VERSION}},
    ),
    resource_policy(
        "aks-paid-sku-tier",
        "AKS uses a tier with an API server uptime SLA (not Free).",
        _paid_tier,
        level=EnforcementLevel.ADVISORY,
    ),
]
