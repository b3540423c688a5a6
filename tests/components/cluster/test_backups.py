from offline.engine import StackRun, run_stack
from tests.test_settings import _section

PLUGIN = {"method": "plugin", "pluginConfiguration": {"name": "barman-cloud.cloudnative-pg.io"}}


def test_scheduled_backup_uses_the_plugin_after_the_cluster_is_ready(prod: StackRun) -> None:
    scheduled = prod.one("kubernetes:postgresql.cnpg.io/v1:ScheduledBackup")
    spec = scheduled.inputs["spec"]
    assert spec["schedule"] == "0 0 2 * * *"
    assert spec["backupOwnerReference"] == "self"
    assert spec["cluster"] == {"name": "pg-primary"}
    assert {key: spec[key] for key in PLUGIN} == PLUGIN
    assert prod.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "database-cluster").urn in scheduled.dependencies
    assert "spec.cluster" in scheduled.replace_on_changes
    assert "pulumi.com/waitFor" not in (scheduled.inputs["metadata"].get("annotations") or {})


def test_on_demand_backups_from_settings() -> None:
    run = run_stack(
        "dev", {"aks-postgres-ha:backup": _section("dev", "backup", onDemand=["before-upgrade", "on-demand-backup-1"])}
    )
    backups = {r.inputs["metadata"]["name"]: r for r in run.of_type("kubernetes:postgresql.cnpg.io/v1:Backup")}
    assert set(backups) == {"before-upgrade", "on-demand-backup-1"}
    for backup in backups.values():
        assert backup.inputs["spec"]["cluster"] == {"name": "pg-primary"}
        assert {key: backup.inputs["spec"][key] for key in PLUGIN} == PLUGIN
        assert "spec" in backup.replace_on_changes


def test_no_on_demand_backups_by_default(shipped: StackRun) -> None:
    assert not shipped.of_type("kubernetes:postgresql.cnpg.io/v1:Backup")
