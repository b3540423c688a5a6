"""AKS cluster: multi-zone control plane and node pools, workload identity, managed Prometheus."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import containerservice

from settings import AksSettings, NodePoolSettings

POSTGRES_NODE_LABEL = ("workload", "postgres")


@dataclass(frozen=True)
class ClusterMonitoring:
    """Azure monitoring the cluster reports to (from the observability component)."""

    log_analytics_workspace_id: pulumi.Input[str]


@dataclass(frozen=True)
class AksClusterArgs:
    resource_group_name: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    dns_prefix: pulumi.Input[str]
    node_resource_group: pulumi.Input[str]
    location: str
    zones: Sequence[str]
    settings: AksSettings
    control_plane_identity_id: pulumi.Input[str]
    # The control plane must hold its network role before it attaches the public IP.
    control_plane_ready: Sequence[pulumi.Resource]
    monitoring: ClusterMonitoring | None
    tags: Mapping[str, str]


def _autoscaled_pool(pool: NodePoolSettings, zones: list[str], version: str) -> dict[str, Any]:
    """Arguments every pool shares: Azure Linux nodes in every zone, scaled between min and max."""
    return {
        "vm_size": pool.vm_size,
        "os_type": "Linux",
        "os_sku": "AzureLinux",
        "availability_zones": zones,
        "enable_auto_scaling": True,
        "min_count": pool.min_count,
        "max_count": pool.max_count,
        "count": pool.min_count,
        "orchestrator_version": version,
    }


class AksCluster(pulumi.ComponentResource):
    """A zone-redundant AKS cluster with a system pool and a dedicated ``postgres`` pool."""

    cluster_name: pulumi.Output[str]
    cluster_id: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]
    node_resource_group: pulumi.Output[str]
    postgres_pool_taint: tuple[str, str, str] | None

    def __init__(self, name: str, args: AksClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aks-postgres-ha:components:AksCluster", name, None, opts)
        aks = args.settings
        zones = list(args.zones)
        addons = None
        if args.monitoring is not None:
            # Container insights with managed-identity auth (no workspace keys on the nodes).
            addons = {
                "omsagent": containerservice.ManagedClusterAddonProfileArgs(
                    enabled=True,
                    config={
                        "logAnalyticsWorkspaceResourceID": args.monitoring.log_analytics_workspace_id,
                        "useAADAuth": "true",
                    },
                )
            }
        cluster = containerservice.ManagedCluster(
            f"{name}-cluster",
            resource_group_name=args.resource_group_name,
            resource_name_=args.cluster_name,
            location=args.location,
            dns_prefix=args.dns_prefix,
            kubernetes_version=aks.kubernetes_version,
            sku=containerservice.ManagedClusterSKUArgs(name="Base", tier=aks.sku_tier),
            node_resource_group=args.node_resource_group,
            identity=containerservice.ManagedClusterIdentityArgs(
                type=containerservice.ResourceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[args.control_plane_identity_id],
            ),
            agent_pool_profiles=[
                containerservice.ManagedClusterAgentPoolProfileArgs(
                    name=aks.system_pool.name,
                    mode=containerservice.AgentPoolMode.SYSTEM,
                    **_autoscaled_pool(aks.system_pool, zones, aks.kubernetes_version),
                    upgrade_settings=containerservice.AgentPoolUpgradeSettingsArgs(max_surge="33%"),
                )
            ],
            network_profile=containerservice.ContainerServiceNetworkProfileArgs(
                network_plugin=containerservice.NetworkPlugin.AZURE,
                network_plugin_mode=containerservice.NetworkPluginMode.OVERLAY,
                network_dataplane=containerservice.NetworkDataplane.CILIUM,
                # With the Cilium dataplane, Cilium itself enforces NetworkPolicy.
                network_policy=containerservice.NetworkPolicy.CILIUM,
                load_balancer_sku=containerservice.LoadBalancerSku.STANDARD,
                outbound_type=containerservice.OutboundType.LOAD_BALANCER,
            ),
            oidc_issuer_profile=containerservice.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
            security_profile=containerservice.ManagedClusterSecurityProfileArgs(
                workload_identity=containerservice.ManagedClusterSecurityProfileWorkloadIdentityArgs(enabled=True)
            ),
            api_server_access_profile=containerservice.ManagedClusterAPIServerAccessProfileArgs(
                authorized_ip_ranges=list(aks.api_server_authorized_ip_ranges)
            ),
            auto_upgrade_profile=containerservice.ManagedClusterAutoUpgradeProfileArgs(
                upgrade_channel=containerservice.UpgradeChannel.PATCH,
                node_os_upgrade_channel=containerservice.NodeOSUpgradeChannel.NODE_IMAGE,
            ),
            azure_monitor_profile=containerservice.ManagedClusterAzureMonitorProfileArgs(
                metrics=containerservice.ManagedClusterAzureMonitorProfileMetricsArgs(enabled=args.monitoring is not None)
            ),
            addon_profiles=addons,
            enable_rbac=True,
            # Local accounts stay on: the program's Kubernetes provider uses the admin credential.
            disable_local_accounts=False,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(args.control_plane_ready),
                # The autoscaler owns the node count.
                ignore_changes=["agentPoolProfiles[0].count"],
            ),
        )
        pool = aks.postgres_pool
        self.postgres_pool_taint = (*POSTGRES_NODE_LABEL, "NoSchedule") if pool.dedicated else None
        containerservice.AgentPool(
            f"{name}-postgres-pool",
            resource_group_name=args.resource_group_name,
            resource_name_=cluster.name,
            agent_pool_name=pool.name,
            mode=containerservice.AgentPoolMode.USER,
            **_autoscaled_pool(pool, zones, aks.kubernetes_version),
            node_labels=dict([POSTGRES_NODE_LABEL]),
            node_taints=["{}={}:{}".format(*self.postgres_pool_taint)] if self.postgres_pool_taint else [],
            # One node at a time: every instance's disk and PodDisruptionBudget stay respected.
            upgrade_settings=containerservice.AgentPoolUpgradeSettingsArgs(max_surge="1", drain_timeout_in_minutes=60),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["count"]),
        )
        self.cluster_name = cluster.name
        self.cluster_id = cluster.id
        self.oidc_issuer_url = cluster.oidc_issuer_profile.apply(lambda profile: profile.issuer_url if profile else "")
        self.node_resource_group = cluster.node_resource_group.apply(lambda group: group or "")
        self.register_outputs(
            {
                "clusterName": self.cluster_name,
                "oidcIssuerUrl": self.oidc_issuer_url,
                "nodeResourceGroup": self.node_resource_group,
            }
        )
