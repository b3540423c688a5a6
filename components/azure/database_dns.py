"""Database DNS: a private DNS zone naming the internal database endpoints, resolvable from the
cluster's virtual network and the peered client networks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import privatedns

from components.azure.network import peering_names
from components.azure.private_dns import CLUSTER_VNET_LINK, linked_private_zone
from components.azure.scope import AzureScope

RECORD_TTL_SECONDS = 300


@dataclass(frozen=True)
class DatabaseDnsArgs:
    scope: AzureScope
    zone_name: str
    cluster_vnet_id: pulumi.Input[str]
    # Peered client networks resolve the names too.
    peer_vnet_ids: Sequence[str]
    # Record name (relative to the zone) -> private address.
    a_records: Mapping[str, str]


class DatabaseDns(pulumi.ComponentResource):
    """A private zone (registration off: only the records below), one link per network, one A record per endpoint."""

    def __init__(self, name: str, args: DatabaseDnsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:DatabaseDns", name, None, opts)
        peers = peering_names(args.peer_vnet_ids)
        links = {CLUSTER_VNET_LINK: args.cluster_vnet_id, **{peers[vnet_id]: vnet_id for vnet_id in args.peer_vnet_ids}}
        zone = linked_private_zone(
            name,
            resource_group_name=args.scope.resource_group_name,
            zone_name=args.zone_name,
            links=links,
            tags=args.scope.tags,
            parent=self,
        )
        for record, address in args.a_records.items():
            privatedns.PrivateRecordSet(
                f"{name}-{record}",
                resource_group_name=args.scope.resource_group_name,
                private_zone_name=zone.name,
                record_type="A",
                relative_record_set_name=record,
                ttl=RECORD_TTL_SECONDS,
                a_records=[privatedns.ARecordArgs(ipv4_address=address)],
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"zoneName": zone.name})
