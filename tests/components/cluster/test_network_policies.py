"""Database network policies: default-deny ingress, then exactly what CloudNativePG needs."""

from __future__ import annotations

from typing import Any

from offline.engine import StackRun, run_stack, stack_config
from tests.components.helpers import children, depends_on, prod_with_public_endpoint

P = "aks-postgres-ha:"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
CNPG_PODS = {"matchExpressions": [{"key": "cnpg.io/cluster", "operator": "Exists"}]}


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
    assert spec["podSelector"] == CNPG_PODS
    assert spec["ingress"] == [
        {"from": [_from("cnpg-system", {"app.kubernetes.io/name": "cloudnative-pg"})], "ports": _tcp(8000, 5432)}
    ]


def test_instances_reach_each_other(shipped: StackRun) -> None:
    spec = _policies(shipped)["allow-instances"]["spec"]
    assert spec["ingress"] == [{"from": [{"podSelector": CNPG_PODS}], "ports": _tcp(5432, 8000)}]


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
