"""Network settings: every range AKS or Azure would refuse is refused up front, naming key, value and rule."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from offline.engine import StackRun, run_stack, stack_config

P = "aks-postgres-ha:"
HUB = "/subscriptions/00000000-0000-4000-8000-0000000000aa/resourceGroups/rg-hub"
VNET = f"{HUB}/providers/Microsoft.Network/virtualNetworks/vnet-spoke"
OTHER = VNET.replace("vnet-spoke", "vnet-other")
HUB_BLOB_ZONE = f"{HUB}/providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net"


# prod's internal endpoint: the database's and the poolers' addresses.
INTERNAL = {
    "enabled": True,
    "readWriteIp": "10.20.15.250",
    "readOnlyIp": "10.20.15.251",
    "poolerReadWriteIp": "10.20.15.252",
    "poolerReadOnlyIp": "10.20.15.253",
}


def _network(**changes: Any) -> dict[str, Any]:
    return {**json.loads(json.dumps(stack_config("prod")[P + "network"])), **changes}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"nodeSubnet": "10.30.0.0/20"}, "network.nodeSubnet: '10.30.0.0/20' — must lie inside network.addressSpace"),
        ({"privateEndpointSubnet": "10.20.8.0/24"}, "network.privateEndpointSubnet: '10.20.8.0/24' overlaps network.nodeSubnet"),
        ({"privateEndpointSubnet": "10.20.16.0/30"}, "Azure subnets are /29 or larger"),
        ({"podCidr": "10.20.128.0/17"}, "network.podCidr: '10.20.128.0/17' overlaps network.addressSpace '10.20.0.0/16'"),
        ({"serviceCidr": "192.168.0.0/20", "dnsServiceIp": "192.168.0.10"},
         "network.serviceCidr: '192.168.0.0/20' overlaps network.podCidr"),
        ({"serviceCidr": "172.30.0.0/16", "dnsServiceIp": "172.30.0.10"}, "overlaps 172.30.0.0/16 — AKS reserves that range"),
        ({"dnsServiceIp": "10.22.0.10"}, "network.dnsServiceIp: '10.22.0.10' — must lie inside network.serviceCidr"),
        ({"dnsServiceIp": "10.21.0.1"}, "must not be the first, second or last address"),
        ({"dnsServiceIp": "ten"}, "network.dnsServiceIp: 'ten' — must be an IPv4 address"),
        ({"podCidr": "fd00::/48"}, "network.podCidr: 'fd00::/48' — must be an IPv4 range"),
        ({"internalEndpoint": {"enabled": True, "readWriteIp": "10.20.16.5", "readOnlyIp": "10.20.15.251"}},
         "network.internalEndpoint.readWriteIp: '10.20.16.5' — must be a usable address of network.nodeSubnet"),
        ({"internalEndpoint": {"enabled": True, "readWriteIp": "10.20.0.3", "readOnlyIp": "10.20.15.251"}},
         "Azure keeps its first four and its last address"),
        ({"internalEndpoint": {"enabled": True, "readOnlyIp": "10.20.15.251"}},
         "network.internalEndpoint.readWriteIp: required setting is missing when enabled is true"),
        ({"internalEndpoint": {"enabled": True, "readWriteIp": "10.20.15.251", "readOnlyIp": "10.20.15.251"}},
         "must differ from readWriteIp"),
        ({"internalEndpoint": {**INTERNAL, "poolerReadWriteIp": "10.20.16.9"}},
         "network.internalEndpoint.poolerReadWriteIp: '10.20.16.9' — must be a usable address of network.nodeSubnet "
         "'10.20.0.0/20' (Azure keeps its first four and its last address)"),
        ({"internalEndpoint": {**INTERNAL, "poolerReadOnlyIp": "10.20.15.255"}},
         "network.internalEndpoint.poolerReadOnlyIp: '10.20.15.255' — must be a usable address of network.nodeSubnet"),
        ({"internalEndpoint": {**INTERNAL, "poolerReadWriteIp": "10.20.15.250"}},
         "network.internalEndpoint.poolerReadWriteIp: '10.20.15.250' — must differ from readWriteIp "
         "(each endpoint has its own address and DNS name)"),
        ({"internalEndpoint": {**INTERNAL, "poolerReadOnlyIp": "10.20.15.251"}},
         "network.internalEndpoint.poolerReadOnlyIp: '10.20.15.251' — must differ from readOnlyIp"),
        ({"internalEndpoint": {**INTERNAL, "poolerReadOnlyIp": "10.20.15.252"}},
         "network.internalEndpoint.poolerReadOnlyIp: '10.20.15.252' — must differ from poolerReadWriteIp"),
        ({"internalEndpoint": {"enabled": True, "readWriteIp": "10.20.15.250", "readOnlyIp": "10.20.15.251"}},
         "network.internalEndpoint.poolerReadWriteIp: required setting is missing when enabled is true and "
         "pooler.enabled is true"),
        ({"internalEndpoint": {**INTERNAL, "poolerReadOnlyIp": "pooler"}},
         "network.internalEndpoint.poolerReadOnlyIp: 'pooler' — must be an IPv4 address"),
        ({"clientCidrs": []}, "network.clientCidrs: [] — must list the client networks when internalEndpoint.enabled is true"),
        ({"clientCidrs": ["192.168.4.0/24"]}, "network.clientCidrs[0]: '192.168.4.0/24' overlaps network.podCidr"),
        ({"peerings": [{"remoteVnetId": VNET, "addressSpace": ["10.20.128.0/24"]}]},
         "network.peerings[0].addressSpace[0]: '10.20.128.0/24' overlaps network.addressSpace '10.20.0.0/16' — Azure refuses"),
        ({"peerings": [{"remoteVnetId": VNET, "addressSpace": ["10.21.4.0/24"]}]},
         "network.peerings[0].addressSpace[0]: '10.21.4.0/24' overlaps network.serviceCidr"),
        ({"peerings": [{"remoteVnetId": "vnet-spoke", "addressSpace": ["10.50.0.0/16"]}]},
         "network.peerings[0].remoteVnetId: 'vnet-spoke' — must be a virtual network resource ID"),
        ({"adopt": {"vnetId": VNET, "nodeSubnetId": f"{OTHER}/subnets/aks", "privateEndpointSubnetId": f"{VNET}/subnets/pe"}},
         "is not a subnet of vnetId"),
        ({"privateDnsZone": "Internal"}, "network.privateDnsZone: 'Internal' — must be a DNS zone name"),
        ({"serviceCidr": "100.64.0.0/10", "dnsServiceIp": "100.64.0.10"},
         "network.serviceCidr: '100.64.0.0/10' — AKS takes a Service range of /12 or narrower (1,048,576 addresses at most)"),
        ({"addressSpace": "172.30.0.0/16"},
         "network.addressSpace: '172.30.0.0/16' overlaps 172.30.0.0/16 — AKS reserves that range"),
        ({"privateEndpointSubnet": "192.0.2.0/24"},
         "network.privateEndpointSubnet: '192.0.2.0/24' overlaps 192.0.2.0/24 — AKS reserves that range"),
        ({"podCidr": "192.168.0.0/21"},
         "network.podCidr: '192.168.0.0/21' holds 8 /24 node ranges, but Azure CNI overlay gives every node one and the "
         "cluster can run 11 nodes (aks.systemPool.maxCount 3 + aks.postgresPool.maxCount 6 + 2 upgrade surge nodes)"),
        ({"nodeSubnet": "10.20.15.240/28"},
         "network.nodeSubnet: '10.20.15.240/28' has 11 usable addresses (Azure keeps 5), but needs 15: 11 nodes "
         "(aks.systemPool.maxCount 3 + aks.postgresPool.maxCount 6 + 2 upgrade surge nodes) and 4 internal endpoint addresses"),
        ({"privateDnsZone": "core.windows.net"}, "network.privateDnsZone: 'core.windows.net' — is a zone name Azure reserves"),
        ({"privateDnsZone": "privatelink.blob.core.windows.net"},
         "network.privateDnsZone: 'privatelink.blob.core.windows.net' — is the backup storage's private endpoint zone"),
        ({"peerings": [{"remoteVnetId": VNET, "addressSpace": ["10.50.0.0/16"]},
                       {"remoteVnetId": VNET.upper(), "addressSpace": ["10.50.0.0/16"]}]},
         "network.peerings[1].remoteVnetId: '" + VNET.upper() + "' — already peered by network.peerings[0]"),
        ({"adopt": {"vnetId": VNET, "nodeSubnetId": f"{VNET}/subnets/aks", "privateEndpointSubnetId": f"{VNET}/subnets/pe"},
          "peerings": [{"remoteVnetId": OTHER, "addressSpace": ["10.50.0.0/16"]}]},
         "network.peerings: peer the adopted virtual network where it is managed"),
        ({"blobPrivateDnsZoneId": HUB_BLOB_ZONE},
         f"network.blobPrivateDnsZoneId: {HUB_BLOB_ZONE!r}, but the program creates the virtual network and cannot link"),
    ],
)  # fmt: skip
def test_bad_network_settings_stop_before_any_resource(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(pulumi.RunError) as raised:
        run_stack("prod", {P + "network": _network(**changes)})
    assert expected in str(raised.value)
    assert "Traceback" not in str(raised.value)
    assert raised.value.registrations == []  # type: ignore[attr-defined]


def test_shipped_internal_endpoint_is_prods() -> None:
    assert _network()["internalEndpoint"] == INTERNAL


def test_pooler_addresses_are_optional_without_poolers() -> None:
    internal = {"enabled": True, "readWriteIp": "10.20.15.250", "readOnlyIp": "10.20.15.251"}
    run = run_stack("prod", {P + "network": _network(internalEndpoint=internal), P + "pooler": {"enabled": False}})
    # Registration order follows when each record's inputs resolve: compare the set.
    assert {r.inputs["relativeRecordSetName"] for r in run.of_type("azure-native:privatedns:PrivateRecordSet")} == {
        "pg-primary-rw",
        "pg-primary-ro",
    }


def test_shipped_network_ranges_are_valid(stack_runs: dict[str, StackRun]) -> None:
    for stack in ("dev", "prod"):
        assert stack_runs[stack].of_type("azure-native:containerservice:ManagedCluster")
