"""Do every database cluster's pods fit the postgres pool, while a restore runs and with one zone down?

Pure arithmetic over the settings, run once with the other cross-checks (for a one-cluster stack and
for ``clusters`` alike) so a deployment that the scheduler would leave Pending is refused up front,
naming the keys to change and a node count and a node size that would fit.

What a node offers (VM shapes, AKS reservations, DaemonSets) is sizing/nodes.py.

The pods, for every cluster (settings.Settings.database_clusters):
- postgres.instances PostgreSQL pods, each requesting postgres.resources plus backup.sidecar. A CNPG
  cluster keeps its instances on distinct nodes (components/builders/cluster_spec.py:
  podAntiAffinityType required, topologyKey hostname); that anti-affinity selects only its own
  cluster's pods, so pods of different clusters may share a node;
- with restore.enabled, the recovery cluster: as many pods of the same size, on distinct nodes among
  themselves (its one-off recovery job takes an instance's place before that instance starts);
- with pooler.enabled, pooler.instances PgBouncer pods for each of the rw and ro poolers, each
  requesting pooler.resources, on any node (components/cluster/poolers.py spreads them over zones,
  not over nodes).

Model (decided here, conservative where it can be):
- the pool may grow to aks.postgresPool.maxCount nodes of aks.postgresPool.vmSize (the autoscaler
  adds nodes for Pending pods);
- the pods fit N nodes when worst-fit decreasing places them all on N nodes: the largest pods first
  (by their larger share of a node's room, CPU or memory), each on the node with the most room left
  that holds no pod of its anti-affinity group. Spreading like that is what the scheduler's default
  scoring (LeastAllocated) does too, and it staggers the clusters, so one cluster's instances do not
  fill the very nodes the next cluster needs. Success proves a placement exists; a refusal only
  says this packing found none (N counts up from what the requests and the groups take at least);
- one zone down: AKS balances a zone-redundant pool over the len(zones) zones, so losing one takes
  ceil(maxCount / zones) nodes. The rest must hold every cluster's instances up to one a node
  (min(postgres.instances, nodes left): the lost zone's instances come back where anti-affinity
  lets them, as managed-csi-premium volumes are ZRS on a multi-zone AKS; Premium SSD v2 volumes stay
  in their zone, and counting those instances only keeps room) and every PgBouncer pod, which the
  ReplicaSets recreate in the zones left. A restore is not counted then:
  it is started on a whole pool. A pool in one zone has no zone to lose;
- what would fit: the smallest maxCount that meets both, and the smallest size of vmSize's series
  (sizing/nodes.py same_family) that meets both at the current maxCount.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from settings.backup import PROD_SIDECAR_MEMORY
from settings.pooler import POOLER_TYPES
from sizing.nodes import VM_SIZES, NodeRoom, Resources, node_room, same_family, vm_shape

if TYPE_CHECKING:
    from settings import Settings


Pod = tuple[Resources, str | None]  # its requests, and the anti-affinity group it keeps apart from (None: none)


@dataclass(frozen=True)
class ClusterPods:
    """What one database cluster runs on the postgres pool."""

    name: str
    keys: str  # prefix of its config keys: "" in a one-cluster stack, else "clusters.<name>."
    view: Settings  # the stack settings as this cluster sees them

    @property
    def instances(self) -> int:
        return self.view.postgres.instances

    @property
    def postgres_pod(self) -> Resources:
        resources, sidecar = self.view.postgres.resources, self.view.backup.sidecar
        return Resources(resources.millicores, resources.memory_bytes) + Resources(sidecar.millicores, sidecar.memory_bytes)

    @property
    def poolers(self) -> int:
        return self.view.pooler.instances * len(POOLER_TYPES) if self.view.pooler.enabled else 0

    @property
    def pooler_pod(self) -> Resources:
        return Resources(self.view.pooler.resources.millicores, self.view.pooler.resources.memory_bytes)

    def pods(self, instances: int, restore: bool) -> Iterable[Pod]:
        """Each pod with the anti-affinity group whose other pods it keeps off its node (None: no such group)."""
        for group in (self.name, f"{self.name} recovery")[: 2 if restore else 1]:
            yield from ((self.postgres_pod, group) for _ in range(instances))
        yield from ((self.pooler_pod, None) for _ in range(self.poolers))

    def all_pods(self) -> Iterable[Pod]:
        return self.pods(self.instances, self.view.restore.enabled)

    def fits_a_node(self, room: NodeRoom) -> bool:
        return room.free.holds(self.postgres_pod) and (not self.poolers or room.free.holds(self.pooler_pod))

    def postgres_text(self) -> str:
        resources, sidecar = self.view.postgres.resources, self.view.backup.sidecar
        return (
            f"{self.postgres_pod} = postgres.resources {resources.cpu} / {resources.memory} + backup.sidecar "
            f"{sidecar.cpu} / {sidecar.memory}"
        )

    def pooler_text(self) -> str:
        return f"{self.view.pooler.resources.cpu} / {self.view.pooler.resources.memory}"


def places(room: NodeRoom, pods: Iterable[Pod], nodes: int) -> bool:
    """Whether worst-fit decreasing puts every pod (each fits an empty node) on ``nodes`` nodes: the largest
    pods first, each on the node with the most room left that holds no pod of its anti-affinity group."""
    free = room.free

    def share(resources: Resources) -> float:
        return max(resources.millicores / free.millicores, resources.bytes / free.bytes)

    def room_left(left: Resources) -> float:
        return min(left.millicores / free.millicores, left.bytes / free.bytes)

    left = [free] * nodes
    groups: list[set[str]] = [set() for _ in range(nodes)]
    for pod, group in sorted(pods, key=lambda item: share(item[0]), reverse=True):
        candidates = [node for node in range(nodes) if left[node].holds(pod) and group not in groups[node]]
        if not candidates:
            return False
        node = max(candidates, key=lambda node: room_left(left[node]))
        left[node] -= pod
        if group:
            groups[node].add(group)
    return True


def nodes_needed(room: NodeRoom, pods: Iterable[Pod]) -> int:
    """The fewest nodes ``places`` puts ``pods`` on, counted up from what their requests and groups take at least."""
    listed = list(pods)
    total = sum((pod for pod, _ in listed), Resources(0, 0))
    groups = Counter(group for _, group in listed if group)
    nodes = max(
        -(-total.millicores // room.free.millicores), -(-total.bytes // room.free.bytes), *groups.values(), 1 if listed else 0
    )
    while not places(room, listed, nodes):
        nodes += 1
    return nodes


@dataclass(frozen=True)
class Fit:
    """How many postgres-pool nodes the clusters' pods take."""

    nodes: int  # every pod, restores included
    max_count: int  # the current maxCount if it holds them, one zone down too; else the smallest that does


