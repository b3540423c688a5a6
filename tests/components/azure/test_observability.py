import json
from typing import Any

import pytest
from google.protobuf import json_format
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

from components.azure.observability import RECORDING_RULES_FILE, RULES_PER_GROUP, iso_duration
from offline.engine import StackRun, run_stack, stack_config
from tests.components.helpers import children

P = "aks-postgres-ha:"
RULE_GROUP = "azure-native:alertsmanagement:PrometheusRuleGroup"
ACTION_GROUP = "azure-native:monitor:ActionGroup"
GRAFANA_ADMIN = "22438ac2-7b46-4c8c-86b3-5aa4b1b9e7c1"

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
            "RoleAssignment",
            "ActionGroup",
            # Three recording groups, and the alerts in two (Azure holds 20 rules a group).
            *["PrometheusRuleGroup"] * 5,
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


def _observability(stack: str, **changes: Any) -> dict[str, Any]:
    return {**stack_config(stack)[P + "observability"], **changes}


def test_grafana_admins_carry_their_principal_type() -> None:
    admins = [
        {"objectId": GRAFANA_ADMIN, "principalType": "User"},
        {"objectId": "5d2b6e1f-1c1e-4d0a-9a57-2f4a7f1c0b11", "principalType": "ServicePrincipal"},
    ]
    run = run_stack("prod", {P + "observability": _observability("prod", grafanaAdmins=admins)})
    assignments = [run.one("azure-native:authorization:RoleAssignment", f"observability-grafana-admin-{i}") for i in (0, 1)]
    assert [(a.inputs["principalId"], a.inputs["principalType"]) for a in assignments] == [
        (GRAFANA_ADMIN, "User"),
        ("5d2b6e1f-1c1e-4d0a-9a57-2f4a7f1c0b11", "ServicePrincipal"),
    ]
    grafana = run.one("azure-native:dashboard:Grafana")
    assert all(grafana.urn in a.property_dependencies["scope"] for a in assignments)


def test_data_collection_endpoint_name_fits_44_characters() -> None:
    run = run_stack("prod", {P + "location": "germanywestcentral", P + "namePrefix": "cnpgprod01"})
    endpoint = run.one("azure-native:monitor:DataCollectionEndpoint").inputs["dataCollectionEndpointName"]
    assert endpoint.startswith("MSProm-germanywestcentral-") and len(endpoint) == 44
    rule = run.one("azure-native:monitor:DataCollectionRule", "observability-prometheus-rule").inputs
    assert len(rule["dataCollectionRuleName"]) <= 64 and rule["dataCollectionRuleName"].startswith(endpoint)


def test_microsoft_recording_rules_are_evaluated_for_the_cluster(prod: StackRun) -> None:
    source = json.loads(RECORDING_RULES_FILE.read_text())
    aks = prod.one("azure-native:containerservice:ManagedCluster")
    workspace = prod.one("azure-native:monitor:AzureMonitorWorkspace")
    groups = {g.inputs["ruleGroupName"]: g for g in prod.of_type(RULE_GROUP)}
    cluster = aks.inputs["resourceName"]
    for expected in source["groups"]:
        group = groups[expected["namePrefix"] + cluster]
        assert group.inputs["clusterName"] == cluster and group.inputs["interval"] == "PT1M"
        assert group.inputs["rules"] == expected["rules"]
        assert workspace.urn in group.property_dependencies["scopes"]
        assert aks.urn in group.property_dependencies["clusterName"]
    records = {rule["record"] for group in source["groups"] for rule in group["rules"]}
    # Managed Grafana's Kubernetes dashboards read these.
    assert {"node_namespace_pod_container:container_cpu_usage_seconds_total:sum_irate", "instance:node_num_cpu:sum"} <= records


def test_database_alerts_are_routed_to_the_action_group(prod: StackRun) -> None:
    # The limit of rules a group holds splits them; the first group keeps its name.
    groups = [prod.one(RULE_GROUP, "observability-database-alerts"), prod.one(RULE_GROUP, "observability-database-alerts-2")]
    cluster = prod.one("azure-native:containerservice:ManagedCluster").inputs["resourceName"]
    assert [group.inputs["ruleGroupName"] for group in groups] == [f"DatabaseAlerts-{cluster}", f"DatabaseAlerts2-{cluster}"]
    assert len(prod.of_type(RULE_GROUP)) == 2 + len(json.loads(RECORDING_RULES_FILE.read_text())["groups"])
    assert all(len(group.inputs["rules"]) <= RULES_PER_GROUP for group in groups)
    action_group = prod.one(ACTION_GROUP)
    assert all(action_group.urn in group.property_dependencies["rules"] for group in groups)
    # The same alerts the in-cluster Prometheus evaluates (the prod stack runs both).
    (expected_group,) = prod.one("kubernetes:monitoring.coreos.com/v1:PrometheusRule").inputs["spec"]["groups"]
    expected = expected_group["rules"]
    rules = [rule for group in groups for rule in group.inputs["rules"]]
    assert [rule["alert"] for rule in rules] == [rule["alert"] for rule in expected]
    for rule, source in zip(rules, expected, strict=True):
        assert rule["expression"] == source["expr"] and rule["for"] == iso_duration(source["for"])
        assert rule["severity"] == {"critical": 0, "warning": 2}[source["labels"]["severity"]]
        assert [set(action) for action in rule["actions"]] == [{"actionGroupId"}]
    receivers = action_group.inputs
    assert receivers["emailReceivers"] == [
        {"name": "email-0", "emailAddress": "dba-on-call@example.com", "useCommonAlertSchema": True}
    ]
    assert receivers["location"] == "Global" and len(receivers["groupShortName"]) <= 12


def test_webhook_receiver_is_a_secret() -> None:
    url = "https://hooks.example.com/services/T000/B000/XXXXSECRET"
    run = run_stack("prod", {P + "alerting": {"webhookUrl": url}})
    group = run.one(ACTION_GROUP)
    assert group.inputs["webhookReceivers"] == [
        {"name": "webhook", "serviceUri": url, "useCommonAlertSchema": True, "useAadAuth": False}
    ]
    # Sent to the engine inside a secret envelope, and kept secret in the resource's outputs.
    envelope = json_format.MessageToDict(group.raw_inputs)["webhookReceivers"][0]["serviceUri"]
    assert envelope == {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": url}
    assert "webhookReceivers" in group.additional_secret_outputs
    assert "emailReceivers" not in group.inputs or group.inputs["emailReceivers"] == []


def test_dev_alerts_without_receivers_stay_in_the_portal(dev: StackRun) -> None:
    assert not dev.of_type(ACTION_GROUP)
    assert all(rule["actions"] == [] for rule in dev.one(RULE_GROUP, "observability-database-alerts").inputs["rules"])


@pytest.mark.parametrize(("prometheus", "iso"), [("5m", "PT5M"), ("1h30m", "PT1H30M"), ("2d", "P2D"), ("1d12h", "P1DT12H")])
def test_prometheus_durations_become_iso_8601(prometheus: str, iso: str) -> None:
    assert iso_duration(prometheus) == iso


@pytest.mark.parametrize("bad", ["", "5", "5x", "m5", "1h 5m"])
def test_malformed_durations_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        iso_duration(bad)
