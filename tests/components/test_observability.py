from offline.engine import StackRun
from tests.components.helpers import children

MONITORING_DATA_READER = "b0d8363b-8ddd-447d-831f-62ca05bff136"


def test_workspaces_grafana_and_collection_rules(prod: StackRun) -> None:
    kinds = sorted(r.type.split(":")[-1] for r in children(prod, "observability"))
    assert kinds == sorted(
        [
            "AzureMonitorWorkspace",
            "Workspace",
            "DataCollectionEndpoint",
            "DataCollectionRule",
            "DataCollectionRule",
            "Grafana",
            "RoleAssignment",
            "DataCollectionRuleAssociation",
            "DataCollectionRuleAssociation",
            "DataCollectionRuleAssociation",
        ]
    )
    grafana = prod.one("azure-native:dashboard:Grafana").inputs
    assert grafana["sku"]["name"] == "Standard"
    assert grafana["identity"]["type"] == "SystemAssigned"
    workspace = prod.one("azure-native:monitor:AzureMonitorWorkspace")
    integrations = grafana["properties"]["grafanaIntegrations"]["azureMonitorWorkspaceIntegrations"]
    assert integrations == [
        {"azureMonitorWorkspaceResourceId": workspace.inputs and integrations[0]["azureMonitorWorkspaceResourceId"]}
    ]
    assert prod.outputs["grafanaEndpoint"].startswith("https://")
    assert prod.one("azure-native:operationalinsights:Workspace").inputs["retentionInDays"] == 90


def test_roles_are_scoped_to_the_workspace_never_the_subscription(shipped: StackRun) -> None:
    for role in shipped.of_type("azure-native:authorization:RoleAssignment"):
        scope = role.inputs["scope"]
        assert "/resourceGroups/" in scope, (role.name, scope)
    if shipped.stack == "prod":
        reader = shipped.one("azure-native:authorization:RoleAssignment", "observability-grafana-reads-prometheus")
        assert reader.inputs["roleDefinitionId"].endswith(MONITORING_DATA_READER)
        assert shipped.one("azure-native:monitor:AzureMonitorWorkspace").urn in reader.property_dependencies["scope"]


def test_prometheus_rule_routes_metrics_to_the_workspace_and_is_attached(prod: StackRun) -> None:
    rule = prod.one("azure-native:monitor:DataCollectionRule", "observability-prometheus-rule")
    assert rule.inputs["dataFlows"] == [{"streams": ["Microsoft-PrometheusMetrics"], "destinations": ["prometheus"]}]
    links = {r.inputs["associationName"]: r for r in prod.of_type("azure-native:monitor:DataCollectionRuleAssociation")}
    assert set(links) == {"configurationAccessEndpoint", "ContainerInsightsMetricsExtension", "ContainerInsightsExtension"}
    aks = prod.one("azure-native:containerservice:ManagedCluster")
    assert all(aks.urn in link.property_dependencies["resourceUri"] for link in links.values())


def test_dev_has_no_managed_grafana(dev: StackRun) -> None:
    assert not dev.of_type("azure-native:dashboard:Grafana")
    assert "grafanaEndpoint" not in dev.outputs
