"""Tests of the schema harness (tests/k8s_schema.py). Each valid object is paired with a broken one that must be rejected."""

from __future__ import annotations

from typing import Any

import pytest

from tests.k8s_schema import _pruned, _StructuralSchemaValidator, known_custom_kinds, validate_object

KUBERNETES_VERSION = "1.35"
SUPPORTED_VERSIONS = ("1.34", "1.35", "1.36", "1.37")
CLUSTER = "postgresql.cnpg.io/v1 Cluster cnpg-database/cluster-example"  # how problems name the cnpg_cluster() object


def cnpg_cluster() -> dict[str, Any]:
    """Adapted from the CloudNativePG v1.30.0 sample docs/src/samples/cluster-example-syncreplicas-quorum.yaml."""
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "cluster-example", "namespace": "cnpg-database"},
        "spec": {
            "instances": 3,
            "postgresql": {"synchronous": {"method": "any", "number": 1, "failoverQuorum": True}},
            "storage": {"size": "1Gi"},
            "plugins": [
                {"name": "barman-cloud.cloudnative-pg.io", "isWALArchiver": True, "parameters": {"barmanObjectName": "backups"}}
            ],
        },
    }


def object_store() -> dict[str, Any]:
    return {
        "apiVersion": "barmancloud.cnpg.io/v1",
        "kind": "ObjectStore",
        "metadata": {"name": "backups", "namespace": "cnpg-database"},
        "spec": {
            "retentionPolicy": "30d",
            "configuration": {
                "destinationPath": "https://pgbackups.blob.core.windows.net/backups/",
                "azureCredentials": {"inheritFromAzureAD": True},
                "wal": {"compression": "gzip", "maxParallel": 4},
                "data": {"compression": "gzip", "jobs": 2},
            },
        },
    }


def pod_monitor(api_version: str) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "PodMonitor",
        "metadata": {"name": "cluster-example", "namespace": "cnpg-database"},
        "spec": {
            "selector": {"matchLabels": {"cnpg.io/cluster": "cluster-example"}},
            "podMetricsEndpoints": [{"port": "metrics", "interval": "30s"}],
        },
    }


def prometheus_rule() -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "cnpg-alerts", "namespace": "cnpg-database"},
        "spec": {
            "groups": [
                {
                    "name": "cnpg.rules",
                    "rules": [
                        {
                            "alert": "PGReplication",
                            "expr": "cnpg_pg_replication_lag > 300",
                            "for": "1m",
                            "labels": {"severity": "warning"},
                            "annotations": {"summary": "The standby is lagging behind the primary"},
                        }
                    ],
                }
            ]
        },
    }


def load_balancer_service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "cluster-example-lb", "namespace": "cnpg-database"},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerSourceRanges": ["203.0.113.0/24"],
            "selector": {"cnpg.io/cluster": "cluster-example", "cnpg.io/instanceRole": "primary"},
            "ports": [{"name": "postgres", "port": 5432, "targetPort": 5432, "protocol": "TCP"}],
        },
    }


def basic_auth_secret() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "app-user", "namespace": "cnpg-database", "annotations": {"pulumi.com/patchForce": "true"}},
        "type": "kubernetes.io/basic-auth",
        "stringData": {"username": "app", "password": "not-a-real-password"},
    }


def test_valid_cnpg_cluster() -> None:
    assert validate_object(cnpg_cluster(), KUBERNETES_VERSION) == []


def test_cluster_with_unknown_field_is_rejected() -> None:
    cluster = cnpg_cluster()
    cluster["spec"]["storage"]["sizee"] = "1Gi"

    assert validate_object(cluster, KUBERNETES_VERSION) == [
        f"{CLUSTER}: spec.storage.sizee: unknown field, not declared in the CRD schema"
    ]


def test_cluster_with_wrong_type_is_rejected() -> None:
    cluster = cnpg_cluster()
    cluster["spec"]["instances"] = "3"

    assert validate_object(cluster, KUBERNETES_VERSION) == [f"{CLUSTER}: spec.instances: '3' is not of type 'integer'"]


def test_cluster_enum_and_minimum_are_enforced() -> None:
    cluster = cnpg_cluster()
    cluster["spec"]["postgresql"]["synchronous"]["method"] = "all"
    cluster["spec"]["instances"] = 0

    problems = validate_object(cluster, KUBERNETES_VERSION)

    assert [problem.split(": ")[1] for problem in problems] == ["spec.instances", "spec.postgresql.synchronous.method"]


def test_custom_resource_metadata_rules() -> None:
    cluster = cnpg_cluster()
    cluster["metadata"] = {"name": "Cluster_Example", "lables": {"app": "db"}}

    problems = validate_object(cluster, KUBERNETES_VERSION)

    assert any("metadata: Additional properties are not allowed ('lables' was unexpected)" in p for p in problems)
    assert any("metadata.name: 'Cluster_Example' is not a lowercase RFC 1123 subdomain" in p for p in problems)
    assert any("metadata.namespace: required for a namespaced resource" in p for p in problems)


