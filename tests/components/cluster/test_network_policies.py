"""Database network policies: default-deny ingress, then exactly what CloudNativePG needs."""

from __future__ import annotations

from ipaddress import ip_address, ip_network
from typing import Any

import pytest

from offline.engine import StackRun, run_stack, stack_config
from tests.components.helpers import children, depends_on, prod_with_public_endpoint

P = "aks-postgres-ha:"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
INSTANCES = {"matchLabels": {"cnpg.io/podRole": "instance"}}
JOIN_JOBS = {"matchExpressions": [{"key": "cnpg.io/jobRole", "operator": "In", "values": ["join"]}]}


def _policies(run: StackRun) -> dict[str, dict[str, Any]]:
    return {r.inputs["metadata"]["name"]: r.inputs for r in run.of_type(NETWORK_POLICY)}


def _tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def _from(namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "podSelector": {"matchLabels": labels},
    }


def test_every_policy_lives_in_the_database_namespace(shipped: StackRun) -> None:
    namespace = shipped.one("kubernetes:core/v1:Namespace", "database-namespace").inputs["metadata"]["name"]
    policies = _policies(shipped)
    assert set(policies) == {
        "default-deny-ingress",
        "allow-operator",
        "allow-instances",
        "allow-metrics",
        # dev: the public endpoint's client networks; prod: the internal endpoint's.
        "allow-public-clients",
        # The PgBouncer poolers: they reach the instances, clients reach them, Prometheus scrapes them.
        "allow-poolers",
        "allow-pooler-clients",
        "allow-pooler-metrics",
    }
    assert {p["metadata"]["namespace"] for p in policies.values()} == {namespace}
    assert all(p["spec"]["policyTypes"] == ["Ingress"] for p in policies.values())  # egress stays open


def test_ingress_is_denied_by_default(shipped: StackRun) -> None:
    deny = _policies(shipped)["default-deny-ingress"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_operator_reaches_instance_manager_and_postgres(shipped: StackRun) -> None:
    spec = _policies(shipped)["allow-operator"]["spec"]
    assert spec["podSelector"] == INSTANCES
    assert spec["ingress"] == [
        {"from": [_from("cnpg-system", {"app.kubernetes.io/name": "cloudnative-pg"})], "ports": _tcp(8000, 5432)}
    ]


def test_instances_and_jobs_reach_postgres_only(shipped: StackRun) -> None:
    spec = _policies(shipped)["allow-instances"]["spec"]
    assert spec["podSelector"] == INSTANCES
    assert spec["ingress"] == [{"from": [{"podSelector": INSTANCES}, {"podSelector": JOIN_JOBS}], "ports": _tcp(5432)}]


def test_both_prometheus_scrape_metrics_only(shipped: StackRun) -> None:
    spec = _policies(shipped)["allow-metrics"]["spec"]
    assert spec["ingress"] == [
        {
            "from": [
                _from("monitoring", {"app.kubernetes.io/name": "prometheus"}),
                _from("kube-system", {"rsName": "ama-metrics"}),
            ],
            "ports": _tcp(9187),
        }
    ]


def _client_networks(cidrs: list[str]) -> list[dict[str, Any]]:
    return [{"from": [{"ipBlock": {"cidr": cidr}} for cidr in cidrs], "ports": _tcp(5432)}]


def test_public_clients_reach_only_postgres_on_the_instances(dev: StackRun, prod: StackRun) -> None:
    instances = {"matchLabels": {"cnpg.io/cluster": "pg-primary", "cnpg.io/podRole": "instance"}}
    # dev: the public endpoint's client networks.
    spec = _policies(dev)["allow-public-clients"]["spec"]
    assert spec["podSelector"] == instances
    assert spec["ingress"] == _client_networks(["203.0.113.0/24"])
    # prod (private): the internal endpoint's client networks (network.clientCidrs).
    spec = _policies(prod)["allow-public-clients"]["spec"]
    assert spec["podSelector"] == instances
    assert spec["ingress"] == _client_networks(["192.0.2.0/24"])
    # prod with its public endpoint on: both, and still only PostgreSQL on the instances.
    spec = _policies(prod_with_public_endpoint())["allow-public-clients"]["spec"]
    assert spec["podSelector"] == instances
    assert spec["ingress"] == _client_networks(["203.0.113.0/24", "192.0.2.0/24"])


def test_load_balancers_keep_the_client_address(prod: StackRun) -> None:
    spec = prod.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "database-cluster").inputs["spec"]
    for service in spec["managed"]["services"]["additional"]:
        assert service["serviceTemplate"]["spec"]["externalTrafficPolicy"] == "Local"


