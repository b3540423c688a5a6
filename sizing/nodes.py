"""What an AKS node offers PostgreSQL pods: VM shapes, AKS reservations and DaemonSets.

Sources (verify when AKS or the add-on set changes):
- VM sizes: learn.microsoft.com/azure/virtual-machines/sizes/general-purpose/{dsv3,dsv4,ddsv4,dsv5,ddsv5}-series
  and .../memory-optimized/{esv3,esv4,edsv4,esv5,edsv5}-series: D = 4 GiB, E = 8 GiB per vCPU.
- Reservations: learn.microsoft.com/azure/aks/node-resource-reservations, "AKS 1.29 and later"
  (every Kubernetes version this project supports): kube-reserved CPU by core count (table
  below); kube-reserved memory = min(20 MiB x maxPods + 50 MiB, 25% of the node's memory);
  eviction threshold memory.available < 100Mi. maxPods: 250, the Azure CNI Overlay default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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

    def holds(self, pod: Resources) -> bool:
        return self.millicores >= pod.millicores and self.bytes >= pod.bytes

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


def same_family(vm_size: str) -> list[str]:
    """The table's sizes of ``vm_size``'s series (Standard_D8s_v3: Standard_D2s_v3 ... Standard_D16s_v3), smallest first."""
    series = re.fullmatch(r"Standard_([A-Z])\d+(.*)", vm_size)
    if series is None:
        return []
    family = [name for name in VM_SIZES if re.fullmatch(rf"Standard_{series[1]}\d+{re.escape(series[2])}", name)]
    return sorted(family, key=lambda name: VM_SIZES[name].vcpus)


def vm_shape(vm_size: str) -> tuple[str, VmShape] | None:
    """The table's spelling and shape of ``vm_size`` (Azure size names are case-insensitive)."""
    for name, shape in VM_SIZES.items():
        if name.lower() == vm_size.lower():
            return name, shape
    return None
