"""Private networking: the virtual network the nodes sit in, the cluster's address ranges, the
internal database endpoint and the private endpoint of the backup storage."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator, model_validator

from settings.aks import NodeCeiling
from settings.rules import Cidr, SettingsModel, by_role, matching

_GUID = r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
_VNET_ID = rf"/subscriptions/{_GUID}/resourceGroups/[-\w._()]+/providers/Microsoft\.Network/virtualNetworks/[\w][-\w.]*"
VnetId = Annotated[
    str,
    matching(
        _VNET_ID,
        "must be a virtual network resource ID: /subscriptions/<id>/resourceGroups/<group>/providers/"
        "Microsoft.Network/virtualNetworks/<name>",
        re.IGNORECASE,
    ),
]
SubnetId = Annotated[
    str,
    matching(
        _VNET_ID + r"/subnets/[\w][-\w.]*",
        "must be a subnet resource ID: <virtual network ID>/subnets/<name>",
        re.IGNORECASE,
    ),
]
PrivateDnsZoneId = Annotated[
    str,
    matching(
        rf"/subscriptions/{_GUID}/resourceGroups/[-\w._()]+/providers/Microsoft\.Network/privateDnsZones/"
        r"privatelink\.blob\.core\.windows\.net",
        "must be the resource ID of a privatelink.blob.core.windows.net private DNS zone",
        re.IGNORECASE,
    ),
]
# Azure blocks these private DNS zone names (public cloud column of "reserved zone names",
# MicrosoftDocs/azure-docs articles/dns/private-dns-privatednszone.md, "Restrictions").
AZURE_RESERVED_ZONES = (
    "azclient.ms", "azure.com", "cloudapp.net", "core.windows.net", "microsoft.com", "msidentity.com",
    "trafficmanager.net", "windows.net",
)  # fmt: skip
# The backup storage's private endpoint zone (components/azure/blob_private_endpoint.py): a client network
# links one zone of a name, so the database's zone must have another.
BLOB_PRIVATE_DNS_ZONE = "privatelink.blob.core.windows.net"


def _unreserved_zone(value: str) -> str:
    if value in AZURE_RESERVED_ZONES:
        raise ValueError(f"is a zone name Azure reserves ({', '.join(AZURE_RESERVED_ZONES)}); choose e.g. cnpg.internal")
    if value == BLOB_PRIVATE_DNS_ZONE:
        raise ValueError(
            "is the backup storage's private endpoint zone; a network links one zone of a name, so the database's "
            "names would hide the storage's (or the reverse): choose e.g. cnpg.internal"
        )
    return value


DnsZoneName = Annotated[
    str,
    matching(
        r"([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?",
        "must be a DNS zone name of two or more lowercase labels, e.g. cnpg.internal",
    ),
    AfterValidator(_unreserved_zone),
]

# AKS refuses a virtual network, subnet, pod or service range inside these ("Kubernetes service, pod and
# cluster virtual network ranges", azure-aks-docs concepts-network-cni-overview.md).
AKS_RESERVED_RANGES = tuple(
    ipaddress.ip_network(cidr) for cidr in ("169.254.0.0/16", "172.30.0.0/16", "172.31.0.0/16", "192.0.2.0/24")
)
# Azure keeps the first four addresses and the last one of every subnet.
AZURE_RESERVED_HEAD = 4
AZURE_RESERVED_PER_SUBNET = AZURE_RESERVED_HEAD + 1
# The smallest subnet Azure creates.
SMALLEST_SUBNET_PREFIX = 29
# The widest Service range AKS takes (azure-aks-docs concepts-network-azure-cni-overlay.md, "Kubernetes service
# address range").
WIDEST_SERVICE_PREFIX = 12
# Azure CNI overlay gives every node one /24 of the pod range (same document, "Pods").
NODE_POD_RANGE_PREFIX = 24


def _ipv4(value: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(value)


def overlaps(first: str, second: str) -> bool:
    return ipaddress.ip_network(first).overlaps(ipaddress.ip_network(second))


class AdoptedNetwork(SettingsModel):
    """An existing virtual network the program uses instead of creating one."""

    vnet_id: VnetId
    """Resource ID of the virtual network."""
    node_subnet_id: SubnetId
    """Resource ID of its subnet for the nodes (and the internal load balancer)."""
    private_endpoint_subnet_id: SubnetId
    """Resource ID of its subnet for private endpoints."""

    @model_validator(mode="after")
    def _subnets_of_the_vnet(self) -> AdoptedNetwork:
        for key, subnet_id in (
            ("nodeSubnetId", self.node_subnet_id),
            ("privateEndpointSubnetId", self.private_endpoint_subnet_id),
        ):
            if subnet_id.lower().rsplit("/subnets/", 1)[0] != self.vnet_id.lower():
                raise ValueError(f"{key} {subnet_id!r} is not a subnet of vnetId {self.vnet_id!r}")
        return self


class Peering(SettingsModel):
    """A client network peered with the cluster's virtual network."""

    remote_vnet_id: VnetId
    """Resource ID of the remote virtual network (it must peer back for traffic to flow)."""
    address_space: list[Cidr]
    """The remote network's address ranges (Azure refuses to peer overlapping address spaces)."""


