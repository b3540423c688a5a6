"""PgBouncer poolers: registered Pooler inputs, their budget against max_connections, exposure and outputs."""

from __future__ import annotations

from typing import Any

import pytest

from offline.engine import Registration, StackRun, run_stack, stack_config
from settings import parse_settings
from settings.pooler import DATABASES_PER_POOLER_INSTANCE, connection_budget
from tests.conftest import STACKS

P = "aks-postgres-ha:"
POOLER = "kubernetes:postgresql.cnpg.io/v1:Pooler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
POD_MONITOR_TYPES = ("kubernetes:monitoring.coreos.com/v1:PodMonitor", "kubernetes:azmonitoring.coreos.com/v1:PodMonitor")


def poolers(run: StackRun) -> dict[str, Registration]:
    return {r.inputs["spec"]["type"]: r for r in run.of_type(POOLER)}


def pgbouncer_parameters(pooler: Registration) -> dict[str, str]:
    parameters: dict[str, str] = pooler.inputs["spec"]["pgbouncer"]["parameters"]
    return parameters


def test_read_write_and_read_only_poolers_in_every_stack(shipped: StackRun) -> None:
    found = poolers(shipped)
    assert sorted(found) == ["ro", "rw"]
    for pooler_type, pooler in found.items():
        assert pooler.inputs["metadata"]["name"] == f"pg-primary-pooler-{pooler_type}"
        assert pooler.inputs["spec"]["cluster"] == {"name": "pg-primary"}


def test_poolers_wait_for_the_ready_cluster(shipped: StackRun) -> None:
    cluster = shipped.one(CLUSTER)
    assert cluster.inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    for pooler in poolers(shipped).values():
        assert cluster.urn in pooler.dependencies


def test_prod_runs_two_poolers_instances_spread_over_zones(prod: StackRun) -> None:
    for pooler in poolers(prod).values():
        spec = pooler.inputs["spec"]
        assert spec["instances"] >= 2
        (spread,) = spec["template"]["spec"]["topologySpreadConstraints"]
        assert spread["topologyKey"] == "topology.kubernetes.io/zone"
        assert spread["whenUnsatisfiable"] == "DoNotSchedule"
        assert spread["labelSelector"] == {"matchLabels": {"cnpg.io/poolerName": pooler.inputs["metadata"]["name"]}}


def test_pgbouncer_container_is_guaranteed_qos(shipped: StackRun) -> None:
    for pooler in poolers(shipped).values():
        (container,) = pooler.inputs["spec"]["template"]["spec"]["containers"]
        assert container["name"] == "pgbouncer"
        assert container["resources"]["requests"] == container["resources"]["limits"]
        assert set(container["resources"]["limits"]) == {"cpu", "memory"}


def test_tls_required_from_clients_and_verified_towards_postgres(shipped: StackRun) -> None:
    for pooler in poolers(shipped).values():
        parameters = pgbouncer_parameters(pooler)
        assert parameters["client_tls_sslmode"] == "require"
        assert parameters["server_tls_sslmode"] == "verify-full"
        hba = pooler.inputs["spec"]["pgbouncer"]["pg_hba"]
        assert hba[:2] == ["hostssl appdb all 0.0.0.0/0 scram-sha-256", "hostssl appdb all ::/0 scram-sha-256"]
        assert all(line.endswith("reject") for line in hba[2:])


def test_server_certificate_names_the_pooler_services(shipped: StackRun) -> None:
    alt_names = shipped.one(CLUSTER).inputs["spec"]["certificates"]["serverAltDNSNames"]
    for pooler_type in ("rw", "ro"):
        assert f"pg-primary-pooler-{pooler_type}.cnpg-database.svc.cluster.local" in alt_names
        assert f"pg-primary-pooler-{pooler_type}" in alt_names


@pytest.mark.parametrize("stack", STACKS)
def test_pool_sizes_never_exhaust_max_connections(stack: str, stack_runs: dict[str, StackRun]) -> None:
    run = stack_runs[stack]
    parameters = run.one(CLUSTER).inputs["spec"]["postgresql"]["parameters"]
    max_connections = int(parameters["max_connections"])
    standbys = int(run.one(CLUSTER).inputs["spec"]["instances"]) - 1
    held = sum(
        int(pooler.inputs["spec"]["instances"]) * int(pgbouncer_parameters(pooler)["max_db_connections"])
        for pooler in poolers(run).values()
    )
    # 3 superuser_reserved_connections, 3 for CloudNativePG, 10 pooler.directConnections in both stack files.
    assert held * DATABASES_PER_POOLER_INSTANCE + 3 + 3 + standbys + 10 <= max_connections
    for pooler in poolers(run).values():
        sizes = pgbouncer_parameters(pooler)
        assert int(sizes["default_pool_size"]) <= int(sizes["max_db_connections"]) <= int(sizes["max_client_conn"])
        assert sizes["reserve_pool_size"] == "0"


