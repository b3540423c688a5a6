"""The CloudNativePG ``Cluster`` manifest, shared by the primary and any recovery cluster so
both always run the same image, resources, storage and placement."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.builders.image_catalog import image_catalog_ref
from components.builders.priorities import INSTANCES
from settings import PostgresSettings
from sizing.postgres_parameters import MIB, PG_HBA, setting_bytes

BARMAN_CLOUD_PLUGIN = "barman-cloud.cloudnative-pg.io"
WORKLOAD_IDENTITY_LABEL = "azure.workload.identity/use"
WORKLOAD_IDENTITY_CLIENT_ANNOTATION = "azure.workload.identity/client-id"
ZONE_TOPOLOGY_KEY = "topology.kubernetes.io/zone"
# CNPG's initdb/join Job pods carry cnpg.io/cluster too; only instance pods carry podRole=instance
# (cloudnative-pg v1.30.0 pkg/specs/jobs.go, pkg/specs/podmonitor.go), so placement selectors need both.
INSTANCE_POD_ROLE = {"cnpg.io/podRole": "instance"}

# Probes (cloudnative-pg v1.30.0 docs/src/instance_manager.md). A replica whose replay lags more than
# PROBE_MAXIMUM_LAG for READINESS_PERIOD_SECONDS x READINESS_FAILURE_THRESHOLD (5 min) leaves the
# read services and the sync quorum; 64Mi and 30 failures is CNPG's documented example, so a write
# burst does not eject healthy replicas.
PROBE_MAXIMUM_LAG = "64Mi"
READINESS_PERIOD_SECONDS = 10
READINESS_FAILURE_THRESHOLD = 30
# An explicit startup failureThreshold replaces startDelay (pkg/specs/pods.go), so the window is
# computed here: at least 30 minutes, and enough to replay max_wal_size twice (crash recovery, then
# catching up on what the primary wrote meanwhile) at a conservative rate for Azure premium disks.
STARTUP_PERIOD_SECONDS = 10
MIN_STARTUP_WINDOW_SECONDS = 1800
WAL_REPLAY_BYTES_PER_SECOND = 4 * MIB
# A first bootstrap (3 instances, volumes, WAL archive check) takes minutes, not the default 10.
READY_TIMEOUT_SECONDS = 2400
READY_TIMEOUT = "40m"


@dataclass(frozen=True)
class ClusterRef:
    """A CNPG cluster as the layers after it address it; ``resource`` is awaited until Ready."""

    provider: pulumi.ProviderResource
    namespace: str
    name: str
    resource: pulumi.Resource


@dataclass(frozen=True)
class Placement:
    """Where instances run: the postgres node pool, one per zone."""

    node_label: tuple[str, str]
    taint: tuple[str, str, str] | None


def cnpg_cluster(
    resource_name: str,
    *,
    name: str,
    namespace: str,
    spec: dict[str, Any],
    provider: pulumi.ProviderResource,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource],
    protect: bool = False,
) -> k8s.apiextensions.CustomResource:
    """A CNPG ``Cluster`` that Pulumi awaits until Ready (its condition is True exactly when the
    phase is "Cluster in healthy state"), so nothing that depends on it starts early."""
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version="postgresql.cnpg.io/v1",
        kind="Cluster",
        metadata={
            "name": name,
            "namespace": namespace,
            "annotations": {"pulumi.com/waitFor": "condition=Ready", "pulumi.com/timeoutSeconds": str(READY_TIMEOUT_SECONDS)},
        },
        spec=spec,
        opts=pulumi.ResourceOptions(
            parent=parent,
            provider=provider,
            depends_on=list(depends_on),
            protect=protect,
            custom_timeouts=pulumi.CustomTimeouts(create=READY_TIMEOUT, update=READY_TIMEOUT),
        ),
    )


def startup_window_seconds(parameters: dict[str, str]) -> int:
    """Seconds an instance may take to start: crash recovery of max_wal_size plus catching up, at least 30 min."""
    max_wal_bytes = setting_bytes(parameters.get("max_wal_size", "1GB"), MIB)
    replay_seconds = 2 * max_wal_bytes // WAL_REPLAY_BYTES_PER_SECOND
    return max(MIN_STARTUP_WINDOW_SECONDS, replay_seconds)


def archiver_plugin(object_store: str, server_name: pulumi.Input[str]) -> dict[str, Any]:
    return {
        "name": BARMAN_CLOUD_PLUGIN,
        "enabled": True,
        "isWALArchiver": True,
        "parameters": {"barmanObjectName": object_store, "serverName": server_name},
    }


def archive_source(name: str, object_store: str, server_name: pulumi.Input[str]) -> dict[str, Any]:
    """An ``externalClusters`` entry whose WAL and base backups are read through the Barman Cloud
    plugin: ``object_store``'s path, folder ``server_name`` (a recovery's or a replica's source)."""
    return {
        "name": name,
        "plugin": {
            "name": BARMAN_CLOUD_PLUGIN,
            "parameters": {"barmanObjectName": object_store, "serverName": server_name},
        },
    }


