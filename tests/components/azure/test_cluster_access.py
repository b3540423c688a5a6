import pytest
import yaml

from offline.engine import CLIENT_OBJECT_ID, SUBSCRIPTION_ID, Registration, StackRun

PROVIDER = "pulumi:providers:kubernetes"
ROLE = "azure-native:authorization:RoleAssignment"
CLUSTER = "azure-native:containerservice:ManagedCluster"
STATIC_CREDENTIALS = ("client-key", "client-key-data", "client-certificate-data", "token", "tokenFile", "password", "username")
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693396e6cf5"
AKS_CLUSTER_USER = "4abbcc35-e782-43d8-92c5-2d3f1bd2253f"


def _provider_kubeconfig(run: StackRun) -> dict:
    return yaml.safe_load(run.one(PROVIDER).inputs["kubeconfig"])


def test_provider_signs_in_through_kubelogin_with_no_static_credential(shipped: StackRun) -> None:
    kubeconfig = _provider_kubeconfig(shipped)
    (user,) = kubeconfig["users"]
    assert set(user["user"]) == {"exec"}
    exec_config = user["user"]["exec"]
    assert exec_config["command"] == "kubelogin"
    assert exec_config["args"] == ["get-token", "--login", "azurecli", "--server-id", "6dae42f8-4368-4678-94ff-3960e28e3630"]
    # The mock's user credential carries a token user: none of it may survive.
    text = shipped.one(PROVIDER).inputs["kubeconfig"]
    assert not any(f"{field}:" in text for field in STATIC_CREDENTIALS)
    (cluster,) = kubeconfig["clusters"]
    assert cluster["cluster"]["server"].startswith("https://") and cluster["cluster"]["certificate-authority-data"]
    assert kubeconfig["contexts"][0]["context"] == {"cluster": cluster["name"], "user": user["name"]}


def test_provider_uses_the_user_credentials_never_the_admin_ones(shipped: StackRun) -> None:
    # Local accounts are disabled: admin credentials would fail, and they hold a certificate.
    assert "azure-native:containerservice:listManagedClusterUserCredentials" in shipped.invokes
    assert "azure-native:containerservice:listManagedClusterAdminCredentials" not in shipped.invokes


def test_kubeconfig_output_is_the_credential_free_user_kubeconfig(shipped: StackRun) -> None:
    assert "kubeconfig" not in shipped.secret_outputs
    exported = yaml.safe_load(shipped.outputs["kubeconfig"])
    assert exported == _provider_kubeconfig(shipped)
    for name, value in shipped.outputs.items():
        assert not any(f"{field}:" in str(value) for field in ("client-key-data", "token", "password")), name


def test_provider_input_stays_a_secret(shipped: StackRun) -> None:
    raw = shipped.one(PROVIDER).raw_inputs.fields["kubeconfig"].struct_value.fields
    assert raw["4dabf18193072939515e22adb298388d"].string_value == "1b47061264138c4ac30d75fd1eb44270"


def _grants(run: StackRun) -> dict[tuple[str, str], Registration]:
    return {
        (r.inputs["principalId"], r.inputs["roleDefinitionId"].rsplit("/", 1)[1]): r
        for r in run.of_type(ROLE)
        if r.name.startswith("cluster-access-")
    }


def test_deployer_and_admin_groups_hold_cluster_roles_and_the_provider_waits(prod: StackRun) -> None:
    grants = _grants(prod)
    admin_group = "00000000-0000-0000-0000-000000000000"
    assert set(grants) == {
        (principal, role) for principal in (CLIENT_OBJECT_ID, admin_group) for role in (AKS_RBAC_CLUSTER_ADMIN, AKS_CLUSTER_USER)
    }
    cluster = prod.one(CLUSTER)
    group = prod.one("azure-native:resources:ResourceGroup")
    provider = prod.one(PROVIDER)
    for (principal, _), grant in grants.items():
        if principal == CLIENT_OBJECT_ID:
            # The stack's own resource group (its only cluster is this one): created beside the cluster.
            assert grant.inputs["scope"] == f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{group.inputs['resourceGroupName']}"
            assert cluster.urn not in grant.dependencies and cluster.urn not in grant.property_dependencies["scope"]
            assert grant.urn in provider.dependencies
        else:
            assert cluster.urn in grant.property_dependencies["scope"]  # scoped to the cluster, nothing wider
            assert grant.inputs["scope"].endswith(f"/{cluster.inputs['resourceName']}")
            assert grant.urn not in provider.dependencies  # nothing the program deploys waits for the admins
        # The deployer's type (user or service principal) is unknown: Azure looks it up.
        assert grant.inputs.get("principalType") == (None if principal == CLIENT_OBJECT_ID else "Group")
    deployer = grants[(CLIENT_OBJECT_ID, AKS_RBAC_CLUSTER_ADMIN)]
    assert "principalType" not in deployer.inputs


@pytest.mark.parametrize("stack", ["dev"])
def test_without_admin_groups_only_the_deployer_is_granted(stack: str, stack_runs: dict[str, StackRun]) -> None:
    assert {principal for principal, _ in _grants(stack_runs[stack])} == {CLIENT_OBJECT_ID}


def test_every_kubernetes_resource_uses_that_provider(shipped: StackRun) -> None:
    provider = shipped.one(PROVIDER)
    for resource in shipped.registrations:
        if resource.type.startswith("kubernetes:"):
            assert resource.provider.startswith(provider.urn), resource.name
