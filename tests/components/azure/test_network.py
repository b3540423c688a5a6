"""Private networking: the nodes on the program's (or an adopted) virtual network, the database on an
internal load balancer named in a private DNS zone, backups through a blob private endpoint."""

from __future__ import annotations

import json

from offline.engine import StackRun, run_stack, stack_config

P = "aks-postgres-ha:"
HUB = "/subscriptions/00000000-0000-4000-8000-0000000000aa/resourceGroups/rg-hub"
VNET = f"{HUB}/providers/Microsoft.Network/virtualNetworks/vnet-spoke"
INTERNAL = "service.beta.kubernetes.io/azure-load-balancer-internal"


def _pools(run: StackRun) -> list[dict]:
    cluster = run.one("azure-native:containerservice:ManagedCluster").inputs
    return [*cluster["agentPoolProfiles"], *(pool.inputs for pool in run.of_type("azure-native:containerservice:AgentPool"))]


def _network(**changes: object) -> dict:
    return {**json.loads(json.dumps(stack_config("prod")[P + "network"])), **changes}


def test_prod_owns_a_vnet_and_every_pool_sits_on_its_node_subnet(prod: StackRun) -> None:
    vnet = prod.one("azure-native:network:VirtualNetwork")
    assert vnet.inputs["addressSpace"] == {"addressPrefixes": ["10.20.0.0/16"]}
    subnets = {subnet["name"]: subnet["addressPrefix"] for subnet in vnet.inputs["subnets"]}
    assert subnets == {"snet-nodes": "10.20.0.0/20", "snet-private-endpoints": "10.20.16.0/24"}
    pools = _pools(prod)
    assert len(pools) == 2
    assert {pool["vnetSubnetID"] for pool in pools} == {f"{prod.outputs['vnetId']}/subnets/snet-nodes"}
    profile = prod.one("azure-native:containerservice:ManagedCluster").inputs["networkProfile"]
    assert (profile["networkPlugin"], profile["networkPluginMode"], profile["networkDataplane"]) == ("azure", "overlay", "cilium")
    assert (profile["podCidr"], profile["serviceCidr"], profile["dnsServiceIP"]) == (
        "192.168.0.0/16",
        "10.21.0.0/16",
        "10.21.0.10",
    )
    # Both pools are inline (components/azure/aks_cluster.py): the subnet reaches the cluster through them.
    assert not prod.of_type("azure-native:containerservice:AgentPool")
    assert vnet.urn in prod.one("azure-native:containerservice:ManagedCluster").property_dependencies["agentPoolProfiles"]


def test_prod_reaches_backups_through_a_blob_private_endpoint(prod: StackRun) -> None:
    account = prod.one("azure-native:storage:StorageAccount")
    assert account.inputs["publicNetworkAccess"] == "Disabled"
    endpoint = prod.one("azure-native:network:PrivateEndpoint").inputs
    vnet_id = prod.outputs["vnetId"]
    assert endpoint["subnet"]["id"] == f"{vnet_id}/subnets/snet-private-endpoints"
    [connection] = endpoint["privateLinkServiceConnections"]
    assert connection["privateLinkServiceId"] and connection["groupIds"] == ["blob"]
    endpoint_sources = prod.one("azure-native:network:PrivateEndpoint").property_dependencies["privateLinkServiceConnections"]
    assert account.urn in endpoint_sources
    zone = prod.one("azure-native:privatedns:PrivateZone", "backup-private-endpoint-zone")
    assert (zone.inputs["privateZoneName"], zone.inputs["location"]) == ("privatelink.blob.core.windows.net", "global")
    link = prod.one("azure-native:privatedns:VirtualNetworkLink", "backup-private-endpoint-cluster-vnet").inputs
    assert link["virtualNetwork"] == {"id": vnet_id} and link["registrationEnabled"] is False
    group = prod.one("azure-native:network:PrivateDnsZoneGroup")
    [config] = group.inputs["privateDnsZoneConfigs"]
    assert config["name"] == "blob" and config["privateDnsZoneId"]
    assert zone.urn in group.property_dependencies["privateDnsZoneConfigs"]


def test_prod_serves_the_database_on_an_internal_load_balancer_with_private_names(prod: StackRun) -> None:
    spec = prod.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "database-cluster").inputs["spec"]
    services = {entry["serviceTemplate"]["metadata"]["name"]: entry for entry in spec["managed"]["services"]["additional"]}
    assert not prod.of_type("azure-native:network:PublicIPAddress")
    for role, address in (("rw", "10.20.15.250"), ("ro", "10.20.15.251")):
        entry = services[f"pg-primary-internal-{role}"]
        annotations = entry["serviceTemplate"]["metadata"]["annotations"]
        assert entry["selectorType"] == role
        assert annotations == {
            INTERNAL: "true",
            "service.beta.kubernetes.io/azure-load-balancer-ipv4": address,
            "service.beta.kubernetes.io/azure-load-balancer-internal-subnet": "snet-nodes",
        }
        assert entry["serviceTemplate"]["spec"]["loadBalancerSourceRanges"] == ["192.0.2.0/24"]
        record = prod.one("azure-native:privatedns:PrivateRecordSet", f"database-dns-pg-primary-{role}").inputs
        assert (record["recordType"], record["relativeRecordSetName"], record["aRecords"]) == (
            "A",
            f"pg-primary-{role}",
            [{"ipv4Address": address}],
        )
    assert prod.outputs["readWriteHost"] == "pg-primary-rw.cnpg.internal"
    assert prod.outputs["readWritePort"] == 5432
    assert "pg-primary-ro.cnpg.internal" in spec["certificates"]["serverAltDNSNames"]
    zone = prod.one("azure-native:privatedns:PrivateZone", "database-dns-zone").inputs
    assert zone["privateZoneName"] == "cnpg.internal"
    clients = prod.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "network-policies-allow-public-clients").inputs
    assert [peer["ipBlock"]["cidr"] for peer in clients["spec"]["ingress"][0]["from"]] == ["192.0.2.0/24"]


