"""Connection pooling: a CloudNativePG ``Pooler`` (PgBouncer) for read-write and one for read-only
traffic, their disruption budgets and PodMonitors. Clients reach them as they reach the database
(``Endpoints.pooler_service_template``): on their own internal load balancers, else on the public
IP, else in the cluster only.

PgBouncer presents the cluster's server certificate to clients (CloudNativePG's default client
TLS secret), so the poolers' service names (and their private DNS names on the internal endpoint)
are in that certificate (``Endpoints.pooler_services``) and clients can use sslmode=verify-full;
towards PostgreSQL it verifies the instances' certificate against the cluster CA and the service
name. Pool sizes come from ``settings.pooler.pool_sizes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.builders.cluster_spec import ZONE_TOPOLOGY_KEY, ClusterRef, Placement
from components.builders.endpoints import Endpoints, pooler_name, pooler_names
from components.builders.image_catalog import pgbouncer_catalog_ref
from components.builders.priorities import POOLERS
from components.cluster.operators import Scrapers
from settings.pooler import POOLER_TYPES, PoolerSettings, PoolSizes

POOLER_NAME_LABEL = "cnpg.io/poolerName"
PGBOUNCER_CONTAINER = "pgbouncer"
# CloudNativePG's PgBouncer exporter (pkg/management/url PgBouncerMetricsPort), container port "metrics".
PGBOUNCER_METRICS_PORT = 9127
PGBOUNCER_METRICS_PORT_NAME = "metrics"
# CNPG's defaults are client_tls_sslmode=prefer (plain text accepted) and server_tls_sslmode=verify-ca
# (pkg/management/pgbouncer/config/config.go); the server name is <cluster>-rw/-ro, which CNPG puts
# in every instance certificate, so verify-full holds too.
PGBOUNCER_TLS = {"client_tls_sslmode": "require", "server_tls_sslmode": "verify-full"}


def pgbouncer_hba(database: str) -> list[str]:
    """Clients reach only the application database, over TLS: PgBouncer's max_db_connections is per
    database, so a second reachable database would double what a pooler can open. CNPG appends
    ``host all all ... md5`` after these lines; the rejects come first."""
    return [
        f"hostssl {database} all 0.0.0.0/0 scram-sha-256",
        f"hostssl {database} all ::/0 scram-sha-256",
        "host all all 0.0.0.0/0 reject",
        "host all all ::/0 reject",
    ]


@dataclass(frozen=True)
class PoolersArgs:
    # Awaited until Ready: a Pooler of a cluster that is not serving only crash-loops.
    cluster: ClusterRef
    settings: PoolerSettings
    sizes: PoolSizes
    database: str
    placement: Placement
    endpoints: Endpoints
    scrapers: Scrapers


class Poolers(pulumi.ComponentResource):
    """Read-write and read-only PgBouncer poolers of one CNPG cluster."""

    def __init__(self, name: str, args: PoolersArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:Poolers", name, None, opts)
        self._args = args
        cluster = args.cluster
        after_cluster = pulumi.ResourceOptions(parent=self, provider=cluster.provider, depends_on=[cluster.resource])
        for pooler_type in POOLER_TYPES:
            pooler = pooler_name(cluster.name, pooler_type)
            metadata = {"name": pooler, "namespace": cluster.namespace}
            k8s.apiextensions.CustomResource(
                f"{name}-{pooler_type}",
                api_version="postgresql.cnpg.io/v1",
                kind="Pooler",
                metadata=metadata,
                spec=self._spec(pooler, pooler_type),
                opts=after_cluster,
            )
            # CNPG creates no PodDisruptionBudget for poolers (cloudnative-pg issue #6863): a node
            # drain takes one PgBouncer pod at a time.
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-{pooler_type}-pdb",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=pooler, namespace=cluster.namespace),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels={POOLER_NAME_LABEL: pooler})
                ),
                opts=after_cluster,
            )
        self._pod_monitors(name)
        self.register_outputs({"poolers": list(pooler_names(cluster.name))})

    def _spec(self, pooler: str, pooler_type: str) -> dict[str, Any]:
        args = self._args
        pod_spec: dict[str, Any] = {
            "containers": [{"name": PGBOUNCER_CONTAINER, "resources": args.settings.resources.guaranteed()}],
            # Next to the instances, on the postgres pool (the only pool that takes workloads).
            "nodeSelector": dict([args.placement.node_label]),
            # Below the instances: with the pool short of room, PostgreSQL is scheduled first.
            "priorityClassName": POOLERS.name,
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": ZONE_TOPOLOGY_KEY,
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {POOLER_NAME_LABEL: pooler}},
                }
            ],
        }
        if args.placement.taint:
            key, value, effect = args.placement.taint
            pod_spec["tolerations"] = [{"key": key, "operator": "Equal", "value": value, "effect": effect}]
        spec: dict[str, Any] = {
            "cluster": {"name": args.cluster.name},
            "instances": args.settings.instances,
            "type": pooler_type,
            "pgbouncer": {
                # Not CNPG's default PgBouncer image (settings/images.py says why): the cluster's catalog's.
                "imageCatalogRef": pgbouncer_catalog_ref(args.cluster.name),
                "poolMode": args.settings.pool_mode,
                "parameters": {**args.sizes.parameters(), **PGBOUNCER_TLS},
                "pg_hba": pgbouncer_hba(args.database),
            },
            "template": {"spec": pod_spec},
        }
        # Internal, public or in-cluster: Endpoints.pooler_service_template picks (one type per Service).
        template = args.endpoints.pooler_service_template(pooler, PGBOUNCER_CONTAINER, args.settings.port(pooler_type))
        if template is not None:
            spec["serviceTemplate"] = template
        return spec

    def _pod_monitors(self, name: str) -> None:
        """One PodMonitor per Prometheus flavour, as DatabaseMonitoring does for the instances (CNPG's
        own ``spec.monitoring.enablePodMonitor`` is deprecated)."""
        args = self._args
        cluster = args.cluster
        metadata = {"name": f"{cluster.name}-poolers", "namespace": cluster.namespace}
        spec = {
            "selector": {
                "matchExpressions": [{"key": POOLER_NAME_LABEL, "operator": "In", "values": list(pooler_names(cluster.name))}]
            },
            "podMetricsEndpoints": [{"port": PGBOUNCER_METRICS_PORT_NAME}],
        }
        flavours: list[tuple[str, str, list[pulumi.Resource]]] = []
        if args.scrapers.prometheus_operator is not None:
            flavours.append(("pod-monitor", "monitoring.coreos.com/v1", args.scrapers.prometheus_operator))
        if args.scrapers.azure_managed:
            # Azure managed Prometheus reads only its own API group (installed by the AKS add-on).
            flavours.append(("azure-pod-monitor", "azmonitoring.coreos.com/v1", []))
        for suffix, api_version, crds in flavours:
            k8s.apiextensions.CustomResource(
                f"{name}-{suffix}",
                api_version=api_version,
                kind="PodMonitor",
                metadata=metadata,
                spec=spec,
                opts=pulumi.ResourceOptions(parent=self, provider=cluster.provider, depends_on=[cluster.resource, *crds]),
            )

    def host(self, pooler_type: str) -> pulumi.Output[str]:
        return self._args.endpoints.pooler_host(pooler_name(self._args.cluster.name, pooler_type))

    def port(self, pooler_type: str) -> int:
        """The public port on a public load balancer, else (internal or in-cluster) PgBouncer's 5432."""
        return self._args.endpoints.pooler_port(self._args.settings.port(pooler_type))
