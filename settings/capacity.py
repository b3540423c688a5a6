"""Does a PostgreSQL pod fit a postgres-pool node, and do a restore's pods fit the pool?

Pure arithmetic over the settings, run with the other cross-checks so a deployment that the
scheduler would leave Pending is refused up front, naming the keys to change.

What a node offers (VM shapes, AKS reservations, DaemonSets) is sizing/nodes.py.

PgBouncer pods (settings/pooler.py; components/cluster/poolers.py) run on the postgres pool too, so they
are counted: pooler.instances pods for each of the rw and ro poolers, each requesting
pooler.resources. Model (decided here, conservative but not worst-of-all-worlds):
- the pool may grow to aks.postgresPool.maxCount nodes (the autoscaler adds nodes for Pending pods);
- the PostgreSQL pods are packed as densely as they fit (one per cluster per node), as they end up
  when the recovery cluster joins nodes the primary already holds; the nodes left over are empty;
- a PgBouncer pod takes any node with room for it: the pooler slots are, over all those nodes, the
  pooler pods that fit in what each node has left, and there must be a slot for every pooler pod.
Each pooler spreads its pods over zones (maxSkew 1), and the rw and ro poolers spread
independently, so two pooler pods can share a node; counting slots node by node allows that. The
slots are not counted per zone: that holds while the pool's nodes are balanced over the zones
(AKS balances a zone-redundant pool), not if every free slot sat in one zone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from settings.backup import PROD_SIDECAR_MEMORY
from settings.pooler import POOLER_TYPES
from sizing.nodes import MAX_CLUSTERS_PER_NODE, NodeRoom, Resources, node_room, vm_shape

if TYPE_CHECKING:
    from settings import Settings


def capacity_problems(settings: Settings) -> list[str]:
    """Problems, one line each, naming the keys to change."""
    postgres, sidecar, pool = settings.postgres, settings.backup.sidecar, settings.aks.postgres_pool
    problems = []
    if settings.environment == "prod" and sidecar.memory_bytes < PROD_SIDECAR_MEMORY:
        problems.append(
            f"backup.sidecar.memory: {sidecar.memory!r} — prod needs at least 1Gi: base backups and restores "
            "OOM-kill a smaller sidecar (plugin-barman-cloud issues #765, #385, #711)"
        )
    found = vm_shape(pool.vm_size)
    if found is None:
        problems.append(
            f"aks.postgresPool.vmSize: {pool.vm_size!r} — not in the capacity table, so the program cannot tell "
            "whether a PostgreSQL pod fits; use a premium-storage D- or E-series size with 2-16 vCPU "
            "(v3, v4, v5, e.g. Standard_D4s_v5 or Standard_E4s_v5), or add the size with its vCPU and memory "
            "to VM_SIZES in sizing/nodes.py"
        )
        return problems
    room = node_room(*found, settings.observability.azure_monitoring)
    pod = Resources(postgres.resources.millicores, postgres.resources.memory_bytes) + Resources(
        sidecar.millicores, sidecar.memory_bytes
    )
    pods_per_node = min(room.free.how_many(pod), MAX_CLUSTERS_PER_NODE)
    pod_text = (
        f"one PostgreSQL pod requests {pod} (postgres.resources {postgres.resources.cpu} / "
        f"{postgres.resources.memory} + backup.sidecar {sidecar.cpu} / {sidecar.memory})"
    )
    if pods_per_node == 0:
        problems.append(
            f"aks.postgresPool.vmSize: {pool.vm_size!r} — {pod_text}, but {room.explain()}: choose a larger vmSize "
            "or lower postgres.resources"
        )
        return problems
    # The recovery cluster runs the primary's instance count with the same pod size, and its
    # one-off recovery job takes an instance's place before that instance starts.
    clusters = 2 if settings.restore.enabled else 1
    per_node = min(pods_per_node, clusters)
    postgres_pods = clusters * postgres.instances
    nodes_needed = -(-postgres_pods // per_node)
    if settings.restore.enabled and nodes_needed > pool.max_count:
        problems.append(
            f"aks.postgresPool.maxCount: {pool.max_count} — with restore.enabled the primary's "
            f"{postgres.instances} pods and the recovery cluster's {postgres.instances} need {nodes_needed} "
            f"nodes ({pod_text}; {room.explain()}, room for {pods_per_node}, and each cluster keeps one instance "
            f"per node): raise maxCount to {nodes_needed}, or pick a vmSize that holds 2 pods"
        )
        return problems
    if settings.pooler.enabled and nodes_needed <= pool.max_count:
        problems += _pooler_problems(settings, room, pod, postgres_pods, per_node, pod_text)
    return problems


def pooler_slots(
    room: NodeRoom, postgres_pod: Resources, postgres_pods: int, per_node: int, nodes: int, pooler_pod: Resources
) -> int:
    """How many pooler pods fit on ``nodes`` nodes beside ``postgres_pods`` PostgreSQL pods packed ``per_node`` a node."""
    full, rest = divmod(postgres_pods, per_node)
    slots = full * (room.free - postgres_pod.times(per_node)).how_many(pooler_pod)
    if rest:
        slots += (room.free - postgres_pod.times(rest)).how_many(pooler_pod)
    empty = nodes - full - (1 if rest else 0)
    return slots + empty * room.free.how_many(pooler_pod)


def _pooler_problems(
    settings: Settings, room: NodeRoom, postgres_pod: Resources, postgres_pods: int, per_node: int, pod_text: str
) -> list[str]:
    pooler, pool = settings.pooler, settings.aks.postgres_pool
    pooler_pod = Resources(pooler.resources.millicores, pooler.resources.memory_bytes)
    pooler_pods = pooler.instances * len(POOLER_TYPES)
    pooler_text = (
        f"{pooler_pods} PgBouncer pods (pooler.instances {pooler.instances} x {len(POOLER_TYPES)} poolers, rw and ro) "
        f"request {pooler_pod} each (pooler.resources {pooler.resources.cpu} / {pooler.resources.memory})"
    )
    if room.free.how_many(pooler_pod) == 0:
        return [
            f"pooler.resources: {pooler.resources.cpu} / {pooler.resources.memory} — a PgBouncer pod requests "
            f"{pooler_pod}, but {room.explain()}: lower pooler.resources"
        ]
    slots = pooler_slots(room, postgres_pod, postgres_pods, per_node, pool.max_count, pooler_pod)
    if slots >= pooler_pods:
        return []
    needed = pool.max_count + 1
    while pooler_slots(room, postgres_pod, postgres_pods, per_node, needed, pooler_pod) < pooler_pods:
        needed += 1
    restore = " with restore.enabled (the recovery cluster's pods too)" if settings.restore.enabled else ""
    return [
        f"aks.postgresPool.maxCount: {pool.max_count} — the {pooler_text}, but{restore} the pool's {pool.max_count} "
        f"nodes hold {postgres_pods} PostgreSQL pods, {per_node} a node ({pod_text}; {room.explain()}), and leave "
        f"room for {slots} PgBouncer pods: raise maxCount to {needed}, or lower pooler.resources or pooler.instances"
    ]
