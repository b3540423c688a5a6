"""A disaster-recovery pair of platform stacks: each cluster of one stack and the peer's cluster of the
same name form one CNPG distributed topology, read through one StackReference checked once; each
cluster's own identity reads only its namesake's archive. Pulumi.platform.yaml pairs with a copy in
another region (its billing cluster without declared databases and roles: a replica creates none)."""

from __future__ import annotations

import base64
import copy
import json
from functools import cache
from typing import Any

import pytest
from pulumi import RunError

from offline.engine import StackOutputs, StackRun, run_stack, stack_config
from settings import PROJECT, SettingsError, parse_settings
from tests.test_dr_stack import CNPG_CLUSTER, OBJECT_STORE, PLUGIN, ROLE_ASSIGNMENT, STORAGE_BLOB_DATA_READER, TOKEN, _outputs

P = f"{PROJECT}:"
CLUSTERS = ("orders", "billing", "analytics")
PRIMARY, REPLICA = "platform", "platform-dr"
QUALIFIED = "organization/aks-postgres-ha/"


def pair_config(stack: str, dr: dict[str, Any] | None) -> dict[str, Any]:
    """Pulumi.platform.yaml as ``stack`` (the replica: another region, prefix, network and maintenance hours)."""
    config = copy.deepcopy(stack_config(PRIMARY))
    billing = config[P + "clusters"]["billing"]
    billing.pop("databases"), billing.pop("roles")
    if stack == REPLICA:
        config[P + "location"] = "germanywestcentral"
        config[P + "namePrefix"] = "cnpgpdr"
        config[P + "network"].update(
            addressSpace="10.40.0.0/16",
            nodeSubnet="10.40.0.0/20",
            privateEndpointSubnet="10.40.16.0/24",
            serviceCidr="10.41.0.0/16",
            dnsServiceIp="10.41.0.10",
            privateDnsZone="cnpgpdr.internal",
        )
        for window in config[P + "aks"]["maintenance"].values():
            window["startTime"] = "10:00"
        # Billing's internal load balancer takes addresses of this region's node subnet.
        billing["internalEndpoint"].update(readWriteIp="10.40.15.250", readOnlyIp="10.40.15.251")
    if dr is not None:
        config[P + "disasterRecovery"] = dr
    return config


REPLICA_SECTION = {"peerStack": QUALIFIED + PRIMARY, "primary": PRIMARY, "createdAs": "replica"}
PRIMARY_SECTION = {"peerStack": QUALIFIED + REPLICA, "primary": PRIMARY, "createdAs": "primary"}


@cache
def alone() -> StackRun:
    """The primary platform before the pairing: what the replica reads."""
    return run_stack(PRIMARY, config=pair_config(PRIMARY, None), referenced={})


@cache
def replica() -> StackRun:
    return run_stack(REPLICA, config=pair_config(REPLICA, REPLICA_SECTION), referenced=_outputs(alone()))


@cache
def paired() -> StackRun:
    return run_stack(PRIMARY, config=pair_config(PRIMARY, PRIMARY_SECTION), referenced=_outputs(replica()))


def _peer(run: StackRun, **changed: Any) -> dict[str, StackOutputs]:
    """``run``'s outputs with entries of its clusters output changed or added ({cluster: None} removes one)."""
    clusters = copy.deepcopy(run.outputs["clusters"])
    for key, values in changed.items():
        if values is None:
            clusters.pop(key)
        else:
            clusters[key] = {**clusters.get(key, {}), **values}
    return _outputs(run, clusters=clusters)


def _archive(name: str, store: str, server: str) -> dict[str, Any]:
    return {"name": name, "plugin": {"name": PLUGIN, "parameters": {"barmanObjectName": store, "serverName": server}}}


