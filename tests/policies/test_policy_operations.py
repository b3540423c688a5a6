"""Operations policies on the program's own registrations: protected stateful resources and
planned-maintenance windows (mandatory in prod, protect disabled in dev)."""

from __future__ import annotations

import dataclasses

from offline.engine import StackRun, run_stack
from offline.policy_client import EnforcementLevel, PolicyPackSession, PolicyReport, Violation

P = "aks-postgres-ha:"
MAINTENANCE = "azure-native:containerservice:MaintenanceConfiguration"


def _violations(report: PolicyReport, policy: str) -> list[Violation]:
    return [v for v in report.violations if v.policy_name == policy]


def test_prod_protects_every_stateful_resource(policy_pack: PolicyPackSession, prod: StackRun) -> None:
    assert _violations(policy_pack.analyze(prod.registrations, "prod"), "stateful-resources-protected") == []


def test_an_unprotected_prod_is_refused_resource_by_resource(policy_pack: PolicyPackSession) -> None:
    unprotected = run_stack("prod", {P + "protectStatefulResources": False})
    found = _violations(policy_pack.analyze(unprotected.registrations, "prod"), "stateful-resources-protected")
    assert {v.enforcement_level for v in found} == {EnforcementLevel.MANDATORY}
    flagged = {unprotected.by_urn(v.urn).type for v in found}
    assert flagged == {
        "azure-native:containerservice:ManagedCluster",
        "azure-native:storage:StorageAccount",
        "azure-native:storage:BlobContainer",
        "azure-native:managedidentity:UserAssignedIdentity",
        "kubernetes:core/v1:Namespace",
        "kubernetes:postgresql.cnpg.io/v1:Cluster",
    }
    # The database's namespace only, not the operators'.
    namespaces = [unprotected.by_urn(v.urn) for v in found if "Namespace" in v.urn]
    assert [n.inputs["metadata"]["name"] for n in namespaces] == ["cnpg-database"]


def test_a_single_unprotected_cluster_is_caught(policy_pack: PolicyPackSession, prod: StackRun) -> None:
    cluster = prod.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "database-cluster")
    mutated = [dataclasses.replace(r, protect=False) if r.urn == cluster.urn else r for r in prod.registrations]
    found = _violations(policy_pack.analyze(mutated, "prod"), "stateful-resources-protected")
    assert [v.urn for v in found] == [cluster.urn]


def test_a_restore_is_not_protected_and_need_not_be(policy_pack: PolicyPackSession) -> None:
    restored = run_stack("prod", {P + "restore": {"enabled": True, "target": "latest", "clusterName": "pg-restored"}})
    recovery = restored.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "restore-cluster")
    assert recovery.protect is False
    assert _violations(policy_pack.analyze(restored.registrations, "prod"), "stateful-resources-protected") == []


def test_dev_does_not_ask_for_protect(policy_pack: PolicyPackSession, dev: StackRun) -> None:
    assert _violations(policy_pack.analyze(dev.registrations, "dev"), "stateful-resources-protected") == []


def test_maintenance_windows_are_required_in_both_stacks(policy_pack: PolicyPackSession, shipped: StackRun) -> None:
    assert _violations(policy_pack.analyze(shipped.registrations, shipped.stack), "aks-maintenance-windows") == []
    for dropped in shipped.of_type(MAINTENANCE):
        without = [r for r in shipped.registrations if r.urn != dropped.urn]
        (violation,) = _violations(policy_pack.analyze(without, shipped.stack), "aks-maintenance-windows")
        assert violation.enforcement_level == EnforcementLevel.MANDATORY
        assert dropped.inputs["configName"] in violation.message
