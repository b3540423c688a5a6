"""Azure observability: Azure Monitor workspace (managed Prometheus), Log Analytics (Container
insights), optional Azure Managed Grafana, the data collection plumbing AKS needs, and the rule
groups managed Prometheus evaluates: Microsoft's recording rules (Managed Grafana's Kubernetes
dashboards read them) and the database alerts, routed to an action group.

Every role is scoped to the workspace or the Grafana instance, never to the subscription
(``az grafana create`` leaves a subscription-wide Monitoring Reader behind; this does not).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi_azure_native import alertsmanagement, dashboard, monitor, operationalinsights

from components.azure.roles import BuiltInRole, assign_role
from components.azure.scope import AzureScope
from settings import AlertingSettings, ObservabilitySettings

PROMETHEUS_STREAM = "Microsoft-PrometheusMetrics"
CONTAINER_INSIGHTS_STREAM = "Microsoft-ContainerInsights-Group-Default"

# Azure's name limits; Microsoft's templates cut "MSProm-<region>-<name>" the same way.
DATA_COLLECTION_ENDPOINT_NAME_LIMIT = 44
DATA_COLLECTION_RULE_NAME_LIMIT = 64

# The Linux Node, Kubernetes and UX recording-rule groups of Microsoft's managed-Prometheus template
# (source and MIT licence inside the file, licence text next to it).
RECORDING_RULES_FILE = Path(__file__).resolve().parent.parent / "assets" / "azure-monitor-recording-rules.json"

# Azure Monitor severities run from 0 (critical) to 4 (verbose).
AZURE_SEVERITY = {"critical": 0, "error": 1, "warning": 2, "info": 3}
# Azure Monitor's limit on rules in one Prometheus rule group.
RULES_PER_GROUP = 20
# Shown in SMS and e-mail subjects; at most 12 characters.
ACTION_GROUP_SHORT_NAME = "pg-on-call"
# The on-call action group is "<monitor workspace name>-on-call"; the verify drill finds it by this suffix.
ON_CALL_ACTION_GROUP_SUFFIX = "-on-call"


def truncated(name: pulumi.Input[str], limit: int) -> pulumi.Output[str]:
    return pulumi.Output.from_input(name).apply(lambda value: value[:limit])


def iso_duration(duration: str) -> str:
    """A Prometheus duration (``5m``, ``1h30m``) as ISO 8601 (``PT5M``, ``PT1H30M``), as Azure takes it."""
    parts = re.findall(r"([0-9]+)([dhms])", duration)
    if not parts or "".join(f"{count}{unit}" for count, unit in parts) != duration:
        raise ValueError(f"{duration!r} is not a Prometheus duration of days, hours, minutes and seconds")
    days = "".join(f"{count}D" for count, unit in parts if unit == "d")
    time = "".join(f"{count}{unit.upper()}" for count, unit in parts if unit != "d")
    return f"P{days}" + (f"T{time}" if time else "")


def azure_alert_rule(rule: Mapping[str, Any], action_group_id: pulumi.Input[str] | None) -> alertsmanagement.PrometheusRuleArgs:
    """A Prometheus alerting rule (``alert``, ``expr``, ``for``, ``labels``, ``annotations``) for Azure."""
    return alertsmanagement.PrometheusRuleArgs(
        alert=rule["alert"],
        expression=rule["expr"],
        for_=iso_duration(rule["for"]),
        severity=AZURE_SEVERITY[rule["labels"]["severity"]],
        labels=dict(rule["labels"]),
        annotations=dict(rule["annotations"]),
        enabled=True,
        resolve_configuration=alertsmanagement.PrometheusRuleResolveConfigurationArgs(auto_resolved=True),
        actions=[alertsmanagement.PrometheusRuleGroupActionArgs(action_group_id=action_group_id)] if action_group_id else [],
    )


@dataclass(frozen=True)
class ObservabilityArgs:
    scope: AzureScope
    monitor_workspace_name: pulumi.Input[str]
    log_analytics_name: pulumi.Input[str]
    grafana_name: pulumi.Input[str]
    settings: ObservabilitySettings
    alerting: AlertingSettings
    zone_redundant: bool


class Observability(pulumi.ComponentResource):
    """Workspaces and rules; ``connect_cluster()`` attaches an AKS cluster to them.

    ``action_group_id``: where managed-Prometheus alerts go; None when no receiver is configured.
    """

    monitor_workspace_id: pulumi.Output[str]
    log_analytics_workspace_id: pulumi.Output[str]
    grafana_endpoint: pulumi.Output[str] | None
    action_group_id: pulumi.Output[str] | None

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:Observability", name, None, opts)
        self._name = name
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.scope.tags)
        workspace = monitor.AzureMonitorWorkspace(
            f"{name}-prometheus",
            resource_group_name=args.scope.resource_group_name,
            azure_monitor_workspace_name=args.monitor_workspace_name,
            location=args.scope.location,
            tags=tags,
            opts=child,
        )
        logs = operationalinsights.Workspace(
            f"{name}-logs",
            resource_group_name=args.scope.resource_group_name,
            workspace_name=args.log_analytics_name,
            location=args.scope.location,
            sku=operationalinsights.WorkspaceSkuArgs(name=operationalinsights.WorkspaceSkuNameEnum.PER_GB2018),
            retention_in_days=args.settings.log_retention_days,
            tags=tags,
            opts=child,
        )
        endpoint = monitor.DataCollectionEndpoint(
            f"{name}-prometheus-endpoint",
            resource_group_name=args.scope.resource_group_name,
            data_collection_endpoint_name=truncated(
                pulumi.Output.concat("MSProm-", args.scope.location, "-", args.monitor_workspace_name),
                DATA_COLLECTION_ENDPOINT_NAME_LIMIT,
            ),
            location=args.scope.location,
            kind="Linux",
            tags=tags,
            opts=child,
        )
        self._prometheus_rule = monitor.DataCollectionRule(
            f"{name}-prometheus-rule",
            resource_group_name=args.scope.resource_group_name,
            data_collection_rule_name=truncated(
                pulumi.Output.concat("MSProm-", args.scope.location, "-", args.monitor_workspace_name),
                DATA_COLLECTION_RULE_NAME_LIMIT,
            ),
            location=args.scope.location,
            kind="Linux",
            data_collection_endpoint_id=endpoint.id,
            data_sources=monitor.DataCollectionRuleDataSourcesArgs(
                prometheus_forwarder=[
                    monitor.PrometheusForwarderDataSourceArgs(name="PrometheusDataSource", streams=[PROMETHEUS_STREAM])
                ]
            ),
            destinations=monitor.DataCollectionRuleDestinationsArgs(
                monitoring_accounts=[
                    monitor.MonitoringAccountDestinationArgs(account_resource_id=workspace.id, name="prometheus")
                ]
            ),
            data_flows=[monitor.DataFlowArgs(streams=[PROMETHEUS_STREAM], destinations=["prometheus"])],
            tags=tags,
            opts=child,
        )
        self._prometheus_endpoint = endpoint
        self._insights_rule = monitor.DataCollectionRule(
            f"{name}-insights-rule",
            resource_group_name=args.scope.resource_group_name,
            data_collection_rule_name=truncated(
                pulumi.Output.concat("MSCI-", args.scope.location, "-", args.log_analytics_name), DATA_COLLECTION_RULE_NAME_LIMIT
            ),
            location=args.scope.location,
            kind="Linux",
            data_sources=monitor.DataCollectionRuleDataSourcesArgs(
                extensions=[
                    monitor.ExtensionDataSourceArgs(
                        name="ContainerInsightsExtension",
                        extension_name="ContainerInsights",
                        streams=[CONTAINER_INSIGHTS_STREAM],
                        extension_settings={
                            "dataCollectionSettings": {
                                "interval": "1m",
                                "namespaceFilteringMode": "Off",
                                "enableContainerLogV2": True,
                            }
                        },
                    )
                ]
            ),
            destinations=monitor.DataCollectionRuleDestinationsArgs(
                log_analytics=[monitor.LogAnalyticsDestinationArgs(name="insights", workspace_resource_id=logs.id)]
            ),
            data_flows=[monitor.DataFlowArgs(streams=[CONTAINER_INSIGHTS_STREAM], destinations=["insights"])],
            tags=tags,
            opts=child,
        )
        self.grafana_endpoint = None
        if args.settings.managed_grafana:
            grafana = dashboard.Grafana(
                f"{name}-grafana",
                resource_group_name=args.scope.resource_group_name,
                workspace_name=args.grafana_name,
                location=args.scope.location,
                sku=dashboard.ResourceSkuArgs(name="Standard"),
                identity=dashboard.ManagedServiceIdentityArgs(type=dashboard.ManagedServiceIdentityType.SYSTEM_ASSIGNED),
                properties=dashboard.ManagedGrafanaPropertiesArgs(
                    zone_redundancy="Enabled" if args.zone_redundant else "Disabled",
                    api_key="Disabled",
                    public_network_access="Enabled",
                    grafana_integrations=dashboard.GrafanaIntegrationsArgs(
                        azure_monitor_workspace_integrations=[
                            dashboard.AzureMonitorWorkspaceIntegrationArgs(azure_monitor_workspace_resource_id=workspace.id)
                        ]
                    ),
                ),
                tags=tags,
                opts=child,
            )
            assign_role(
                f"{name}-grafana-reads-prometheus",
                scope=workspace.id,
                principal_id=grafana.identity.apply(lambda identity: identity.principal_id if identity else ""),
                role=BuiltInRole.MONITORING_DATA_READER,
                parent=self,
            )
            for index, admin in enumerate(args.settings.grafana_admins):
                assign_role(
                    f"{name}-grafana-admin-{index}",
                    scope=grafana.id,
                    principal_id=admin.object_id,
                    principal_type=admin.principal_type,
                    role=BuiltInRole.GRAFANA_ADMIN,
                    parent=self,
                )
            self.grafana_endpoint = grafana.properties.apply(lambda properties: properties.endpoint)
        self.action_group_id = self._action_group(name, args)
        self.monitor_workspace_id = workspace.id
        self.log_analytics_workspace_id = logs.id
        self.register_outputs(
            {"monitorWorkspaceId": self.monitor_workspace_id, "logAnalyticsWorkspaceId": self.log_analytics_workspace_id}
        )

    def _action_group(self, name: str, args: ObservabilityArgs) -> pulumi.Output[str] | None:
        receivers = args.alerting
        if not receivers.emails and receivers.webhook_url is None:
            return None
        webhooks = []
        if receivers.webhook_url is not None:
            webhooks.append(
                monitor.WebhookReceiverArgs(
                    name="webhook", service_uri=pulumi.Output.secret(receivers.webhook_url), use_common_alert_schema=True
                )
            )
        group = monitor.ActionGroup(
            f"{name}-on-call",
            resource_group_name=args.scope.resource_group_name,
            action_group_name=pulumi.Output.concat(args.monitor_workspace_name, ON_CALL_ACTION_GROUP_SUFFIX),
            location="Global",
            group_short_name=ACTION_GROUP_SHORT_NAME,
            enabled=True,
            email_receivers=[
                monitor.MicrosoftCommonEmailReceiverArgs(
                    name=f"email-{index}", email_address=address, use_common_alert_schema=True
                )
                for index, address in enumerate(receivers.emails)
            ],
            webhook_receivers=webhooks,
            tags=dict(args.scope.tags),
            # The webhook URL often carries its own credential (a token in the path or query).
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["webhookReceivers"]),
        )
        return group.id

    def connect_cluster(self, cluster_id: pulumi.Input[str], cluster_name: pulumi.Input[str]) -> None:
        """Associate the AKS cluster with the collection rules and evaluate the recording rules on its series."""
        self._cluster_name = cluster_name
        links = [
            # "configurationAccessEndpoint" is the name AKS looks for when it fetches its metrics configuration.
            ("prometheus-endpoint", "configurationAccessEndpoint", {"data_collection_endpoint_id": self._prometheus_endpoint.id}),
            ("prometheus-rule", "ContainerInsightsMetricsExtension", {"data_collection_rule_id": self._prometheus_rule.id}),
            ("insights-rule", "ContainerInsightsExtension", {"data_collection_rule_id": self._insights_rule.id}),
        ]
        for suffix, association, target in links:
            monitor.DataCollectionRuleAssociation(
                f"{self._name}-{suffix}-link",
                resource_uri=cluster_id,
                association_name=association,
                opts=pulumi.ResourceOptions(parent=self),
                **target,
            )
        recording = json.loads(RECORDING_RULES_FILE.read_text(encoding="utf-8"))
        for group in recording["groups"]:
            prefix = group["namePrefix"]
            self._rule_group(
                f"{prefix.split('RecordingRules')[0].lower()}-recording-rules",
                pulumi.Output.concat(prefix, cluster_name),
                group["description"],
                group["interval"],
                [
                    alertsmanagement.PrometheusRuleArgs(
                        record=rule["record"], expression=rule["expression"], labels=rule.get("labels")
                    )
                    for rule in group["rules"]
                ],
            )

    def alert_on(self, database: str | None, alert_rules: Sequence[Mapping[str, Any]]) -> None:
        """Evaluate one database cluster's Prometheus alerting rules, routed to the action group, in rule groups
        of its own (``database`` None: the one-cluster stack's, under the names they always had), so adding a
        cluster leaves every other's groups as they are. After ``connect_cluster``."""
        resource = "database-alerts" if database is None else f"{database}-database-alerts"
        of_database = "" if database is None else f"{database}-"
        # As many groups as the limit needs; the first keeps the name it always had.
        for index, start in enumerate(range(0, len(alert_rules), RULES_PER_GROUP), start=1):
            number = str(index) if index > 1 else ""
            self._rule_group(
                f"{resource}{'-' + number if number else ''}",
                pulumi.Output.concat(f"DatabaseAlerts{number}-{of_database}", self._cluster_name),
                "CloudNativePG cluster alerts" + (f" ({database})" if database else "") + (f" (part {number})" if number else ""),
                "PT1M",
                [azure_alert_rule(rule, self.action_group_id) for rule in alert_rules[start : start + RULES_PER_GROUP]],
            )

    def _rule_group(self, suffix: str, group_name: pulumi.Input[str], description: str, interval: str, rules: list) -> None:
        args = self._args
        alertsmanagement.PrometheusRuleGroup(
            f"{self._name}-{suffix}",
            resource_group_name=args.scope.resource_group_name,
            rule_group_name=group_name,
            location=args.scope.location,
            description=description,
            # One scope per group (the API's limit); clusterName keeps the rules to this AKS cluster's series.
            scopes=[self.monitor_workspace_id],
            cluster_name=self._cluster_name,
            enabled=True,
            interval=interval,
            rules=rules,
            tags=dict(args.scope.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
