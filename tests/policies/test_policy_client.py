"""The gRPC client: what it reports, how it merges configuration, and that it never leaks a process."""

from __future__ import annotations

from pathlib import Path

import pytest

from offline.engine import PROJECT_DIR
from offline.policy_client import EnforcementLevel, PolicyPackError, PolicyPackSession, analyze

from .baseline import compliant_stack
from .expectations import Analyze, only
from .synthetic import UNKNOWN

MANDATORY_POLICIES = {
    "storage-https-only",
    "storage-minimum-tls",
    "storage-no-public-blob-access",
    "storage-shared-key-disabled",
    "storage-blob-soft-delete",
    "aks-workload-identity",
    "aks-api-server-authorized-ranges",
    "aks-zone-redundant-node-pools",
    "role-assignment-scope",
    "identity-separation",
    "load-balancer-source-ranges",
    "public-ip-behind-load-balancer",
    "cnpg-min-instances",
    "cnpg-synchronous-replication",
    "cnpg-data-checksums",
    "cnpg-guaranteed-qos",
    "cnpg-sidecar-guaranteed-qos",
    "cnpg-pinned-image",
    "cnpg-instance-pod-selectors",
    "cnpg-pg-hba-tls-scram",
    "cnpg-wal-archiver-plugin",
    "cnpg-backups-configured",
    "cnpg-federated-credentials",
    "cnpg-pooler-connection-budget",
    "no-plaintext-credentials",
    "aks-entra-id-only",
    "kubernetes-provider-exec-credentials",
    "namespace-pod-security",
    "cnpg-namespace-default-deny",
    "alerts-routed",
    "storage-private-endpoint-only",
    "internal-load-balancer-private",
    "aks-maintenance-windows",
    # Issue 17: every weakening of what the program ships.
    "policy-config-environment",
    "pooler-load-balancer-internal",
    "cnpg-pooler-tls",
    "cnpg-safe-parameters",
    "cnpg-no-superuser-access",
    "network-policy-no-allow-all",
    "aks-network-policy-engine",
    "namespace-pod-security-restricted",
    "role-assignment-no-privileged-role",
    "storage-no-cross-tenant-replication",
    "grafana-api-keys-disabled",
    "images-from-allowed-registries",
    "images-pinned-by-digest",
    # Issue 19: many clusters per AKS, one archive each.
    "cluster-archive-isolation",
}


def test_pack_describes_its_policies_and_schema_defaults(analyze: Analyze) -> None:
    report = analyze(compliant_stack(), {})
    levels = {policy.name: policy.enforcement_level for policy in report.policies}
    assert {name for name, level in levels.items() if level == EnforcementLevel.MANDATORY} == MANDATORY_POLICIES
    assert all(policy.description for policy in report.policies)
    assert report.policy("cnpg-min-instances").config == {"minInstances": 3}
    assert report.policy("aks-zone-redundant-node-pools").config == {"minZones": 3}
    assert report.policy("storage-minimum-tls").config == {"minTlsVersion": "TLS1_2"}
    assert report.policy("identity-separation").kind == "stack"


def test_dev_config_relaxes_what_dev_does_on_purpose(analyze: Analyze) -> None:
    levels = {policy.name: policy.enforcement_level for policy in analyze(compliant_stack("dev")).policies}
    assert levels["aks-zone-redundant-node-pools"] == EnforcementLevel.ADVISORY
    assert levels["aks-paid-sku-tier"] == EnforcementLevel.DISABLED
    # dev names no alert receiver: its alerts stay in the Azure portal.
    assert levels["alerts-routed"] == EnforcementLevel.ADVISORY
    # dev may recreate everything; its upgrades still wait for their windows.
    assert levels["stateful-resources-protected"] == EnforcementLevel.DISABLED
    assert levels["aks-maintenance-windows"] == EnforcementLevel.MANDATORY
    # dev's poolers may be public load balancers (still limited to the client ranges).
    assert levels["pooler-load-balancer-internal"] == EnforcementLevel.DISABLED
    assert levels["load-balancer-source-ranges"] == EnforcementLevel.MANDATORY


def test_all_sets_every_level_before_policy_entries(analyze: Analyze) -> None:
    stack = compliant_stack().with_value("storage-account", "allowSharedKeyAccess", True).without("scheduled-backup")
    assert analyze(stack, {"all": "disabled"}).violations == ()
    report = analyze(stack, {"all": "advisory", "storage-shared-key-disabled": "mandatory"})
    assert [v.policy_name for v in report.mandatory_violations] == ["storage-shared-key-disabled"]
    # "all" also turns on what the pack leaves off by default: dev's unprotected resources.
    assert {v.policy_name for v in report.advisory_violations} == {"cnpg-backups-configured", "stateful-resources-protected"}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"aks-zone-redundant-node-pools": {"minZones": "three"}}, "'three' is not of type 'integer'"),
        ({"storage-minimum-tls": {"minTlsVersion": "TLS1_0"}}, "is not one of"),
        ({"no-such-policy": "mandatory"}, "no-such-policy"),
        ({"storage-https-only": "strict"}, "'strict' is not an enforcement level"),
    ],
)
def test_invalid_config_is_refused(analyze: Analyze, config: dict[str, object], expected: str) -> None:
    with pytest.raises(PolicyPackError, match=expected):
        analyze(compliant_stack(), config)


def test_unknown_values_make_a_resource_policy_advisory_in_preview(analyze: Analyze) -> None:
    stack = compliant_stack().with_value("storage-account", "enableHttpsTrafficOnly", UNKNOWN)
    violation = only(analyze(stack), "storage-https-only", stack.urn("storage-account"), EnforcementLevel.ADVISORY)
    assert "can't be known during preview" in violation.message


def test_one_shot_analysis_runs_its_own_server() -> None:
    stack = compliant_stack("prod").with_value("aks", "sku.tier", "Free")
    report = analyze(stack.registrations(), "prod")
    assert [(v.policy_name, v.urn) for v in report.mandatory_violations] == [("aks-paid-sku-tier", stack.urn("aks"))]


def test_session_stops_its_server_even_when_the_caller_fails() -> None:
    session = PolicyPackSession()
    with pytest.raises(RuntimeError, match="caller"), session:
        assert session.running
        raise RuntimeError("caller")
    assert not session.running


def test_broken_pack_reports_its_traceback(tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text("raise ImportError('no such policy module')\n")
    virtualenv = PROJECT_DIR / ".venv"  # the CLI runs a pack only with the interpreter PulumiPolicy.yaml names
    (tmp_path / "PulumiPolicy.yaml").write_text(f"runtime:\n  name: python\n  options:\n    virtualenv: {virtualenv}\n")
    session = PolicyPackSession(tmp_path)
    with pytest.raises(PolicyPackError, match="no such policy module"):
        session.start()
    assert not session.running
