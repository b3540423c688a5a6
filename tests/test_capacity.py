"""Capacity arithmetic: AKS reservations as documented, and the shipped stacks' pods fit their
postgres pool, a restore's pods and one zone down included (the numbers are written out so a change
shows); ten clusters on one pool."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from offline.engine import stack_config
from settings import Settings, SettingsError, parse_settings
from settings.capacity import Pod, capacity_problems, nodes_needed, places
from sizing.nodes import GI, MI, MONITORING_DAEMONSETS, PLATFORM_DAEMONSETS, VM_SIZES, NodeRoom, Resources, node_room, vm_shape

P = "aks-postgres-ha:"


def _settings(stack: str, **sections: dict[str, Any]) -> Settings:
    values = {key.removeprefix(P): copy.deepcopy(value) for key, value in stack_config(stack).items()}
    for section, changes in sections.items():
        values[section] = {**values[section], **changes}
    return parse_settings(values)


def _room(vm_size: str, azure_monitoring: bool) -> NodeRoom:
    found = vm_shape(vm_size)
    assert found is not None, vm_size
    return node_room(*found, azure_monitoring)


def test_the_table_covers_d_and_e_series_2_to_16_vcpu() -> None:
    for generation in ("v3", "v4", "v5"):
        for vcpus in (2, 4, 8, 16):
            assert VM_SIZES[f"Standard_D{vcpus}s_{generation}"].memory_gib == 4 * vcpus
            assert VM_SIZES[f"Standard_E{vcpus}s_{generation}"].memory_gib == 8 * vcpus
    assert VM_SIZES["Standard_D4s_v3"].vcpus == 4 and VM_SIZES["Standard_E16ds_v5"].memory_gib == 128
    assert vm_shape("standard_d4s_v3") == ("Standard_D4s_v3", VM_SIZES["Standard_D4s_v3"])
    assert vm_shape("Standard_D4_v3") is None  # no Premium SSD


def test_aks_reservations_follow_the_documented_formula() -> None:
    small = _room("Standard_D2s_v3", False)
    assert small.kube_reserved.millicores == 100
    # 25% of the memory is less than 20 MiB x 250 pods + 50 MiB = 5050 MiB.
    assert small.kube_reserved.bytes == small.capacity.bytes // 4
    large = _room("Standard_D8s_v3", False)
    assert large.kube_reserved == Resources(180, 5050 * MI)
    assert large.free == large.capacity - large.kube_reserved - Resources(0, 100 * MI) - large.daemonsets


def test_azure_monitoring_agents_take_node_room() -> None:
    without = _room("Standard_D4s_v3", False)
    with_agents = _room("Standard_D4s_v3", True)
    agents = sum(MONITORING_DAEMONSETS.values(), Resources(0, 0))
    assert without.daemonsets == sum(PLATFORM_DAEMONSETS.values(), Resources(0, 0))
    assert without.free - with_agents.free == agents


def _cluster(name: str, instances: int, pod: Resources) -> list[Pod]:
    return [(pod, name)] * instances


def test_dev_fits_two_pods_per_node_and_a_restore_needs_a_fourth_node_for_the_poolers() -> None:
    dev = _settings("dev")
    room = _room(dev.aks.postgres_pool.vm_size, dev.observability.azure_monitoring)
    # Standard_D4s_v3: 4000m - 140m kube-reserved - 570m DaemonSets; 97% of 16 GiB - 25% - 100Mi - 1.46Gi.
    assert room.free.millicores == 3290
    assert 10 * GI < room.free.bytes < 10.1 * GI
    pod = Resources(1000, 4 * GI) + Resources(500, 1 * GI)  # postgres.resources + backup.sidecar
    assert room.free.how_many(pod) == 2
    poolers: list[Pod] = [(Resources(500, 256 * MI), None)] * 2  # pooler.resources; 1 instance x rw and ro
    # Without a restore: 3 nodes with one PostgreSQL pod each, 3290m - 1500m = 1790m left for PgBouncer.
    assert nodes_needed(room, _cluster("primary", 3, pod) + poolers) == 3
    assert capacity_problems(dev) == []
    # The cluster's instances keep to distinct nodes: 3 pods never share 2 nodes, though 2 fit a node.
    assert not places(room, _cluster("primary", 3, pod), 2)
    # With a restore: 3 primary + 3 recovery pods, 2 a node on 3 nodes, leave 3290m - 3000m = 290m
    # and 10.08Gi - 10Gi = 79Mi a node: no room for a 500m / 256Mi PgBouncer pod; a 4th node takes both.
    assert (room.free - pod.times(2)).millicores == 290 and (room.free - pod.times(2)).bytes < 80 * MI
    restoring = _cluster("primary", 3, pod) + _cluster("recovery", 3, pod)
    assert places(room, restoring, 3) and not places(room, restoring + poolers, 3)
    assert dev.aks.postgres_pool.max_count == 4
    assert nodes_needed(room, restoring + poolers) == 4
    assert capacity_problems(_settings("dev", restore={"enabled": True})) == []
    (problem,) = _pool_problems("dev", restore=True, pool={"maxCount": 3})
    assert problem.startswith(
        f"{P}aks.postgresPool.maxCount: 3 — the 6 PostgreSQL pods (postgres.instances 3 x 1500m CPU / 5.00Gi = "
        "postgres.resources 1 / 4Gi + backup.sidecar 500m / 1Gi, and with restore.enabled the recovery cluster's 3; "
        "each cluster's on distinct nodes) and 2 PgBouncer pods (pooler.instances 1 x 2 poolers (rw and ro) x "
        "500m CPU / 0.25Gi (pooler.resources 500m / 256Mi)) need 4 nodes of Standard_D4s_v3 (a Standard_D4s_v3 node"
    )
    # One zone of 3 down takes 2 of 4 nodes; the other 2 hold 2 instances and both PgBouncer pods.
    assert problem.endswith(
        "and maxCount 4 to hold one of the 3 zones down (it takes 2 of the 4 nodes; the 2 left hold each cluster's "
        "instances up to one a node, and every PgBouncer pod): raise maxCount to 4, or use Standard_D8s_v3 "
        "(3 nodes of it hold them)"
    )


def test_prod_fits_one_pod_per_node_so_a_restore_needs_six_nodes() -> None:
    prod = _settings("prod", restore={"enabled": True})
    room = _room(prod.aks.postgres_pool.vm_size, prod.observability.azure_monitoring)
    pod = Resources(2000, 8 * GI) + Resources(500, 1 * GI)
    assert room.free.how_many(pod) == 1
    assert prod.aks.postgres_pool.max_count == 6 == 2 * prod.postgres.instances
    # 6 nodes with one PostgreSQL pod each: 3290m - 2500m = 790m and ~1.08Gi left, one 500m / 256Mi
    # PgBouncer pod a node: room for prod's 2 instances x rw and ro = 4 pods.
    poolers: list[Pod] = [(Resources(500, 256 * MI), None)] * 4
    assert nodes_needed(room, _cluster("primary", 3, pod) + _cluster("recovery", 3, pod) + poolers) == 6
    assert capacity_problems(prod) == []
    # Without a restore, with a zone down: 6 - 2 nodes hold the 3 instances and the 4 PgBouncer pods.
    assert places(room, _cluster("primary", 3, pod) + poolers, 4)
    assert capacity_problems(_settings("prod")) == []


def test_pooler_pods_beyond_the_pool_are_refused() -> None:
    # dev, no restore: 3 nodes x 3 slots (1790m / 500m) = 9 for 10 x 2 = 20 pods; an empty node adds
    # 6 (3290m / 500m): 4 nodes (dev's maxCount) 15, 5 nodes 21.
    values = {key.removeprefix(P): copy.deepcopy(value) for key, value in stack_config("dev").items()}
    values["pooler"]["instances"] = 10
    with pytest.raises(SettingsError) as raised:
        parse_settings(values)
    (problem,) = [p for p in raised.value.problems if "PgBouncer" in p]
    assert problem.startswith(f"{P}aks.postgresPool.maxCount: 4 — the 3 PostgreSQL pods")
    assert "and 20 PgBouncer pods (pooler.instances 10 x 2 poolers (rw and ro) x 500m CPU / 0.25Gi" in problem
    # 3 nodes x 3 PgBouncer pods (1790m / 500m) beside the instances, 6 (3290m / 500m) on an empty node:
    # 5 nodes hold 21. One zone down takes ceil(maxCount / 3): 8 nodes leave 5.
    assert "need 5 nodes of Standard_D4s_v3" in problem
    assert "and maxCount 8 to hold one of the 3 zones down (it takes 3 of the 8 nodes; the 5 left" in problem
    assert problem.endswith("raise maxCount to 8, or use Standard_D8s_v3 (4 nodes of it hold them)")


def test_a_pooler_pod_larger_than_a_node_is_refused() -> None:
    values = {key.removeprefix(P): copy.deepcopy(value) for key, value in stack_config("dev").items()}
    values["pooler"]["resources"] = {"cpu": "4", "memory": "256Mi"}
    with pytest.raises(SettingsError) as raised:
        parse_settings(values)
    (problem,) = [p for p in raised.value.problems if p.startswith(f"{P}pooler.resources")]
    assert problem.startswith(f"{P}pooler.resources: 4 / 256Mi — a PgBouncer pod requests 4000m CPU / 0.25Gi")
    assert "has 3290m CPU / 10.08Gi left" in problem and "lower pooler.resources" in problem


def test_disabled_poolers_take_no_room() -> None:
    dev = _settings("dev", restore={"enabled": True}, pooler={"enabled": False})
    assert capacity_problems(dev) == []


def _pool_problems(stack: str, *, restore: bool, pool: dict[str, Any], resources: dict[str, str] | None = None) -> list[str]:
    values = {key.removeprefix(P): copy.deepcopy(value) for key, value in stack_config(stack).items()}
    values["restore"]["enabled"] = restore
    values["aks"]["postgresPool"].update(pool)
    values["postgres"]["resources"].update(resources or {})
    with pytest.raises(SettingsError) as raised:
        parse_settings(values)
    return [problem for problem in raised.value.problems if problem.startswith(f"{P}aks.postgresPool.")]


def test_a_pod_larger_than_a_node_is_refused() -> None:
    (problem,) = _pool_problems("dev", restore=False, pool={"vmSize": "Standard_D2s_v3"})
    assert problem.startswith(f"{P}aks.postgresPool.vmSize: 'Standard_D2s_v3' — one PostgreSQL pod requests 1500m CPU")
    assert "has 1330m CPU / 4.26Gi left" in problem
    assert problem.endswith("choose a larger vmSize (Standard_D4s_v3 holds one) or lower postgres.resources")


def test_a_restore_needing_more_nodes_than_max_count_is_refused() -> None:
    # 2 CPU + 500m sidecar: a Standard_D4s_v3 node (3290m free) holds one pod, so 3 + 3 pods need 6 nodes.
    (problem,) = _pool_problems("dev", restore=True, pool={"maxCount": 5}, resources={"cpu": "2"})
    assert problem.startswith(f"{P}aks.postgresPool.maxCount: 5 — the 6 PostgreSQL pods (postgres.instances 3 x 2500m CPU")
    assert "and with restore.enabled the recovery cluster's 3" in problem
    assert "need 6 nodes" in problem and "raise maxCount to 6" in problem


def test_the_same_pool_is_fine_without_a_restore() -> None:
    settings = _settings("dev", postgres={"resources": {"cpu": "2", "memory": "4Gi"}})
    assert capacity_problems(settings) == []


def test_a_vm_size_outside_the_table_is_refused_with_a_way_forward() -> None:
    (problem,) = _pool_problems("dev", restore=False, pool={"vmSize": "Standard_L8s_v3"})
    assert problem.startswith(f"{P}aks.postgresPool.vmSize: 'Standard_L8s_v3' — not in the capacity table")
    assert "VM_SIZES in sizing/nodes.py" in problem


def test_a_pool_in_one_zone_has_no_zone_to_lose() -> None:
    # As test_pooler_pods_beyond_the_pool_are_refused, in one zone: 5 nodes hold the 20 PgBouncer pods.
    values = {key.removeprefix(P): copy.deepcopy(value) for key, value in stack_config("dev").items()}
    values.update(zones=["1"], pooler={**values["pooler"], "instances": 10})
    with pytest.raises(SettingsError) as raised:
        parse_settings(values)
    (problem,) = [p for p in raised.value.problems if "PgBouncer" in p]
    assert "need 5 nodes of Standard_D4s_v3" in problem and "zones down" not in problem
    assert problem.endswith("raise maxCount to 5, or use Standard_D8s_v3 (4 nodes of it hold them)")


# ----------------------------------------------------------------------------- ten clusters on one pool

TEN_PODS = (
    "the 30 PostgreSQL pods (db01, db02, db03, db04, db05, db06, db07, db08, db09, db10: postgres.instances 3 x "
    "1500m CPU / 5.00Gi = postgres.resources 1 / 4Gi + backup.sidecar 500m / 1Gi; each cluster's on distinct nodes)"
)


def _ten_clusters(pool: dict[str, Any], **entries: dict[str, Any]) -> dict[str, Any]:
    """Pulumi.platform.yaml with ten clusters db01-db10 of its defaults (3 instances of 1 CPU / 4Gi, backup
    sidecar 500m / 1Gi, no poolers), ``entries`` over them, on a postgres pool with ``pool`` changed."""
    values = {key.removeprefix(P): copy.deepcopy(value) for key, value in stack_config("platform").items()}
    values["clusters"] = {f"db{index:02}": entries.get(f"db{index:02}", {}) for index in range(1, 11)}
    values["aks"]["postgresPool"].update(pool)
    return values


def _max_count_problem(values: dict[str, Any]) -> str:
    with pytest.raises(SettingsError) as raised:
        parse_settings(values)
    (problem,) = raised.value.problems
    return problem.removeprefix(P)


def test_ten_clusters_fit_six_16_vcpu_nodes_with_a_zone_down() -> None:
    room = _room("Standard_D16s_v3", True)
    # 16000m - 260m kube-reserved - 570m DaemonSets = 15170m: 10 pods of 1500m (memory: 55.59Gi, 11 of 5Gi).
    assert room.free.millicores == 15170 and 55.5 * GI < room.free.bytes < 55.6 * GI
    pod = Resources(1500, 5 * GI)
    assert room.free.how_many(pod) == 10
    ten = [p for index in range(10) for p in _cluster(f"db{index}", 3, pod)]
    poolers: list[Pod] = [(Resources(500, 256 * MI), None)] * 2
    # 30 instances fill 3 nodes (170m left each); db01's two PgBouncer pods take a 4th. One zone of 3
    # down takes 2 of 6 nodes: the 4 left hold them all again.
    assert nodes_needed(room, ten) == 3 and nodes_needed(room, ten + poolers) == 4
    settings = parse_settings(_ten_clusters({"vmSize": "Standard_D16s_v3", "maxCount": 6}, db01={"pooler": {"enabled": True}}))
    assert len(settings.database_clusters()) == 10 and capacity_problems(settings) == []
    # The shipped platform: 9 instances and 2 PgBouncer pods on 3 of 6 Standard_D8s_v3 nodes.
    assert capacity_problems(_settings("platform")) == []


def test_ten_clusters_beyond_the_pool_are_refused_with_a_count_and_a_size_that_fit() -> None:
    # Standard_D8s_v3: 7250m / 24.55Gi holds 4 pods of 1500m / 5Gi, so 30 take 8 nodes; with a zone down the
    # nodes left must be 8 too: maxCount 12 (12 - 4). Six Standard_D16s_v3 nodes hold them (above).
    problem = _max_count_problem(_ten_clusters({"vmSize": "Standard_D8s_v3", "maxCount": 6}))
    assert problem == (
        f"aks.postgresPool.maxCount: 6 — {TEN_PODS} need 8 nodes of Standard_D8s_v3 (a Standard_D8s_v3 node (8 vCPU / "
        "32 GiB) has 7250m CPU / 24.55Gi left after AKS kube-reserved 180m CPU / 4.93Gi, the 100Mi eviction threshold "
        "and DaemonSets 570m CPU / 1.46Gi), and maxCount 12 to hold one of the 3 zones down (it takes 4 of the 12 "
        "nodes; the 8 left hold each cluster's instances up to one a node, and every PgBouncer pod): raise maxCount "
        "to 12, or use Standard_D16s_v3 (6 nodes of it hold them)"
    )


def test_a_restore_tips_ten_clusters_over() -> None:
    # 3 Standard_D16s_v3 nodes hold the 30 instances (10 a node), and with a zone down the 2 left hold 2 of
    # each cluster's 3; db01's recovery cluster finds 170m left on each and needs a 4th node.
    pool = {"vmSize": "Standard_D16s_v3", "maxCount": 3}
    assert capacity_problems(parse_settings(_ten_clusters(pool))) == []
    problem = _max_count_problem(_ten_clusters(pool, db01={"restore": {"enabled": True}}))
    assert problem.startswith(
        "aks.postgresPool.maxCount: 3 — the 33 PostgreSQL pods (db01: postgres.instances 3 x 1500m CPU / 5.00Gi = "
        "postgres.resources 1 / 4Gi + backup.sidecar 500m / 1Gi, and with restore.enabled the recovery cluster's 3; "
        "db02, db03, db04, db05, db06, db07, db08, db09, db10: postgres.instances 3 x 1500m CPU / 5.00Gi"
    )
    assert "need 4 nodes of Standard_D16s_v3" in problem
    # No size of the series is larger: only the count is offered.
    assert problem.endswith(
        "the 2 left hold each cluster's instances up to one a node, and every PgBouncer pod): raise maxCount to 4"
    )


def test_one_zone_down_tips_ten_clusters_over() -> None:
    # 4 nodes hold the 30 instances and db01's PgBouncer pods, but a zone down takes 2 of them: the 2 left
    # hold 2 instances of each cluster (20, full) and no PgBouncer pod. 5 nodes leave 3, full again; 6 leave 4.
    problem = _max_count_problem(_ten_clusters({"vmSize": "Standard_D16s_v3", "maxCount": 4}, db01={"pooler": {"enabled": True}}))
    assert problem == (
        f"aks.postgresPool.maxCount: 4 — {TEN_PODS} and 2 PgBouncer pods (db01: pooler.instances 1 x 2 poolers "
        "(rw and ro) x 500m CPU / 0.25Gi (pooler.resources 500m / 256Mi)) need 4 nodes of Standard_D16s_v3 (a "
        "Standard_D16s_v3 node (16 vCPU / 64 GiB) has 15170m CPU / 55.59Gi left after AKS kube-reserved 260m CPU / "
        "4.93Gi, the 100Mi eviction threshold and DaemonSets 570m CPU / 1.46Gi), and maxCount 6 to hold one of the 3 "
        "zones down (it takes 2 of the 6 nodes; the 4 left hold each cluster's instances up to one a node, and every "
        "PgBouncer pod): raise maxCount to 6"
    )


def test_each_clusters_pods_too_large_for_a_node_are_named_under_its_key() -> None:
    values = _ten_clusters({"vmSize": "Standard_D4s_v3", "maxCount": 20}, db07={"postgres": {"resources": {"cpu": "4"}}})
    problem = _max_count_problem(values)
    assert problem.startswith(
        "aks.postgresPool.vmSize: 'Standard_D4s_v3' — one PostgreSQL pod of clusters.db07 requests 4500m CPU"
    )
    assert problem.endswith("choose a larger vmSize (Standard_D8s_v3 holds one) or lower clusters.db07.postgres.resources")
