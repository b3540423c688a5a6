"""Azure observability: Azure Monitor workspace (managed Prometheus), Log Analytics (Container
insights), optional Azure Managed Grafana, and the data collection plumbing AKS needs.

Every role is scoped to the workspace or the Grafana instance, never to the subscription
(``az grafana create`` leaves a subscription-wide Monitoring Reader behind; this does not).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import dashboard, monitor, operationalinsights

from components.roles import BuiltInRole, assign_role
from settings import ObservabilitySettings

PROMETHEUS_STREAM = "Microsoft-PrometheusMetrics"
CONTAINER_INSIGHTS_STREAM = "Microsoft-ContainerInsights-Group-Default"


@dataclass(frozen=True)
class ObservabilityArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    monitor_workspace_name: pulumi.Input[str]
    log_analytics_name: pulumi.Input[str]
    grafana_name: pulumi.Input[str]
    settings: ObservabilitySettings
    zone_redundant: bool
    tags: Mapping[str, str]


class Observability(pulumi.ComponentResource):
    """Workspaces and rules; ``connect_cluster()`` attaches an AKS cluster to them."""

    monitor_workspace_id: pulumi.Output[str]
    log_analytics_workspace_id: pulumi.Output[str]
    grafana_endpoint: pulumi.Output[str] | None

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:Observability", name, None, opts)
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        workspace = monitor.AzureMonitorWorkspace(
            f"{name}-prometheus",
            resource_group_name=args.resource_group_name,
            azure_monitor_workspace_name=args.monitor_workspace_name,
            location=args.location,
            tags=tags,
            opts=child,
        )
        logs = operationalinsights.Workspace(
            f"{name}-logs",
            resource_group_name=args.resource_group_name,
            workspace_name=args.log_analytics_name,
            location=args.location,
            sku=operationalinsights.WorkspaceSkuArgs(name=operationalinsights.WorkspaceSkuNameEnum.PER_GB2018),
            retention_in_days=args.settings.log_retention_days,
            tags=tags,
            opts=child,
        )
        endpoint = monitor.DataCollectionEndpoint(
            f"{name}-prometheus-endpoint",
            resource_group_name=args.resource_group_name,
            data_collection_endpoint_name=pulumi.Output.concat("MSProm-", args.location, "-", args.monitor_workspace_name),
            location=args.location,
            kind="Linux",
            tags=tags,
            opts=child,
        )
        self._prometheus_rule = monitor.DataCollectionRule(
            f"{name}-prometheus-rule",
            resource_group_name=args.resource_group_name,
            data_collection_rule_name=pulumi.Output.concat("MSProm-", args.location, "-", args.monitor_workspace_name),
            location=args.location,
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
            resource_group_name=args.resource_group_name,
            data_collection_rule_name=pulumi.Output.concat("MSCI-", args.location, "-", args.log_analytics_name),
            location=args.location,
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
                resource_group_name=args.resource_group_name,
                workspace_name=args.grafana_name,
                location=args.location,
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
            for index, object_id in enumerate(args.settings.grafana_admin_object_ids):
                assign_role(
                    f"{name}-grafana-admin-{index}",
                    scope=grafana.id,
                    principal_id=object_id,
                    principal_type="Group",
                    role=BuiltInRole.GRAFANA_ADMIN,
                    parent=self,
                )
            self.grafana_endpoint = grafana.properties.apply(lambda properties: properties.endpoint)
        self.monitor_workspace_id = workspace.id
        self.log_analytics_workspace_id = logs.id
        self.register_outputs(
            {"monitorWorkspaceId": self.monitor_workspace_id, "logAnalyticsWorkspaceId": self.log_analytics_workspace_id}
        )

    def connect_cluster(self, cluster_id: pulumi.Input[str]) -> None:
        """Associate the cluster with the Prometheus and Container insights collection rules."""
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
