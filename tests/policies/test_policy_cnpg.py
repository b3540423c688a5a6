"""CNPG Cluster spec policies: instances, synchronous replication, checksums, image, pg_hba, WAL, QoS."""

from __future__ import annotations

from typing import Any

import pytest

from offline.policy_client import EnforcementLevel

from .baseline import IMAGE_CATALOG, compliant_stack, on_image_catalog
from .expectations import Analyze, flagged, only, passes

CLUSTER = "cluster"
HBA = "spec.postgresql.pg_hba"
SAFE_HBA = ["hostssl all all 0.0.0.0/0 scram-sha-256", "hostnossl all all all reject"]


def test_too_few_instances_are_refused(analyze: Analyze) -> None:
    stack = (
        compliant_stack().with_value(CLUSTER, "spec.instances", 2).with_value(CLUSTER, "spec.postgresql.synchronous.number", 1)
    )
    assert "spec.instances is 2" in only(analyze(stack), "cnpg-min-instances", stack.urn(CLUSTER)).message


def test_unset_instances_mean_one(analyze: Analyze) -> None:
    stack = compliant_stack().without(CLUSTER, "spec.instances")
    report = analyze(stack)
    assert "default is 1" in report.of_policy("cnpg-min-instances")[0].message, report.describe()


def test_minimum_instances_are_configurable(analyze: Analyze) -> None:
    stack = compliant_stack()
    only(analyze(stack, {"cnpg-min-instances": {"minInstances": 5}}), "cnpg-min-instances", stack.urn(CLUSTER))


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("spec.postgresql.synchronous.method", "all", "synchronous.method"),
        ("spec.postgresql.synchronous.number", 0, "at least 1"),
        ("spec.postgresql.synchronous.number", 3, "below spec.instances"),
        ("spec.minSyncReplicas", 1, "spec.minSyncReplicas is deprecated"),
        ("spec.maxSyncReplicas", 1, "spec.maxSyncReplicas is deprecated"),
    ],
)
def test_synchronous_replication_settings(analyze: Analyze, path: str, value: Any, expected: str) -> None:
    stack = compliant_stack().with_value(CLUSTER, path, value)
    assert expected in only(analyze(stack), "cnpg-synchronous-replication", stack.urn(CLUSTER)).message


def test_asynchronous_cluster_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().without(CLUSTER, "spec.postgresql.synchronous")
    only(analyze(stack), "cnpg-synchronous-replication", stack.urn(CLUSTER))


def test_data_checksums_are_required_for_initdb(analyze: Analyze) -> None:
    stack = compliant_stack().with_value(CLUSTER, "spec.bootstrap.initdb.dataChecksums", False)
    only(analyze(stack), "cnpg-data-checksums", stack.urn(CLUSTER))
    assert analyze(compliant_stack().without(CLUSTER, "spec.bootstrap")).of_policy("cnpg-data-checksums")


def test_recovered_cluster_inherits_checksums(analyze: Analyze) -> None:
    stack = compliant_stack().with_value(CLUSTER, "spec.bootstrap", {"recovery": {"source": "origin"}})
    passes(analyze(stack), "cnpg-data-checksums")


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("ghcr.io/cloudnative-pg/postgresql:latest", "tag 'latest', which is rebuilt weekly"),
        ("ghcr.io/cloudnative-pg/postgresql:18", "tag '18', which is rebuilt weekly"),
        ("ghcr.io/cloudnative-pg/postgresql:18.6-standard-trixie", "tag '18.6-standard-trixie', which is rebuilt"),
        ("ghcr.io/cloudnative-pg/postgresql", "has no tag"),
        ("ghcr.io/cloudnative-pg/postgresql-custom", "has no tag"),
    ],
)
def test_floating_images_are_refused(analyze: Analyze, image: str, expected: str) -> None:
    stack = compliant_stack().with_value(CLUSTER, "spec.imageName", image)
    report = analyze(stack)
    assert expected in flagged(report, "cnpg-pinned-image", stack.urn(CLUSTER)).message
    # Without a digest, too (tests/policies/test_policy_images.py).
    flagged(report, "images-pinned-by-digest", stack.urn(CLUSTER))


def test_digest_pins_an_image(analyze: Analyze) -> None:
    image = "ghcr.io/cloudnative-pg/postgresql@sha256:" + "ab" * 32
    passes(analyze(compliant_stack().with_value(CLUSTER, "spec.imageName", image)), "cnpg-pinned-image")


def test_operator_default_image_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().without(CLUSTER, "spec.imageName")
    only(analyze(stack), "cnpg-pinned-image", stack.urn(CLUSTER))