def _spec(run: StackRun, cluster: str) -> dict[str, Any]:
    return run.one(CNPG_CLUSTER, f"{cluster}-database-cluster").inputs["spec"]


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_each_cluster_replicates_the_peers_cluster_of_its_name(cluster: str) -> None:
    spec, peer = _spec(replica(), cluster), alone().outputs["clusters"][cluster]
    assert spec["replica"] == {"self": REPLICA, "primary": PRIMARY, "source": PRIMARY}
    assert spec["externalClusters"] == [
        _archive(REPLICA, f"{cluster}-backups", cluster),
        _archive(PRIMARY, f"{cluster}-peer-archive", peer["backupServerName"]),
    ]
    assert spec["bootstrap"]["recovery"]["source"] == PRIMARY
    peer_archive = replica().one(OBJECT_STORE, f"{cluster}-database-peer-archive")
    assert peer_archive.inputs["spec"]["configuration"]["destinationPath"] == peer["backupDestinationPath"]
    assert "retentionPolicy" not in peer_archive.inputs["spec"]
    # Created from the namesake's backups: its application password stays the namesake's.
    uris = replica().outputs["clusterConnectionUris"][cluster]
    assert uris["applicationPassword"] == alone().outputs["clusterConnectionUris"][cluster]["applicationPassword"]


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_each_clusters_own_identity_reads_only_its_namesakes_container(cluster: str) -> None:
    run = replica()
    reader = run.one(ROLE_ASSIGNMENT, f"peer-stack-{cluster}-reader")
    assert reader.inputs["scope"] == alone().outputs["clusters"][cluster]["backupContainerId"]
    assert reader.inputs["roleDefinitionId"].endswith("/roleDefinitions/" + STORAGE_BLOB_DATA_READER)
    identity = run.one("azure-native:managedidentity:UserAssignedIdentity", f"identities-{cluster}-workload")
    assert reader.property_dependencies["principalId"] == [identity.urn]
    assert reader.urn in run.one(OBJECT_STORE, f"{cluster}-database-peer-archive").dependencies
    readers = [r for r in run.of_type(ROLE_ASSIGNMENT) if r.name.startswith("peer-stack-")]
    assert len(readers) == len(CLUSTERS)
    # One StackReference to the peer, whatever the number of clusters.
    assert len([urn for urn in run.reads if urn.endswith("StackReference::peer-stack-outputs")]) == 1


def test_the_paired_primary_keeps_its_bootstrap_and_reads_each_replica_archive() -> None:
    for cluster in CLUSTERS:
        spec = _spec(paired(), cluster)
        assert spec["replica"] == {"self": PRIMARY, "primary": PRIMARY, "source": REPLICA}
        assert spec["bootstrap"] == _spec(alone(), cluster)["bootstrap"]
        reader = paired().one(ROLE_ASSIGNMENT, f"peer-stack-{cluster}-reader")
        assert reader.inputs["scope"] == replica().outputs["clusters"][cluster]["backupContainerId"]
    assert paired().outputs["disasterRecoveryPeerStack"] == QUALIFIED + REPLICA


def _refusal(peer: dict[str, StackOutputs]) -> tuple[str, set[str]]:
    with pytest.raises(RunError) as raised:
        run_stack(REPLICA, config=pair_config(REPLICA, REPLICA_SECTION), referenced=peer)
    return str(raised.value), {r.name for r in raised.value.registrations}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ({"analytics": None}, "clusters: analytics not on the peer ('organization/aks-postgres-ha/platform')"),
        ({"search": {}}, "clusters: search only on the peer"),
        (
            {"orders": {"postgresMajorVersion": 17}},
            "clusters.orders.postgres.image: PostgreSQL 18, but the peer's orders runs PostgreSQL 17",
        ),
        ({"billing": {"backupContainerId": None}}, "has no output clusters.billing.backupContainerId"),
    ],
)
def test_a_peer_whose_clusters_do_not_match_is_refused_before_any_cluster(changed: dict[str, Any], expected: str) -> None:
    message, registered = _refusal(_peer(alone(), **changed))
    assert "this stack cannot join its disaster-recovery peer" in message and expected in message
    assert not {name for name in registered if name.endswith(("-database-namespace", "-database-cluster"))}


def test_a_replica_without_the_peers_passwords_is_refused() -> None:
    message, _ = _refusal(_outputs(alone(), clusterConnectionUris={}))
    assert "has no output clusterConnectionUris.orders.applicationPassword, " in message


