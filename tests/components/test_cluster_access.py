from offline.engine import StackRun


def test_provider_uses_the_cluster_credentials_and_keeps_them_secret(shipped: StackRun) -> None:
    provider = shipped.one("pulumi:providers:kubernetes")
    assert shipped.one("azure-native:containerservice:ManagedCluster").urn in provider.dependencies
    # The kubeconfig input is sent as a secret, and exported only as a secret.
    raw = provider.raw_inputs.fields["kubeconfig"].struct_value.fields
    assert raw["4dabf18193072939515e22adb298388d"].string_value == "1b47061264138c4ac30d75fd1eb44270"
    assert "kubeconfig" in shipped.secret_outputs
    assert shipped.outputs["kubeconfig"].startswith("apiVersion: v1")


def test_every_kubernetes_resource_uses_that_provider(shipped: StackRun) -> None:
    provider = shipped.one("pulumi:providers:kubernetes")
    for resource in shipped.registrations:
        if resource.type.startswith("kubernetes:"):
            assert resource.provider.startswith(provider.urn), resource.name
