"""The CloudNativePG ``Cluster`` manifest, shared by the primary and any recovery cluster so
both always run the same image, resources, storage and placement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.postgres_parameters import PG_HBA, derive_parameters
from settings import PostgresSettings

BARMAN_CLOUD_PLUGIN = "barman-cloud.cloudnative-pg.io"
WORKLOAD_IDENTITY_LABEL = "azure.workload.identity/use"
WORKLOAD_IDENTITY_CLIENT_ANNOTATION = "azure.workload.identity/client-id"
ZONE_TOPOLOGY_KEY = "topology.kubernetes.io/zone"
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
            custom_timeouts=pulumi.CustomTimeouts(create=READY_TIMEOUT, update=READY_TIMEOUT),
        ),
    )


def archiver_plugin(object_store: str, server_name: str) -> dict[str, Any]:
    return {
        "name": BARMAN_CLOUD_PLUGIN,
        "enabled": True,
        "isWALArchiver": True,
        "parameters": {"barmanObjectName": object_store, "serverName": server_name},
    }


def cluster_spec(
    name: str,
    postgres: PostgresSettings,
    *,
    placement: Placement,
    workload_client_id: pulumi.Input[str],
    object_store: str,
    bootstrap: dict[str, Any],
    server_alt_dns_names: Sequence[pulumi.Input[str]] = (),
    managed_services: Sequence[dict[str, Any]] = (),
    external_clusters: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    resources = {"cpu": postgres.resources.cpu, "memory": postgres.resources.memory}
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
        "imageName": postgres.image,
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
            "parameters": derive_parameters(
                postgres.resources.memory_bytes, postgres.resources.millicores, postgres.max_connections, postgres.parameters
            ),
            "pg_hba": list(PG_HBA),
        },
        "replicationSlots": {"highAvailability": {"enabled": True}, "updateInterval": 30},
        # Probes instead of startDelay/stopDelay: stopDelay (1800 s default) stays above this.
        "smartShutdownTimeout": 30,
        "probes": {
            "startup": {
                "type": "streaming",
                "maximumLag": "32Mi",
                "periodSeconds": 5,
                "timeoutSeconds": 3,
                "failureThreshold": 120,
            },
            "readiness": {"type": "streaming", "maximumLag": "16Mi", "periodSeconds": 10, "failureThreshold": 6},
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": ZONE_TOPOLOGY_KEY,
                "whenUnsatisfiable": "DoNotSchedule",
                # Tainted or cordoned nodes do not count as places a pod could go.
                "nodeTaintsPolicy": "Honor",
                "labelSelector": {"matchLabels": {"cnpg.io/cluster": name}},
            }
        ],
        "affinity": affinity,
        # requests == limits: Guaranteed QoS, and the memory the parameters were sized for.
        "resources": {"requests": resources, "limits": resources},
        "bootstrap": bootstrap,
        "storage": {"storageClass": postgres.storage.storage_class, "size": postgres.storage.data_size},
        "walStorage": {"storageClass": postgres.storage.storage_class, "size": postgres.storage.wal_size},
        "plugins": [archiver_plugin(object_store, name)],
    }
    if server_alt_dns_names:
        spec["certificates"] = {"serverAltDNSNames": list(server_alt_dns_names)}
    if managed_services:
        spec["managed"] = {"services": {"additional": list(managed_services)}}
    if external_clusters:
        spec["externalClusters"] = list(external_clusters)
    return spec
