"""Database network policies: the database namespace admits only the traffic CloudNativePG needs and
the cluster's clients (its application namespaces and, through its load balancers, client networks).

Cilium (the AKS network dataplane) enforces them. Ingress is denied by default, then each policy
admits one kind of traffic. Egress stays open: instances reach the Kubernetes API, DNS and Azure
Blob Storage (WAL archive, backups) at addresses a NetworkPolicy cannot name exactly. Kubelet
probes come from the node itself, which Cilium always admits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.builders.cluster_spec import INSTANCE_POD_ROLE
from components.builders.endpoints import POSTGRES_PORT, Endpoints
from components.cluster.database_monitoring import AZURE_METRICS_NAMESPACE
from components.cluster.operators import CNPG_OPERATOR_POD_LABEL, PROMETHEUS_POD_LABEL, Scrapers
from components.cluster.poolers import PGBOUNCER_METRICS_PORT, POOLER_NAME_LABEL
from settings.operators import MONITORING_NAMESPACE, OPERATOR_NAMESPACE

# The instance manager's status API. Only the operator calls it: cloudnative-pg v1.30.0 uses its remote
# client (pkg/management/postgres/webserver/client/remote) in internal/controller and pkg/reconciler,
# which run in the operator, and in the kubectl plugin; never in the instance manager.
INSTANCE_MANAGER_PORT = 8000
METRICS_PORT = 9187
# The Azure Monitor metrics add-on's scraper (Azure/prometheus-collector ama-metrics-deployment.yaml);
# it scrapes the azmonitoring.coreos.com PodMonitors.
AZURE_METRICS_POD_LABEL = {"rsName": "ama-metrics"}

# Every namespace carries its name in this label (Kubernetes sets it); peers of other namespaces are named by it.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
POD_ROLE = "cnpg.io/podRole"

Selector = k8s.meta.v1.LabelSelectorArgs
Peer = k8s.networking.v1.NetworkPolicyPeerArgs
Port = k8s.networking.v1.NetworkPolicyPortArgs

# PostgreSQL instance pods of every CNPG cluster in the namespace (the restored cluster's too). Not the
# PgBouncer pods, which carry cnpg.io/cluster as well but podRole "pooler" (cnpg v1.30.0
# pkg/specs/pgbouncer/deployments.go), nor the Job pods, which carry cnpg.io/jobRole and no podRole.
INSTANCES = Selector(match_labels=dict(INSTANCE_POD_ROLE))
# CNPG's join Jobs, which clone the primary with pg_basebackup for a new standby. Its other Jobs (initdb,
# import, pgbasebackup, recovery: cnpg v1.30.0 pkg/specs/jobs.go, label cnpg.io/jobRole) reach no instance
# of this namespace, and nothing connects to any of them.
JOIN_JOBS = Selector(
    match_expressions=[k8s.meta.v1.LabelSelectorRequirementArgs(key="cnpg.io/jobRole", operator="In", values=["join"])]
)


def _tcp(*ports: int) -> list[Port]:
    return [Port(protocol="TCP", port=port) for port in ports]


def _pods_in(namespace: str, labels: dict[str, str]) -> Peer:
    return Peer(
        namespace_selector=Selector(match_labels={NAMESPACE_NAME_LABEL: namespace}),
        pod_selector=Selector(match_labels=labels),
    )


@dataclass(frozen=True)
class DatabaseNetworkPoliciesArgs:
    provider: pulumi.ProviderResource
    # The cluster's namespace, name, load balancers (the networks they admit) and PgBouncer Poolers.
    endpoints: Endpoints
    # Created once the cluster is there: the namespace exists and no policy races its bootstrap.
    cluster: pulumi.Resource
    scrapers: Scrapers
    # Application namespaces whose pods connect to the cluster's instances and poolers (clients.namespaces).
    # Its client networks (clients.cidrs) come through its load balancers: endpoints.client_cidrs().
    client_namespaces: Sequence[str] = ()


class DatabaseNetworkPolicies(pulumi.ComponentResource):
    """Default-deny ingress for the database namespace plus one allow policy per CNPG need."""

    def __init__(self, name: str, args: DatabaseNetworkPoliciesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:DatabaseNetworkPolicies", name, None, opts)
        self._name = name
        self._args = args
        allowed = [
            # The operator drives every instance through the instance manager (8000) and connects to
            # PostgreSQL (5432), as CloudNativePG's networking guide requires; nobody else reaches 8000.
            self._allow(
                "allow-operator",
                INSTANCES,
                [_pods_in(OPERATOR_NAMESPACE, CNPG_OPERATOR_POD_LABEL)],
                _tcp(INSTANCE_MANAGER_PORT, POSTGRES_PORT),
            ),
            # Standbys stream WAL from the primary (and rewind from it), join Jobs clone it: PostgreSQL only.
            self._allow(
                "allow-instances", INSTANCES, [Peer(pod_selector=INSTANCES), Peer(pod_selector=JOIN_JOBS)], _tcp(POSTGRES_PORT)
            ),
        ]
        scrapers = []
        if args.scrapers.prometheus_operator is not None:
            scrapers.append(_pods_in(MONITORING_NAMESPACE, PROMETHEUS_POD_LABEL))
        if args.scrapers.azure_managed:
            scrapers.append(_pods_in(AZURE_METRICS_NAMESPACE, AZURE_METRICS_POD_LABEL))
        if scrapers:
            allowed.append(self._allow("allow-metrics", INSTANCES, scrapers, _tcp(METRICS_PORT)))
        instances = Selector(match_labels={"cnpg.io/cluster": args.endpoints.cluster_name, **INSTANCE_POD_ROLE})
        clients = [Peer(ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr)) for cidr in args.endpoints.client_cidrs()]
        if clients:
            # The load balancers keep the client's address (externalTrafficPolicy: Local), so only the
            # allowed client networks reach PostgreSQL, and only on the cluster's instances. (The
            # policy keeps its deployed name, allow-public-clients, though it admits internal ones too.)
            allowed.append(self._allow("allow-public-clients", instances, clients, _tcp(POSTGRES_PORT)))
        pooler_services = list(args.endpoints.pooler_services)
        if pooler_services:
            in_poolers = k8s.meta.v1.LabelSelectorRequirementArgs(key=POOLER_NAME_LABEL, operator="In", values=pooler_services)
            poolers = Selector(match_expressions=[in_poolers])
            # PgBouncer connects to the instances through the cluster's rw/ro services.
            allowed.append(self._allow("allow-poolers", instances, [Peer(pod_selector=poolers)], _tcp(POSTGRES_PORT)))
            pooler_cidrs = args.endpoints.pooler_client_cidrs()
            pooler_clients = [Peer(ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr)) for cidr in pooler_cidrs]
            if pooler_clients:
                # The poolers' load balancers keep the client's address too.
                allowed.append(self._allow("allow-pooler-clients", poolers, pooler_clients, _tcp(POSTGRES_PORT)))
            if scrapers:
                allowed.append(self._allow("allow-pooler-metrics", poolers, scrapers, _tcp(PGBOUNCER_METRICS_PORT)))
        if args.client_namespaces:
            # Any pod of the named namespaces, to this cluster's instances and its poolers (PgBouncer listens on
            # 5432 too); never the restored cluster's instances nor another cluster's, which live elsewhere.
            roles = ["instance", *(["pooler"] if pooler_services else [])]
            served = Selector(
                match_labels={"cnpg.io/cluster": args.endpoints.cluster_name},
                match_expressions=[k8s.meta.v1.LabelSelectorRequirementArgs(key=POD_ROLE, operator="In", values=roles)],
            )
            applications = [
                Peer(namespace_selector=Selector(match_labels={NAMESPACE_NAME_LABEL: namespace}), pod_selector=Selector())
                for namespace in args.client_namespaces
            ]
            allowed.append(self._allow("allow-client-namespaces", served, applications, _tcp(POSTGRES_PORT)))
        # Last, so no moment exists where the deny stands without the allows.
        deny_all = k8s.networking.v1.NetworkPolicySpecArgs(pod_selector=Selector(), policy_types=["Ingress"])
        self._policy("default-deny-ingress", deny_all, depends_on=allowed)
        self.register_outputs({})

    def _allow(self, policy: str, pods: Selector, sources: list[Peer], ports: list[Port]) -> k8s.networking.v1.NetworkPolicy:
        spec = k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=pods,
            policy_types=["Ingress"],
            ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=sources, ports=ports)],
        )
        return self._policy(policy, spec, depends_on=[])

    def _policy(
        self, policy: str, spec: k8s.networking.v1.NetworkPolicySpecArgs, depends_on: Sequence[pulumi.Resource]
    ) -> k8s.networking.v1.NetworkPolicy:
        return k8s.networking.v1.NetworkPolicy(
            f"{self._name}-{policy}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=policy, namespace=self._args.endpoints.namespace),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, provider=self._args.provider, depends_on=[self._args.cluster, *depends_on]),
        )
