"""Stack-wide CNPG policies: backups and ObjectStores, federated credentials, sidecar QoS."""

from __future__ import annotations

from .baseline import CLUSTER, ISSUER, NAMESPACE, compliant_stack
from .expectations import Analyze, flagged, only, passes
from .synthetic import UNKNOWN

SUBJECT = f"system:serviceaccount:{NAMESPACE}:{CLUSTER}"


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
    assert repr(SUBJECT) in only(analyze(stack), "cnpg-federated-credentials", stack.urn("cluster")).message


def test_service_account_name_overrides_the_subject(analyze: Analyze) -> None:
    stack = compliant_stack().with_value("cluster", "spec.serviceAccountName", "pg-sa")
    assert "pg-sa" in only(analyze(stack), "cnpg-federated-credentials", stack.urn("cluster")).message


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
    assert "metadata.name is not set" in only(analyze(stack), "cnpg-federated-credentials", stack.urn("cluster")).message


def test_sidecar_without_equal_requests_and_limits_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().without("object-store", "spec.instanceSidecarConfiguration")
    violation = only(analyze(stack), "cnpg-sidecar-guaranteed-qos", stack.urn("object-store"))
    assert "Cluster 'cluster'" in violation.message
