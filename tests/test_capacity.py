"""Capacity arithmetic: AKS reservations as documented, and the shipped stacks' pods fit their
postgres pool, a restore's pods included (the numbers are written out so a change shows)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from offline.engine import stack_config
from settings import Settings, SettingsError, parse_settings
from settings.capacity import (
    GI,
    MI,
    MONITORING_DAEMONSETS,
    PLATFORM_DAEMONSETS,
    VM_SIZES,
    NodeRoom,
    Resources,
    capacity_problems,
    node_room,
    vm_shape,
)

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


def test_dev_fits_two_pods_per_node_so_a_restore_fits_three_nodes() -> None:
    dev = _settings("dev", restore={"enabled": True})
    room = _room(dev.aks.postgres_pool.vm_size, dev.observability.azure_monitoring)
    # Standard_D4s_v3: 4000m - 140m kube-reserved - 570m DaemonSets; 97% of 16 GiB - 25% - 100Mi - 1.46Gi.
    assert room.free.millicores == 3290
    assert 10 * GI < room.free.bytes < 10.1 * GI
    pod = Resources(1000, 4 * GI) + Resources(500, 1 * GI)  # postgres.resources + backup.sidecar
    assert room.free.how_many(pod) == 2
    # 3 primary + 3 recovery pods, one of each cluster per node: 3 nodes, dev's maxCount.
    assert dev.aks.postgres_pool.max_count == 3 and dev.postgres.instances == 3
    assert capacity_problems(dev) == []


def test_prod_fits_one_pod_per_node_so_a_restore_needs_six_nodes() -> None:
    prod = _settings("prod", restore={"enabled": True})
    room = _room(prod.aks.postgres_pool.vm_size, prod.observability.azure_monitoring)
    pod = Resources(2000, 8 * GI) + Resources(500, 1 * GI)
    assert room.free.how_many(pod) == 1
    assert prod.aks.postgres_pool.max_count == 6 == 2 * prod.postgres.instances
    assert capacity_problems(prod) == []


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
    assert "VM_SIZES in settings/capacity.py" in problem
