"""Capacity arithmetic: AKS reservations as documented, and the shipped stacks' pods fit their
postgres pool, a restore's pods included (the numbers are written out so a change shows)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from offline.engine import stack_config
from settings import Settings, SettingsError, parse_settings
from settings.capacity import capacity_problems, pooler_slots
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


def test_dev_fits_two_pods_per_node_and_a_restore_needs_a_fourth_node_for_the_poolers() -> None:
    dev = _settings("dev")
    room = _room(dev.aks.postgres_pool.vm_size, dev.observability.azure_monitoring)
    # Standard_D4s_v3: 4000m - 140m kube-reserved - 570m DaemonSets; 97% of 16 GiB - 25% - 100Mi - 1.46Gi.
    assert room.free.millicores == 3290
    assert 10 * GI < room.free.bytes < 10.1 * GI
    pod = Resources(1000, 4 * GI) + Resources(500, 1 * GI)  # postgres.resources + backup.sidecar
    assert room.free.how_many(pod) == 2
    pooler_pod = Resources(500, 256 * MI)  # pooler.resources; dev: 1 instance x rw and ro = 2 pods
    # Without a restore: 3 nodes with one PostgreSQL pod each, 3290m - 1500m = 1790m left: 3 PgBouncer pods a node.
    assert pooler_slots(room, pod, 3, 1, 3, pooler_pod) == 9
    assert capacity_problems(dev) == []
    # With a restore: 3 primary + 3 recovery pods, 2 a node on 3 nodes, leave
    # 3290m - 3000m = 290m and 10.08Gi - 10Gi = 79Mi a node: no room for a 500m / 256Mi PgBouncer pod.
    assert (room.free - pod.times(2)).millicores == 290 and (room.free - pod.times(2)).bytes < 80 * MI
    assert pooler_slots(room, pod, 6, 2, 3, pooler_pod) == 0
    # dev's maxCount 4 gives an empty 4th node: 3290m / 500m = 6 slots.
    assert dev.aks.postgres_pool.max_count == 4
    assert pooler_slots(room, pod, 6, 2, 4, pooler_pod) == 6
    assert capacity_problems(_settings("dev", restore={"enabled": True})) == []
    (problem,) = _pool_problems("dev", restore=True, pool={"maxCount": 3})
    assert problem.startswith(f"{P}aks.postgresPool.maxCount: 3 — the 2 PgBouncer pods (pooler.instances 1 x 2 poolers")
    assert "the pool's 3 nodes hold 6 PostgreSQL pods, 2 a node" in problem
    assert "leave room for 0 PgBouncer pods: raise maxCount to 4, or lower pooler.resources" in problem


def test_prod_fits_one_pod_per_node_so_a_restore_needs_six_nodes() -> None:
    prod = _settings("prod", restore={"enabled": True})
    room = _room(prod.aks.postgres_pool.vm_size, prod.observability.azure_monitoring)
    pod = Resources(2000, 8 * GI) + Resources(500, 1 * GI)
    assert room.free.how_many(pod) == 1
    assert prod.aks.postgres_pool.max_count == 6 == 2 * prod.postgres.instances
    # 6 nodes with one PostgreSQL pod each: 3290m - 2500m = 790m and ~1.08Gi left, one 500m / 256Mi
    # PgBouncer pod a node: 6 slots for prod's 2 instances x rw and ro = 4 pods.
    pooler_pod = Resources(500, 256 * MI)
    assert pooler_slots(room, pod, 6, 1, 6, pooler_pod) == 6 >= 4
    assert capacity_problems(prod) == []
    # Without a restore: 3 nodes with a PostgreSQL pod (1 slot each) and 3 the autoscaler can add (6 each).
    assert pooler_slots(room, pod, 3, 1, 6, pooler_pod) == 3 + 18
    assert capacity_problems(_settings("prod")) == []


def test_pooler_pods_beyond_the_pool_are_refused() -> None:
    # dev, no restore: 3 nodes x 3 slots (1790m / 500m) = 9 for 10 x 2 = 20 pods; an empty node adds
    # 6 (3290m / 500m): 4 nodes (dev's maxCount) 15, 5 nodes 21.
    values = {key.removeprefix(P): copy.deepcopy(value) for key, value in stack_config("dev").items()}
    values["pooler"]["instances"] = 10
    with pytest.raises(SettingsError) as raised:
        parse_settings(values)
    (problem,) = [p for p in raised.value.problems if "PgBouncer" in p]
    assert problem.startswith(f"{P}aks.postgresPool.maxCount: 4 — the 20 PgBouncer pods (pooler.instances 10 x 2 poolers")
    assert "request 500m CPU / 0.25Gi each (pooler.resources 500m / 256Mi)" in problem
    assert "leave room for 15 PgBouncer pods: raise maxCount to 5" in problem


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
    assert "has 1330m CPU / 4.26Gi left" in problem and "choose a larger vmSize" in problem


def test_a_restore_needing_more_nodes_than_max_count_is_refused() -> None:
    # 2 CPU + 500m sidecar: a Standard_D4s_v3 node (3290m free) holds one pod, so 3 + 3 pods need 6 nodes.
    (problem,) = _pool_problems("dev", restore=True, pool={"maxCount": 5}, resources={"cpu": "2"})
    assert problem.startswith(f"{P}aks.postgresPool.maxCount: 5 — with restore.enabled")
    assert "need 6 nodes" in problem and "raise maxCount to 6" in problem


def test_the_same_pool_is_fine_without_a_restore() -> None:
    settings = _settings("dev", postgres={"resources": {"cpu": "2", "memory": "4Gi"}})
    assert capacity_problems(settings) == []


def test_a_vm_size_outside_the_table_is_refused_with_a_way_forward() -> None:
    (problem,) = _pool_problems("dev", restore=False, pool={"vmSize": "Standard_L8s_v3"})
    assert problem.startswith(f"{P}aks.postgresPool.vmSize: 'Standard_L8s_v3' — not in the capacity table")
    assert "VM_SIZES in sizing/nodes.py" in problem