def recovery_bootstrap(source: str, postgres: PostgresSettings, app_secret_name: str) -> dict[str, Any]:
    """``bootstrap.recovery`` from the ``externalClusters`` entry ``source``, keeping the application
    database, its owner and the owner's password secret."""
    return {"source": source, "database": postgres.database, "owner": postgres.owner, "secret": {"name": app_secret_name}}


def volume_snapshot_backup(class_name: str) -> dict[str, Any]:
    """``spec.backup.volumeSnapshot``: hot snapshots of the data and WAL volumes (one class for both),
    owned by their Backup, so deleting the Backup deletes them (cloudnative-pg v1.30.0
    docs/src/appendixes/backup_volumesnapshot.md)."""
    return {
        "className": class_name,
        # Online: pg_backup_start/stop on the instance, no fencing; the backup waits until its last
        # WAL segment is archived, so the snapshot plus the Blob archive is always restorable.
        "online": True,
        "onlineConfiguration": {"immediateCheckpoint": False, "waitForArchive": True},
        "snapshotOwnerReference": "backup",
    }


def volume_snapshot_source(backup_name: str) -> dict[str, Any]:
    """``bootstrap.recovery.volumeSnapshots`` from the snapshots CNPG named after ``backup_name``
    (data: the Backup's name, WAL: ``<name>-wal``; pkg/reconciler/persistentvolumeclaim/calculator.go)."""

    def snapshot(name: str) -> dict[str, str]:
        return {"name": name, "kind": "VolumeSnapshot", "apiGroup": "snapshot.storage.k8s.io"}

    return {"storage": snapshot(backup_name), "walStorage": snapshot(f"{backup_name}-wal")}


def distributed_topology(
    self_name: str, peer_name: str, primary: str, promotion_token: pulumi.Input[str] | None
) -> dict[str, Any]:
    """``spec.replica`` of a cluster in a two-cluster distributed topology (CNPG replica_cluster.md):
    ``primary`` names the cluster that accepts writes; the other replays it from ``source``, the peer.
    A promotion token goes with ``primary == self_name`` only (settings refuse it otherwise)."""
    replica: dict[str, Any] = {"self": self_name, "primary": primary, "source": peer_name}
    if promotion_token is not None:
        replica["promotionToken"] = promotion_token
    return replica


