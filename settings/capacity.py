"""Does a PostgreSQL pod fit a postgres-pool node, and do a restore's pods fit the pool?

Pure arithmetic over the settings, run with the other cross-checks so a deployment that the
scheduler would leave Pending is refused up front, naming the keys to change.

Sources (verify when AKS or the add-on set changes):
- VM sizes: learn.microsoft.com/azure/virtual-machines/sizes/general-purpose/{dsv3,dsv4,ddsv4,dsv5,ddsv5}-series
  and .../memory-optimized/{esv3,esv4,edsv4,esv5,edsv5}-series: D = 4 GiB, E = 8 GiB per vCPU.
- Reservations: learn.microsoft.com/azure/aks/node-resource-reservations, "AKS 1.29 and later"
  (every Kubernetes version this project supports): kube-reserved CPU by core count (table
  below); kube-reserved memory = min(20 MiB x maxPods + 50 MiB, 25% of the node's memory);
  eviction threshold memory.available < 100Mi. maxPods: 250, the Azure CNI Overlay default.

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

from dataclasses import dataclass
from typing import TYPE_CHECKING

from settings.backup import PROD_SIDECAR_MEMORY
from settings.pooler import POOLER_TYPES

if TYPE_CHECKING:
    from settings import Settings

MI = 2**20
GI = 2**30


@dataclass(frozen=True)
class Resources:
    millicores: int
    bytes: int

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.millicores + other.millicores, self.bytes + other.bytes)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.millicores - other.millicores, self.bytes - other.bytes)

    def times(self, count: int) -> Resources:
        return Resources(self.millicores * count, self.bytes * count)

    def how_many(self, pod: Resources) -> int:
        """How many ``pod``s fit in these resources."""
        if self.millicores < 0 or self.bytes < 0:
            return 0
        return min(self.millicores // pod.millicores, self.bytes // pod.bytes)

    def __str__(self) -> str:
        return f"{self.millicores}m CPU / {self.bytes / GI:.2f}Gi"


@dataclass(frozen=True)
class VmShape:
    vcpus: int
    memory_gib: int


# Premium-storage capable ("s") sizes only: the data and WAL volumes are Premium SSD
# (managed-csi-premium), which Azure refuses to attach to the other sizes.
VM_SIZES: dict[str, VmShape] = {
    f"Standard_{family[0]}{vcpus}{family[1:]}": VmShape(vcpus, vcpus * gib_per_vcpu)
    for family, gib_per_vcpu in (
        ("Ds_v3", 4),
        ("Ds_v4", 4),
        ("Dds_v4", 4),
        ("Ds_v5", 4),
        ("Dds_v5", 4),
        ("Es_v3", 8),
        ("Es_v4", 8),
        ("Eds_v4", 8),
        ("Es_v5", 8),
        ("Eds_v5", 8),
    )
    for vcpus in (2, 4, 8, 16)
}

KUBE_RESERVED_MILLICORES = {1: 60, 2: 100, 4: 140, 8: 180, 16: 260, 32: 420, 64: 740}
AKS_MAX_PODS = 250
EVICTION_THRESHOLD = 100 * MI
# The kernel and firmware keep part of the VM's memory: a node reports about 97% of the size's
# nominal memory as capacity (kubectl describe node), and AKS reserves from that.
REPORTED_MEMORY_SHARE = 0.97

# Requests of the DaemonSets that tolerate the postgres pool's taint, per node. Estimates rounded
# up from recent AKS releases with this cluster's add-ons (Azure CNI Overlay with Cilium, so no
# kube-proxy; Azure Disk and Azure Files CSI; Azure Linux). AKS changes them without notice:
# compare with the "Non-terminated Pods" of `kubectl describe node` on a postgres node.
PLATFORM_DAEMONSETS = {
    "cilium": Resources(100, 300 * MI),
    "azure-cns": Resources(40, 250 * MI),
    "azure-ip-masq-agent": Resources(100, 50 * MI),
    "cloud-node-manager": Resources(50, 50 * MI),
    "csi-azuredisk-node": Resources(30, 60 * MI),
    "csi-azurefile-node": Resources(30, 60 * MI),
}
# observability.azureMonitoring: Container insights and managed Prometheus node agents.
MONITORING_DAEMONSETS = {
    "ama-logs": Resources(150, 550 * MI),
    "ama-metrics-node": Resources(70, 180 * MI),
}
# Each CNPG cluster keeps one instance per node (components/builders/cluster_spec.py:
# podAntiAffinityType required, topologyKey hostname); CNPG's anti-affinity selects only its own
# cluster's pods, so the primary's and a recovery cluster's instances may share a node.
MAX_CLUSTERS_PER_NODE = 2


@dataclass(frozen=True)
class NodeRoom:
    """What one postgres-pool node offers PostgreSQL pods, and where the rest went."""

    vm_size: str
    shape: VmShape
    capacity: Resources
    kube_reserved: Resources
    daemonsets: Resources

    @property
    def free(self) -> Resources:
        return self.capacity - self.kube_reserved - Resources(0, EVICTION_THRESHOLD) - self.daemonsets

    def explain(self) -> str:
        return (
            f"a {self.vm_size} node ({self.shape.vcpus} vCPU / {self.shape.memory_gib} GiB) has {self.free} left "
            f"after AKS kube-reserved {self.kube_reserved}, the 100Mi eviction threshold and DaemonSets {self.daemonsets}"
        )


def node_room(vm_size: str, shape: VmShape, azure_monitoring: bool) -> NodeRoom:
    capacity = Resources(shape.vcpus * 1000, int(shape.memory_gib * GI * REPORTED_MEMORY_SHARE))
    kube_reserved = Resources(KUBE_RESERVED_MILLICORES[shape.vcpus], min((20 * AKS_MAX_PODS + 50) * MI, capacity.bytes // 4))
    daemonsets = [*PLATFORM_DAEMONSETS.values(), *(MONITORING_DAEMONSETS.values() if azure_monitoring else ())]
    return NodeRoom(vm_size, shape, capacity, kube_reserved, sum(daemonsets, Resources(0, 0)))


def vm_shape(vm_size: str) -> tuple[str, VmShape] | None:
    """The table's spelling and shape of ``vm_size`` (Azure size names are case-insensitive)."""
    for name, shape in VM_SIZES.items():
        if name.lower() == vm_size.lower():
            return name, shape
    return None


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
            "to VM_SIZES in settings/capacity.py"
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
