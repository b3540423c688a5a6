"""The disaster-recovery pair: Pulumi.dr.yaml (the same platform in another region, its cluster
created from prod's backups) and prod paired with it, one CNPG distributed topology. Each
cluster lists both archives; spec.replica.primary says which one takes writes, and moving it
(demotion, promotion with the demotion token, or a failover) is a settings change on each stack."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from google.protobuf import json_format
from pulumi import RunError

from offline.engine import StackOutputs, StackRun, run_stack, stack_config
from settings import SettingsError, parse_settings
from settings.disaster_recovery import CHECKED_WHEN_EXPORTED, DEMOTION_TOKEN_FIELDS, PEER_OUTPUTS, REPLICA_OUTPUTS
from sizing.postgres_parameters import setting_seconds
from tests.test_program import _plain_parts
from tests.test_settings import _section

P = "aks-postgres-ha:"
PROD = "organization/aks-postgres-ha/prod"
DR = "organization/aks-postgres-ha/dr"
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
OBJECT_STORE = "kubernetes:barmancloud.cnpg.io/v1:ObjectStore"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
PRIVATE_ENDPOINT = "azure-native:network:PrivateEndpoint"
ZONE_GROUP = "azure-native:network:PrivateDnsZoneGroup"
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
PLUGIN = "barman-cloud.cloudnative-pg.io"
# What `kubectl get cluster -o jsonpath='{.status.demotionToken}'` returns after a demotion.
TOKEN = base64.b64encode(
    json.dumps(
        {
            "latestCheckpointTimelineID": "1",
            "redoWalFile": "000000010000000000000007",
            "databaseSystemIdentifier": "7445366212148768807",
            "latestCheckpointREDOLocation": "0/7000028",
            "timeOfLatestCheckpoint": "Sun Nov 29 22:10:01 2026",
            "operatorVersion": "1.30.1",
        }
    ).encode()
).decode()
PAIRED_PROD = {"peerStack": DR, "primary": "prod", "createdAs": "primary"}


def _outputs(run: StackRun, **changed: Any) -> dict[str, StackOutputs]:
    """``run``'s outputs as a StackReference to it reads them, some changed (None removes one)."""
    outputs = {key: value for key, value in {**run.outputs, **changed}.items() if value is not None}
    return {f"organization/aks-postgres-ha/{run.stack}": StackOutputs(outputs, frozenset(run.secret_outputs))}


@pytest.fixture(scope="module")
def dr(prod: StackRun) -> StackRun:
    return run_stack("dr", referenced=_outputs(prod))


@pytest.fixture(scope="module")
def paired_prod(dr: StackRun) -> StackRun:
    return run_stack("prod", {P + "disasterRecovery": PAIRED_PROD}, referenced=_outputs(dr))


def _dr_section(**changes: Any) -> dict[str, Any]:
    return {key: value for key, value in _section("dr", "disasterRecovery", **changes).items() if value is not None}


def _spec(run: StackRun) -> dict[str, Any]:
    return run.one(CNPG_CLUSTER, "database-cluster").inputs["spec"]


def _archive(name: str, store: str) -> dict[str, Any]:
    return {"name": name, "plugin": {"name": PLUGIN, "parameters": {"barmanObjectName": store, "serverName": "pg-primary"}}}


def test_every_stack_exports_what_its_peer_reads(prod: StackRun) -> None:
    assert set(PEER_OUTPUTS + CHECKED_WHEN_EXPORTED + REPLICA_OUTPUTS) <= set(prod.outputs)
    assert prod.outputs["backupDestinationPath"] == prod.outputs["backupContainerUrl"] + "/gen-1"
    assert prod.outputs["backupServerName"] == "pg-primary"
    assert prod.outputs["postgresMajorVersion"] == 18
    assert prod.outputs["backupStoragePrivate"] is True
    assert prod.outputs["backupStorageAccountId"].endswith("/" + prod.outputs["backupStorageAccountName"])
    assert "applicationPassword" in prod.secret_outputs
    # Standalone until paired: no topology outputs.
    assert "disasterRecoveryPrimary" not in prod.outputs