def test_custom_resource_without_name_is_rejected() -> None:
    cluster = cnpg_cluster()
    del cluster["metadata"]["name"]

    assert any(problem.endswith("metadata.name: required") for problem in validate_object(cluster, KUBERNETES_VERSION))


def test_required_field_with_default_may_be_omitted() -> None:
    # Cluster.spec requires "instances" but defaults it to 1, and the API server applies defaults before it validates.
    cluster = cnpg_cluster()
    del cluster["spec"]["instances"]
    assert validate_object(cluster, KUBERNETES_VERSION) == []

    del cluster["spec"]["postgresql"]["synchronous"]["method"]  # required, with no default

    assert validate_object(cluster, KUBERNETES_VERSION) == [
        f"{CLUSTER}: spec.postgresql.synchronous: 'method' is a required property"
    ]


def test_valid_object_store() -> None:
    assert validate_object(object_store(), KUBERNETES_VERSION) == []


def test_object_store_pattern_is_enforced() -> None:
    store = object_store()
    store["spec"]["retentionPolicy"] = "30 days"

    problems = validate_object(store, KUBERNETES_VERSION)

    assert len(problems) == 1
    assert "spec.retentionPolicy: '30 days' does not match" in problems[0]


@pytest.mark.parametrize("api_version", ["monitoring.coreos.com/v1", "azmonitoring.coreos.com/v1"])
def test_valid_pod_monitor(api_version: str) -> None:
    assert validate_object(pod_monitor(api_version), KUBERNETES_VERSION) == []


@pytest.mark.parametrize("api_version", ["monitoring.coreos.com/v1", "azmonitoring.coreos.com/v1"])
def test_pod_monitor_with_unknown_endpoint_field_is_rejected(api_version: str) -> None:
    monitor = pod_monitor(api_version)
    monitor["spec"]["podMetricsEndpoints"][0]["targetPorts"] = 9187

    problems = validate_object(monitor, KUBERNETES_VERSION)

    assert problems == [
        f"{api_version} PodMonitor cnpg-database/cluster-example: "
        "spec.podMetricsEndpoints[0].targetPorts: unknown field, not declared in the CRD schema"
    ]


def test_valid_prometheus_rule() -> None:
    assert validate_object(prometheus_rule(), KUBERNETES_VERSION) == []


def test_prometheus_rule_with_duplicate_group_names_is_rejected() -> None:
    rule = prometheus_rule()
    rule["spec"]["groups"].append(rule["spec"]["groups"][0])

    problems = validate_object(rule, KUBERNETES_VERSION)

    assert problems == [
        "monitoring.coreos.com/v1 PrometheusRule cnpg-database/cnpg-alerts: "
        """spec.groups[1]: duplicate entry ["cnpg.rules"] in a list of type 'map'"""
    ]


def test_map_list_keys_count_their_default() -> None:
    # A service port's "protocol" map key defaults to TCP, so these two ports are the same entry.
    cluster = cnpg_cluster()
    ports = [{"port": 5432}, {"port": 5432, "protocol": "TCP"}]
    service = {"selectorType": "rw", "serviceTemplate": {"metadata": {"name": "pg-extra"}, "spec": {"ports": ports}}}
    cluster["spec"]["managed"] = {"services": {"additional": [service]}}

    problems = validate_object(cluster, KUBERNETES_VERSION)

    assert problems == [
        f"{CLUSTER}: spec.managed.services.additional[0].serviceTemplate"
        """.spec.ports[1]: duplicate entry [5432, "TCP"] in a list of type 'map'"""
    ]


def test_int_or_string_accepts_both_and_rejects_others() -> None:
    monitor = pod_monitor("monitoring.coreos.com/v1")
    endpoint = monitor["spec"]["podMetricsEndpoints"][0]
    endpoint["targetPort"] = 9187
    assert validate_object(monitor, KUBERNETES_VERSION) == []
    endpoint["targetPort"] = "metrics"
    assert validate_object(monitor, KUBERNETES_VERSION) == []

    endpoint["targetPort"] = True

    assert any(
        "spec.podMetricsEndpoints[0].targetPort: True is neither an integer nor a string" in problem
        for problem in validate_object(monitor, KUBERNETES_VERSION)
    )


def test_null_fields_that_are_not_nullable_are_pruned_like_the_api_server_does() -> None:
    cluster = cnpg_cluster()
    cluster["spec"]["description"] = None
    assert validate_object(cluster, KUBERNETES_VERSION) == []

    cluster["spec"]["storage"] = None

    assert validate_object(cluster, KUBERNETES_VERSION) == []  # storage is optional, so pruning it leaves a valid Cluster
    del cluster["spec"]["instances"]
    cluster["spec"]["postgresql"]["synchronous"] = None
    assert validate_object(cluster, KUBERNETES_VERSION) == []  # instances has a default; synchronous is optional


