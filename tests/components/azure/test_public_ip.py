from offline.engine import StackRun, run_stack
from tests.components.helpers import pooler_certificate_names, prod_with_public_endpoint
from tests.test_settings import _section


def test_static_zone_redundant_ip_with_its_own_dns_label(prod: StackRun) -> None:
    # prod ships private: no public IP and no public outputs until its public endpoint is switched on.
    assert not prod.of_type("azure-native:network:PublicIPAddress")
    assert "publicFqdn" not in prod.outputs and "publicIpAddress" not in prod.outputs
    prod = prod_with_public_endpoint()
    address = prod.one("azure-native:network:PublicIPAddress")
    spec = address.inputs
    assert spec["sku"] == {"name": "Standard", "tier": "Regional"}
    assert spec["publicIPAllocationMethod"] == "Static"
    assert spec["zones"] == ["1", "2", "3"]
    label = spec["dnsSettings"]["domainNameLabel"]
    assert label.startswith("pg-cnpg-")
    group = prod.one("azure-native:resources:ResourceGroup")
    assert spec["resourceGroupName"] == group.inputs["resourceGroupName"]
    assert prod.outputs["publicFqdn"] == f"{label}.swedencentral.cloudapp.azure.com"
    assert prod.outputs["publicIpAddress"]


def test_internal_only_stack_has_no_public_ip_or_load_balancers() -> None:
    run = run_stack(
        "dev", {"aks-postgres-ha:publicEndpoint": _section("dev", "publicEndpoint", enabled=False, allowedClientCidrs=[])}
    )
    assert not run.of_type("azure-native:network:PublicIPAddress")
    spec = run.one("kubernetes:postgresql.cnpg.io/v1:Cluster").inputs["spec"]
    assert "managed" not in spec
    # No public (or private) name in the server certificate: only the poolers' in-cluster names.
    assert spec["certificates"]["serverAltDNSNames"] == pooler_certificate_names()
    assert run.outputs["readWriteHost"] == "pg-primary-rw.cnpg-database.svc.cluster.local"
    assert run.outputs["readOnlyPort"] == 5432
    assert "publicFqdn" not in run.outputs