def test_the_dr_stack_runs_in_another_region(dr: StackRun, prod: StackRun) -> None:
    dr_location = dr.one("azure-native:containerservice:ManagedCluster").inputs["location"]
    assert dr_location == "germanywestcentral" != prod.one("azure-native:containerservice:ManagedCluster").inputs["location"]


def test_the_dr_cluster_is_a_replica_of_prod_in_one_distributed_topology(dr: StackRun, prod: StackRun) -> None:
    spec = _spec(dr)
    assert spec["replica"] == {"self": "dr", "primary": "prod", "source": "prod"}
    assert spec["externalClusters"] == [_archive("dr", "pg-primary-backups"), _archive("prod", "pg-primary-peer-archive")]
    assert spec["bootstrap"] == {
        "recovery": {"source": "prod", "database": "appdb", "owner": "app", "secret": {"name": "pg-primary-app-credentials"}}
    }
    peer_archive = dr.one(OBJECT_STORE, "database-peer-archive")
    assert peer_archive.inputs["metadata"]["name"] == "pg-primary-peer-archive"
    assert peer_archive.inputs["spec"]["configuration"]["destinationPath"] == prod.outputs["backupDestinationPath"]
    # Never prunes the peer's backups.
    assert "retentionPolicy" not in peer_archive.inputs["spec"]
    assert peer_archive.urn in dr.one(CNPG_CLUSTER, "database-cluster").dependencies
    assert dr.outputs["disasterRecoveryPrimary"] == "prod" and dr.outputs["disasterRecoveryPeerStack"] == PROD


def test_the_replica_keeps_the_primary_password(dr: StackRun, prod: StackRun) -> None:
    assert dr.outputs["applicationPassword"] == prod.outputs["applicationPassword"]
    assert not dr.of_type("random:index/randomPassword:RandomPassword") or all(
        "app-password" not in r.name for r in dr.of_type("random:index/randomPassword:RandomPassword")
    )


def test_each_cluster_archives_to_its_own_storage_account(dr: StackRun, prod: StackRun) -> None:
    own = dr.one(OBJECT_STORE, "database-object-store").inputs["spec"]
    assert own["configuration"]["destinationPath"] == dr.outputs["backupContainerUrl"] + "/gen-1"
    assert dr.outputs["backupContainerUrl"] != prod.outputs["backupContainerUrl"]
    assert own["retentionPolicy"] == "30d"
    (archiver,) = _spec(dr)["plugins"]
    assert archiver["parameters"]["barmanObjectName"] == "pg-primary-backups" and archiver["isWALArchiver"]


def test_its_own_identity_reads_the_peer_container(dr: StackRun, prod: StackRun) -> None:
    reader = dr.one(ROLE_ASSIGNMENT, "peer-stack-reader")
    assert reader.inputs["scope"] == prod.outputs["backupContainerId"]
    assert reader.inputs["roleDefinitionId"].endswith("/roleDefinitions/" + STORAGE_BLOB_DATA_READER)
    workload = dr.one("azure-native:managedidentity:UserAssignedIdentity", "identities-workload")
    assert workload.urn in reader.property_dependencies["principalId"]
    # Its own federated credential: its own AKS issuer, its cluster's service account.
    (trust,) = [
        r
        for r in dr.of_type("azure-native:managedidentity:FederatedIdentityCredential")
        if r.inputs["subject"] == "system:serviceaccount:cnpg-database:pg-primary"
    ]
    assert dr.one("azure-native:containerservice:ManagedCluster").urn in trust.dependencies
    assert reader.urn in dr.one(OBJECT_STORE, "database-peer-archive").dependencies


