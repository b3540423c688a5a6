"""AKS policies: workload identity, API server ranges, zones, version, SKU tier."""

from __future__ import annotations

import json

import pytest

from offline.engine import PROJECT_DIR
from offline.policy_client import EnforcementLevel
from settings import SUPPORTED_KUBERNETES_MINORS

from .baseline import compliant_stack
from .expectations import Analyze, flagged, only, passes
from .synthetic import SyntheticStack

CLUSTER = "aks"
POOL = "postgres-pool"


@pytest.mark.parametrize("path", ["oidcIssuerProfile.enabled", "securityProfile.workloadIdentity.enabled"])
def test_workload_identity_prerequisites_are_required(analyze: Analyze, path: str) -> None:
    stack = compliant_stack().with_value(CLUSTER, path, False)
    assert f"{path} is false" in only(analyze(stack), "aks-workload-identity", stack.urn(CLUSTER)).message


def test_missing_security_profile_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().without(CLUSTER, "securityProfile")
    only(analyze(stack), "aks-workload-identity", stack.urn(CLUSTER))


@pytest.mark.parametrize("ranges", [[], ["0.0.0.0/0"], ["203.0.113.0/24", "::/0"], ["0.0.0.0/1", "128.0.0.0/1"], ["not-an-ip"]])
def test_api_server_must_be_restricted(analyze: Analyze, ranges: list[str]) -> None:
    stack = compliant_stack().with_value(CLUSTER, "apiServerAccessProfile.authorizedIPRanges", ranges)
    report = analyze(stack)
    assert report.of_policy("aks-api-server-authorized-ranges"), report.describe()
    assert {v.urn for v in report.violations} == {stack.urn(CLUSTER)}, report.describe()


def test_unset_api_server_ranges_are_refused(analyze: Analyze) -> None:
    stack = compliant_stack().without(CLUSTER, "apiServerAccessProfile")
    only(analyze(stack), "aks-api-server-authorized-ranges", stack.urn(CLUSTER))


def test_private_cluster_needs_no_authorized_ranges(analyze: Analyze) -> None:
    stack = compliant_stack().with_value(CLUSTER, "apiServerAccessProfile", {"enablePrivateCluster": True})
    passes(analyze(stack), "aks-api-server-authorized-ranges")


def test_range_breadth_is_configurable(analyze: Analyze) -> None:
    stack = compliant_stack()
    report = analyze(stack, {"aks-api-server-authorized-ranges": {"minIpv4PrefixLength": 28}})
    assert "broader than the allowed /28" in only(report, "aks-api-server-authorized-ranges", stack.urn(CLUSTER)).message


def test_single_zone_agent_pool_is_mandatory_in_prod_and_advisory_in_dev(analyze: Analyze) -> None:
    for stack_name, level in (("prod", EnforcementLevel.MANDATORY), ("dev", EnforcementLevel.ADVISORY)):
        stack = compliant_stack(stack_name).with_value(POOL, "availabilityZones", ["1"])
        violation = only(analyze(stack), "aks-zone-redundant-node-pools", stack.urn(POOL), level)
        assert "spans 1 availability zone" in violation.message


def test_zoneless_system_pool_is_named(analyze: Analyze) -> None:
    stack = compliant_stack("prod").without(CLUSTER, "agentPoolProfiles.0.availabilityZones")
    violation = only(analyze(stack), "aks-zone-redundant-node-pools", stack.urn(CLUSTER))
    assert "node pool 'systempool'" in violation.message


def _with_inline_postgres_pool(stack_name: str, **postgres: object) -> SyntheticStack:
    """The program's layout: the postgres pool inline beside the system pool, no separate AgentPool."""
    system = {"name": "systempool", "mode": "System", "count": 2, "availabilityZones": ["1", "2", "3"]}
    pool = {"name": "postgres", "mode": "User", "count": 3, "availabilityZones": ["1", "2", "3"], "orchestratorVersion": "1.35"}
    return compliant_stack(stack_name).without(POOL).with_value(CLUSTER, "agentPoolProfiles", [system, {**pool, **postgres}])


def test_the_inline_postgres_pool_is_held_to_the_zone_rule(analyze: Analyze) -> None:
    passes(analyze(_with_inline_postgres_pool("prod")), "aks-zone-redundant-node-pools")
    stack = _with_inline_postgres_pool("prod", availabilityZones=["1"])
    violation = only(analyze(stack), "aks-zone-redundant-node-pools", stack.urn(CLUSTER))
    assert "node pool 'postgres' (agentPoolProfiles[1])" in violation.message
    assert "spans 1 availability zone" in violation.message


def test_the_inline_postgres_pool_is_held_to_the_version_rule(analyze: Analyze) -> None:
    passes(analyze(_with_inline_postgres_pool("prod")), "aks-supported-kubernetes-version")
    stack = _with_inline_postgres_pool("prod", orchestratorVersion="1.31")
    violation = only(analyze(stack), "aks-supported-kubernetes-version", stack.urn(CLUSTER))
    assert "node pool 'postgres' (agentPoolProfiles[1])" in violation.message
    assert "orchestratorVersion is '1.31'" in violation.message


def test_zone_count_is_configurable(analyze: Analyze) -> None:
    stack = compliant_stack("prod").with_value(POOL, "availabilityZones", ["1", "2"])
    passes(analyze(stack, {"aks-zone-redundant-node-pools": {"minZones": 2}}), "aks-zone-redundant-node-pools")


def test_unsupported_kubernetes_version(analyze: Analyze) -> None:
    stack = compliant_stack("prod").with_value(CLUSTER, "kubernetesVersion", "1.31")
    assert "'1.31'" in only(analyze(stack), "aks-supported-kubernetes-version", stack.urn(CLUSTER)).message
    dev = compliant_stack("dev").without(POOL, "orchestratorVersion").without(CLUSTER, "kubernetesVersion")
    only(analyze(dev), "aks-supported-kubernetes-version", dev.urn(CLUSTER), EnforcementLevel.ADVISORY)


def test_free_tier_is_disabled_in_dev_and_mandatory_in_prod(analyze: Analyze) -> None:
    passes(analyze(compliant_stack("dev").with_value(CLUSTER, "sku.tier", "Free")), "aks-paid-sku-tier")
    prod = compliant_stack("prod").with_value(CLUSTER, "sku.tier", "Free")
    flagged(analyze(prod), "aks-paid-sku-tier", prod.urn(CLUSTER))


def test_the_pack_minimum_is_the_oldest_minor_the_settings_accept(analyze: Analyze) -> None:
    oldest = min(SUPPORTED_KUBERNETES_MINORS)
    pinned = {"enforcementLevel": "mandatory", "minKubernetesVersion": f"1.{oldest}"}
    for config in (None, {"aks-supported-kubernetes-version": pinned}):
        accepted = compliant_stack("prod").with_value(CLUSTER, "kubernetesVersion", f"1.{oldest}")
        passes(analyze(accepted, config), "aks-supported-kubernetes-version")
        retired = compliant_stack("prod").with_value(CLUSTER, "kubernetesVersion", f"1.{oldest - 1}")
        flagged(analyze(retired, config), "aks-supported-kubernetes-version", retired.urn(CLUSTER))
    shipped = json.loads((PROJECT_DIR / "policies" / "config.prod.json").read_text())
    assert shipped["aks-supported-kubernetes-version"]["minKubernetesVersion"] == f"1.{oldest}"
