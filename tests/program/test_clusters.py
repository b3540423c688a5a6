"""The platform (program/clusters.py): many database clusters on one AKS, each isolated, each added
without touching the others, and a one-cluster stack that moves into ``clusters`` at its old URNs."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import pytest

from offline.engine import Registration, StackRun, run_stack, stack_config
from settings import PROJECT, SettingsError, parse_settings

CLUSTERS = ("orders", "billing", "analytics")
KEY = f"{PROJECT}:clusters"


@cache
def platform() -> StackRun:
    return run_stack("platform")


def _config(stack: str = "platform") -> dict[str, Any]:
    return copy.deepcopy(stack_config(stack))


def _inputs(run: StackRun) -> dict[str, str]:
    return {r.urn: json.dumps(r.inputs, sort_keys=True, default=str) for r in run.registrations}


def _of(run: StackRun, type_: str) -> list[Registration]:
    return [r for r in run.registrations if r.type == type_]


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_each_cluster_has_its_own_namespace_cluster_store_identity_container_and_alerts(cluster: str) -> None:
    run = platform()
    namespace = run.one("kubernetes:core/v1:Namespace", f"{cluster}-database-namespace")
    assert namespace.inputs["metadata"]["name"] == cluster
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for kind, suffix in (
        ("kubernetes:postgresql.cnpg.io/v1:Cluster", "database-cluster"),
        ("kubernetes:barmancloud.cnpg.io/v1:ObjectStore", "database-object-store"),
        ("kubernetes:postgresql.cnpg.io/v1:ImageCatalog", "database-image-catalog"),
        ("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "database-monitoring-alerts"),
        ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "network-policies-default-deny-ingress"),
        ("kubernetes:postgresql.cnpg.io/v1:ScheduledBackup", "backups-scheduled"),
    ):
        assert run.one(kind, f"{cluster}-{suffix}").inputs["metadata"]["namespace"] == cluster
    identity = run.one("azure-native:managedidentity:UserAssignedIdentity", f"identities-{cluster}-workload")
    container = run.one("azure-native:storage:BlobContainer", f"backup-storage-{cluster}-container")
    assert container.inputs["containerName"] == f"backups-{cluster}"
    writer = run.one("azure-native:authorization:RoleAssignment", f"backup-storage-{cluster}-writer")
    assert {identity.urn, container.urn} <= set(writer.dependencies)
    rules = run.one("azure-native:alertsmanagement:PrometheusRuleGroup", f"observability-{cluster}-database-alerts")
    assert all(rule["labels"]["cnpg_cluster"] == cluster for rule in rules.inputs["rules"])


def test_each_identity_is_trusted_only_by_its_own_clusters_service_accounts() -> None:
    run = platform()
    for credential in _of(run, "azure-native:managedidentity:FederatedIdentityCredential"):
        cluster = next(c for c in CLUSTERS if credential.name.startswith(f"identities-{c}-"))
        namespace, account = credential.inputs["subject"].split(":")[2:]
        assert namespace == cluster and account in (cluster, f"{cluster}-drill")


def test_no_shared_workload_identity_or_container_without_a_stack_named_cluster() -> None:
    run = platform()
    names = {r.name for r in run.registrations}
    assert "identities-workload" not in names and "backup-storage-container" not in names


def test_the_stack_wide_monitoring_ships_once() -> None:
    run = platform()
    dashboards = [r for r in _of(run, "kubernetes:core/v1:ConfigMap") if r.name.endswith("-dashboard")]
    # Owned by no cluster: adding, removing or renaming one never moves these fixed-name objects.
    assert [r.name for r in dashboards] == ["platform-monitoring-dashboard"]
    assert dashboards[0].inputs["metadata"]["name"] == "cloudnative-pg-grafana-dashboard"
    # One dashboard for every cluster: upstream's namespace and cluster variables pick one.
    dashboard = json.loads(dashboards[0].inputs["data"]["cloudnative-pg.json"])
    assert {"namespace", "cluster"} <= {variable["name"] for variable in dashboard["templating"]["list"]}
    settings = [r for r in _of(run, "kubernetes:core/v1:ConfigMap") if r.name.endswith("-azure-metrics-settings")]
    assert len(settings) == 1
    # The operators page once, not once per cluster.
    operator_alerts = [
        rule["alert"]
        for r in _of(run, "kubernetes:monitoring.coreos.com/v1:PrometheusRule")
        for group in r.inputs["spec"]["groups"]
        for rule in group["rules"]
        if rule["alert"].startswith("CNPGOperator")
    ]
    assert sorted(operator_alerts) == ["CNPGOperatorDegraded", "CNPGOperatorDown"]
    # On the first cluster by name: the CLI hands the clusters map over sorted, whatever the file's order.
    analytics = run.one("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "analytics-database-monitoring-alerts")
    assert "CNPGOperatorDown" in {rule["alert"] for rule in analytics.inputs["spec"]["groups"][0]["rules"]}


def test_outputs_map_every_cluster_and_keep_credentials_secret() -> None:
    run = platform()
    assert set(run.outputs["clusters"]) == set(CLUSTERS)
    orders = run.outputs["clusters"]["orders"]
    assert orders["readWriteHost"] == "orders-rw.orders.svc.cluster.local"
    assert orders["pooledReadWriteHost"].startswith("orders-pooler-rw.orders")
    assert "pooledReadWriteHost" not in run.outputs["clusters"]["billing"]
    assert "clusterConnectionUris" in run.secret_outputs and "clusters" not in run.secret_outputs
    assert set(run.outputs["clusterConnectionUris"]["billing"]["declaredRoleUris"]) == {
        f"{role}@{database}" for role in ("payments_app", "reporting") for database in ("invoices", "payments")
    }
    # No one-cluster outputs on a platform without a stack-named cluster.
    assert "readWriteHost" not in run.outputs


def test_declared_databases_and_roles_reach_cnpg() -> None:
    run = platform()
    spec = run.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "billing-database-cluster").inputs["spec"]
    assert [role["name"] for role in spec["managed"]["roles"]] == ["auditors", "payments_app", "reporting"]
    databases = [r for r in _of(run, "kubernetes:postgresql.cnpg.io/v1:Database")]
    assert sorted(r.inputs["spec"]["name"] for r in databases) == ["invoices", "payments"]
    assert all(r.inputs["spec"]["databaseReclaimPolicy"] == "retain" for r in databases)


def test_a_fourth_cluster_adds_resources_and_changes_no_existing_input() -> None:
    before = platform()
    config = _config()
    config[KEY]["inventory"] = {"clients": {"namespaces": ["warehouse"]}}
    after = run_stack("platform", config=config)
    old, new = _inputs(before), _inputs(after)
    assert set(old) < set(new)
    assert all(
        urn.split("::")[-1].startswith(
            ("inventory-", "identities-inventory-", "backup-storage-inventory-", "observability-inventory-")
        )
        for urn in set(new) - set(old)
    )
    assert {urn for urn in old if old[urn] != new[urn]} == set()


def test_a_one_cluster_stack_moves_into_clusters_at_its_old_urns(dev: StackRun) -> None:
    """dev's database as the entry that keeps the one-cluster names: every resource at its URN, same inputs."""
    config = _config("dev")
    public = config[f"{PROJECT}:publicEndpoint"]
    config[f"{PROJECT}:publicEndpoint"] = {**public, "enabled": False}
    config[KEY] = {"pg-primary": {"stackNames": True, "postgres": {"namespace": "cnpg-database"}, "publicEndpoint": public}}
    moved = run_stack("dev", config=config)
    old, new = _inputs(dev), _inputs(moved)
    assert set(new) == set(old)
    assert {urn for urn in old if old[urn] != new[urn]} == set()