def test_the_peer_archive_is_reached_through_a_private_endpoint_in_this_network(dr: StackRun, prod: StackRun) -> None:
    # prod's account denies public networks: dr reads it through an endpoint of its own, named in its own zone.
    endpoint = dr.one(PRIVATE_ENDPOINT, "peer-stack-blob-endpoint")
    (connection,) = endpoint.inputs["privateLinkServiceConnections"]
    assert connection["privateLinkServiceId"] == prod.outputs["backupStorageAccountId"]
    assert connection["groupIds"] == ["blob"]
    assert endpoint.inputs["location"] == "germanywestcentral"
    assert endpoint.inputs["privateEndpointName"].startswith("pe-peer-blob-cnpgdr-")
    own = dr.one(PRIVATE_ENDPOINT, "backup-private-endpoint-endpoint")
    assert endpoint.inputs["subnet"] == own.inputs["subnet"]
    groups = {group.name: group for group in dr.of_type(ZONE_GROUP)}
    peer_group = groups["peer-stack-blob-dns"]
    zone_id = peer_group.inputs["privateDnsZoneConfigs"][0]["privateDnsZoneId"]
    assert zone_id == groups["backup-private-endpoint-dns"].inputs["privateDnsZoneConfigs"][0]["privateDnsZoneId"]
    assert peer_group.urn in dr.one(OBJECT_STORE, "database-peer-archive").dependencies


def test_paired_prod_stays_primary_and_can_replay_the_dr_archive(paired_prod: StackRun, dr: StackRun, prod: StackRun) -> None:
    spec = _spec(paired_prod)
    assert spec["replica"] == {"self": "prod", "primary": "prod", "source": "dr"}
    assert spec["externalClusters"] == [_archive("prod", "pg-primary-backups"), _archive("dr", "pg-primary-peer-archive")]
    # Created empty, as before the pairing: the bootstrap is what it was.
    assert spec["bootstrap"] == _spec(prod)["bootstrap"]
    reader = paired_prod.one(ROLE_ASSIGNMENT, "peer-stack-reader")
    assert reader.inputs["scope"] == dr.outputs["backupContainerId"]
    endpoint = paired_prod.one(PRIVATE_ENDPOINT, "peer-stack-blob-endpoint")
    assert endpoint.inputs["privateLinkServiceConnections"][0]["privateLinkServiceId"] == dr.outputs["backupStorageAccountId"]
    assert paired_prod.outputs["disasterRecoveryPeerStack"] == DR


def test_a_paired_primary_loses_at_most_60_seconds_with_its_region(paired_prod: StackRun, dr: StackRun, prod: StackRun) -> None:
    # The archive is all that leaves the region: a lost primary takes at most archive_timeout of
    # commits plus the segment's upload (10 s left for it; CNPGWALArchiveBehind watches a slower archiver).
    upload_seconds = 10
    assert setting_seconds(_spec(paired_prod)["postgresql"]["parameters"]["archive_timeout"]) + upload_seconds <= 60
    # The replica cluster has it too, so it holds the bound the moment it is promoted.
    assert setting_seconds(_spec(dr)["postgresql"]["parameters"]["archive_timeout"]) + upload_seconds <= 60
    # Alone, a primary keeps the cheaper 5 minutes (no replica cluster to lose less to).
    assert _spec(prod)["postgresql"]["parameters"]["archive_timeout"] == "5min"


@pytest.mark.parametrize("value", ["5min", "51s", "0", "2h", "soon"])
def test_a_paired_archive_timeout_above_the_bound_is_refused(value: str) -> None:
    values = {key.removeprefix(P): value for key, value in stack_config("dr").items()}
    values["postgres"] = {**values["postgres"], "parameters": {"archive_timeout": value}}
    with pytest.raises(SettingsError) as raised:
        parse_settings(values, stack="dr")
    assert f"postgres.parameters.archive_timeout {value!r} — " in str(raised.value)
    values["postgres"]["parameters"]["archive_timeout"] = "30s"
    assert parse_settings(values, stack="dr").postgres.parameters_for(paired_region=True)["archive_timeout"] == "30s"


def test_a_switchover_demotes_prod_then_promotes_dr_with_the_token(paired_prod: StackRun, dr: StackRun) -> None:
    demoted = run_stack("prod", {P + "disasterRecovery": {**PAIRED_PROD, "primary": "dr"}}, referenced=_outputs(dr))
    assert _spec(demoted)["replica"] == {"self": "prod", "primary": "dr", "source": "dr"}
    promoted = run_stack(
        "dr", {P + "disasterRecovery": _dr_section(primary="dr", promotionToken=TOKEN)}, referenced=_outputs(demoted)
    )
    assert _spec(promoted)["replica"] == {"self": "dr", "primary": "dr", "source": "prod", "promotionToken": TOKEN}
    # Marked secret (the plaintext-credentials policy reads *Token fields as credentials).
    raw = json_format.MessageToDict(promoted.one(CNPG_CLUSTER, "database-cluster").raw_inputs)
    assert TOKEN not in json.dumps(_plain_parts(raw))
    # The bootstrap never changes: CNPG ignores it after creation, and Pulumi shows no diff.
    assert _spec(promoted)["bootstrap"] == _spec(dr)["bootstrap"]