def nodes_left_with_a_zone_down(max_count: int, zones: int) -> int:
    """The nodes a pool of ``max_count`` balanced over ``zones`` zones keeps when one zone is lost."""
    return max_count - -(-max_count // zones)


def fit(clusters: Sequence[ClusterPods], room: NodeRoom, zones: int, current_max_count: int) -> Fit:
    nodes = nodes_needed(room, (pod for cluster in clusters for pod in cluster.all_pods()))

    def holds_a_zone_down(max_count: int) -> bool:
        if zones == 1:
            return True
        left = nodes_left_with_a_zone_down(max_count, zones)
        kept = (pod for cluster in clusters for pod in cluster.pods(min(cluster.instances, left), restore=False))
        return left > 0 and places(room, kept, left)

    if nodes <= current_max_count and holds_a_zone_down(current_max_count):
        return Fit(nodes, current_max_count)
    max_count = max(nodes, current_max_count + 1)
    while not holds_a_zone_down(max_count):
        max_count += 1
    return Fit(nodes, max_count)


def capacity_problems(settings: Settings) -> list[str]:
    """Problems of all the stack's database clusters on the postgres pool, one line each, naming the keys."""
    pool = settings.aks.postgres_pool
    clusters = [
        ClusterPods(key, "" if settings.clusters is None else f"clusters.{key}.", cluster.settings)
        for key, cluster in settings.database_clusters().items()
    ]
    problems = [
        f"{cluster.keys}backup.sidecar.memory: {cluster.view.backup.sidecar.memory!r} — prod needs at least 1Gi: "
        "base backups and restores OOM-kill a smaller sidecar (plugin-barman-cloud issues #765, #385, #711)"
        for cluster in clusters
        if settings.environment == "prod" and cluster.view.backup.sidecar.memory_bytes < PROD_SIDECAR_MEMORY
    ]
    found = vm_shape(pool.vm_size)
    if found is None:
        problems.append(
            f"aks.postgresPool.vmSize: {pool.vm_size!r} — not in the capacity table, so the program cannot tell "
            "whether a PostgreSQL pod fits; use a premium-storage D- or E-series size with 2-16 vCPU "
            "(v3, v4, v5, e.g. Standard_D4s_v5 or Standard_E4s_v5), or add the size with its vCPU and memory "
            "to VM_SIZES in sizing/nodes.py"
        )
        return problems
    azure_monitoring = settings.observability.azure_monitoring
    room = node_room(*found, azure_monitoring)
    series = [node_room(name, VM_SIZES[name], azure_monitoring) for name in same_family(room.vm_size)]
    too_large = _too_large_problems(clusters, room, series, pool.vm_size)
    # Settings._cluster_problems asks for maxCount >= postgres.instances itself.
    if too_large or any(cluster.instances > pool.max_count for cluster in clusters):
        return problems + too_large
    return problems + _max_count_problems(clusters, room, series, len(settings.zones), pool.max_count)


def _too_large_problems(clusters: Sequence[ClusterPods], room: NodeRoom, series: Sequence[NodeRoom], vm_size: str) -> list[str]:
    """A pod larger than a node's room, one line each (``vm_size`` as configured)."""
    problems = []
    for cluster in clusters:
        if not room.free.holds(cluster.postgres_pod):
            holding = next((other.vm_size for other in series if other.free.holds(cluster.postgres_pod)), None)
            problems.append(
                f"aks.postgresPool.vmSize: {vm_size!r} — one PostgreSQL pod{_of(cluster)} requests "
                f"{cluster.postgres_text()}, but {room.explain()}: choose a larger vmSize"
                f"{f' ({holding} holds one)' if holding else ''} or lower {cluster.keys}postgres.resources"
            )
        elif cluster.poolers and not room.free.holds(cluster.pooler_pod):
            problems.append(
                f"{cluster.keys}pooler.resources: {cluster.pooler_text()} — a PgBouncer pod requests "
                f"{cluster.pooler_pod}, but {room.explain()}: lower pooler.resources"
            )
    return problems


def _max_count_problems(
    clusters: Sequence[ClusterPods], room: NodeRoom, series: Sequence[NodeRoom], zones: int, max_count: int
) -> list[str]:
    """The pods beyond maxCount nodes, with or without a zone: one line with a maxCount and a size that would fit."""
    needed = fit(clusters, room, zones, max_count)
    if needed.max_count <= max_count:
        return []
    size = next(
        (
            other.vm_size
            for other in series
            if all(cluster.fits_a_node(other) for cluster in clusters)
            and fit(clusters, other, zones, max_count).max_count <= max_count
        ),
        None,
    )
    lost = needed.max_count - nodes_left_with_a_zone_down(needed.max_count, zones)
    zone_down = (
        f", and maxCount {needed.max_count} to hold one of the {zones} zones down (it takes {lost} of the "
        f"{needed.max_count} nodes; the {needed.max_count - lost} left hold each cluster's instances up to one a node, "
        "and every PgBouncer pod)"
        if zones > 1
        else ""
    )
    instead = f", or use {size} ({max_count} nodes of it hold them)" if size else ""
    return [
        f"aks.postgresPool.maxCount: {max_count} — {_pods_text(clusters)} need {needed.nodes} nodes of "
        f"{room.vm_size} ({room.explain()}){zone_down}: raise maxCount to {needed.max_count}{instead}"
    ]


def _of(cluster: ClusterPods) -> str:
    return f" of clusters.{cluster.name}" if cluster.keys else ""


def _pods_text(clusters: Sequence[ClusterPods]) -> str:
    """The pods by cluster, clusters of the same shape together: "the 6 PostgreSQL pods (...) and 2 PgBouncer pods (...)"."""
    postgres: dict[str, list[str]] = {}
    poolers: dict[str, list[str]] = {}
    for cluster in clusters:
        view = cluster.view
        restoring = f", and with restore.enabled the recovery cluster's {cluster.instances}" if view.restore.enabled else ""
        postgres.setdefault(f"postgres.instances {cluster.instances} x {cluster.postgres_text()}{restoring}", []).append(
            cluster.name
        )
        if cluster.poolers:
            text = (
                f"pooler.instances {view.pooler.instances} x {len(POOLER_TYPES)} poolers (rw and ro) x "
                f"{cluster.pooler_pod} (pooler.resources {cluster.pooler_text()})"
            )
            poolers.setdefault(text, []).append(cluster.name)
    platform = bool(clusters[0].keys)

    def listed(shapes: dict[str, list[str]]) -> str:
        return "; ".join(f"{', '.join(names)}: {shape}" if platform else shape for shape, names in shapes.items())

    postgres_pods = sum(cluster.instances * (2 if cluster.view.restore.enabled else 1) for cluster in clusters)
    text = f"the {postgres_pods} PostgreSQL pods ({listed(postgres)}; each cluster's on distinct nodes)"
    pooler_pods = sum(cluster.poolers for cluster in clusters)
    return text + (f" and {pooler_pods} PgBouncer pods ({listed(poolers)})" if pooler_pods else "")