def test_derived_sizes_use_the_whole_budget(prod: StackRun) -> None:
    # prod: 200 - 3 - 3 - 2 standbys - 10 direct = 182 for 4 pooler instances x 2 databases -> 22 each.
    assert {pgbouncer_parameters(p)["max_db_connections"] for p in poolers(prod).values()} == {"22"}


def test_a_lower_override_is_used_as_given() -> None:
    run = run_stack("dev", {P + "pooler": {"maxDbConnections": 7, "defaultPoolSize": 5, "poolMode": "session"}})
    for pooler in poolers(run).values():
        assert pgbouncer_parameters(pooler)["max_db_connections"] == "7"
        assert pgbouncer_parameters(pooler)["default_pool_size"] == "5"
        assert pooler.inputs["spec"]["pgbouncer"]["poolMode"] == "session"


def test_each_pooler_has_a_disruption_budget(shipped: StackRun) -> None:
    budgets = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in shipped.of_type(PDB)}
    for name in ("pg-primary-pooler-rw", "pg-primary-pooler-ro"):
        assert budgets[name] == {"maxUnavailable": 1, "selector": {"matchLabels": {"cnpg.io/poolerName": name}}}


def test_pooler_pods_are_scraped_by_both_prometheus_flavours(shipped: StackRun) -> None:
    for monitor_type in POD_MONITOR_TYPES:
        monitors = [r for r in shipped.of_type(monitor_type) if r.inputs["metadata"]["name"] == "pg-primary-poolers"]
        (monitor,) = monitors
        (expression,) = monitor.inputs["spec"]["selector"]["matchExpressions"]
        assert expression == {
            "key": "cnpg.io/poolerName",
            "operator": "In",
            "values": ["pg-primary-pooler-rw", "pg-primary-pooler-ro"],
        }
        assert monitor.inputs["spec"]["podMetricsEndpoints"] == [{"port": "metrics"}]


def test_public_pooler_services_share_the_database_load_balancer_settings(dev: StackRun) -> None:
    shipped = dev  # the stack with publicEndpoint.enabled
    cluster = shipped.one(CLUSTER).inputs["spec"]
    database_lb = cluster["managed"]["services"]["additional"][0]["serviceTemplate"]
    for pooler_type, port in (("rw", 6432), ("ro", 6433)):
        template = poolers(shipped)[pooler_type].inputs["spec"]["serviceTemplate"]
        assert template["metadata"]["annotations"] == database_lb["metadata"]["annotations"]
        assert template["spec"]["type"] == "LoadBalancer"
        assert template["spec"]["loadBalancerSourceRanges"] == database_lb["spec"]["loadBalancerSourceRanges"]
        assert template["spec"]["ports"] == [{"name": "pgbouncer", "port": port, "targetPort": 5432, "protocol": "TCP"}]
        assert shipped.outputs[f"pooled{'ReadWrite' if pooler_type == 'rw' else 'ReadOnly'}Port"] == port


def test_pooled_uris_are_secret_and_verify_the_server(shipped: StackRun) -> None:
    for role in ("ReadWrite", "ReadOnly"):
        uri = shipped.outputs[f"pooled{role}Uri"]
        assert f"pooled{role}Uri" in shipped.secret_outputs
        assert uri.endswith("/appdb?sslmode=verify-full")
        assert f":{shipped.outputs[f'pooled{role}Port']}/" in uri
        assert shipped.outputs[f"pooled{role}Host"] in uri


INTERNAL_LB = "service.beta.kubernetes.io/azure-load-balancer-internal"
STATIC_IP = "service.beta.kubernetes.io/azure-load-balancer-ipv4"
RECORD_SET = "azure-native:privatedns:PrivateRecordSet"


def test_private_stack_puts_the_poolers_on_internal_load_balancers(prod: StackRun) -> None:
    run = prod  # network.internalEndpoint.enabled, publicEndpoint.enabled: false
    for pooler_type, role, address in (("rw", "ReadWrite", "10.20.15.252"), ("ro", "ReadOnly", "10.20.15.253")):
        template = poolers(run)[pooler_type].inputs["spec"]["serviceTemplate"]
        assert template == {
            "metadata": {
                "name": f"pg-primary-pooler-{pooler_type}",
                "annotations": {
                    INTERNAL_LB: "true",
                    STATIC_IP: address,
                    "service.beta.kubernetes.io/azure-load-balancer-internal-subnet": "snet-nodes",
                },
            },
            "spec": {
                "type": "LoadBalancer",
                "loadBalancerSourceRanges": ["192.0.2.0/24"],  # network.clientCidrs
                "externalTrafficPolicy": "Local",
                "ports": [{"name": "pgbouncer", "port": 5432, "targetPort": 5432, "protocol": "TCP"}],
            },
        }
        record = run.one(RECORD_SET, f"database-dns-pg-primary-pooler-{pooler_type}").inputs
        assert (record["recordType"], record["relativeRecordSetName"], record["aRecords"]) == (
            "A",
            f"pg-primary-pooler-{pooler_type}",
            [{"ipv4Address": address}],
        )
        host = f"pg-primary-pooler-{pooler_type}.cnpg.internal"
        assert run.outputs[f"pooled{role}Host"] == host
        assert run.outputs[f"pooled{role}Port"] == 5432
        assert host in run.one(CLUSTER).inputs["spec"]["certificates"]["serverAltDNSNames"]