def _refusal(stack: str, section: dict[str, Any], referenced: dict[str, StackOutputs]) -> tuple[str, list[str]]:
    with pytest.raises(RunError) as raised:
        run_stack(stack, {P + "disasterRecovery": section}, referenced=referenced)
    return str(raised.value), [r.name for r in raised.value.registrations]  # type: ignore[attr-defined]


def test_a_token_before_the_peer_is_demoted_is_refused(paired_prod: StackRun) -> None:
    message, registered = _refusal("dr", _dr_section(primary="dr", promotionToken=TOKEN), _outputs(paired_prod))
    assert "promotionToken: set, but the peer still runs the primary; demote it first" in message
    assert "database-cluster" not in registered


def test_promotion_without_a_token_needs_failover(paired_prod: StackRun) -> None:
    message, registered = _refusal("dr", _dr_section(primary="dr"), _outputs(paired_prod))
    assert "primary: 'dr', but the peer still runs the primary: two primaries would diverge" in message
    assert "database-cluster" not in registered and "database-namespace" not in registered
    section = _dr_section(primary="dr", failover=True)
    failed_over = run_stack("dr", {P + "disasterRecovery": section}, referenced=_outputs(paired_prod))
    assert _spec(failed_over)["replica"] == {"self": "dr", "primary": "dr", "source": "prod"}


def test_a_standalone_primary_counts_as_primary(prod: StackRun) -> None:
    message, _ = _refusal("dr", _dr_section(primary="dr"), _outputs(prod))
    assert "two primaries would diverge" in message


def test_the_offline_render_answers_the_peer_with_a_labelled_mock_run() -> None:
    run = run_stack("dr")
    assert any(warning.startswith(f"mock: StackReference {PROD}") for warning in run.warnings)
    assert _spec(run)["replica"]["primary"] == "prod"


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ({"location": "germanywestcentral"}, "location: 'germanywestcentral' is the peer's region too"),
        ({"namePrefix": "cnpgdr"}, "namePrefix: 'cnpgdr' is the peer's too"),
        ({"postgresMajorVersion": 17}, "postgres.image: PostgreSQL 18, but the peer runs PostgreSQL 17"),
        ({"backupContainerId": None}, "has no output backupContainerId"),
        ({"applicationPassword": None}, "has no output applicationPassword"),
        ({"disasterRecoveryPeerStack": "organization/aks-postgres-ha/dr2"}, "pairs with 'organization/aks-postgres-ha/dr2'"),
        ({"networkAddressSpace": "10.30.128.0/17"}, "network.addressSpace: '10.30.0.0/16' overlaps the peer's '10.30.128.0/17'"),
        ({"privateDnsZone": "cnpgdr.internal"}, "network.privateDnsZone: 'cnpgdr.internal' is the peer's too"),
        (
            {"tenantId": "00000000-0000-4000-8000-0000000000ff"},
            "runs in Entra tenant '00000000-0000-4000-8000-0000000000ff', this stack in '00000000-0000-4000-8000-000000000002'",
        ),
        (
            {"maintenanceWindows": {"nodeOsUpgrade": {"dayOfWeek": "Sunday", "startTime": "11:30", "utcOffset": "+02:00"}}},
            "aks.maintenance.autoUpgrade: Sunday 10:00 +01:00 for 4 h overlaps the peer's nodeOsUpgrade window "
            "(Sunday 11:30 +02:00 for 4 h): AKS would drain both regions' nodes at once",
        ),
    ],
)
def test_a_peer_that_does_not_match_is_refused_before_the_cluster(prod: StackRun, changed: dict[str, Any], expected: str) -> None:
    message, registered = _refusal("dr", _dr_section(), _outputs(prod, **changed))
    assert "this stack cannot join its disaster-recovery peer" in message and expected in message
    assert "database-cluster" not in registered and "database-namespace" not in registered
    assert "peer-stack-reader" not in registered


