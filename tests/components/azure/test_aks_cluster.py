from typing import Any

import pytest
from pulumi import RunError

from offline.engine import TENANT_ID, StackRun, run_stack, stack_config

CLUSTER = "azure-native:containerservice:ManagedCluster"
MAINTENANCE = "azure-native:containerservice:MaintenanceConfiguration"
POOL = "azure-native:containerservice:AgentPool"
P = "aks-postgres-ha:"


def test_cluster_networking_identity_and_security(prod: StackRun) -> None:
    cluster = prod.one(CLUSTER).inputs
    assert cluster["kubernetesVersion"] == "1.35"
    assert cluster["sku"] == {"name": "Base", "tier": "Standard"}
    network = cluster["networkProfile"]
    assert (network["networkPlugin"], network["networkPluginMode"], network["networkDataplane"]) == ("azure", "overlay", "cilium")
    assert cluster["oidcIssuerProfile"] == {"enabled": True}
    assert cluster["securityProfile"]["workloadIdentity"] == {"enabled": True}
    assert cluster["apiServerAccessProfile"]["authorizedIPRanges"] == ["203.0.113.0/24", "198.51.100.0/24"]
    assert cluster["nodeResourceGroup"].startswith("rg-cnpg-primary-aksmanaged-")
    assert cluster["identity"]["type"] == "UserAssigned"


def _profiles(run: StackRun) -> dict[str, dict[str, Any]]:
    return {profile["name"]: profile for profile in run.one(CLUSTER).inputs["agentPoolProfiles"]}


def test_system_pool_spans_three_zones_and_autoscales(prod: StackRun) -> None:
    system = prod.one(CLUSTER).inputs["agentPoolProfiles"][0]
    assert system["name"] == "systempool"
    assert system["mode"] == "System"
    assert system["availabilityZones"] == ["1", "2", "3"]
    assert system["vmSize"] == "Standard_D4s_v5"
    # Application pods stay off; the operators tolerate the taint (SYSTEM_POOL_TOLERATIONS).
    assert system["nodeTaints"] == ["CriticalAddonsOnly=true:NoSchedule"]
    assert (system["enableAutoScaling"], system["minCount"], system["maxCount"]) == (True, 2, 3)
    assert system["orchestratorVersion"] == "1.35"
    assert "agentPoolProfiles[0].count" in prod.one(CLUSTER).ignore_changes


def test_postgres_pool_is_inline_labelled_tainted_and_zonal(prod: StackRun) -> None:
    # Created with the cluster: whatever waits for the cluster (the Kubernetes provider, so the
    # database) waits for the PostgreSQL nodes; no separate AgentPool beside the inline pools (#4264).
    assert not prod.of_type(POOL)
    cluster = prod.one(CLUSTER)
    system, postgres = cluster.inputs["agentPoolProfiles"]
    assert system["name"] == "systempool"
    assert postgres["name"] == "postgres" and postgres["mode"] == "User"
    assert postgres["vmSize"] == "Standard_D4s_v3"
    assert (postgres["osType"], postgres["osSKU"]) == ("Linux", "AzureLinux")
    assert postgres["availabilityZones"] == ["1", "2", "3"]
    assert (postgres["enableAutoScaling"], postgres["minCount"], postgres["maxCount"], postgres["count"]) == (True, 3, 6, 3)
    assert postgres["orchestratorVersion"] == "1.35"
    assert postgres["vnetSubnetID"] == system["vnetSubnetID"]
    assert postgres["nodeLabels"] == {"workload": "postgres"}
    assert postgres["nodeTaints"] == ["workload=postgres:NoSchedule"]
    # One node at a time, surged before the old one drains.
    assert postgres["upgradeSettings"] == {"maxSurge": "1", "maxUnavailable": "0", "drainTimeoutInMinutes": 60}
    assert "agentPoolProfiles[1].count" in cluster.ignore_changes


def test_the_database_waits_for_the_cluster_that_carries_its_pool(prod: StackRun) -> None:
    # Database -> Kubernetes provider -> the cluster (created with both pools) and the deployer's
    # role assignments, which sit on the resource group and are created beside the cluster.
    provider = prod.one("pulumi:providers:kubernetes")
    cluster = prod.one(CLUSTER).urn
    assert cluster in provider.dependencies
    grants = [prod.by_urn(urn) for urn in provider.dependencies if "RoleAssignment" in urn]
    assert grants and all(cluster not in grant.dependencies for grant in grants)
    database = prod.one("kubernetes:postgresql.cnpg.io/v1:Cluster", "database-cluster")
    assert database.provider.startswith(f"{provider.urn}::")


def test_pool_without_taint_when_not_dedicated() -> None:
    from tests.test_settings import _nested

    run = run_stack("dev", {"aks-postgres-ha:aks": _nested("dev", "aks", "postgresPool", dedicated=False)})
    assert _profiles(run)["postgres"]["nodeTaints"] == []
    assert _profiles(run)["postgres"]["nodeLabels"] == {"workload": "postgres"}
    cluster = run.one("kubernetes:postgresql.cnpg.io/v1:Cluster").inputs["spec"]
    assert "tolerations" not in cluster["affinity"]


def test_managed_prometheus_and_container_insights_follow_the_switch(prod: StackRun) -> None:
    cluster = prod.one(CLUSTER).inputs
    assert cluster["azureMonitorProfile"]["metrics"]["enabled"] is True
    addon = cluster["addonProfiles"]["omsagent"]
    assert addon["enabled"] is True and addon["config"]["useAADAuth"] == "true"
    workspace = prod.one("azure-native:operationalinsights:Workspace")
    assert workspace.urn in prod.one(CLUSTER).dependencies


