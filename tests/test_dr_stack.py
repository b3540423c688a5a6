"""The disaster-recovery stack (Pulumi.dr.yaml): the same platform in another region and a CNPG
replica cluster following prod's primary from prod's backup container."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi import RunError

from offline.engine import StackOutputs, StackRun, run_stack, stack_config
from settings import SettingsError, parse_settings
from settings.disaster_recovery import PRIMARY_OUTPUTS
from tests.test_settings import _section

P = "aks-postgres-ha:"
PRIMARY = "organization/aks-postgres-ha/prod"
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
OBJECT_STORE = "kubernetes:barmancloud.cnpg.io/v1:ObjectStore"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"


@pytest.fixture(scope="module")
def dr(prod: StackRun) -> StackRun:
    return run_stack("dr", referenced={PRIMARY: StackOutputs(prod.outputs, frozenset(prod.secret_outputs))})


def _spec(run: StackRun) -> dict[str, Any]:
    return run.one(CNPG_CLUSTER, "database-cluster").inputs["spec"]


def test_prod_exports_what_its_replica_reads(prod: StackRun) -> None:
    assert set(PRIMARY_OUTPUTS) <= set(prod.outputs)
    assert prod.outputs["backupDestinationPath"] == prod.outputs["backupContainerUrl"] + "/gen-1"
    assert prod.outputs["backupServerName"] == "pg-primary"
    assert prod.outputs["postgresMajorVersion"] == 18
    assert "applicationPassword" in prod.secret_outputs


def test_the_dr_stack_runs_in_another_region(dr: StackRun, prod: StackRun) -> None:
    dr_location = dr.one("azure-native:containerservice:ManagedCluster").inputs["location"]
    assert dr_location == "germanywestcentral" != prod.one("azure-native:containerservice:ManagedCluster").inputs["location"]


def test_the_replica_cluster_follows_the_primary_from_its_backup_container(dr: StackRun, prod: StackRun) -> None:
    spec = _spec(dr)
    assert spec["replica"] == {"enabled": True, "source": "primary"}
    assert spec["bootstrap"] == {
        "recovery": {
            "source": "primary",
            "database": "appdb",
            "owner": "app",
            "secret": {"name": "pg-primary-app-credentials"},
        }
    }
    (source,) = spec["externalClusters"]
    assert source == {
        "name": "primary",
        "plugin": {
            "name": "barman-cloud.cloudnative-pg.io",
            "parameters": {"barmanObjectName": "pg-primary-primary-archive", "serverName": "pg-primary"},
        },
    }
    primary_archive = dr.one(OBJECT_STORE, "database-primary-archive")
    assert primary_archive.inputs["metadata"]["name"] == "pg-primary-primary-archive"
    assert primary_archive.inputs["spec"]["configuration"]["destinationPath"] == prod.outputs["backupDestinationPath"]
    # Never prunes the primary's backups.
    assert "retentionPolicy" not in primary_archive.inputs["spec"]
    cluster = dr.one(CNPG_CLUSTER, "database-cluster")
    assert primary_archive.urn in cluster.dependencies


def test_the_replica_archives_to_its_own_storage_account(dr: StackRun, prod: StackRun) -> None:
    own = dr.one(OBJECT_STORE, "database-object-store").inputs["spec"]
    assert own["configuration"]["destinationPath"] == dr.outputs["backupContainerUrl"] + "/gen-1"
    assert dr.outputs["backupContainerUrl"] != prod.outputs["backupContainerUrl"]
    assert own["retentionPolicy"] == "30d"
    (archiver,) = _spec(dr)["plugins"]
    assert archiver["parameters"]["barmanObjectName"] == "pg-primary-backups" and archiver["isWALArchiver"]


def test_its_own_identity_reads_the_primary_container(dr: StackRun, prod: StackRun) -> None:
    reader = dr.one(ROLE_ASSIGNMENT, "replica-source-reader")
    assert reader.inputs["scope"] == prod.outputs["backupContainerId"]
    assert reader.inputs["roleDefinitionId"].endswith("/roleDefinitions/" + STORAGE_BLOB_DATA_READER)
    workload = dr.one("azure-native:managedidentity:UserAssignedIdentity", "identities-workload")
    assert workload.urn in reader.property_dependencies["principalId"]
    # Its own federated credential: its own AKS issuer, its replica cluster's service account.
    (trust,) = [
        r
        for r in dr.of_type("azure-native:managedidentity:FederatedIdentityCredential")
        if r.inputs["subject"] == "system:serviceaccount:cnpg-database:pg-primary"
    ]
    assert dr.one("azure-native:containerservice:ManagedCluster").urn in trust.dependencies
    primary_archive = dr.one(OBJECT_STORE, "database-primary-archive")
    assert reader.urn in primary_archive.dependencies


def test_the_replica_poolers_are_internal_on_its_own_subnet(dr: StackRun) -> None:
    static_ip = "service.beta.kubernetes.io/azure-load-balancer-ipv4"
    addresses = {
        pooler.inputs["spec"]["type"]: pooler.inputs["spec"]["serviceTemplate"]["metadata"]["annotations"][static_ip]
        for pooler in dr.of_type("kubernetes:postgresql.cnpg.io/v1:Pooler")
    }
    assert addresses == {"rw": "10.30.15.252", "ro": "10.30.15.253"}  # inside network.nodeSubnet 10.30.0.0/20
    assert dr.outputs["pooledReadWriteHost"] == "pg-primary-pooler-rw.cnpgdr.internal"


def test_promotion_turns_replica_mode_off(prod: StackRun) -> None:
    settings = dict(stack_config("dr")[P + "disasterRecovery"], promote=True)
    run = run_stack("dr", {P + "disasterRecovery": settings}, referenced={PRIMARY: StackOutputs(prod.outputs, frozenset())})
    assert _spec(run)["replica"] == {"enabled": False, "source": "primary"}


def test_the_offline_render_answers_the_primary_with_a_labelled_mock_run() -> None:
    run = run_stack("dr")
    assert any(warning.startswith(f"mock: StackReference {PRIMARY}") for warning in run.warnings)
    assert _spec(run)["replica"]["enabled"] is True


def _refused(prod: StackRun, **changed: Any) -> tuple[str, list[str]]:
    primary = {**prod.outputs, **changed}
    with pytest.raises(RunError) as raised:
        run_stack("dr", referenced={PRIMARY: StackOutputs(primary)})
    return str(raised.value), [r.name for r in raised.value.registrations]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ({"location": "germanywestcentral"}, "location: 'germanywestcentral' is the primary's region too"),
        ({"namePrefix": "cnpgdr"}, "namePrefix: 'cnpgdr' is the primary's too"),
        ({"postgresMajorVersion": 17}, "postgres.image: PostgreSQL 18, but the primary runs PostgreSQL 17"),
        ({"backupContainerId": None}, "has no output backupContainerId"),
    ],
)
def test_a_primary_that_does_not_match_is_refused_before_the_replica(
    prod: StackRun, changed: dict[str, Any], expected: str
) -> None:
    message, registered = _refused(prod, **changed)
    assert "this stack cannot replicate its primary" in message and expected in message
    assert "database-cluster" not in registered and "database-namespace" not in registered
    assert "replica-source-reader" not in registered


def test_a_stack_cannot_replicate_itself(prod: StackRun) -> None:
    section = {"primaryStack": "organization/aks-postgres-ha/dr"}
    with pytest.raises(RunError, match="is this stack itself"):
        run_stack("dr", {P + "disasterRecovery": section}, referenced={})


def test_the_primary_stack_must_be_fully_qualified() -> None:
    values = {key.removeprefix(P): value for key, value in stack_config("dr").items()}
    values["disasterRecovery"] = {"primaryStack": "prod"}
    with pytest.raises(SettingsError) as raised:
        parse_settings(values)
    assert "aks-postgres-ha:disasterRecovery.primaryStack: 'prod' — must name the primary's stack fully qualified" in str(
        raised.value
    )


def test_primary_stacks_have_no_disaster_recovery_section(shipped: StackRun) -> None:
    assert not shipped.of_type("aks-postgres-ha:components:ReplicaSource")
    assert "initdb" in _spec(shipped)["bootstrap"] and "replica" not in _spec(shipped)


def test_dr_reuses_the_prod_settings_section_shape() -> None:
    # The DR stack is prod-like: the same PostgreSQL settings as its primary.
    assert _section("dr", "postgres") == _section("prod", "postgres")