def test_with_both_endpoints_on_the_poolers_stay_internal() -> None:
    run = run_stack("prod", {P + "publicEndpoint": {**stack_config("prod")[P + "publicEndpoint"], "enabled": True}})
    for pooler_type, role in (("rw", "ReadWrite"), ("ro", "ReadOnly")):
        template = poolers(run)[pooler_type].inputs["spec"]["serviceTemplate"]
        assert template["metadata"]["annotations"][INTERNAL_LB] == "true"
        assert "service.beta.kubernetes.io/azure-pip-name" not in template["metadata"]["annotations"]
        assert template["spec"]["loadBalancerSourceRanges"] == ["192.0.2.0/24"]
        assert run.outputs[f"pooled{role}Host"] == f"pg-primary-pooler-{pooler_type}.cnpg.internal"
        assert run.outputs[f"pooled{role}Port"] == 5432
    # Only the networks the poolers are exposed to, not the public endpoint's.
    assert _policy(run, "allow-pooler-clients")["ingress"][0]["from"] == [{"ipBlock": {"cidr": "192.0.2.0/24"}}]
    assert {p["ipBlock"]["cidr"] for p in _policy(run, "allow-public-clients")["ingress"][0]["from"]} == {
        "203.0.113.0/24",
        "192.0.2.0/24",
    }


def test_prod_network_policy_admits_the_internal_clients_to_the_poolers(prod: StackRun) -> None:
    clients = _policy(prod, "allow-pooler-clients")
    assert clients["ingress"] == [{"from": [{"ipBlock": {"cidr": "192.0.2.0/24"}}], "ports": [{"protocol": "TCP", "port": 5432}]}]


def test_without_any_endpoint_the_poolers_stay_in_the_cluster() -> None:
    network = {**stack_config("prod")[P + "network"], "internalEndpoint": {"enabled": False}}
    run = run_stack("prod", {P + "network": network})
    for pooler_type, role in (("rw", "ReadWrite"), ("ro", "ReadOnly")):
        assert "serviceTemplate" not in poolers(run)[pooler_type].inputs["spec"]
        assert run.outputs[f"pooled{role}Host"] == f"pg-primary-pooler-{pooler_type}.cnpg-database.svc.cluster.local"
        assert run.outputs[f"pooled{role}Port"] == 5432
    assert not run.of_type(RECORD_SET)
    policies = {r.inputs["metadata"]["name"] for r in run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")}
    assert "allow-pooler-clients" not in policies


def test_pooling_can_be_switched_off() -> None:
    run = run_stack("dev", {P + "pooler": {"enabled": False}})
    assert run.of_type(POOLER) == []
    assert not any(name.startswith("pooled") for name in run.outputs)
    alt_names = run.one(CLUSTER).inputs["spec"]["certificates"]["serverAltDNSNames"]
    assert not any("pooler" in name for name in alt_names)


def _policy(run: StackRun, name: str) -> dict[str, Any]:
    found = [r for r in run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy") if r.inputs["metadata"]["name"] == name]
    assert len(found) == 1, name
    spec: dict[str, Any] = found[0].inputs["spec"]
    return spec


def test_network_policies_admit_poolers_to_postgres_and_clients_to_poolers(dev: StackRun) -> None:
    shipped = dev  # the stack with public clients
    poolers_selector = {
        "matchExpressions": [
            {"key": "cnpg.io/poolerName", "operator": "In", "values": ["pg-primary-pooler-rw", "pg-primary-pooler-ro"]}
        ]
    }
    to_postgres = _policy(shipped, "allow-poolers")
    assert to_postgres["podSelector"] == {"matchLabels": {"cnpg.io/cluster": "pg-primary", "cnpg.io/podRole": "instance"}}
    assert to_postgres["ingress"] == [{"from": [{"podSelector": poolers_selector}], "ports": [{"protocol": "TCP", "port": 5432}]}]
    clients = _policy(shipped, "allow-pooler-clients")
    assert clients["podSelector"] == poolers_selector
    assert clients["ingress"][0]["from"] == [{"ipBlock": {"cidr": "203.0.113.0/24"}}]
    assert clients["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 5432}]
    assert _policy(shipped, "allow-pooler-metrics")["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9127}]


def test_budget_counts_every_reserved_connection() -> None:
    values = {key.removeprefix(P): value for key, value in stack_config("prod").items()}
    budget = connection_budget(parse_settings(values))
    assert (budget.superuser_reserved, budget.cnpg_reserved, budget.standbys, budget.direct) == (3, 3, 2, 10)
    assert budget.for_poolers == 182
    assert budget.held_by_poolers(budget.max_db_connections) <= budget.for_poolers
    assert budget.held_by_poolers(budget.max_db_connections + 1) > budget.for_poolers
