"""With a restore enabled, the shipped stacks still satisfy every mandatory policy, for each target:
the recovery cluster is backed up into a WAL folder of its own (components/cluster/restore.py)."""

from __future__ import annotations

import pytest

from offline.engine import run_stack, stack_config
from offline.policy_client import PolicyPackSession

TARGETS = {
    "latest": {"target": "latest"},
    "time": {"target": "time", "targetTime": "2026-11-23T10:00:00Z"},
    "backup": {"target": "backup", "backupId": "20261123T020000"},
}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_restore_passes_every_mandatory_policy(policy_pack: PolicyPackSession, stack: str, target: str) -> None:
    run = run_stack(stack, {"aks-postgres-ha:restore": {"enabled": True, "clusterName": "pg-restored", **TARGETS[target]}})
    assert any(r.name == "restore-cluster" for r in run.registrations)
    report = policy_pack.analyze(run.registrations, stack)
    assert not report.mandatory_violations, report.describe(report.mandatory_violations)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_snapshot_backups_and_a_snapshot_restore_pass_every_mandatory_policy(policy_pack: PolicyPackSession, stack: str) -> None:
    backup = {**stack_config(stack)["aks-postgres-ha:backup"], "volumeSnapshot": {"enabled": True}}
    restore = {"enabled": True, "method": "volumeSnapshot", "snapshotBackup": "pg-primary-snapshots-20261207030000"}
    run = run_stack(stack, {"aks-postgres-ha:backup": backup, "aks-postgres-ha:restore": restore})
    assert sum(r.type.endswith(":ScheduledBackup") for r in run.registrations) == 4
    report = policy_pack.analyze(run.registrations, stack)
    assert not report.mandatory_violations, report.describe(report.mandatory_violations)
