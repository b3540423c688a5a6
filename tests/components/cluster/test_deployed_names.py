"""A rename of postgres.namespace/clusterName on a live stack is refused before anything moves."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi import RunError

from offline.engine import StackRun, run_stack
from tests.test_settings import _section

P = "aks-postgres-ha:"
NAMESPACE = "kubernetes:core/v1:Namespace"
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
LIVE = {"postgresNamespace": "cnpg-database", "postgresClusterName": "pg-primary"}


def test_the_deployed_names_are_exported_for_the_next_deployment(shipped: StackRun) -> None:
    assert {key: shipped.outputs[key] for key in LIVE} == LIVE
    assert not set(LIVE) & shipped.secret_outputs


def test_first_deployment_and_unchanged_names_pass() -> None:
    for deployed in ({}, LIVE):
        run = run_stack("dev", deployed_outputs=deployed)
        assert run.one(NAMESPACE, "database-namespace").inputs["metadata"]["name"] == "cnpg-database"
        assert run.one(CNPG_CLUSTER, "database-cluster").inputs["metadata"]["name"] == "pg-primary"


def test_namespace_registration_waits_for_the_check(dev: StackRun) -> None:
    # The check reads the stack's own outputs; the name only exists once it has passed.
    namespace = dev.one(NAMESPACE, "database-namespace")
    cluster = dev.one(CNPG_CLUSTER, "database-cluster")
    assert namespace.urn in cluster.dependencies
    assert any("StackReference" in urn for urn in namespace.property_dependencies["metadata"])


def _refused(stack: str, overrides: dict[str, Any]) -> tuple[str, list[str]]:
    with pytest.raises(RunError) as raised:
        run_stack(stack, overrides, deployed_outputs=LIVE)
    registered = [r.name for r in raised.value.registrations]  # type: ignore[attr-defined]
    return str(raised.value), registered


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"namespace": "cnpg-moved"}, "postgres.namespace: 'cnpg-moved', but this stack runs 'cnpg-database'"),
        ({"clusterName": "pg-main"}, "postgres.clusterName: 'pg-main', but this stack runs 'pg-primary'"),
    ],
)
def test_a_rename_on_a_live_stack_is_refused_before_the_namespace_or_cluster(change: dict[str, str], expected: str) -> None:
    message, registered = _refused("prod", {P + "postgres": _section("prod", "postgres", **change)})
    assert expected in message
    assert "PersistentVolumeClaims" in message and "allowDatabaseReplacement" in message and "Restore" in message
    assert "database-namespace" not in registered and "database-cluster" not in registered
    # Nor is a new service account trusted with the backup identity.
    assert not [name for name in registered if name.startswith("identities-fic-")]


def test_an_acknowledged_replacement_goes_ahead() -> None:
    overrides = {P + "postgres": _section("dev", "postgres", clusterName="pg-main"), P + "allowDatabaseReplacement": True}
    run = run_stack("dev", overrides, deployed_outputs=LIVE)
    assert run.one(CNPG_CLUSTER, "database-cluster").inputs["metadata"]["name"] == "pg-main"


def test_namespace_and_cluster_are_protected_in_prod(shipped: StackRun) -> None:
    protected = shipped.stack == "prod"
    assert shipped.one(NAMESPACE, "database-namespace").protect is protected
    assert shipped.one(CNPG_CLUSTER, "database-cluster").protect is protected
    identities = shipped.of_type("azure-native:managedidentity:UserAssignedIdentity")
    assert identities and all(identity.protect is protected for identity in identities)