@pytest.mark.parametrize("stack", ["dev"])
def test_cluster_without_azure_monitoring(stack: str) -> None:
    from tests.test_settings import _section

    run = run_stack(stack, {"aks-postgres-ha:observability": _section(stack, "observability", azureMonitoring=False)})
    cluster = run.one(CLUSTER).inputs
    assert cluster["azureMonitorProfile"]["metrics"]["enabled"] is False
    assert "addonProfiles" not in cluster
    assert not run.of_type("azure-native:monitor:AzureMonitorWorkspace")
    assert not run.of_type("kubernetes:azmonitoring.coreos.com/v1:PodMonitor")


def test_the_control_plane_holds_its_network_role_before_the_cluster(prod: StackRun) -> None:
    role = prod.one("azure-native:authorization:RoleAssignment", "identities-control-plane-network")
    assert role.urn in prod.one(CLUSTER).dependencies


def test_entra_id_with_azure_rbac_and_no_local_accounts(shipped: StackRun) -> None:
    cluster = shipped.one(CLUSTER).inputs
    assert cluster["disableLocalAccounts"] is True
    profile = cluster["aadProfile"]
    assert (profile["managed"], profile["enableAzureRBAC"]) == (True, True)
    assert profile["tenantID"] == TENANT_ID
    expected_admins = {"dev": None, "prod": ["00000000-0000-0000-0000-000000000000"]}[shipped.stack]
    assert profile.get("adminGroupObjectIDs") == expected_admins


def test_maintenance_windows_from_settings(prod: StackRun) -> None:
    cluster = prod.one(CLUSTER)
    windows = {r.inputs["configName"]: r for r in prod.of_type(MAINTENANCE)}
    assert set(windows) == {"aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule"}
    assert windows["aksManagedAutoUpgradeSchedule"].inputs["maintenanceWindow"] == {
        "schedule": {"weekly": {"dayOfWeek": "Sunday", "intervalWeeks": 1}},
        "startTime": "02:00",
        "durationHours": 4,
        "utcOffset": "+01:00",
    }
    assert windows["aksManagedNodeOSUpgradeSchedule"].inputs["maintenanceWindow"]["schedule"]["weekly"]["dayOfWeek"] == "Saturday"
    for window in windows.values():
        assert cluster.urn in window.property_dependencies["resourceName"]


def test_maintenance_window_overrides_reach_the_resource() -> None:
    from tests.test_settings import _nested

    window = {"dayOfWeek": "Wednesday", "startTime": "23:30", "durationHours": 6, "utcOffset": "-05:00", "intervalWeeks": 2}
    run = run_stack("dev", {"aks-postgres-ha:aks": _nested("dev", "aks", "maintenance", nodeOsUpgrade=window)})
    (node_os,) = [r for r in run.of_type(MAINTENANCE) if r.inputs["configName"] == "aksManagedNodeOSUpgradeSchedule"]
    assert node_os.inputs["maintenanceWindow"] == {
        "schedule": {"weekly": {"dayOfWeek": "Wednesday", "intervalWeeks": 2}},
        "startTime": "23:30",
        "durationHours": 6,
        "utcOffset": "-05:00",
    }


def test_cluster_is_protected_only_where_stateful_resources_are(shipped: StackRun) -> None:
    assert shipped.one(CLUSTER).protect is (shipped.stack == "prod")


LIVE_VM_SIZES = {"nodePoolVmSizes": {"systemPool": "Standard_D4s_v5", "postgresPool": "Standard_D4s_v3"}}


def test_the_pools_vm_sizes_are_exported_for_the_next_deployment(shipped: StackRun) -> None:
    system, postgres = shipped.one(CLUSTER).inputs["agentPoolProfiles"]
    assert shipped.outputs["nodePoolVmSizes"] == {"systemPool": system["vmSize"], "postgresPool": postgres["vmSize"]}


def test_a_vm_size_change_on_a_live_stack_is_refused_before_the_cluster() -> None:
    aks = {**stack_config("prod")[P + "aks"]}
    aks["postgresPool"] = {**aks["postgresPool"], "vmSize": "Standard_D8s_v3"}
    with pytest.raises(RunError) as raised:
        run_stack("prod", {P + "aks": aks}, deployed_outputs=LIVE_VM_SIZES)
    assert (
        "aks.postgresPool.vmSize: 'Standard_D8s_v3', but this stack's pool runs 'Standard_D4s_v3'; AKS changes a pool's "
        "VM size in place only through a preview API version" in str(raised.value)
    )
    registered = [r.type for r in raised.value.registrations]  # type: ignore[attr-defined]
    assert "azure-native:containerservice:ManagedCluster" not in registered


def test_unchanged_sizes_and_a_first_deployment_pass() -> None:
    # Azure VM size names are case-insensitive.
    lower_case = {"nodePoolVmSizes": {"systemPool": "standard_d4s_v5", "postgresPool": "standard_d4s_v3"}}
    for deployed in ({}, LIVE_VM_SIZES, lower_case):
        run = run_stack("prod", deployed_outputs=deployed)
        pools = run.one("azure-native:containerservice:ManagedCluster").inputs["agentPoolProfiles"]
        assert [pool["vmSize"] for pool in pools] == ["Standard_D4s_v5", "Standard_D4s_v3"]
