"""Stack-wide CNPG policies: backups and ObjectStores, federated credentials, sidecar QoS."""

from __future__ import annotations

import copy
from typing import Any

from .baseline import BARMAN_PLUGIN, CLUSTER, ISSUER, NAMESPACE, OBJECT_STORE, compliant_stack
from .expectations import Analyze, flagged, only, passes
from .synthetic import UNKNOWN, Resource, SyntheticStack

SUBJECT = f"system:serviceaccount:{NAMESPACE}:{CLUSTER}"
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
CNPG_SCHEDULED_BACKUP = "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup"


def test_cluster_without_scheduled_backup_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().without("scheduled-backup")
    assert "has no ScheduledBackup" in only(analyze(stack), "cnpg-backups-configured", stack.urn("cluster")).message


def test_scheduled_backup_of_another_cluster_does_not_count(analyze: Analyze) -> None:
    stack = compliant_stack().with_value("scheduled-backup", "spec.cluster.name", "pg-other")
    only(analyze(stack), "cnpg-backups-configured", stack.urn("cluster"))


def test_scheduled_backup_must_use_the_plugin(analyze: Analyze) -> None:
    stack = compliant_stack().without("scheduled-backup", "spec.method")
    violation = only(analyze(stack), "cnpg-backups-configured", stack.urn("scheduled-backup"))
    assert "unset (barmanObjectStore)" in violation.message


def test_missing_object_store_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().with_value("object-store", "metadata.namespace", "elsewhere")
    violation = only(analyze(stack), "cnpg-backups-configured", stack.urn("cluster"))
    assert "ObjectStore 'pg-primary-backups'" in violation.message


def test_archiver_without_object_store_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().without("cluster", "spec.plugins.0.parameters.barmanObjectName")
    assert "barmanObjectName" in flagged(analyze(stack), "cnpg-backups-configured", stack.urn("cluster")).message


def test_recovery_source_object_store_must_exist(analyze: Analyze) -> None:
    source = {"name": "origin", "plugin": {"name": "barman-cloud.cloudnative-pg.io", "parameters": {"barmanObjectName": "gone"}}}
    stack = compliant_stack().with_value("cluster", "spec.externalClusters", [source])
    assert "spec.externalClusters 'origin'" in only(analyze(stack), "cnpg-backups-configured", stack.urn("cluster")).message


def test_cluster_without_federated_credential_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().with_value("cluster-credential", "subject", "system:serviceaccount:default:pg-primary")
    report = analyze(stack)
    assert repr(SUBJECT) in flagged(report, "cnpg-federated-credentials", stack.urn("cluster")).message
    # The credential now trusts an account no Cluster runs as.
    assert "is not the service account" in flagged(report, "cnpg-federated-credentials", stack.urn("cluster-credential")).message
    assert len(report.violations) == 2, report.describe()


def test_service_account_name_overrides_the_subject(analyze: Analyze) -> None:
    stack = compliant_stack().with_value("cluster", "spec.serviceAccountName", "pg-sa")
    report = analyze(stack)
    assert "pg-sa" in flagged(report, "cnpg-federated-credentials", stack.urn("cluster")).message
    flagged(report, "cnpg-federated-credentials", stack.urn("cluster-credential"))


def test_credential_needs_the_token_exchange_audience(analyze: Analyze) -> None:
    stack = compliant_stack().with_value("cluster-credential", "audiences", ["api://other"])
    only(analyze(stack), "cnpg-federated-credentials", stack.urn("cluster-credential"))


def test_issuer_not_from_the_aks_cluster_is_refused(analyze: Analyze) -> None:
    stack = (
        compliant_stack()
        .with_value("cluster-credential", "issuer", "https://token.actions.githubusercontent.com")
        .with_sources("cluster-credential", {"resourceName": ["workload-identity"]})
    )
    assert "githubusercontent" in only(analyze(stack), "cnpg-federated-credentials", stack.urn("cluster-credential")).message


def test_unknown_issuer_is_accepted_when_it_comes_from_the_aks_cluster(analyze: Analyze) -> None:
    stack = compliant_stack().with_value("cluster-credential", "issuer", UNKNOWN)
    passes(analyze(stack), "cnpg-federated-credentials")
    unsourced = stack.with_sources("cluster-credential", {"resourceName": ["workload-identity"]})
    assert "not known yet" in only(analyze(unsourced), "cnpg-federated-credentials", stack.urn("cluster-credential")).message


def test_known_issuer_matching_the_cluster_output_is_accepted(analyze: Analyze) -> None:
    stack = (
        compliant_stack()
        .with_value("aks", "oidcIssuerProfile", {"enabled": True, "issuerURL": ISSUER})
        .with_sources("cluster-credential", {"resourceName": ["workload-identity"]})
    )
    passes(analyze(stack), "cnpg-federated-credentials")


def test_unnamed_cluster_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().without("cluster", "metadata.name")
    report = analyze(stack)
    assert "metadata.name is not set" in flagged(report, "cnpg-federated-credentials", stack.urn("cluster")).message
    # With no named Cluster, no service account may be trusted.
    flagged(report, "cnpg-federated-credentials", stack.urn("cluster-credential"))


def test_sidecar_without_equal_requests_and_limits_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().without("object-store", "spec.instanceSidecarConfiguration")
    violation = only(analyze(stack), "cnpg-sidecar-guaranteed-qos", stack.urn("object-store"))
    assert "Cluster 'cluster'" in violation.message


def _recovering_from(server_name: str) -> list[dict[str, object]]:
    plugin = {"name": BARMAN_PLUGIN, "parameters": {"barmanObjectName": OBJECT_STORE, "serverName": server_name}}
    return [{"name": "origin", "plugin": plugin}]