def test_nullable_and_preserve_unknown_fields_follow_the_structural_schema_rules() -> None:
    # No fixture CRD uses these markers, so this small structural schema stands in for one.
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "extra": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}},
            },
            "comment": {"type": "string", "nullable": True},
        },
    }
    undeclared_fields: list[str] = []

    pruned = _pruned({"extra": {"free": 1, "known": {"a": "x", "b": 2}}, "comment": None}, schema, (), undeclared_fields)

    assert undeclared_fields == ["extra.known.b"]  # preserving unknown fields is not inherited by declared children
    assert pruned == {"extra": {"free": 1, "known": {"a": "x"}}, "comment": None}
    assert list(_StructuralSchemaValidator(schema).iter_errors(pruned)) == []
    schema["properties"]["comment"]["nullable"] = False
    assert [error.message for error in _StructuralSchemaValidator(schema).iter_errors(pruned)] == ["None is not of type 'string'"]


@pytest.mark.parametrize("kubernetes_version", SUPPORTED_VERSIONS)
def test_valid_load_balancer_service(kubernetes_version: str) -> None:
    assert validate_object(load_balancer_service(), kubernetes_version) == []


@pytest.mark.parametrize("kubernetes_version", SUPPORTED_VERSIONS)
def test_valid_basic_auth_secret_with_string_data(kubernetes_version: str) -> None:
    assert validate_object(basic_auth_secret(), kubernetes_version) == []


def test_core_object_with_unknown_field_is_rejected() -> None:
    service = load_balancer_service()
    service["spec"]["loadBalancerSourceRange"] = ["203.0.113.0/24"]

    assert validate_object(service, KUBERNETES_VERSION) == [
        "v1 Service cnpg-database/cluster-example-lb: spec: "
        "Additional properties are not allowed ('loadBalancerSourceRange' was unexpected)"
    ]


def test_core_object_with_wrong_type_is_rejected() -> None:
    secret = basic_auth_secret()
    secret["stringData"]["port"] = 5432

    assert validate_object(secret, KUBERNETES_VERSION) == [
        "v1 Secret cnpg-database/app-user: stringData.port: 5432 is not of type 'string', 'null'"
    ]


def test_core_object_names_follow_the_api_server_rules() -> None:
    service = load_balancer_service()
    service["metadata"]["name"] = "5432-lb"  # a Service name must start with a letter (RFC 1035)

    problems = validate_object(service, KUBERNETES_VERSION)

    assert problems == [
        "v1 Service cnpg-database/5432-lb: metadata.name: '5432-lb' is not an RFC 1035 label "
        "(lower case alphanumerics or '-', starting with a letter and ending with an alphanumeric)"
    ]


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("example.com/v1", "Widget"),
        ("postgresql.cnpg.io/v1beta1", "Cluster"),  # a version the CRD does not serve
        ("v1", "Affinity"),  # kubernetes_validate has a schema file for it, but it is not a kind
        ("rbac.example.com/v1", "Role"),  # the same file name as rbac.authorization.k8s.io/v1 Role
    ],
)
def test_unknown_kind_is_rejected(api_version: str, kind: str) -> None:
    problems = validate_object({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}, KUBERNETES_VERSION)

    assert len(problems) == 1
    assert problems[0].startswith(f"no schema for {api_version} {kind} x:")


def test_pulumi_floats_are_normalised_to_integers() -> None:
    cluster = cnpg_cluster()
    cluster["spec"]["instances"] = 3.0
    cluster["spec"]["postgresql"]["synchronous"]["number"] = 1.0
    service = load_balancer_service()
    service["spec"]["ports"][0]["port"] = 5432.0
    service["spec"]["ports"][0]["targetPort"] = 5432.0
    assert validate_object(cluster, KUBERNETES_VERSION) == []
    assert validate_object(service, KUBERNETES_VERSION) == []

    cluster["spec"]["instances"] = 2.5

    assert validate_object(cluster, KUBERNETES_VERSION) == [f"{CLUSTER}: spec.instances: 2.5 is not of type 'integer'"]


def test_unsupported_kubernetes_version_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"no schemas for Kubernetes '1\.20'"):
        validate_object(load_balancer_service(), "1.20")


def test_known_custom_kinds() -> None:
    assert known_custom_kinds() == {
        ("postgresql.cnpg.io/v1", "Cluster"),
        ("postgresql.cnpg.io/v1", "Backup"),
        ("postgresql.cnpg.io/v1", "ScheduledBackup"),
        ("postgresql.cnpg.io/v1", "Database"),
        ("postgresql.cnpg.io/v1", "ImageCatalog"),
        ("postgresql.cnpg.io/v1", "Pooler"),
        ("barmancloud.cnpg.io/v1", "ObjectStore"),
        ("monitoring.coreos.com/v1", "PodMonitor"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
        ("azmonitoring.coreos.com/v1", "PodMonitor"),
    }