def test_dev_keeps_the_public_shape_on_its_own_vnet(dev: StackRun) -> None:
    assert dev.one("azure-native:storage:StorageAccount").inputs["publicNetworkAccess"] == "Enabled"
    assert not dev.of_type("azure-native:network:PrivateEndpoint")
    assert not dev.of_type("azure-native:privatedns:PrivateZone")
    assert dev.of_type("azure-native:network:PublicIPAddress")
    assert {pool["vnetSubnetID"] for pool in _pools(dev)} == {dev.outputs["vnetId"] + "/subnets/snet-nodes"}


def test_an_adopted_vnet_is_used_as_given_with_the_control_plane_granted_on_it() -> None:
    adopt = {"vnetId": VNET, "nodeSubnetId": f"{VNET}/subnets/aks", "privateEndpointSubnetId": f"{VNET}/subnets/pe"}
    run = run_stack("prod", {P + "network": _network(adopt=adopt)})
    assert not run.of_type("azure-native:network:VirtualNetwork")
    assert {pool["vnetSubnetID"] for pool in _pools(run)} == {f"{VNET}/subnets/aks"}
    assert run.one("azure-native:network:PrivateEndpoint").inputs["subnet"]["id"] == f"{VNET}/subnets/pe"
    role = run.one("azure-native:authorization:RoleAssignment", "network-control-plane-network").inputs
    assert role["scope"] == VNET and role["roleDefinitionId"].endswith("4d97b98b-1d4f-4787-a291-c67834d212e7")
    cluster = run.one("azure-native:containerservice:ManagedCluster")
    assert run.one("azure-native:authorization:RoleAssignment", "network-control-plane-network").urn in cluster.dependencies
    spec = run.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "database-cluster").inputs["spec"]
    subnets = {
        entry["serviceTemplate"]["metadata"]["annotations"].get("service.beta.kubernetes.io/azure-load-balancer-internal-subnet")
        for entry in spec["managed"]["services"]["additional"]
    }
    assert subnets == {"aks"}


def test_peered_networks_are_peered_and_resolve_the_database_names() -> None:
    peer = {"remoteVnetId": VNET, "addressSpace": ["10.50.0.0/16"]}
    run = run_stack("prod", {P + "network": _network(peerings=[peer], clientCidrs=["10.50.0.0/16"])})
    [peering] = run.one("azure-native:network:VirtualNetwork").inputs["virtualNetworkPeerings"]
    assert peering == {"name": "peer-vnet-spoke", "remoteVirtualNetwork": {"id": VNET}, "allowVirtualNetworkAccess": True,
                       "allowForwardedTraffic": False}  # fmt: skip
    link = run.one("azure-native:privatedns:VirtualNetworkLink", "database-dns-peer-vnet-spoke").inputs
    assert link["virtualNetwork"] == {"id": VNET}


def test_public_endpoints_are_one_setting_away_beside_the_internal_ones() -> None:
    run = run_stack("prod", {P + "publicEndpoint": {**stack_config("prod")[P + "publicEndpoint"], "enabled": True}})
    spec = run.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "database-cluster").inputs["spec"]
    names = [entry["serviceTemplate"]["metadata"]["name"] for entry in spec["managed"]["services"]["additional"]]
    assert names == ["pg-primary-public-rw", "pg-primary-public-ro", "pg-primary-internal-rw", "pg-primary-internal-ro"]
    assert spec["managed"]["services"]["additional"][0]["serviceTemplate"]["spec"]["loadBalancerSourceRanges"] == [
        "203.0.113.0/24"
    ]


def test_remote_networks_of_one_name_get_distinct_peerings_and_links_and_the_first_keeps_its_name() -> None:
    # Same name in another resource group: the name the first always had stays (no re-peering, no link replaced).
    twin = VNET.replace("rg-hub", "rg-other")
    peerings = [
        {"remoteVnetId": VNET, "addressSpace": ["10.50.0.0/16"]},
        {"remoteVnetId": twin, "addressSpace": ["10.51.0.0/16"]},
    ]
    run = run_stack("prod", {P + "network": _network(peerings=peerings, clientCidrs=["10.50.0.0/16"])})
    names = {
        p["remoteVirtualNetwork"]["id"]: p["name"]
        for p in run.one("azure-native:network:VirtualNetwork").inputs["virtualNetworkPeerings"]
    }
    assert names[VNET] == "peer-vnet-spoke"
    assert names[twin].startswith("peer-vnet-spoke-") and len(names[twin]) == len("peer-vnet-spoke-") + 8
    links = {
        r.inputs["virtualNetworkLinkName"]: r.inputs["virtualNetwork"]["id"]
        for r in run.of_type("azure-native:privatedns:VirtualNetworkLink")
    }
    assert {name: links[name] for name in names.values()} == {name: vnet for vnet, name in names.items()}
