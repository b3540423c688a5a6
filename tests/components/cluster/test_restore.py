import re

import pytest

from components.cluster.restore import archive_keepers
from offline.engine import Registration, StackRun, run_stack, stack_config
from settings import RestoreSettings

CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
SCHEDULED_BACKUP = "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup"
RANDOM_STRING = "random:index/randomString:RandomString"
CREDENTIAL = "azure-native:managedidentity:FederatedIdentityCredential"


def _restore(target: dict, stack: str = "prod", **backup: object) -> StackRun:
    overrides: dict[str, object] = {"aks-postgres-ha:restore": {"enabled": True, "clusterName": "pg-restored", **target}}
    if backup:
        overrides["aks-postgres-ha:backup"] = {**stack_config(stack)["aks-postgres-ha:backup"], **backup}
    return run_stack(stack, overrides)


def _archiver_server_name(cluster: Registration) -> str:
    (archiver,) = [plugin for plugin in cluster.inputs["spec"]["plugins"] if plugin.get("isWALArchiver")]
    return archiver["parameters"]["serverName"]


def test_no_restore_unless_asked(shipped: StackRun) -> None:
    assert [r.name for r in shipped.of_type(CLUSTER)] == ["database-cluster"]
    assert not [r for r in shipped.of_type(RANDOM_STRING) if r.name.startswith("restore")]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ({"target": "latest"}, None),
        ({"target": "backup", "backupId": "20261123T020000"}, {"backupID": "20261123T020000", "targetImmediate": True}),
        ({"target": "time", "targetTime": "2026-11-23T10:00:00Z"}, {"targetTime": "2026-11-23T10:00:00Z"}),
    ],
)
def test_recovery_cluster_from_the_object_store(target: dict, expected: dict | None) -> None:
    run = _restore(target)
    primary = run.one(CLUSTER, "database-cluster").inputs["spec"]
    restored = run.one(CLUSTER, "restore-cluster")
    spec = restored.inputs["spec"]
    recovery = spec["bootstrap"]["recovery"]
    assert recovery["source"] == "origin"
    assert recovery.get("recoveryTarget") == expected
    (origin,) = spec["externalClusters"]
    assert origin["plugin"]["parameters"] == {"barmanObjectName": "pg-primary-backups", "serverName": "pg-primary"}
    # Same major, same flavour, volumes at least as large as the source.
    assert spec["imageCatalogRef"] == primary["imageCatalogRef"]  # the source's catalog, in the same namespace
    assert spec["storage"] == primary["storage"] and spec["walStorage"] == primary["walStorage"]
    assert restored.inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    assert run.one(CLUSTER, "database-cluster").urn in restored.dependencies


def test_recovery_archives_into_a_folder_of_its_own() -> None:
    run = _restore({"target": "latest"})
    restored = run.one(CLUSTER, "restore-cluster")
    server_name = _archiver_server_name(restored)
    # Never the source's folder, never the bare cluster name an earlier restore may have filled.
    assert server_name != _archiver_server_name(run.one(CLUSTER, "database-cluster")) == "pg-primary"
    assert re.fullmatch(r"pg-restored-[a-z0-9]{8}", server_name), server_name
    # The suffix is the restore's own random resource: deleted when the restore is disabled, new
    # when it is enabled again, so the value flows from it into the Cluster.
    suffix = run.one(RANDOM_STRING, "restore-archive-suffix")
    assert suffix.parent == run.one("aks-postgres-ha:components:RestoredCluster", "restore").urn
    assert suffix.urn in restored.property_dependencies["spec"]
    assert suffix.inputs["length"] == 8 and suffix.inputs["upper"] is False and suffix.inputs["special"] is False
    assert suffix.inputs["keepers"] == {"clusterName": "pg-restored", "target": "latest", "backupId": "", "targetTime": ""}


def test_a_different_target_renews_the_archive_folder() -> None:
    targets = [
        RestoreSettings(enabled=True, target="latest"),
        RestoreSettings(enabled=True, target="backup", backup_id="20261123T020000"),
        RestoreSettings(enabled=True, target="backup", backup_id="20261124T020000"),
        RestoreSettings(enabled=True, target="time", target_time="2026-11-23T10:00:00Z"),
        RestoreSettings(enabled=True, target="latest", cluster_name="pg-restored-2"),
    ]
    keepers = [tuple(sorted(archive_keepers(target).items())) for target in targets]
    assert len(set(keepers)) == len(targets)


def test_recovery_cluster_is_backed_up_into_its_own_folder() -> None:
    run = _restore({"target": "latest"}, onDemand=["before-upgrade"])
    schedules = {r.inputs["spec"]["cluster"]["name"]: r for r in run.of_type(SCHEDULED_BACKUP)}
    assert set(schedules) == {"pg-primary", "pg-restored"}
    restored_schedule = schedules["pg-restored"]
    assert restored_schedule.inputs["spec"]["method"] == "plugin"
    assert restored_schedule.inputs["metadata"]["name"] != schedules["pg-primary"].inputs["metadata"]["name"]
    assert run.one(CLUSTER, "restore-cluster").urn in restored_schedule.dependencies
    # On-demand backups stay the primary's (a second Backup of the same name would collide).
    backups = run.of_type("kubernetes:postgresql.cnpg.io/v1:Backup")
    assert [b.inputs["spec"]["cluster"]["name"] for b in backups] == ["pg-primary"]


def test_recovery_cluster_has_its_own_federated_credential_written_after_the_primarys() -> None:
    run = _restore({"target": "latest"})
    subjects = {r.inputs["subject"]: r for r in run.of_type(CREDENTIAL)}
    account = "system:serviceaccount:cnpg-database:"
    assert set(subjects) == {account + "pg-primary", account + "pg-primary-drill", account + "pg-restored"}
    restored_credential = subjects[account + "pg-restored"]
    assert restored_credential.urn in run.one(CLUSTER, "restore-cluster").dependencies
    # Azure refuses concurrent federated-credential writes on one identity: each waits for the one before.
    assert subjects[account + "pg-primary"].urn in subjects[account + "pg-primary-drill"].dependencies
    assert subjects[account + "pg-primary-drill"].urn in restored_credential.dependencies
