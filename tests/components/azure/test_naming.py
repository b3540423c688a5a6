from offline.engine import StackRun
from tests.components.helpers import children


def test_random_suffix_and_resource_group(prod: StackRun) -> None:
    suffix = prod.one("random:index/randomString:RandomString", "naming-suffix")
    assert suffix.inputs["length"] == 8
    assert suffix.inputs["upper"] is False and suffix.inputs["special"] is False
    group = prod.one("azure-native:resources:ResourceGroup")
    assert group.inputs["location"] == "swedencentral"
    assert group.inputs["resourceGroupName"].startswith("rg-cnpg-")
    assert group.inputs["tags"]["environment"] == "prod"
    assert {r.type for r in children(prod, "naming")} == {
        "random:index/randomString:RandomString",
        "azure-native:resources:ResourceGroup",
    }


def test_global_names_follow_azure_rules(shipped: StackRun) -> None:
    account = shipped.one("azure-native:storage:StorageAccount").inputs["accountName"]
    assert account.isalnum() and account.islower() and 3 <= len(account) <= 24
    cluster = shipped.one("azure-native:containerservice:ManagedCluster").inputs
    assert len(cluster["nodeResourceGroup"]) <= 80
    assert cluster["resourceName"].startswith("aks-primary-")
