from offline.engine import StackRun


def _services(run: StackRun) -> dict[str, dict]:
    spec = run.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "database-cluster").inputs["spec"]
    return {entry["selectorType"]: entry for entry in spec["managed"]["services"]["additional"]}


def test_operator_managed_load_balancers_on_the_static_ip(prod: StackRun) -> None:
    services = _services(prod)
    assert set(services) == {"rw", "ro"}
    address = prod.one("azure-native:network:PublicIPAddress").inputs
    for role, port in (("rw", 5432), ("ro", 5433)):
        template = services[role]["serviceTemplate"]
        annotations = template["metadata"]["annotations"]
        assert annotations["service.beta.kubernetes.io/azure-pip-name"] == address["publicIpAddressName"]
        assert annotations["service.beta.kubernetes.io/azure-load-balancer-resource-group"] == address["resourceGroupName"]
        assert annotations["service.beta.kubernetes.io/azure-dns-label-name"] == address["dnsSettings"]["domainNameLabel"]
        assert template["spec"]["type"] == "LoadBalancer"
        assert template["spec"]["loadBalancerSourceRanges"] == ["203.0.113.0/24"]
        assert template["spec"]["ports"] == [{"name": "postgres", "port": port, "targetPort": 5432, "protocol": "TCP"}]
        assert "selector" not in template["spec"]


def test_stack_outputs_describe_both_endpoints(prod: StackRun) -> None:
    fqdn = prod.outputs["publicFqdn"]
    assert (prod.outputs["readWriteHost"], prod.outputs["readWritePort"]) == (fqdn, 5432)
    assert (prod.outputs["readOnlyHost"], prod.outputs["readOnlyPort"]) == (fqdn, 5433)
    assert prod.outputs["cnpgServices"]["readWrite"] == "pg-primary-rw"
    assert prod.outputs["cnpgServices"]["readOnly"] == "pg-primary-ro"
    assert (prod.outputs["databaseName"], prod.outputs["databaseUser"]) == ("appdb", "app")
    assert "pg-primary-ca" in prod.outputs["caCertificateCommand"]


def test_connection_uris_are_secret_and_verify_the_server(prod: StackRun) -> None:
    for name, port in (("readWriteUri", 5432), ("readOnlyUri", 5433)):
        assert name in prod.secret_outputs
        uri = prod.outputs[name]
        assert uri.startswith("postgresql://app:") and uri.endswith(f":{port}/appdb?sslmode=verify-full")