def test_a_cluster_on_an_image_catalog_is_checked_on_the_catalog(analyze: Analyze) -> None:
    # The program's shape: no imageName, the image of the referenced major in the namespace's ImageCatalog.
    pinned = on_image_catalog(compliant_stack(), "ghcr.io/cloudnative-pg/postgresql:18.6-202608170814-standard-trixie")
    passes(analyze(pinned), "cnpg-pinned-image")
    floating = on_image_catalog(compliant_stack(), "ghcr.io/cloudnative-pg/postgresql:18.6-standard-trixie")
    message = flagged(analyze(floating), "cnpg-pinned-image", floating.urn(IMAGE_CATALOG)).message
    assert "spec.images[0].image 'ghcr.io/cloudnative-pg/postgresql:18.6-standard-trixie' uses the tag" in message, message


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("hostssl all all 10.0.0.0/8 trust", "'trust'"),
        ("hostssl all all 10.0.0.0 255.0.0.0 md5", "'md5'"),
        ("local all all password", "'password'"),
        ("host all all all scram-sha-256", "without TLS"),
        ("hostnossl app app 10.0.0.0/8 scram-sha-256", "without TLS"),
    ],
)
def test_weak_pg_hba_lines_are_refused(analyze: Analyze, line: str, expected: str) -> None:
    stack = compliant_stack().with_value(CLUSTER, HBA, [*SAFE_HBA, line])
    violation = only(analyze(stack), "cnpg-pg-hba-tls-scram", stack.urn(CLUSTER))
    assert f"pg_hba[2] '{line}'" in violation.message and expected in violation.message


def test_pg_hba_must_reject_non_tls_connections(analyze: Analyze) -> None:
    stack = compliant_stack().with_value(
        CLUSTER, HBA, ["hostssl all all all scram-sha-256", "hostnossl all all 0.0.0.0/0 reject"]
    )
    violation = only(analyze(stack), "cnpg-pg-hba-tls-scram", stack.urn(CLUSTER))
    assert "host all all all scram-sha-256" in violation.message


@pytest.mark.parametrize(
    "change", [("spec.plugins", []), ("spec.plugins.0.isWALArchiver", False), ("spec.plugins.0.enabled", False)]
)
def test_wal_archiving_is_required(analyze: Analyze, change: tuple[str, Any]) -> None:
    stack = compliant_stack().with_value(CLUSTER, *change)
    flagged_urns = {v.urn for v in analyze(stack).of_policy("cnpg-wal-archiver-plugin")}
    assert flagged_urns == {stack.urn(CLUSTER)}


def test_in_tree_barman_object_store_is_refused(analyze: Analyze) -> None:
    stack = compliant_stack().with_value(CLUSTER, "spec.backup", {"barmanObjectStore": {"destinationPath": "https://x"}})
    assert "removed in CloudNativePG 1.31" in only(analyze(stack), "cnpg-wal-archiver-plugin", stack.urn(CLUSTER)).message


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("spec.resources.requests.memory", "2Gi", "requests.memory (2Gi) differs from limits.memory (4096Mi)"),
        ("spec.resources.limits", {"cpu": "1"}, "limits.memory is not set"),
        ("spec.resources", {}, "limits.cpu is not set"),
    ],
)
def test_burstable_instances_are_refused(analyze: Analyze, path: str, value: Any, expected: str) -> None:
    stack = compliant_stack().with_value(CLUSTER, path, value)
    assert expected in only(analyze(stack), "cnpg-guaranteed-qos", stack.urn(CLUSTER)).message


def test_limits_alone_give_guaranteed_qos(analyze: Analyze) -> None:
    stack = compliant_stack().without(CLUSTER, "spec.resources.requests")
    passes(analyze(stack), "cnpg-guaranteed-qos")


def test_restarting_the_primary_on_updates_is_advisory(analyze: Analyze) -> None:
    stack = compliant_stack().without(CLUSTER, "spec.primaryUpdateMethod")
    only(analyze(stack), "cnpg-switchover-updates", stack.urn(CLUSTER), EnforcementLevel.ADVISORY)


@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io/cloudnative-pg/postgresql:18.6-202608170814-standard-trixie",
        "ghcr.io/cloudnative-pg/postgresql:18.6-standard-trixie@sha256:" + "7" * 64,
    ],
)
def test_immutable_images_pass(analyze: Analyze, image: str) -> None:
    passes(analyze(compliant_stack().with_value(CLUSTER, "spec.imageName", image)), "cnpg-pinned-image")


def _spread(term: dict[str, Any]) -> tuple[str, Any]:
    return "spec.topologySpreadConstraints", [{"maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule", **term}]


def _anti_affinity(term: dict[str, Any]) -> tuple[str, Any]:
    return "spec.affinity", {"additionalPodAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


@pytest.mark.parametrize("placement", [_spread, _anti_affinity])
def test_placement_selectors_must_select_instance_pods(analyze: Analyze, placement: Any) -> None:
    labels = {"cnpg.io/cluster": "pg"}
    stack = compliant_stack().with_value(
        CLUSTER, *placement({"topologyKey": "topology.kubernetes.io/zone", "labelSelector": {"matchLabels": labels}})
    )

    message = only(analyze(stack), "cnpg-instance-pod-selectors", stack.urn(CLUSTER)).message
    assert "initdb/join Job pods" in message and "cnpg.io/podRole: instance" in message
    instance_labels = {**labels, "cnpg.io/podRole": "instance"}
    fixed = compliant_stack().with_value(
        CLUSTER, *placement({"topologyKey": "topology.kubernetes.io/zone", "labelSelector": {"matchLabels": instance_labels}})
    )
    passes(analyze(fixed), "cnpg-instance-pod-selectors")
