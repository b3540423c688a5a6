"""The restore drill from a volume-snapshot backup, and pruning the snapshot backups CNPG keeps forever,
with the fake kubectl of test_drill_command.py."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.drill.test_drill_command import SOURCE_CLUSTER, FakeKubectl, outputs_file  # noqa: F401 (fixture)
from tools.drill import __main__ as drill
from tools.drill.restore import snapshot_backups_to_prune

SNAPSHOT_CLASS = {"volumeSnapshot": {"className": "csi-azuredisk-vsc"}}


def _backup(name: str, stopped: str, method: str = "volumeSnapshot", phase: str = "completed") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": stopped},
        "spec": {"cluster": {"name": "pg-primary"}, "method": method},
        "status": {"phase": phase, "stoppedAt": stopped},
    }


BACKUPS = [
    _backup("pg-primary-snapshots-3", "2026-12-03T03:00:40Z"),
    _backup("pg-primary-snapshots-1", "2026-12-01T03:00:40Z"),
    _backup("pg-primary-scheduled-1", "2026-11-30T02:10:00Z", method="plugin"),
    _backup("pg-primary-snapshots-2", "2026-12-02T03:00:40Z"),
    _backup("pg-primary-snapshots-4", "2026-12-04T03:00:40Z", phase="running"),
]


class SnapshotKubectl(FakeKubectl):
    """The source Cluster takes volume-snapshot backups; backups list as BACKUPS."""

    def run(self, arguments: Sequence[str], stdin: str | None = None, timeout: float = 0) -> str:
        if arguments[:2] == ["get", "backups.postgresql.cnpg.io"] and arguments[2] == "-n":
            self.calls.append(list(arguments))
            return json.dumps({"items": BACKUPS})
        answer = super().run(arguments, stdin, timeout)
        if arguments[0] == "get" and arguments[1] == "clusters.postgresql.cnpg.io" and "--ignore-not-found" not in arguments:
            cluster = json.loads(answer)
            cluster["spec"]["backup"] = SNAPSHOT_CLASS
            cluster["spec"]["walStorage"] = {"size": "16Gi"}
            return json.dumps(cluster)
        return answer


def test_the_restore_drill_restores_from_snapshots_and_reports_its_time(
    outputs_file: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["restore", "--stack", "dev", "--outputs", str(outputs_file), "--method", "volumeSnapshot", "--json"]
    assert drill.main([*argv, "--timeout", "30"], kubectl=SnapshotKubectl) == 0
    kube = SnapshotKubectl.instances[-1]
    backup, recovery = kube.created
    assert backup["spec"] == {"cluster": {"name": "pg-primary"}, "method": "volumeSnapshot"}
    name = backup["metadata"]["name"]
    recovery_spec = recovery["spec"]["bootstrap"]["recovery"]
    assert recovery_spec["volumeSnapshots"]["storage"]["name"] == name
    assert recovery_spec["volumeSnapshots"]["walStorage"]["name"] == f"{name}-wal"
    # CNPG refuses a backupID with volume snapshots; WAL still comes from the archive.
    assert recovery_spec["recoveryTarget"] == {"targetImmediate": True}
    assert recovery_spec["source"] == "origin" and recovery["spec"]["externalClusters"][0]["name"] == "origin"
    assert "backup" not in recovery["spec"]
    # The drill's snapshot Backup goes, and its snapshots with it.
    assert [
        "delete",
        "backups.postgresql.cnpg.io",
        name,
        "-n",
        "cnpg-database",
        "--ignore-not-found",
        "--wait=false",
    ] in kube.calls
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "volumeSnapshot" and report["passed"] is True
    assert isinstance(report["restoreSeconds"], float) and isinstance(report["backupSeconds"], float)


def test_the_snapshot_drill_needs_snapshot_backups_on_the_cluster(
    outputs_file: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["restore", "--stack", "dev", "--outputs", str(outputs_file), "--method", "volumeSnapshot", "--timeout", "30"]
    assert drill.main(argv, kubectl=FakeKubectl) == 1
    assert "takes no volume-snapshot backups; set backup.volumeSnapshot.enabled true" in capsys.readouterr().err
    assert FakeKubectl.instances[-1].created == []
    assert "volumeSnapshot" not in json.dumps(SOURCE_CLUSTER)


def test_only_completed_snapshot_backups_beyond_the_newest_are_pruned() -> None:
    assert snapshot_backups_to_prune(BACKUPS, "pg-primary", 2) == ["pg-primary-snapshots-1"]
    assert snapshot_backups_to_prune(BACKUPS, "pg-primary", 7) == []
    assert snapshot_backups_to_prune(BACKUPS, "pg-other", 1) == []


def test_prune_snapshots_deletes_the_stale_backups(outputs_file: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    argv = ["prune-snapshots", "--stack", "dev", "--outputs", str(outputs_file), "--keep", "1"]
    assert drill.main(argv, kubectl=SnapshotKubectl) == 0
    kube = SnapshotKubectl.instances[-1]
    deleted = [call[2] for call in kube.calls if call[0] == "delete"]
    assert deleted == ["pg-primary-snapshots-1", "pg-primary-snapshots-2"]
    assert [
        "get",
        "backups.postgresql.cnpg.io",
        "-n",
        "cnpg-database",
        "-l",
        "cnpg.io/cluster=pg-primary",
        "-o",
        "json",
    ] in kube.calls
    assert "deleted 2" in capsys.readouterr().out


def test_prune_snapshots_keeps_at_least_one(outputs_file: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    with pytest.raises(SystemExit) as exit_info:
        drill.main(["prune-snapshots", "--stack", "dev", "--outputs", str(outputs_file), "--keep", "0"], kubectl=SnapshotKubectl)
    assert exit_info.value.code == 2
    assert "argument --keep: '0' is not a whole number from 1 to 1000" in capsys.readouterr().err