class InternalEndpointSettings(SettingsModel):
    """Database endpoints on an internal load balancer with static private addresses."""

    enabled: bool = False
    """Internal load balancers for the read-write and read-only services, named in the private DNS zone."""
    read_write_ip: str | None = None
    """Required when enabled. Static address of the read-write endpoint, inside network.nodeSubnet."""
    read_only_ip: str | None = None
    """Required when enabled. Static address of the read-only endpoint, inside network.nodeSubnet."""
    pooler_read_write_ip: str | None = None
    """Required when enabled with pooler.enabled. Static address of the read-write pooler, inside network.nodeSubnet."""
    pooler_read_only_ip: str | None = None
    """Required when enabled with pooler.enabled. Static address of the read-only pooler, inside network.nodeSubnet."""

    def addresses(self) -> dict[str, str | None]:
        """Each static address by its key under network.internalEndpoint."""
        return {
            "readWriteIp": self.read_write_ip,
            "readOnlyIp": self.read_only_ip,
            "poolerReadWriteIp": self.pooler_read_write_ip,
            "poolerReadOnlyIp": self.pooler_read_only_ip,
        }

    def ip(self, role: str) -> str:
        """The address of the ``rw`` or ``ro`` endpoint (validated: set when enabled)."""
        return str(by_role(role, self.read_write_ip, self.read_only_ip))

    def pooler_ip(self, pooler_type: str) -> str:
        """The address of the ``rw`` or ``ro`` pooler (validated: set when enabled with poolers)."""
        return str(by_role(pooler_type, self.pooler_read_write_ip, self.pooler_read_only_ip))