def test_the_deny_comes_last_after_the_cluster(prod: StackRun) -> None:
    policies = {r.inputs["metadata"]["name"]: r for r in children(prod, "network-policies")}
    cluster = prod.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "database-cluster")
    deny = policies.pop("default-deny-ingress")
    assert all(depends_on(prod, deny, allow) for allow in policies.values())
    assert all(depends_on(prod, policy, cluster) for policy in [deny, *policies.values()])
    provider = prod.one("pulumi:providers:kubernetes")
    assert all(policy.provider.startswith(provider.urn) for policy in [deny, *policies.values()])


def _policies_with(overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return _policies(run_stack("prod", overrides))


def test_no_public_endpoint_no_client_rule() -> None:
    # Neither a public nor an internal endpoint (dev without its public one): no client rule at all.
    policies = _policies(run_stack("dev", {P + "publicEndpoint": {"enabled": False}}))
    assert "allow-public-clients" not in policies and "allow-pooler-clients" not in policies
    # No public endpoint but the internal one (prod as shipped): only the internal client networks,
    # not publicEndpoint.allowedClientCidrs.
    policies = _policies_with({P + "publicEndpoint": {**stack_config("prod")[P + "publicEndpoint"], "enabled": False}})
    assert policies["allow-public-clients"]["spec"]["ingress"] == _client_networks(["192.0.2.0/24"])


def test_scrapers_follow_the_monitoring_choices() -> None:
    operators = {**stack_config("prod")[P + "operators"], "selfManagedMonitoring": False}
    azure_only = _policies_with({P + "operators": operators})
    assert azure_only["allow-metrics"]["spec"]["ingress"][0]["from"] == [_from("kube-system", {"rsName": "ama-metrics"})]


# Pods as CloudNativePG v1.30.0 labels them (pkg/specs/pods.go, pkg/specs/jobs.go,
# pkg/specs/pgbouncer/deployments.go) and the scrapers and operator as their charts do. A source outside
# the cluster has no namespace and its address under NETWORK_ADDRESS (what the load balancers let keep).
DATABASE = "cnpg-database"
NETWORK_ADDRESS = "address"
Pods = dict[str, tuple[str | None, dict[str, str]]]
POD_LABELS: Pods = {
    "instance": (
        DATABASE,
        {"cnpg.io/cluster": "pg-primary", "cnpg.io/podRole": "instance", "cnpg.io/instanceName": "pg-primary-1"},
    ),
    "restored instance": (DATABASE, {"cnpg.io/cluster": "pg-restored", "cnpg.io/podRole": "instance"}),
    "join job": (DATABASE, {"cnpg.io/cluster": "pg-primary", "cnpg.io/jobRole": "join", "cnpg.io/instanceName": "pg-primary-3"}),
    "initdb job": (DATABASE, {"cnpg.io/cluster": "pg-primary", "cnpg.io/jobRole": "initdb"}),
    "pooler": (
        DATABASE,
        {"cnpg.io/cluster": "pg-primary", "cnpg.io/podRole": "pooler", "cnpg.io/poolerName": "pg-primary-pooler-rw"},
    ),
    "app pod": (DATABASE, {"app": "other"}),
    "operator": ("cnpg-system", {"app.kubernetes.io/name": "cloudnative-pg", "app.kubernetes.io/instance": "cloudnative-pg"}),
    "barman cloud plugin": ("cnpg-system", {"app.kubernetes.io/name": "plugin-barman-cloud"}),
    "prometheus": ("monitoring", {"app.kubernetes.io/name": "prometheus", "prometheus": "kube-prometheus-stack-prometheus"}),
    "grafana": ("monitoring", {"app.kubernetes.io/name": "grafana"}),
    "ama-metrics": ("kube-system", {"rsName": "ama-metrics"}),
    # prod's internal endpoint admits network.clientCidrs (192.0.2.0/24).
    "internal client": (None, {NETWORK_ADDRESS: "192.0.2.10"}),
    "other network": (None, {NETWORK_ADDRESS: "198.18.0.10"}),
}


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.get("matchExpressions", []):
        key, operator = requirement["key"], requirement["operator"]
        present = key in labels
        if (operator == "Exists" and not present) or (operator == "DoesNotExist" and present):
            return False
        if operator == "In" and labels.get(key) not in requirement["values"]:
            return False
        if operator == "NotIn" and present and labels[key] in requirement["values"]:
            return False
    return True


def admitted(policies: dict[str, dict[str, Any]], source: str, target: str, port: int, pods: Pods = POD_LABELS) -> bool:
    """Whether the NetworkPolicies admit TCP from a pod or network address to a pod on a port (Kubernetes
    semantics: a pod that some Ingress policy selects accepts what any of them allows)."""
    source_namespace, source_labels = pods[source]
    namespace, labels = pods[target]
    selecting = [
        p["spec"]
        for p in policies.values()
        if p["metadata"]["namespace"] == namespace and _selects(p["spec"]["podSelector"], labels)
    ]
    if not selecting:
        return True
    for spec in selecting:
        for rule in spec.get("ingress", []):
            if not any(p["port"] == port and p["protocol"] == "TCP" for p in rule.get("ports", [])):
                continue
            for peer in rule.get("from", []):
                if source_namespace is None or "ipBlock" in peer:
                    # Pods are no ipBlock's (Azure CNI overlay: the pod range is refused as a client network).
                    if source_namespace is None and "ipBlock" in peer:
                        block = peer["ipBlock"]
                        address = ip_address(source_labels[NETWORK_ADDRESS])
                        if address in ip_network(block["cidr"]) and not any(
                            address in ip_network(cidr) for cidr in block.get("except", [])
                        ):
                            return True
                    continue
                namespaces = peer.get("namespaceSelector")
                in_namespace = (
                    source_namespace == namespace
                    if namespaces is None
                    else _selects(namespaces, {"kubernetes.io/metadata.name": source_namespace})
                )
                if in_namespace and _selects(peer.get("podSelector", {}), source_labels):
                    return True
    return False


# (source, target, port): every flow the database namespace admits in prod (both Prometheus flavours, poolers).
ADMITTED = {
    ("operator", "instance", 8000),
    ("operator", "instance", 5432),
    ("operator", "restored instance", 8000),
    ("operator", "restored instance", 5432),
    ("instance", "instance", 5432),  # streaming replication, pg_rewind
    ("restored instance", "restored instance", 5432),
    ("join job", "instance", 5432),  # pg_basebackup from the primary
    ("pooler", "instance", 5432),
    ("prometheus", "instance", 9187),
    ("ama-metrics", "instance", 9187),
    ("prometheus", "restored instance", 9187),
    ("ama-metrics", "restored instance", 9187),
    ("prometheus", "pooler", 9127),
    ("ama-metrics", "pooler", 9127),
    # Instances of the two clusters in one namespace: a NetworkPolicy cannot say "same cluster".
    ("instance", "restored instance", 5432),
    ("restored instance", "instance", 5432),
    ("join job", "restored instance", 5432),
    # Through the internal load balancers: PostgreSQL of the cluster's instances (not the restored one's) and the poolers.
    ("internal client", "instance", 5432),
    ("internal client", "pooler", 5432),
}


def test_the_policies_admit_exactly_the_flows_cloudnative_pg_needs(prod: StackRun) -> None:
    policies = _policies(prod)
    pods = [pod for pod, (namespace, _) in POD_LABELS.items() if namespace == DATABASE]
    ports = (5432, 8000, 9187, 9127)
    flows = {(source, target, port) for source in POD_LABELS for target in pods for port in ports}
    assert {flow for flow in flows if admitted(policies, *flow)} == ADMITTED


def test_poolers_reach_no_instance_manager_and_serve_no_instance_metrics(prod: StackRun) -> None:
    policies = _policies(prod)
    # What the cnpg.io/cluster Exists selectors let through: poolers to 8000, scrapers to 9187 on poolers.
    assert not admitted(policies, "pooler", "instance", 8000)
    assert not admitted(policies, "prometheus", "pooler", 9187)
    assert not admitted(policies, "operator", "pooler", 8000)
    assert not admitted(policies, "instance", "instance", 8000)


# The platform (Pulumi.platform.yaml): orders (poolers; clients.namespaces [shop]), billing (internal
# endpoint; [billing-api] and clients.cidrs 198.51.100.0/24) and analytics ([reporting]), each in its
# own namespace, with a pod of each application namespace, of an unnamed one and two networks.
PLATFORM_PODS: Pods = {
    "orders instance": ("orders", {"cnpg.io/cluster": "orders", "cnpg.io/podRole": "instance"}),
    "orders join job": ("orders", {"cnpg.io/cluster": "orders", "cnpg.io/jobRole": "join"}),
    "orders pooler": (
        "orders",
        {"cnpg.io/cluster": "orders", "cnpg.io/podRole": "pooler", "cnpg.io/poolerName": "orders-pooler-rw"},
    ),
    "billing instance": ("billing", {"cnpg.io/cluster": "billing", "cnpg.io/podRole": "instance"}),
    "analytics instance": ("analytics", {"cnpg.io/cluster": "analytics", "cnpg.io/podRole": "instance"}),
    "shop pod": ("shop", {"app": "shop"}),
    "billing-api pod": ("billing-api", {"app": "billing-api"}),
    "reporting pod": ("reporting", {"app": "reporting"}),
    "unnamed pod": ("elsewhere", {"app": "other"}),
    "operator": POD_LABELS["operator"],
    "finance network": (None, {NETWORK_ADDRESS: "198.51.100.7"}),
    "other network": (None, {NETWORK_ADDRESS: "203.0.113.7"}),
}
PLATFORM_DATABASES = ("orders", "billing", "analytics")

# Every flow to PostgreSQL/PgBouncer (5432) the platform's database namespaces admit.
PLATFORM_ADMITTED = {
    ("shop pod", "orders instance"),
    ("shop pod", "orders pooler"),
    ("billing-api pod", "billing instance"),
    ("reporting pod", "analytics instance"),
    ("finance network", "billing instance"),
    # Inside each namespace only: replication, the join Job's clone, PgBouncer to its instances.
    ("orders instance", "orders instance"),
    ("orders join job", "orders instance"),
    ("orders pooler", "orders instance"),
    ("billing instance", "billing instance"),
    ("analytics instance", "analytics instance"),
    ("operator", "orders instance"),
    ("operator", "billing instance"),
    ("operator", "analytics instance"),
}


@pytest.fixture(scope="module")
def platform() -> StackRun:
    return run_stack("platform")


def test_each_cluster_admits_its_own_clients_and_no_other_cluster(platform: StackRun) -> None:
    policies = _all_policies(platform)
    targets = [pod for pod, (namespace, _) in PLATFORM_PODS.items() if namespace in PLATFORM_DATABASES]
    flows = {(source, target) for source in PLATFORM_PODS for target in targets}
    assert {flow for flow in flows if admitted(policies, *flow, 5432, PLATFORM_PODS)} == PLATFORM_ADMITTED


def test_client_namespaces_reach_postgres_and_pgbouncer_only(platform: StackRun) -> None:
    policies = _all_policies(platform)
    spec = policies["orders-network-policies-allow-client-namespaces"]["spec"]
    assert spec["podSelector"] == {
        "matchLabels": {"cnpg.io/cluster": "orders"},
        "matchExpressions": [{"key": "cnpg.io/podRole", "operator": "In", "values": ["instance", "pooler"]}],
    }
    assert spec["ingress"] == [{"from": [{**_from("shop", {}), "podSelector": {}}], "ports": _tcp(5432)}]
    # Without poolers: the instances only.
    spec = policies["analytics-network-policies-allow-client-namespaces"]["spec"]
    assert spec["podSelector"]["matchExpressions"][0]["values"] == ["instance"]
    # Billing's networks: one rule with the load balancers' others, on its own instances.
    spec = policies["billing-network-policies-allow-public-clients"]["spec"]
    assert spec["podSelector"] == {"matchLabels": {"cnpg.io/cluster": "billing", "cnpg.io/podRole": "instance"}}
    assert spec["ingress"] == _client_networks(["198.51.100.0/24"])
    for service in platform.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "billing-database-cluster").inputs["spec"]["managed"][
        "services"
    ]["additional"]:
        assert service["serviceTemplate"]["spec"]["loadBalancerSourceRanges"] == ["198.51.100.0/24"]


def test_no_clients_no_client_policy(prod: StackRun) -> None:
    assert "allow-client-namespaces" not in _policies(prod)
    policies = _policies(run_stack("prod", {P + "clients": {"namespaces": ["shop"], "cidrs": ["192.0.2.0/24"]}}))
    assert policies["allow-client-namespaces"]["spec"]["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}, "podSelector": {}}
    ]
    # A network both lists name: one ipBlock.
    assert policies["allow-public-clients"]["spec"]["ingress"] == _client_networks(["192.0.2.0/24"])


def _all_policies(run: StackRun) -> dict[str, dict[str, Any]]:
    """Every NetworkPolicy by resource name (the platform's clusters reuse the policy names)."""
    return {r.name: r.inputs for r in run.of_type(NETWORK_POLICY)}
