"""Private DNS zones linked to virtual networks: the blob privatelink zone and the database's zone."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
from pulumi_azure_native import privatedns

# Private DNS zones and their links are global resources.
GLOBAL_LOCATION = "global"
# The link name of the cluster's own network in every zone.
CLUSTER_VNET_LINK = "cluster-vnet"


def linked_private_zone(
    name: str,
    *,
    resource_group_name: pulumi.Input[str],
    zone_name: str,
    links: Mapping[str, pulumi.Input[str]],
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> privatedns.PrivateZone:
    """The zone ``<name>-zone`` and one link ``<name>-<link>`` per entry of ``links`` (link name -> VNet ID),
    registration off: the zone holds only the records its owner writes."""
    child = pulumi.ResourceOptions(parent=parent)
    zone = privatedns.PrivateZone(
        f"{name}-zone",
        resource_group_name=resource_group_name,
        private_zone_name=zone_name,
        location=GLOBAL_LOCATION,
        tags=dict(tags),
        opts=child,
    )
    for link_name, vnet_id in links.items():
        privatedns.VirtualNetworkLink(
            f"{name}-{link_name}",
            resource_group_name=resource_group_name,
            private_zone_name=zone.name,
            virtual_network_link_name=link_name,
            virtual_network=privatedns.SubResourceArgs(id=vnet_id),
            registration_enabled=False,
            location=GLOBAL_LOCATION,
            tags=dict(tags),
            opts=child,
        )
    return zone
