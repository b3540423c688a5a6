import pytest

from offline.engine import StackRun, run_stack

CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"


def _restore(target: dict) -> StackRun:
    return run_stack("prod", {"aks-postgres-ha:restore": {"enabled": True, "clusterName": "pg-restored", **target}})


def test_no_restore_unless_asked(shipped: StackRun) -> None:
    assert [r.name for r in shipped.of_type(CLUSTER)] == ["database-cluster"]


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
    assert spec["imageName"] == primary["imageName"]
    assert spec["storage"] == primary["storage"] and spec["walStorage"] == primary["walStorage"]
    # Its own archive folder: never the source's, so the empty-archive check passes.
    assert spec["plugins"][0]["parameters"]["serverName"] == "pg-restored"
    assert restored.inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    assert run.one(CLUSTER, "database-cluster").urn in restored.dependencies


def test_recovery_cluster_has_its_own_federated_credential() -> None:
    run = _restore({"target": "latest"})
    subjects = {r.inputs["subject"]: r for r in run.of_type("azure-native:managedidentity:FederatedIdentityCredential")}
    assert set(subjects) == {"system:serviceaccount:cnpg-database:pg-primary", "system:serviceaccount:cnpg-database:pg-restored"}
    assert subjects["system:serviceaccount:cnpg-database:pg-restored"].urn in run.one(CLUSTER, "restore-cluster").dependencies