def test_a_peer_of_the_previous_version_pairs_and_is_checked_once_it_exports_the_new_outputs(prod: StackRun) -> None:
    # Upgrading an existing pair: neither stack exports tenantId and maintenanceWindows before its first
    # deployment with this version, so requiring them would leave each waiting for the other.
    old_peer = _outputs(prod, tenantId=None, maintenanceWindows=None)
    assert _spec(run_stack("dr", {P + "disasterRecovery": _dr_section()}, referenced=old_peer))["replica"]["primary"] == "prod"


def test_a_private_peer_needs_private_storage_here(prod: StackRun) -> None:
    network = {**stack_config("dr")[P + "network"], "privateStorage": False}
    with pytest.raises(RunError, match=r"network\.privateStorage: false, but the peer's backup storage is reachable through"):
        run_stack("dr", {P + "network": network}, referenced=_outputs(prod))


def _settings_problems(stack: str, **changes: Any) -> str:
    values = {key.removeprefix(P): value for key, value in stack_config("dr").items()}
    values["disasterRecovery"] = _dr_section(**changes)
    with pytest.raises(SettingsError) as raised:
        parse_settings(values, stack=stack)
    return str(raised.value)


@pytest.mark.parametrize(
    ("stack", "changes", "expected"),
    [
        ("dr", {"peerStack": "prod"}, "disasterRecovery.peerStack: 'prod' — must name the peer's stack fully qualified"),
        ("prod", {}, "disasterRecovery.peerStack: 'organization/aks-postgres-ha/prod' is this stack itself"),
        ("dr", {"primary": "staging"}, "disasterRecovery.primary: 'staging' is neither this stack ('dr') nor the peer ('prod')"),
        ("dr", {"promotionToken": TOKEN}, "disasterRecovery.promotionToken: set, but primary is the peer"),
        ("dr", {"primary": "dr", "promotionToken": "not-a-token"}, "is not a CNPG demotion token"),
        ("dr", {"failover": True}, "disasterRecovery.failover: true promotes this stack without a token"),
        ("dr", {"createdAs": "standby"}, "disasterRecovery.createdAs: 'standby' — Input should be 'primary' or 'replica'"),
        ("dr", {"createdAs": None}, "aks-postgres-ha:disasterRecovery.createdAs: required setting is missing"),
    ],
)
def test_topology_settings_cnpg_would_refuse_are_refused(stack: str, changes: dict[str, Any], expected: str) -> None:
    assert expected in _settings_problems(stack, **changes)


@pytest.mark.parametrize("missing", DEMOTION_TOKEN_FIELDS)
def test_a_token_missing_a_field_cnpg_checks_is_refused(missing: str) -> None:
    content = json.loads(base64.b64decode(TOKEN))
    content[missing] = ""
    token = base64.b64encode(json.dumps(content).encode()).decode()
    assert f"a demotion token without {missing}" in _settings_problems("dr", primary="dr", promotionToken=token)


def test_primary_stacks_ship_unpaired(shipped: StackRun) -> None:
    assert not shipped.of_type("aks-postgres-ha:components:PeerStack")
    assert "initdb" in _spec(shipped)["bootstrap"] and "replica" not in _spec(shipped)


def test_dr_reuses_the_prod_settings_section_shape() -> None:
    # The DR stack is prod-like: the same PostgreSQL settings as its peer.
    assert _section("dr", "postgres") == _section("prod", "postgres")


def test_the_shipped_pair_keeps_its_maintenance_windows_apart(dr: StackRun, prod: StackRun) -> None:
    # dr joined prod's topology above; prod's windows are exported for dr's check and dr's differ.
    assert prod.outputs["maintenanceWindows"] != dr.outputs["maintenanceWindows"]
    assert prod.outputs["maintenanceWindows"]["autoUpgrade"] == {
        "dayOfWeek": "Sunday", "startTime": "02:00", "durationHours": 4, "utcOffset": "+01:00", "intervalWeeks": 1
    }  # fmt: skip