def _problems(config: dict[str, Any]) -> list[str]:
    values = {key.removeprefix(f"{PROJECT}:"): value for key, value in config.items()}
    with pytest.raises(SettingsError) as raised:
        parse_settings(values, stack="platform")
    return raised.value.problems


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda c: c[KEY].update({"Orders": {}}),
            "clusters.Orders: 'Orders' — must be a cluster name of 1-30 lowercase letters",
        ),
        (
            lambda c: c[KEY].update({"a" * 31: {}}),
            f"clusters.{'a' * 31}: {'a' * 31!r} — must be a cluster name of 1-30",
        ),
        (
            lambda c: c[KEY]["billing"]["postgres"].update({"namespace": "orders"}),
            "clusters: orders, billing share postgres.namespace 'orders' — each cluster needs its own namespace",
        ),
        (
            lambda c: c[KEY]["orders"].update({"stackNames": True}) or c[KEY]["billing"].update({"stackNames": True}),
            "clusters: ['orders', 'billing'] all set stackNames",
        ),
        (
            lambda c: c[f"{PROJECT}:publicEndpoint"].update({"enabled": True}),
            "publicEndpoint.enabled: set, but with clusters each cluster opts in",
        ),
        (
            lambda c: c[KEY]["orders"].update({"backup": {"storageSku": "Standard_LRS"}}),
            "clusters.orders.backup.storageSku: 'Standard_LRS' — every cluster backs up to the stack's one storage account",
        ),
        (
            lambda c: c[KEY]["orders"]["backup"].update({"retention": "30d"}),
            "clusters.orders.backup.retention: '30d' — longer than backup.retention '14d'",
        ),
        (
            lambda c: c[KEY]["billing"]["databases"].update({"template1": {"owner": "billing"}}),
            "clusters.billing.databases.template1",
        ),
        (
            lambda c: c[KEY]["billing"]["databases"]["payments"].update({"owner": "nobody"}),
            "clusters.billing.databases.payments.owner: 'nobody'",
        ),
        (
            lambda c: c[KEY]["orders"].update({"postgres": {"instances": 1}}),
            "clusters.orders.postgres.instances: 1",
        ),
        (
            lambda c: c[KEY]["orders"].update({"postgres": {"namespace": "n" * 63, "clusterName": "c" * 50}}),
            "clusters.orders.postgres.namespace: '" + "n" * 63 + "' — with cluster '" + "c" * 50 + "-drill' the federated "
            "credential",
        ),
        (
            lambda c: c.update({f"{PROJECT}:databases": {"extra": {"owner": "app"}}}),
            "databases: set, but with clusters each cluster declares its own",
        ),
        (
            lambda c: c[KEY].update({f"c{index}": {} for index in range(20)}),
            "clusters: 23 clusters — at most 20 per stack",
        ),
    ],
)
def test_bad_platform_settings_are_refused_one_line_each(change: Any, expected: str) -> None:
    config = _config()
    change(config)
    problems = _problems(config)
    assert any(expected in line for line in problems), problems


