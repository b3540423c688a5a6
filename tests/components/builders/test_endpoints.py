from offline.engine import StackRun
from tests.components.helpers import prod_with_public_endpoint


def _services(run: StackRun) -> dict[str, dict]:
    """The operator-managed services, by name (each role has a public and/or an internal one)."""
    spec = run.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "database-cluster").inputs["spec"]
    return {entry["serviceTemplate"]["metadata"]["name"]: entry for entry in spec["managed"]["services"]["additional"]}


def _assert_public_load_balancers_on_the_static_ip(run: StackRun) -> None:
    services = _services(run)
    address = run.one("azure-native:network:PublicIPAddress").inputs
    for role, port in (("rw", 5432), ("ro", 5433)):
        service = services[f"pg-primary-public-{role}"]
        assert service["selectorType"] == role
        template = service["serviceTemplate"]
        annotations = template["metadata"]["annotations"]
        assert annotations["service.beta.kubernetes.io/azure-pip-name"] == address["publicIpAddressName"]
        assert annotations["service.beta.kubernetes.io/azure-load-balancer-resource-group"] == address["resourceGroupName"]
        assert annotations["service.beta.kubernetes.io/azure-dns-label-name"] == address["dnsSettings"]["domainNameLabel"]
        assert "service.beta.kubernetes.io/azure-load-balancer-internal" not in annotations
        assert template["spec"]["type"] == "LoadBalancer"
        assert template["spec"]["loadBalancerSourceRanges"] == ["203.0.113.0/24"]
        assert template["spec"]["ports"] == [{"name": "postgres", "port": port, "targetPort": 5432, "protocol": "TCP"}]
        assert "selector" not in template["spec"]


def test_operator_managed_load_balancers_on_the_static_ip(dev: StackRun, prod: StackRun) -> None:
    # dev: the public endpoint only.
    assert set(_services(dev)) == {"pg-primary-public-rw", "pg-primary-public-ro"}
    _assert_public_load_balancers_on_the_static_ip(dev)
    # prod ships private: internal load balancers only (their annotations: test_network.py).
    assert set(_services(prod)) == {"pg-primary-internal-rw", "pg-primary-internal-ro"}
    # prod with its public endpoint on: the public ones beside the internal ones, on its static IP.
    prod_public = prod_with_public_endpoint()
    assert set(_services(prod_public)) == {
        "pg-primary-public-rw",
        "pg-primary-public-ro",
        "pg-primary-internal-rw",
        "pg-primary-internal-ro",
    }
    _assert_public_load_balancers_on_the_static_ip(prod_public)
    for role in ("rw", "ro"):
        internal = _services(prod_public)[f"pg-primary-internal-{role}"]["serviceTemplate"]
        assert "service.beta.kubernetes.io/azure-pip-name" not in internal["metadata"]["annotations"]
        assert internal["spec"]["loadBalancerSourceRanges"] == ["192.0.2.0/24"]


def _assert_common_outputs(run: StackRun) -> None:
    assert run.outputs["cnpgServices"]["readWrite"] == "pg-primary-rw"
    assert run.outputs["cnpgServices"]["readOnly"] == "pg-primary-ro"
    assert (run.outputs["databaseName"], run.outputs["databaseUser"]) == ("appdb", "app")
    assert "pg-primary-ca" in run.outputs["caCertificateCommand"]


def test_stack_outputs_describe_both_endpoints(dev: StackRun, prod: StackRun) -> None:
    # Public endpoint (dev): both roles on the public name, on their own ports.
    fqdn = dev.outputs["publicFqdn"]
    assert (dev.outputs["readWriteHost"], dev.outputs["readWritePort"]) == (fqdn, 5432)
    assert (dev.outputs["readOnlyHost"], dev.outputs["readOnlyPort"]) == (fqdn, 5433)
    assert dev.outputs["cnpgServices"]["publicReadWrite"] == "pg-primary-public-rw"
    assert dev.outputs["cnpgServices"]["publicReadOnly"] == "pg-primary-public-ro"
    _assert_common_outputs(dev)
    # Internal endpoint (prod): each role on its name in the private DNS zone, on 5432.
    assert (prod.outputs["readWriteHost"], prod.outputs["readWritePort"]) == ("pg-primary-rw.cnpg.internal", 5432)
    assert (prod.outputs["readOnlyHost"], prod.outputs["readOnlyPort"]) == ("pg-primary-ro.cnpg.internal", 5432)
    assert prod.outputs["cnpgServices"]["internalReadWrite"] == "pg-primary-internal-rw"
    assert prod.outputs["cnpgServices"]["internalReadOnly"] == "pg-primary-internal-ro"
    assert "publicReadWrite" not in prod.outputs["cnpgServices"]
    _assert_common_outputs(prod)


def test_connection_uris_are_secret_and_verify_the_server(dev: StackRun, prod: StackRun) -> None:
    fqdn = dev.outputs["publicFqdn"]
    for run, endpoints in (
        (dev, (("readWriteUri", fqdn, 5432), ("readOnlyUri", fqdn, 5433))),
        (prod, (("readWriteUri", "pg-primary-rw.cnpg.internal", 5432), ("readOnlyUri", "pg-primary-ro.cnpg.internal", 5432))),
    ):
        for name, host, port in endpoints:
            assert name in run.secret_outputs
            uri = run.outputs[name]
            assert uri.startswith("postgresql://app:") and uri.endswith(f"@{host}:{port}/appdb?sslmode=verify-full"), run.stack
