"""Public IP: the static, zone-redundant address (and DNS name) of the database endpoints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import network

from components.azure.scope import AzureScope
from components.builders.endpoints import PublicAddress


@dataclass(frozen=True)
class PublicIpArgs:
    # The stack's group (not the AKS node group), so the address outlives the cluster.
    scope: AzureScope
    ip_name: pulumi.Input[str]
    dns_label: pulumi.Input[str]
    zones: Sequence[str]
    protect: bool


class PublicIp(pulumi.ComponentResource):
    """Standard SKU, static, zones 1-2-3, DNS label on the IP itself so its FQDN is known up front."""

    ip_name: pulumi.Output[str]
    resource_group_name: pulumi.Output[str]
    address: pulumi.Output[str]
    dns_label: pulumi.Output[str]
    fqdn: pulumi.Output[str]
    # What the database's and the poolers' public load balancers are put on.
    public_address: PublicAddress

    def __init__(self, name: str, args: PublicIpArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:PublicIp", name, None, opts)
        address = network.PublicIPAddress(
            f"{name}-address",
            resource_group_name=args.scope.resource_group_name,
            public_ip_address_name=args.ip_name,
            location=args.scope.location,
            sku=network.PublicIPAddressSkuArgs(
                name=network.PublicIPAddressSkuName.STANDARD, tier=network.PublicIPAddressSkuTier.REGIONAL
            ),
            public_ip_allocation_method=network.IPAllocationMethod.STATIC,
            public_ip_address_version=network.IPVersion.I_PV4,
            zones=list(args.zones),
            dns_settings=network.PublicIPAddressDnsSettingsArgs(domain_name_label=args.dns_label),
            tags=dict(args.scope.tags),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        self.ip_name = address.name
        self.resource_group_name = pulumi.Output.from_input(args.scope.resource_group_name)
        self.address = address.ip_address.apply(lambda ip: ip or "")
        self.dns_label = pulumi.Output.from_input(args.dns_label)
        self.fqdn = address.dns_settings.apply(lambda dns: dns.fqdn if dns and dns.fqdn else "")
        self.public_address = PublicAddress(self.ip_name, self.resource_group_name, self.dns_label, self.fqdn)
        self.register_outputs({"address": self.address, "fqdn": self.fqdn})