class NetworkSettings(SettingsModel):
    """The virtual network, the cluster's address ranges and private access to the database and backups."""

    address_space: Cidr = "10.20.0.0/16"
    """Address range of the virtual network (of the adopted one, when adopting)."""
    node_subnet: Cidr = "10.20.0.0/20"
    """Subnet of every node pool and the internal load balancer (one address per node with Azure CNI overlay)."""
    private_endpoint_subnet: Cidr = "10.20.16.0/24"
    """Subnet of the private endpoints."""
    pod_cidr: Cidr = "192.168.0.0/16"
    """Azure CNI overlay pod range; outside the virtual network and every network it talks to."""
    service_cidr: Cidr = "10.21.0.0/16"
    """Kubernetes Service range; outside the virtual network, the pod range and every network it talks to."""
    dns_service_ip: str = "10.21.0.10"
    """Cluster DNS address, inside serviceCidr (not its first addresses)."""
    adopt: AdoptedNetwork | None = None
    """Use an existing virtual network instead of creating one (its ranges go in the settings above)."""
    peerings: list[Peering] = []
    """Client networks to peer with the created virtual network."""
    client_cidrs: list[Cidr] = []
    """Required with the internal endpoint (or clients.cidrs). Client networks allowed to the internal load balancer."""
    internal_endpoint: InternalEndpointSettings = InternalEndpointSettings()
    """Database endpoints on an internal load balancer."""
    private_dns_zone: DnsZoneName = "cnpg.internal"
    """Private DNS zone holding the internal endpoints' names, linked to the virtual network and peered networks."""
    private_storage: bool = False
    """Backup storage reached only through a private endpoint in privateEndpointSubnet (public network access off)."""
    blob_private_dns_zone_id: PrivateDnsZoneId | None = None
    """An existing privatelink.blob.core.windows.net zone (hub networks) instead of one the program creates; only with
    adopt, a network the hub links to it (required then: Azure refuses a second zone of that name on the network)."""

    def problems(self, nodes: NodeCeiling, poolers: bool = False, cluster_clients: Sequence[str] = ()) -> list[str]:
        """Every range rule AKS and Azure would refuse at deploy time, one line each (key, value, rule).

        ``nodes``: the most nodes the cluster runs at once (each takes a node subnet address and a /24 of the
        pod range). ``poolers``: PgBouncer poolers run (pooler.enabled), so the internal endpoint needs their
        addresses too. ``cluster_clients``: the cluster's own client networks (clients.cidrs), which its load
        balancers admit beside network.clientCidrs."""
        problems = self._version_problems()
        if problems:
            return problems
        problems += self._reserved_range_problems()
        problems += self._subnet_problems()
        problems += self._cluster_range_problems()
        problems += self._node_capacity_problems(nodes, poolers)
        problems += self._internal_endpoint_problems(poolers, cluster_clients)
        problems += self._client_problems(cluster_clients)
        problems += self._peering_problems()
        if self.adopt is not None and self.peerings:
            problems.append(
                "network.peerings: peer the adopted virtual network where it is managed; the program peers only "
                "the network it creates"
            )
        if self.blob_private_dns_zone_id is not None and self.adopt is None:
            # Linking the hub's zone would need rights on the hub's zone (another resource group, often another
            # subscription) that a spoke's deployment should not hold, and the link would live in this stack's
            # state; hubs link their zones themselves (or resolve through a DNS resolver they run).
            problems.append(
                f"network.blobPrivateDnsZoneId: {self.blob_private_dns_zone_id!r}, but the program creates the virtual "
                "network and cannot link a hub's zone to it, so the backup storage would resolve to its public address: "
                "adopt a network the hub links (network.adopt), or leave it unset for a zone linked by the program"
            )
        return problems

    def _version_problems(self) -> list[str]:
        problems = [
            f"{key}: {value!r} — must be an IPv4 range (the cluster is single-stack IPv4)"
            for key, value in self._ranges().items()
            if ipaddress.ip_network(value).version != 4
        ]
        addresses = {
            "network.dnsServiceIp": self.dns_service_ip,
            **{f"network.internalEndpoint.{key}": value for key, value in self.internal_endpoint.addresses().items()},
        }
        for key, value in addresses.items():
            if value is None:
                continue
            try:
                ipaddress.IPv4Address(value)
            except ValueError:
                problems.append(f"{key}: {value!r} — must be an IPv4 address such as 10.20.0.10")
        return problems

    def _ranges(self) -> dict[str, str]:
        return {
            "network.addressSpace": self.address_space,
            "network.nodeSubnet": self.node_subnet,
            "network.privateEndpointSubnet": self.private_endpoint_subnet,
            "network.podCidr": self.pod_cidr,
            "network.serviceCidr": self.service_cidr,
        }

    def _reserved_range_problems(self) -> list[str]:
        problems = []
        for key, value in self._ranges().items():
            reserved = [str(net) for net in AKS_RESERVED_RANGES if _ipv4(value).overlaps(net)]
            if reserved:
                problems.append(f"{key}: {value!r} overlaps {', '.join(reserved)} — AKS reserves that range")
        return problems

    def _node_capacity_problems(self, nodes: NodeCeiling, poolers: bool) -> list[str]:
        problems = []
        spare_bits = NODE_POD_RANGE_PREFIX - _ipv4(self.pod_cidr).prefixlen
        node_ranges = 2**spare_bits if spare_bits >= 0 else 0
        if node_ranges < nodes.nodes:
            problems.append(
                f"network.podCidr: {self.pod_cidr!r} holds {node_ranges} /24 node ranges, but Azure CNI overlay gives "
                f"every node one and the cluster can run {nodes.nodes} nodes ({nodes.explanation}); widen it"
            )
        endpoints = len(self._static_addresses(poolers)) if self.internal_endpoint.enabled else 0
        usable = _ipv4(self.node_subnet).num_addresses - AZURE_RESERVED_PER_SUBNET
        if usable < nodes.nodes + endpoints:
            problems.append(
                f"network.nodeSubnet: {self.node_subnet!r} has {usable} usable addresses (Azure keeps "
                f"{AZURE_RESERVED_PER_SUBNET}), but needs {nodes.nodes + endpoints}: {nodes.nodes} nodes ({nodes.explanation}) "
                f"and {endpoints} internal endpoint addresses; widen it"
            )
        return problems

    def _static_addresses(self, poolers: bool) -> list[str]:
        """The internal endpoint's static addresses in the node subnet."""
        return [
            value
            for key, value in self.internal_endpoint.addresses().items()
            if value is not None and (poolers or not key.startswith("pooler"))
        ]

    def _peering_problems(self) -> list[str]:
        problems = []
        seen: dict[str, int] = {}
        for index, peering in enumerate(self.peerings):
            # Azure resource IDs are case-insensitive.
            remote = peering.remote_vnet_id.lower()
            if remote in seen:
                problems.append(
                    f"network.peerings[{index}].remoteVnetId: {peering.remote_vnet_id!r} — already peered by "
                    f"network.peerings[{seen[remote]}]; Azure peers two networks once"
                )
            else:
                seen[remote] = index
        return problems

    def _subnet_problems(self) -> list[str]:
        problems = []
        vnet = _ipv4(self.address_space)
        for key, subnet in (
            ("network.nodeSubnet", self.node_subnet),
            ("network.privateEndpointSubnet", self.private_endpoint_subnet),
        ):
            if not _ipv4(subnet).subnet_of(vnet):
                problems.append(f"{key}: {subnet!r} — must lie inside network.addressSpace {self.address_space!r}")
            if _ipv4(subnet).prefixlen > SMALLEST_SUBNET_PREFIX:
                problems.append(f"{key}: {subnet!r} — Azure subnets are /{SMALLEST_SUBNET_PREFIX} or larger")
        if overlaps(self.node_subnet, self.private_endpoint_subnet):
            problems.append(
                f"network.privateEndpointSubnet: {self.private_endpoint_subnet!r} overlaps network.nodeSubnet "
                f"{self.node_subnet!r} — subnets of one virtual network must not overlap"
            )
        return problems

    def _cluster_range_problems(self) -> list[str]:
        problems = []
        for key, value in (("network.podCidr", self.pod_cidr), ("network.serviceCidr", self.service_cidr)):
            if overlaps(value, self.address_space):
                problems.append(
                    f"{key}: {value!r} overlaps network.addressSpace {self.address_space!r} — AKS needs cluster-internal "
                    "ranges outside the virtual network"
                )
        if overlaps(self.pod_cidr, self.service_cidr):
            problems.append(
                f"network.serviceCidr: {self.service_cidr!r} overlaps network.podCidr {self.pod_cidr!r} — AKS needs them apart"
            )
        service = _ipv4(self.service_cidr)
        if service.prefixlen < WIDEST_SERVICE_PREFIX:
            problems.append(
                f"network.serviceCidr: {self.service_cidr!r} — AKS takes a Service range of /{WIDEST_SERVICE_PREFIX} "
                f"or narrower ({2 ** (32 - WIDEST_SERVICE_PREFIX):,} addresses at most)"
            )
        dns = ipaddress.IPv4Address(self.dns_service_ip)
        if dns not in service:
            problems.append(
                f"network.dnsServiceIp: {self.dns_service_ip!r} — must lie inside network.serviceCidr {self.service_cidr!r}"
            )
        elif dns in (service.network_address, service.network_address + 1, service.broadcast_address):
            problems.append(
                f"network.dnsServiceIp: {self.dns_service_ip!r} — must not be the first, second or last address of "
                f"network.serviceCidr {self.service_cidr!r} (network address, the kubernetes Service, broadcast)"
            )
        return problems

    def _internal_endpoint_problems(self, poolers: bool, cluster_clients: Sequence[str]) -> list[str]:
        endpoint = self.internal_endpoint
        if not endpoint.enabled:
            return []
        problems = []
        subnet = _ipv4(self.node_subnet)
        first_usable, last_usable = subnet.network_address + AZURE_RESERVED_HEAD, subnet.broadcast_address - 1
        required = {"readWriteIp", "readOnlyIp"} | ({"poolerReadWriteIp", "poolerReadOnlyIp"} if poolers else set())
        seen: dict[str, str] = {}
        for key, value in endpoint.addresses().items():
            if value is None:
                if key in required:
                    condition = "enabled is true and pooler.enabled is true" if key.startswith("pooler") else "enabled is true"
                    problems.append(f"network.internalEndpoint.{key}: required setting is missing when {condition}")
                continue
            if not first_usable <= ipaddress.IPv4Address(value) <= last_usable:
                problems.append(
                    f"network.internalEndpoint.{key}: {value!r} — must be a usable address of network.nodeSubnet "
                    f"{self.node_subnet!r} (Azure keeps its first four and its last address)"
                )
            if value in seen:
                problems.append(
                    f"network.internalEndpoint.{key}: {value!r} — must differ from {seen[value]} "
                    "(each endpoint has its own address and DNS name)"
                )
            else:
                seen[value] = key
        if not self.client_cidrs and not cluster_clients:
            problems.append(
                "network.clientCidrs: [] — must list the client networks when internalEndpoint.enabled is true "
                "(or the cluster's clients.cidrs; the database's NetworkPolicy admits only them)"
            )
        return problems

    def _client_problems(self, cluster_clients: Sequence[str]) -> list[str]:
        problems = []
        ranges = [(f"network.clientCidrs[{index}]", cidr) for index, cidr in enumerate(self.client_cidrs)]
        ranges += [(f"clients.cidrs[{index}]", cidr) for index, cidr in enumerate(cluster_clients)]
        for index, peering in enumerate(self.peerings):
            for position, cidr in enumerate(peering.address_space):
                key = f"network.peerings[{index}].addressSpace[{position}]"
                ranges.append((key, cidr))
                if overlaps(cidr, self.address_space):
                    problems.append(
                        f"{key}: {cidr!r} overlaps network.addressSpace {self.address_space!r} — Azure refuses to peer "
                        "overlapping address spaces"
                    )
        for key, cidr in ranges:
            for cluster_key, cluster_range in (("network.podCidr", self.pod_cidr), ("network.serviceCidr", self.service_cidr)):
                if overlaps(cidr, cluster_range):
                    problems.append(
                        f"{key}: {cidr!r} overlaps {cluster_key} {cluster_range!r} — traffic to those addresses never "
                        "leaves the cluster, so those clients are unreachable"
                    )
        return problems