def cluster_spec(
    name: str,
    postgres: PostgresSettings,
    *,
    image_catalog: str,
    placement: Placement,
    workload_client_id: pulumi.Input[str],
    object_store: str,
    bootstrap: dict[str, Any],
    server_alt_dns_names: Sequence[pulumi.Input[str]] = (),
    managed_services: Sequence[dict[str, Any]] = (),
    managed_roles: Sequence[dict[str, Any]] = (),
    external_clusters: Sequence[dict[str, Any]] = (),
    archive_server_name: pulumi.Input[str] | None = None,
    replica: dict[str, Any] | None = None,
    volume_snapshot_class: str | None = None,
) -> dict[str, Any]:
    """``image_catalog``: the namespace's ImageCatalog listing ``postgres.image`` for its major.
    ``archive_server_name``: the folder under the ObjectStore's path this cluster archives to
    (the plugin's serverName); the cluster's name unless given. ``replica``: ``spec.replica`` of a
    replica cluster (its source is one of ``external_clusters``). ``volume_snapshot_class``: set, the
    cluster also takes volume-snapshot base backups with that VolumeSnapshotClass."""
    # A distributed topology's clusters both bound what a lost primary region takes with it (either
    # may be promoted, and a replica cluster never forces a WAL switch itself).
    parameters = postgres.parameters_for(paired_region=replica is not None)
    affinity: dict[str, Any] = {
        "nodeSelector": dict([placement.node_label]),
        # One instance per node, on top of one per zone.
        "enablePodAntiAffinity": True,
        "podAntiAffinityType": "required",
        "topologyKey": "kubernetes.io/hostname",
    }
    if placement.taint:
        key, value, effect = placement.taint
        affinity["tolerations"] = [{"key": key, "operator": "Equal", "value": value, "effect": effect}]
    spec: dict[str, Any] = {
        "instances": postgres.instances,
        # The image of this major from the catalog; a higher major than the data's is CNPG's in-place upgrade.
        "imageCatalogRef": image_catalog_ref(image_catalog, postgres.major_version),
        "primaryUpdateStrategy": "unsupervised",
        # Rolling updates promote an up-to-date replica instead of restarting the primary in place.
        "primaryUpdateMethod": "switchover",
        "enableSuperuserAccess": False,
        "inheritedMetadata": {"labels": {WORKLOAD_IDENTITY_LABEL: "true"}},
        "serviceAccountTemplate": {"metadata": {"annotations": {WORKLOAD_IDENTITY_CLIENT_ANNOTATION: workload_client_id}}},
        "postgresql": {
            # Quorum commit to any 1 of the standbys; never silently relaxed; failover only to a
            # standby that is known to hold every committed transaction.
            "synchronous": {"method": "any", "number": 1, "dataDurability": "required", "failoverQuorum": True},
            "parameters": parameters,
            "pg_hba": list(PG_HBA),
        },
        "replicationSlots": {"highAvailability": {"enabled": True}, "updateInterval": 30},
        # Probes instead of startDelay/stopDelay: stopDelay (1800 s default) stays above this.
        "smartShutdownTimeout": 30,
        "probes": {
            "startup": {
                "type": "streaming",
                "maximumLag": PROBE_MAXIMUM_LAG,
                "periodSeconds": STARTUP_PERIOD_SECONDS,
                "timeoutSeconds": 5,
                "failureThreshold": math.ceil(startup_window_seconds(parameters) / STARTUP_PERIOD_SECONDS),
            },
            "readiness": {
                "type": "streaming",
                "maximumLag": PROBE_MAXIMUM_LAG,
                "periodSeconds": READINESS_PERIOD_SECONDS,
                "failureThreshold": READINESS_FAILURE_THRESHOLD,
            },
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": ZONE_TOPOLOGY_KEY,
                "whenUnsatisfiable": "DoNotSchedule",
                # Tainted or cordoned nodes do not count as places a pod could go.
                "nodeTaintsPolicy": "Honor",
                "labelSelector": {"matchLabels": {"cnpg.io/cluster": name, **INSTANCE_POD_ROLE}},
            }
        ],
        "affinity": affinity,
        # Above the poolers and monitoring, below the operators (builders/priorities.py).
        "priorityClassName": INSTANCES.name,
        # Guaranteed QoS, and the memory the parameters were sized for.
        "resources": postgres.resources.guaranteed(),
        "bootstrap": bootstrap,
        "storage": {"storageClass": postgres.storage.data_storage_class, "size": postgres.storage.data_size},
        "walStorage": {"storageClass": postgres.storage.storage_class, "size": postgres.storage.wal_size},
        "plugins": [archiver_plugin(object_store, archive_server_name or name)],
    }
    if server_alt_dns_names:
        spec["certificates"] = {"serverAltDNSNames": list(server_alt_dns_names)}
    if managed_services:
        spec["managed"] = {"services": {"additional": list(managed_services)}}
    if managed_roles:
        spec.setdefault("managed", {})["roles"] = list(managed_roles)
    if external_clusters:
        spec["externalClusters"] = list(external_clusters)
    if replica:
        spec["replica"] = replica
    if volume_snapshot_class:
        spec["backup"] = {"volumeSnapshot": volume_snapshot_backup(volume_snapshot_class)}
    return spec
