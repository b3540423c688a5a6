"""Blob private endpoint: the backup storage account's blob service at a private address in the
virtual network, resolved through the privatelink.blob.core.windows.net zone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pulumi
from pulumi_azure_native import network

from components.azure.private_dns import CLUSTER_VNET_LINK, linked_private_zone
from components.azure.scope import AzureScope

BLOB_GROUP_ID = "blob"
BLOB_PRIVATE_DNS_ZONE = "privatelink.blob.core.windows.net"


@dataclass(frozen=True)
class BlobPrivateEndpointArgs:
    scope: AzureScope
    endpoint_name: pulumi.Input[str]
    storage_account_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    vnet_id: pulumi.Input[str]
    # An existing privatelink zone linked to the network (a hub's, or this stack's own for a second
    # endpoint); None creates one here.
    existing_dns_zone_id: pulumi.Input[str] | None


class BlobPrivateEndpoint(pulumi.ComponentResource):
    """A private endpoint for the account's blob service, its DNS zone linked to the network, and the
    zone group that keeps the zone's A record on the endpoint's address."""

    private_endpoint_id: pulumi.Output[str]
    dns_zone_id: pulumi.Input[str]
    # Done when the zone's A record points at the endpoint: the account resolves privately from then on.
    dns_ready: pulumi.Resource

    def __init__(self, name: str, args: BlobPrivateEndpointArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:BlobPrivateEndpoint", name, None, opts)
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        dns_zone_id: pulumi.Input[str]
        if args.existing_dns_zone_id is not None:
            dns_zone_id = args.existing_dns_zone_id
        else:
            zone = linked_private_zone(
                name,
                resource_group_name=args.scope.resource_group_name,
                zone_name=BLOB_PRIVATE_DNS_ZONE,
                links={CLUSTER_VNET_LINK: args.vnet_id},
                tags=args.scope.tags,
                parent=self,
            )
            dns_zone_id = zone.id
        endpoint = network.PrivateEndpoint(
            f"{name}-endpoint",
            resource_group_name=args.scope.resource_group_name,
            private_endpoint_name=args.endpoint_name,
            location=args.scope.location,
            subnet=network.SubnetArgs(id=args.subnet_id),
            private_link_service_connections=[
                network.PrivateLinkServiceConnectionArgs(
                    name=BLOB_GROUP_ID, private_link_service_id=args.storage_account_id, group_ids=[BLOB_GROUP_ID]
                )
            ],
            tags=dict(args.scope.tags),
            opts=child,
        )
        self.dns_ready = network.PrivateDnsZoneGroup(
            f"{name}-dns",
            resource_group_name=args.scope.resource_group_name,
            private_endpoint_name=endpoint.name,
            private_dns_zone_group_name="default",
            private_dns_zone_configs=[network.PrivateDnsZoneConfigArgs(name=BLOB_GROUP_ID, private_dns_zone_id=dns_zone_id)],
            opts=child,
        )
        self.private_endpoint_id = endpoint.id
        self.dns_zone_id = dns_zone_id
        self.register_outputs({"privateEndpointId": self.private_endpoint_id})

    def another(self, endpoint_name: pulumi.Input[str]) -> Callable[..., BlobPrivateEndpointArgs]:
        """Arguments of a second endpoint (another account's, given later as ``storage_account_id``) in the
        same subnet, recorded in this endpoint's zone."""

        def args(storage_account_id: pulumi.Input[str]) -> BlobPrivateEndpointArgs:
            return replace(
                self._args,
                endpoint_name=endpoint_name,
                storage_account_id=storage_account_id,
                existing_dns_zone_id=self.dns_zone_id,
            )

        return args