def test_removing_a_protected_cluster_is_refused_with_the_steps_to_retire_it() -> None:
    config = _config()
    config[f"{PROJECT}:protectStatefulResources"] = True
    deployed = {"clusters": {key: {"protected": True, "stackNames": False} for key in (*CLUSTERS, "legacy")}}
    with pytest.raises(Exception, match=r"clusters\.legacy: removed \(or renamed\), but its last deployment protected") as raised:
        run_stack("platform", config=config, deployed_outputs=deployed)
    message = str(raised.value)
    namespace = "aks-postgres-ha:components:PostgresCluster$kubernetes:core/v1:Namespace::legacy-database-namespace"
    assert f"pulumi state unprotect 'urn:pulumi:platform::aks-postgres-ha::{namespace}'" in message
    # Nothing of the remaining clusters' databases was registered before the check.
    registered = raised.value.registrations  # type: ignore[attr-defined]
    assert not [r for r in registered if r.name.endswith("-database-namespace")]


def test_every_platform_object_is_valid_against_the_schemas_and_cel_rules() -> None:
    from offline.render import kubernetes_objects
    from tests.k8s_schema import validate_object

    run = platform()
    settings = parse_settings({key.removeprefix(f"{PROJECT}:"): value for key, value in _config().items()})
    objects = kubernetes_objects(run)
    assert {("postgresql.cnpg.io/v1", "Database"), ("postgresql.cnpg.io/v1", "ImageCatalog")} <= {
        (obj["apiVersion"], obj["kind"]) for obj in objects
    }
    assert [problem for obj in objects for problem in validate_object(obj, settings.aks.kubernetes_minor)] == []


def test_a_restore_runs_beside_its_own_cluster_only() -> None:
    config = _config()
    config[KEY]["orders"]["restore"] = {"enabled": True}
    run = run_stack("platform", config=config)
    restored = run.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "orders-restore-cluster")
    assert (restored.inputs["metadata"]["name"], restored.inputs["metadata"]["namespace"]) == ("orders-restored", "orders")
    trust = run.one("azure-native:managedidentity:FederatedIdentityCredential", "identities-orders-fic-orders-orders-restored")
    assert trust.inputs["subject"] == "system:serviceaccount:orders:orders-restored"
    assert not [r for r in run.registrations if r.name.startswith(("billing-restore", "analytics-restore"))]


def test_a_retired_cluster_registers_nothing_and_its_backups_stay() -> None:
    config = _config()
    config[f"{PROJECT}:protectStatefulResources"] = True
    config[KEY]["billing"]["retired"] = True
    deployed = {"clusters": {key: {"protected": True, "stackNames": False} for key in CLUSTERS}}
    run = run_stack("platform", config=config, deployed_outputs=deployed)
    assert not [r for r in run.registrations if "billing" in r.name]
    assert set(run.outputs["clusters"]) == {"orders", "analytics"}
    # Removing a container from the program leaves it, and its backups, in Azure.
    containers = _of(run, "azure-native:storage:BlobContainer")
    assert containers and all(c.retain_on_delete and c.protect for c in containers)


def test_every_cluster_retired_is_refused() -> None:
    config = _config()
    for entry in config[KEY].values():
        entry["retired"] = True
    assert "clusters: no cluster that is not retired — a stack runs at least one; destroy the stack instead" in "\n".join(
        _problems(config)
    )