def _problems(config: dict[str, Any]) -> str:
    with pytest.raises(SettingsError) as raised:
        parse_settings({key.removeprefix(P): value for key, value in config.items()}, stack=REPLICA)
    return str(raised.value)


def test_each_paired_cluster_bounds_its_archive_timeout() -> None:
    config = pair_config(REPLICA, REPLICA_SECTION)
    config[P + "clusters"]["orders"]["postgres"] = {"parameters": {"archive_timeout": "5min"}}
    assert "clusters.orders.postgres.parameters.archive_timeout '5min' — " in _problems(config)


def test_declared_databases_are_refused_in_a_pair() -> None:
    config = pair_config(REPLICA, REPLICA_SECTION)
    config[P + "clusters"]["billing"]["roles"] = {"reporting": {"connectionLimit": 10}}
    assert "clusters.billing.databases/roles: set, but with disasterRecovery the replica cluster" in _problems(config)


def test_private_storage_reads_every_peer_archive_through_one_endpoint() -> None:
    def private(stack: str, dr: dict[str, Any] | None) -> dict[str, Any]:
        config = pair_config(stack, dr)
        config[P + "network"]["privateStorage"] = True
        return config

    peer = run_stack(PRIMARY, config=private(PRIMARY, None), referenced={})
    run = run_stack(REPLICA, config=private(REPLICA, REPLICA_SECTION), referenced=_outputs(peer))
    (endpoint,) = [r for r in run.of_type("azure-native:network:PrivateEndpoint") if r.name.startswith("peer-stack-")]
    assert endpoint.inputs["privateLinkServiceConnections"][0]["privateLinkServiceId"] == peer.outputs["backupStorageAccountId"]
    dns = run.one("azure-native:network:PrivateDnsZoneGroup", "peer-stack-blob-dns")
    for cluster in CLUSTERS:
        assert dns.urn in run.one(OBJECT_STORE, f"{cluster}-database-peer-archive").dependencies


def _token(cluster: str) -> str:
    """A demotion token of ``cluster``'s demoted namesake (its own system identifier)."""
    content = json.loads(base64.b64decode(TOKEN)) | {"databaseSystemIdentifier": str(7445366212148768800 + len(cluster))}
    return base64.b64encode(json.dumps(content).encode()).decode()


def test_a_switchover_promotes_each_cluster_with_its_namesakes_token() -> None:
    demoted = run_stack(
        PRIMARY, config=pair_config(PRIMARY, {**PRIMARY_SECTION, "primary": REPLICA}), referenced=_outputs(replica())
    )
    tokens = {cluster: _token(cluster) for cluster in CLUSTERS}
    section = {**REPLICA_SECTION, "primary": REPLICA, "promotionTokens": tokens}
    promoted = run_stack(REPLICA, config=pair_config(REPLICA, section), referenced=_outputs(demoted))
    for cluster in CLUSTERS:
        assert _spec(demoted, cluster)["replica"] == {"self": PRIMARY, "primary": REPLICA, "source": REPLICA}
        expected = {"self": REPLICA, "primary": REPLICA, "source": PRIMARY, "promotionToken": tokens[cluster]}
        assert _spec(promoted, cluster)["replica"] == expected


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        ({"promotionToken": TOKEN}, "disasterRecovery.promotionToken: set, but with clusters each cluster has its own"),
        (
            {"promotionTokens": {"orders": TOKEN, "search": TOKEN}},
            "disasterRecovery.promotionTokens: lacks billing, analytics; names search, not clusters of this stack",
        ),
        ({"promotionTokens": {"orders": "not-a-token"}}, "disasterRecovery.promotionTokens.orders: 'not-a-token'..."),
    ],
)
def test_a_platform_is_promoted_with_one_token_per_cluster(tokens: dict[str, Any], expected: str) -> None:
    assert expected in _problems(pair_config(REPLICA, {**REPLICA_SECTION, "primary": REPLICA, **tokens}))
