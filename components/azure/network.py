"""Network: the virtual network the node pools, the internal load balancer and the private
endpoints sit in, created by the program or adopted by resource ID."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import network

from components.azure.roles import BuiltInRole, assign_role
from components.azure.scope import AzureScope
from settings import NetworkSettings

NODE_SUBNET = "snet-nodes"
PRIVATE_ENDPOINT_SUBNET = "snet-private-endpoints"


@dataclass(frozen=True)
class ClusterNetwork:
    """Where the nodes sit and the cluster's own address ranges (from the network settings)."""

    node_subnet_id: pulumi.Input[str]
    pod_cidr: str
    service_cidr: str
    dns_service_ip: str


@dataclass(frozen=True)
class NetworkArgs:
    scope: AzureScope
    vnet_name: pulumi.Input[str]
    settings: NetworkSettings
    # AKS's control-plane identity: it joins nodes and internal load balancers to the node subnet.
    control_plane_principal_id: pulumi.Input[str]


def peering_names(remote_vnet_ids: Sequence[str]) -> dict[str, str]:
    """The name of what connects this stack to each remote network (its peering and its DNS links), by ID.

    ``peer-<network name>``, the name stacks have always deployed; a later network of the same name (in
    another resource group or subscription) adds a hash of its full ID, so neither collides and appending a
    peering renames none of those already deployed (a renamed peering or link is deleted and created again).
    Azure names and IDs are case-insensitive, so the comparison and the hash are too.
    """
    names: dict[str, str] = {}
    taken: set[str] = set()
    for vnet_id in remote_vnet_ids:
        name = f"peer-{vnet_id.rsplit('/', 1)[-1]}"
        if name.lower() in taken:
            name = f"{name}-{hashlib.sha256(vnet_id.lower().encode()).hexdigest()[:8]}"
        taken.add(name.lower())
        names[vnet_id] = name
    return names


class Network(pulumi.ComponentResource):
    """A virtual network with a node subnet and a private-endpoint subnet, peered with client networks.

    Adopted networks are used as they are; the control plane gets Network Contributor on them
    (an owned network is in the stack's resource group, where the control plane already holds it).
    """

    vnet_id: pulumi.Output[str]
    node_subnet_id: pulumi.Output[str]
    # What AKS is given: the node subnet and the cluster's own address ranges.
    cluster_network: ClusterNetwork
    node_subnet_name: str
    private_endpoint_subnet_id: pulumi.Output[str]
    # What AKS must wait for before it puts nodes in the subnet.
    control_plane_ready: list[pulumi.Resource]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:Network", name, None, opts)
        settings = args.settings
        if settings.adopt is not None:
            adopted = settings.adopt
            self.vnet_id = pulumi.Output.from_input(adopted.vnet_id)
            self.node_subnet_id = pulumi.Output.from_input(adopted.node_subnet_id)
            self.node_subnet_name = adopted.node_subnet_id.rsplit("/", 1)[-1]
            self.private_endpoint_subnet_id = pulumi.Output.from_input(adopted.private_endpoint_subnet_id)
            self.control_plane_ready = [
                assign_role(
                    f"{name}-control-plane-network",
                    scope=adopted.vnet_id,
                    principal_id=args.control_plane_principal_id,
                    role=BuiltInRole.NETWORK_CONTRIBUTOR,
                    parent=self,
                )
            ]
        else:
            # Subnets and peerings inline: the network is declared whole, so no update of it drops one.
            peerings = peering_names([peering.remote_vnet_id for peering in settings.peerings])
            vnet = network.VirtualNetwork(
                f"{name}-vnet",
                resource_group_name=args.scope.resource_group_name,
                virtual_network_name=args.vnet_name,
                location=args.scope.location,
                address_space=network.AddressSpaceArgs(address_prefixes=[settings.address_space]),
                subnets=[
                    network.SubnetArgs(name=NODE_SUBNET, address_prefix=settings.node_subnet),
                    network.SubnetArgs(name=PRIVATE_ENDPOINT_SUBNET, address_prefix=settings.private_endpoint_subnet),
                ],
                virtual_network_peerings=[
                    network.VirtualNetworkPeeringArgs(
                        name=peerings[peering.remote_vnet_id],
                        remote_virtual_network=network.SubResourceArgs(id=peering.remote_vnet_id),
                        allow_virtual_network_access=True,
                        allow_forwarded_traffic=False,
                    )
                    for peering in settings.peerings
                ],
                tags=dict(args.scope.tags),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.vnet_id = vnet.id
            self.node_subnet_id = pulumi.Output.concat(vnet.id, "/subnets/", NODE_SUBNET)
            self.node_subnet_name = NODE_SUBNET
            self.private_endpoint_subnet_id = pulumi.Output.concat(vnet.id, "/subnets/", PRIVATE_ENDPOINT_SUBNET)
            self.control_plane_ready = [vnet]
        ranges = (settings.pod_cidr, settings.service_cidr, settings.dns_service_ip)
        self.cluster_network = ClusterNetwork(self.node_subnet_id, *ranges)
        self.register_outputs(
            {
                "vnetId": self.vnet_id,
                "nodeSubnetId": self.node_subnet_id,
                "privateEndpointSubnetId": self.private_endpoint_subnet_id,
            }
        )
