"""Volume-snapshot base backups beside the object-store ones, and a restore from them: new disks
from the snapshots, then WAL from the Blob archive (cloudnative-pg v1.30.0 recovery.md, "Recovery
from VolumeSnapshot objects"). Off by default: the shipped stacks render no snapshot schedule."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi import RunError

from offline.engine import StackRun, run_stack
from offline.render import kubernetes_objects
from tests.k8s_schema import validate_object
from tests.test_settings import P, _section

CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
SCHEDULED_BACKUP = "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup"
SNAPSHOTS = {"enabled": True}
SNAPSHOT_RESTORE = {"enabled": True, "method": "volumeSnapshot", "snapshotBackup": "pg-primary-snapshots-20261207030000"}


def _run(stack: str, restore: dict[str, Any] | None = None) -> StackRun:
    config: dict[str, Any] = {P + "backup": _section(stack, "backup", volumeSnapshot=SNAPSHOTS)}
    if restore:
        config[P + "restore"] = restore
    return run_stack(stack, config)


@pytest.fixture(scope="module")
def with_snapshots() -> StackRun:
    return _run("prod", SNAPSHOT_RESTORE)


def test_shipped_stacks_take_no_snapshots(prod: StackRun) -> None:
    assert "backup" not in prod.one(CLUSTER, "database-cluster").inputs["spec"]
    assert len(prod.of_type(SCHEDULED_BACKUP)) == 1


def test_snapshots_are_taken_beside_the_object_store_backups(with_snapshots: StackRun) -> None:
    spec = with_snapshots.one(CLUSTER, "database-cluster").inputs["spec"]
    assert spec["backup"] == {
        "volumeSnapshot": {
            "className": "csi-azuredisk-vsc",
            "online": True,
            "onlineConfiguration": {"immediateCheckpoint": False, "waitForArchive": True},
            "snapshotOwnerReference": "backup",
        }
    }
    # WAL still goes to Blob storage through the plugin.
    assert spec["plugins"][0]["isWALArchiver"] is True
    schedules = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in with_snapshots.of_type(SCHEDULED_BACKUP)}
    assert schedules["pg-primary-scheduled"]["method"] == "plugin"
    assert schedules["pg-primary-snapshots"] == {
        "schedule": "0 0 3 * * *",
        "cluster": {"name": "pg-primary"},
        "backupOwnerReference": "self",
        "immediate": False,
        "target": "prefer-standby",
        "method": "volumeSnapshot",
    }


def test_a_restore_from_snapshots_replays_wal_from_the_archive(with_snapshots: StackRun) -> None:
    spec = with_snapshots.one(CLUSTER, "restore-cluster").inputs["spec"]
    recovery = spec["bootstrap"]["recovery"]
    assert recovery["source"] == "origin"
    assert recovery["volumeSnapshots"] == {
        "storage": {
            "name": "pg-primary-snapshots-20261207030000",
            "kind": "VolumeSnapshot",
            "apiGroup": "snapshot.storage.k8s.io",
        },
        "walStorage": {
            "name": "pg-primary-snapshots-20261207030000-wal",
            "kind": "VolumeSnapshot",
            "apiGroup": "snapshot.storage.k8s.io",
        },
    }
    # CNPG's webhook needs walStorage on a cluster restoring a WAL volume snapshot.
    assert "walStorage" in spec
    assert spec["externalClusters"][0]["name"] == "origin"


def test_every_object_stays_valid(with_snapshots: StackRun) -> None:
    assert [problem for obj in kubernetes_objects(with_snapshots) for problem in validate_object(obj, "1.35")] == []


def test_an_object_store_restore_keeps_its_archive_folder_keepers(prod: StackRun) -> None:
    """An existing restore's RandomString keepers do not change with this feature (its folder stays)."""
    before = run_stack("prod", {P + "restore": {"enabled": True}})
    after = _run("prod", {"enabled": True})
    suffix = "random:index/randomString:RandomString"
    assert (
        before.one(suffix, "restore-archive-suffix").inputs["keepers"]
        == after.one(suffix, "restore-archive-suffix").inputs["keepers"]
    )


@pytest.mark.parametrize(
    ("restore", "expected"),
    [
        ({"method": "volumeSnapshot"}, "restore.snapshotBackup: missing, but method 'volumeSnapshot' needs"),
        (
            {"method": "volumeSnapshot", "snapshotBackup": "b1", "target": "backup", "backupId": "20261123T020000"},
            "restore.target: 'backup' — a restore from volume snapshots starts from snapshotBackup",
        ),
        ({"snapshotBackup": "b1"}, "restore.snapshotBackup: 'b1' — only method 'volumeSnapshot' reads it"),
        ({"method": "clone"}, "restore.method: 'clone' — Input should be 'objectStore' or 'volumeSnapshot'"),
    ],
)
def test_snapshot_restore_settings_cnpg_refuses_are_refused(restore: dict[str, Any], expected: str) -> None:
    with pytest.raises(RunError) as raised:
        run_stack("prod", {P + "restore": {"enabled": True, **restore}})
    assert expected in str(raised.value)
    assert not raised.value.registrations  # type: ignore[attr-defined]