def _second_cluster(stack: SyntheticStack, archive_server_name: object) -> SyntheticStack:
    """A recovery cluster 'pg-restored' (with its own schedule) next to the primary, reading the primary's folder."""
    spec = copy.deepcopy(dict(stack.inputs("cluster")["spec"]))
    spec["plugins"][0]["parameters"]["serverName"] = archive_server_name
    spec["externalClusters"] = _recovering_from(CLUSTER)
    schedule = copy.deepcopy(dict(stack.inputs("scheduled-backup")))
    schedule["metadata"] = {"name": "pg-restored-daily", "namespace": NAMESPACE}
    schedule["spec"]["cluster"] = {"name": "pg-restored"}
    options: dict[str, Any] = {"parent": "database", "provider": "kubernetes"}
    return stack.plus(
        Resource(
            CNPG_CLUSTER, "restored", {"metadata": {"name": "pg-restored", "namespace": NAMESPACE}, "spec": spec}, **options
        ),
        Resource(CNPG_SCHEDULED_BACKUP, "restored-schedule", schedule, **options),
    )


def test_recovery_cluster_archiving_into_its_source_folder_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().with_value("cluster", "spec.externalClusters", _recovering_from(CLUSTER))
    violation = only(analyze(stack), "cnpg-backups-configured", stack.urn("cluster"))
    assert f"folder '{CLUSTER}', the folder it recovers from (spec.externalClusters 'origin')" in violation.message


def test_two_clusters_archiving_into_one_folder_are_refused(analyze: Analyze) -> None:
    stack = _second_cluster(compliant_stack(), CLUSTER)
    report = analyze(stack)
    violations = report.of_policy("cnpg-backups-configured")
    assert [v.urn for v in violations] == [stack.urn("restored")] * 2, report.describe(violations)
    assert {"the folder it recovers from" in v.message for v in violations} == {True, False}
    assert any("which Cluster 'cluster' archives into too" in v.message for v in violations)


def test_recovery_cluster_with_a_folder_of_its_own_is_accepted(analyze: Analyze) -> None:
    passes(analyze(_second_cluster(compliant_stack(), "pg-restored-x7k2m9qa")), "cnpg-backups-configured")


def test_archive_folder_unknown_in_preview_is_not_judged(analyze: Analyze) -> None:
    passes(analyze(_second_cluster(compliant_stack(), UNKNOWN)), "cnpg-backups-configured")


def test_default_server_name_is_the_cluster_name(analyze: Analyze) -> None:
    stack = (
        compliant_stack()
        .without("cluster", "spec.plugins.0.parameters.serverName")
        .with_value("cluster", "spec.externalClusters", _recovering_from(CLUSTER))
    )
    only(analyze(stack), "cnpg-backups-configured", stack.urn("cluster"))


def test_the_own_archive_entry_of_a_distributed_topology_is_not_a_recovery_source(analyze: Analyze) -> None:
    # CNPG requires an externalClusters entry for spec.replica.self: the cluster's own archive, read by the peer.
    own = {**_recovering_from(CLUSTER)[0], "name": "prod"}
    topology = {"self": "prod", "primary": "prod", "source": "dr"}
    stack = compliant_stack().with_value("cluster", "spec.externalClusters", [own])
    stack = stack.with_value("cluster", "spec.replica", topology)
    passes(analyze(stack), "cnpg-backups-configured")
    # The same entry under another name is a source the cluster recovers from.
    renamed = stack.with_value("cluster", "spec.replica", {**topology, "self": "elsewhere"})
    assert (
        "the folder it recovers from (spec.externalClusters 'prod')"
        in only(analyze(renamed), "cnpg-backups-configured", renamed.urn("cluster")).message
    )


def _with_snapshot_schedule(stack: SyntheticStack) -> SyntheticStack:
    schedule = copy.deepcopy(dict(stack.inputs("scheduled-backup")))
    schedule["metadata"] = {"name": f"{CLUSTER}-snapshots", "namespace": NAMESPACE}
    schedule["spec"] = {"schedule": "0 0 3 * * *", "cluster": {"name": CLUSTER}, "method": "volumeSnapshot"}
    return stack.plus(Resource(CNPG_SCHEDULED_BACKUP, "snapshot-schedule", schedule, parent="database", provider="kubernetes"))


def test_volume_snapshot_backups_beside_the_plugin_are_accepted(analyze: Analyze) -> None:
    stack = _with_snapshot_schedule(compliant_stack()).with_value(
        "cluster", "spec.backup", {"volumeSnapshot": {"className": "csi-azuredisk-vsc"}}
    )
    passes(analyze(stack), "cnpg-backups-configured")


def test_volume_snapshot_backups_need_the_cluster_snapshot_class(analyze: Analyze) -> None:
    stack = _with_snapshot_schedule(compliant_stack())
    violation = only(analyze(stack), "cnpg-backups-configured", stack.urn("snapshot-schedule"))
    assert "no spec.backup.volumeSnapshot.className" in violation.message


def test_volume_snapshot_backups_alone_are_refused(analyze: Analyze) -> None:
    stack = (
        _with_snapshot_schedule(compliant_stack())
        .without("scheduled-backup")
        .with_value("cluster", "spec.backup", {"volumeSnapshot": {"className": "csi-azuredisk-vsc"}})
    )
    violation = only(analyze(stack), "cnpg-backups-configured", stack.urn("cluster"))
    assert "only volume-snapshot ScheduledBackups" in violation.message
